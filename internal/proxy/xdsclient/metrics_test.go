package xdsclient

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	promgo "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

const activeGauge = "listener.0.0.0.0_15000.downstream_cx_active"

// sink records what StreamMetrics receives.
type sink struct {
	metricsv3.UnimplementedMetricsServiceServer
	mu   sync.Mutex
	msgs []*metricsv3.StreamMetricsMessage
}

func (s *sink) StreamMetrics(ss metricsv3.MetricsService_StreamMetricsServer) error {
	for {
		m, err := ss.Recv()
		if errors.Is(err, io.EOF) {
			return ss.SendAndClose(&metricsv3.StreamMetricsResponse{})
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
	}
}

func (s *sink) received() []*metricsv3.StreamMetricsMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*metricsv3.StreamMetricsMessage(nil), s.msgs...)
}

func serveGRPC(t *testing.T, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); g.Stop() })
	return conn
}

func statsClient(t *testing.T, st *stats.Store) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Target: "x:1", Node: Node{ID: "mesh/m/virtualNode/n"}, Apply: func(*Config) error { return nil },
		Stats: st, StatsFlushInterval: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReportStatsAsEnvoysMetricsSink(t *testing.T) {
	t.Parallel()
	s := &sink{}
	conn := serveGRPC(t, func(g *grpc.Server) { metricsv3.RegisterMetricsServiceServer(g, s) })
	st := stats.NewStore()
	st.Counter("listener.0.0.0.0_15000.ssl.handshake").Add(3)
	st.Gauge(activeGauge).Set(1)
	c := statsClient(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.reportStats(ctx, conn, &corev3.Node{Id: "mesh/m/virtualNode/n"}) }()
	testwait.For(t, 10*time.Second, "two flushes", func() bool { return len(s.received()) >= 2 })
	cancel()
	<-done
	msgs := s.received()
	if msgs[0].GetIdentifier().GetNode().GetId() != "mesh/m/virtualNode/n" || msgs[1].GetIdentifier() != nil {
		t.Fatalf("the node must be in the first message only: %v / %v", msgs[0].GetIdentifier(), msgs[1].GetIdentifier())
	}
	types := map[string]promgo.MetricType{}
	values := map[string]float64{}
	for _, f := range msgs[0].GetEnvoyMetrics() {
		types[f.GetName()] = f.GetType()
		m := f.GetMetric()[0]
		values[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	if types["listener.0.0.0.0_15000.ssl.handshake"] != promgo.MetricType_COUNTER || values["listener.0.0.0.0_15000.ssl.handshake"] != 3 {
		t.Errorf("handshake counter: %v %v", types["listener.0.0.0.0_15000.ssl.handshake"], values["listener.0.0.0.0_15000.ssl.handshake"])
	}
	if types[activeGauge] != promgo.MetricType_GAUGE || values[activeGauge] != 1 {
		t.Errorf("connected gauge: %v %v", types[activeGauge], values[activeGauge])
	}
}

// A server without the metrics service is not asked again on the
// connection: reportStats returns by itself.
func TestReportStatsStopsWithoutMetricsService(t *testing.T) {
	t.Parallel()
	conn := serveGRPC(t, func(*grpc.Server) {})
	c := statsClient(t, stats.NewStore())
	done := make(chan struct{})
	go func() { defer close(done); c.reportStats(context.Background(), conn, &corev3.Node{Id: "n"}) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reportStats kept going against a server without the metrics service")
	}
}
