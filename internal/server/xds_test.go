package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	meshtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// xdsEnv is a real server with its xDS listener, a private CA, an ACM
// certificate and the Color App's ColorTeller node using it.
type xdsEnv struct {
	srv     *servertest.Server
	addr    string
	certARN string
	nodeARN string
	acm     *awsacm.Client
	mesh    *appmesh.Client
	iam     *iam.Client
}

func startXDSEnv(t *testing.T, opts ...servertest.Option) *xdsEnv {
	t.Helper()
	e := startXDSEnvNoListener(t, opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.srv.ServeXDS(ln, nil) }()
	e.addr = ln.Addr().String()
	return e
}

// startXDSEnvNoListener is startXDSEnv without the plaintext xDS listener.
func startXDSEnvNoListener(t *testing.T, opts ...servertest.Option) *xdsEnv {
	t.Helper()
	srv := servertest.Start(t, opts...)
	cfg := srv.AWSConfig()
	e := &xdsEnv{srv: srv, acm: awsacm.NewFromConfig(cfg), mesh: appmesh.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg)}
	ctx := context.Background()
	p := acmpca.NewFromConfig(cfg)
	ca, err := p.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("ColorTeller CA")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	caARN := *ca.CertificateAuthorityArn
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
	cert, err := e.acm.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("colorteller.mesh.local"), CertificateAuthorityArn: &caARN})
	if err != nil {
		t.Fatal(err)
	}
	e.certARN = *cert.CertificateArn
	if _, err := e.mesh.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("color-mesh")}); err != nil {
		t.Fatal(err)
	}
	e.putNode(t, 9080, true)
	e.nodeARN = fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/color-mesh/virtualNode/colorteller", servertest.Region, servertest.AccountID)
	return e
}

// putNode creates or updates the ColorTeller node through the App Mesh API.
func (e *xdsEnv) putNode(t *testing.T, port int, create bool) {
	t.Helper()
	spec := &meshtypes.VirtualNodeSpec{
		Listeners: []meshtypes.Listener{{
			PortMapping: &meshtypes.PortMapping{Port: aws.Int32(int32(port)), Protocol: meshtypes.PortProtocolHttp},
			Tls: &meshtypes.ListenerTls{Mode: meshtypes.ListenerTlsModeStrict,
				Certificate: &meshtypes.ListenerTlsCertificateMemberAcm{Value: meshtypes.ListenerTlsAcmCertificate{CertificateArn: aws.String(e.certARN)}}},
		}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("colorteller.mesh.local")}},
	}
	var err error
	if create {
		_, err = e.mesh.CreateVirtualNode(context.Background(), &appmesh.CreateVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("colorteller"), Spec: spec})
	} else {
		_, err = e.mesh.UpdateVirtualNode(context.Background(), &appmesh.UpdateVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("colorteller"), Spec: spec})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// user creates an IAM user whose only permission is the policy given, and
// returns its static credentials.
func (e *xdsEnv) user(t *testing.T, name, policy string) aws.CredentialsProvider {
	t.Helper()
	ctx := context.Background()
	if _, err := e.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: &name}); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if _, err := e.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: &name, PolicyName: aws.String("xds"), PolicyDocument: &policy}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := e.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: &name})
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewStaticCredentialsProvider(*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, "")
}

// dial connects as Envoy would, signing with creds (nil: unsigned).
func (e *xdsEnv) dial(t *testing.T, creds aws.CredentialsProvider, service string) discoveryv3.AggregatedDiscoveryServiceClient {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if creds != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: creds, Region: servertest.Region, Service: service, AllowInsecure: true, Clock: e.srv.Clock}))
	}
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
}

func streamPolicy(arn string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appmesh:StreamAggregatedResources","Resource":"` + arn + `"}]}`
}

// streamExportPolicy allows streaming a node and receiving one ACM
// certificate over SDS, as App Mesh's Envoy role needed.
func streamExportPolicy(nodeARN, certARN string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appmesh:StreamAggregatedResources","Resource":"` + nodeARN + `"},` +
		`{"Effect":"Allow","Action":"acm:ExportCertificate","Resource":"` + certARN + `"}]}`
}

func secretChain(t *testing.T, r *discoveryv3.DiscoveryResponse) []byte {
	t.Helper()
	sec := &tlsv3.Secret{}
	if len(r.Resources) != 1 {
		t.Fatalf("%d secrets", len(r.Resources))
	}
	if err := r.Resources[0].UnmarshalTo(sec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sec.GetTlsCertificate().GetPrivateKey().GetInlineBytes(), []byte("PRIVATE KEY")) {
		t.Fatal("the secret carries no private key")
	}
	return sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes()
}

// TestXDSStreamWithRealServices drives the whole path: an IAM user allowed
// to stream one virtual node signs its stream as App Mesh's Envoy does,
// gets the node's configuration and its ACM certificate over SDS, and
// receives an App Mesh update and an ACM renewal as pushes.
func TestXDSStreamWithRealServices(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	envoy := e.user(t, "colorteller-envoy", streamExportPolicy(e.nodeARN, e.certARN))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.dial(t, envoy, "").StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: e.nodeARN, Cluster: e.nodeARN}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.SecretType, ResourceNames: []string{e.certARN}}); err != nil {
		t.Fatal(err)
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	chain1 := secretChain(t, r1)
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: []string{e.certARN}, VersionInfo: r1.VersionInfo, ResponseNonce: r1.Nonce}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.acm.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: &e.certARN}); err != nil {
		t.Fatal(err)
	}
	r2, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(chain1, secretChain(t, r2)) {
		t.Fatal("the renewal pushed the old certificate")
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: []string{e.certARN}, VersionInfo: r2.VersionInfo, ResponseNonce: r2.Nonce}); err != nil {
		t.Fatal(err)
	}
	// Clusters, then an UpdateVirtualNode pushed without asking.
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	c1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if c1.TypeUrl != resourcev3.ClusterType || len(c1.Resources) != 1 {
		t.Fatalf("clusters: %s %d", c1.TypeUrl, len(c1.Resources))
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: c1.VersionInfo, ResponseNonce: c1.Nonce}); err != nil {
		t.Fatal(err)
	}
	e.putNode(t, 9081, false)
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.TypeUrl == resourcev3.ClusterType {
			if r.VersionInfo == c1.VersionInfo {
				t.Fatal("UpdateVirtualNode pushed an unchanged configuration")
			}
			break
		}
	}
	cancel()
	if n := countStreamEvents(t, e.srv, e.nodeARN, ""); n != 1 {
		t.Fatalf("%d allowed-stream audit events, want 1", n)
	}
}

// TestXDSStreamRefusals is the attack class "stream a configuration you
// may not read": unsigned, wrongly scoped, unknown keys, and principals
// without the permission for the node they name are all refused, each
// with its own audit event.
func TestXDSStreamRefusals(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	gatewayARN := fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/color-mesh/virtualGateway/colorgateway", servertest.Region, servertest.AccountID)
	allowed := e.user(t, "teller", streamPolicy(e.nodeARN))
	gateway := e.user(t, "gateway", streamPolicy(gatewayARN))
	nobody := e.user(t, "nobody", "")
	cases := []struct {
		name    string
		creds   aws.CredentialsProvider
		service string
		node    string
		code    codes.Code
		audited string
	}{
		{"unsigned", nil, "", e.nodeARN, codes.Unauthenticated, "UnrecognizedClientException"},
		{"signed for another service", allowed, "kms", e.nodeARN, codes.Unauthenticated, "UnrecognizedClientException"},
		{"unknown access key", credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", "secret", ""), "", e.nodeARN, codes.Unauthenticated, "UnrecognizedClientException"},
		{"wrong secret", credentials.NewStaticCredentialsProvider(mustKeyID(t, allowed), "not-the-secret", ""), "", e.nodeARN, codes.Unauthenticated, "UnrecognizedClientException"},
		{"no permission", nobody, "", e.nodeARN, codes.PermissionDenied, "AccessDeniedException"},
		{"permission for another resource", gateway, "", e.nodeARN, codes.PermissionDenied, "AccessDeniedException"},
		{"legacy node id of a resource not allowed", allowed, "", "mesh/color-mesh/virtualNode/other", codes.PermissionDenied, "AccessDeniedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, err := e.dial(t, tc.creds, tc.service).StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: tc.node}, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatal(err)
			}
			_, err = st.Recv()
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
	for _, code := range []string{"UnrecognizedClientException", "AccessDeniedException"} {
		if countStreamEvents(t, e.srv, "", code) == 0 {
			t.Errorf("no audit event with errorCode %s", code)
		}
	}
}

func mustKeyID(t *testing.T, p aws.CredentialsProvider) string {
	c, err := p.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c.AccessKeyID
}

// countStreamEvents counts StreamAggregatedResources audit events, for a
// resource ARN ("" for any) with an error code ("" for allowed ones).
func countStreamEvents(t *testing.T, srv *servertest.Server, arn, errCode string) int {
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
		if ev.EventName != "StreamAggregatedResources" || ev.ErrorCode != errCode {
			continue
		}
		if arn == "" || len(ev.Resources) == 1 && ev.Resources[0].ARN == arn {
			n++
		}
	}
	return n
}
