package kms_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// openssl runs the openssl binary, skipping the test where it is absent
// (.ci/run installs it, so CI always runs these).
func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: skipping the interoperability test (install openssl to run it)")
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// publicKeyFile writes the key's GetPublicKey output (DER) to a file.
func publicKeyFile(t *testing.T, c *kms.Client, id string) string {
	t.Helper()
	pk, err := c.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pub.der")
	if err := os.WriteFile(path, pk.PublicKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenSSLEncryptThenDecrypt(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	tests := []struct {
		name string
		spec types.KeySpec
		md   string
		alg  types.EncryptionAlgorithmSpec
	}{
		{"RSA_2048 SHA-256", "RSA_2048", "sha256", "RSAES_OAEP_SHA_256"},
		{"RSA_2048 SHA-1", "RSA_2048", "sha1", "RSAES_OAEP_SHA_1"},
		{"RSA_3072 SHA-256", "RSA_3072", "sha256", "RSAES_OAEP_SHA_256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := createKey(t, c, tc.spec, "ENCRYPT_DECRYPT")
			pub := publicKeyFile(t, c, id)
			msg := []byte("card=4111111111111111")
			ct := openssl(t, msg, "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pub,
				"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+tc.md, "-pkeyopt", "rsa_mgf1_md:"+tc.md)
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: &id, CiphertextBlob: ct, EncryptionAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.Plaintext, msg) {
				t.Errorf("Decrypt = %q", dec.Plaintext)
			}
		})
	}
}

func TestSignThenOpenSSLVerify(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		spec   types.KeySpec
		alg    types.SigningAlgorithmSpec
		md     string
		sigopt []string
	}{
		{"PKCS1 SHA-256", "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", "-sha256", nil},
		{"PKCS1 SHA-512", "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", "-sha512", nil},
		{"PSS SHA-256", "RSA_2048", "RSASSA_PSS_SHA_256", "-sha256", []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
		{"PSS SHA-384", "RSA_3072", "RSASSA_PSS_SHA_384", "-sha384", []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
		{"ECDSA P-256", "ECC_NIST_P256", "ECDSA_SHA_256", "-sha256", nil},
		{"ECDSA P-384", "ECC_NIST_P384", "ECDSA_SHA_384", "-sha384", nil},
		{"ECDSA P-521", "ECC_NIST_P521", "ECDSA_SHA_512", "-sha512", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := createKey(t, c, tc.spec, "SIGN_VERIFY")
			pub := publicKeyFile(t, c, id)
			msg := []byte("a message signed by the service")
			sig, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: msg, MessageType: "RAW", SigningAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sigFile := filepath.Join(dir, "sig")
			if err := os.WriteFile(sigFile, sig.Signature, 0o600); err != nil {
				t.Fatal(err)
			}
			pem := openssl(t, nil, "pkey", "-pubin", "-inform", "DER", "-in", pub)
			pemFile := filepath.Join(dir, "pub.pem")
			if err := os.WriteFile(pemFile, pem, 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"dgst", tc.md, "-verify", pemFile, "-signature", sigFile}, tc.sigopt...)
			out := openssl(t, msg, args...)
			if !bytes.Contains(out, []byte("Verified OK")) {
				t.Errorf("openssl: %s", out)
			}
			// A different message must not verify (openssl exits 1).
			cmd := exec.Command("openssl", args...)
			cmd.Stdin = bytes.NewReader([]byte("another message"))
			if err := cmd.Run(); err == nil {
				t.Error("openssl verified a signature over another message")
			}
		})
	}
}
