package renewer

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Guards are the names of the guard rails that can defer a renewal the
// renewal rule asked for (label "guard" of MetricGuardTrips, Result.Guard).
const (
	// GuardPerCertificate: the certificate was renewed (by this renewer)
	// less than one renewal window ago, or issued (by anyone) less than
	// MinRenewalInterval ago. A correct rule never trips it; it stops a
	// loop when the certificate's dates mislead the rule (a CA about to
	// expire capping every new certificate at its own NotAfter, a clock
	// gone wrong).
	GuardPerCertificate = "per_certificate"
	// GuardRateLimit: more than MaxRenewalsPerMinute renewals across all
	// certificates.
	GuardRateLimit = "rate_limit"
)

// Metric names are API (dashboards and alerts depend on them); they are
// all here and covered by a golden test.
const (
	MetricRenewals   = "bulwark_renewer_renewals_total"
	MetricExports    = "bulwark_renewer_exports_total"
	MetricFailures   = "bulwark_renewer_failures_total"
	MetricGuardTrips = "bulwark_renewer_guard_trips_total"
)

// ErrRateLimited is returned (wrapped) by Handle when the global rate
// limit deferred a due renewal: the caller should retry later (a delivery
// is answered 503, which EventBridge retries; Run reconciles again within
// a minute).
var ErrRateLimited = errors.New("renewer: renewal rate limit reached; renewal deferred")

type metrics struct {
	reg       *prometheus.Registry
	renewals  prometheus.Counter
	exports   prometheus.Counter
	failures  prometheus.Counter
	guardTrip *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricRenewals,
			Help: "Certificates renewed (RenewCertificate confirmed by a new serial)."}),
		exports: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricExports,
			Help: "Exports that wrote new secret versions (one per certificate and prefix)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricFailures,
			Help: "Certificates not brought up to date (renewal or export failed)."}),
		guardTrip: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricGuardTrips,
			Help: "Renewals the rule asked for that a guard rail deferred, by guard (per_certificate, rate_limit)."}, []string{"guard"}),
	}
	// Both guards appear at 0 from the start, so an alert on their rate
	// needs no absent() clause.
	m.guardTrip.WithLabelValues(GuardPerCertificate)
	m.guardTrip.WithLabelValues(GuardRateLimit)
	m.reg.MustRegister(m.renewals, m.exports, m.failures, m.guardTrip)
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// guard holds the guard rails' state: when this renewer last renewed each
// certificate, and the global token bucket. It is in memory: after a
// restart the per-certificate rail falls back to the certificate's
// IssuedAt (ACM's state), and the bucket starts full.
type guard struct {
	mu          sync.Mutex
	minInterval time.Duration
	last        map[string]renewalMark
	// Token bucket: capacity perMinute, refilled at perMinute a minute.
	perMinute int
	tokens    float64
	filled    time.Time
}

type renewalMark struct {
	at  time.Time
	gap time.Duration // no second renewal before at+gap
}

func newGuard(perMinute int, minInterval time.Duration, now time.Time) *guard {
	return &guard{minInterval: minInterval, last: map[string]renewalMark{}, perMinute: perMinute,
		tokens: float64(perMinute), filled: now}
}

// admit decides whether a renewal of arn (current certificate v) may go
// ahead at now, and takes a rate-limit token when it may. It returns the
// guard that refused, or "".
func (g *guard) admit(arn string, now time.Time, v Validity) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m, ok := g.last[arn]; ok && now.Before(m.at.Add(m.gap)) {
		return GuardPerCertificate
	}
	if !v.IssuedAt.IsZero() && now.Sub(v.IssuedAt) < g.minInterval {
		return GuardPerCertificate
	}
	if el := now.Sub(g.filled); el > 0 {
		g.tokens = min(float64(g.perMinute), g.tokens+el.Minutes()*float64(g.perMinute))
		g.filled = now
	}
	if g.tokens < 1 {
		return GuardRateLimit
	}
	g.tokens--
	return ""
}

// renewed records a renewal of arn at now that produced fresh: the next
// one is refused for one renewal window of fresh (at least minInterval).
func (g *guard) renewed(arn string, now time.Time, fresh Validity, renewBefore time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last[arn] = renewalMark{at: now, gap: max(RenewalWindow(fresh, renewBefore), g.minInterval)}
}
