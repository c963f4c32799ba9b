package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Value is a secret value: exactly one of String and Binary is set.
type Value struct {
	String *string
	Binary []byte
}

// encode prefixes the value with its type so a string and a binary with
// the same bytes stay different versions.
func (v Value) encode() []byte {
	if v.String != nil {
		return append([]byte{'s'}, *v.String...)
	}
	return append([]byte{'b'}, v.Binary...)
}

func decodeValue(b []byte) (Value, error) {
	if len(b) == 0 {
		return Value{}, fmt.Errorf("secretsmanager: empty value")
	}
	switch b[0] {
	case 's':
		s := string(b[1:])
		return Value{String: &s}, nil
	case 'b':
		return Value{Binary: append([]byte{}, b[1:]...)}, nil
	}
	return Value{}, fmt.Errorf("secretsmanager: unknown value type %q", b[0])
}

func (v Value) digest() []byte {
	d := sha256.Sum256(v.encode())
	return d[:]
}

func (v Value) size() int {
	if v.String != nil {
		return len(*v.String)
	}
	return len(v.Binary)
}

// sealedValue is what a version record keeps in its (itself sealed)
// Secret: the KMS-encrypted data key and the value under that data key.
// Digest lets a retried write with the same token be recognised without a
// KMS call; it never leaves the sealed record.
type sealedValue struct {
	Blob       []byte `json:"blob"`
	Ciphertext []byte `json:"ct"` // nonce || AES-256-GCM(value)
	Digest     []byte `json:"digest"`
	KeyARN     string `json:"keyArn"`
}

// dataKey is a decrypted data key in the cache.
type dataKey struct {
	keyARN string
	key    []byte
}

func encContext(arn, versionID string) map[string]string {
	return map[string]string{"SecretARN": arn, "SecretVersionId": versionID}
}

func aad(arn, versionID string) []byte { return []byte(arn + "\x00" + versionID) }

// seal encrypts v for a new version of m under a fresh data key generated
// for caller c; the data key is zeroed before returning.
func (s *Service) seal(ctx context.Context, c *api.Call, m *Secret, versionID string, v Value) (*sealedValue, error) {
	if s.cfg.Keys == nil {
		return nil, fmt.Errorf("secretsmanager: no KMS configured")
	}
	keyARN, key, blob, err := s.cfg.Keys.GenerateDataKeyFor(ctx, c, m.KmsKeyID, encContext(m.ARN, versionID), s.viaService())
	if err != nil {
		return nil, kmsError(err, ErrEncryption)
	}
	defer clear(key)
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if err := s.readRand(nonce); err != nil {
		return nil, err
	}
	pt := v.encode()
	defer clear(pt)
	ct := aead.Seal(nonce, nonce, pt, aad(m.ARN, versionID))
	return &sealedValue{Blob: blob, Ciphertext: ct, Digest: v.digest(), KeyARN: keyARN}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretsmanager: KMS returned a %d-byte data key, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// open decrypts a version's value for caller c. The data key comes from
// the cache when a recent call decrypted it (see docs/secrets.md for what
// that costs); KMS authorization still applies on every call when Keys
// implements DecryptAuthorizer, otherwise the cache is per principal.
func (s *Service) open(ctx context.Context, c *api.Call, m *Secret, versionID string, sv *sealedValue) (Value, error) {
	if s.cfg.Keys == nil {
		return Value{}, fmt.Errorf("secretsmanager: no KMS configured")
	}
	ec := encContext(m.ARN, versionID)
	authz, shared := s.cfg.Keys.(DecryptAuthorizer)
	h := sha256.Sum256(sv.Blob)
	ck := string(h[:])
	if !shared {
		ck = c.Principal.ARN + "\x00" + ck
	}
	dk, hit := s.keys.Get(ck)
	if hit && shared {
		if err := authz.AuthorizeDecryptFor(ctx, c, dk.keyARN, ec, s.viaService()); err != nil {
			clear(dk.key)
			return Value{}, kmsError(err, ErrDecryption)
		}
	}
	if !hit {
		keyARN, key, err := s.cfg.Keys.DecryptFor(ctx, c, sv.Blob, ec, s.viaService())
		if err != nil {
			return Value{}, kmsError(err, ErrDecryption)
		}
		dk = dataKey{keyARN: keyARN, key: key}
		s.keys.Put(ck, dataKey{keyARN: keyARN, key: append([]byte(nil), key...)}, 0)
	}
	defer clear(dk.key)
	aead, err := newGCM(dk.key)
	if err != nil {
		return Value{}, err
	}
	ns := aead.NonceSize()
	if len(sv.Ciphertext) < ns {
		return Value{}, fmt.Errorf("%w: Secrets Manager can't decrypt the protected secret text using the provided KMS key.", ErrDecryption)
	}
	pt, err := aead.Open(nil, sv.Ciphertext[:ns], sv.Ciphertext[ns:], aad(m.ARN, versionID))
	if err != nil {
		return Value{}, fmt.Errorf("%w: Secrets Manager can't decrypt the protected secret text using the provided KMS key.", ErrDecryption)
	}
	defer clear(pt)
	return decodeValue(pt)
}

// loadValue reads a version's sealed value. Versions never change once
// written, so the sealed form is cached (it is useless without a data key).
func (s *Service) loadValue(ctx context.Context, r store.Reader, m *Secret, versionID string) (*sealedValue, error) {
	k := versionKey(m.ARN, versionID)
	if sv, ok := s.versions.Get(k); ok {
		return sv, nil
	}
	rec, err := r.Get(ctx, kindVersion, k)
	if err != nil {
		return nil, fmt.Errorf("secretsmanager: read version %s: %w", versionID, err)
	}
	sv := new(sealedValue)
	if err := json.Unmarshal(rec.Secret, sv); err != nil {
		return nil, fmt.Errorf("secretsmanager: decode version %s: %w", versionID, err)
	}
	s.versions.Put(k, sv, len(sv.Blob)+len(sv.Ciphertext)+len(sv.Digest)+len(k))
	return sv, nil
}

func versionRecord(arn, versionID string, sv *sealedValue) *store.Record {
	b, _ := json.Marshal(sv)
	return &store.Record{Kind: kindVersion, ID: versionKey(arn, versionID), Data: []byte("{}"), Secret: b}
}
