package kms_test

import (
	"context"
	"crypto/hpke"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
)

// sealer returns a function sealing under key id's public key (from
// GetPublicKey) with the given AEAD and info.
func sealer(t *testing.T, c *kms.Client, id string) func(aead hpke.AEAD, info, pt []byte) []byte {
	t.Helper()
	pk, err := c.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kmskeys.ParseHPKEPublicKey(string(pk.KeySpec), pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return func(aead hpke.AEAD, info, pt []byte) []byte {
		ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), aead, info, pt)
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
}

func wantAPICode(t *testing.T, err error, code string) {
	t.Helper()
	var ae *kmskeys.APIError
	if !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

// TestHPKEOpenBatch: every item opens as HPKEOpen would, in order; an item
// that does not open fails alone; a key-level problem or a malformed
// request fails the whole call.
func TestHPKEOpenBatch(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	hc := kmskeys.New(srv.AWSConfig(), kmskeys.Options{Clock: srv.Clock})
	for _, spec := range []string{"HPKE_X25519", "HPKE_MLKEM768_X25519"} {
		t.Run(spec, func(t *testing.T) {
			id := createKey(t, c, kmsKeySpec(spec), types.KeyUsageTypeEncryptDecrypt)
			seal := sealer(t, c, id)
			var items []kmskeys.HPKEOpenBatchItem
			for i := 0; i < 40; i++ {
				info := []byte(fmt.Sprintf("info-%d", i))
				aead := hpke.AES256GCM()
				if i%3 == 0 {
					aead = hpke.ChaCha20Poly1305()
				}
				items = append(items, kmskeys.HPKEOpenBatchItem{Ciphertext: seal(aead, info, []byte(fmt.Sprintf("plaintext %d", i))), Info: info, AeadID: aead.ID()})
			}
			items[7].Info = []byte("lying info")                                                           // wrong info
			items[9].Ciphertext[len(items[9].Ciphertext)-1] ^= 1                                           // tampered
			items[11].KemID = 0x0010                                                                       // not the key's KEM
			items[13].AeadID = 0xffff                                                                      // export-only AEAD
			items = append(items, kmskeys.HPKEOpenBatchItem{Ciphertext: seal(hpke.AES256GCM(), nil, nil)}) // empty plaintext
			out, err := hc.HPKEOpenBatch(ctx, &kmskeys.HPKEOpenBatchInput{KeyID: id, Items: items})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(out.KeyID, id) || out.EncryptionAlgorithm != "HPKE" {
				t.Errorf("KeyId %q, EncryptionAlgorithm %q", out.KeyID, out.EncryptionAlgorithm)
			}
			wantErr := map[int]string{7: "InvalidCiphertextException", 9: "InvalidCiphertextException",
				11: "IncorrectKeyException", 13: "ValidationException"}
			for i, r := range out.Results {
				switch {
				case wantErr[i] != "":
					if r.ErrorCode != wantErr[i] || r.Plaintext != nil {
						t.Errorf("item %d: %+v, want %s", i, r, wantErr[i])
					}
				case i == 40:
					if r.ErrorCode != "" || len(r.Plaintext) != 0 {
						t.Errorf("empty plaintext item: %+v", r)
					}
				case r.ErrorCode != "" || string(r.Plaintext) != fmt.Sprintf("plaintext %d", i):
					t.Errorf("item %d: %q %s %s (order or opening broken)", i, r.Plaintext, r.ErrorCode, r.ErrorMessage)
				}
			}
		})
	}

	ct := sealer(t, c, createKey(t, c, "HPKE_X25519", types.KeyUsageTypeEncryptDecrypt))(hpke.AES256GCM(), nil, []byte("x"))
	one := []kmskeys.HPKEOpenBatchItem{{Ciphertext: ct}}
	disabled := createKey(t, c, "HPKE_X25519", types.KeyUsageTypeEncryptDecrypt)
	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(disabled)}); err != nil {
		t.Fatal(err)
	}
	rsaKey := createKey(t, c, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt)
	tests := []struct {
		name  string
		key   string
		items []kmskeys.HPKEOpenBatchItem
		code  string
	}{
		{"unknown key", "alias/nope", one, "NotFoundException"},
		{"disabled key", disabled, one, "DisabledException"},
		{"RSA key", rsaKey, one, "InvalidKeyUsageException"},
		{"no items", disabled, nil, "ValidationException"},
		{"too many items", disabled, make([]kmskeys.HPKEOpenBatchItem, 1001), "ValidationException"},
		{"item without ciphertext", disabled, []kmskeys.HPKEOpenBatchItem{{Ciphertext: ct}, {Info: []byte("x")}}, "ValidationException"},
		{"item info too long", disabled, []kmskeys.HPKEOpenBatchItem{{Ciphertext: ct, Info: make([]byte, 1<<17)}}, "ValidationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hc.HPKEOpenBatch(ctx, &kmskeys.HPKEOpenBatchInput{KeyID: tc.key, Items: tc.items})
			wantAPICode(t, err, tc.code)
		})
	}
}

// TestHPKEOpenBatchAuthz: the call is authorised once, as kms:Decrypt
// with kms:EncryptionAlgorithm = HPKE, refused whole when denied, and
// leaves one audit event per call without any plaintext.
func TestHPKEOpenBatchAuthz(t *testing.T) {
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
	batch := func(id string) []kmskeys.HPKEOpenBatchItem {
		seal := sealer(t, c, id)
		var items []kmskeys.HPKEOpenBatchItem
		for i := 0; i < 50; i++ {
			items = append(items, kmskeys.HPKEOpenBatchItem{Ciphertext: seal(hpke.AES256GCM(), nil, []byte(fmt.Sprintf("very secret plaintext %02d", i)))})
		}
		return items
	}
	out, err := hc.HPKEOpenBatch(ctx, &kmskeys.HPKEOpenBatchInput{KeyID: allowed, Items: batch(allowed)})
	if err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	if string(out.Results[49].Plaintext) != "very secret plaintext 49" {
		t.Fatalf("allowed key: result 49 = %+v", out.Results[49])
	}
	_, err = hc.HPKEOpenBatch(ctx, &kmskeys.HPKEOpenBatchInput{KeyID: denied, Items: batch(denied)})
	wantAPICode(t, err, "AccessDeniedException")

	if lines := auditLines(t, srv, `"eventName":"HPKEOpenBatch"`); len(lines) != 2 {
		t.Errorf("audit has %d HPKEOpenBatch events for 2 calls of 50 items, want 2", len(lines))
	}
	log := auditLog(t, srv)
	for _, s := range []string{"very secret", base64.StdEncoding.EncodeToString([]byte("very secret plaintext 49"))} {
		if strings.Contains(log, s) {
			t.Errorf("audit log holds the plaintext (%q)", s)
		}
	}
}
