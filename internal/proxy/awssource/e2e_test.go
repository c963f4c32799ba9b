package awssource_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/awssource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/testwait"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// meshPair is a ColorTeller sidecar and a ColorGateway running on
// loopback with remote certificate sources.
type meshPair struct {
	sidecar, gateway *proxy.Proxy
	appPort          int
	gwURL            string
}

func startPair(t *testing.T, scSources, gwSources proxy.SourceFactory, tellerTLS *spec.ListenerTLS, policy *spec.ClientPolicyTLS, poll time.Duration) *meshPair {
	t.Helper()
	_, appPort := startApp(t)
	scSnap, _ := snapshots(appPort, "", tellerTLS, policy)
	sc, err := proxy.New(proxy.Config{Snapshot: scSnap, Sources: scSources, Logger: discard(), PollInterval: poll,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: appPort, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	run(t, sc)
	_, gwSnap := snapshots(appPort, sc.ListenerAddr(appPort), tellerTLS, policy)
	gw, err := proxy.New(proxy.Config{Snapshot: gwSnap, Sources: gwSources, Logger: discard(), PollInterval: poll,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: 8080, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	run(t, gw)
	return &meshPair{sidecar: sc, gateway: gw, appPort: appPort, gwURL: "http://" + gw.ListenerAddr(8080)}
}

// TestColorAppThroughACM is the seed's scenario with every certificate
// from the real APIs: ColorTeller's server certificate is exported from
// ACM by the sidecar's own least-privilege principal, the gateway trusts
// the ColorTeller CA through ACM PCA, and for mTLS the gateway's client
// certificate comes from the four secrets of an export (sds) while the
// sidecar trusts only the gateway CA chain secret.
func TestColorAppThroughACM(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	k.exportToSecrets(t, k.gwCert, "colorgateway")
	scCfg := k.principal(t, "colorteller-proxy",
		allow("acm:ExportCertificate", k.tellerCert), allow("acm:DescribeCertificate", k.tellerCert),
		// Only the gateway's CA chain, never its key.
		allow("secretsmanager:GetSecretValue", secretARN("colorgateway/certificate-chain")),
		allow("secretsmanager:DescribeSecret", secretARN("colorgateway/certificate-chain")))
	gwCfg := k.principal(t, "colorgateway-proxy",
		allow("acm-pca:GetCertificateAuthorityCertificate", k.tellerCA),
		allow("secretsmanager:GetSecretValue", secretARN("colorgateway/*")), allow("secretsmanager:DescribeSecret", secretARN("colorgateway/*")))
	for _, tc := range []struct {
		name       string
		mtls       bool
		wantNoCert int64
	}{
		{"one-way TLS", false, 1},
		{"mutual TLS", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tellerTLS := &spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: k.tellerCert}}}
			policy := &spec.ClientPolicyTLS{Validation: &spec.TLSValidationContext{
				Trust:                   &spec.TrustContext{ACM: &spec.ACMTrust{CertificateAuthorityArns: []string{k.tellerCA}}},
				SubjectAlternativeNames: &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: []string{"colorteller.mesh.local"}}},
			}}
			if tc.mtls {
				tellerTLS.Validation = &spec.ListenerTLSValidationContext{
					Trust:                   &spec.TrustContext{SDS: &spec.SDSTrust{SecretName: "colorgateway/certificate-chain"}},
					SubjectAlternativeNames: &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: []string{"colorgateway.mesh.local"}}},
				}
				policy.Certificate = &spec.ClientTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "colorgateway"}}
			}
			m := startPair(t, factory(scCfg, time.Minute).Sources, factory(gwCfg, time.Minute).Sources, tellerTLS, policy, 0)
			if code, body := get(t, m.gwURL+"/"); code != 200 || body != "yellow" {
				t.Fatalf("got %d %q, want 200 yellow", code, body)
			}
			for suffix, want := range map[string]int64{"ssl.handshake": 1, "ssl.no_certificate": tc.wantNoCert} {
				if got := stat(t, m.sidecar, listenerStat(m.sidecar, m.appPort, suffix)); got != want {
					t.Errorf("sidecar %s = %d, want %d", suffix, got, want)
				}
			}
			names := certSerials(t, m.sidecar)
			if _, ok := names["acm:"+k.tellerCert]; !ok {
				t.Errorf("sidecar /certs lacks the acm source: %v", names)
			}
			if tc.mtls {
				if _, ok := certSerials(t, m.gateway)["sds:colorgateway"]; !ok {
					t.Errorf("gateway /certs lacks the sds source")
				}
			}
		})
	}
}

// TestACMRenewalReloads renews the sidecar's ACM certificate while a
// client holds a keep-alive TLS connection to the sidecar: the proxy
// picks up the new certificate within its poll interval (/certs shows the
// new serial, new connections get it) and the open connection keeps
// working.
func TestACMRenewalReloads(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	ctx := context.Background()
	tellerTLS := &spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: k.tellerCert}}}
	policy := &spec.ClientPolicyTLS{Validation: &spec.TLSValidationContext{Trust: &spec.TrustContext{ACM: &spec.ACMTrust{CertificateAuthorityArns: []string{k.tellerCA}}}}}
	root := factory(k.srv.AWSConfig(), 100*time.Millisecond)
	m := startPair(t, root.Sources, root.Sources, tellerTLS, policy, 50*time.Millisecond)
	source := "acm:" + k.tellerCert
	before := certSerials(t, m.sidecar)[source]

	cfg := &tls.Config{RootCAs: pool(t, k.tellerCAPEM), ServerName: "colorteller.mesh.local", NextProtos: []string{"http/1.1"}}
	conn, err := tls.Dial("tcp", m.sidecar.ListenerAddr(m.appPort), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	roundTrip := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://colorteller.mesh.local/", nil)
		if err := req.Write(conn); err != nil {
			t.Fatalf("write on the open connection: %v", err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("read on the open connection: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := roundTrip(); got != "yellow" {
		t.Fatalf("first response %q", got)
	}

	if _, err := k.acm.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: aws.String(k.tellerCert)}); err != nil {
		t.Fatal(err)
	}
	desc, err := k.acm.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: aws.String(k.tellerCert)})
	if err != nil {
		t.Fatal(err)
	}
	newSerial := strings.ReplaceAll(aws.ToString(desc.Certificate.Serial), ":", "")
	testwait.For(t, 3*time.Second, "the condition", func() bool { return certSerials(t, m.sidecar)[source] != before })
	if got := strings.TrimLeft(certSerials(t, m.sidecar)[source], "0"); got != strings.TrimLeft(newSerial, "0") {
		t.Errorf("/certs serial = %s, want the renewed %s", got, newSerial)
	}
	if got := roundTrip(); got != "yellow" {
		t.Errorf("open connection after renewal answered %q", got)
	}
	fresh, err := tls.Dial("tcp", m.sidecar.ListenerAddr(m.appPort), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := x509util.ColonSerial(fresh.ConnectionState().PeerCertificates[0].SerialNumber); got != aws.ToString(desc.Certificate.Serial) {
		t.Errorf("new handshake served serial %s, want %s", got, aws.ToString(desc.Certificate.Serial))
	}
	if code, body := get(t, m.gwURL+"/"); code != 200 || body != "yellow" {
		t.Errorf("through the gateway after renewal: %d %q", code, body)
	}
	if v := stat(t, m.sidecar, stats.SourcePrefix(source)+stats.UpdateSuccess); v != 2 {
		t.Errorf("%s%s = %d, want 2 (first load and the renewal)", stats.SourcePrefix(source), stats.UpdateSuccess, v)
	}
}

// TestSDSNewSecretVersionReloads puts a new version of the four secrets
// (a re-export after renewal) and checks the gateway presents the new
// client certificate without a restart.
func TestSDSNewSecretVersionReloads(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	ctx := context.Background()
	k.exportToSecrets(t, k.gwCert, "colorgateway")
	gwCfg := k.srv.AWSConfig()
	f := factory(gwCfg, 100*time.Millisecond)
	name, src, err := f.Sources(proxy.CertRef{Certificate: &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "colorgateway"}}})
	if err != nil || name != "sds:colorgateway" {
		t.Fatalf("Sources: %q %v", name, err)
	}
	m1, err := src.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := src.(*awssource.SDSCertificate).Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.acm.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: aws.String(k.gwCert)}); err != nil {
		t.Fatal(err)
	}
	// Re-export: new versions of all four secrets, certificate last.
	out, err := k.acm.ExportCertificate(ctx, &awsacm.ExportCertificateInput{CertificateArn: aws.String(k.gwCert), Passphrase: []byte("an0therPassphrase")})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"colorgateway/private-key", *out.PrivateKey}, {"colorgateway/passphrase", "an0therPassphrase"},
		{"colorgateway/certificate-chain", *out.CertificateChain}, {"colorgateway/certificate", *out.Certificate}} {
		if _, err := k.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(kv[0]), SecretString: aws.String(kv[1]),
			ClientRequestToken: aws.String("5f0c1a52-3b7e-4d11-9a61-2c9e8b7d4e01")}); err != nil {
			t.Fatal(err)
		}
	}
	f.Expire()
	v2, err := src.(*awssource.SDSCertificate).Version(ctx)
	if err != nil || v2 == v1 {
		t.Fatalf("version after new secret versions = %q (was %q), %v", v2, v1, err)
	}
	m2, err := src.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Certificate.Leaf.SerialNumber.Cmp(m2.Certificate.Leaf.SerialNumber) == 0 {
		t.Error("the new secret version did not bring the renewed certificate")
	}
}

// TestLeastPrivilege checks that a principal without acm:ExportCertificate
// gets a start-up error naming the permission, and that the other
// refusals name theirs.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	k.exportToSecrets(t, k.gwCert, "colorgateway")
	for _, tc := range []struct {
		name   string
		grants []string
		tls    *spec.ListenerTLS
		want   string
	}{
		{"acm certificate without ExportCertificate", []string{allow("acm:DescribeCertificate", k.tellerCert)},
			&spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: k.tellerCert}}},
			"acm:ExportCertificate"},
		{"acm trust without GetCertificateAuthorityCertificate", []string{allow("acm:*", "*")},
			&spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: k.tellerCert}},
				Validation: &spec.ListenerTLSValidationContext{Trust: &spec.TrustContext{ACM: &spec.ACMTrust{CertificateAuthorityArns: []string{k.gatewayCA}}}}},
			"acm-pca:GetCertificateAuthorityCertificate"},
		{"sds certificate without GetSecretValue", []string{allow("secretsmanager:DescribeSecret", "*")},
			&spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "colorgateway"}}},
			"secretsmanager:GetSecretValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.principal(t, strings.ReplaceAll(tc.name, " ", "-"), tc.grants...)
			_, appPort := startApp(t)
			snap, _ := snapshots(appPort, "", tc.tls, nil)
			p, err := proxy.New(proxy.Config{Snapshot: snap, Sources: factory(cfg, time.Minute).Sources, Logger: discard(),
				Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: appPort, Address: "127.0.0.1:0"}}}})
			if err == nil {
				_ = p
				t.Fatal("proxy started without the permission")
			}
			if !errors.Is(err, awssource.ErrAccessDenied) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

// TestPassphraseAlphabet checks export passphrases avoid what ACM refuses.
func TestPassphraseAlphabet(t *testing.T) {
	t.Parallel()
	for range 50 {
		p, err := awssource.Passphrase(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) < 4 || len(p) > 128 || slices.ContainsFunc(p, func(b byte) bool { return strings.ContainsRune("#$%", rune(b)) }) {
			t.Fatalf("passphrase %q", p)
		}
	}
}
