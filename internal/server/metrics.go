package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names are an API: dashboards and alerts depend on them, so they
// live here, in one place, and a golden test keeps them stable.
const (
	metricRequests      = "bulwark_api_requests_total"
	metricDuration      = "bulwark_api_request_duration_seconds"
	metricErrors        = "bulwark_api_errors_total"
	metricStage         = "bulwark_api_stage_duration_seconds"
	metricAuditFailures = "bulwark_audit_write_failures_total"
	metricIntegrity     = "bulwark_store_integrity_failures_total"
	metricConnsOpen     = "bulwark_connections_open"
	metricConnsShed     = "bulwark_connections_shed_total"
	metricBodiesShed    = "bulwark_requests_shed_total"
	metricUnauthBytes   = "bulwark_unauthenticated_body_bytes"
)

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	stage         *prometheus.HistogramVec
	auditFailures prometheus.Counter
	integrity     *prometheus.CounterVec
	connsOpen     prometheus.Gauge
	connsShed     prometheus.Counter
	bodiesShed    prometheus.Counter
	unauthBytes   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRequests,
			Help: "API requests by service, operation and result code (OK or the AWS error code)."}, []string{"service", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricDuration,
			Help:    "API request latency by service and operation, from first byte to audit written.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"service", "operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricErrors,
			Help: "API errors by service and AWS error code."}, []string{"service", "code"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricStage,
			Help:    "Time spent in each stage of the request path (sigv4, policy, audit).",
			Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .01}}, []string{"stage"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: metricAuditFailures,
			Help: "Audit events that could not be written (each refused call while the log is failing counts); while the log is failing every request is refused."}),
		integrity: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricIntegrity,
			Help: "Stored records refused because their integrity tag is missing or does not verify (altered database), by record kind."}, []string{"kind"}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricConnsOpen,
			Help: "Client connections open on the API listener."}),
		connsShed: prometheus.NewCounter(prometheus.CounterOpts{Name: metricConnsShed,
			Help: "Connections closed to stay within MaxConnections (the oldest without an authenticated request in progress)."}),
		bodiesShed: prometheus.NewCounter(prometheus.CounterOpts{Name: metricBodiesShed,
			Help: "Requests refused with 503 because unauthenticated request bodies already filled MaxUnauthenticatedBodyBytes."}),
		unauthBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricUnauthBytes,
			Help: "Request-body bytes held for requests whose signature is not yet verified, beyond each request's first 4 KiB (the MaxUnauthenticatedBodyBytes budget in use)."}),
	}
	reg.MustRegister(m.requests, m.duration, m.errors, m.stage, m.auditFailures, m.integrity, m.connsOpen, m.connsShed, m.bodiesShed, m.unauthBytes)
	return m
}

func (m *metrics) observe(service, operation, code string, d time.Duration) {
	m.requests.WithLabelValues(service, operation, code).Inc()
	m.duration.WithLabelValues(service, operation).Observe(d.Seconds())
	if code != "OK" {
		m.errors.WithLabelValues(service, code).Inc()
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

func (s *Server) serveHealth(w http.ResponseWriter) {
	writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady reports whether requests will be served: not while shutting
// down, and not while the audit log is failing (requests are refused then).
func (s *Server) serveReady(w http.ResponseWriter) {
	if !s.ready.Load() {
		writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	if err := s.audit.Healthy(); err != nil {
		writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "audit log failing"})
		return
	}
	writeStatus(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
