package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	promgo "github.com/prometheus/client_model/go"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/mesh/xds"
)

// consoleNACK is the error the console's test data plane refuses its
// clusters with; the Mesh view must show it.
const consoleNACK = "cluster cds_egress_console_teller: unknown transport socket"

// consoleHandshakes is the handshake count the test data plane reports.
const consoleHandshakes = 3

// connectProxy opens a signed aggregated discovery stream to the dev
// server's xDS listener as virtual node name of mesh "console", as Envoy
// would: it acknowledges the listeners and refuses the clusters with
// consoleNACK, and reports consoleHandshakes TLS handshakes on its stats
// stream. The stream stays open until the test ends. It returns the
// acknowledged listener version.
func connectProxy(t *testing.T, p *proc, xdsAddr, name string) string {
	t.Helper()
	nodeARN := "arn:aws:appmesh:us-east-1:" + accountOf(t, p) + ":mesh/console/virtualNode/" + name
	creds := credentials.NewStaticCredentialsProvider(devKeyID, devSecret, "")
	conn, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: creds, Region: "us-east-1", AllowInsecure: true}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(typeURL string) *discoveryv3.DiscoveryResponse {
		t.Helper()
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeARN}, TypeUrl: typeURL}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil || r.TypeUrl != typeURL {
			t.Fatalf("xDS %s: %s %v", typeURL, r.GetTypeUrl(), err)
		}
		return r
	}
	l := ask(resourcev3.ListenerType)
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, VersionInfo: l.VersionInfo, ResponseNonce: l.Nonce}); err != nil {
		t.Fatal(err)
	}
	c := ask(resourcev3.ClusterType)
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: c.Nonce,
		ErrorDetail: &statuspb.Status{Code: 3, Message: consoleNACK}}); err != nil {
		t.Fatal(err)
	}
	// Its stats sink reports the listener's TLS counters on the same
	// connection, as Envoy's metrics_service sink does.
	ms, err := metricsv3.NewMetricsServiceClient(conn).StreamMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counter := func(name string, v float64) *promgo.MetricFamily {
		return &promgo.MetricFamily{Name: proto.String(name), Type: promgo.MetricType_COUNTER.Enum(), Metric: []*promgo.Metric{{Counter: &promgo.Counter{Value: proto.Float64(v)}}}}
	}
	if err := ms.Send(&metricsv3.StreamMetricsMessage{Identifier: &metricsv3.StreamMetricsMessage_Identifier{Node: &corev3.Node{Id: nodeARN}},
		EnvoyMetrics: []*promgo.MetricFamily{counter("listener.0.0.0.0_15000.ssl.handshake", consoleHandshakes), counter("listener.0.0.0.0_15000.ssl.no_certificate", 1)}}); err != nil {
		t.Fatal(err)
	}
	return l.VersionInfo
}

// seedRules makes an event rule with two URL targets: one that accepts
// (an endpoint of this test) and one nothing listens on, and publishes an
// event to it.
func seedRules(t *testing.T, cfg aws.Config) {
	t.Helper()
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	ctx := ctxT(t)
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("console-orders"), EventPattern: aws.String(`{"source":["console.test"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("console-orders"), Targets: []ebtypes.Target{
		{Id: aws.String("accepting"), Arn: aws.String(ok.URL)}, {Id: aws.String("down"), Arn: aws.String(down)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Source: aws.String("console.test"), DetailType: aws.String("order"), Detail: aws.String(`{"n":1}`)}}}); err != nil {
		t.Fatal(err)
	}
}
