package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	mt "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// TestColorAppWithRealEnvoy runs the seed's Color App with real Envoy
// data planes configured by Bulwark over xDS: a ColorGateway Envoy (virtual
// gateway) in front of a ColorTeller Envoy (virtual node, ingress listener
// 0.0.0.0:15000), each bootstrapped by `bulwark mesh bootstrap`, and reads
// the seed's statistics from the ColorTeller Envoy's admin:
// listener.0.0.0.0_15000.ssl.handshake grows in both modes, and
// ssl.no_certificate grows with one-way TLS and stays 0 with mTLS.
//
// It needs an `envoy` binary on PATH (none is installable on the build
// machines, where it is skipped). Certificates are file sources: streams
// authenticated without SigV4 (here: unsigned, on the dev server's
// loopback xDS port) receive no ACM private keys (docs/xds.md).
func TestColorAppWithRealEnvoy(t *testing.T) {
	envoy, err := exec.LookPath("envoy")
	if err != nil {
		t.Skip("no envoy binary on PATH: the real-Envoy Color App test is skipped (install Envoy to run it)")
	}
	for _, mode := range []string{"one-way", "mtls"} {
		t.Run(mode, func(t *testing.T) { runColorAppEnvoy(t, envoy, mode) })
	}
}

func runColorAppEnvoy(t *testing.T, envoy, mode string) {
	dir := t.TempDir()
	xdsAddr := freePort(t)
	p := startDev(t, dir, "--xds-listen", xdsAddr, "--xds-allow-unsigned")
	ctx := ctxT(t)
	files := writeColorPKI(t, dir)

	// The ColorTeller application: plain HTTP on loopback, behind its Envoy.
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appPort := appLn.Addr().(*net.TCPAddr).Port
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "blue") })}
	go app.Serve(appLn)
	t.Cleanup(func() { app.Close() })

	m := appmesh.NewFromConfig(p.awsConfig())
	mesh := aws.String("color-mesh")
	if _, err := m.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: mesh}); err != nil {
		t.Fatal(err)
	}
	ltls := &mt.ListenerTls{Mode: mt.ListenerTlsModeStrict, Certificate: &mt.ListenerTlsCertificateMemberFile{Value: mt.ListenerTlsFileCertificate{
		CertificateChain: aws.String(files["teller.crt"]), PrivateKey: aws.String(files["teller.key"])}}}
	if mode == "mtls" {
		ltls.Validation = &mt.ListenerTlsValidationContext{Trust: &mt.ListenerTlsValidationContextTrustMemberFile{Value: mt.TlsValidationContextFileTrust{CertificateChain: aws.String(files["ca.crt"])}}}
	}
	if _, err := m.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("colorteller"), Spec: &mt.VirtualNodeSpec{
		Listeners: []mt.Listener{{PortMapping: &mt.PortMapping{Port: aws.Int32(int32(appPort)), Protocol: mt.PortProtocolHttp}, Tls: ltls}},
		// Reached through its Envoy's ingress listener (Bulwark's
		// host:port extension of DNS service discovery).
		ServiceDiscovery: &mt.ServiceDiscoveryMemberDns{Value: mt.DnsServiceDiscovery{Hostname: aws.String("127.0.0.1:15000")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("colorteller.mesh.local"), Spec: &mt.VirtualServiceSpec{
		Provider: &mt.VirtualServiceProviderMemberVirtualNode{Value: mt.VirtualNodeServiceProvider{VirtualNodeName: aws.String("colorteller")}}}}); err != nil {
		t.Fatal(err)
	}
	ctls := &mt.ClientPolicyTls{Enforce: aws.Bool(true), Validation: &mt.TlsValidationContext{Trust: &mt.TlsValidationContextTrustMemberFile{Value: mt.TlsValidationContextFileTrust{CertificateChain: aws.String(files["ca.crt"])}},
		SubjectAlternativeNames: &mt.SubjectAlternativeNames{Match: &mt.SubjectAlternativeNameMatchers{Exact: []string{"colorteller.mesh.local"}}}}}
	gtls := &mt.VirtualGatewayClientPolicyTls{Enforce: aws.Bool(true), Validation: &mt.VirtualGatewayTlsValidationContext{
		Trust:                   &mt.VirtualGatewayTlsValidationContextTrustMemberFile{Value: mt.VirtualGatewayTlsValidationContextFileTrust{CertificateChain: aws.String(files["ca.crt"])}},
		SubjectAlternativeNames: ctls.Validation.SubjectAlternativeNames}}
	if mode == "mtls" {
		gtls.Certificate = &mt.VirtualGatewayClientTlsCertificateMemberFile{Value: mt.VirtualGatewayListenerTlsFileCertificate{
			CertificateChain: aws.String(files["gateway.crt"]), PrivateKey: aws.String(files["gateway.key"])}}
	}
	gwPort := portOf(t, freePort(t))
	if _, err := m.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), Spec: &mt.VirtualGatewaySpec{
		Listeners:       []mt.VirtualGatewayListener{{PortMapping: &mt.VirtualGatewayPortMapping{Port: aws.Int32(int32(gwPort)), Protocol: mt.VirtualGatewayPortProtocolHttp}}},
		BackendDefaults: &mt.VirtualGatewayBackendDefaults{ClientPolicy: &mt.VirtualGatewayClientPolicy{Tls: gtls}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("colorgateway"), GatewayRouteName: aws.String("color"), Spec: &mt.GatewayRouteSpec{
		HttpRoute: &mt.HttpGatewayRoute{Match: &mt.HttpGatewayRouteMatch{Prefix: aws.String("/")},
			Action: &mt.HttpGatewayRouteAction{Target: &mt.GatewayRouteTarget{VirtualService: &mt.GatewayRouteVirtualService{VirtualServiceName: aws.String("colorteller.mesh.local")}}}}}}); err != nil {
		t.Fatal(err)
	}

	arn := func(kind, name string) string {
		return fmt.Sprintf("arn:aws:appmesh:us-east-1:%s:mesh/color-mesh/%s/%s", accountOf(t, p), kind, name)
	}
	tellerAdmin := freePort(t)
	startEnvoy(t, envoy, dir, "teller", arn("virtualNode", "colorteller"), xdsAddr, tellerAdmin)
	startEnvoy(t, envoy, dir, "gateway", arn("virtualGateway", "colorgateway"), xdsAddr, freePort(t))

	// Through the gateway until the configuration has arrived everywhere;
	// then a fixed number of requests, each a new TLS connection upstream
	// is not guaranteed, so only "grew" is checked.
	url := fmt.Sprintf("http://127.0.0.1:%d/", gwPort)
	var body string
	if !testwait.Until(60*time.Second, func() bool {
		body, err = get200(url)
		return err == nil && body == "blue"
	}) {
		t.Fatalf("the Color App did not answer through Envoy: %v %q", err, body)
	}
	handshakes := envoyStat(t, tellerAdmin, "listener.0.0.0.0_15000.ssl.handshake")
	noCert := envoyStat(t, tellerAdmin, "listener.0.0.0.0_15000.ssl.no_certificate")
	if handshakes == 0 {
		t.Error("listener.0.0.0.0_15000.ssl.handshake is 0: the ingress did not terminate TLS")
	}
	switch mode {
	case "one-way":
		if noCert == 0 {
			t.Error("one-way TLS: ssl.no_certificate is 0, want the gateway's handshakes without a client certificate")
		}
	case "mtls":
		if noCert != 0 {
			t.Errorf("mTLS: ssl.no_certificate = %d, want 0", noCert)
		}
	}
	// Envoy's metrics_service stats sink (from the bootstrap) reports the
	// same counters to the server, which ListConnectedProxies shows.
	var got struct{ Handshake, NoCertificate, VerifyFailed int }
	if !testwait.Until(30*time.Second, func() bool {
		var ok bool
		got, ok = reportedTLS(t, p, "color-mesh", "colorteller")["0.0.0.0_15000"]
		return ok && got.Handshake >= handshakes && (mode == "mtls") == (got.NoCertificate == 0)
	}) {
		t.Fatalf("ListConnectedProxies does not show the ColorTeller Envoy's TLS counters: %+v", got)
	}
}

// reportedTLS reads a virtual node's reported listener TLS counters with
// a signed BulwarkMesh.ListConnectedProxies call.
func reportedTLS(t *testing.T, p *proc, mesh, node string) map[string]struct{ Handshake, NoCertificate, VerifyFailed int } {
	t.Helper()
	body := []byte(`{"MeshName":"` + mesh + `"}`)
	req, _ := http.NewRequest("POST", p.endpoint+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "BulwarkMesh.ListConnectedProxies")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: devKeyID, SecretAccessKey: devSecret}, req, hex.EncodeToString(sum[:]), "bulwark", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Proxies []struct {
			ResourceName string
			TlsCounters  map[string]struct{ Handshake, NoCertificate, VerifyFailed int }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ListConnectedProxies: %d %v", resp.StatusCode, err)
	}
	for _, x := range out.Proxies {
		if x.ResourceName == node {
			return x.TlsCounters
		}
	}
	return nil
}

func get200(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

// startEnvoy writes the bootstrap `bulwark mesh bootstrap` prints and runs
// Envoy on it until the test ends.
func startEnvoy(t *testing.T, envoy, dir, name, arn, xdsAddr, admin string) {
	t.Helper()
	out, err := exec.Command(binary, "mesh", "bootstrap", "--resource-arn", arn, "--xds", xdsAddr, "--auth", "none", "--plaintext", "--admin", admin, "--stats-flush-interval", "1s").Output()
	if err != nil {
		t.Fatalf("mesh bootstrap: %v", err)
	}
	cfg := filepath.Join(dir, name+"-envoy.json")
	if err := os.WriteFile(cfg, out, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, name+"-envoy.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Each Envoy needs its own shared-memory base id.
	envoyBaseID++
	cmd := exec.Command(envoy, "-c", cfg, "--base-id", strconv.Itoa(os.Getpid()%10000*10+envoyBaseID), "--log-level", "info")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s Envoy log:\n%s", name, b)
		}
	})
}

// envoyBaseID numbers the Envoys a test run starts (tests here run one at
// a time: no t.Parallel).
var envoyBaseID int

var statLine = regexp.MustCompile(`(?m)^([^:]+): (\d+)$`)

// envoyStat reads one counter from Envoy's admin /stats.
func envoyStat(t *testing.T, admin, name string) int {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/stats?filter=" + regexp.QuoteMeta(name))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, m := range statLine.FindAllStringSubmatch(string(b), -1) {
		if strings.TrimSpace(m[1]) == name {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	t.Fatalf("Envoy has no stat %s:\n%s", name, b)
	return 0
}

func portOf(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// accountOf is the dev server's account id.
func accountOf(t *testing.T, p *proc) string {
	t.Helper()
	who, err := sts.NewFromConfig(p.awsConfig()).GetCallerIdentity(ctxT(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(who.Account)
}

// writeColorPKI writes a CA, the ColorTeller's server certificate
// (colorteller.mesh.local) and the gateway's client certificate as PEM
// files, and returns their paths by name.
func writeColorPKI(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	write := func(name string, typ string, der []byte) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		out[name] = path
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Color App CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.crt", "CERTIFICATE", caDER)
	for i, name := range []string{"teller", "gateway"} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: name}, DNSNames: []string{"color" + name + ".mesh.local"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalPKCS8PrivateKey(key)
		write(name+".crt", "CERTIFICATE", der)
		write(name+".key", "PRIVATE KEY", kder)
	}
	return out
}
