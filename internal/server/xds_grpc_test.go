package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	meshtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	grpcxds "google.golang.org/grpc/xds"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// echoService answers each call with the serial of the caller's client
// certificate, as the server saw it in the TLS handshake.
var echoService = grpc.ServiceDesc{
	ServiceName: "bulwark.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Echo", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := &wrapperspb.StringValue{}
		if err := dec(in); err != nil {
			return nil, err
		}
		return wrapperspb.String(peerSerial(ctx)), nil
	}}},
}

func peerSerial(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	return tlsPeerSerial(p)
}

func tlsPeerSerial(p *peer.Peer) string {
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return ""
	}
	return ti.State.PeerCertificates[0].SerialNumber.String()
}

// grpcCertDir keeps one ACM certificate on disk the way `bulwark certs
// fetch --watch` does: exported to Secrets Manager, then written to a
// directory as cert.pem/chain.pem/key.pem.
type grpcCertDir struct {
	arn, dir string
	acm      *awsacm.Client
	sm       *secretsmanager.Client
	w        *certsync.Watcher
}

func (c *grpcCertDir) sync(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	prefix := "grpc/" + filepath.Base(c.dir)
	if _, err := certsync.Export(ctx, c.acm, c.sm, certsync.ExportInput{CertificateARN: c.arn, SecretPrefix: prefix}); err != nil {
		t.Fatal(err)
	}
	if c.w == nil {
		c.w = &certsync.Watcher{Secrets: c.sm, Prefix: prefix, Writer: &certsync.Writer{Dir: c.dir}}
	}
	if _, err := c.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cert, _, _, err := certsync.ReadCurrent(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(cert)
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

// TestProxylessGRPCWithXDSMTLS: gRPC-Go's own xDS implementation — an
// xDS-enabled gRPC server and a client dialing xds:///service:port —
// takes its listeners, routes, clusters, endpoints and mTLS settings from
// Bulwark's management server for a mesh made through the App Mesh API,
// serves RPCs over mTLS with certificates from ACM kept on disk as
// `bulwark certs fetch` does, and follows a renewal of both certificates
// without a failed RPC: new connections use the new serials.
func TestProxylessGRPCWithXDSMTLS(t *testing.T) {
	t.Parallel()
	e := startXDSEnvNoListener(t, func(c *server.Config) { c.XDSAllowUnsigned = true })
	xln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.srv.ServeXDS(xln, nil) }()
	ctx := context.Background()
	cfg := e.srv.AWSConfig()
	sm := secretsmanager.NewFromConfig(cfg)

	// A private CA and two ACM certificates: the server's and the client's.
	p := acmpca.NewFromConfig(cfg)
	caARN := newRootCA(t, p, "greeter CA")
	cert := func(domain string) string {
		out, err := e.acm.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String(domain), CertificateAuthorityArn: &caARN})
		if err != nil {
			t.Fatal(err)
		}
		return *out.CertificateArn
	}
	serverCert := &grpcCertDir{arn: cert("greeter.mesh.local"), dir: filepath.Join(t.TempDir(), "greeter"), acm: e.acm, sm: sm}
	clientCert := &grpcCertDir{arn: cert("client.mesh.local"), dir: filepath.Join(t.TempDir(), "client"), acm: e.acm, sm: sm}
	serverSerial, clientSerial := serverCert.sync(t), clientCert.sync(t)

	// The gRPC server's port decides the virtual node's listener.
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := gln.Addr().(*net.TCPAddr).Port
	mesh := aws.String("grpc-mesh")
	if _, err := e.mesh.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: mesh}); err != nil {
		t.Fatal(err)
	}
	sans := func(name string) *meshtypes.SubjectAlternativeNames {
		return &meshtypes.SubjectAlternativeNames{Match: &meshtypes.SubjectAlternativeNameMatchers{Exact: []string{name}}}
	}
	// App Mesh takes a listener's trust and a client policy's certificate
	// from files or SDS only; for gRPC they are certificate-provider
	// instances named "file:PATH", the ACM ones by their ARNs.
	const serverTrustFile, clientCertFile, clientKeyFile = "/etc/greeter/ca.pem", "/etc/client/cert.pem", "/etc/client/key.pem"
	if _, err := e.mesh.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("greeter"), Spec: &meshtypes.VirtualNodeSpec{
		Listeners: []meshtypes.Listener{{
			PortMapping: &meshtypes.PortMapping{Port: aws.Int32(int32(port)), Protocol: meshtypes.PortProtocolGrpc},
			Tls: &meshtypes.ListenerTls{Mode: meshtypes.ListenerTlsModeStrict,
				Certificate: &meshtypes.ListenerTlsCertificateMemberAcm{Value: meshtypes.ListenerTlsAcmCertificate{CertificateArn: &serverCert.arn}},
				Validation: &meshtypes.ListenerTlsValidationContext{
					Trust:                   &meshtypes.ListenerTlsValidationContextTrustMemberFile{Value: meshtypes.TlsValidationContextFileTrust{CertificateChain: aws.String(serverTrustFile)}},
					SubjectAlternativeNames: sans("client.mesh.local")}},
		}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("127.0.0.1")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mesh.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("greeter.mesh.local"), Spec: &meshtypes.VirtualServiceSpec{
		Provider: &meshtypes.VirtualServiceProviderMemberVirtualNode{Value: meshtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("greeter")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mesh.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("client"), Spec: &meshtypes.VirtualNodeSpec{
		Backends: []meshtypes.Backend{&meshtypes.BackendMemberVirtualService{Value: meshtypes.VirtualServiceBackend{VirtualServiceName: aws.String("greeter.mesh.local"),
			ClientPolicy: &meshtypes.ClientPolicy{Tls: &meshtypes.ClientPolicyTls{Enforce: aws.Bool(true),
				Certificate: &meshtypes.ClientTlsCertificateMemberFile{Value: meshtypes.ListenerTlsFileCertificate{CertificateChain: aws.String(clientCertFile), PrivateKey: aws.String(clientKeyFile)}},
				Validation: &meshtypes.TlsValidationContext{
					Trust:                   &meshtypes.TlsValidationContextTrustMemberAcm{Value: meshtypes.TlsValidationContextAcmTrust{CertificateAuthorityArns: []string{caARN}}},
					SubjectAlternativeNames: sans("greeter.mesh.local")}}}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	bootstrap := func(node string, providers map[string]string) []byte {
		b, err := xds.GRPCBootstrap(xds.GRPCBootstrapOptions{
			ResourceARN: fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/grpc-mesh/virtualNode/%s", servertest.Region, servertest.AccountID, node),
			XDSAddress:  xln.Addr().String(), Auth: xds.AuthNone, Plaintext: true,
			CertificateProviders: providers, RefreshInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// The xDS-enabled gRPC server. Connections live at most half a second
	// (then GOAWAY, gracefully): new handshakes are what pick up renewed
	// certificates, as with any TLS server.
	screds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	var servingOnce sync.Once
	gs, err := grpcxds.NewGRPCServer(grpc.Creds(screds),
		grpcxds.ServingModeCallback(func(_ net.Addr, args grpcxds.ServingModeChangeArgs) {
			if args.Mode == connectivity.ServingModeServing {
				servingOnce.Do(func() { close(serving) })
			}
		}),
		grpcxds.BootstrapContentsForTesting(bootstrap("greeter", map[string]string{serverCert.arn: serverCert.dir, "file:" + serverTrustFile: serverCert.dir})),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 500 * time.Millisecond, MaxConnectionAgeGrace: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	gs.RegisterService(&echoService, struct{}{})
	go func() { _ = gs.Serve(gln) }()
	t.Cleanup(gs.Stop)

	// Start-up (the server's listener arriving over xDS) is given a
	// minute, for loaded CI machines; the RPCs below then have no slack.
	select {
	case <-serving:
	case <-time.After(time.Minute):
		t.Fatalf("the gRPC server never got its listener over xDS; connected nodes: %+v", e.srv.XDS().Status())
	}

	// The client dials the virtual service and port, as the API listener
	// names them.
	resolver, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap("client", map[string]string{"file:" + clientCertFile: clientCert.dir, "trust:" + caARN: clientCert.dir}))
	if err != nil {
		t.Fatal(err)
	}
	ccreds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///greeter.mesh.local:"+strconv.Itoa(port), grpc.WithTransportCredentials(ccreds), grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	// The client's first call also waits for its configuration.
	{
		fctx, fcancel := context.WithTimeout(ctx, time.Minute)
		err := conn.Invoke(fctx, "/bulwark.test.Echo/Echo", wrapperspb.String("hi"), &wrapperspb.StringValue{}, grpc.WaitForReady(true))
		fcancel()
		if err != nil {
			t.Fatalf("first call: %v; connected nodes: %+v", err, e.srv.XDS().Status())
		}
	}

	// RPCs without pause until the end; every one must succeed over mTLS.
	type seen struct{ server, client string } // serials each side saw of the other
	var (
		mu       sync.Mutex
		last     seen
		calls    atomic.Int64
		failed   atomic.Int64
		firstErr error
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var pr peer.Peer
			out := &wrapperspb.StringValue{}
			err := conn.Invoke(cctx, "/bulwark.test.Echo/Echo", wrapperspb.String("hi"), out, grpc.Peer(&pr), grpc.WaitForReady(true))
			cancel()
			calls.Add(1)
			mu.Lock()
			if err != nil {
				if failed.Add(1) == 1 {
					firstErr = err
				}
			} else {
				last = seen{server: tlsPeerSerial(&pr), client: out.GetValue()}
			}
			mu.Unlock()
		}
	}()
	waitFor := func(what string, want seen) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got, ferr := last, firstErr
			mu.Unlock()
			if ferr != nil {
				close(stop)
				<-done
				t.Fatalf("an RPC failed: %v", ferr)
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				close(stop)
				<-done
				t.Fatalf("%s: the peers saw serials %+v, want %+v (%d calls)", what, got, want, calls.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("first mTLS call", seen{server: serverSerial, client: clientSerial})

	// A client whose certificate chains to the same CA but does not carry
	// the listener's subject alternative name is refused by the server
	// (the RBAC filter Bulwark sends for the listener's validation SANs).
	intruder := &grpcCertDir{arn: cert("intruder.mesh.local"), dir: filepath.Join(t.TempDir(), "intruder"), acm: e.acm, sm: sm}
	intruder.sync(t)
	iresolver, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap("client", map[string]string{"file:" + clientCertFile: intruder.dir, "trust:" + caARN: intruder.dir}))
	if err != nil {
		t.Fatal(err)
	}
	iconn, err := grpc.NewClient("xds:///greeter.mesh.local:"+strconv.Itoa(port), grpc.WithTransportCredentials(ccreds), grpc.WithResolvers(iresolver))
	if err != nil {
		t.Fatal(err)
	}
	defer iconn.Close()
	ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
	err = iconn.Invoke(ictx, "/bulwark.test.Echo/Echo", wrapperspb.String("hi"), &wrapperspb.StringValue{}, grpc.WaitForReady(true))
	icancel()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a client without the listener's SAN got %v, want PermissionDenied", err)
	}

	// Renew both certificates through ACM and write them where the
	// applications read them, as `bulwark certs fetch --watch` does.
	for _, c := range []*grpcCertDir{serverCert, clientCert} {
		if _, err := e.acm.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: &c.arn}); err != nil {
			t.Fatal(err)
		}
	}
	newServer, newClient := serverCert.sync(t), clientCert.sync(t)
	if newServer == serverSerial || newClient == clientSerial {
		t.Fatal("the renewal did not change the serials")
	}
	waitFor("after the renewal", seen{server: newServer, client: newClient})
	before := calls.Load()
	for calls.Load() < before+20 {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d RPCs failed; first: %v", n, calls.Load(), firstErr)
	}
	t.Logf("%d RPCs, none failed; serials server %s→%s, client %s→%s", calls.Load(), serverSerial, newServer, clientSerial, newClient)
}

// newRootCA creates an active root CA through the ACM PCA API.
func newRootCA(t *testing.T, p *acmpca.Client, cn string) string {
	t.Helper()
	ctx := context.Background()
	ca, err := p.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String(cn)}},
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
	return caARN
}

// TestProxylessGRPCClientCertificateStream: a gRPC application
// authenticates its xDS stream the way `bulwark mesh bootstrap --grpc
// --auth mtls` sets it up — gRPC's "tls" channel credentials with a client
// certificate whose URI SAN is the node's ARN, against a server that
// allows no unsigned stream — resolves a service and calls it; with a
// certificate naming another node its stream is refused and it resolves
// nothing.
func TestProxylessGRPCClientCertificateStream(t *testing.T) {
	t.Parallel()
	e := startXDSEnvNoListener(t)
	ctx := context.Background()
	pki := newTestPKI(t, "xds client CA")
	pool := x509.NewCertPool()
	pool.AddCert(pki.cert)
	xln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCreds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pki.leaf(t, "localhost")},
		ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven})
	go func() { _ = e.srv.ServeXDS(xln, serverCreds) }()
	dir := t.TempDir()
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := writePEM("ca.pem", "CERTIFICATE", pki.cert.Raw)

	// A plaintext gRPC server behind a virtual node without TLS.
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&echoService, struct{}{})
	go func() { _ = gs.Serve(gln) }()
	t.Cleanup(gs.Stop)
	port := gln.Addr().(*net.TCPAddr).Port
	mesh := aws.String("plain-mesh")
	if _, err := e.mesh.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: mesh}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mesh.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("echo"), Spec: &meshtypes.VirtualNodeSpec{
		Listeners:        []meshtypes.Listener{{PortMapping: &meshtypes.PortMapping{Port: aws.Int32(int32(port)), Protocol: meshtypes.PortProtocolGrpc}}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("127.0.0.1")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mesh.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("echo.mesh.local"), Spec: &meshtypes.VirtualServiceSpec{
		Provider: &meshtypes.VirtualServiceProviderMemberVirtualNode{Value: meshtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("echo")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mesh.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("caller"), Spec: &meshtypes.VirtualNodeSpec{
		Backends: []meshtypes.Backend{&meshtypes.BackendMemberVirtualService{Value: meshtypes.VirtualServiceBackend{VirtualServiceName: aws.String("echo.mesh.local")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	callerARN := fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/plain-mesh/virtualNode/caller", servertest.Region, servertest.AccountID)
	cases := []struct {
		name   string
		uri    string // the client certificate's URI SAN
		wantOK bool
	}{
		{"certificate naming the node", callerARN, true},
		{"certificate naming another node", strings.Replace(callerARN, "caller", "echo", 1), false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaf := pki.leaf(t, "", tc.uri)
			keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			b, err := xds.GRPCBootstrap(xds.GRPCBootstrapOptions{ResourceARN: callerARN, XDSAddress: "localhost:" + strconv.Itoa(xln.Addr().(*net.TCPAddr).Port),
				Auth: xds.AuthMTLS, CAFile: caFile,
				ClientCertFile: writePEM(fmt.Sprintf("client%d.pem", i), "CERTIFICATE", leaf.Certificate[0]),
				ClientKeyFile:  writePEM(fmt.Sprintf("client%d.key", i), "PRIVATE KEY", keyDER)})
			if err != nil {
				t.Fatal(err)
			}
			resolver, err := grpcxds.NewXDSResolverWithConfigForTesting(b)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := grpc.NewClient("xds:///echo.mesh.local:"+strconv.Itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err = conn.Invoke(cctx, "/bulwark.test.Echo/Echo", wrapperspb.String("hi"), &wrapperspb.StringValue{})
			if tc.wantOK && err != nil {
				t.Fatalf("call over an mTLS-authenticated xDS stream: %v", err)
			}
			if !tc.wantOK {
				if err == nil {
					t.Fatal("a client certificate naming another node resolved the service")
				}
				// How gRPC reports a refused xDS stream varies (the stream
				// error, or "zero addresses"); the server's audit log says
				// which refusal it was.
				refused := false
				for _, ev := range readAudit(t, e.srv) {
					if ev.EventName == "StreamAggregatedResources" && ev.ErrorCode == "UnrecognizedClientException" && strings.Contains(fmt.Sprint(ev.RequestParameters), callerARN) {
						refused = true
					}
				}
				if !refused {
					t.Fatalf("the call failed (%v) but no refused stream was audited", err)
				}
			}
		})
	}
}
