package xds

import "github.com/prometheus/client_golang/prometheus"

// Metric names are an API (docs/xds.md lists them).
const (
	MetricStreams       = "bulwark_xds_streams"
	MetricRefused       = "bulwark_xds_streams_refused_total"
	MetricNACKs         = "bulwark_xds_nacks_total"
	MetricPushes        = "bulwark_xds_responses_total"
	MetricBuildFailures = "bulwark_xds_build_failures_total"
	MetricWithheld      = "bulwark_xds_certificates_withheld_total"
	// The stats sink (MetricsMethod): open streams, messages received,
	// and reported stats not kept, by reason.
	MetricMetricsStreams = "bulwark_xds_metrics_streams"
	MetricMetricsReports = "bulwark_xds_metrics_reports_total"
	MetricMetricsDropped = "bulwark_xds_metrics_dropped_total"
)

type xdsMetrics struct {
	streams       prometheus.Gauge
	refused       *prometheus.CounterVec
	nacks         *prometheus.CounterVec
	pushes        prometheus.Counter
	buildFailures prometheus.Counter
	withheld      *prometheus.CounterVec

	metricStreams  prometheus.Gauge
	metricReports  prometheus.Counter
	metricsDropped *prometheus.CounterVec
}

func newXDSMetrics(reg prometheus.Registerer) *xdsMetrics {
	m := &xdsMetrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricStreams,
			Help: "Authorized xDS streams now open."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRefused,
			Help: "xDS streams refused, by reason (denied, bad_node_id, no_node, node_changed, no_configuration, bad_request, auth_timeout, too_many_streams, too_many_unauthenticated, revoked)."}, []string{"reason"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricNACKs,
			Help: "Configurations a data plane refused (NACK), by resource type."}, []string{"type"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPushes,
			Help: "xDS responses sent."}),
		buildFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricBuildFailures,
			Help: "Snapshot rebuilds that failed (the data plane keeps its last configuration)."}),
		withheld: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricWithheld,
			Help: "ACM certificates left out of a data plane's configuration, by reason (denied: the principal may not acm:ExportCertificate it; unavailable: deleted, revoked or not issued), counted when the decision is new for the node."}, []string{"reason"}),
		metricStreams: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricMetricsStreams,
			Help: "Authorized metrics service (stats sink) streams now open."}),
		metricReports: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricMetricsReports,
			Help: "Metrics service messages received from authorized data planes."}),
		metricsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricMetricsDropped,
			Help: "Reported stats not kept, by reason (not_kept: not a listener TLS counter; name_too_long, too_many_series, too_many_families: over the bounds; too_many_nodes: a closed node's kept counters forgotten early)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.streams, m.refused, m.nacks, m.pushes, m.buildFailures, m.withheld, m.metricStreams, m.metricReports, m.metricsDropped)
	}
	return m
}
