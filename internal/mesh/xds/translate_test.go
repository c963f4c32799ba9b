package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// exampleSpec decodes one of the Color App's App Mesh spec files.
func exampleSpec(t testing.TB, set, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "colorapp", "mesh", set, file))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s/%s: %v", set, file, err)
	}
}

func colorTellerSnapshot(t testing.TB, set string) *spec.Snapshot {
	s := &spec.Snapshot{MeshName: "color-mesh", VirtualNode: &spec.NamedVirtualNode{Name: "colorteller"}}
	exampleSpec(t, set, "colorteller-node.json", &s.VirtualNode.Spec)
	return s
}

func colorGatewaySnapshot(t testing.TB, set string) *spec.Snapshot {
	s := &spec.Snapshot{MeshName: "color-mesh", VirtualGateway: &spec.NamedVirtualGateway{Name: "colorgateway"}}
	exampleSpec(t, set, "colorgateway-gateway.json", &s.VirtualGateway.Spec)
	gr := spec.NamedGatewayRoute{Name: "colorteller-route"}
	exampleSpec(t, set, "colorgateway-route.json", &gr.Spec)
	vs := spec.NamedVirtualService{Name: "colorteller.mesh.local"}
	exampleSpec(t, set, "colorteller-service.json", &vs.Spec)
	node := spec.NamedVirtualNode{Name: "colorteller"}
	exampleSpec(t, set, "colorteller-node.json", &node.Spec)
	s.GatewayRoutes = []spec.NamedGatewayRoute{gr}
	s.VirtualServices = []spec.NamedVirtualService{vs}
	s.VirtualNodes = []spec.NamedVirtualNode{node}
	return s
}

func ptr[T any](v T) *T { return &v }

// routedSnapshot is a front-end node calling a router-provided service
// with weighted targets, retries and timeouts, plus a gRPC route.
func routedSnapshot() *spec.Snapshot {
	sec := func(v int64) *spec.Duration { return &spec.Duration{Unit: "s", Value: &v} }
	ms := func(v int64) *spec.Duration { return &spec.Duration{Unit: "ms", Value: &v} }
	teller := func(name string) spec.NamedVirtualNode {
		return spec.NamedVirtualNode{Name: name, Spec: spec.VirtualNodeSpec{
			Listeners: []spec.Listener{{
				PortMapping:      &spec.PortMapping{Port: 9080, Protocol: "http"},
				OutlierDetection: &spec.OutlierDetection{MaxServerErrors: 5, MaxEjectionPercent: 50, Interval: sec(10), BaseEjectionDuration: sec(30)},
				ConnectionPool:   &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 100, MaxPendingRequests: 10}},
			}},
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: name + ".mesh.local"}},
		}}
	}
	grpcNode := spec.NamedVirtualNode{Name: "colorteller-grpc", Spec: spec.VirtualNodeSpec{
		Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: 9090, Protocol: "grpc"}}},
		ServiceDiscovery: &spec.ServiceDiscovery{AWSCloudMap: &spec.AWSCloudMap{NamespaceName: "mesh.local", ServiceName: "grpc-teller"}},
	}}
	return &spec.Snapshot{
		MeshName: "color-mesh",
		VirtualNode: &spec.NamedVirtualNode{Name: "front", Spec: spec.VirtualNodeSpec{
			Listeners: []spec.Listener{{PortMapping: &spec.PortMapping{Port: 8080, Protocol: "http"}, Timeout: &spec.ListenerTimeout{HTTP: &spec.HTTPTimeout{PerRequest: sec(30), Idle: sec(300)}}}},
			Backends: []spec.Backend{
				{VirtualService: &spec.VirtualServiceBackend{VirtualServiceName: "colorteller.mesh.local"}},
				{VirtualService: &spec.VirtualServiceBackend{VirtualServiceName: "grpc.mesh.local"}},
			},
			Logging: &spec.Logging{AccessLog: &spec.AccessLog{File: &spec.FileAccessLog{Path: "/dev/stdout", Format: &spec.LoggingFormat{JSON: []spec.KeyValue{{Key: "path", Value: "%REQ(:PATH)%"}}}}}},
		}},
		VirtualServices: []spec.NamedVirtualService{
			{Name: "colorteller.mesh.local", Spec: spec.VirtualServiceSpec{Provider: &spec.VirtualServiceProvider{VirtualRouter: &spec.VirtualRouterProvider{VirtualRouterName: "colorteller-router"}}}},
			{Name: "grpc.mesh.local", Spec: spec.VirtualServiceSpec{Provider: &spec.VirtualServiceProvider{VirtualRouter: &spec.VirtualRouterProvider{VirtualRouterName: "grpc-router"}}}},
		},
		VirtualRouters: []spec.NamedVirtualRouter{
			{Name: "colorteller-router", Spec: spec.VirtualRouterSpec{Listeners: []spec.RouterListener{{PortMapping: &spec.PortMapping{Port: 9080, Protocol: "http"}}}}},
			{Name: "grpc-router", Spec: spec.VirtualRouterSpec{Listeners: []spec.RouterListener{{PortMapping: &spec.PortMapping{Port: 9090, Protocol: "grpc"}}}}},
		},
		Routes: []spec.NamedRoute{
			{Name: "canary", VirtualRouterName: "colorteller-router", Spec: spec.RouteSpec{Priority: ptr(1), HTTPRoute: &spec.HTTPRoute{
				Match:  &spec.HTTPRouteMatch{Prefix: ptr("/"), Headers: []spec.HeaderMatchRule{{Name: "x-canary", Match: &spec.HeaderMatch{Exact: "1"}}}},
				Action: &spec.RouteAction{WeightedTargets: []spec.WeightedTarget{{VirtualNode: "colorteller-black", Weight: 1}}},
			}}},
			{Name: "default", VirtualRouterName: "colorteller-router", Spec: spec.RouteSpec{Priority: ptr(10), HTTPRoute: &spec.HTTPRoute{
				Match:       &spec.HTTPRouteMatch{Prefix: ptr("/"), Method: "GET"},
				Action:      &spec.RouteAction{WeightedTargets: []spec.WeightedTarget{{VirtualNode: "colorteller-white", Weight: 3}, {VirtualNode: "colorteller-black", Weight: 1}}},
				RetryPolicy: &spec.HTTPRetryPolicy{MaxRetries: 3, PerRetryTimeout: ms(500), HTTPRetryEvents: []string{"server-error", "gateway-error"}, TCPRetryEvents: []string{"connection-error"}},
				Timeout:     &spec.HTTPTimeout{PerRequest: sec(5), Idle: sec(60)},
			}}},
			{Name: "grpc", VirtualRouterName: "grpc-router", Spec: spec.RouteSpec{GRPCRoute: &spec.GRPCRoute{
				Match:   &spec.GRPCRouteMatch{ServiceName: "color.ColorService", MethodName: "GetColor"},
				Action:  &spec.RouteAction{WeightedTargets: []spec.WeightedTarget{{VirtualNode: "colorteller-grpc", Weight: 1}}},
				Timeout: &spec.HTTPTimeout{PerRequest: ms(2500)},
			}}},
		},
		VirtualNodes: []spec.NamedVirtualNode{teller("colorteller-black"), grpcNode, teller("colorteller-white")},
	}
}

// renderResources is the stable JSON of a translation, for golden files.
func renderResources(t testing.TB, r *Resources) []byte {
	t.Helper()
	doc := map[string]any{"certificateArns": r.CertificateARNs, "trustBundles": r.TrustBundles}
	conv := func(ms []proto.Message) []any {
		var out []any
		for _, m := range ms {
			b, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	var ls, cs, rs []proto.Message
	for _, m := range r.Listeners {
		ls = append(ls, m)
	}
	for _, m := range r.Clusters {
		cs = append(cs, m)
	}
	for _, m := range r.Routes {
		rs = append(rs, m)
	}
	doc["listeners"], doc["clusters"], doc["routes"] = conv(ls), conv(cs), conv(rs)
	if len(r.Endpoints) > 0 {
		var es []proto.Message
		for _, m := range r.Endpoints {
			es = append(es, m)
		}
		doc["endpoints"] = conv(es)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestTranslateGolden(t *testing.T) {
	grpcServer := func(testing.TB) *spec.Snapshot { s, _ := greeterSnapshots(); return s }
	grpcClient := func(testing.TB) *spec.Snapshot { _, c := greeterSnapshots(); return c }
	cases := []struct {
		name string
		snap func(testing.TB) *spec.Snapshot
		grpc bool // TranslateGRPC instead of Translate
	}{
		{"colorteller-one-way", func(t testing.TB) *spec.Snapshot { return colorTellerSnapshot(t, "one-way") }, false},
		{"colorgateway-one-way", func(t testing.TB) *spec.Snapshot { return colorGatewaySnapshot(t, "one-way") }, false},
		{"colorteller-mtls", func(t testing.TB) *spec.Snapshot { return colorTellerSnapshot(t, "mtls") }, false},
		{"colorgateway-mtls", func(t testing.TB) *spec.Snapshot { return colorGatewaySnapshot(t, "mtls") }, false},
		{"routes-weights-retries-timeouts", func(testing.TB) *spec.Snapshot { return routedSnapshot() }, false},
		{"routes-allow-all", func(testing.TB) *spec.Snapshot { return allowAllSnapshot() }, false},
		{"grpc-greeter-server-mtls", grpcServer, true},
		{"grpc-greeter-client-mtls", grpcClient, true},
		{"grpc-routes-weights-retries-timeouts", func(testing.TB) *spec.Snapshot { return routedSnapshot() }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			translate := Translate
			if tc.grpc {
				translate = TranslateGRPC
			}
			res, err := translate(tc.snap(t))
			if err != nil {
				t.Fatal(err)
			}
			got := renderResources(t, res)
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("translation of %s differs from %s (run with -update after checking the diff):\n%s", tc.name, path, firstDiff(string(want), string(got)))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + itoa(i+1) + ":\n- " + al[i] + "\n+ " + bl[i]
		}
	}
	return "lengths differ"
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestValidateRefusesWhatEnvoyWould(t *testing.T) {
	t.Parallel()
	good, err := Translate(colorTellerSnapshot(t, "one-way"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		breakIt func(r *Resources)
	}{
		{"cluster without a name", func(r *Resources) { r.Clusters[0].Name = "" }},
		{"negative connect timeout", func(r *Resources) { r.Clusters[0].ConnectTimeout = durationpb.New(-time.Second) }},
		{"health check without interval", func(r *Resources) { r.Clusters[0].HealthChecks[0].Interval = nil }},
		{"route without virtual host domains", func(r *Resources) { r.Routes[0].VirtualHosts[0].Domains = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := Translate(colorTellerSnapshot(t, "one-way"))
			tc.breakIt(r)
			if err := r.Validate(); err == nil {
				t.Fatal("Validate accepted a resource Envoy refuses")
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTranslateRefusesInvalidSnapshots(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]*spec.Snapshot{
		"nil":                 nil,
		"neither node nor gw": {MeshName: "m"},
		"route to missing node": func() *spec.Snapshot {
			s := routedSnapshot()
			s.VirtualNodes = s.VirtualNodes[:1]
			return s
		}(),
	} {
		if _, err := Translate(s); err == nil {
			t.Errorf("%s: Translate accepted it", name)
		}
	}
}

// allowAllSnapshot is routedSnapshot in a mesh whose egress filter is
// ALLOW_ALL.
func allowAllSnapshot() *spec.Snapshot {
	s := routedSnapshot()
	s.EgressFilter = spec.EgressAllowAll
	return s
}

func TestEgressAllowAll(t *testing.T) {
	t.Parallel()
	noBackends := func(filter string) *spec.Snapshot {
		s := routedSnapshot()
		s.VirtualNode.Spec.Backends = nil
		s.EgressFilter = filter
		return s
	}
	egress := func(r *Resources) *listenerv3.Listener {
		for _, l := range r.Listeners {
			if l.Name == egressListenerName() {
				return l
			}
		}
		return nil
	}
	cases := []struct {
		name        string
		snap        *spec.Snapshot
		passthrough bool
	}{
		{"drop all, no backends", noBackends(spec.EgressDropAll), false},
		{"default, no backends", noBackends(""), false},
		{"allow all, no backends", noBackends(spec.EgressAllowAll), true},
		{"drop all, backends", routedSnapshot(), false},
		{"allow all, backends", allowAllSnapshot(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Translate(tc.snap)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Validate(); err != nil {
				t.Fatal(err)
			}
			l := egress(res)
			var cluster *clusterv3.Cluster
			for _, c := range res.Clusters {
				if c.Name == "cds_egress_color-mesh_passthrough" {
					cluster = c
				}
			}
			if !tc.passthrough {
				if l != nil && l.DefaultFilterChain != nil {
					t.Errorf("egress listener has a default chain without ALLOW_ALL")
				}
				if cluster != nil {
					t.Errorf("passthrough cluster sent without ALLOW_ALL")
				}
				for _, rc := range res.Routes {
					for _, vh := range rc.VirtualHosts {
						if slices.Contains(vh.Domains, "*") && strings.HasPrefix(rc.Name, "rds_egress_") {
							t.Errorf("route %s has a catch-all virtual host without ALLOW_ALL", rc.Name)
						}
					}
				}
				return
			}
			if l == nil || l.DefaultFilterChain == nil {
				t.Fatalf("ALLOW_ALL: no egress listener with a default chain: %v", l)
			}
			if !hasFilter(l, originalDstName) {
				t.Errorf("ALLOW_ALL egress listener lacks the original_dst filter")
			}
			tp := &tcpproxyv3.TcpProxy{}
			if err := l.DefaultFilterChain.Filters[0].GetTypedConfig().UnmarshalTo(tp); err != nil || tp.GetCluster() != "cds_egress_color-mesh_passthrough" {
				t.Errorf("default chain goes to %q (%v), want the passthrough cluster", tp.GetCluster(), err)
			}
			if cluster == nil || cluster.GetType() != clusterv3.Cluster_ORIGINAL_DST || cluster.LbPolicy != clusterv3.Cluster_CLUSTER_PROVIDED {
				t.Errorf("passthrough cluster = %v, want ORIGINAL_DST with CLUSTER_PROVIDED", cluster)
			}
			for _, rc := range res.Routes {
				if !strings.HasPrefix(rc.Name, "rds_egress_") {
					continue
				}
				last := rc.VirtualHosts[len(rc.VirtualHosts)-1]
				if !slices.Equal(last.Domains, []string{"*"}) || last.Routes[0].GetRoute().GetCluster() != cluster.Name {
					t.Errorf("route %s: last virtual host %v does not pass unknown hosts through", rc.Name, last.Domains)
				}
			}
		})
	}
}

// The proxyless gRPC flavour is the same whatever the egress filter: a
// gRPC client dials non-xDS targets itself.
func TestGRPCIgnoresEgressFilter(t *testing.T) {
	t.Parallel()
	drop, err := TranslateGRPC(routedSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	allow, err := TranslateGRPC(allowAllSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(renderResources(t, drop), renderResources(t, allow)) {
		t.Error("TranslateGRPC output depends on the egress filter")
	}
}
