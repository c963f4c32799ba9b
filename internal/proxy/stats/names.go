package stats

import (
	"crypto/tls"
	"net"
	"regexp"
	"strconv"
)

// Every stat name the proxy emits is built here. Changing one is an API
// change: update testdata/names.golden and docs/proxy.md together.

// Per-listener and per-cluster stat suffixes.
const (
	DownstreamCxTotal   = "downstream_cx_total"
	DownstreamCxActive  = "downstream_cx_active"
	DownstreamCxDestroy = "downstream_cx_destroy"
	DownstreamRqTotal   = "downstream_rq_total"

	UpstreamCxTotal       = "upstream_cx_total"
	UpstreamCxActive      = "upstream_cx_active"
	UpstreamCxConnectFail = "upstream_cx_connect_fail"
	UpstreamRqTotal       = "upstream_rq_total"

	// Traffic protections (Envoy's names).
	UpstreamRqTimeout         = "upstream_rq_timeout"          // per-request timeout hit (504)
	UpstreamRqPerTryTimeout   = "upstream_rq_per_try_timeout"  // perRetryTimeout hit
	UpstreamRqRetry           = "upstream_rq_retry"            // retries sent
	UpstreamRqRetrySuccess    = "upstream_rq_retry_success"    // retried requests that then succeeded
	UpstreamRqRetryOverflow   = "upstream_rq_retry_overflow"   // retriable failures not retried (body too large to replay)
	UpstreamRqPendingOverflow = "upstream_rq_pending_overflow" // refused by the connection pool limit (503)
	UpstreamCxOverflow        = "upstream_cx_overflow"         // TCP streams refused by the pool limit
	UpstreamCxNoneHealthy     = "upstream_cx_none_healthy"     // refused: endpoint ejected or unhealthy (503)
	OutlierEjectionsTotal     = "outlier_detection.ejections_enforced_total"
	OutlierEjectionsActive    = "outlier_detection.ejections_active" // gauge
	HealthCheckAttempt        = "health_check.attempt"
	HealthCheckSuccess        = "health_check.success"
	HealthCheckFailure        = "health_check.failure"
	HealthCheckHealthy        = "membership_healthy" // gauge: 1 healthy, 0 not

	// SSLContextUpdateBySDS counts certificate/trust swaps that reached a
	// listener or cluster, whatever the source (Envoy's name for it).
	SSLContextUpdateBySDS = "ssl_context_update_by_sds"
	// SSLContextUpdateFailed counts changes refused by validation (Bulwark;
	// Envoy has no equivalent).
	SSLContextUpdateFailed = "ssl_context_update_failed"
)

// The xDS stream's state (`bulwark proxy --xds`), under Envoy's
// control_plane. prefix.
const (
	// ControlPlaneConnected is 1 while the ADS stream is up, 0 otherwise
	// (Envoy's control_plane.connected_state).
	ControlPlaneConnected = "control_plane.connected_state"
	// XDSUpdateSuccess counts configuration versions applied; XDSUpdateRejected
	// those refused (NACKed); XDSStreamReconnect streams lost and re-opened.
	XDSUpdateSuccess   = "control_plane.xds.update_success"
	XDSUpdateRejected  = "control_plane.xds.update_rejected"
	XDSStreamReconnect = "control_plane.xds.stream_reconnect"
	// XDSUpdateTime is the unix time of the last applied version.
	XDSUpdateTime = "control_plane.xds.update_time"
)

// ListenerPrefix returns "listener.<ip>_<port>." for a listen address, as
// Envoy names listeners: "0.0.0.0:15000" gives "listener.0.0.0.0_15000.".
func ListenerPrefix(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "listener." + Sanitize(addr) + "."
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return "listener." + host + "_" + port + "."
}

// ClusterPrefix returns "cluster.<name>.".
func ClusterPrefix(name string) string { return "cluster." + Sanitize(name) + "." }

// SocketFactoryPrefix is where reload counters live under a listener
// ("server_ssl_socket_factory.") or a cluster ("client_ssl_socket_factory.").
func SocketFactoryPrefix(server bool) string {
	if server {
		return "server_ssl_socket_factory."
	}
	return "client_ssl_socket_factory."
}

// UpstreamRqCode returns "upstream_rq_<code>" and its class
// "upstream_rq_<n>xx".
func UpstreamRqCode(code int) (exact, class string) {
	return "upstream_rq_" + strconv.Itoa(code), "upstream_rq_" + strconv.Itoa(code/100) + "xx"
}

// CertificateExpiry names the gauge holding a certificate's NotAfter as
// unix seconds.
func CertificateExpiry(certName string) string {
	return "ssl.certificate." + Sanitize(certName) + ".expiration_unix_time_seconds"
}

// SourcePrefix returns "sds.<name>." for a certificate source's reload
// stats: update_attempt, update_success, update_rejected.
func SourcePrefix(name string) string { return "sds." + Sanitize(name) + "." }

// Source reload stat suffixes (Envoy's SDS subscription names).
const (
	UpdateAttempt  = "update_attempt"
	UpdateSuccess  = "update_success"
	UpdateRejected = "update_rejected"
	// UpdateFailure counts every check that could not produce usable
	// material (unreachable source or refused material, with or without
	// older material in use).
	UpdateFailure = "update_failure"
	// ConsecutiveFailures is a gauge: failed checks since the last good
	// one (0 when healthy). Alert on it staying above zero.
	ConsecutiveFailures = "consecutive_failures"
	// UpdateTime is a gauge: unix seconds of the last check that reached
	// the source and found usable or unchanged material.
	UpdateTime = "update_time"
)

// Sanitize makes a name safe as one stat-name element: anything but
// letters, digits, '_' and '-' becomes '_'.
func Sanitize(s string) string {
	// A byte loop, not a regexp: names are built on the request path.
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)), s[:i]...)
		}
		b = append(b, '_')
	}
	if b == nil {
		return s
	}
	return string(b)
}

// SSL is the ssl.* stat group of one listener or cluster. It exists only
// once TLS is configured there, as in Envoy.
type SSL struct {
	store  *Store
	prefix string // e.g. "listener.0.0.0.0_15000.ssl."

	// Handshake counts completed handshakes (full or resumed).
	Handshake *Counter
	// NoCertificate counts completed handshakes where the peer sent no
	// certificate.
	NoCertificate *Counter
	// ConnectionError counts failed handshakes other than certificate
	// verification failures.
	ConnectionError *Counter
	// FailVerifyNoCert counts handshakes refused because a required peer
	// certificate was missing.
	FailVerifyNoCert *Counter
	// FailVerifyError counts handshakes refused because the peer chain did
	// not verify (unknown CA, expired, revoked).
	FailVerifyError *Counter
	// FailVerifySAN counts handshakes refused because no peer SAN matched.
	FailVerifySAN *Counter
	// SessionReused counts handshakes that resumed a session.
	SessionReused *Counter
}

// NewSSL registers the ssl.* stats under owner ("listener.X." or
// "cluster.Y.").
func NewSSL(s *Store, owner string) *SSL {
	p := owner + "ssl."
	return &SSL{
		store: s, prefix: p,
		Handshake:        s.Counter(p + "handshake"),
		NoCertificate:    s.Counter(p + "no_certificate"),
		ConnectionError:  s.Counter(p + "connection_error"),
		FailVerifyNoCert: s.Counter(p + "fail_verify_no_cert"),
		FailVerifyError:  s.Counter(p + "fail_verify_error"),
		FailVerifySAN:    s.Counter(p + "fail_verify_san"),
		SessionReused:    s.Counter(p + "session_reused"),
	}
}

// Observe records a completed handshake: the handshake itself, whether the
// peer sent a certificate, resumption, and the negotiated version, cipher
// and curve under Envoy's (OpenSSL's) names.
func (x *SSL) Observe(cs tls.ConnectionState) {
	x.Handshake.Inc()
	if len(cs.PeerCertificates) == 0 {
		x.NoCertificate.Inc()
	}
	if cs.DidResume {
		x.SessionReused.Inc()
	}
	x.store.Counter(x.prefix + "versions." + VersionName(cs.Version)).Inc()
	x.store.Counter(x.prefix + "ciphers." + CipherName(cs.CipherSuite)).Inc()
	if cs.CurveID != 0 {
		x.store.Counter(x.prefix + "curves." + CurveName(cs.CurveID)).Inc()
	}
}

// VersionName returns Envoy's name for a TLS version ("TLSv1.3").
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

var opensslCiphers = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:                        "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:                        "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256:                  "TLS_CHACHA20_POLY1305_SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
}

// CipherName returns OpenSSL's name for a suite, as Envoy reports it.
func CipherName(id uint16) string {
	if n, ok := opensslCiphers[id]; ok {
		return n
	}
	return Sanitize(tls.CipherSuiteName(id))
}

// CurveName returns Envoy's name for a key-exchange group ("X25519",
// "P-256").
func CurveName(id tls.CurveID) string {
	switch id {
	case tls.X25519:
		return "X25519"
	case tls.CurveP256:
		return "P-256"
	case tls.CurveP384:
		return "P-384"
	case tls.CurveP521:
		return "P-521"
	case tls.X25519MLKEM768:
		return "X25519MLKEM768"
	}
	return Sanitize(id.String())
}

var (
	promListener = regexp.MustCompile(`^listener\.(.+?_\d+)\.(.+)$`)
	promCluster  = regexp.MustCompile(`^cluster\.([^.]+)\.(.+)$`)
	promCert     = regexp.MustCompile(`^ssl\.certificate\.([^.]+)\.(.+)$`)
	promSource   = regexp.MustCompile(`^sds\.([^.]+)\.(.+)$`)
	promUnsafe   = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

// PrometheusName maps a stat name to Envoy's Prometheus metric name and
// label set, e.g. "listener.0.0.0.0_15000.ssl.handshake" to
// `envoy_listener_ssl_handshake{envoy_listener_address="0.0.0.0_15000"}`.
func PrometheusName(name string) (metric, labels string) {
	for _, r := range []struct {
		re          *regexp.Regexp
		kind, label string
	}{
		{promListener, "listener", "envoy_listener_address"},
		{promCluster, "cluster", "envoy_cluster_name"},
		{promCert, "ssl_certificate", "envoy_certificate_name"},
		{promSource, "sds", "envoy_sds_name"},
	} {
		if m := r.re.FindStringSubmatch(name); m != nil {
			return "envoy_" + r.kind + "_" + promUnsafe.ReplaceAllString(m[2], "_"),
				"{" + r.label + "=" + strconv.Quote(m[1]) + "}"
		}
	}
	return "envoy_" + promUnsafe.ReplaceAllString(name, "_"), ""
}
