package launch_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/launch"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// rootCA creates and activates an EC root CA and returns its ARN.
func rootCA(t *testing.T, p *acmpca.Client, cn string) string {
	t.Helper()
	ctx := context.Background()
	sig := pcatypes.SigningAlgorithmSha256withecdsa
	out, err := p.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: sig,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String(cn)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.CertificateAuthorityArn
	csr, err := p.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := p.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: arn, Csr: []byte(*csr.Csr), SigningAlgorithm: sig,
		TemplateArn: aws.String("arn:aws:acm-pca:::template/RootCACertificate/V1"),
		Validity:    &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeYears, Value: aws.Int64(10)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: arn, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: arn, Certificate: []byte(*got.Certificate)}); err != nil {
		t.Fatal(err)
	}
	return *arn
}

// TestAgainstControlPlane runs the Color App from Bulwark's own appmesh
// API: a ColorTeller sidecar whose server certificate is an ACM ARN and a
// gateway trusting the ColorTeller CA through ACM PCA, both read from the
// control plane with `bulwark proxy --mesh`. Then a gateway route update
// reaches the running gateway.
func TestAgainstControlPlane(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	ctx := context.Background()
	pca, acmc, am := acmpca.NewFromConfig(cfg), awsacm.NewFromConfig(cfg), appmesh.NewFromConfig(cfg)
	ca := rootCA(t, pca, "ColorTeller Root")
	req, err := acmc.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("colorteller.mesh.local"), CertificateAuthorityArn: &ca})
	if err != nil {
		t.Fatal(err)
	}
	a := startApp(t, "yellow")
	mesh := aws.String("color-mesh")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: mesh}))
	nodeSpec := func(hostname string) *amtypes.VirtualNodeSpec {
		return &amtypes.VirtualNodeSpec{
			Listeners: []amtypes.Listener{{
				PortMapping: &amtypes.PortMapping{Port: aws.Int32(int32(a.port)), Protocol: amtypes.PortProtocolHttp},
				Tls: &amtypes.ListenerTls{Mode: amtypes.ListenerTlsModeStrict,
					Certificate: &amtypes.ListenerTlsCertificateMemberAcm{Value: amtypes.ListenerTlsAcmCertificate{CertificateArn: req.CertificateArn}}},
			}},
			ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String(hostname)}},
		}
	}
	must(am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("colorteller"), Spec: nodeSpec("colorteller.mesh.local")}))
	must(am.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("colorteller.mesh.local"),
		Spec: &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("colorteller")}}}}))
	must(am.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), Spec: &amtypes.VirtualGatewaySpec{
		Listeners: []amtypes.VirtualGatewayListener{{PortMapping: &amtypes.VirtualGatewayPortMapping{Port: aws.Int32(8080), Protocol: amtypes.VirtualGatewayPortProtocolHttp}}},
		BackendDefaults: &amtypes.VirtualGatewayBackendDefaults{ClientPolicy: &amtypes.VirtualGatewayClientPolicy{Tls: &amtypes.VirtualGatewayClientPolicyTls{
			Validation: &amtypes.VirtualGatewayTlsValidationContext{
				Trust: &amtypes.VirtualGatewayTlsValidationContextTrustMemberAcm{Value: amtypes.VirtualGatewayTlsValidationContextAcmTrust{CertificateAuthorityArns: []string{ca}}},
			}}}},
	}}))
	gwRoute := func(prefix string) *amtypes.GatewayRouteSpec {
		return &amtypes.GatewayRouteSpec{HttpRoute: &amtypes.HttpGatewayRoute{
			Match:  &amtypes.HttpGatewayRouteMatch{Prefix: aws.String(prefix)},
			Action: &amtypes.HttpGatewayRouteAction{Target: &amtypes.GatewayRouteTarget{VirtualService: &amtypes.GatewayRouteVirtualService{VirtualServiceName: aws.String("colorteller.mesh.local")}}},
		}}
	}
	must(am.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), GatewayRouteName: aws.String("colorteller-route"), Spec: gwRoute("/")}))

	// Each proxy runs as its own principal with the policies of
	// docs/proxy.md and nothing more.
	meshRead := `{"Effect":"Allow","Action":["appmesh:Describe*","appmesh:List*"],
		"Resource":["arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh","arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/*"]}`
	scCfg := principal(t, srv, "colorteller-proxy", meshRead,
		`{"Effect":"Allow","Action":["acm:ExportCertificate","acm:DescribeCertificate"],"Resource":"`+*req.CertificateArn+`"}`)
	gwCfg := principal(t, srv, "colorgateway-proxy", meshRead,
		`{"Effect":"Allow","Action":"acm-pca:GetCertificateAuthorityCertificate","Resource":"`+ca+`"}`)
	opts := func(c *aws.Config, o launch.Options) launch.Options {
		o.Mesh, o.AWS, o.Poll, o.CertPoll, o.AdminAddress = "color-mesh", c, 50*time.Millisecond, time.Minute, "127.0.0.1:0"
		return o
	}
	sc := start(t, opts(&scCfg, launch.Options{VirtualNode: "colorteller", Listeners: []spec.ListenerBinding{{Port: a.port, Address: "127.0.0.1:0"}}}))
	scAddr := sc.ListenerAddr(a.port)
	// The gateway dials the sidecar where it actually listens (host:port
	// discovery, a mesh on one machine).
	must(am.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("colorteller"), Spec: nodeSpec(scAddr)}))
	gw := start(t, opts(&gwCfg, launch.Options{VirtualGateway: "colorgateway", Listeners: []spec.ListenerBinding{{Port: 8080, Address: "127.0.0.1:0"}}}))

	get := func(path string) (int, string) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + gw.ListenerAddr(8080) + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || body != "yellow" {
		t.Fatalf("GET / = %d %q, want 200 yellow", code, body)
	}
	for suffix, want := range map[string]uint64{"ssl.handshake": 1, "ssl.no_certificate": 1} {
		name := "listener.127.0.0.1_" + scAddr[len("127.0.0.1:"):] + "." + suffix
		if got := sc.Stats().Counter(name).Value(); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	must(am.UpdateGatewayRoute(ctx, &appmesh.UpdateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), GatewayRouteName: aws.String("colorteller-route"), Spec: gwRoute("/color")}))
	testwait.For(t, 5*time.Second, "the condition", func() bool { code, _ := get("/"); return code == 404 })
	if code, body := get("/color"); code != 200 || body != "yellow" {
		t.Errorf("GET /color after the route update = %d %q", code, body)
	}
}

// principal creates an IAM user with one inline policy of the given
// statements and returns its SDK configuration.
func principal(t *testing.T, srv *servertest.Server, name string, statements ...string) aws.Config {
	t.Helper()
	ctx := context.Background()
	iam := srv.IAM()
	if _, err := iam.CreateUser(ctx, name, "/", nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
	if err := iam.PutUserPolicy(ctx, name, "proxy", doc); err != nil {
		t.Fatal(err)
	}
	key, secret, err := iam.CreateAccessKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return srv.AWSConfigFor(key.AccessKeyID, secret)
}
