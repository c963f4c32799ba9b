package kmskeys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/fle/token"
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
	now      func() time.Time
}

// Options adjusts a Client.
type Options struct {
	// Endpoint overrides the KMS endpoint (cfg.BaseEndpoint, itself set by
	// AWS_ENDPOINT_URL, or https://kms.<region>.amazonaws.com).
	Endpoint string
	// KMS replaces the SDK client built from the configuration.
	KMS KMSAPI
	// Now is the signing clock of HPKEOpen requests; nil means time.Now.
	Now func() time.Time
}

// New returns a Client using cfg's region, credentials, endpoint and HTTP
// client, typically from config.LoadDefaultConfig.
func New(cfg aws.Config, opt Options) *Client {
	c := &Client{cfg: cfg, kms: opt.KMS, signer: v4.NewSigner(), now: opt.Now}
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
	if c.now == nil {
		c.now = time.Now
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

// APIError is an error answer of the KMS to HPKEOpen. It implements
// smithy.APIError, like the SDK's own errors.
type APIError struct {
	Code, Message string
	StatusCode    int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("kms HPKEOpen: %s (HTTP %d): %s", e.Code, e.StatusCode, e.Message)
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

// maxResponse bounds the HPKEOpen response read: plaintexts are bounded by
// the server's request limit (1 MiB by default), base64 adds a third.
const maxResponse = 4 << 20

// HPKEOpen calls TrentService.HPKEOpen with a SigV4-signed JSON 1.1
// request. Errors from the KMS are *APIError.
func (c *Client) HPKEOpen(ctx context.Context, in *HPKEOpenInput) (*HPKEOpenOutput, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("kms HPKEOpen: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.HPKEOpen")
	if c.cfg.Credentials == nil {
		return nil, errors.New("kms HPKEOpen: no credentials configured")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("kms HPKEOpen: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", c.cfg.Region, c.now()); err != nil {
		return nil, fmt.Errorf("kms HPKEOpen: sign: %w", err)
	}
	var hc aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		hc = c.cfg.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kms HPKEOpen: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("kms HPKEOpen: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, decodeError(resp, rb)
	}
	var out HPKEOpenOutput
	if err := json.Unmarshal(rb, &out); err != nil {
		return nil, fmt.Errorf("kms HPKEOpen: decode response: %w", err)
	}
	return &out, nil
}

// decodeError reads a JSON 1.1 error: __type may carry a namespace
// ("com.amazonaws.kms#NotFoundException") and message may be spelled
// either way.
func decodeError(resp *http.Response, b []byte) error {
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

// Decrypter returns a token.Decrypter that opens every token through the
// KMS with this client's credentials, so the caller's key policies decide
// which fields it may read: rsa-oaep-256 tokens with Decrypt
// (RSAES_OAEP_SHA_256), hpke tokens with HPKEOpen, the info recomputed
// from the token (a tampered path or key id fails authentication).
func (c *Client) Decrypter(keys KeyMap) token.Decrypter {
	return token.Funcs{
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
	}
}
