package kmskeys

import (
	"context"
	"encoding/base64"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// batchBodyBudget bounds the items of one HPKEOpenBatch request, in
// base64 bytes, well inside the server's default 1 MiB body limit so the
// JSON around them and a smaller configured limit are not a concern. A
// token larger than the budget travels alone.
const batchBodyBudget = 512 << 10

// Decrypter returns a token.Decrypter that opens every token through the
// KMS with this client's credentials, so the caller's key policies decide
// which fields it may read: rsa-oaep-256 tokens with Decrypt
// (RSAES_OAEP_SHA_256), hpke tokens with HPKEOpen, the info recomputed
// from the token (a tampered path or key id fails authentication).
//
// The result is also a token.BatchDecrypter: hpke tokens are batched into
// HPKEOpenBatch calls (up to MaxBatchItems and about 512 KiB per call),
// which pay the signature, the authorisation and the audit event once per
// call rather than once per token. RSA tokens are not batched: their
// cipher, not the call, is the cost.
func (c *Client) Decrypter(keys KeyMap) token.Decrypter {
	return &decrypter{
		Funcs: token.Funcs{
			RSA: func(ctx context.Context, id string, ct []byte) ([]byte, error) {
				out, err := c.kms.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(keys.KeyID(id)), CiphertextBlob: ct,
					EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
				if err != nil {
					return nil, err
				}
				return out.Plaintext, nil
			},
			HPKE: func(ctx context.Context, id string, env token.HPKEEnvelope, info []byte) ([]byte, error) {
				out, err := c.HPKEOpen(ctx, &HPKEOpenInput{KeyID: keys.KeyID(id), Ciphertext: env.Sealed, Info: info,
					KemID: env.KEM, KdfID: env.KDF, AeadID: env.AEAD})
				if err != nil {
					return nil, err
				}
				return out.Plaintext, nil
			},
		},
		c:    c,
		keys: keys,
	}
}

// decrypter is Client.Decrypter's result; Funcs gives it Decrypt.
type decrypter struct {
	token.Funcs
	c    *Client
	keys KeyMap
}

// Batches implements token.BatchDecrypter: only HPKE tokens are batched.
func (d *decrypter) Batches(f token.Format) bool { return f == token.FormatHPKE }

// pendingBatch is one HPKEOpenBatch request being filled.
type pendingBatch struct {
	idx   []int // positions in the caller's slice
	paths []string
	items []HPKEOpenBatchItem
	size  int
}

// DecryptBatch implements token.BatchDecrypter. HPKE tokens are grouped
// by marker id into HPKEOpenBatch calls, made one after the other (the
// caller runs batches concurrently); any other token is opened with
// Decrypt.
func (d *decrypter) DecryptBatch(ctx context.Context, toks []token.Token) ([]token.Opened, []error) {
	res := make([]token.Opened, len(toks))
	errs := make([]error, len(toks))
	groups := map[string]*pendingBatch{}
	var order []string
	for i, t := range toks {
		if t.Format != token.FormatHPKE {
			res[i], errs[i] = d.Decrypt(ctx, t)
			continue
		}
		env, err := token.ParseHPKEEnvelope(t.Payload)
		if err != nil {
			errs[i] = err
			continue
		}
		it := HPKEOpenBatchItem{Ciphertext: env.Sealed, Info: env.Info(t.KeyID), KemID: env.KEM, KdfID: env.KDF, AeadID: env.AEAD}
		size := base64.StdEncoding.EncodedLen(len(it.Ciphertext)) + base64.StdEncoding.EncodedLen(len(it.Info)) + 64
		p := groups[t.KeyID]
		if p == nil {
			p = &pendingBatch{}
			groups[t.KeyID] = p
			order = append(order, t.KeyID)
		}
		if len(p.items) > 0 && (len(p.items) == MaxBatchItems || p.size+size > batchBodyBudget) {
			d.open(ctx, t.KeyID, p, res, errs)
			*p = pendingBatch{}
		}
		p.idx = append(p.idx, i)
		p.paths = append(p.paths, env.Path)
		p.items = append(p.items, it)
		p.size += size
	}
	for _, id := range order {
		if p := groups[id]; len(p.items) > 0 {
			d.open(ctx, id, p, res, errs)
		}
	}
	return res, errs
}

// open sends one HPKEOpenBatch call and fills the slots of its tokens: the
// call's error in every slot when the call fails, each item's own error
// (an *APIError without a status) when only that item failed.
func (d *decrypter) open(ctx context.Context, id string, p *pendingBatch, res []token.Opened, errs []error) {
	out, err := d.c.HPKEOpenBatch(ctx, &HPKEOpenBatchInput{KeyID: d.keys.KeyID(id), Items: p.items})
	for j, i := range p.idx {
		switch {
		case err != nil:
			errs[i] = err
		case out.Results[j].ErrorCode != "":
			r := out.Results[j]
			errs[i] = &APIError{Op: "HPKEOpenBatch", Code: r.ErrorCode, Message: r.ErrorMessage}
		default:
			res[i] = token.Opened{Plaintext: out.Results[j].Plaintext, Path: p.paths[j]}
		}
	}
}
