package kms

import (
	"context"
	"fmt"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
)

// GenerateDataKeyFor makes an AES-256 data key under keyID for another
// service acting for caller c (Secrets Manager). keyID "" means the
// AWS-managed key alias/aws/<service part of viaService> (for example
// alias/aws/secretsmanager), created on first use with KeyManager AWS and a
// key policy that lets principals of the account use it through that
// service. c is authorized for kms:GenerateDataKey on the key with the
// condition key kms:ViaService = viaService (for example
// "secretsmanager.us-east-1.amazonaws.com"). Errors are in their wire form
// (*awsproto.Error or *awsproto.AccessDenied, converted through the error
// table as KMS's own API would answer), ready to pass to the caller.
func (s *Service) GenerateDataKeyFor(ctx context.Context, c *api.Call, keyID string, encCtx map[string]string, viaService string) (keyARN string, plaintext, blob []byte, err error) {
	defer func() { err = errorTable.Convert(err) }()
	if keyID == "" {
		service, _, _ := strings.Cut(viaService, ".")
		if service == "" {
			return "", nil, nil, fmt.Errorf("%w: A KeyId or the calling service is required.", ErrValidation)
		}
		if keyID, err = s.managedKey(ctx, service); err != nil {
			return "", nil, nil, err
		}
	}
	pt, res, err := s.dataKey(ctx, c, "kms:GenerateDataKey", keyID, 32, encCtx, viaCondition(viaService))
	if err != nil {
		return "", nil, nil, err
	}
	return res.key.meta.ARN, pt, res.data, nil
}

// DecryptFor decrypts a blob made by GenerateDataKeyFor for caller c,
// authorizing kms:Decrypt with the kms:ViaService and
// kms:EncryptionContext:* condition keys. Errors are as GenerateDataKeyFor's.
func (s *Service) DecryptFor(ctx context.Context, c *api.Call, blob []byte, encCtx map[string]string, viaService string) (keyARN string, plaintext []byte, err error) {
	defer func() { err = errorTable.Convert(err) }()
	res, err := s.decrypt(ctx, c, cryptRequest{
		Action: "kms:Decrypt", Data: blob, Context: encCtx,
		Algorithm: algSymmetric, Conditions: viaCondition(viaService),
	})
	if err != nil {
		return "", nil, err
	}
	return res.key.meta.ARN, res.data, nil
}

func viaCondition(viaService string) map[string][]string {
	m := make(map[string][]string, 4)
	if viaService != "" {
		m["kms:viaservice"] = []string{viaService}
	}
	return m
}

// AuthorizeDecryptFor decides whether caller c may decrypt under keyARN
// with encCtx through viaService, without decrypting: the same key state
// and policy checks as DecryptFor. Secrets Manager calls it on every hit
// of its data-key cache, so a revoked kms:Decrypt or a disabled key takes
// effect at once, not when the cache entry expires.
func (s *Service) AuthorizeDecryptFor(ctx context.Context, c *api.Call, keyARN string, encCtx map[string]string, viaService string) (err error) {
	defer func() { err = errorTable.Convert(err) }()
	lk, err := s.loadKey(ctx, keyARN)
	if err != nil {
		return err
	}
	extra := contextKeys(viaCondition(viaService), encCtx)
	extra["kms:encryptionalgorithm"] = []string{algSymmetric}
	if err := s.authorize(ctx, c, "kms:Decrypt", lk, extra); err != nil {
		return err
	}
	return s.checkCrypto(lk, usageEncrypt, "Decrypt")
}
