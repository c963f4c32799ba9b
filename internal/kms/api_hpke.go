package kms

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Wire shapes of the Bulwark extension operations TrentService.HPKEOpen
// and TrentService.HPKEOpenBatch (docs/kms.md). They are kept out of
// api.go, whose shapes all come from botocore, because no botocore model
// describes them.

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
	return validateHPKEOpen("", in.Info, in.KemID, in.KdfID, in.AeadID)
}

// validateHPKEOpen checks one ciphertext's Info and suite ids; member
// prefixes the member names of a batch item ("Items.3.").
func validateHPKEOpen(member string, info []byte, kem, kdf, aead int) error {
	switch {
	case len(info) > maxHPKEInfo:
		return fmt.Errorf("%w: %sInfo must be at most %d bytes.", ErrValidation, member, maxHPKEInfo)
	case kem < 0 || kem > 0xffff, kdf < 0 || kdf > 0xffff, aead < 0 || aead > 0xffff:
		return fmt.Errorf("%w: %sKemId, KdfId and AeadId must be 16-bit HPKE identifiers.", ErrValidation, member)
	}
	return nil
}

func (in *hpkeOpenInput) params() hpkeOpenParams {
	return hpkeOpenParams{keyID: in.KeyID, kem: uint16(in.KemID), kdf: uint16(in.KdfID), aead: uint16(in.AeadID),
		info: in.Info, ciphertext: in.Ciphertext}
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
	lk, pt, p, err := s.hpkeOpen(ctx, c, in.params())
	if err != nil {
		return nil, err
	}
	return &hpkeOpenOutput{lk.meta.ARN, pt, algHPKE, int(p.kem), int(p.kdf), int(p.aead)}, nil
}

// maxHPKEBatch bounds the items of one HPKEOpenBatch call; the server's
// request body limit (1 MiB by default) usually binds first.
const maxHPKEBatch = 1000

type hpkeOpenBatchInput struct {
	KeyID string `json:"KeyId" required:"true"`
	// Items are opened in order under the one key; each is an HPKEOpen
	// request without its KeyId.
	Items []hpkeOpenInput `json:"Items" required:"true"`
}

// Validate checks the item count and every item's shape: a malformed item
// is a malformed request, refused whole before any key is loaded, unlike
// an item that does not open.
func (in *hpkeOpenBatchInput) Validate() error {
	if len(in.Items) == 0 || len(in.Items) > maxHPKEBatch {
		return fmt.Errorf("%w: Items must hold 1 to %d items, not %d.", ErrValidation, maxHPKEBatch, len(in.Items))
	}
	for i := range in.Items {
		it := &in.Items[i]
		if len(it.Ciphertext) == 0 {
			return fmt.Errorf("%w: Items.%d.Ciphertext is required.", ErrValidation, i)
		}
		if it.KeyID != "" {
			return fmt.Errorf("%w: Items.%d.KeyId is not allowed: the batch names its key once.", ErrValidation, i)
		}
		if err := validateHPKEOpen(fmt.Sprintf("Items.%d.", i), it.Info, it.KemID, it.KdfID, it.AeadID); err != nil {
			return err
		}
	}
	return nil
}

// hpkeOpenResult is one item's outcome: Plaintext, or ErrorCode and
// ErrorMessage. Plaintext is a member name redact.IsSensitive hides.
type hpkeOpenResult struct {
	Plaintext    []byte `json:"Plaintext,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type hpkeOpenBatchOutput struct {
	KeyID               string           `json:"KeyId"`
	EncryptionAlgorithm string           `json:"EncryptionAlgorithm"`
	Results             []hpkeOpenResult `json:"Results"`
}

// apiHPKEOpenBatch checks the key and the caller once, then opens every
// item as HPKEOpen would. A failure of the key or the caller fails the
// call; an item that does not open gets its error in its own slot.
func (s *Service) apiHPKEOpenBatch(ctx context.Context, c *api.Call, in *hpkeOpenBatchInput) (*hpkeOpenBatchOutput, error) {
	lk, err := s.hpkeKey(ctx, c, in.KeyID, "HPKEOpenBatch")
	if err != nil {
		return nil, err
	}
	out := &hpkeOpenBatchOutput{KeyID: lk.meta.ARN, EncryptionAlgorithm: algHPKE, Results: make([]hpkeOpenResult, len(in.Items))}
	for i := range in.Items {
		pt, _, err := openHPKE(lk, in.Items[i].params())
		var ae *awsproto.Error
		switch {
		case err == nil:
			out.Results[i].Plaintext = pt
		case errors.As(errorTable.Convert(err), &ae):
			out.Results[i].ErrorCode, out.Results[i].ErrorMessage = ae.Code, ae.Message
		default:
			return nil, err
		}
	}
	return out, nil
}
