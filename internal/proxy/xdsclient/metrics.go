package xdsclient

import (
	"context"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	promgo "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// DefaultStatsFlushInterval is how often the proxy reports its stats to
// the management server, as `bulwark mesh bootstrap` configures Envoy.
const DefaultStatsFlushInterval = 10 * time.Second

// statsBatch bounds the metric families of one message (the server reads
// at most xds.MaxMetricFamilies of one).
const statsBatch = 5000

// reportStats streams the proxy's stats to the server's metrics service
// on conn (the ADS stream's connection and credentials), every interval
// until ctx ends, as Envoy's envoy.stat_sinks.metrics_service does:
// cumulative counters and gauges under their Envoy names, the node in the
// first message. A server without the service (Unimplemented) is not
// asked again on this connection; any other failure is retried at the
// next interval. Stats are a view: their failure never affects the
// configuration stream.
func (c *Client) reportStats(ctx context.Context, conn grpc.ClientConnInterface, node *corev3.Node) {
	interval := c.cfg.StatsFlushInterval
	t := c.cfg.Clock.NewTicker(interval)
	defer t.Stop()
	client := metricsv3.NewMetricsServiceClient(conn)
	var st metricsv3.MetricsService_StreamMetricsClient
	first := true
	for {
		select {
		case <-ctx.Done():
			if st != nil {
				_ = st.CloseSend()
			}
			return
		case <-t.C():
		}
		if st == nil {
			var err error
			if st, err = client.StreamMetrics(ctx); err != nil {
				c.log.Debug("stats stream not opened; retrying at the next flush", "error", err)
				st = nil
				continue
			}
			first = true
		}
		if err := c.sendStats(st, node, first); err != nil {
			// A client stream's Send reports only io.EOF; the status
			// is in CloseAndRecv.
			_, err = st.CloseAndRecv()
			st = nil
			if status.Code(err) == codes.Unimplemented {
				c.log.Info("the management server takes no stats (no metrics service); not reporting them on this connection")
				return
			}
			c.log.Warn("stats stream ended; reopening at the next flush", "error", err)
			continue
		}
		first = false
	}
}

// sendStats sends one flush, in batches; the node goes in the stream's
// first message only.
func (c *Client) sendStats(st metricsv3.MetricsService_StreamMetricsClient, node *corev3.Node, first bool) error {
	now := c.cfg.Clock.Now().UnixMilli()
	samples := c.cfg.Stats.Snapshot(stats.Query{})
	for len(samples) > 0 || first {
		n := min(len(samples), statsBatch)
		msg := &metricsv3.StreamMetricsMessage{EnvoyMetrics: make([]*promgo.MetricFamily, 0, n)}
		if first {
			msg.Identifier = &metricsv3.StreamMetricsMessage_Identifier{Node: node}
			first = false
		}
		for _, x := range samples[:n] {
			m := &promgo.Metric{TimestampMs: proto.Int64(now)}
			typ := promgo.MetricType_COUNTER
			if x.IsGauge() {
				typ = promgo.MetricType_GAUGE
				m.Gauge = &promgo.Gauge{Value: proto.Float64(float64(x.Value))}
			} else {
				m.Counter = &promgo.Counter{Value: proto.Float64(float64(x.Value))}
			}
			msg.EnvoyMetrics = append(msg.EnvoyMetrics, &promgo.MetricFamily{Name: proto.String(x.Name), Type: typ.Enum(), Metric: []*promgo.Metric{m}})
		}
		samples = samples[n:]
		if err := st.Send(msg); err != nil {
			return err
		}
	}
	return nil
}
