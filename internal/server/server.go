package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/bulwarkd/bulwark/internal/acm"
	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/events"
	"github.com/bulwarkd/bulwark/internal/iam"
	"github.com/bulwarkd/bulwark/internal/kms"
	"github.com/bulwarkd/bulwark/internal/mesh/controlplane"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/pca"
	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/secrets"
	"github.com/bulwarkd/bulwark/internal/sigv4"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/postgres"
	"github.com/bulwarkd/bulwark/internal/store/sqlite"
)

// Server hosts every Bulwark API on one handler.
type Server struct {
	cfg      Config
	store    store.Store
	audit    *audit.Log
	iam      *iam.Service
	verifier *sigv4.Verifier
	metrics  *metrics
	registry *prometheus.Registry

	// jsonServices routes by X-Amz-Target prefix; queryServices by the
	// SigV4 signing name.
	jsonServices  map[string]*api.Service
	queryServices map[string]*api.Service
	rest          restTable

	kms     *kms.Service
	events  *events.Service
	pca     *pca.Service
	acm     *acm.Service
	secrets *secrets.Service
	appmesh *controlplane.Service
	xds     *xds.Server

	xdsMu       sync.Mutex
	grpcServers []*grpc.Server

	routes        map[string]http.Handler
	routePrefixes []string
	services      []*api.Service

	// console serves /console/; auditKeys verify the audit log for the
	// read API (current master key's first).
	console   http.Handler
	auditKeys []*audit.Keys

	ready atomic.Bool
	// httpSrv is built by New, so a Shutdown that comes before Serve
	// (a signal during start-up) still makes Serve return at once.
	httpSrv  *http.Server
	conns    *connLimiter
	bodies   *bodyBudget
	closeFns []func() error
}

// New builds a Server from cfg: it opens the store and the audit log,
// installs the root access key if one is given, and registers every
// service. Close releases what New opened.
func New(cfg Config) (*Server, error) {
	c := cfg.withDefaults()
	if len(c.MasterKey) != 32 {
		return nil, errors.New("server: the master key must be 32 bytes")
	}
	if c.MaxUnauthenticatedBodyBytes > 0 && c.MaxUnauthenticatedBodyBytes < c.MaxBodyBytes {
		return nil, fmt.Errorf("server: the unauthenticated body budget (%d bytes) is smaller than the body limit (%d bytes), so the largest bodies could never be read: raise it or lower the body limit", c.MaxUnauthenticatedBodyBytes, c.MaxBodyBytes)
	}
	s := &Server{cfg: c, jsonServices: map[string]*api.Service{}, queryServices: map[string]*api.Service{}}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	keyring, err := seal.NewKeyring(c.MasterKey, c.Rand, c.PreviousMasterKeys...)
	if err != nil {
		return nil, fmt.Errorf("server: master key: %w", err)
	}
	s.registry = prometheus.NewRegistry()
	s.metrics = newMetrics(s.registry)

	backend, err := openBackend(c)
	if err != nil {
		return nil, err
	}
	s.store = store.New(backend, keyring, store.OnIntegrityFailure(func(e *store.IntegrityError) {
		// The kind label is bounded: the server only reads the kinds its
		// services name. The row's contents never reach the log.
		s.metrics.integrity.WithLabelValues(e.Kind).Inc()
		c.Logger.Error("stored record failed its integrity check; refusing to use it", "kind", e.Kind, "id", e.ID, "reason", e.Reason, "tagKeyId", fmt.Sprintf("%08x", e.KeyID))
	}))
	s.closeFns = append(s.closeFns, s.store.Close)
	// Rows without a tag mean an upgrade that still needs its one-time
	// `admin reseal --authenticate-legacy`, or tampering: refuse to start
	// and say which, rather than fail every request that touches one.
	ictx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = store.CheckAuthenticated(ictx, backend)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}

	s.conns = newConnLimiter(c.MaxConnections, s.metrics)
	s.bodies = &bodyBudget{limit: c.MaxUnauthenticatedBodyBytes, gauge: s.metrics.unauthBytes}
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		// SigV4 headers, even with a session token, take a few KiB; every
		// slow connection may hold this much.
		MaxHeaderBytes: 16 << 10,
		ConnState:      s.conns.connState,
		ConnContext:    s.conns.connContext,
	}

	auditPath := c.AuditLogPath
	if auditPath == "" {
		auditPath = filepath.Join(c.DataDir, "audit.log")
	}
	// With PostgreSQL storage nothing else creates the data dir, which
	// holds the audit log by default.
	if err := os.MkdirAll(filepath.Dir(auditPath), 0o700); err != nil {
		return nil, fmt.Errorf("server: create audit log directory: %w", err)
	}
	auditKeys, err := audit.DeriveKeys(c.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("server: audit keys: %w", err)
	}
	var prevAuditKeys []*audit.Keys
	for _, k := range c.PreviousMasterKeys {
		pk, err := audit.DeriveKeys(k)
		if err != nil {
			return nil, fmt.Errorf("server: audit keys: %w", err)
		}
		prevAuditKeys = append(prevAuditKeys, pk)
	}
	s.auditKeys = append([]*audit.Keys{auditKeys}, prevAuditKeys...)
	s.audit, err = audit.Open(auditPath, audit.Options{
		Sync: !c.AuditNoSync, ReadSyncDelay: max(c.AuditReadSyncDelay, 0), Keys: auditKeys, PreviousKeys: prevAuditKeys, Logger: c.Logger,
		RotateBytes: c.AuditRotateBytes, RotateInterval: c.AuditRotateInterval, Clock: c.Clock,
		OnError: func(err error) {
			// Counted per lost event by appendAudit.
			c.Logger.Error("audit log write failed; refusing requests until it recovers", "err", err)
		}})
	if err != nil {
		return nil, fmt.Errorf("server: open audit log: %w", err)
	}
	s.closeFns = append(s.closeFns, s.audit.Close)

	s.iam = iam.New(iam.Config{Store: s.store, AccountID: c.AccountID, Clock: c.Clock, Rand: c.Rand})
	if c.RootAccessKeyID != "" {
		if err := s.iam.EnsureRootAccessKey(context.Background(), c.RootAccessKeyID, c.RootSecretAccessKey); err != nil {
			return nil, fmt.Errorf("server: root access key: %w", err)
		}
	}
	// Bulwark serves one region and issues no temporary credentials, so a
	// scope for another region and any X-Amz-Security-Token are refused
	// (SessionToken nil) instead of being ignored. IAM and STS also
	// accept us-east-1, the region AWS signs their global endpoints with.
	s.verifier = &sigv4.Verifier{Lookup: s.lookupCredential, Clock: c.Clock, Region: c.Region, GlobalServices: []string{"iam", "sts"}}

	s.buildServices()
	s.startBackground(s.services)
	s.ready.Store(true)
	ok = true
	return s, nil
}

// OpenBackend opens the raw storage cfg names (Storage, else
// DataDir/bulwark.db), migrating its schema: what maintenance commands such
// as `bulwark admin reseal` work on, with the same rules as New.
func OpenBackend(cfg Config) (store.Backend, error) {
	return openBackend(cfg)
}

func openBackend(c Config) (store.Backend, error) {
	switch {
	case c.Storage == "" || c.Storage == "sqlite":
		if c.DataDir == "" {
			return nil, errors.New("server: a data directory is required for the embedded sqlite storage")
		}
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: create data dir: %w", err)
		}
		return openSQLite(filepath.Join(c.DataDir, "bulwark.db"))
	case strings.HasPrefix(c.Storage, "sqlite://"):
		return openSQLite(strings.TrimPrefix(c.Storage, "sqlite://"))
	case strings.HasPrefix(c.Storage, "postgres://"), strings.HasPrefix(c.Storage, "postgresql://"):
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := postgres.Open(ctx, c.Storage)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("server: unknown storage %q: use sqlite (default), sqlite:///path/to/file.db or postgres://user@host/db", c.Storage)
}

func openSQLite(path string) (store.Backend, error) {
	b, err := sqlite.Open(path)
	if err != nil {
		return nil, fmt.Errorf("server: open %s: %w", path, err)
	}
	return b, nil
}

// Register adds services to the router. It is how every service plugs in;
// New calls it for the built-in services, before serving.
func (s *Server) Register(services ...*api.Service) {
	for _, svc := range services {
		s.services = append(s.services, svc)
		s.addRoutes(svc)
		switch svc.Protocol {
		case api.JSON11:
			s.jsonServices[svc.TargetPrefix] = svc
		case api.Query:
			s.queryServices[svc.Name] = svc
		case api.RESTJSON:
			s.rest.add(svc)
		}
	}
}

// ReopenAuditLog continues the audit log in the file now at its path,
// after an external tool rotated it (SIGHUP in `bulwark server`); the chain
// goes on across the files. It does nothing if the file was not moved.
func (s *Server) ReopenAuditLog() error { return s.audit.Reopen() }

// RotateAuditLog renames the audit log PATH.<UTC time> and continues the
// chain in a new file at its path.
func (s *Server) RotateAuditLog() error { return s.audit.Rotate() }

// IAM returns the IAM service (for the CLI and tests that seed users).
func (s *Server) IAM() *iam.Service { return s.iam }

// Store returns the sealed record store (tests inspect it).
func (s *Server) Store() store.Store { return s.store }

// Config returns the effective configuration, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Serve accepts connections on ln until Shutdown; after Shutdown (even one
// called before Serve) it returns nil at once. Call it once.
func (s *Server) Serve(ln net.Listener) error {
	err := s.httpSrv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for in-flight ones to finish
// (or ctx to end), so no acknowledged call is cut off.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	s.stopXDS()
	return s.httpSrv.Shutdown(ctx)
}

// Close releases the store and audit log. Call it after Shutdown.
func (s *Server) Close() error {
	var errs []error
	for i := len(s.closeFns) - 1; i >= 0; i-- {
		errs = append(errs, s.closeFns[i]())
	}
	s.closeFns = nil
	return errors.Join(errs...)
}

func (s *Server) lookupCredential(ctx context.Context, id string) (sigv4.Credential, error) {
	c, err := s.iam.LookupAccessKey(ctx, id)
	if errors.Is(err, iam.ErrUnknownAccessKey) {
		return sigv4.Credential{}, fmt.Errorf("%w: %s", sigv4.ErrUnknownKey, id)
	}
	if err != nil {
		return sigv4.Credential{}, err
	}
	if h, ok := ctx.Value(credHolderKey{}).(*credHolder); ok {
		h.cred = c
	}
	return sigv4.Credential{SecretAccessKey: c.Secret, Active: c.Active}, nil
}
