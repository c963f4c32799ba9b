package pca

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/ids"
	"github.com/bulwarkd/bulwark/internal/notify"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Config builds a Service.
type Config struct {
	// Store holds CAs, issued certificates, revocations and CRLs. CA keys
	// go only into sealed record secrets.
	Store     store.Store
	AccountID string
	Region    string
	// CRLBaseURL is where the server serves CRLs (put into certificates'
	// CRL distribution points), e.g. "http://127.0.0.1:4566/crl". Empty
	// means certificates carry no CRL distribution point unless the CA
	// names a CustomCname.
	CRLBaseURL string
	// OCSPBaseURL is where the server answers OCSP, put into the
	// authority information access of certificates from CAs with OCSP
	// enabled as OCSPBaseURL + "/<ca-id>", e.g.
	// "http://127.0.0.1:4566/ocsp". Empty means CRLBaseURL with its
	// "/crl" replaced by "/ocsp" (the server serves both).
	OCSPBaseURL string
	// Clock tells the time and makes the background loop's timers; nil
	// means the real clock. Tests pass a *clock.Fake.
	Clock clock.Clock
	// Rand supplies keys, serials and IDs; nil means crypto/rand.
	Rand io.Reader
	// Logger receives background failures; nil discards them.
	Logger *slog.Logger
}

// Service is the private CA. It is safe for concurrent use.
type Service struct {
	cfg Config

	mu    sync.Mutex
	cache map[string]*loadedCA // by CA id; entries carry the record version
	ocsp  *ocspCache
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
	cfg.CRLBaseURL = strings.TrimSuffix(cfg.CRLBaseURL, "/")
	cfg.OCSPBaseURL = strings.TrimSuffix(cfg.OCSPBaseURL, "/")
	if base, ok := strings.CutSuffix(cfg.CRLBaseURL, "/crl"); ok && cfg.OCSPBaseURL == "" {
		cfg.OCSPBaseURL = base + "/ocsp"
	}
	return &Service{cfg: cfg, cache: map[string]*loadedCA{}, ocsp: newOCSPCache()}
}

func (s *Service) now() time.Time { return s.cfg.Clock.Now().UTC() }

// newID returns a random version-4 UUID, the form AWS gives CA ids.
func (s *Service) newID() (string, error) { return ids.UUID(s.cfg.Rand) }

// caARN builds a CA ARN from its id.
func (s *Service) caARN(id string) string {
	return fmt.Sprintf("arn:aws:acm-pca:%s:%s:certificate-authority/%s", s.cfg.Region, s.cfg.AccountID, id)
}

// certARN builds an issued certificate's ARN.
func (s *Service) certARN(caID, serialHex string) string {
	return s.caARN(caID) + "/certificate/" + serialHex
}

// parseCAARN returns the CA id of a CA ARN of this account and region.
func (s *Service) parseCAARN(arn string) (string, error) {
	prefix := s.caARN("")
	if !strings.HasPrefix(arn, "arn:aws:acm-pca:") || !strings.Contains(arn, ":certificate-authority/") {
		return "", fmt.Errorf("%w: %q is not a certificate authority ARN", ErrInvalidArn, arn)
	}
	id, ok := strings.CutPrefix(arn, prefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		if strings.Contains(strings.TrimPrefix(arn, prefix), "/certificate/") {
			return "", fmt.Errorf("%w: %q is a certificate ARN, not a CA ARN", ErrInvalidArn, arn)
		}
		return "", fmt.Errorf("%w: certificate authority %s", ErrNotFound, arn)
	}
	return id, nil
}

// parseCertARN returns the CA id and canonical serial of a certificate ARN.
func (s *Service) parseCertARN(arn string) (caID, serialHex string, err error) {
	caPart, serial, ok := strings.Cut(arn, "/certificate/")
	if !ok {
		return "", "", fmt.Errorf("%w: %q is not a certificate ARN", ErrInvalidArn, arn)
	}
	if caID, err = s.parseCAARN(caPart); err != nil {
		return "", "", err
	}
	return caID, strings.ToLower(serial), nil
}

// Run does the CA's background work until ctx ends: it purges CAs whose
// restore window has passed and refreshes CRLs that are due.
func (s *Service) Run(ctx context.Context) {
	clock.EveryTick(ctx, s.cfg.Clock, time.Minute, s.cfg.Logger, "pca background work failed", s.Tick)
}

// Tick does one round of background work at the injected clock's time;
// Run calls it every minute of Clock and tests call it after moving the clock.
func (s *Service) Tick(ctx context.Context) error {
	recs, err := s.cfg.Store.List(ctx, kindCA, store.ListOptions{})
	if err != nil {
		return err
	}
	now := s.now()
	var first error
	for _, r := range recs {
		ca, err := decodeCA(r)
		if err != nil {
			return err
		}
		if ca.Status == StatusDeleted && !ca.RestorableUntil.IsZero() && now.After(ca.RestorableUntil) {
			err = s.purge(ctx, ca.ID)
		} else if ca.crlEnabled() && ca.CertDER != nil {
			_, err = s.currentCRL(ctx, ca.ID, false)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
