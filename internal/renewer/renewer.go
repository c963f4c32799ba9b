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
	defaultPollInitial       = 100 * time.Millisecond
	defaultPollMax           = 5 * time.Second
	defaultPollTimeout       = 5 * time.Minute
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
	// lifetime instead.
	RenewBefore time.Duration
	// ReconcileInterval is the period of Run's reconciliation; zero means
	// one hour.
	ReconcileInterval time.Duration
	// Concurrency bounds certificates handled at once by Reconcile; zero
	// means 8.
	Concurrency int
	// Auth is required of every delivery (see Auth). The zero value
	// refuses every request, so New fails.
	Auth Auth
	// Now is the clock (nil means time.Now); renewal decisions use it.
	Now func() time.Time
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
	if cfg.Now == nil {
		cfg.Now = time.Now
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
		status: map[string]*CertStatus{}, seen: newIDSet(4096)}
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

// NeedsRenewal is the renewal rule, a pure function of the clock and the
// certificate: renew once NotAfter − now ≤ min(renewBefore, lifetime/2).
// Right after a renewal the new certificate is outside that window, which
// is what makes one renewal per cycle.
func NeedsRenewal(now, notBefore, notAfter time.Time, renewBefore time.Duration) bool {
	window := renewBefore
	if half := notAfter.Sub(notBefore) / 2; half < window {
		window = half
	}
	return !now.Before(notAfter.Add(-window))
}

// Action is what handling a certificate did.
type Action string

// Actions.
const (
	ActionNone     Action = "none"     // in date and every prefix current
	ActionExported Action = "exported" // not renewed, but a prefix was stale
	ActionRenewed  Action = "renewed"  // renewed (and exported)
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
	Error          string    `json:"error,omitempty"`
}

// Bound reports whether arn is bound to this renewer.
func (r *Renewer) Bound(arn string) bool { _, ok := r.bindings[arn]; return ok }

// Handle brings one bound certificate up to date: renew if it is inside
// its window, then export to every bound prefix that is stale. trigger is
// recorded in the status ("event:<id>", "reconcile"). Calls for the same
// certificate run one at a time.
func (r *Renewer) Handle(ctx context.Context, arn, trigger string) (*Result, error) {
	prefixes, ok := r.bindings[arn]
	if !ok {
		return nil, fmt.Errorf("renewer: certificate %s is not bound", arn)
	}
	l := r.lockFor(arn)
	l.Lock()
	defer l.Unlock()
	res := &Result{CertificateARN: arn, Trigger: trigger, Action: ActionNone}
	err := r.handleLocked(ctx, arn, prefixes, res)
	if err != nil {
		res.Action, res.Error = ActionFailed, err.Error()
		r.log.Error("renewer: certificate not brought up to date", "certificate", arn, "trigger", trigger, "err", err)
	} else {
		r.log.Info("renewer: certificate handled", "certificate", arn, "trigger", trigger, "action", res.Action,
			"old_serial", res.OldSerial, "serial", res.Serial, "exported", res.Exported)
	}
	r.record(res)
	return res, err
}

func (r *Renewer) handleLocked(ctx context.Context, arn string, prefixes []string, res *Result) error {
	desc, err := r.describe(ctx, arn)
	if err != nil {
		return err
	}
	res.Serial, res.NotAfter = desc.serial, desc.notAfter
	if NeedsRenewal(r.cfg.Now(), desc.notBefore, desc.notAfter, r.cfg.RenewBefore) {
		if _, err := r.cfg.ACM.RenewCertificate(ctx, &acm.RenewCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
			return fmt.Errorf("renew: %w", err)
		}
		fresh, err := r.awaitNewSerial(ctx, arn, desc.serial)
		if err != nil {
			return err
		}
		res.Action, res.OldSerial, res.Serial, res.NotAfter = ActionRenewed, desc.serial, fresh.serial, fresh.notAfter
	}
	var errs []error
	for _, p := range prefixes {
		out, err := certsync.Export(ctx, r.cfg.ACM, r.cfg.Secrets, certsync.ExportInput{CertificateARN: arn, SecretPrefix: p, KMSKeyID: r.cfg.KMSKeyID})
		if err != nil {
			errs = append(errs, fmt.Errorf("export to %s: %w", p, err))
			continue
		}
		if out.Written {
			res.Exported = append(res.Exported, p)
			if res.Action == ActionNone {
				res.Action = ActionExported
			}
		}
	}
	return errors.Join(errs...)
}

type certInfo struct {
	serial              string
	notBefore, notAfter time.Time
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
	return &certInfo{serial: aws.ToString(d.Serial), notBefore: *d.NotBefore, notAfter: *d.NotAfter}, nil
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
		case <-time.After(wait):
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
	r.lastRc = r.cfg.Now()
	r.mu.Unlock()
	return results, errors.Join(errs...)
}

// Run reconciles at once and then every ReconcileInterval (real time)
// until ctx ends.
func (r *Renewer) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		if _, err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("renewer: reconciliation incomplete; retried next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
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
