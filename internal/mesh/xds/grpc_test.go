package xds

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

const (
	grpcCAARN   = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-1111-1111-1111-111111111111"
	grpcCertARN = "arn:aws:acm:us-east-1:111122223333:certificate/22222222-2222-2222-2222-222222222222"
)

// greeterSnapshots are a gRPC server node (mTLS, a SAN-restricted
// listener) and a client node calling it with a TLS client policy.
func greeterSnapshots() (server, client *spec.Snapshot) {
	greeter := spec.NamedVirtualNode{Name: "greeter", Spec: spec.VirtualNodeSpec{
		Listeners: []spec.Listener{{
			PortMapping: &spec.PortMapping{Port: 50051, Protocol: "grpc"},
			TLS: &spec.ListenerTLS{Mode: spec.ModeStrict,
				Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: grpcCertARN}},
				Validation: &spec.ListenerTLSValidationContext{Trust: &spec.TrustContext{File: &spec.FileTrust{CertificateChain: "/etc/greeter/ca.pem"}},
					SubjectAlternativeNames: &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: []string{"client.mesh.local"}}}},
			},
		}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "10.0.0.7"}},
	}}
	svc := spec.NamedVirtualService{Name: "greeter.mesh.local", Spec: spec.VirtualServiceSpec{Provider: &spec.VirtualServiceProvider{VirtualNode: &spec.VirtualNodeProvider{VirtualNodeName: "greeter"}}}}
	server = &spec.Snapshot{MeshName: "grpc-mesh", VirtualNode: &greeter}
	client = &spec.Snapshot{MeshName: "grpc-mesh",
		VirtualNode: &spec.NamedVirtualNode{Name: "client", Spec: spec.VirtualNodeSpec{Backends: []spec.Backend{{VirtualService: &spec.VirtualServiceBackend{VirtualServiceName: "greeter.mesh.local",
			ClientPolicy: &spec.ClientPolicy{TLS: &spec.ClientPolicyTLS{Enforce: ptr(true),
				Certificate: &spec.ClientTLSCertificate{File: &spec.FileCertificate{CertificateChain: "/etc/client/cert.pem", PrivateKey: "/etc/client/key.pem"}},
				Validation: &spec.TLSValidationContext{Trust: &spec.TrustContext{ACM: &spec.ACMTrust{CertificateAuthorityArns: []string{grpcCAARN}}},
					SubjectAlternativeNames: &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: []string{"greeter.mesh.local"}}}}}}}}}}},
		VirtualServices: []spec.NamedVirtualService{svc},
		VirtualNodes:    []spec.NamedVirtualNode{greeter},
	}
	return server, client
}

func TestFlavourOf(t *testing.T) {
	t.Parallel()
	for ua, want := range map[string]string{
		"gRPC Go": FlavourGRPC, "gRPC C-core": FlavourGRPC, "gRPC Java": FlavourGRPC,
		"envoy": FlavourEnvoy, "": FlavourEnvoy, "grpc-go": FlavourEnvoy, "bulwark-proxy": FlavourEnvoy,
	} {
		if got := flavourOf(&corev3.Node{UserAgentName: ua}); got != want {
			t.Errorf("%q: %s, want %s", ua, got, want)
		}
	}
	if nodeKey(tellerARN, nil, FlavourEnvoy) != tellerARN || !strings.HasSuffix(nodeKey(tellerARN, nil, FlavourGRPC), grpcKeySuffix) {
		t.Error("an Envoy node's key changed, or a gRPC node's key lacks its flavour")
	}
}

// TestTranslateGRPCShapes pins what gRPC needs and Envoy's translation
// does not give: a listener per listening host (and the node's own IP),
// no secrets or key material, SANs as RBAC on the server, TLS only for a
// PERMISSIVE listener, EDS with one weighted locality.
func TestTranslateGRPCShapes(t *testing.T) {
	t.Parallel()
	server, client := greeterSnapshots()
	res, err := TranslateGRPC(server)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range res.Listeners {
		names = append(names, l.Name)
	}
	want := []string{}
	for _, h := range []string{"0.0.0.0:50051", "10.0.0.7:50051", "127.0.0.1:50051", "[::1]:50051", "[::]:50051"} {
		want = append(want, fmt.Sprintf(GRPCServerListenerTemplate, h))
	}
	if !slices.Equal(names, want) {
		t.Errorf("server listeners %q, want %q", names, want)
	}
	if len(res.CertificateARNs) != 0 || len(res.TrustBundles) != 0 {
		t.Error("the gRPC flavour names secrets to send")
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := res.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	if len(hcm.HttpFilters) != 2 || hcm.HttpFilters[0].Name != "envoy.filters.http.rbac" {
		t.Errorf("the listener's SANs are not enforced by RBAC: %v", hcm.HttpFilters)
	}

	server.VirtualNode.Spec.Listeners[0].TLS.Mode = spec.ModePermissive
	server.VirtualNode.Spec.Listeners[0].TLS.Validation = nil
	res, err = TranslateGRPC(server)
	if err != nil {
		t.Fatal(err)
	}
	fc := res.Listeners[0].FilterChains
	if len(fc) != 1 || fc[0].TransportSocket == nil || fc[0].FilterChainMatch != nil {
		t.Errorf("a PERMISSIVE listener is not served as one TLS chain: %v", fc)
	}

	res, err = TranslateGRPC(client)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Listeners) != 1 || res.Listeners[0].Name != "greeter.mesh.local:50051" || res.Listeners[0].ApiListener == nil {
		t.Fatalf("client listeners %v", res.Listeners)
	}
	if len(res.Clusters) != 1 || res.Clusters[0].GetType() != clusterv3.Cluster_EDS || len(res.Endpoints) != 1 {
		t.Fatalf("clusters %v endpoints %v", res.Clusters, res.Endpoints)
	}
	if l := res.Endpoints[0].Endpoints[0]; l.Locality == nil || l.LoadBalancingWeight.GetValue() != 1 {
		t.Errorf("gRPC drops this locality: %v", l)
	}

	gw := colorGatewaySnapshot(t, "one-way")
	if _, err := TranslateGRPC(gw); err == nil {
		t.Error("a virtual gateway got a gRPC configuration")
	}
}

func TestGRPCBootstrap(t *testing.T) {
	t.Parallel()
	providers := map[string]string{grpcCertARN: "/run/greeter", "file:/etc/greeter/ca.pem": "/run/greeter"}
	ok := []GRPCBootstrapOptions{
		{ResourceARN: tellerARN, XDSAddress: "127.0.0.1:15010", Auth: AuthNone, Plaintext: true, CertificateProviders: providers},
		{ResourceARN: tellerARN, XDSAddress: "bulwark:15010", Auth: AuthMTLS, ClientCertFile: "/c.pem", ClientKeyFile: "/k.pem", CAFile: "/ca.pem"},
		{ResourceARN: tellerARN, XDSAddress: "bulwark:15010"},
	}
	for _, o := range ok {
		b, err := GRPCBootstrap(o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		var doc struct {
			XDSServers []struct {
				ServerURI    string `json:"server_uri"`
				ChannelCreds []struct {
					Type string `json:"type"`
				} `json:"channel_creds"`
			} `json:"xds_servers"`
			Node                 struct{ ID string } `json:"node"`
			CertificateProviders map[string]struct {
				PluginName string            `json:"plugin_name"`
				Config     map[string]string `json:"config"`
			} `json:"certificate_providers"`
			Template string `json:"server_listener_resource_name_template"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		wantCreds := "tls"
		if o.Plaintext {
			wantCreds = "insecure"
		}
		if doc.Node.ID != tellerARN || doc.Template != GRPCServerListenerTemplate || doc.XDSServers[0].ServerURI != o.XDSAddress || doc.XDSServers[0].ChannelCreds[0].Type != wantCreds {
			t.Errorf("%+v: %s", o, b)
		}
		for name := range o.CertificateProviders {
			p := doc.CertificateProviders[name]
			if p.PluginName != "file_watcher" || p.Config["certificate_file"] != "/run/greeter/cert.pem" || p.Config["ca_certificate_file"] != "/run/greeter/chain.pem" || p.Config["refresh_interval"] != "60s" {
				t.Errorf("provider %s: %+v", name, p)
			}
		}
	}
	bad := map[string]GRPCBootstrapOptions{
		"sigv4":              {ResourceARN: tellerARN, XDSAddress: "x:1", Auth: AuthSigV4},
		"a gateway":          {ResourceARN: "arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualGateway/gw", XDSAddress: "x:1"},
		"no port":            {ResourceARN: tellerARN, XDSAddress: "bulwark"},
		"mtls without a key": {ResourceARN: tellerARN, XDSAddress: "x:1", Auth: AuthMTLS, ClientCertFile: "/c.pem"},
		"mtls in plaintext":  {ResourceARN: tellerARN, XDSAddress: "x:1", Auth: AuthMTLS, ClientCertFile: "/c.pem", ClientKeyFile: "/k.pem", Plaintext: true},
		"empty directory":    {ResourceARN: tellerARN, XDSAddress: "x:1", CertificateProviders: map[string]string{"x": ""}},
	}
	for name, o := range bad {
		if _, err := GRPCBootstrap(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestGRPCNodeGetsItsFlavour: on one server, a gRPC client of the
// ColorTeller gets the gRPC flavour — it may ask for one server listener
// of the several its port is published under and is answered — and no
// secret, while an Envoy of the same node, on the same principal, gets
// Envoy's listener and the private key.
func TestGRPCNodeGetsItsFlavour(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := colorTellerSnapshot(t, "one-way")
	s.VirtualNode.Spec.Listeners[0].PortMapping.Protocol = spec.ProtocolGRPC
	f.mesh.put("color-mesh", KindVirtualNode, "colorteller", s)
	ctx := testCtx(t)
	fetch := func(node *corev3.Node, typeURL string, names ...string) *discoveryv3.DiscoveryResponse {
		t.Helper()
		st, err := f.ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	grpcNode := &corev3.Node{Id: tellerARN, UserAgentName: "gRPC Go"}
	want := fmt.Sprintf(GRPCServerListenerTemplate, "127.0.0.1:9080")
	lds := fetch(grpcNode, resourcev3.ListenerType, want)
	if len(lds.Resources) != 1 {
		t.Fatalf("%d listeners for one name", len(lds.Resources))
	}
	l := &listenerv3.Listener{}
	if err := lds.Resources[0].UnmarshalTo(l); err != nil || l.Name != want {
		t.Fatalf("listener %q (%v), want %q", l.Name, err, want)
	}
	if sds := fetch(grpcNode, resourcev3.SecretType); len(sds.Resources) != 0 {
		t.Errorf("a gRPC node was sent %d secrets", len(sds.Resources))
	}
	envoy := fetch(&corev3.Node{Id: tellerARN, UserAgentName: "envoy"}, resourcev3.ListenerType)
	if len(envoy.Resources) != 1 {
		t.Fatalf("%d Envoy listeners", len(envoy.Resources))
	}
	if err := envoy.Resources[0].UnmarshalTo(l); err != nil || l.Name != listenerName(IngressPort) {
		t.Errorf("the Envoy got listener %q (%v)", l.Name, err)
	}
	if sds := fetch(&corev3.Node{Id: tellerARN}, resourcev3.SecretType); len(sds.Resources) != 1 {
		t.Errorf("the Envoy got %d secrets, want its certificate", len(sds.Resources))
	}
}
