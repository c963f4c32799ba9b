package xds

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// App Mesh's "sds" sources name secrets of the SDS server beside Envoy (a
// SPIRE agent): they are passed through as SDS configs on
// static_cluster_sds_unix_socket, never served by Bulwark, and the
// bootstrap defines that cluster on APPMESH_SDS_SOCKET_PATH's socket.
func TestSDSSourcesPassThrough(t *testing.T) {
	t.Parallel()
	const certName, trustName, socket = "spiffe://mesh.local/colorteller", "spiffe://mesh.local", "/run/spire/sockets/agent.sock"
	s := colorTellerSnapshot(t, "one-way")
	l := &s.VirtualNode.Spec.Listeners[0]
	l.TLS.Certificate = &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: certName}}
	l.TLS.Validation = &spec.ListenerTLSValidationContext{Trust: &spec.TrustContext{SDS: &spec.SDSTrust{SecretName: trustName}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Translate(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CertificateARNs) != 0 || len(res.TrustBundles) != 0 {
		t.Fatalf("sds sources became secrets of the stream: %v %v", res.CertificateARNs, res.TrustBundles)
	}
	onLocalSDS := func(c *tlsv3.SdsSecretConfig, name string) {
		t.Helper()
		g := c.GetSdsConfig().GetApiConfigSource().GetGrpcServices()
		if c.GetName() != name || len(g) != 1 || g[0].GetEnvoyGrpc().GetClusterName() != SDSSocketCluster {
			t.Fatalf("SDS config %v, want %q from %s", c, name, SDSSocketCluster)
		}
	}
	found := false
	for _, ln := range res.Listeners {
		for _, fc := range ln.FilterChains {
			if fc.GetTransportSocket() == nil {
				continue
			}
			ctx := &tlsv3.DownstreamTlsContext{}
			must(t, fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx))
			common := ctx.GetCommonTlsContext()
			if len(common.GetTlsCertificateSdsSecretConfigs()) != 1 {
				t.Fatalf("certificate configs %v", common.GetTlsCertificateSdsSecretConfigs())
			}
			onLocalSDS(common.GetTlsCertificateSdsSecretConfigs()[0], certName)
			onLocalSDS(common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(), trustName)
			found = true
		}
	}
	if !found {
		t.Fatal("no TLS listener")
	}

	arn := "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller"
	b, err := Bootstrap(BootstrapOptions{ResourceARN: arn, XDSAddress: "bulwark:15010", SDSSocketPath: socket})
	if err != nil {
		t.Fatal(err)
	}
	var pipe *corev3.Pipe
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.Name == SDSSocketCluster {
			pipe = c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetPipe()
		}
	}
	if pipe.GetPath() != socket {
		t.Fatalf("bootstrap SDS cluster on %v, want %s", pipe, socket)
	}
	b, err = Bootstrap(BootstrapOptions{ResourceARN: arn, XDSAddress: "bulwark:15010"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.Name == SDSSocketCluster {
			t.Fatal("an SDS cluster without a socket")
		}
	}
}
