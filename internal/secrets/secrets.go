package secrets

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/ttlcache"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Keys is what Secrets Manager needs from KMS: envelope encryption on the
// caller's behalf (the caller needs kms rights on the key, as in AWS).
type Keys interface {
	GenerateDataKeyFor(ctx context.Context, c *api.Call, keyID string, encCtx map[string]string, viaService string) (keyARN string, plaintext, blob []byte, err error)
	DecryptFor(ctx context.Context, c *api.Call, blob []byte, encCtx map[string]string, viaService string) (keyARN string, plaintext []byte, err error)
}

// DecryptAuthorizer is an optional extra a Keys implementation may offer:
// it decides whether caller c may decrypt under keyARN with encCtx without
// doing the decryption. When Keys implements it, a data-key cache hit is
// still checked against the key policy on every call; otherwise cached
// data keys are per principal (see docs/secrets.md).
type DecryptAuthorizer interface {
	AuthorizeDecryptFor(ctx context.Context, c *api.Call, keyARN string, encCtx map[string]string, viaService string) error
}

// Config builds a Service.
type Config struct {
	// Store holds secrets and versions; required.
	Store store.Store
	// Keys is the KMS; required for any operation on secret values.
	Keys Keys
	// AccountID and Region form every ARN.
	AccountID string
	Region    string
	// Clock tells the time (deletion windows, rotation schedules) and
	// makes the background loop's timers; nil means the real clock. Tests
	// pass a *clock.Fake.
	Clock clock.Clock
	// Rand is the randomness for ARN suffixes, version ids, passwords and
	// nonces; nil = crypto/rand. A predictable reader makes passwords
	// predictable.
	Rand io.Reader
	// Logger receives operational messages (never secret values); nil
	// discards them.
	Logger *slog.Logger
	// KeyCacheTTL is how long a decrypted data key stays in memory; 0
	// means DefaultKeyCacheTTL and a negative value disables the cache
	// (every GetSecretValue then calls KMS).
	KeyCacheTTL time.Duration
	// KeyCacheSize bounds the number of cached data keys (and of cached
	// secret records, see MetadataCacheTTL); 0 means DefaultKeyCacheSize.
	KeyCacheSize int
	// MetadataCacheTTL is how long GetSecretValue may serve a secret's
	// record (its versions, stages, resource policy, deletion state) from
	// memory instead of the store; 0 means DefaultMetadataCacheTTL and a
	// negative value disables the cache. Every write through this Service
	// clears it at once; the TTL bounds how long a change made through
	// another server sharing the store can go unseen here.
	MetadataCacheTTL time.Duration
	// HTTPClient calls rotation endpoints; nil means a client with a
	// 30-second timeout that refuses to connect to link-local addresses.
	// Redirects are never followed: a supplied *http.Client is copied
	// with its CheckRedirect replaced.
	HTTPClient HTTPDoer
	// LoopInterval is how often (on Clock) the background loop looks
	// for due rotations and purges; 0 means one minute. Due times come
	// from Now.
	LoopInterval time.Duration
}

// HTTPDoer sends rotation step requests (*http.Client satisfies it).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Cache defaults.
const (
	DefaultKeyCacheTTL  = 30 * time.Second
	DefaultKeyCacheSize = 4096
	// DefaultMetadataCacheTTL is the cross-server staleness bound of the
	// secret records GetSecretValue reads, the same as IAM's and KMS's
	// caches (docs/architecture.md, "Caches").
	DefaultMetadataCacheTTL = time.Second
)

// Service is Secrets Manager.
type Service struct {
	cfg      Config
	log      *slog.Logger
	keys     *ttlcache.Cache[dataKey]
	versions *ttlcache.Cache[*sealedValue]
	meta     *metaCache // nil when disabled
	policies *policyCache
	randMu   sync.Mutex
	rotMu    sync.Mutex
	rotating map[string]bool // secrets with a rotation in flight here
	kick     chan struct{}
}

// New returns a Service. Nil fields of cfg get the defaults documented on
// Config.
func New(cfg Config) *Service {
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if cfg.KeyCacheSize <= 0 {
		cfg.KeyCacheSize = DefaultKeyCacheSize
	}
	switch c := cfg.HTTPClient.(type) {
	case nil:
		cfg.HTTPClient = newRotationClient()
	case *http.Client:
		// A supplied client must not follow redirects either.
		cc := *c
		cc.CheckRedirect = refuseRedirect
		cfg.HTTPClient = &cc
	}
	if cfg.LoopInterval <= 0 {
		cfg.LoopInterval = time.Minute
	}
	s := &Service{cfg: cfg, log: cfg.Logger, policies: newPolicyCache(256), kick: make(chan struct{}, 1)}
	s.keys = ttlcache.New[dataKey](cfg.KeyCacheSize, 0, cfg.KeyCacheTTL, cfg.Clock.Now,
		func(k dataKey) { clear(k.key) },
		func(k dataKey) dataKey { return dataKey{keyARN: k.keyARN, key: append([]byte(nil), k.key...)} })
	// Version ciphertexts are immutable and useless without a data key,
	// so they are cached longer and bounded by bytes.
	s.versions = ttlcache.New[*sealedValue](cfg.KeyCacheSize, 32<<20, 10*time.Minute, cfg.Clock.Now, nil, nil)
	if cfg.MetadataCacheTTL == 0 {
		cfg.MetadataCacheTTL = DefaultMetadataCacheTTL
	}
	if cfg.MetadataCacheTTL > 0 {
		s.meta = &metaCache{c: ttlcache.New[*Secret](cfg.KeyCacheSize, 0, cfg.MetadataCacheTTL, cfg.Clock.Now, nil, nil)}
	}
	s.cfg.MetadataCacheTTL = cfg.MetadataCacheTTL
	return s
}

func (s *Service) now() time.Time { return s.cfg.Clock.Now().UTC() }

// readRand fills b from the configured source; io.Readers need not be safe
// for concurrent use, so reads are serialised.
func (s *Service) readRand(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	_, err := io.ReadFull(s.cfg.Rand, b)
	return err
}

// viaService is the kms:ViaService value of every KMS call we make.
func (s *Service) viaService() string { return "secretsmanager." + s.cfg.Region + ".amazonaws.com" }

// Run is the background loop: it purges secrets whose recovery window has
// passed and runs due rotations, checking every LoopInterval (or when a
// write asks for it) against the injected clock.
func (s *Service) Run(ctx context.Context) {
	clock.EveryOrWake(ctx, s.cfg.Clock, s.cfg.LoopInterval, s.kick, func(ctx context.Context) {
		if _, err := s.PurgeDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("secretsmanager: purge", "err", err)
		}
		if _, err := s.RotateDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("secretsmanager: scheduled rotation", "err", err)
		}
	})
}
