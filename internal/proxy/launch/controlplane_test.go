package launch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/launch"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/proxy/xdsclient"
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

// cutter forwards TCP to the xDS listener and can cut every stream and
// refuse new ones, as a network partition would.
type cutter struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	down    bool
	conns   []net.Conn
}

func newCutter(t *testing.T, backend string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, backend: backend}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			down := c.down
			if !down {
				c.conns = append(c.conns, in)
			}
			c.mu.Unlock()
			if down {
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", backend)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	for _, x := range c.conns {
		x.Close()
	}
	c.conns = nil
}

func (c *cutter) restore() {
	c.mu.Lock()
	c.down = false
	c.mu.Unlock()
}

// TestColorAppOverXDS runs the Color App from Bulwark's App Mesh API with
// both proxies fed by the server's xDS stream (SigV4-signed, each proxy
// its own principal allowed only appmesh:StreamAggregatedResources on its
// resource, and the sidecar acm:ExportCertificate on its own certificate,
// which the server requires before it sends a key over SDS): the
// ColorTeller sidecar's certificate is an ACM certificate delivered over
// SDS, the gateway trusts the
// ColorTeller CA through ACM PCA. One-way TLS and mTLS read as in the
// seed (ssl.handshake / ssl.no_certificate). Then, without a restart: a
// gateway route update is pushed and applied; a certificate renewal is
// swapped; the stream is cut and the proxies keep serving, then
// reconnect; and a setting the proxy cannot enforce is NACKed while the
// running configuration stays.
func TestColorAppOverXDS(t *testing.T) {
	t.Parallel()
	for _, mtls := range []bool{false, true} {
		name := "one-way"
		if mtls {
			name = "mtls"
		}
		t.Run(name, func(t *testing.T) { colorAppOverXDS(t, mtls) })
	}
}

func colorAppOverXDS(t *testing.T, mtls bool) {
	t.Parallel()
	srv := servertest.Start(t)
	xln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeXDS(xln, nil) }()
	cut := newCutter(t, xln.Addr().String())
	cfg := srv.AWSConfig()
	ctx := context.Background()
	pca, acmc, am := acmpca.NewFromConfig(cfg), awsacm.NewFromConfig(cfg), appmesh.NewFromConfig(cfg)
	ca := rootCA(t, pca, "ColorTeller Root")
	req, err := acmc.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("colorteller.mesh.local"), CertificateAuthorityArn: &ca})
	if err != nil {
		t.Fatal(err)
	}
	// mTLS: the sidecar requires a certificate of the ColorGateway CA
	// (a file trust), the gateway presents its own (files).
	pki := ""
	if mtls {
		pki = t.TempDir()
		writePKI(t, pki, "colorgateway", "colorgateway.mesh.local")
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
		tls := &amtypes.ListenerTls{Mode: amtypes.ListenerTlsModeStrict,
			Certificate: &amtypes.ListenerTlsCertificateMemberAcm{Value: amtypes.ListenerTlsAcmCertificate{CertificateArn: req.CertificateArn}}}
		if pki != "" {
			tls.Validation = &amtypes.ListenerTlsValidationContext{Trust: &amtypes.ListenerTlsValidationContextTrustMemberFile{
				Value: amtypes.TlsValidationContextFileTrust{CertificateChain: aws.String(filepath.Join(pki, "ca.pem"))}}}
		}
		return &amtypes.VirtualNodeSpec{
			Listeners:        []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(int32(a.port)), Protocol: amtypes.PortProtocolHttp}, Tls: tls}},
			ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String(hostname)}},
		}
	}
	must(am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("colorteller"), Spec: nodeSpec("colorteller.mesh.local")}))
	must(am.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("colorteller.mesh.local"),
		Spec: &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("colorteller")}}}}))
	clientTLS := &amtypes.VirtualGatewayClientPolicyTls{Validation: &amtypes.VirtualGatewayTlsValidationContext{
		Trust: &amtypes.VirtualGatewayTlsValidationContextTrustMemberAcm{Value: amtypes.VirtualGatewayTlsValidationContextAcmTrust{CertificateAuthorityArns: []string{ca}}},
	}}
	if pki != "" {
		clientTLS.Certificate = &amtypes.VirtualGatewayClientTlsCertificateMemberFile{Value: amtypes.VirtualGatewayListenerTlsFileCertificate{
			CertificateChain: aws.String(filepath.Join(pki, "colorgateway.pem")), PrivateKey: aws.String(filepath.Join(pki, "colorgateway.key"))}}
	}
	must(am.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), Spec: &amtypes.VirtualGatewaySpec{
		Listeners:       []amtypes.VirtualGatewayListener{{PortMapping: &amtypes.VirtualGatewayPortMapping{Port: aws.Int32(8080), Protocol: amtypes.VirtualGatewayPortProtocolHttp}}},
		BackendDefaults: &amtypes.VirtualGatewayBackendDefaults{ClientPolicy: &amtypes.VirtualGatewayClientPolicy{Tls: clientTLS}},
	}}))
	gwRoute := func(prefix string) *amtypes.GatewayRouteSpec {
		return &amtypes.GatewayRouteSpec{HttpRoute: &amtypes.HttpGatewayRoute{
			Match:  &amtypes.HttpGatewayRouteMatch{Prefix: aws.String(prefix)},
			Action: &amtypes.HttpGatewayRouteAction{Target: &amtypes.GatewayRouteTarget{VirtualService: &amtypes.GatewayRouteVirtualService{VirtualServiceName: aws.String("colorteller.mesh.local")}}},
		}}
	}
	must(am.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), GatewayRouteName: aws.String("colorteller-route"), Spec: gwRoute("/")}))

	// Each proxy may stream its own resource and, for the sidecar, receive
	// its own certificate's key over SDS: no appmesh:Describe*, no
	// acm-pca, no other certificate.
	stream := func(kind, name string) string {
		return `{"Effect":"Allow","Action":"appmesh:StreamAggregatedResources","Resource":"arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/` + kind + `/` + name + `"}`
	}
	scCfg := principal(t, srv, "colorteller-proxy", stream("virtualNode", "colorteller"),
		`{"Effect":"Allow","Action":"acm:ExportCertificate","Resource":"`+aws.ToString(req.CertificateArn)+`"}`)
	gwCfg := principal(t, srv, "colorgateway-proxy", stream("virtualGateway", "colorgateway"))
	opts := func(c *aws.Config, o launch.Options) launch.Options {
		o.XDS, o.AWS, o.AdminAddress = cut.addr(), c, "127.0.0.1:0"
		o.XDSDial = xdsclient.DialConfig{Plaintext: true}
		o.XDSMinBackoff, o.XDSMaxBackoff = 20*time.Millisecond, 100*time.Millisecond
		o.StatsFlushInterval = 50 * time.Millisecond
		return o
	}
	var scClient, gwClient *xdsclient.Client
	sc := start(t, opts(&scCfg, launch.Options{NodeID: "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller",
		Listeners: []spec.ListenerBinding{{Port: a.port, Address: "127.0.0.1:0"}}, XDSStarted: func(c *xdsclient.Client) { scClient = c }}))
	scAddr := sc.ListenerAddr(a.port)
	// The gateway dials the sidecar where it actually listens (host:port
	// discovery, a mesh on one machine).
	must(am.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("colorteller"), Spec: nodeSpec(scAddr)}))
	gw := start(t, opts(&gwCfg, launch.Options{Mesh: "color-mesh", VirtualGateway: "colorgateway",
		Listeners: []spec.ListenerBinding{{Port: 8080, Address: "127.0.0.1:0"}}, XDSStarted: func(c *xdsclient.Client) { gwClient = c }}))

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
	stat := func(suffix string) uint64 {
		return sc.Stats().Counter("listener.127.0.0.1_" + scAddr[len("127.0.0.1:"):] + "." + suffix).Value()
	}
	wantNoCert := uint64(1)
	if mtls {
		wantNoCert = 0
	}
	if h, n := stat("ssl.handshake"), stat("ssl.no_certificate"); h != 1 || n != wantNoCert {
		t.Errorf("ssl.handshake = %d, ssl.no_certificate = %d; want 1, %d", h, n, wantNoCert)
	}
	if got := sc.Stats().Gauge(stats.ControlPlaneConnected).Value(); got != 1 {
		t.Errorf("control_plane.connected_state = %d, want 1", got)
	}
	// The sidecar reports its stats over its xDS connection; the
	// console's API shows the listener's TLS counts. With mTLS, a
	// handshake without a client certificate is refused and counted.
	wantVerifyFailed := 0.0
	if mtls {
		if c, err := tls.Dial("tcp", scAddr, &tls.Config{InsecureSkipVerify: true}); err == nil {
			// TLS 1.3: the refusal arrives with the first read.
			_, _ = c.Read(make([]byte, 1))
			c.Close()
		}
		wantVerifyFailed = 1
	}
	listener := "127.0.0.1_" + scAddr[len("127.0.0.1:"):]
	testwait.For(t, 10*time.Second, "the sidecar's TLS counts in ListConnectedProxies", func() bool {
		for _, p := range listConnectedProxies(t, srv, "color-mesh") {
			if p.ResourceName != "colorteller" {
				continue
			}
			c := p.TlsCounters[listener]
			return c.Handshake == 1 && c.NoCertificate == float64(wantNoCert) && c.VerifyFailed == wantVerifyFailed && p.CounterReporters == 1
		}
		return false
	})

	// A spec change is pushed and applied without a restart.
	must(am.UpdateGatewayRoute(ctx, &appmesh.UpdateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), GatewayRouteName: aws.String("colorteller-route"), Spec: gwRoute("/color")}))
	testwait.For(t, 10*time.Second, "the condition", func() bool { code, _ := get("/"); return code == 404 })
	if code, body := get("/color"); code != 200 || body != "yellow" {
		t.Errorf("GET /color after the route update = %d %q", code, body)
	}

	// A renewal reaches the sidecar over SDS and is swapped in.
	serial := func() string {
		var s string
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error { s = cs.PeerCertificates[0].SerialNumber.String(); return nil }}}}
		resp, err := c.Get("https://" + scAddr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return s
	}
	if !mtls {
		before := serial()
		must(acmc.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: req.CertificateArn}))
		testwait.For(t, 10*time.Second, "the condition", func() bool { s := serial(); return s != "" && s != before })
	}

	// The stream is cut: both proxies keep serving the last configuration,
	// report it, and reconnect when the server is back.
	cut.cut()
	testwait.For(t, 10*time.Second, "the condition", func() bool { return !scClient.Status().Connected && !gwClient.Status().Connected })
	if got := gw.Stats().Gauge(stats.ControlPlaneConnected).Value(); got != 0 {
		t.Errorf("control_plane.connected_state while cut = %d, want 0", got)
	}
	if code, body := get("/color"); code != 200 || body != "yellow" {
		t.Errorf("GET /color with the stream cut = %d %q", code, body)
	}
	cut.restore()
	testwait.For(t, 10*time.Second, "the condition", func() bool { return scClient.Status().Connected && gwClient.Status().Connected })

	// A setting the proxy does not enforce (an idle timeout) is NACKed
	// with the reason; the running configuration stays.
	node := nodeSpec(scAddr)
	{
		node.Listeners[0].Timeout = &amtypes.ListenerTimeoutMemberHttp{Value: amtypes.HttpTimeout{Idle: &amtypes.Duration{Unit: amtypes.DurationUnitS, Value: aws.Int64(60)}}}
		rejected := sc.Stats().Counter(stats.XDSUpdateRejected).Value()
		must(am.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("colorteller"), Spec: node}))
		testwait.For(t, 10*time.Second, "the condition", func() bool { return sc.Stats().Counter(stats.XDSUpdateRejected).Value() > rejected })
		if r := scClient.Status().LastRejectReason; !strings.Contains(r, "idle timeout") {
			t.Errorf("NACK reason = %q, want the idle timeout named", r)
		}
		testwait.For(t, 10*time.Second, "the condition", func() bool {
			for _, n := range srv.XDS().Status() {
				if strings.HasSuffix(n.ARN, "virtualNode/colorteller") && n.LastNACK != nil && strings.Contains(n.LastNACK.Message, "idle timeout") {
					return true
				}
			}
			return false
		})
		if code, body := get("/color"); code != 200 || body != "yellow" {
			t.Errorf("GET /color after the refused change = %d %q", code, body)
		}
	}
}

type reportedProxy struct {
	ResourceName string
	TlsCounters  map[string]struct {
		Handshake, NoCertificate, VerifyFailed float64
	}
	CounterReporters int
}

// listConnectedProxies calls BulwarkMesh.ListConnectedProxies signed as
// the root user, as the console does.
func listConnectedProxies(t *testing.T, srv *servertest.Server, mesh string) []reportedProxy {
	t.Helper()
	body := []byte(`{"MeshName":"` + mesh + `"}`)
	req, _ := http.NewRequest("POST", srv.URL+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "BulwarkMesh.ListConnectedProxies")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "bulwark", servertest.Region, srv.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Proxies []reportedProxy }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ListConnectedProxies: %d %v", resp.StatusCode, err)
	}
	return out.Proxies
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
