package certsource

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
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
	// RetryBackoff is the wait before the first retry after a failed
	// check; it doubles with every further failure up to MaxBackoff. Zero
	// means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// MaxBackoff caps the wait between retries; zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Clock tells the time of the state's timestamps (and of Policy when
	// its Clock is nil) and makes the watch loop's poll and retry timers;
	// nil means clock.Real. Tests pass a clock.Fake to drive the loop
	// without sleeps.
	Clock clock.Clock
}

// DefaultRetryBackoff and DefaultMaxBackoff bound how often a failing
// source is retried when ReloaderConfig leaves them zero.
const (
	DefaultRetryBackoff = time.Second
	DefaultMaxBackoff   = 2 * time.Minute
)

// Source states reported by State.Status.
const (
	// StatusLoading: no check has finished yet.
	StatusLoading = "loading"
	// StatusOK: material is in use and the last check succeeded (or saw
	// no change).
	StatusOK = "ok"
	// StatusStale: material is in use but the last check failed; the old
	// material keeps serving and the source is retried with backoff.
	StatusStale = "stale"
	// StatusFailing: no material was ever loaded and the last check
	// failed; the source is retried with backoff.
	StatusFailing = "failing"
)

// State describes how a source is doing, for /certs and logs. LastError
// never holds key material: sources report parse and transport errors.
type State struct {
	Status              string    `json:"status"`
	LastError           string    `json:"last_error,omitempty"`
	LastAttempt         time.Time `json:"last_attempt,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
}

// Reloader keeps the current validated Material of one Source.
type Reloader struct {
	cfg     ReloaderConfig
	current atomic.Pointer[Material]
	trigger chan struct{}

	started atomic.Bool

	mu        sync.Mutex // serialises reloads and guards lastTried, subs, state
	lastTried string
	subSeq    uint64
	subs      map[uint64]func(old, cur *Material)
	rejSubs   map[uint64]func(err error)
	state     State

	attempt, success, rejected, failure *stats.Counter
	consecutive, updateTime             *stats.Gauge
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
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Policy.Clock == nil {
		cfg.Policy.Clock = cfg.Clock
	}
	p := stats.SourcePrefix(cfg.Name)
	return &Reloader{
		cfg:         cfg,
		trigger:     make(chan struct{}, 1),
		subs:        map[uint64]func(old, cur *Material){},
		rejSubs:     map[uint64]func(err error){},
		state:       State{Status: StatusLoading},
		attempt:     cfg.Stats.Counter(p + stats.UpdateAttempt),
		success:     cfg.Stats.Counter(p + stats.UpdateSuccess),
		rejected:    cfg.Stats.Counter(p + stats.UpdateRejected),
		failure:     cfg.Stats.Counter(p + stats.UpdateFailure),
		consecutive: cfg.Stats.Gauge(p + stats.ConsecutiveFailures),
		updateTime:  cfg.Stats.Gauge(p + stats.UpdateTime),
	}
}

// State returns how the source is doing.
func (r *Reloader) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Name returns the configured name.
func (r *Reloader) Name() string { return r.cfg.Name }

// Current returns the material in use; nil before the first successful
// load.
func (r *Reloader) Current() *Material { return r.current.Load() }

// Subscribe registers fn to run after every successful swap (not for the
// first load). fn runs on the reloading goroutine and must not block. The
// returned cancel removes fn; a user that goes away must call it, or fn
// (and whatever it holds) lives as long as the Reloader.
func (r *Reloader) Subscribe(fn func(old, cur *Material)) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subSeq++
	id := r.subSeq
	r.subs[id] = fn
	return func() { r.mu.Lock(); delete(r.subs, id); r.mu.Unlock() }
}

// OnRejected registers fn to run whenever changed material is refused
// while older material stays in use. fn must not block. The returned
// cancel removes fn.
func (r *Reloader) OnRejected(fn func(err error)) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subSeq++
	id := r.subSeq
	r.rejSubs[id] = fn
	return func() { r.mu.Lock(); delete(r.rejSubs, id); r.mu.Unlock() }
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
			if cur := r.current.Load(); cur != nil && version == r.curVersion(cur) {
				r.markHealthy()
				return ErrUnchanged
			}
			if version == r.lastTried {
				// The version that last failed: still failing, not
				// worth loading again until it changes.
				return ErrUnchanged
			}
		} else {
			version = ""
		}
	}
	r.attempt.Inc()
	r.state.LastAttempt = r.cfg.Clock.Now()
	m, err := r.cfg.Source.Load(ctx)
	if err == nil {
		err = r.cfg.Policy.Validate(m)
	}
	if err != nil {
		r.lastTried = version
		r.failure.Inc()
		r.state.ConsecutiveFailures++
		r.consecutive.Set(int64(r.state.ConsecutiveFailures))
		r.state.LastError = err.Error()
		r.state.Status = StatusFailing
		if r.current.Load() != nil {
			r.state.Status = StatusStale
			r.rejected.Inc()
			r.cfg.Logger.Warn("certificate reload refused; keeping the material in use", "source", r.cfg.Name, "error", err)
			for _, fn := range r.rejSubs {
				fn(err)
			}
		} else {
			r.cfg.Logger.Warn("certificate source has no usable material yet; retrying", "source", r.cfg.Name, "error", err)
		}
		return err
	}
	r.markHealthy()
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

// markHealthy records a check that reached the source and found usable
// (or unchanged) material. Callers hold r.mu.
func (r *Reloader) markHealthy() {
	if r.state.ConsecutiveFailures > 0 {
		r.cfg.Logger.Info("certificate source recovered", "source", r.cfg.Name, "failures", r.state.ConsecutiveFailures)
	}
	r.state.Status, r.state.LastError, r.state.ConsecutiveFailures = StatusOK, "", 0
	r.state.LastSuccess = r.cfg.Clock.Now()
	r.consecutive.Set(0)
	r.updateTime.Set(r.state.LastSuccess.Unix())
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

// Start watches the source until ctx ends, without blocking: the first
// check runs at once when no material is loaded yet, else after
// PollInterval. The watch never gives up: a failing source is retried
// with backoff (RetryBackoff doubling up to MaxBackoff) and reports its
// state through State and the sds.<name>.* stats. A second Start is a
// no-op.
func (r *Reloader) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	var first error
	if r.current.Load() == nil {
		first = errNotLoaded
	}
	go r.watch(ctx, first)
}

// errNotLoaded makes the watch loop check at once.
var errNotLoaded = errors.New("certsource: not loaded")

// wait returns how long the watch loop sleeps after a check that ended
// in last: the poll interval after success, backoff after failure; a
// negative result means "until triggered".
func (r *Reloader) wait(last error) time.Duration {
	if last == errNotLoaded {
		return 0
	}
	if last == nil || errors.Is(last, ErrUnchanged) {
		return r.cfg.PollInterval
	}
	r.mu.Lock()
	n, stale := r.state.ConsecutiveFailures, r.state.Status == StatusStale
	r.mu.Unlock()
	d := r.cfg.RetryBackoff
	for i := 1; i < n && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	if r.cfg.PollInterval > 0 && stale {
		// Material is serving: polling as usual is enough, backoff only
		// slows a source that keeps failing below the poll rate.
		d = max(d, r.cfg.PollInterval)
	}
	return d
}

func (r *Reloader) watch(ctx context.Context, last error) {
	for {
		var tick <-chan time.Time
		var timer clock.Timer
		switch d := r.wait(last); {
		case d == 0:
			closed := make(chan time.Time)
			close(closed)
			tick = closed
		case d > 0:
			timer = r.cfg.Clock.NewTimer(d)
			tick = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-tick:
		case <-r.trigger:
		}
		if timer != nil {
			timer.Stop() // a Trigger came first: this wait is over
		}
		last = r.Reload(ctx) // outcome already logged and counted
	}
}
