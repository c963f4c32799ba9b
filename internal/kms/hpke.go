package kms

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"

	"github.com/bulwarkd/bulwark/internal/api"
)

// HPKE keys are a Bulwark extension: AWS KMS has no HPKE key specs and no
// operation to open HPKE ciphertexts. They exist so field-level encryption
// can make tokens of any size (docs/fle.md) while the private key stays
// here, exactly like an RSA key: sealed in Record.Secret, used only by an
// authorised call.
const (
	specHPKEX25519 = "HPKE_X25519"          // DHKEM(X25519, HKDF-SHA256)
	specHPKEXWing  = "HPKE_MLKEM768_X25519" // ML-KEM-768 + X25519 hybrid (X-Wing)

	kemX25519 uint16 = 0x0020
	kemXWing  uint16 = 0x647a

	// algHPKE is the one EncryptionAlgorithm of HPKE keys and the value of
	// the kms:EncryptionAlgorithm condition key for HPKEOpen. The KDF and
	// AEAD are chosen per message by the sender, as RFC 9180 intends.
	algHPKE = "HPKE"

	// maxHPKEInfo bounds Info: the FLE info is a label, the key id and a
	// field path of at most 64 KiB.
	maxHPKEInfo = 1<<16 + 256
)

// oidX25519 is RFC 8410's id-X25519; oidXWing is X-Wing's
// (draft-connolly-cfrg-xwing-kem), whose public key (ML-KEM-768
// encapsulation key || X25519 point, 1216 bytes) is exactly the HPKE
// MLKEM768-X25519 serialisation.
var (
	oidX25519 = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidXWing  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 62253, 25722}
)

func hpkeKEM(id uint16) (hpke.KEM, error) {
	switch id {
	case kemX25519:
		return hpke.DHKEM(ecdh.X25519()), nil
	case kemXWing:
		return hpke.MLKEM768X25519(), nil
	}
	return nil, fmt.Errorf("kms: unsupported HPKE KEM %#04x", id)
}

// newHPKESecret derives a fresh HPKE key pair from 32 bytes of rnd, so the
// configured random source is the only source of key material (the KEMs'
// GenerateKey would read crypto/rand directly).
func newHPKESecret(kemID uint16, rnd io.Reader) (*keySecret, error) {
	kem, err := hpkeKEM(kemID)
	if err != nil {
		return nil, err
	}
	ikm := make([]byte, 32)
	if _, err := io.ReadFull(rnd, ikm); err != nil {
		return nil, err
	}
	priv, err := kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, err
	}
	b, err := priv.Bytes()
	if err != nil {
		return nil, err
	}
	return &keySecret{HPKE: b, KEM: kemID}, nil
}

func parseHPKEMaterial(m *material, ks *keySecret) (*material, error) {
	kem, err := hpkeKEM(ks.KEM)
	if err != nil {
		return nil, err
	}
	if m.hpke, err = kem.NewPrivateKey(ks.HPKE); err != nil {
		return nil, fmt.Errorf("kms: parse HPKE private key: %w", err)
	}
	if m.pubDER, err = hpkePublicDER(m.hpke.PublicKey()); err != nil {
		return nil, err
	}
	return m, nil
}

// hpkePublicDER encodes an HPKE public key as a SubjectPublicKeyInfo, the
// form GetPublicKey returns for every key: RFC 8410 for X25519 (openssl
// reads it), the X-Wing OID with the raw 1216-byte key for the hybrid.
// In both the BIT STRING holds the RFC 9180 SerializePublicKey bytes.
func hpkePublicDER(pub hpke.PublicKey) ([]byte, error) {
	oid := oidX25519
	switch pub.KEM().ID() {
	case kemX25519:
	case kemXWing:
		oid = oidXWing
	default:
		return nil, fmt.Errorf("kms: unsupported HPKE KEM %#04x", pub.KEM().ID())
	}
	raw := pub.Bytes()
	return asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: oid}, asn1.BitString{Bytes: raw, BitLength: 8 * len(raw)}})
}

// errHPKEOnly refuses Encrypt/Decrypt/ReEncrypt on an HPKE key: senders
// seal with the public key, recipients open with HPKEOpen.
func errHPKEOnly(lk *loadedKey) error {
	return fmt.Errorf("%w: %s is an HPKE key: seal with its public key (GetPublicKey) and open with HPKEOpen.", ErrInvalidKeyUsage, lk.meta.ARN)
}

// hpkeOpenParams is one ciphertext to open, in domain terms: an HPKEOpen
// request or one item of an HPKEOpenBatch request.
type hpkeOpenParams struct {
	keyID            string // HPKEOpen only; a batch names its key once
	kem, kdf, aead   uint16 // kem 0 = the key's; kdf 0 = HKDF-SHA256; aead 0 = AES-256-GCM
	info, ciphertext []byte
}

// hpkeOpen authorises kms:Decrypt on the key and opens one ciphertext:
// HPKEOpen is hpkeKey followed by openHPKE, as every item of
// HPKEOpenBatch is.
func (s *Service) hpkeOpen(ctx context.Context, c *api.Call, p hpkeOpenParams) (*loadedKey, []byte, hpkeOpenParams, error) {
	lk, err := s.hpkeKey(ctx, c, p.keyID, "HPKEOpen")
	if err != nil {
		return nil, nil, p, err
	}
	pt, p, err := openHPKE(lk, p)
	if err != nil {
		return nil, nil, p, err
	}
	return lk, pt, p, nil
}

// hpkeKey does the key-level work of an open call, once per call however
// many ciphertexts it carries: resolve the key, authorise kms:Decrypt with
// kms:EncryptionAlgorithm = HPKE, and refuse a key that is not an enabled
// HPKE key. Its errors fail the whole call.
func (s *Service) hpkeKey(ctx context.Context, c *api.Call, keyID, op string) (*loadedKey, error) {
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	cond := map[string][]string{"kms:encryptionalgorithm": {algHPKE}}
	if err := s.authorize(ctx, c, "kms:Decrypt", lk, cond); err != nil {
		return nil, err
	}
	if err := s.checkCrypto(lk, usageEncrypt, op); err != nil {
		return nil, err
	}
	if lk.mat.hpke == nil {
		return nil, fmt.Errorf("%w: %s is not an HPKE key (KeySpec %s).", ErrInvalidKeyUsage, lk.meta.ARN, lk.meta.KeySpec)
	}
	return lk, nil
}

// openHPKE opens one RFC 9180 base mode ciphertext (enc || sealed,
// crypto/hpke.Seal's output) with the private key of lk, which hpkeKey
// has vetted, and returns p with its defaults filled in. Every
// authentication failure gets the one InvalidCiphertextException message,
// whatever the cause (wrong info, wrong key, tampering). Every error is a
// domain error about this ciphertext alone, never about the key or the
// caller, so a batch can report it in the item's slot.
func openHPKE(lk *loadedKey, p hpkeOpenParams) ([]byte, hpkeOpenParams, error) {
	priv := lk.mat.hpke
	if p.kem == 0 {
		p.kem = priv.KEM().ID()
	} else if p.kem != priv.KEM().ID() {
		return nil, p, fmt.Errorf("%w: KemId %d does not match %s (KeySpec %s).", ErrIncorrectKey, p.kem, lk.meta.ARN, lk.meta.KeySpec)
	}
	if p.kdf == 0 {
		p.kdf = hpke.HKDFSHA256().ID()
	}
	if p.aead == 0 {
		p.aead = hpke.AES256GCM().ID()
	}
	kdf, err := hpke.NewKDF(p.kdf)
	if err != nil {
		return nil, p, fmt.Errorf("%w: KdfId %d is not supported.", ErrValidation, p.kdf)
	}
	aead, err := hpke.NewAEAD(p.aead)
	if err != nil || p.aead == hpke.ExportOnly().ID() {
		return nil, p, fmt.Errorf("%w: AeadId %d is not supported.", ErrValidation, p.aead)
	}
	pt, err := hpke.Open(priv, kdf, aead, p.info, p.ciphertext)
	if err != nil {
		return nil, p, ErrInvalidCiphertext
	}
	return pt, p, nil
}
