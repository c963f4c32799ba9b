package xdsclient

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
)

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

func colorTeller(t testing.TB, set string) *spec.Snapshot {
	s := &spec.Snapshot{MeshName: "color-mesh", VirtualNode: &spec.NamedVirtualNode{Name: "colorteller"}}
	exampleSpec(t, set, "colorteller-node.json", &s.VirtualNode.Spec)
	return s
}

func colorGateway(t testing.TB, set string) *spec.Snapshot {
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

// routed is a front-end node calling a router-provided service with
// weighted targets, retries and timeouts, plus a gRPC route.
func routed() *spec.Snapshot {
	sec := func(v int64) *spec.Duration { return &spec.Duration{Unit: "s", Value: &v} }
	ms := func(v int64) *spec.Duration { return &spec.Duration{Unit: "ms", Value: &v} }
	teller := func(name string) spec.NamedVirtualNode {
		return spec.NamedVirtualNode{Name: name, Spec: spec.VirtualNodeSpec{
			Listeners: []spec.Listener{{
				PortMapping:      &spec.PortMapping{Port: 9080, Protocol: "http"},
				OutlierDetection: &spec.OutlierDetection{MaxServerErrors: 5, MaxEjectionPercent: 50, Interval: sec(10), BaseEjectionDuration: sec(30)},
			}},
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: name + ".mesh.local"}},
		}}
	}
	grpcNode := spec.NamedVirtualNode{Name: "colorteller-grpc", Spec: spec.VirtualNodeSpec{
		Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: 9090, Protocol: "grpc"}}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "127.0.0.1:7000"}},
	}}
	return &spec.Snapshot{
		MeshName: "color-mesh",
		VirtualNode: &spec.NamedVirtualNode{Name: "front", Spec: spec.VirtualNodeSpec{
			Listeners: []spec.Listener{{PortMapping: &spec.PortMapping{Port: 8080, Protocol: "http"},
				ConnectionPool: &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 100, MaxPendingRequests: 10}},
				Timeout:        &spec.ListenerTimeout{HTTP: &spec.HTTPTimeout{PerRequest: sec(30)}}}},
			Backends: []spec.Backend{
				{VirtualService: &spec.VirtualServiceBackend{VirtualServiceName: "colorteller.mesh.local"}},
				{VirtualService: &spec.VirtualServiceBackend{VirtualServiceName: "grpc.mesh.local"}},
			},
			Logging: &spec.Logging{AccessLog: &spec.AccessLog{File: &spec.FileAccessLog{Path: "/dev/stdout"}}},
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
				Timeout:     &spec.HTTPTimeout{PerRequest: sec(5)},
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

// testPEM returns a self-signed certificate and key (PEM).
func testPEM(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, DNSNames: []string{"t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// translated is what the server would send for snap, secrets included.
func translated(t testing.TB, snap *spec.Snapshot) *Resources {
	t.Helper()
	res, err := xds.Translate(snap)
	if err != nil {
		t.Fatal(err)
	}
	out := &Resources{Listeners: res.Listeners, Clusters: res.Clusters, Routes: res.Routes}
	cert, key := testPEM(t)
	for _, arn := range res.CertificateARNs {
		out.Secrets = append(out.Secrets, &tlsv3.Secret{Name: arn, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: cert}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: key}},
		}}})
	}
	for name := range res.TrustBundles {
		out.Secrets = append(out.Secrets, &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: cert}},
		}}})
	}
	return out
}

func nodeOf(s *spec.Snapshot) Node {
	if s.VirtualNode != nil {
		return Node{ID: "mesh/" + s.MeshName + "/virtualNode/" + s.VirtualNode.Name, Mesh: s.MeshName, Kind: "virtualNode", Name: s.VirtualNode.Name}
	}
	return Node{ID: "mesh/" + s.MeshName + "/virtualGateway/" + s.VirtualGateway.Name, Mesh: s.MeshName, Kind: "virtualGateway", Name: s.VirtualGateway.Name}
}

// TestDecodeWhatTheServerSends decodes the server's own translation of
// the Color App (one-way TLS, mTLS) and of routes with weights, retries
// and timeouts, and checks what the proxy will enforce.
func TestDecodeWhatTheServerSends(t *testing.T) {
	for _, set := range []string{"one-way", "mtls"} {
		for name, snap := range map[string]*spec.Snapshot{"colorteller": colorTeller(t, set), "colorgateway": colorGateway(t, set)} {
			t.Run(set+"/"+name, func(t *testing.T) {
				cfg, err := Decode(nodeOf(snap), translated(t, snap))
				if err != nil {
					t.Fatal(err)
				}
				got := cfg.Snapshot
				if snap.VirtualNode != nil {
					want, have := snap.VirtualNode.Spec.Listeners[0], got.VirtualNode.Spec.Listeners[0]
					if *have.PortMapping != *want.PortMapping || have.TLS.Mode != want.TLS.Mode || (have.TLS.Validation != nil) != (want.TLS.Validation != nil) {
						t.Errorf("listener = %+v, want %+v", have, want)
					}
					if want.TLS.Certificate.ACM != nil && (have.TLS.Certificate.SDS == nil || cfg.Secrets[strings.TrimPrefix(have.TLS.Certificate.SDS.SecretName, SourcePrefix)] == nil) {
						t.Errorf("listener certificate %+v is not a secret of the stream", have.TLS.Certificate)
					}
					if want.TLS.Certificate.File != nil && *have.TLS.Certificate.File != *want.TLS.Certificate.File {
						t.Errorf("listener certificate %+v is not a secret of the stream", have.TLS.Certificate)
					}
				} else {
					if len(got.GatewayRoutes) != 1 || got.GatewayRoutes[0].Name != "colorteller-route" {
						t.Fatalf("gateway routes = %+v", got.GatewayRoutes)
					}
					p := got.VirtualGateway.Spec.BackendDefaults.ClientPolicy.TLS
					wantCert := snap.VirtualGateway.Spec.BackendDefaults.ClientPolicy.TLS.Certificate != nil
					if (p.Certificate != nil) != wantCert || p.Validation.Trust.SDS == nil {
						t.Errorf("client policy = %+v", p)
					}
					if got.Service("colorteller.mesh.local") == nil {
						t.Error("the gateway route's target service is missing")
					}
				}
			})
		}
	}
	t.Run("routes", func(t *testing.T) {
		snap := routed()
		cfg, err := Decode(nodeOf(snap), translated(t, snap))
		if err != nil {
			t.Fatal(err)
		}
		got := cfg.Snapshot
		l := got.VirtualNode.Spec.Listeners[0]
		if l.ConnectionPool == nil || l.ConnectionPool.HTTP.MaxConnections != 100 || l.ConnectionPool.HTTP.MaxPendingRequests != 10 {
			t.Errorf("connection pool = %+v", l.ConnectionPool)
		}
		if l.Timeout == nil || *l.Timeout.HTTP.PerRequest.Value != 30000 {
			t.Errorf("listener timeout = %+v", l.Timeout)
		}
		if got.VirtualNode.Spec.Logging == nil || got.VirtualNode.Spec.Logging.AccessLog.File.Path != "/dev/stdout" {
			t.Errorf("logging = %+v", got.VirtualNode.Spec.Logging)
		}
		vs := got.Service("colorteller.mesh.local")
		if vs == nil {
			t.Fatal("no colorteller.mesh.local")
		}
		rs := got.RoutesOf(vs.Spec.Provider.VirtualRouter.VirtualRouterName)
		if len(rs) != 2 || rs[0].Name != "canary" || rs[1].Name != "default" {
			t.Fatalf("routes = %+v", rs)
		}
		def := rs[1].Spec.HTTPRoute
		if def.Match.Method != "GET" || len(def.Action.WeightedTargets) != 2 || def.Action.WeightedTargets[0].Weight != 3 {
			t.Errorf("default route = %+v", def)
		}
		if rp := def.RetryPolicy; rp == nil || rp.MaxRetries != 3 || *rp.PerRetryTimeout.Value != 500 ||
			strings.Join(rp.HTTPRetryEvents, ",") != "server-error,gateway-error" || strings.Join(rp.TCPRetryEvents, ",") != "connection-error" {
			t.Errorf("retry policy = %+v", def.RetryPolicy)
		}
		if *def.Timeout.PerRequest.Value != 5000 {
			t.Errorf("route timeout = %+v", def.Timeout)
		}
		if len(rs[0].Spec.HTTPRoute.Match.Headers) != 1 || rs[0].Spec.HTTPRoute.Match.Headers[0].Match.Exact != "1" {
			t.Errorf("canary match = %+v", rs[0].Spec.HTTPRoute.Match)
		}
		black := got.Node("colorteller-black")
		if black == nil || black.Spec.ServiceDiscovery.DNS.Hostname != "colorteller-black.mesh.local" || black.Spec.Listeners[0].OutlierDetection.MaxServerErrors != 5 {
			t.Errorf("colorteller-black = %+v", black)
		}
		g := got.Node("colorteller-grpc")
		if g == nil || g.Spec.ServiceDiscovery.DNS.Hostname != "127.0.0.1:7000" {
			t.Errorf("colorteller-grpc = %+v", g)
		}
		grs := got.RoutesOf(got.Service("grpc.mesh.local").Spec.Provider.VirtualRouter.VirtualRouterName)
		if len(grs) != 1 || grs[0].Spec.GRPCRoute == nil || grs[0].Spec.GRPCRoute.Match.MethodName != "GetColor" {
			t.Errorf("grpc routes = %+v", grs)
		}
	})
}

// TestDecodeRefusesWhatItCannotEnforce: every setting outside what the
// proxy enforces is refused with its path, never dropped.
func TestDecodeRefusesWhatItCannotEnforce(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *Resources)
		want   string
	}{
		{"unknown listener field", func(r *Resources) { r.Listeners[0].PerConnectionBufferLimitBytes = wrapperspb.UInt32(1) }, "per_connection_buffer_limit_bytes"},
		{"cluster lb policy", func(r *Resources) { r.Clusters[0].LbPolicy = 1 }, "lb_policy"},
		{"route query match", func(r *Resources) {
			for _, rc := range r.Routes {
				if strings.HasPrefix(rc.Name, "rds_egress") {
					rc.VirtualHosts[0].Routes[0].Match.CaseSensitive = wrapperspb.Bool(false)
				}
			}
		}, "case_sensitive"},
		{"route mirror", func(r *Resources) {
			for _, rc := range r.Routes {
				if strings.HasPrefix(rc.Name, "rds_egress") {
					rc.VirtualHosts[0].Routes[0].GetRoute().PrefixRewrite = "/x"
				}
			}
		}, "prefix_rewrite"},
		{"missing route configuration", func(r *Resources) { r.Routes = nil }, "was not sent"},
		{"retry condition", func(r *Resources) {
			for _, rc := range r.Routes {
				for _, vh := range rc.VirtualHosts {
					for _, rt := range vh.Routes {
						if rp := rt.GetRoute().GetRetryPolicy(); rp != nil {
							rp.RetryOn = "5xx,reset"
						}
					}
				}
			}
		}, "reset"},
		{"sub-millisecond timeout", func(r *Resources) {
			for _, rc := range r.Routes {
				if strings.HasPrefix(rc.Name, "rds_ingress") {
					rc.VirtualHosts[0].Routes[0].GetRoute().Timeout = durationpb.New(1500 * time.Microsecond)
				}
			}
		}, "milliseconds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := routed()
			r := translated(t, snap)
			c.mutate(r)
			_, err := Decode(nodeOf(snap), r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode = %v, want an error naming %q", err, c.want)
			}
		})
	}
	t.Run("App Mesh sds source keeps the proxy's meaning", func(t *testing.T) {
		snap := colorTeller(t, "one-way")
		snap.VirtualNode.Spec.Listeners[0].TLS.Certificate = &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "colorteller"}}
		cfg, err := Decode(nodeOf(snap), translated(t, snap))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Snapshot.VirtualNode.Spec.Listeners[0].TLS.Certificate.SDS; got == nil || got.SecretName != "colorteller" {
			t.Fatalf("certificate = %+v, want sds colorteller", got)
		}
	})
	t.Run("other SDS server", func(t *testing.T) {
		snap := colorTeller(t, "one-way")
		snap.VirtualNode.Spec.Listeners[0].TLS.Certificate = &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "colorteller"}}
		r := translated(t, snap)
		ts := r.Listeners[0].FilterChains[0].TransportSocket
		down := &tlsv3.DownstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(down); err != nil {
			t.Fatal(err)
		}
		down.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].SdsConfig.GetApiConfigSource().GrpcServices[0].GetEnvoyGrpc().ClusterName = "spire"
		a, _ := anypb.New(down)
		ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: a}
		_, err := Decode(nodeOf(snap), r)
		if err == nil || !strings.Contains(err.Error(), "SDS server other than") {
			t.Fatalf("Decode = %v", err)
		}
	})
	t.Run("invalid secret", func(t *testing.T) {
		snap := colorTeller(t, "one-way")
		r := translated(t, snap)
		r.Secrets[0] = proto.Clone(r.Secrets[0]).(*tlsv3.Secret)
		r.Secrets[0].GetTlsCertificate().PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("nope")}}
		_, err := Decode(nodeOf(snap), r)
		if err == nil || strings.Contains(err.Error(), "nope") {
			t.Fatalf("Decode = %v, want an error that does not echo key bytes", err)
		}
	})
}

// TestDecodeEgressAllowAll: the passthrough the server sends for a mesh
// whose egress filter is ALLOW_ALL is refused (NACKed) with an error that
// names the setting, wherever it shows, rather than dropped silently.
func TestDecodeEgressAllowAll(t *testing.T) {
	noBackends := routed()
	noBackends.VirtualNode.Spec.Backends = nil
	cases := []struct {
		name     string
		snap     *spec.Snapshot
		mutate   func(r *Resources)
		wantPath string
	}{
		{"with backends", routed(), nil, "default_filter_chain"},
		{"without backends", noBackends, nil, "default_filter_chain"},
		{"catch-all virtual host alone", routed(), func(r *Resources) {
			for _, l := range r.Listeners {
				l.DefaultFilterChain = nil
			}
		}, "domains"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.snap.EgressFilter = spec.EgressAllowAll
			r := translated(t, c.snap)
			if c.mutate != nil {
				c.mutate(r)
			}
			_, err := Decode(nodeOf(c.snap), r)
			var u *unsupported
			if !errors.As(err, &u) || !strings.Contains(err.Error(), "ALLOW_ALL") || !strings.Contains(u.path, c.wantPath) {
				t.Fatalf("Decode = %v, want a refusal of ALLOW_ALL at %s", err, c.wantPath)
			}
			// The same mesh with DROP_ALL decodes: only the passthrough is refused.
			c.snap.EgressFilter = spec.EgressDropAll
			if _, err := Decode(nodeOf(c.snap), translated(t, c.snap)); err != nil {
				t.Fatalf("DROP_ALL: %v", err)
			}
		})
	}
}
