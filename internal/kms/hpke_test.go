package kms_test

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
)

// TestHPKEOpen drives the HPKE extension with the real SDK (CreateKey,
// GetPublicKey, Decrypt) and the SigV4-signing HPKEOpen client.
func TestHPKEOpen(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	hc := kmskeys.New(srv.AWSConfig(), kmskeys.Options{Clock: srv.Clock})
	for _, spec := range []string{"HPKE_X25519", "HPKE_MLKEM768_X25519"} {
		t.Run(spec, func(t *testing.T) {
			id := createKey(t, c, kmsKeySpec(spec), types.KeyUsageTypeEncryptDecrypt)
			pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id})
			if err != nil {
				t.Fatal(err)
			}
			if len(pk.EncryptionAlgorithms) != 1 || pk.EncryptionAlgorithms[0] != "HPKE" {
				t.Errorf("EncryptionAlgorithms = %v, want [HPKE]", pk.EncryptionAlgorithms)
			}
			pub, err := kmskeys.ParseHPKEPublicKey(spec, pk.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if spec == "HPKE_X25519" {
				// The DER is the standard RFC 8410 encoding.
				xp, err := ecdh.X25519().NewPublicKey(pub.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				want, _ := x509.MarshalPKIXPublicKey(xp)
				if string(want) != string(pk.PublicKey) {
					t.Error("X25519 public key is not RFC 8410 SubjectPublicKeyInfo")
				}
			}
			info := []byte("bulwark test info")
			for _, aead := range []hpke.AEAD{hpke.AES256GCM(), hpke.ChaCha20Poly1305()} {
				ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), aead, info, []byte("123-45-6789"))
				if err != nil {
					t.Fatal(err)
				}
				out, err := hc.HPKEOpen(ctx, &kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: ct, Info: info, AeadID: aead.ID()})
				if err != nil {
					t.Fatalf("HPKEOpen: %v", err)
				}
				if string(out.Plaintext) != "123-45-6789" || !strings.HasSuffix(out.KeyID, id) || out.KemID != pub.KEM().ID() {
					t.Errorf("HPKEOpen = %+v", out)
				}
			}
			ct, _ := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), info, []byte("x"))
			tests := []struct {
				name string
				in   kmskeys.HPKEOpenInput
				code string
			}{
				{"wrong info", kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: ct, Info: []byte("other")}, "InvalidCiphertextException"},
				{"tampered", kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: append(append([]byte{}, ct[:len(ct)-1]...), ct[len(ct)-1]^1), Info: info}, "InvalidCiphertextException"},
				{"wrong AEAD", kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: ct, Info: info, AeadID: hpke.ChaCha20Poly1305().ID()}, "InvalidCiphertextException"},
				{"export-only AEAD", kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: ct, Info: info, AeadID: 0xffff}, "ValidationException"},
				{"KEM mismatch", kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: ct, Info: info, KemID: 0x0010}, "IncorrectKeyException"},
				{"unknown key", kmskeys.HPKEOpenInput{KeyID: "alias/nope", Ciphertext: ct, Info: info}, "NotFoundException"},
			}
			for _, tc := range tests {
				_, err := hc.HPKEOpen(ctx, &tc.in)
				var ae *kmskeys.APIError
				if !errors.As(err, &ae) || ae.Code != tc.code {
					t.Errorf("%s: err = %v, want %s", tc.name, err, tc.code)
				}
			}
			// Decrypt and Encrypt refuse HPKE keys rather than misbehave.
			_, err = c.Decrypt(ctx, &kms.DecryptInput{KeyId: &id, CiphertextBlob: ct, EncryptionAlgorithm: "HPKE"})
			wantCode(t, err, "InvalidKeyUsageException")
			_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), EncryptionAlgorithm: "HPKE"})
			wantCode(t, err, "InvalidKeyUsageException")
			_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
			wantCode(t, err, "InvalidKeyUsageException")
		})
	}
	t.Run("RSA key refused", func(t *testing.T) {
		id := createKey(t, c, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt)
		_, err := hc.HPKEOpen(ctx, &kmskeys.HPKEOpenInput{KeyID: id, Ciphertext: []byte("x")})
		var ae *kmskeys.APIError
		if !errors.As(err, &ae) || ae.Code != "InvalidKeyUsageException" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("sign usage refused", func(t *testing.T) {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: "HPKE_X25519", KeyUsage: types.KeyUsageTypeSignVerify})
		wantCode(t, err, "ValidationException")
	})
}

// TestHPKEOpenAuthz: HPKEOpen is kms:Decrypt on the key, with the
// kms:EncryptionAlgorithm condition key "HPKE", and the audit log never
// holds the plaintext.
func TestHPKEOpenAuthz(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	allowed := createKey(t, c, "HPKE_X25519", types.KeyUsageTypeEncryptDecrypt)
	denied := createKey(t, c, "HPKE_X25519", types.KeyUsageTypeEncryptDecrypt)
	newUser(t, srv, "reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/`+allowed+`","Condition":{"StringEquals":{"kms:EncryptionAlgorithm":"HPKE"}}}]}`)
	key, secret, err := srv.IAM().CreateAccessKey(ctx, "reader")
	if err != nil {
		t.Fatal(err)
	}
	hc := kmskeys.New(srv.AWSConfigFor(key.AccessKeyID, secret), kmskeys.Options{Clock: srv.Clock})
	seal := func(id string) []byte {
		pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := kmskeys.ParseHPKEPublicKey("HPKE_X25519", pk.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), nil, []byte("very secret plaintext"))
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	if _, err := hc.HPKEOpen(ctx, &kmskeys.HPKEOpenInput{KeyID: allowed, Ciphertext: seal(allowed)}); err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	_, err = hc.HPKEOpen(ctx, &kmskeys.HPKEOpenInput{KeyID: denied, Ciphertext: seal(denied)})
	var ae *kmskeys.APIError
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" {
		t.Fatalf("denied key: err = %v, want AccessDeniedException", err)
	}
	if lines := auditLines(t, srv, "HPKEOpen"); len(lines) < 2 {
		t.Errorf("audit has %d HPKEOpen events, want 2", len(lines))
	}
	if strings.Contains(auditLog(t, srv), "very secret") || strings.Contains(auditLog(t, srv), "dmVyeSBzZWNyZXQ") {
		t.Error("audit log holds the plaintext")
	}
}
