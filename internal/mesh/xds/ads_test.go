package xds

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bulwarkd/bulwark/internal/testwait"
)

const (
	testRegion  = "us-east-1"
	testAccount = "111122223333"
	tellerARN   = "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller"
	tellerCert  = "arn:aws:acm:us-east-1:111122223333:certificate/colorteller"
)

type fixture struct {
	mesh  *memMesh
	certs *memCerts
	authz *allowList
	srv   *Server
	reg   *prometheus.Registry
	ads   discoveryv3.AggregatedDiscoveryServiceClient
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with another Authorizer (nil: f.authz).
func newFixtureWith(t *testing.T, a Authorizer) *fixture {
	t.Helper()
	f := &fixture{mesh: newMemMesh(), certs: newMemCerts(t), authz: &allowList{allowed: map[string]bool{tellerARN: true}}, reg: prometheus.NewRegistry()}
	if a == nil {
		a = f.authz
	}
	f.certs.issue(t, tellerCert, "colorteller.mesh.local")
	f.setPort(t, 9080)
	srv, err := New(Config{Mesh: f.mesh, Certificates: f.certs, Authorizer: a, Region: testRegion, AccountID: testAccount, Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.ads = discoveryv3.NewAggregatedDiscoveryServiceClient(startXDS(t, srv))
	return f
}

// setPort rewrites the ColorTeller's listener port: a relevant change.
func (f *fixture) setPort(t testing.TB, port int) {
	s := colorTellerSnapshot(t, "one-way")
	s.VirtualNode.Spec.Listeners[0].PortMapping.Port = port
	f.mesh.put("color-mesh", KindVirtualNode, "colorteller", s)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func tellerNode() *corev3.Node { return &corev3.Node{Id: tellerARN, Cluster: tellerARN} }

// validateAll checks that every resource a response carries passes its
// generated validation.
func validateAll(t *testing.T, rs []*anypb.Any) {
	t.Helper()
	for _, a := range rs {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		v, ok := m.(interface{ ValidateAll() error })
		if !ok {
			t.Fatalf("%T has no ValidateAll", m)
		}
		if err := v.ValidateAll(); err != nil {
			t.Fatalf("sent an invalid %T: %v", m, err)
		}
	}
}

func clusterNames(t *testing.T, rs []*anypb.Any) []string {
	var out []string
	for _, a := range rs {
		c := &clusterv3.Cluster{}
		if err := a.UnmarshalTo(c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Name)
	}
	return out
}

func TestADSStateOfTheWorld(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testCtx(t)
	st, err := f.ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: typ}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]*discoveryv3.DiscoveryResponse{}
	for len(got) < 2 {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		validateAll(t, r.Resources)
		got[r.TypeUrl] = r
		// ACK, as Envoy does.
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
	}
	if names := clusterNames(t, got[resourcev3.ClusterType].Resources); len(names) != 1 || names[0] != "cds_ingress_color-mesh_colorteller_http_9080" {
		t.Fatalf("clusters %v", names)
	}
	if len(got[resourcev3.ListenerType].Resources) != 1 {
		t.Fatalf("listeners: %d", len(got[resourcev3.ListenerType].Resources))
	}
	// The secret the listener names is delivered on the stream.
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: []string{tellerCert}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	validateAll(t, r.Resources)
	sec := &tlsv3.Secret{}
	if err := r.Resources[0].UnmarshalTo(sec); err != nil {
		t.Fatal(err)
	}
	if sec.Name != tellerCert || !bytes.Contains(sec.GetTlsCertificate().GetPrivateKey().GetInlineBytes(), []byte("PRIVATE KEY")) {
		t.Fatalf("secret %q lacks the key pair", sec.Name)
	}
	// A relevant change is pushed without any request from the client.
	f.setPort(t, 9081)
	var push *discoveryv3.DiscoveryResponse
	for push == nil {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.TypeUrl == resourcev3.ClusterType {
			push = r
		}
	}
	if names := clusterNames(t, push.Resources); names[0] != "cds_ingress_color-mesh_colorteller_http_9081" {
		t.Fatalf("pushed clusters %v", names)
	}
	if push.VersionInfo == got[resourcev3.ClusterType].VersionInfo {
		t.Fatal("a changed configuration kept its version")
	}
}

func TestADSNackKeepsLastAndIsCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testCtx(t)
	st, err := f.ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r1.VersionInfo, ResponseNonce: r1.Nonce}); err != nil {
		t.Fatal(err)
	}
	f.setPort(t, 9081)
	r2, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// NACK r2: the previous version and Envoy's error detail.
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r1.VersionInfo, ResponseNonce: r2.Nonce,
		ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: "Proto constraint validation failed: bad cluster"}}); err != nil {
		t.Fatal(err)
	}
	// Once the server has seen the NACK, the refused version is not sent
	// again: the next response is the next change. A resend would arrive
	// here first.
	testwait.For(t, 0, "the condition", func() bool { s := f.srv.Status(); return len(s) == 1 && s[0].LastNACK != nil })
	f.setPort(t, 9082)
	r3, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r3.VersionInfo == r2.VersionInfo || clusterNames(t, r3.Resources)[0] != "cds_ingress_color-mesh_colorteller_http_9082" {
		t.Fatalf("after a NACK the server sent version %s (%v), want the next change", r3.VersionInfo, clusterNames(t, r3.Resources))
	}
	if n := testutil.ToFloat64(f.srv.metrics.nacks.WithLabelValues("Cluster")); n != 1 {
		t.Fatalf("%s = %v, want 1", MetricNACKs, n)
	}
	stat := f.srv.Status()
	if len(stat) != 1 || stat[0].LastNACK == nil || stat[0].LastNACK.Version != r2.VersionInfo || !strings.Contains(stat[0].LastNACK.Message, "bad cluster") {
		t.Fatalf("status %+v", stat)
	}
	if stat[0].Acked[resourcev3.ClusterType] != r1.VersionInfo {
		t.Fatalf("acked %v, want %s", stat[0].Acked, r1.VersionInfo)
	}
}

func TestADSReconnectGetsFullConfiguration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var version string
	for i := range 2 {
		ctx, cancel := context.WithCancel(testCtx(t))
		st, err := f.ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := &discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}
		if i == 1 {
			// Envoy reconnects announcing what it has; the server answers
			// with the full state of the world anyway only if it differs,
			// so announce nothing as a fresh Envoy does.
			req.VersionInfo = ""
		}
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Resources) != 1 {
			t.Fatalf("stream %d: %d clusters", i, len(r.Resources))
		}
		if i == 1 && r.VersionInfo != version {
			t.Fatalf("same configuration, new version %s != %s", r.VersionInfo, version)
		}
		version = r.VersionInfo
		cancel()
	}
}

func TestADSDelta(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testCtx(t)
	st, err := f.ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType, ResourceNamesSubscribe: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Resources) != 1 || r1.Resources[0].Name != "cds_ingress_color-mesh_colorteller_http_9080" {
		t.Fatalf("delta resources %v", r1.Resources)
	}
	for _, r := range r1.Resources {
		validateAll(t, []*anypb.Any{r.Resource})
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: r1.Nonce}); err != nil {
		t.Fatal(err)
	}
	f.setPort(t, 9081)
	r2, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Resources) != 1 || r2.Resources[0].Name != "cds_ingress_color-mesh_colorteller_http_9081" || len(r2.RemovedResources) != 1 {
		t.Fatalf("delta push: resources %v removed %v", r2.Resources, r2.RemovedResources)
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: r2.Nonce,
		ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: "refused"}}); err != nil {
		t.Fatal(err)
	}
	// The NACK is recorded before the next request is read; a following
	// change is still delivered.
	f.setPort(t, 9082)
	r3, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Resources) != 1 || r3.Resources[0].Name != "cds_ingress_color-mesh_colorteller_http_9082" {
		t.Fatalf("delta push after NACK: %v", r3.Resources)
	}
	if n := testutil.ToFloat64(f.srv.metrics.nacks.WithLabelValues("Cluster")); n != 1 {
		t.Fatalf("NACKs counted %v", n)
	}
}

func TestADSRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		first  *corev3.Node
		second *corev3.Node
		code   codes.Code
	}{
		{"unauthorized node", &corev3.Node{Id: "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorgateway"}, nil, codes.PermissionDenied},
		{"legacy id of an unauthorized node", &corev3.Node{Id: "mesh/color-mesh/virtualNode/other"}, nil, codes.PermissionDenied},
		{"no node", nil, nil, codes.InvalidArgument},
		{"not an ARN", &corev3.Node{Id: "colorteller"}, nil, codes.InvalidArgument},
		{"another account", &corev3.Node{Id: "arn:aws:appmesh:us-east-1:999999999999:mesh/color-mesh/virtualNode/colorteller"}, nil, codes.InvalidArgument},
		{"another service", &corev3.Node{Id: "arn:aws:acm:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller"}, nil, codes.InvalidArgument},
		{"switch node after authorization", tellerNode(), &corev3.Node{Id: "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorgateway"}, codes.PermissionDenied},
	}
	f := newFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			for _, delta := range []bool{false, true} {
				var recv func() error
				if delta {
					st, err := f.ads.DeltaAggregatedResources(ctx)
					if err != nil {
						t.Fatal(err)
					}
					_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: tc.first, TypeUrl: resourcev3.ClusterType})
					if tc.second != nil {
						if _, err := st.Recv(); err != nil {
							t.Fatal(err)
						}
						_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: tc.second, TypeUrl: resourcev3.ListenerType})
					}
					recv = func() error { _, err := st.Recv(); return err }
				} else {
					st, err := f.ads.StreamAggregatedResources(ctx)
					if err != nil {
						t.Fatal(err)
					}
					_ = st.Send(&discoveryv3.DiscoveryRequest{Node: tc.first, TypeUrl: resourcev3.ClusterType})
					if tc.second != nil {
						if _, err := st.Recv(); err != nil {
							t.Fatal(err)
						}
						_ = st.Send(&discoveryv3.DiscoveryRequest{Node: tc.second, TypeUrl: resourcev3.ListenerType})
					}
					recv = func() error { _, err := st.Recv(); return err }
				}
				err := recv()
				if status.Code(err) != tc.code {
					t.Fatalf("delta=%v: got %v, want %v", delta, err, tc.code)
				}
			}
		})
	}
}

func TestSDSPushesRenewal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testCtx(t)
	st, err := f.ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.SecretType, ResourceNames: []string{tellerCert}}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: []string{tellerCert}, VersionInfo: first.VersionInfo, ResponseNonce: first.Nonce}); err != nil {
		t.Fatal(err)
	}
	certOf := func(r *discoveryv3.DiscoveryResponse) []byte {
		sec := &tlsv3.Secret{}
		if err := r.Resources[0].UnmarshalTo(sec); err != nil {
			t.Fatal(err)
		}
		return sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes()
	}
	f.certs.issue(t, tellerCert, "colorteller.mesh.local") // a renewal
	second, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(certOf(first), certOf(second)) {
		t.Fatal("the renewal pushed the old certificate")
	}
	validateAll(t, second.Resources)
}

func TestParseNodeID(t *testing.T) {
	t.Parallel()
	good := map[string]NodeRef{
		tellerARN: {ARN: tellerARN, Mesh: "color-mesh", Kind: KindVirtualNode, Name: "colorteller"},
		"mesh/color-mesh/virtualNode/colorteller":     {ARN: tellerARN, Mesh: "color-mesh", Kind: KindVirtualNode, Name: "colorteller"},
		"mesh/color-mesh/virtualGateway/colorgateway": {ARN: "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualGateway/colorgateway", Mesh: "color-mesh", Kind: KindVirtualGateway, Name: "colorgateway"},
	}
	for id, want := range good {
		got, err := ParseNodeID(id, testRegion, testAccount)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v", id, got, err)
		}
	}
	for _, id := range []string{"", "mesh/m/virtualNode", "mesh//virtualNode/x", "mesh/m/virtualRouter/x", "mesh/m/virtualNode/x/extra",
		"arn:aws:appmesh:eu-west-1:111122223333:mesh/m/virtualNode/x", "arn:aws-cn:appmesh:us-east-1:111122223333:mesh/m/virtualNode/x",
		"arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualNode/a:b", strings.Repeat("x", 2000)} {
		if _, err := ParseNodeID(id, testRegion, testAccount); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func FuzzParseNodeID(f *testing.F) {
	for _, s := range []string{tellerARN, "mesh/m/virtualNode/n", "arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualGateway/g", "", "arn:::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		ref, err := ParseNodeID(id, testRegion, testAccount)
		if err != nil {
			return
		}
		// What is accepted round-trips through its canonical ARN.
		again, err := ParseNodeID(ref.ARN, testRegion, testAccount)
		if err != nil || again != ref {
			t.Fatalf("%q → %+v does not round-trip: %+v %v", id, ref, again, err)
		}
		if !strings.HasPrefix(ref.ARN, "arn:aws:appmesh:us-east-1:111122223333:mesh/") {
			t.Fatalf("ARN outside the account: %s", ref.ARN)
		}
	})
}

// TestADSReconnectAfterChange: Envoy reconnecting announces the version it
// holds; a configuration changed while it was away is sent at once, and
// its ACK is recorded on the new stream.
func TestADSReconnectAfterChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	st, err := f.ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// The node's last stream is gone (its entry with it); the change
	// happens while no stream is open.
	testwait.For(t, 0, "the node to be forgotten", func() bool { return len(f.srv.Status()) == 0 })
	f.setPort(t, 9081)
	st2, err := f.ads.StreamAggregatedResources(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType, VersionInfo: r1.VersionInfo}); err != nil {
		t.Fatal(err)
	}
	r2, err := st2.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r2.VersionInfo == r1.VersionInfo || clusterNames(t, r2.Resources)[0] != "cds_ingress_color-mesh_colorteller_http_9081" {
		t.Fatalf("after reconnecting with version %s: got %s %v", r1.VersionInfo, r2.VersionInfo, clusterNames(t, r2.Resources))
	}
	if err := st2.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r2.VersionInfo, ResponseNonce: r2.Nonce}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 0, "the ACK on the new stream", func() bool {
		s := f.srv.Status()
		return len(s) == 1 && s[0].Acked[resourcev3.ClusterType] == r2.VersionInfo
	})
}
