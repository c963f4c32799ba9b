// Package pca implements the AWS Private CA API (JSON 1.1, target
// ACMPrivateCA). STUB: being written; see issue 4.
package pca

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
	// CRLBaseURL is where the server serves CRLs (put into certificates'
	// CRL distribution points), e.g. "http://127.0.0.1:4566/crl".
	CRLBaseURL string
	Now        func() time.Time
	Rand       io.Reader
	Logger     *slog.Logger
}

// Service is the private CA.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// API describes the acm-pca service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "acm-pca", EventSource: "acm-pca.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "ACMPrivateCA", Operations: map[string]api.Operation{}}
}

var errNotImplemented = errors.New("pca: not implemented yet")

// IssueFor signs csrDER with the CA caARN using template (a TemplateArn's
// last part, e.g. "EndEntityCertificate/V1") until notAfter; it returns the
// leaf and the chain (issuer first, up to the root). Used by ACM, which has
// already authorized its caller.
func (s *Service) IssueFor(ctx context.Context, caARN string, csrDER []byte, template string, notAfter time.Time) (leafDER []byte, chainDER [][]byte, err error) {
	return nil, nil, errNotImplemented
}

// RevokeFor revokes a certificate the CA issued (serial in hex).
func (s *Service) RevokeFor(ctx context.Context, caARN, serialHex, reason string) error {
	return errNotImplemented
}

// KeyAlgorithmOf returns the CA's KeyAlgorithm (RSA_2048, EC_prime256v1...).
func (s *Service) KeyAlgorithmOf(ctx context.Context, caARN string) (string, error) {
	return "", errNotImplemented
}
