package renewer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/clock"
)

// ACMAPI is the part of the ACM client the renewer uses
// (*acm.Client satisfies it).
type ACMAPI interface {
	certsync.ACMAPI
	RenewCertificate(context.Context, *acm.RenewCertificateInput, ...func(*acm.Options)) (*acm.RenewCertificateOutput, error)
}

// Binding ties a certificate to the secret prefixes it is exported into;
// with no prefixes the renewer only renews it (for consumers that read the
// certificate from ACM directly, such as a proxy's acm source).
type Binding struct {
	CertificateARN string   `yaml:"certificateArn" json:"certificateArn"`
	SecretPrefixes []string `yaml:"secretPrefixes" json:"secretPrefixes"`
}

// Defaults.
const (
	DefaultRenewBefore       = 45 * 24 * time.Hour
	DefaultReconcileInterval = time.Hour
	DefaultConcurrency       = 8
	// DefaultMaxRenewalsPerMinute bounds renewals across all certificates:
	// enough for a mesh of thousands of certificates whose windows are
	// days long, far below a loop's thousands a minute.
	DefaultMaxRenewalsPerMinute = 60
	// DefaultMinRenewalInterval is the least time between two renewals of
	// one certificate, whatever its dates say (half the shortest validity
	// the bulwark:validity tag accepts, one minute).
	DefaultMinRenewalInterval = 30 * time.Second
	defaultPollInitial        = 100 * time.Millisecond
	defaultPollMax            = 5 * time.Second
	defaultPollTimeout        = 5 * time.Minute
)

// Config configures a Renewer.
type Config struct {
	// ACM and Secrets are the SDK clients (required). The renewer's
	// principal needs no secretsmanager:GetSecretValue (docs/lifecycle.md).
	ACM     ACMAPI
	Secrets certsync.SecretsWriter
	// Bindings list the certificates this renewer owns. Events for other
	// certificates are acknowledged and ignored.
	Bindings []Binding
	// KMSKeyID encrypts secrets the export creates; empty means
	// aws/secretsmanager.
	KMSKeyID string
	// RenewBefore is the renewal window; zero means 45 days (ACM's
	// DaysBeforeExpiry default, so the first Approaching Expiration event
	// renews). Certificates shorter-lived than twice it use half their
	// lifetime (from IssuedAt, see Validity.Lifetime) instead.
	RenewBefore time.Duration
	// MaxRenewalsPerMinute is the global rate limit (a token bucket of that
	// size refilled every minute); zero means 60. Renewals over it are
	// deferred (ErrRateLimited) and counted in MetricGuardTrips.
	MaxRenewalsPerMinute int
	// MinRenewalInterval is the least time between two renewals of one
	// certificate; zero means 30 s. The per-certificate guard also waits a
	// renewal window of the new certificate after each renewal.
	MinRenewalInterval time.Duration
	// ReconcileInterval is the period of Run's reconciliation; zero means
	// one hour.
	ReconcileInterval time.Duration
	// Concurrency bounds certificates handled at once by Reconcile; zero
	// means 8.
	Concurrency int
	// Auth is required of every delivery (see Auth). The zero value
	// refuses every request, so New fails.
	Auth Auth
	// Clock tells the time renewal decisions use and makes the timers of
	// Run and of the wait for a renewed serial; nil means the real clock.
	Clock clock.Clock
	// Logger gets what the renewer did; nil discards.
	Logger *slog.Logger
	// PollInitial, PollMax and PollTimeout shape the backoff while waiting
	// for a renewal's new serial; zero means 100ms, 5s and 5m.
	PollInitial, PollMax, PollTimeout time.Duration
}

// Renewer renews and exports bound certificates.
type Renewer struct {
	cfg      Config
	log      *slog.Logger
	bindings map[string][]string
	arns     []string

	lockMu sync.Mutex
	locks  map[string]*sync.Mutex

	guard   *guard
	metrics *metrics

	mu     sync.Mutex
	status map[string]*CertStatus
	counts EventCounts
	seen   *idSet
	lastRc time.Time
}

// New validates cfg and returns a Renewer.
func New(cfg Config) (*Renewer, error) {
	if cfg.ACM == nil || cfg.Secrets == nil {
		return nil, errors.New("renewer: ACM and Secrets clients are required")
	}
	if err := cfg.Auth.validate(); err != nil {
		return nil, err
	}
	if cfg.RenewBefore <= 0 {
		cfg.RenewBefore = DefaultRenewBefore
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = DefaultReconcileInterval
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.MaxRenewalsPerMinute <= 0 {
		cfg.MaxRenewalsPerMinute = DefaultMaxRenewalsPerMinute
	}
	if cfg.MinRenewalInterval <= 0 {
		cfg.MinRenewalInterval = DefaultMinRenewalInterval
	}
	if cfg.PollInitial <= 0 {
		cfg.PollInitial = defaultPollInitial
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = defaultPollMax
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = defaultPollTimeout
	}
	r := &Renewer{cfg: cfg, log: cfg.Logger, bindings: map[string][]string{}, locks: map[string]*sync.Mutex{},
		status: map[string]*CertStatus{}, seen: newIDSet(4096), metrics: newMetrics(),
		guard: newGuard(cfg.MaxRenewalsPerMinute, cfg.MinRenewalInterval, cfg.Clock.Now())}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, b := range cfg.Bindings {
		// A binding without prefixes is renew-only: for a certificate its
		// consumers take straight from ACM (a proxy's acm source).
		if b.CertificateARN == "" {
			return nil, fmt.Errorf("renewer: a binding needs a certificate ARN (secret prefixes %v)", b.SecretPrefixes)
		}
		if _, ok := r.bindings[b.CertificateARN]; !ok {
			r.arns = append(r.arns, b.CertificateARN)
		}
		r.bindings[b.CertificateARN] = appendNew(r.bindings[b.CertificateARN], b.SecretPrefixes...)
	}
	sort.Strings(r.arns)
	for _, arn := range r.arns {
		r.status[arn] = &CertStatus{CertificateARN: arn, SecretPrefixes: r.bindings[arn]}
	}
	return r, nil
}

// Validity is what the renewal rule reads of a certificate, as
// DescribeCertificate reports it.
type Validity struct {
	// IssuedAt is when the certificate was issued (ACM's IssuedAt); zero
	// when unknown (an imported certificate), and NotBefore is used.
	IssuedAt  time.Time
	NotBefore time.Time
	NotAfter  time.Time
}

// Lifetime is the validity the certificate was issued with: NotAfter −
// IssuedAt. NotBefore is not the start: the CA back-dates it (an hour, as
// AWS Private CA does) against clock skew, which would make a 3-minute
// certificate look 63 minutes long and always half-expired. NotBefore is
// used only when IssuedAt is unknown or earlier than it (a certificate
// issued to start in the future). Zero when NotAfter is not after the start.
func (v Validity) Lifetime() time.Duration {
	start := v.IssuedAt
	if start.IsZero() || start.Before(v.NotBefore) {
		start = v.NotBefore
	}
	return max(v.NotAfter.Sub(start), 0)
}

// RenewalWindow is how long before NotAfter the certificate is due:
// min(renewBefore, lifetime/2). Half the lifetime keeps the renewer ahead
// of ACM's own managed renewal of short-lived certificates (a third of the
// lifetime left), so the two do not race.
func RenewalWindow(v Validity, renewBefore time.Duration) time.Duration {
	return min(renewBefore, v.Lifetime()/2)
}

// NeedsRenewal is the renewal rule, a pure function of the clock and the
// certificate: renew once NotAfter − now ≤ RenewalWindow. A certificate
// issued now is never due (its window is at most half its lifetime), and
// right after a renewal the new certificate is outside its window, which
// is what makes one renewal per cycle.
func NeedsRenewal(now time.Time, v Validity, renewBefore time.Duration) bool {
	return !now.Before(v.NotAfter.Add(-RenewalWindow(v, renewBefore)))
}

// Action is what handling a certificate did.
type Action string

// Actions.
const (
	ActionNone     Action = "none"     // in date and every prefix current
	ActionExported Action = "exported" // not renewed, but a prefix was stale
	ActionRenewed  Action = "renewed"  // renewed (and exported)
	ActionDeferred Action = "deferred" // due, but a guard rail deferred the renewal (Result.Guard)
	ActionFailed   Action = "failed"
)

// Result reports the handling of one certificate.
type Result struct {
	CertificateARN string    `json:"certificateArn"`
	Trigger        string    `json:"trigger"`
	Action         Action    `json:"action"`
	OldSerial      string    `json:"oldSerial,omitempty"`
	Serial         string    `json:"serial,omitempty"`
	NotAfter       time.Time `json:"notAfter,omitzero"`
	Exported       []string  `json:"exportedPrefixes,omitempty"`
	Guard          string    `json:"guard,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// Bound reports whether arn is bound to this renewer.
func (r *Renewer) Bound(arn string) bool { _, ok := r.bindings[arn]; return ok }

// Handle brings one bound certificate up to date: renew if it is inside
// its window (and the guard rails allow), then export to every bound
// prefix that is stale. trigger is recorded in the status ("event:<id>",
// "reconcile"). Calls for the same certificate run one at a time.
func (r *Renewer) Handle(ctx context.Context, arn, trigger string) (*Result, error) {
	return r.handle(ctx, arn, trigger, true)
}

// handle is Handle; with mayRenew false it only exports. That is what an
// "ACM Certificate Available" event gets: it announces a certificate that
// was just issued — often by this renewer's own RenewCertificate — so it
// is never a reason to renew again, only to export.
func (r *Renewer) handle(ctx context.Context, arn, trigger string, mayRenew bool) (*Result, error) {
	prefixes, ok := r.bindings[arn]
	if !ok {
		return nil, fmt.Errorf("renewer: certificate %s is not bound", arn)
	}
	l := r.lockFor(arn)
	l.Lock()
	defer l.Unlock()
	res := &Result{CertificateARN: arn, Trigger: trigger, Action: ActionNone}
	err := r.handleLocked(ctx, arn, prefixes, mayRenew, res)
	switch {
	case err != nil && res.Action != ActionDeferred:
		res.Action, res.Error = ActionFailed, err.Error()
		r.metrics.failures.Inc()
		r.log.Error("renewer: certificate not brought up to date", "certificate", arn, "trigger", trigger, "err", err)
	case err != nil:
		res.Error = err.Error()
	default:
		r.log.Info("renewer: certificate handled", "certificate", arn, "trigger", trigger, "action", res.Action,
			"old_serial", res.OldSerial, "serial", res.Serial, "exported", res.Exported)
	}
	r.record(res)
	return res, err
}

func (r *Renewer) handleLocked(ctx context.Context, arn string, prefixes []string, mayRenew bool, res *Result) error {
	desc, err := r.describe(ctx, arn)
	if err != nil {
		return err
	}
	res.Serial, res.NotAfter = desc.serial, desc.validity.NotAfter
	var deferred error
	if now := r.cfg.Clock.Now(); mayRenew && NeedsRenewal(now, desc.validity, r.cfg.RenewBefore) {
		if g := r.guard.admit(arn, now, desc.validity); g != "" {
			res.Action, res.Guard = ActionDeferred, g
			r.metrics.guardTrip.WithLabelValues(g).Inc()
			r.log.Warn("renewer: renewal guard tripped, renewal deferred", "certificate", arn, "guard", g, "trigger", res.Trigger,
				"serial", desc.serial, "issued_at", desc.validity.IssuedAt, "not_after", desc.validity.NotAfter)
			if g == GuardRateLimit {
				deferred = ErrRateLimited
			}
		} else {
			if _, err := r.cfg.ACM.RenewCertificate(ctx, &acm.RenewCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
				return fmt.Errorf("renew: %w", err)
			}
			fresh, err := r.awaitNewSerial(ctx, arn, desc.serial)
			if err != nil {
				return err
			}
			r.guard.renewed(arn, r.cfg.Clock.Now(), fresh.validity, r.cfg.RenewBefore)
			r.metrics.renewals.Inc()
			res.Action, res.OldSerial, res.Serial, res.NotAfter = ActionRenewed, desc.serial, fresh.serial, fresh.validity.NotAfter
		}
	}
	var errs []error
	for _, p := range prefixes {
		out, err := certsync.Export(ctx, r.cfg.ACM, r.cfg.Secrets, certsync.ExportInput{CertificateARN: arn, SecretPrefix: p, KMSKeyID: r.cfg.KMSKeyID})
		if err != nil {
			errs = append(errs, fmt.Errorf("export to %s: %w", p, err))
			continue
		}
		if out.Written {
			r.metrics.exports.Inc()
			res.Exported = append(res.Exported, p)
			if res.Action == ActionNone {
				res.Action = ActionExported
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		if res.Action == ActionDeferred {
			res.Action = ActionFailed
		}
		return err
	}
	return deferred
}

type certInfo struct {
	serial   string
	validity Validity
}

func (r *Renewer) describe(ctx context.Context, arn string) (*certInfo, error) {
	out, err := r.cfg.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	d := out.Certificate
	if d == nil || d.Serial == nil || d.NotAfter == nil || d.NotBefore == nil {
		return nil, errors.New("describe: certificate has no serial or validity yet")
	}
	v := Validity{NotBefore: *d.NotBefore, NotAfter: *d.NotAfter}
	if d.IssuedAt != nil {
		v.IssuedAt = *d.IssuedAt
	}
	return &certInfo{serial: aws.ToString(d.Serial), validity: v}, nil
}

// awaitNewSerial polls DescribeCertificate with exponential backoff until
// the serial differs from old: renewal is asynchronous on AWS, and acting
// on the old serial would export the certificate being replaced.
func (r *Renewer) awaitNewSerial(ctx context.Context, arn, old string) (*certInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PollTimeout)
	defer cancel()
	wait := r.cfg.PollInitial
	for {
		d, err := r.describe(ctx, arn)
		if err == nil && d.serial != old {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("renewal of %s: no new serial after %s (last error: %v)", arn, r.cfg.PollTimeout, err)
		case <-r.cfg.Clock.After(wait):
		}
		wait = min(wait*2, r.cfg.PollMax)
	}
}

// Reconcile handles every bound certificate (at most Concurrency at once),
// catching up on events that never arrived.
func (r *Renewer) Reconcile(ctx context.Context) ([]*Result, error) {
	results := make([]*Result, len(r.arns))
	errs := make([]error, len(r.arns))
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, arn := range r.arns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = r.Handle(ctx, arn, "reconcile")
		}()
	}
	wg.Wait()
	r.mu.Lock()
	r.lastRc = r.cfg.Clock.Now()
	r.mu.Unlock()
	return results, errors.Join(errs...)
}

// Run reconciles at once and then every ReconcileInterval (of Clock)
// until ctx ends, and returns ctx's error. A pass the rate limit cut short
// is followed by another within a minute, when the bucket has refilled.
func (r *Renewer) Run(ctx context.Context) error {
	// The loop wakes at least every minute and reconciles when due, so
	// the shorter retry after a rate-limited pass needs no second timer.
	var due time.Time
	clock.Every(ctx, r.cfg.Clock, min(r.cfg.ReconcileInterval, time.Minute), func(ctx context.Context) {
		now := r.cfg.Clock.Now()
		if now.Before(due) {
			return
		}
		next := r.cfg.ReconcileInterval
		if _, err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrRateLimited) {
				next = min(next, time.Minute)
			}
			r.log.Warn("renewer: reconciliation incomplete; retried next interval", "err", err, "next", next)
		}
		due = now.Add(next)
	})
	return ctx.Err()
}

func (r *Renewer) lockFor(arn string) *sync.Mutex {
	r.lockMu.Lock()
	defer r.lockMu.Unlock()
	l, ok := r.locks[arn]
	if !ok {
		l = &sync.Mutex{}
		r.locks[arn] = l
	}
	return l
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, x := range list {
			dup = dup || x == it
		}
		if !dup {
			list = append(list, it)
		}
	}
	return list
}
