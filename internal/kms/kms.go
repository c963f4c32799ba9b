// Package kms implements the AWS KMS API (JSON 1.1, target TrentService).
// STUB: being written; see issue 3.
package kms

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Config builds a Service.
type Config struct {
	Store     store.Store
	AccountID string
	Region    string
	Now       func() time.Time // nil = time.Now
	Rand      io.Reader        // nil = crypto/rand
	Logger    *slog.Logger     // nil = discard
}

// Service is the KMS.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// API describes the kms service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "kms", EventSource: "kms.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "TrentService", Operations: map[string]api.Operation{}}
}

var errNotImplemented = errors.New("kms: not implemented yet")

// GenerateDataKeyFor makes an AES-256 data key for another service.
func (s *Service) GenerateDataKeyFor(ctx context.Context, c *api.Call, keyID string, encCtx map[string]string, viaService string) (keyARN string, plaintext, blob []byte, err error) {
	return "", nil, nil, errNotImplemented
}

// DecryptFor decrypts a blob made by GenerateDataKeyFor for caller c.
func (s *Service) DecryptFor(ctx context.Context, c *api.Call, blob []byte, encCtx map[string]string, viaService string) (keyARN string, plaintext []byte, err error) {
	return "", nil, errNotImplemented
}
