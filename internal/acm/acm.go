// Package acm implements the AWS Certificate Manager API (JSON 1.1, target
// CertificateManager) for private certificates. STUB: being written; see
// issue 4.
package acm

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// CA is what ACM needs from the private CA.
type CA interface {
	IssueFor(ctx context.Context, caARN string, csrDER []byte, template string, notAfter time.Time) (leafDER []byte, chainDER [][]byte, err error)
	RevokeFor(ctx context.Context, caARN, serialHex, reason string) error
	KeyAlgorithmOf(ctx context.Context, caARN string) (string, error)
}

// Events is where ACM sends its events (expiry, renewal).
type Events interface {
	PutEvent(ctx context.Context, source, detailType string, resources []string, detail any) error
}

// Config builds a Service.
type Config struct {
	Store     store.Store
	CA        CA
	Events    Events
	AccountID string
	Region    string
	Now       func() time.Time
	Rand      io.Reader
	Logger    *slog.Logger
}

// Service is ACM.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// API describes the acm service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "acm", EventSource: "acm.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "CertificateManager", Operations: map[string]api.Operation{}}
}
