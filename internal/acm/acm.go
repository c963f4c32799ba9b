package acm

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/ids"
	"github.com/bulwarkd/bulwark/internal/notify"
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

// Event detail types ACM emits, with source EventSource.
const (
	EventSource              = "aws.acm"
	EventApproachingExpiry   = "ACM Certificate Approaching Expiration"
	EventExpired             = "ACM Certificate Expired"
	EventAvailable           = "ACM Certificate Available"
	DefaultDaysBeforeExpiry  = 45
	DefaultValidity          = 395 * 24 * time.Hour
	DefaultRenewalWindow     = 60 * 24 * time.Hour
	ValidityTag              = "bulwark:validity"
	issuingTemplate          = "EndEntityCertificate/V1"
	accountConfigID          = "config"
	renewalFractionRemaining = 3 // short-lived: renew with a third of the lifetime left
)

// Config builds a Service.
type Config struct {
	// Store holds certificates (keys only in sealed secrets) and the
	// account configuration.
	Store store.Store
	// CA signs private certificates; nil makes RequestCertificate fail.
	CA CA
	// Events receives expiry and renewal events; nil drops them.
	Events    Events
	AccountID string
	Region    string
	// DefaultValidity is a private certificate's lifetime when its
	// "bulwark:validity" tag does not say; zero means 395 days (AWS).
	DefaultValidity time.Duration
	// RenewalWindow is how long before expiry exported private
	// certificates are renewed; zero means 60 days (AWS). Certificates
	// whose lifetime is under three windows renew with a third of their
	// lifetime left instead.
	RenewalWindow time.Duration
	Rand          io.Reader    // nil = crypto/rand
	Logger        *slog.Logger // nil = discard
	// Clock tells the time and makes the expiry loop's timers; nil means
	// the real clock. Tests pass a *clock.Fake.
	Clock clock.Clock
}

// Service is ACM. It is safe for concurrent use.
type Service struct {
	cfg   Config
	watch notify.Fanout
}

// New returns a Service.
func New(cfg Config) *Service {
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultValidity <= 0 {
		cfg.DefaultValidity = DefaultValidity
	}
	if cfg.RenewalWindow <= 0 {
		cfg.RenewalWindow = DefaultRenewalWindow
	}
	return &Service{cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Clock.Now().UTC() }

func (s *Service) newID() (string, error) { return ids.UUID(s.cfg.Rand) }

func (s *Service) certARN(id string) string {
	return fmt.Sprintf("arn:aws:acm:%s:%s:certificate/%s", s.cfg.Region, s.cfg.AccountID, id)
}

// parseARN returns the certificate id of an ACM certificate ARN.
func (s *Service) parseARN(arn string) (string, error) {
	if !strings.HasPrefix(arn, "arn:aws:acm:") || !strings.Contains(arn, ":certificate/") {
		return "", fmt.Errorf("%w: %q is not a certificate ARN", ErrInvalidArn, arn)
	}
	id, ok := strings.CutPrefix(arn, s.certARN(""))
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("%w: certificate %s", ErrNotFound, arn)
	}
	return id, nil
}

// Run calls Tick at once and then every minute of Clock until ctx ends.
func (s *Service) Run(ctx context.Context) {
	clock.EveryTick(ctx, s.cfg.Clock, time.Minute, s.cfg.Logger, "acm: expiry tick failed", s.Tick)
}
