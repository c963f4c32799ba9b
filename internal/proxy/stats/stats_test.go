package stats

import (
	"bytes"
	"crypto/tls"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestNamesGolden pins every stat name the proxy emits: they are an API.
func TestNamesGolden(t *testing.T) {
	s := NewStore()
	l := ListenerPrefix("0.0.0.0:15000")
	c := ClusterPrefix("cds_egress_color-mesh_colorteller_http_9080")
	for _, owner := range []string{l, c} {
		NewSSL(s, owner).Observe(tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, CurveID: tls.X25519})
	}
	NewSSL(s, l).Observe(tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CurveID: tls.CurveP256})
	for _, n := range []string{DownstreamCxTotal, DownstreamCxDestroy, DownstreamRqTotal, SocketFactoryPrefix(true) + SSLContextUpdateBySDS, SocketFactoryPrefix(true) + SSLContextUpdateFailed} {
		s.Counter(l + n)
	}
	s.Gauge(l + DownstreamCxActive)
	exact, class := UpstreamRqCode(200)
	for _, n := range []string{UpstreamCxTotal, UpstreamCxConnectFail, UpstreamRqTotal, exact, class, SocketFactoryPrefix(false) + SSLContextUpdateBySDS, SocketFactoryPrefix(false) + SSLContextUpdateFailed} {
		s.Counter(c + n)
	}
	s.Gauge(c + UpstreamCxActive)
	for _, n := range []string{UpstreamRqTimeout, UpstreamRqPerTryTimeout, UpstreamRqRetry, UpstreamRqRetrySuccess, UpstreamRqRetryOverflow,
		UpstreamRqPendingOverflow, UpstreamCxOverflow, UpstreamCxNoneHealthy, OutlierEjectionsTotal, HealthCheckAttempt, HealthCheckSuccess, HealthCheckFailure} {
		s.Counter(c + n)
	}
	s.Gauge(c + OutlierEjectionsActive)
	s.Gauge(c + HealthCheckHealthy)
	s.Gauge(CertificateExpiry("file:/certs/server.pem"))
	for _, n := range []string{UpdateAttempt, UpdateSuccess, UpdateRejected, UpdateFailure} {
		s.Counter(SourcePrefix("file:/certs/server.pem") + n)
	}
	for _, n := range []string{ConsecutiveFailures, UpdateTime} {
		s.Gauge(SourcePrefix("file:/certs/server.pem") + n)
	}
	for _, n := range []string{XDSUpdateSuccess, XDSUpdateRejected, XDSStreamReconnect} {
		s.Counter(n)
	}
	s.Gauge(ControlPlaneConnected)
	s.Gauge(XDSUpdateTime)
	var text, prom bytes.Buffer
	_ = s.WriteText(&text, Query{})
	_ = s.WritePrometheus(&prom, Query{})
	got := text.String() + "----\n" + prom.String()
	golden := "testdata/names.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("stat names changed (run with -update if intended, and update docs/proxy.md):\n%s", got)
	}
}

func TestQuery(t *testing.T) {
	s := NewStore()
	s.Counter("listener.0.0.0.0_15000.ssl.handshake").Inc()
	s.Counter("listener.0.0.0.0_15000.ssl.no_certificate")
	s.Gauge("listener.0.0.0.0_15000.downstream_cx_active").Set(0)
	for _, tc := range []struct {
		name string
		q    Query
		want string
	}{
		{"all", Query{}, "listener.0.0.0.0_15000.downstream_cx_active: 0\nlistener.0.0.0.0_15000.ssl.handshake: 1\nlistener.0.0.0.0_15000.ssl.no_certificate: 0\n"},
		{"usedonly", Query{UsedOnly: true}, "listener.0.0.0.0_15000.downstream_cx_active: 0\nlistener.0.0.0.0_15000.ssl.handshake: 1\n"},
		{"filter", Query{Filter: regexp.MustCompile(`ssl\.no_`)}, "listener.0.0.0.0_15000.ssl.no_certificate: 0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			_ = s.WriteText(&b, tc.q)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
	var j bytes.Buffer
	_ = s.WriteJSON(&j, Query{Filter: regexp.MustCompile("handshake")})
	if strings.TrimSpace(j.String()) != `{"stats":[{"name":"listener.0.0.0.0_15000.ssl.handshake","value":1}]}` {
		t.Errorf("json = %s", j.String())
	}
}
