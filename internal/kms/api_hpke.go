package kms

import (
	"context"

	"github.com/bulwarkd/bulwark/internal/api"
)

// Wire shapes of the Bulwark extension operation TrentService.HPKEOpen
// (docs/kms.md). It is kept out of api.go, whose shapes all come from
// botocore, because no botocore model describes it.

type hpkeOpenInput struct {
	KeyID string `json:"KeyId" required:"true"`
	// Ciphertext is enc || AEAD ciphertext, crypto/hpke.Seal's output.
	Ciphertext []byte `json:"Ciphertext" required:"true"`
	Info       []byte `json:"Info"`
	// KemId, KdfId and AeadId are RFC 9180 identifiers; 0 (absent) means
	// the key's KEM, HKDF-SHA256 and AES-256-GCM.
	KemID  int `json:"KemId"`
	KdfID  int `json:"KdfId"`
	AeadID int `json:"AeadId"`
}

// Validate bounds the sizes and identifiers before any key is loaded.
func (in *hpkeOpenInput) Validate() error {
	switch {
	case len(in.Info) > maxHPKEInfo:
		return fail(errValidation, "Info must be at most %d bytes.", maxHPKEInfo)
	case in.KemID < 0 || in.KemID > 0xffff, in.KdfID < 0 || in.KdfID > 0xffff, in.AeadID < 0 || in.AeadID > 0xffff:
		return fail(errValidation, "KemId, KdfId and AeadId must be 16-bit HPKE identifiers.")
	}
	return nil
}

type hpkeOpenOutput struct {
	KeyID               string `json:"KeyId"`
	Plaintext           []byte `json:"Plaintext"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	KemID               int    `json:"KemId"`
	KdfID               int    `json:"KdfId"`
	AeadID              int    `json:"AeadId"`
}

func (s *Service) apiHPKEOpen(ctx context.Context, c *api.Call, in *hpkeOpenInput) (*hpkeOpenOutput, error) {
	lk, pt, p, err := s.hpkeOpen(ctx, c, hpkeOpenParams{keyID: in.KeyID, kem: uint16(in.KemID), kdf: uint16(in.KdfID),
		aead: uint16(in.AeadID), info: in.Info, ciphertext: in.Ciphertext})
	if err != nil {
		return nil, err
	}
	return &hpkeOpenOutput{lk.meta.ARN, pt, algHPKE, int(p.kem), int(p.kdf), int(p.aead)}, nil
}
