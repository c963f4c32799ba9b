package xds

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	promgo "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// metricsFixture is a server with a fake clock and a metrics service
// client.
type metricsFixture struct {
	*fixture
	clk     *clock.Fake
	metrics metricsv3.MetricsServiceClient
}

func newMetricsFixture(t *testing.T) *metricsFixture {
	t.Helper()
	f := &fixture{mesh: newMemMesh(), certs: newMemCerts(t), authz: &allowList{allowed: map[string]bool{tellerARN: true}}, reg: prometheus.NewRegistry()}
	f.setPort(t, 9080)
	clk := clock.NewFake(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	srv, err := New(Config{Mesh: f.mesh, Certificates: f.certs, Authorizer: f.authz, Region: testRegion, AccountID: testAccount, Registerer: f.reg, Clock: clk, CountersRetention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	return &metricsFixture{fixture: f, clk: clk, metrics: metricsv3.NewMetricsServiceClient(startXDS(t, srv))}
}

// counter is one Envoy-style counter family, as the metrics service sink
// sends it (full stat name, no labels).
func counter(name string, v float64) *promgo.MetricFamily {
	return &promgo.MetricFamily{Name: proto.String(name), Type: promgo.MetricType_COUNTER.Enum(),
		Metric: []*promgo.Metric{{Counter: &promgo.Counter{Value: proto.Float64(v)}, TimestampMs: proto.Int64(1)}}}
}

func identified(node string, fams ...*promgo.MetricFamily) *metricsv3.StreamMetricsMessage {
	return &metricsv3.StreamMetricsMessage{Identifier: &metricsv3.StreamMetricsMessage_Identifier{Node: &corev3.Node{Id: node, Cluster: node}}, EnvoyMetrics: fams}
}

// waitCounters waits until the node's counters satisfy cond.
func (f *metricsFixture) waitCounters(t *testing.T, what string, cond func(NodeCounters, bool) bool) NodeCounters {
	t.Helper()
	var got NodeCounters
	testwait.For(t, 10*time.Second, what, func() bool {
		for _, c := range f.srv.Counters() {
			if c.ARN == tellerARN {
				got = c
				return cond(c, true)
			}
		}
		got = NodeCounters{}
		return cond(got, false)
	})
	return got
}

func TestStreamMetricsKeepsListenerTLSCounters(t *testing.T) {
	t.Parallel()
	f := newMetricsFixture(t)
	ctx := testCtx(t)
	st, err := f.metrics.StreamMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(identified(tellerARN,
		counter("listener.0.0.0.0_15000.ssl.handshake", 3),
		counter("listener.0.0.0.0_15000.ssl.no_certificate", 1),
		counter("listener.0.0.0.0_15000.ssl.fail_verify_no_cert", 2),
		counter("listener.0.0.0.0_15000.ssl.fail_verify_error", 1),
		counter("listener.0.0.0.0_15000.ssl.fail_verify_san", 1),
		// Not kept: not a listener TLS counter, or not a counter.
		counter("cluster.cds_egress_x.ssl.handshake", 9),
		counter("listener.0.0.0.0_15000.downstream_cx_total", 9),
		counter("listener.0.0.0.0_15000.ssl.ciphers.TLS_AES_128_GCM_SHA256", 9),
		&promgo.MetricFamily{Name: proto.String("listener.0.0.0.0_9901.ssl.handshake"), Type: promgo.MetricType_GAUGE.Enum(),
			Metric: []*promgo.Metric{{Gauge: &promgo.Gauge{Value: proto.Float64(7)}}}},
	)); err != nil {
		t.Fatal(err)
	}
	got := f.waitCounters(t, "the first report", func(c NodeCounters, ok bool) bool { return ok })
	want := map[string]TLSCounters{"0.0.0.0_15000": {Handshake: 3, NoCertificate: 1, VerifyFailed: 4}}
	if fmt.Sprint(got.Listeners) != fmt.Sprint(want) || got.Reporters != 1 || got.Dropped != 0 || !got.UpdatedAt.Equal(f.clk.Now()) {
		t.Fatalf("counters = %+v, want listeners %v from one reporter at %v", got, want, f.clk.Now())
	}
	if n := testutil.ToFloat64(f.srv.metrics.metricsDropped.WithLabelValues("not_kept")); n != 4 {
		t.Errorf("not_kept drops = %v, want 4", n)
	}
	// A later message without identifier updates the values (cumulative,
	// not added), and the labelled form (emit_tags_as_labels) is read too.
	f.clk.Add(10 * time.Second)
	tagged := &promgo.MetricFamily{Name: proto.String("listener.ssl.handshake"), Type: promgo.MetricType_COUNTER.Enum(),
		Metric: []*promgo.Metric{{Label: []*promgo.LabelPair{{Name: proto.String("envoy_listener_address"), Value: proto.String("0.0.0.0_15001")}}, Counter: &promgo.Counter{Value: proto.Float64(5)}}}}
	if err := st.Send(&metricsv3.StreamMetricsMessage{EnvoyMetrics: []*promgo.MetricFamily{counter("listener.0.0.0.0_15000.ssl.handshake", 4), tagged}}); err != nil {
		t.Fatal(err)
	}
	got = f.waitCounters(t, "the second report", func(c NodeCounters, _ bool) bool { return c.Listeners["0.0.0.0_15000"].Handshake == 4 })
	if got.Listeners["0.0.0.0_15001"].Handshake != 5 || !got.UpdatedAt.Equal(f.clk.Now()) {
		t.Fatalf("counters = %+v", got)
	}
	if _, err := st.CloseAndRecv(); err != nil {
		t.Fatalf("closing the stream: %v", err)
	}
	// Kept after the stream closed, then forgotten after the retention.
	got = f.waitCounters(t, "the closed stream's counters to stay", func(c NodeCounters, ok bool) bool { return ok && c.Reporters == 0 })
	if got.Listeners["0.0.0.0_15000"].Handshake != 4 {
		t.Fatalf("after close: %+v", got)
	}
	f.clk.Add(2 * time.Minute)
	if c := f.srv.Counters(); len(c) != 0 {
		t.Fatalf("counters after the retention = %+v, want none", c)
	}
}

func TestStreamMetricsRefusesUnauthorizedNodes(t *testing.T) {
	t.Parallel()
	other := strings.Replace(tellerARN, "colorteller", "colorgateway", 1)
	for _, tc := range []struct {
		name string
		msgs []*metricsv3.StreamMetricsMessage
		code codes.Code
	}{
		{"node not allowed", []*metricsv3.StreamMetricsMessage{identified(other, counter("listener.a_1.ssl.handshake", 1))}, codes.PermissionDenied},
		{"no identifier", []*metricsv3.StreamMetricsMessage{{EnvoyMetrics: []*promgo.MetricFamily{counter("listener.a_1.ssl.handshake", 1)}}}, codes.InvalidArgument},
		{"another account", []*metricsv3.StreamMetricsMessage{identified(strings.Replace(tellerARN, testAccount, "999999999999", 1))}, codes.InvalidArgument},
		{"node switched", []*metricsv3.StreamMetricsMessage{identified(tellerARN), identified(other, counter("listener.a_1.ssl.handshake", 1))}, codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newMetricsFixture(t)
			st, err := f.metrics.StreamMetrics(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.msgs {
				if err := st.Send(m); err != nil {
					break // the server ended the stream; CloseAndRecv says why
				}
			}
			_, err = st.CloseAndRecv()
			if status.Code(err) != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			for _, c := range f.srv.Counters() {
				if len(c.Listeners) > 0 {
					t.Fatalf("a refused stream's counters were kept: %+v", c)
				}
			}
			if tc.code == codes.PermissionDenied && tc.name == "node not allowed" {
				f.authz.mu.Lock()
				seen := len(f.authz.seen)
				path := f.authz.seen[0].Request.URL.Path
				f.authz.mu.Unlock()
				if seen != 1 || path != MetricsMethod {
					t.Fatalf("the authorizer was asked %d times, path %q; want once for %s", seen, path, MetricsMethod)
				}
			}
		})
	}
}

func TestStreamMetricsBounds(t *testing.T) {
	t.Parallel()
	f := newMetricsFixture(t)
	st, err := f.metrics.StreamMetrics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var fams []*promgo.MetricFamily
	for i := range MaxCounterSeries + 10 {
		fams = append(fams, counter(fmt.Sprintf("listener.10.0.%d.%d_80.ssl.handshake", i/256, i%256), 1))
	}
	fams = append(fams, counter("listener."+strings.Repeat("a", maxStatName)+"_80.ssl.handshake", 1))
	if err := st.Send(identified(tellerARN, fams...)); err != nil {
		t.Fatal(err)
	}
	got := f.waitCounters(t, "the report", func(c NodeCounters, ok bool) bool { return ok })
	if len(got.Listeners) != MaxCounterSeries || got.Dropped != 11 {
		t.Fatalf("kept %d listeners, dropped %d; want %d kept and 11 dropped", len(got.Listeners), got.Dropped, MaxCounterSeries)
	}
	// A counter already kept still updates once the bound is reached.
	if err := st.Send(&metricsv3.StreamMetricsMessage{EnvoyMetrics: []*promgo.MetricFamily{counter("listener.10.0.0.0_80.ssl.handshake", 8)}}); err != nil {
		t.Fatal(err)
	}
	f.waitCounters(t, "the update", func(c NodeCounters, _ bool) bool { return c.Listeners["10.0.0.0_80"].Handshake == 8 })
	if n := testutil.ToFloat64(f.srv.metrics.metricsDropped.WithLabelValues("too_many_series")); n != 10 {
		t.Errorf("too_many_series drops = %v, want 10", n)
	}
}

// Two data planes of one virtual node report together: their counters
// add up; one that leaves takes its counters with it.
func TestStreamMetricsSumsReportersOfANode(t *testing.T) {
	t.Parallel()
	f := newMetricsFixture(t)
	ctx := testCtx(t)
	a, err := f.metrics.StreamMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.metrics.StreamMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(identified(tellerARN, counter("listener.0.0.0.0_15000.ssl.handshake", 2))); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(identified(tellerARN, counter("listener.0.0.0.0_15000.ssl.handshake", 3))); err != nil {
		t.Fatal(err)
	}
	f.waitCounters(t, "both reports", func(c NodeCounters, _ bool) bool {
		return c.Reporters == 2 && c.Listeners["0.0.0.0_15000"].Handshake == 5
	})
	if _, err := a.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	f.waitCounters(t, "the remaining reporter", func(c NodeCounters, _ bool) bool {
		return c.Reporters == 1 && c.Listeners["0.0.0.0_15000"].Handshake == 3
	})
}

// FuzzTLSStat: a reported name and labels never panic the parser, and
// whatever it accepts is a known suffix of a valid listener.
func FuzzTLSStat(f *testing.F) {
	f.Add("listener.0.0.0.0_15000.ssl.handshake", "")
	f.Add("listener.ssl.no_certificate", "0.0.0.0_1")
	f.Add("listener..ssl.", "")
	f.Fuzz(func(t *testing.T, name, label string) {
		m := &promgo.Metric{Label: []*promgo.LabelPair{{Name: proto.String("envoy_listener_address"), Value: proto.String(label)}}}
		l, s, ok := tlsStat(name, m)
		if !ok {
			return
		}
		if _, known := tlsCounterNames[s]; !known || !validListener(l) {
			t.Fatalf("accepted %q -> %q %q", name, l, s)
		}
	})
}

// TestStreamMetricsBoundsClosedNodes: the counters kept after their
// streams close are bounded in number, not only by the retention: a
// principal allowed many node ids (a wildcard policy) that opens a stream
// per id, reports and closes would otherwise grow the kept set by a node
// per stream for the whole retention. The oldest closed node goes first.
func TestStreamMetricsBoundsClosedNodes(t *testing.T) {
	t.Parallel()
	f := newMetricsFixture(t)
	f.srv.counters.mu.Lock()
	f.srv.counters.maxClosed = 2
	f.srv.counters.mu.Unlock()
	var arns []string
	for i := range 4 {
		arn := strings.Replace(tellerARN, "colorteller", fmt.Sprintf("node%d", i), 1)
		arns = append(arns, arn)
		f.authz.mu.Lock()
		f.authz.allowed[arn] = true
		f.authz.mu.Unlock()
	}
	for _, arn := range arns {
		st, err := f.metrics.StreamMetrics(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(identified(arn, counter("listener.0.0.0.0_15000.ssl.handshake", 1))); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CloseAndRecv(); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "the closed stream's counters", func() bool {
			for _, c := range f.srv.Counters() {
				if c.ARN == arn && c.Reporters == 0 {
					return true
				}
			}
			return false
		})
		f.clk.Add(time.Second)
	}
	var kept []string
	for _, c := range f.srv.Counters() {
		kept = append(kept, c.ARN)
	}
	if fmt.Sprint(kept) != fmt.Sprint(arns[2:]) {
		t.Fatalf("kept counters of %v, want the last two closed %v", kept, arns[2:])
	}
	if n := testutil.ToFloat64(f.srv.metrics.metricsDropped.WithLabelValues("too_many_nodes")); n != 2 {
		t.Errorf("too_many_nodes drops = %v, want 2", n)
	}
}

// TestStreamMetricsBoundsTotalSeries: the counters kept over every stream
// are bounded (a node may open many streams, each up to
// MaxCounterSeries), and series a forgotten node held are given back.
func TestStreamMetricsBoundsTotalSeries(t *testing.T) {
	t.Parallel()
	f := newMetricsFixture(t)
	f.srv.counters.mu.Lock()
	f.srv.counters.maxSeries = 3
	f.srv.counters.mu.Unlock()
	other := strings.Replace(tellerARN, "colorteller", "other", 1)
	f.authz.mu.Lock()
	f.authz.allowed[other] = true
	f.authz.mu.Unlock()
	listeners := func(arn string) int {
		for _, c := range f.srv.Counters() {
			if c.ARN == arn {
				return len(c.Listeners)
			}
		}
		return 0
	}
	a, err := f.metrics.StreamMetrics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(identified(tellerARN, counter("listener.a_1.ssl.handshake", 1), counter("listener.a_2.ssl.handshake", 1))); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the first node's report", func() bool { return listeners(tellerARN) == 2 })
	b, err := f.metrics.StreamMetrics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Send(identified(other, counter("listener.b_1.ssl.handshake", 1), counter("listener.b_2.ssl.handshake", 1))); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the second node's report", func() bool { return listeners(other) == 1 })
	if n := testutil.ToFloat64(f.srv.metrics.metricsDropped.WithLabelValues("too_many_series")); n != 1 {
		t.Fatalf("too_many_series drops = %v, want 1", n)
	}
	// The first node's stream closes and its counters pass the
	// retention: their series are free again.
	if _, err := a.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the first stream closed", func() bool {
		f.srv.counters.mu.Lock()
		defer f.srv.counters.mu.Unlock()
		nc := f.srv.counters.nodes[tellerARN]
		return nc != nil && len(nc.live) == 0
	})
	f.clk.Add(2 * time.Minute)
	if n := listeners(tellerARN); n != 0 {
		t.Fatalf("the first node's counters outlived the retention")
	}
	if err := b.Send(&metricsv3.StreamMetricsMessage{EnvoyMetrics: []*promgo.MetricFamily{counter("listener.b_2.ssl.handshake", 1)}}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the second node's series kept once others were freed", func() bool { return listeners(other) == 2 })
}
