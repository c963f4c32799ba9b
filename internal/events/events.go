package events

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/ids"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Config builds a Service.
type Config struct {
	// Store holds rules, API destinations, connections (their credentials
	// sealed) and the delivery queue. Required.
	Store     store.Store
	AccountID string
	Region    string
	// HTTPClient delivers events to targets; nil means a client with the
	// 5-second timeout API destinations have and redirects not followed
	// (a target must not bounce deliveries elsewhere).
	HTTPClient *http.Client
	// Clock tells the time that schedules retries and ages events and
	// makes the delivery loop's timers; nil means the real clock. Tests
	// pass a *clock.Fake.
	Clock clock.Clock
	// Rand is the randomness for event ids, resource ids and retry
	// jitter; nil means crypto/rand.
	Rand io.Reader
	// Logger receives delivery failures; nil discards them.
	Logger *slog.Logger
	// PollInterval is how often (on Clock) the background loop checks
	// the injected clock for due retries; 0 means 250ms. The check is a
	// clock comparison, not a store query, unless something is due.
	PollInterval time.Duration
}

// Service is the event bus: the default bus of one account and region.
type Service struct {
	cfg    Config
	store  store.Store
	now    func() time.Time
	clock  clock.Clock
	rand   io.Reader
	log    *slog.Logger
	client *http.Client

	// deliverMu serialises delivery passes in this process so that an
	// explicit DeliverDue sees the effects of a pass the loop had begun.
	deliverMu sync.Mutex
	// nextDue is the clock time (UnixNano) of the earliest queued
	// delivery as of the last pass; 0 forces a pass.
	nextDue atomic.Int64
	wake    chan struct{}

	// patterns caches compiled rule patterns by rule name.
	patMu    sync.Mutex
	patterns map[string]cachedPattern

	// backoffBase and backoffCap shape retry delays; tests shrink them.
	backoffBase, backoffCap time.Duration
	lease                   time.Duration
}

type cachedPattern struct {
	text string
	p    *pattern
}

// New returns a Service. It starts nothing: the server runs API().Run.
func New(cfg Config) *Service {
	s := &Service{
		cfg:         cfg,
		store:       cfg.Store,
		clock:       clock.OrReal(cfg.Clock),
		rand:        cfg.Rand,
		log:         cfg.Logger,
		client:      cfg.HTTPClient,
		wake:        make(chan struct{}, 1),
		patterns:    map[string]cachedPattern{},
		backoffBase: time.Second,
		backoffCap:  5 * time.Minute,
		lease:       time.Minute,
	}
	s.now = s.clock.Now
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout: 5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if s.cfg.PollInterval <= 0 {
		s.cfg.PollInterval = 250 * time.Millisecond
	}
	return s
}

// PutEvent publishes an event from a Bulwark service (ACM's expiry events)
// to the default bus. Unlike PutEvents it may use an "aws." source, which
// is why it is reachable only from inside the process. detail must marshal
// to a JSON object. It returns once the deliveries are queued durably.
func (s *Service) PutEvent(ctx context.Context, source, detailType string, resources []string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("events: marshal detail: %w", err)
	}
	res, err := s.publish(ctx, []Entry{{Source: source, DetailType: detailType, Detail: string(b), Resources: resources}}, true)
	if err != nil {
		return err
	}
	if res[0].ErrorCode != "" {
		return fmt.Errorf("events: %s: %s", res[0].ErrorCode, res[0].ErrorMessage)
	}
	return nil
}

func (s *Service) ruleARN(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", s.cfg.Region, s.cfg.AccountID, name)
}

func (s *Service) busARN() string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/default", s.cfg.Region, s.cfg.AccountID)
}

// newUUID returns a random (version 4) UUID from the injected source.
func (s *Service) newUUID() (string, error) { return ids.UUID(s.rand) }
