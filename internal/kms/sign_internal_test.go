package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"testing"
)

// emptySigner is a crypto.Signer that "succeeds" with no signature.
type emptySigner struct{ crypto.Signer }

func (emptySigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, nil }

// TestSignDigestFailsClosed: every key type or algorithm family signDigest
// does not handle is an error, never an empty signature with no error.
func TestSignDigestFailsClosed(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("message"))
	tests := []struct {
		name    string
		priv    crypto.Signer
		alg     string
		wantErr bool
	}{
		{"rsa pss", rsaKey, "RSASSA_PSS_SHA_256", false},
		{"rsa pkcs1", rsaKey, "RSASSA_PKCS1_V1_5_SHA_256", false},
		{"ecdsa", ecKey, "ECDSA_SHA_256", false},
		{"rsa key with ecdsa algorithm", rsaKey, "ECDSA_SHA_256", true},
		{"rsa key with unknown algorithm", rsaKey, "SM2DSA", true},
		{"ecc key with rsa algorithm", ecKey, "RSASSA_PSS_SHA_256", true},
		{"ed25519 key", edKey, "ECDSA_SHA_256", true},
		{"nil key", nil, "ECDSA_SHA_256", true},
		{"signer of an unknown type returning nothing", emptySigner{ecKey}, "ECDSA_SHA_256", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig, err := signDigest(rand.Reader, tc.priv, tc.alg, digest[:])
			if tc.wantErr {
				if err == nil {
					t.Fatalf("signDigest returned %d bytes and no error", len(sig))
				}
				return
			}
			if err != nil || len(sig) == 0 {
				t.Fatalf("signDigest = %d bytes, %v", len(sig), err)
			}
			ok, err := verifyDigest(tc.priv, tc.alg, digest[:], sig)
			if err != nil || !ok {
				t.Fatalf("verifyDigest of a fresh signature = %v, %v", ok, err)
			}
		})
		t.Run(tc.name+" verify", func(t *testing.T) {
			t.Parallel()
			if !tc.wantErr {
				return
			}
			// Verification of a bogus signature must never pass; for
			// keys it cannot handle it must also say so.
			ok, err := verifyDigest(tc.priv, tc.alg, digest[:], []byte{1})
			if ok {
				t.Fatalf("verifyDigest accepted a bogus signature (err %v)", err)
			}
			if _, isEmpty := tc.priv.(emptySigner); !isEmpty && err == nil {
				t.Fatalf("verifyDigest = false, nil; want an error for %T with %s", tc.priv, tc.alg)
			}
		})
	}
}
