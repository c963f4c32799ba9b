// Package secrets implements the AWS Secrets Manager API. STUB.
package secrets

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Keys is what Secrets Manager needs from KMS.
type Keys interface {
	GenerateDataKeyFor(ctx context.Context, c *api.Call, keyID string, encCtx map[string]string, viaService string) (keyARN string, plaintext, blob []byte, err error)
	DecryptFor(ctx context.Context, c *api.Call, blob []byte, encCtx map[string]string, viaService string) (keyARN string, plaintext []byte, err error)
}

// Config builds a Service.
type Config struct {
	Store     store.Store
	Keys      Keys
	AccountID string
	Region    string
	Now       func() time.Time
	Rand      io.Reader
	Logger    *slog.Logger
}

// Service is Secrets Manager.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// API describes the secretsmanager service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "secretsmanager", EventSource: "secretsmanager.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "secretsmanager", Operations: map[string]api.Operation{}}
}
