package xds

import (
	"testing"

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

func TestTranslateGRPCDebug(t *testing.T) {
	s, c := greeterSnapshots()
	for _, sn := range []*spec.Snapshot{s, c} {
		r, err := TranslateGRPC(sn)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", renderResources(t, r))
	}
}
