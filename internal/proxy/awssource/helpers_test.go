package awssource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/admin"
	"github.com/bulwarkd/bulwark/internal/proxy/awssource"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pki is the seed's two CA hierarchies in a real server: one for
// ColorTeller (server certificates), one for ColorGateway (client
// certificates), each with one ACM certificate.
type pki struct {
	srv                  *servertest.Server
	pca                  *acmpca.Client
	acm                  *awsacm.Client
	sm                   *secretsmanager.Client
	tellerCA, gatewayCA  string
	tellerCert, gwCert   string
	tellerCAPEM, gwCAPEM string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	k := &pki{srv: srv, pca: acmpca.NewFromConfig(cfg), acm: awsacm.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg)}
	k.tellerCA, k.tellerCAPEM = k.rootCA(t, "ColorTeller Root")
	k.gatewayCA, k.gwCAPEM = k.rootCA(t, "ColorGateway Root")
	k.tellerCert = k.request(t, k.tellerCA, "colorteller.mesh.local")
	k.gwCert = k.request(t, k.gatewayCA, "colorgateway.mesh.local")
	return k
}

func (k *pki) rootCA(t *testing.T, cn string) (string, string) {
	t.Helper()
	ctx := context.Background()
	sig := pcatypes.SigningAlgorithmSha256withecdsa
	out, err := k.pca.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: sig,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String(cn)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := *out.CertificateAuthorityArn
	csr, err := k.pca.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := k.pca.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &arn, Csr: []byte(*csr.Csr), SigningAlgorithm: sig,
		TemplateArn: aws.String("arn:aws:acm-pca:::template/RootCACertificate/V1"),
		Validity:    &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeYears, Value: aws.Int64(10)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.pca.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &arn, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.pca.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &arn, Certificate: []byte(*got.Certificate)}); err != nil {
		t.Fatal(err)
	}
	return arn, *got.Certificate
}

func (k *pki) request(t *testing.T, ca, domain string) string {
	t.Helper()
	out, err := k.acm.RequestCertificate(context.Background(), &awsacm.RequestCertificateInput{DomainName: aws.String(domain), CertificateAuthorityArn: &ca})
	if err != nil {
		t.Fatal(err)
	}
	return *out.CertificateArn
}

// exportToSecrets writes the four secrets of prefix the way `bulwark
// certs export-to-secrets` does, with the SDK directly.
func (k *pki) exportToSecrets(t *testing.T, arn, prefix string) {
	t.Helper()
	ctx := context.Background()
	pass := "s3cretPassphrase42"
	out, err := k.acm.ExportCertificate(ctx, &awsacm.ExportCertificateInput{CertificateArn: &arn, Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	n := certsync.NamesFor(prefix)
	for name, v := range map[string]string{n.Certificate: *out.Certificate, n.Chain: *out.CertificateChain, n.PrivateKey: *out.PrivateKey, n.Passphrase: pass} {
		if _, err := k.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(v)}); err != nil {
			t.Fatal(err)
		}
	}
}

// principal creates an IAM user with one inline policy and returns its
// SDK configuration.
func (k *pki) principal(t *testing.T, name string, statements ...string) aws.Config {
	t.Helper()
	ctx := context.Background()
	iam := k.srv.IAM()
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
	return k.srv.AWSConfigFor(key.AccessKeyID, secret)
}

func allow(action, resource string) string {
	return `{"Effect":"Allow","Action":"` + action + `","Resource":"` + resource + `"}`
}

// secretARN is the ARN pattern of a secret name (Secrets Manager appends
// a random suffix to every secret ARN).
func secretARN(name string) string {
	return "arn:aws:secretsmanager:" + servertest.Region + ":" + servertest.AccountID + ":secret:" + name + "-*"
}

func factory(cfg aws.Config, interval time.Duration) *awssource.Factory {
	return awssource.New(awssource.Config{
		ACM: awsacm.NewFromConfig(cfg), PCA: acmpca.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg),
		Interval: interval,
	})
}

func startApp(t *testing.T) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "yellow") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	return ln.Addr().String(), port
}

func run(t *testing.T, p *proxy.Proxy) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.For(t, 5*time.Second, "the condition", func() bool { return p.State() == "LIVE" })
}

func adminGet(t *testing.T, p *proxy.Proxy, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.AdminAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// stat reads one stat from /stats; -1 when absent.
func stat(t *testing.T, p *proxy.Proxy, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(adminGet(t, p, "/stats"), "\n") {
		if n, v, ok := strings.Cut(line, ": "); ok && n == name {
			x, _ := strconv.ParseInt(v, 10, 64)
			return x
		}
	}
	return -1
}

// certSerials returns the leaf serials /certs shows per source name.
func certSerials(t *testing.T, p *proxy.Proxy) map[string]string {
	t.Helper()
	var c admin.Certs
	if err := json.Unmarshal([]byte(adminGet(t, p, "/certs")), &c); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cc := range c.Certificates {
		if len(cc.CertChain) > 0 {
			out[cc.Name] = cc.CertChain[0].SerialNumber
		}
	}
	return out
}

func listenerStat(p *proxy.Proxy, port int, suffix string) string {
	return "listener." + strings.Replace(p.ListenerAddr(port), ":", "_", 1) + "." + suffix
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func pool(t *testing.T, pemText string) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(pemText)) {
		t.Fatal("no CA certificate")
	}
	return p
}

// snapshots builds the sidecar's and the gateway's snapshots: the sidecar
// serves the app on a STRICT listener with tellerTLS; the gateway routes
// "/" to it with the client policy.
func snapshots(appPort int, sidecarAddr string, tellerTLS *spec.ListenerTLS, policy *spec.ClientPolicyTLS) (sc, gw *spec.Snapshot) {
	node := spec.VirtualNodeSpec{
		Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: appPort, Protocol: "http"}, TLS: tellerTLS}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "colorteller.mesh.local"}},
	}
	sc = &spec.Snapshot{MeshName: "color-mesh", VirtualNode: &spec.NamedVirtualNode{Name: "colorteller", Spec: node}}
	remote := node
	remote.Listeners = []spec.Listener{{PortMapping: node.Listeners[0].PortMapping}}
	remote.ServiceDiscovery = &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: sidecarAddr}}
	prefix := "/"
	gwSpec := spec.VirtualGatewaySpec{
		Listeners:       []spec.Listener{{PortMapping: &spec.PortMapping{Port: 8080, Protocol: "http"}}},
		BackendDefaults: &spec.BackendDefaults{ClientPolicy: &spec.ClientPolicy{TLS: policy}},
	}
	gw = &spec.Snapshot{
		MeshName:       "color-mesh",
		VirtualGateway: &spec.NamedVirtualGateway{Name: "colorgateway", Spec: gwSpec},
		GatewayRoutes: []spec.NamedGatewayRoute{{Name: "to-colorteller", Spec: spec.GatewayRouteSpec{HTTPRoute: &spec.HTTPGatewayRoute{
			Match:  &spec.HTTPRouteMatch{Prefix: &prefix},
			Action: &spec.HTTPGatewayRouteAction{Target: &spec.GatewayRouteTarget{VirtualService: &spec.GatewayRouteService{VirtualServiceName: "colorteller.mesh.local"}}},
		}}}},
		VirtualServices: []spec.NamedVirtualService{{Name: "colorteller.mesh.local", Spec: spec.VirtualServiceSpec{Provider: &spec.VirtualServiceProvider{VirtualNode: &spec.VirtualNodeProvider{VirtualNodeName: "colorteller"}}}}},
		VirtualNodes:    []spec.NamedVirtualNode{{Name: "colorteller", Spec: remote}},
	}
	return sc, gw
}

func selfSignedCA(t *testing.T) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
