package pkcs8_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bulwarkd/bulwark/internal/pkcs8"
)

type signer interface {
	Public() crypto.PublicKey
	Equal(crypto.PrivateKey) bool
}

func testKeys(t testing.TB) map[string]signer {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]signer{"rsa2048": rsaKey, "ecP256": p256, "ecP384": p384, "ed25519": ed}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for name, key := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pemBytes, err := pkcs8.EncryptPEM(rand.Reader, key, []byte("correct horse"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := pkcs8.DecryptPEM(pemBytes, []byte("correct horse"))
			if err != nil {
				t.Fatal(err)
			}
			if !key.Equal(got) {
				t.Fatal("decrypted key differs")
			}
			if _, err := pkcs8.DecryptPEM(pemBytes, []byte("wrong horse")); !errors.Is(err, pkcs8.ErrIncorrectPassphrase) {
				t.Fatalf("wrong passphrase: err = %v, want ErrIncorrectPassphrase", err)
			}
		})
	}
}

// TestACMLayout pins the exact structure ACM's ExportCertificate uses:
// PBES2, PBKDF2 with a 20-byte salt, 2048 iterations, neither key length
// nor PRF present (so HMAC-SHA1), and AES-256-CBC with a 16-byte IV.
func TestACMLayout(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := pkcs8.Encrypt(rand.Reader, key, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	mustUnmarshal(t, der, &info)
	wantOID(t, "scheme", info.Algorithm.Algorithm, "1.2.840.113549.1.5.13")
	var pbes2 struct{ KDF, Enc pkix.AlgorithmIdentifier }
	mustUnmarshal(t, info.Algorithm.Parameters.FullBytes, &pbes2)
	wantOID(t, "kdf", pbes2.KDF.Algorithm, "1.2.840.113549.1.5.12")
	wantOID(t, "cipher", pbes2.Enc.Algorithm, "2.16.840.1.101.3.4.1.42")
	var kdf []asn1.RawValue // the raw members: exactly salt and count
	mustUnmarshal(t, pbes2.KDF.Parameters.FullBytes, &kdf)
	if len(kdf) != 2 {
		t.Fatalf("PBKDF2 params have %d members, want 2 (salt, iterations; no key length, no PRF)", len(kdf))
	}
	var salt []byte
	var iter int
	mustUnmarshal(t, kdf[0].FullBytes, &salt)
	mustUnmarshal(t, kdf[1].FullBytes, &iter)
	if len(salt) != 20 || iter != 2048 {
		t.Fatalf("salt %d bytes, %d iterations; want 20, 2048", len(salt), iter)
	}
	var iv []byte
	mustUnmarshal(t, pbes2.Enc.Parameters.FullBytes, &iv)
	if len(iv) != 16 {
		t.Fatalf("IV is %d bytes", len(iv))
	}
}

func mustUnmarshal(t *testing.T, der []byte, v any) {
	t.Helper()
	if rest, err := asn1.Unmarshal(der, v); err != nil || len(rest) != 0 {
		t.Fatalf("unmarshal %T: %v (rest %d)", v, err, len(rest))
	}
}

func wantOID(t *testing.T, what string, got asn1.ObjectIdentifier, want string) {
	t.Helper()
	if got.String() != want {
		t.Fatalf("%s OID = %v, want %s", what, got, want)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := pkcs8.Encrypt(rand.Reader, key, []byte("pw"))
	plain, _ := x509.MarshalPKCS8PrivateKey(key)
	tests := []struct {
		name string
		der  []byte
		want error
	}{
		{"empty", nil, pkcs8.ErrMalformed},
		{"truncated", good[:len(good)-5], pkcs8.ErrMalformed},
		{"trailing data", append(append([]byte{}, good...), 0), pkcs8.ErrMalformed},
		{"unencrypted PKCS#8", plain, pkcs8.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := pkcs8.Decrypt(tc.der, []byte("pw")); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func needOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	return p
}

// TestOpenSSLDecryptsOurs: `openssl pkcs8 -passin` must read what we write.
func TestOpenSSLDecryptsOurs(t *testing.T) {
	t.Parallel()
	openssl := needOpenSSL(t)
	for name, key := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enc, err := pkcs8.EncryptPEM(rand.Reader, key, []byte("s3cret pass"))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "enc.pem")
			if err := os.WriteFile(path, enc, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "pkcs8", "-in", path, "-passin", "pass:s3cret pass").Output()
			if err != nil {
				t.Fatalf("openssl pkcs8: %v", err)
			}
			b, _ := pem.Decode(out)
			if b == nil {
				t.Fatalf("openssl printed no PEM: %s", out)
			}
			got, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Equal(got) {
				t.Fatal("openssl decrypted a different key")
			}
		})
	}
}

// TestReadsOpenSSL: keys OpenSSL encrypts with every PBES2 PRF and AES
// key size, including ACM's own parameters, decrypt with our reader.
func TestReadsOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := needOpenSSL(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	plain, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	in := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(in, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: plain}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cipher, prf, iter string }{
		{"ACM layout (aes-256-cbc, hmacWithSHA1, 2048)", "aes-256-cbc", "hmacWithSHA1", "2048"},
		{"hmacWithSHA224", "aes-256-cbc", "hmacWithSHA224", "2048"},
		{"hmacWithSHA256", "aes-256-cbc", "hmacWithSHA256", "2048"},
		{"hmacWithSHA384", "aes-256-cbc", "hmacWithSHA384", "1000"},
		{"hmacWithSHA512", "aes-256-cbc", "hmacWithSHA512", "1000"},
		{"aes-128-cbc", "aes-128-cbc", "hmacWithSHA256", "2048"},
		{"aes-192-cbc", "aes-192-cbc", "hmacWithSHA256", "2048"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "enc"+string(rune('a'+i))+".pem")
			cmd := exec.Command(openssl, "pkcs8", "-topk8", "-v2", tc.cipher, "-v2prf", tc.prf, "-iter", tc.iter,
				"-in", in, "-out", out, "-passout", "pass:pa55word")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("openssl: %v: %s", err, msg)
			}
			enc, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pkcs8.DecryptPEM(enc, []byte("pa55word"))
			if err != nil {
				t.Fatal(err)
			}
			if !key.Equal(got) {
				t.Fatal("decrypted key differs")
			}
			if _, err := pkcs8.DecryptPEM(enc, []byte("pa55wore")); err == nil {
				t.Fatal("wrong passphrase accepted")
			}
		})
	}
}

func TestUnsupportedPBES1(t *testing.T) {
	t.Parallel()
	openssl := needOpenSSL(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	plain, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	in := filepath.Join(dir, "key.pem")
	_ = os.WriteFile(in, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: plain}), 0o600)
	out, err := exec.Command(openssl, "pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-in", in, "-passout", "pass:x").Output()
	if err != nil {
		t.Skipf("openssl cannot write PBES1 here: %v", err)
	}
	if _, err := pkcs8.DecryptPEM(out, []byte("x")); !errors.Is(err, pkcs8.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}

func TestDecryptPEMSkipsOtherBlocks(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc, _ := pkcs8.EncryptPEM(rand.Reader, key, []byte("pw"))
	in := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), enc...)
	got, err := pkcs8.DecryptPEM(in, []byte("pw"))
	if err != nil || !key.Equal(got) {
		t.Fatalf("err %v", err)
	}
	if _, err := pkcs8.DecryptPEM(bytes.TrimSpace(pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: []byte{1}})), nil); !errors.Is(err, pkcs8.ErrMalformed) {
		t.Fatalf("no block: err = %v", err)
	}
}
