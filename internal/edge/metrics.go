package edge

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names are API (dashboards and alerts depend on them); they are
// all here and covered by a golden test.
const (
	MetricRequests        = "bulwark_edge_requests_total"
	MetricFieldsProtected = "bulwark_edge_fields_protected_total"
	MetricErrors          = "bulwark_edge_errors_total"
	MetricAddedLatency    = "bulwark_edge_added_latency_seconds"
)

// PassThroughRule labels requests that matched no rule.
const PassThroughRule = "_passthrough"

// KindOriginUnavailable counts requests the origin could not answer; the
// other error kinds are fle.ErrorKind values.
const KindOriginUnavailable = "origin_unavailable"

// KindMisdirected counts requests refused with 421 because their host
// matches none of the rules' hosts.
const KindMisdirected = "misdirected_request"

type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec   // rule, status
	protected *prometheus.CounterVec   // rule
	errors    *prometheus.CounterVec   // kind
	latency   *prometheus.HistogramVec // rule
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRequests,
			Help: "Requests handled, by rule (" + PassThroughRule + " when none matched) and response status."}, []string{"rule", "status"}),
		protected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFieldsProtected,
			Help: "Values replaced by tokens, by rule."}, []string{"rule"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricErrors,
			Help: "Requests refused or failed, by kind (fle error kinds, origin_unavailable)."}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricAddedLatency,
			Help:    "Time the edge adds before forwarding a matched request: reading the body and protecting it.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"rule"}),
	}
	reg.MustRegister(m.requests, m.protected, m.errors, m.latency)
	return m
}

// adminHandler serves /stats (Envoy-style text), /metrics (Prometheus)
// and /healthz.
func (m *metrics) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = m.writeStats(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// writeStats renders the registry as Envoy-style "name: value" lines,
// sorted: edge.<metric>.<label values joined by '.'>; histograms give
// .count, .sum and .p50/.p99 (bucket upper bounds, in seconds).
func (m *metrics) writeStats(w io.Writer) error {
	mfs, err := m.reg.Gather()
	if err != nil {
		return err
	}
	var lines []string
	for _, mf := range mfs {
		name := strings.TrimPrefix(mf.GetName(), "bulwark_")
		name = strings.TrimSuffix(strings.TrimSuffix(name, "_total"), "_seconds")
		name = strings.Replace(name, "_", ".", 1) // edge_requests → edge.requests
		for _, mm := range mf.GetMetric() {
			stat := name
			for _, lp := range mm.GetLabel() {
				stat += "." + lp.GetValue()
			}
			switch {
			case mm.Counter != nil:
				lines = append(lines, fmt.Sprintf("%s: %d", stat, uint64(mm.Counter.GetValue())))
			case mm.Histogram != nil:
				h := mm.Histogram
				lines = append(lines, fmt.Sprintf("%s.count: %d", stat, h.GetSampleCount()),
					fmt.Sprintf("%s.sum: %g", stat, h.GetSampleSum()))
				for _, q := range []struct {
					name string
					q    float64
				}{{"p50", .5}, {"p99", .99}} {
					// The upper bound of the bucket holding the quantile.
					v, rank := 0.0, uint64(math.Ceil(q.q*float64(h.GetSampleCount())))
					if rank > 0 {
						v = math.Inf(1)
						for _, b := range h.GetBucket() {
							if b.GetCumulativeCount() >= rank {
								v = b.GetUpperBound()
								break
							}
						}
					}
					lines = append(lines, fmt.Sprintf("%s.%s: %g", stat, q.name, v))
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}
