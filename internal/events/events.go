// Package events implements a subset of the Amazon EventBridge API. STUB.
package events

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Config builds a Service.
type Config struct {
	Store      store.Store
	AccountID  string
	Region     string
	HTTPClient *http.Client
	Now        func() time.Time
	Rand       io.Reader
	Logger     *slog.Logger
}

// Service is the event bus.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// API describes the events service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "events", EventSource: "events.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "AWSEvents", Operations: map[string]api.Operation{}}
}

// PutEvent publishes an event from a Bulwark service.
func (s *Service) PutEvent(ctx context.Context, source, detailType string, resources []string, detail any) error {
	return errors.New("events: not implemented yet")
}
