package kmskeys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/bulwarkd/bulwark/internal/clock"
)

// KMSAPI is the part of the kms SDK client this package uses; tests may
// substitute it.
type KMSAPI interface {
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Client calls the KMS for field-level encryption. It is safe for
// concurrent use.
type Client struct {
	kms      KMSAPI
	cfg      aws.Config
	endpoint string
	signer   *v4.Signer
	clock    clock.Clock
}

// Options adjusts a Client.
type Options struct {
	// Endpoint overrides the KMS endpoint (cfg.BaseEndpoint, itself set by
	// AWS_ENDPOINT_URL, or https://kms.<region>.amazonaws.com).
	Endpoint string
	// KMS replaces the SDK client built from the configuration.
	KMS KMSAPI
	// Clock tells the signing time of HPKEOpen requests and is the
	// default clock of the client's KeySources; nil means clock.Real.
	Clock clock.Clock
}

// New returns a Client using cfg's region, credentials, endpoint and HTTP
// client, typically from config.LoadDefaultConfig.
func New(cfg aws.Config, opt Options) *Client {
	c := &Client{cfg: cfg, kms: opt.KMS, signer: v4.NewSigner(), clock: clock.OrReal(opt.Clock)}
	if opt.Endpoint != "" {
		c.cfg.BaseEndpoint = aws.String(opt.Endpoint)
	}
	if c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "" {
		c.endpoint = *c.cfg.BaseEndpoint
	} else {
		c.endpoint = "https://kms." + cfg.Region + ".amazonaws.com"
	}
	if c.kms == nil {
		c.kms = kms.NewFromConfig(c.cfg)
	}
	return c
}

// KMS returns the SDK client in use.
func (c *Client) KMS() KMSAPI { return c.kms }

// HPKEOpenInput is the request of TrentService.HPKEOpen (docs/kms.md).
type HPKEOpenInput struct {
	KeyID string `json:"KeyId"`
	// Ciphertext is enc || AEAD ciphertext (crypto/hpke.Seal's output).
	Ciphertext []byte `json:"Ciphertext"`
	Info       []byte `json:"Info,omitempty"`
	// KemID, KdfID, AeadID: RFC 9180 ids; zero lets the server default
	// (the key's KEM, HKDF-SHA256, AES-256-GCM).
	KemID  uint16 `json:"KemId,omitempty"`
	KdfID  uint16 `json:"KdfId,omitempty"`
	AeadID uint16 `json:"AeadId,omitempty"`
}

// HPKEOpenOutput is HPKEOpen's response.
type HPKEOpenOutput struct {
	KeyID               string `json:"KeyId"`
	Plaintext           []byte `json:"Plaintext"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	KemID               uint16 `json:"KemId"`
	KdfID               uint16 `json:"KdfId"`
	AeadID              uint16 `json:"AeadId"`
}

// APIError is an error answer of the KMS to HPKEOpen or HPKEOpenBatch,
// or one failed item of an HPKEOpenBatch answer. It implements
// smithy.APIError, like the SDK's own errors.
type APIError struct {
	// Op is the operation; "" reads as HPKEOpen.
	Op            string
	Code, Message string
	// StatusCode is the HTTP status; 0 for an item of a batch.
	StatusCode int
}

// Error implements the error interface.
func (e *APIError) Error() string {
	op := e.Op
	if op == "" {
		op = "HPKEOpen"
	}
	if e.StatusCode == 0 {
		// One failed item of a batch that succeeded as a whole.
		return fmt.Sprintf("kms %s item: %s: %s", op, e.Code, e.Message)
	}
	return fmt.Sprintf("kms %s: %s (HTTP %d): %s", op, e.Code, e.StatusCode, e.Message)
}

// ErrorCode implements smithy.APIError.
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage implements smithy.APIError.
func (e *APIError) ErrorMessage() string { return e.Message }

// ErrorFault implements smithy.APIError.
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.StatusCode >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// maxResponse bounds the response read: plaintexts are bounded by the
// server's request limit (1 MiB by default), base64 adds a third.
const maxResponse = 4 << 20

// HPKEOpen calls TrentService.HPKEOpen with a SigV4-signed JSON 1.1
// request. Errors from the KMS are *APIError.
func (c *Client) HPKEOpen(ctx context.Context, in *HPKEOpenInput) (*HPKEOpenOutput, error) {
	var out HPKEOpenOutput
	if err := c.call(ctx, "HPKEOpen", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// HPKEOpenBatchItem is one ciphertext of an HPKEOpenBatch request: an
// HPKEOpenInput without its KeyID.
type HPKEOpenBatchItem struct {
	Ciphertext []byte `json:"Ciphertext"`
	Info       []byte `json:"Info,omitempty"`
	KemID      uint16 `json:"KemId,omitempty"`
	KdfID      uint16 `json:"KdfId,omitempty"`
	AeadID     uint16 `json:"AeadId,omitempty"`
}

// HPKEOpenBatchInput is the request of TrentService.HPKEOpenBatch
// (docs/kms.md): 1 to MaxBatchItems items under one key, within the
// server's request body limit.
type HPKEOpenBatchInput struct {
	KeyID string              `json:"KeyId"`
	Items []HPKEOpenBatchItem `json:"Items"`
}

// HPKEOpenBatchResult is one item's outcome: Plaintext when ErrorCode is
// empty (an empty plaintext is sent as no Plaintext at all).
type HPKEOpenBatchResult struct {
	Plaintext    []byte `json:"Plaintext,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// HPKEOpenBatchOutput is HPKEOpenBatch's response, Results in the order
// of the request's Items.
type HPKEOpenBatchOutput struct {
	KeyID               string                `json:"KeyId"`
	EncryptionAlgorithm string                `json:"EncryptionAlgorithm"`
	Results             []HPKEOpenBatchResult `json:"Results"`
}

// MaxBatchItems is the most items the KMS takes in one HPKEOpenBatch call.
const MaxBatchItems = 1000

// HPKEOpenBatch calls TrentService.HPKEOpenBatch: the key is authorised
// once and every item opened, a failed item reported in its own Result.
// The error is a failure of the whole call (*APIError from the KMS:
// access denied, unknown or disabled key, ...); on success Results has
// one entry per item, or the response is refused.
func (c *Client) HPKEOpenBatch(ctx context.Context, in *HPKEOpenBatchInput) (*HPKEOpenBatchOutput, error) {
	var out HPKEOpenBatchOutput
	if err := c.call(ctx, "HPKEOpenBatch", in, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(in.Items) {
		return nil, fmt.Errorf("kms HPKEOpenBatch: %d results for %d items", len(out.Results), len(in.Items))
	}
	return &out, nil
}

// call sends one SigV4-signed JSON 1.1 request to TrentService.<op> and
// decodes the answer into out. Errors from the KMS are *APIError.
func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("kms %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	if c.cfg.Credentials == nil {
		return fmt.Errorf("kms %s: no credentials configured", op)
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("kms %s: credentials: %w", op, err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", c.cfg.Region, c.clock.Now()); err != nil {
		return fmt.Errorf("kms %s: sign: %w", op, err)
	}
	var hc aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		hc = c.cfg.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("kms %s: %w", op, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("kms %s: read response: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := decodeError(resp, rb)
		e.Op = op
		return e
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("kms %s: decode response: %w", op, err)
	}
	return nil
}

// decodeError reads a JSON 1.1 error: __type may carry a namespace
// ("com.amazonaws.kms#NotFoundException") and message may be spelled
// either way.
func decodeError(resp *http.Response, b []byte) *APIError {
	var e struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(b, &e)
	code := e.Type
	if code == "" {
		code = resp.Header.Get("X-Amzn-ErrorType")
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	code, _, _ = strings.Cut(code, ":")
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := e.Message
	if msg == "" {
		msg = e.MessageU
	}
	return &APIError{Code: code, Message: msg, StatusCode: resp.StatusCode}
}
