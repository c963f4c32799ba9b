package tlsconf

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// DefaultTicketKeyRotation is how often session ticket keys rotate when
// ServerConfig.TicketKeyRotation is zero.
const DefaultTicketKeyRotation = time.Hour

// ServerConfig describes a listener's TLS.
type ServerConfig struct {
	// Cert provides the server certificate. Required.
	Cert *certsource.Reloader
	// Trust, when set, makes this mTLS: a client certificate is required
	// and must chain to it. Nil means one-way TLS.
	Trust *certsource.Reloader
	// SANs, when non-empty, are the client SANs accepted (exact match).
	SANs []string
	// NextProtos is the ALPN list, e.g. {"h2", "http/1.1"}.
	NextProtos []string
	// SSL receives the listener's ssl.* stats; nil records nothing.
	SSL *stats.SSL
	// Rand is the randomness for ticket keys; nil means crypto/rand.
	Rand io.Reader
	// TicketKeyRotation is the ticket key lifetime; zero means
	// DefaultTicketKeyRotation. A ticket stays usable for two periods.
	TicketKeyRotation time.Duration
	// Clock tells the time for certificate validity and makes Run's
	// rotation timer; nil means the real clock.
	Clock clock.Clock
}

// Server is a listener's TLS state: one shared *tls.Config, replaced only
// when the listener's spec changes, handed out by GetConfigForClient.
type Server struct {
	outer  *tls.Config
	inner  atomic.Pointer[tls.Config]
	rand   io.Reader
	period time.Duration
	clock  clock.Clock

	mu   sync.Mutex // guards keys
	keys [][32]byte

	unsubs    []func()
	done      chan struct{}
	closeOnce sync.Once
}

// NewServer builds the listener's TLS state. Cert (and Trust, if set) must
// already hold material.
func NewServer(c ServerConfig) (*Server, error) {
	if c.Cert == nil || c.Cert.Current() == nil || c.Cert.Current().Certificate == nil {
		return nil, errors.New("tlsconf: server certificate not loaded")
	}
	if c.Trust != nil && (c.Trust.Current() == nil || c.Trust.Current().Pool == nil) {
		return nil, errors.New("tlsconf: trust bundle not loaded")
	}
	s := &Server{rand: c.Rand, period: c.TicketKeyRotation, clock: c.Clock, done: make(chan struct{})}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.period == 0 {
		s.period = DefaultTicketKeyRotation
	}
	s.outer = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.inner.Load(), nil
		},
	}
	s.inner.Store(s.build(c))
	if err := s.resetKeys(); err != nil {
		return nil, err
	}
	// A resumed session skips the server certificate, so a ticket minted
	// under a rotated-out certificate must not resume: fresh keys.
	s.unsubs = append(s.unsubs, c.Cert.Subscribe(func(_, _ *certsource.Material) { _ = s.resetKeys() }))
	if c.Trust != nil {
		// A changed trust must not be bypassed by tickets minted under the
		// old one; VerifyConnection would re-check, but fresh keys also
		// stop resumption of sessions whose checks were made elsewhere.
		s.unsubs = append(s.unsubs, c.Trust.Subscribe(func(_, _ *certsource.Material) { _ = s.resetKeys() }))
	}
	return s, nil
}

// Close stops Run and detaches the server from its reloaders, so a
// replaced listener configuration is garbage once its connections end.
// Handshakes already started with Config finish normally. Close is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		us := s.unsubs
		s.unsubs = nil
		s.mu.Unlock()
		for _, u := range us {
			u()
		}
	})
}

func (s *Server) build(c ServerConfig) *tls.Config {
	now := clock.OrReal(c.Clock).Now
	v := &verifier{trust: c.Trust, sans: append([]string(nil), c.SANs...), requireCert: c.Trust != nil, usage: x509.ExtKeyUsageClientAuth, now: now, ssl: c.SSL}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS13,
		CipherSuites: StrongCipherSuites,
		NextProtos:   c.NextProtos,
		Time:         now,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.Cert.Current().Certificate, nil
		},
		VerifyConnection: v.verifyConnection,
	}
	if c.Trust != nil {
		// Request but do not let crypto/tls refuse a missing certificate:
		// VerifyConnection refuses it and counts fail_verify_no_cert.
		cfg.ClientAuth = tls.RequestClientCert
	}
	return cfg
}

// Config returns the config to hand to tls.Server / tls.NewListener.
func (s *Server) Config() *tls.Config { return s.outer }

// Update replaces the listener's TLS settings (a spec change) without
// touching open connections; ticket keys are reset so sessions minted
// under the old settings are not resumed.
func (s *Server) Update(c ServerConfig) error {
	if c.Cert == nil || c.Cert.Current() == nil {
		return errors.New("tlsconf: server certificate not loaded")
	}
	s.inner.Store(s.build(c))
	return s.resetKeys()
}

// resetKeys installs one fresh key, invalidating every outstanding ticket.
func (s *Server) resetKeys() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k [32]byte
	if _, err := io.ReadFull(s.rand, k[:]); err != nil {
		return err
	}
	s.keys = [][32]byte{k}
	s.install()
	return nil
}

// RotateTicketKeys adds a fresh encryption key and keeps the previous one
// for decryption only, so tickets survive one rotation.
func (s *Server) RotateTicketKeys() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k [32]byte
	if _, err := io.ReadFull(s.rand, k[:]); err != nil {
		return err
	}
	s.keys = append([][32]byte{k}, s.keys...)
	if len(s.keys) > 2 {
		s.keys = s.keys[:2]
	}
	s.install()
	return nil
}

func (s *Server) install() {
	// Both configs get the keys: crypto/tls uses the returned config's
	// keys when set, and the outer's otherwise.
	s.outer.SetSessionTicketKeys(s.keys)
	s.inner.Load().SetSessionTicketKeys(s.keys)
}

// Run rotates ticket keys every TicketKeyRotation until ctx ends or
// Close is called.
func (s *Server) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	clock.EveryAfter(ctx, s.clock, s.period, func(context.Context) { _ = s.RotateTicketKeys() })
}
