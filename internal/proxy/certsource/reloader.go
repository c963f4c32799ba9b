package certsource

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// DefaultPollInterval is how often a Reloader checks its source when
// ReloaderConfig.PollInterval is zero.
const DefaultPollInterval = time.Second

// ReloaderConfig configures a Reloader.
type ReloaderConfig struct {
	// Name identifies the source in logs and stats (sds.<name>.*,
	// ssl.certificate.<name>.*). Required.
	Name string
	// Source is what is watched. Required.
	Source Source
	// Policy is what new material must satisfy.
	Policy Policy
	// PollInterval is how often the source is checked; zero means
	// DefaultPollInterval, negative disables polling (Trigger only).
	PollInterval time.Duration
	// Stats receives the reload counters; nil means a private store.
	Stats *stats.Store
	// Logger receives reload outcomes; nil means slog.Default().
	Logger *slog.Logger
}

// Reloader keeps the current validated Material of one Source.
type Reloader struct {
	cfg     ReloaderConfig
	current atomic.Pointer[Material]
	trigger chan struct{}

	mu        sync.Mutex // serialises reloads and guards lastTried, subs
	lastTried string
	subs      []func(old, cur *Material)
	rejSubs   []func(err error)

	attempt, success, rejected *stats.Counter
	expiry                     *stats.Gauge
}

// NewReloader returns a Reloader; call Load (or Start) before Current.
func NewReloader(cfg ReloaderConfig) *Reloader {
	if cfg.Stats == nil {
		cfg.Stats = stats.NewStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	p := stats.SourcePrefix(cfg.Name)
	return &Reloader{
		cfg:      cfg,
		trigger:  make(chan struct{}, 1),
		attempt:  cfg.Stats.Counter(p + stats.UpdateAttempt),
		success:  cfg.Stats.Counter(p + stats.UpdateSuccess),
		rejected: cfg.Stats.Counter(p + stats.UpdateRejected),
	}
}

// Name returns the configured name.
func (r *Reloader) Name() string { return r.cfg.Name }

// Current returns the material in use; nil before the first successful
// load.
func (r *Reloader) Current() *Material { return r.current.Load() }

// Subscribe registers fn to run after every successful swap (not for the
// first load). fn runs on the reloading goroutine and must not block.
func (r *Reloader) Subscribe(fn func(old, cur *Material)) {
	r.mu.Lock()
	r.subs = append(r.subs, fn)
	r.mu.Unlock()
}

// OnRejected registers fn to run whenever changed material is refused
// while older material stays in use. fn must not block.
func (r *Reloader) OnRejected(fn func(err error)) {
	r.mu.Lock()
	r.rejSubs = append(r.rejSubs, fn)
	r.mu.Unlock()
}

// ErrUnchanged is returned by Reload when the source's version is the one
// in use or the one that last failed.
var ErrUnchanged = errors.New("certsource: unchanged")

// Reload checks the source once: unchanged material is skipped; changed
// material is validated and swapped in, or refused with the old kept. It
// is ghostunnel's Reload() and what SIGHUP runs.
func (r *Reloader) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	version := ""
	if v, ok := r.cfg.Source.(Versioner); ok {
		var err error
		if version, err = v.Version(ctx); err == nil {
			if cur := r.current.Load(); (cur != nil && version == r.curVersion(cur)) || version == r.lastTried {
				return ErrUnchanged
			}
		} else {
			version = ""
		}
	}
	r.attempt.Inc()
	m, err := r.cfg.Source.Load(ctx)
	if err == nil {
		err = r.cfg.Policy.Validate(m)
	}
	if err != nil {
		r.lastTried = version
		if r.current.Load() != nil {
			r.rejected.Inc()
			r.cfg.Logger.Warn("certificate reload refused; keeping the material in use", "source", r.cfg.Name, "error", err)
			for _, fn := range r.rejSubs {
				fn(err)
			}
		}
		return err
	}
	if cur := r.current.Load(); cur != nil && cur.Version == m.Version && version == "" {
		return ErrUnchanged
	}
	if version != "" {
		m.Version = version + "|" + m.Version
	}
	r.lastTried = version
	old := r.current.Swap(m)
	r.success.Inc()
	if m.Certificate != nil {
		r.cfg.Stats.Gauge(stats.CertificateExpiry(r.cfg.Name)).Set(m.Certificate.Leaf.NotAfter.Unix())
	}
	if old != nil {
		r.cfg.Logger.Info("certificate material reloaded", "source", r.cfg.Name, "version", m.Version)
		for _, fn := range r.subs {
			fn(old, m)
		}
	}
	return nil
}

// curVersion returns the Versioner part of a stored version.
func (r *Reloader) curVersion(m *Material) string {
	for i := 0; i < len(m.Version); i++ {
		if m.Version[i] == '|' {
			return m.Version[:i]
		}
	}
	return m.Version
}

// Trigger asks the watch loop to reload now (SIGHUP, a control-plane
// push). It never blocks; triggers arriving during a reload coalesce.
func (r *Reloader) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Start loads the material once, failing if it is unusable, then watches
// the source until ctx ends.
func (r *Reloader) Start(ctx context.Context) error {
	if err := r.Reload(ctx); err != nil && !errors.Is(err, ErrUnchanged) {
		return err
	}
	go r.watch(ctx)
	return nil
}

func (r *Reloader) watch(ctx context.Context) {
	var tick <-chan time.Time
	if r.cfg.PollInterval > 0 {
		t := time.NewTicker(r.cfg.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-r.trigger:
		}
		_ = r.Reload(ctx) // outcome already logged and counted
	}
}
