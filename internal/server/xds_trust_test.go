package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	meshtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// installRootCert issues the root CA's own certificate from its CSR and
// installs it; run again, it is the CA's certificate being replaced (a
// renewed root), which changes the trust bundle data planes hold.
func installRootCert(t *testing.T, p *acmpca.Client, caARN string) []byte {
	t.Helper()
	ctx := context.Background()
	csr, err := p.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &caARN})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := p.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &caARN, Csr: []byte(*csr.Csr), SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
		TemplateArn: aws.String("arn:aws:acm-pca:::template/RootCACertificate/V1"), Validity: &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeYears, Value: aws.Int64(5)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &caARN, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &caARN, Certificate: []byte(*got.Certificate)}); err != nil {
		t.Fatal(err)
	}
	return []byte(*got.Certificate)
}

// TestXDSTrustBundleFollowsCAChange: a listener validating clients
// against an ACM PCA CA (mTLS) gets the CA's certificate as an SDS
// validation context, and replacing the CA's certificate pushes the new
// bundle at once, without any request from the data plane.
func TestXDSTrustBundleFollowsCAChange(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := acmpca.NewFromConfig(e.srv.AWSConfig())
	ca, err := p.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("ColorGateway CA")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	caARN := *ca.CertificateAuthorityArn
	first := installRootCert(t, p, caARN)
	spec := &meshtypes.VirtualNodeSpec{
		Listeners: []meshtypes.Listener{{
			PortMapping: &meshtypes.PortMapping{Port: aws.Int32(9080), Protocol: meshtypes.PortProtocolHttp},
			Tls: &meshtypes.ListenerTls{Mode: meshtypes.ListenerTlsModeStrict,
				Certificate: &meshtypes.ListenerTlsCertificateMemberAcm{Value: meshtypes.ListenerTlsAcmCertificate{CertificateArn: aws.String(e.certARN)}},
				Validation: &meshtypes.ListenerTlsValidationContext{Trust: &meshtypes.ListenerTlsValidationContextTrustMemberFile{
					Value: meshtypes.TlsValidationContextFileTrust{CertificateChain: aws.String("/unused.pem")}}}},
		}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("colorteller.mesh.local")}},
	}
	// App Mesh takes ACM PCA trust on client policies (backend defaults),
	// listener validation only from files or SDS; the client policy's
	// trust is what the node validates its backends with, so the node
	// calls one (itself, through a virtual service).
	if _, err := e.mesh.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: aws.String("color-mesh"), VirtualServiceName: aws.String("colorteller.mesh.local"),
		Spec: &meshtypes.VirtualServiceSpec{Provider: &meshtypes.VirtualServiceProviderMemberVirtualNode{Value: meshtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("colorteller")}}}}); err != nil {
		t.Fatal(err)
	}
	spec.Backends = []meshtypes.Backend{&meshtypes.BackendMemberVirtualService{Value: meshtypes.VirtualServiceBackend{VirtualServiceName: aws.String("colorteller.mesh.local")}}}
	spec.BackendDefaults = &meshtypes.BackendDefaults{ClientPolicy: &meshtypes.ClientPolicy{Tls: &meshtypes.ClientPolicyTls{
		Validation: &meshtypes.TlsValidationContext{Trust: &meshtypes.TlsValidationContextTrustMemberAcm{
			Value: meshtypes.TlsValidationContextAcmTrust{CertificateAuthorityArns: []string{caARN}}}}}}}
	if _, err := e.mesh.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("colorteller"), Spec: spec}); err != nil {
		t.Fatal(err)
	}
	envoy := e.user(t, "teller-trust", streamExportPolicy(e.nodeARN, e.certARN))
	st, err := e.dial(t, envoy, "").StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trustName := "trust:" + caARN
	names := []string{e.certARN, trustName}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: e.nodeARN}, TypeUrl: resourcev3.SecretType, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	bundleOf := func(r *discoveryv3.DiscoveryResponse) []byte {
		t.Helper()
		for _, a := range r.Resources {
			sec := &tlsv3.Secret{}
			if err := a.UnmarshalTo(sec); err != nil {
				t.Fatal(err)
			}
			if sec.Name == trustName {
				return sec.GetValidationContext().GetTrustedCa().GetInlineBytes()
			}
		}
		t.Fatalf("no secret %s in %d secrets", trustName, len(r.Resources))
		return nil
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if b := bundleOf(r1); !bytes.Contains(b, bytes.TrimSpace(first)) {
		t.Fatalf("the trust bundle is not the CA's certificate:\n%s", b)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: names, VersionInfo: r1.VersionInfo, ResponseNonce: r1.Nonce}); err != nil {
		t.Fatal(err)
	}
	second := installRootCert(t, p, caARN)
	r2, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if b := bundleOf(r2); !bytes.Contains(b, bytes.TrimSpace(second)) || bytes.Contains(b, bytes.TrimSpace(first)) {
		t.Fatalf("after the CA change the bundle is not the new certificate:\n%s", b)
	}
}
