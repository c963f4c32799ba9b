package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	promgo "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// TestXDSMetricsStreamAuthorizedLikeADS: a data plane's stats sink stream
// is signed, authorized and audited exactly as its ADS stream: refused
// without a signature or without appmesh:StreamAggregatedResources on the
// node it names; allowed, its TLS counters are kept and the stream is
// audited once however many reports it sends.
func TestXDSMetricsStreamAuthorizedLikeADS(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	gatewayARN := fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/color-mesh/virtualGateway/colorgateway", servertest.Region, servertest.AccountID)
	allowed := e.user(t, "teller", streamPolicy(e.nodeARN))
	gateway := e.user(t, "gateway", streamPolicy(gatewayARN))
	metrics := func(creds aws.CredentialsProvider) metricsv3.MetricsServiceClient {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if creds != nil {
			opts = append(opts, grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: creds, Region: servertest.Region, AllowInsecure: true, Clock: e.srv.Clock}))
		}
		conn, err := grpc.NewClient(e.addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return metricsv3.NewMetricsServiceClient(conn)
	}
	report := func(handshakes float64) *metricsv3.StreamMetricsMessage {
		return &metricsv3.StreamMetricsMessage{EnvoyMetrics: []*promgo.MetricFamily{{Name: proto.String("listener.0.0.0.0_15000.ssl.handshake"),
			Type: promgo.MetricType_COUNTER.Enum(), Metric: []*promgo.Metric{{Counter: &promgo.Counter{Value: proto.Float64(handshakes)}}}}}}
	}
	first := func(node string) *metricsv3.StreamMetricsMessage {
		m := report(1)
		m.Identifier = &metricsv3.StreamMetricsMessage_Identifier{Node: &corev3.Node{Id: node}}
		return m
	}
	for _, tc := range []struct {
		name  string
		creds aws.CredentialsProvider
		code  codes.Code
	}{
		{"unsigned", nil, codes.Unauthenticated},
		{"permission for another resource", gateway, codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, err := metrics(tc.creds).StreamMetrics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Send(first(e.nodeARN))
			if _, err := st.CloseAndRecv(); status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
	if c := e.srv.XDS().Counters(); len(c) != 0 {
		t.Fatalf("refused streams left counters: %+v", c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := metrics(allowed).StreamMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(first(e.nodeARN)); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		if err := st.Send(report(float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 10*time.Second, "the last report kept", func() bool {
		c := e.srv.XDS().Counters()
		return len(c) == 1 && c[0].ARN == e.nodeARN && c[0].Listeners["0.0.0.0_15000"].Handshake == 4
	})
	if _, err := st.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if n := metricsStreamEvents(t, e.srv, ""); n != 1 {
		t.Errorf("%d allowed StreamMetrics audit events, want 1 for the stream", n)
	}
	if n := metricsStreamEvents(t, e.srv, "AccessDeniedException"); n != 1 {
		t.Errorf("%d refused StreamMetrics audit events, want 1", n)
	}
}

// metricsStreamEvents counts the audit events of stats sink streams with
// an error code ("" for allowed ones).
func metricsStreamEvents(t *testing.T, srv *servertest.Server, errCode string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var ev audit.Event
		if err := jsonUnmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		p, _ := ev.RequestParameters.(map[string]any)
		if ev.EventName == "StreamAggregatedResources" && ev.ErrorCode == errCode && p["stream"] == "StreamMetrics" {
			n++
		}
	}
	return n
}

// TestXDSMetricsStreamEndsWhenRevoked: a stats sink stream is re-authorized
// on IAM changes as the node's ADS streams are: once its principal loses
// appmesh:StreamAggregatedResources on the node, the stream ends
// (PermissionDenied) instead of reporting counters for a resource its
// principal may no longer stream.
func TestXDSMetricsStreamEndsWhenRevoked(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	creds := e.user(t, "teller", streamPolicy(e.nodeARN))
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: creds, Region: servertest.Region, AllowInsecure: true, Clock: e.srv.Clock}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := metricsv3.NewMetricsServiceClient(conn).StreamMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	report := func(handshakes float64) *metricsv3.StreamMetricsMessage {
		return &metricsv3.StreamMetricsMessage{EnvoyMetrics: []*promgo.MetricFamily{{Name: proto.String("listener.0.0.0.0_15000.ssl.handshake"),
			Type: promgo.MetricType_COUNTER.Enum(), Metric: []*promgo.Metric{{Counter: &promgo.Counter{Value: proto.Float64(handshakes)}}}}}}
	}
	m := report(1)
	m.Identifier = &metricsv3.StreamMetricsMessage_Identifier{Node: &corev3.Node{Id: e.nodeARN}}
	if err := st.Send(m); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the first report kept", func() bool {
		c := e.srv.XDS().Counters()
		return len(c) == 1 && c[0].Reporters == 1 && c[0].Listeners["0.0.0.0_15000"].Handshake == 1
	})
	if _, err := e.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("teller"), PolicyName: aws.String("xds")}); err != nil {
		t.Fatal(err)
	}
	// Send fails (io.EOF) once the server has ended the stream; the
	// status then says why.
	testwait.For(t, 10*time.Second, "the revoked stats stream ended", func() bool {
		return st.Send(report(2)) != nil
	})
	if _, err := st.CloseAndRecv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("revoked stats stream ended with %v, want PermissionDenied", err)
	}
	if c := e.srv.XDS().Counters(); len(c) != 1 || c[0].Reporters != 0 {
		t.Fatalf("counters after the revocation: %+v, want the last report kept with no reporter", c)
	}
}
