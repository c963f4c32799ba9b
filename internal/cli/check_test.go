package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// writeCertAndKey writes a self-signed certificate valid for life and its
// key (with keyMode) into dir.
func writeCertAndKey(t *testing.T, dir, name string, life time.Duration, keyMode os.FileMode) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(life)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, keyMode); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// meshFile writes a one-listener sidecar mesh file; certificate is the
// YAML of the listener's tls.certificate, extra more listener settings.
func meshFile(t *testing.T, dir, certificate, extra string) string {
	t.Helper()
	doc := fmt.Sprintf(`proxy:
  adminAddress: 127.0.0.1:0
meshName: m
virtualNode:
  virtualNodeName: n
  spec:
    listeners:
      - portMapping: {port: 9080, protocol: http}
%s        tls:
          mode: STRICT
          certificate:
%s
    serviceDiscovery:
      dns: {hostname: n.mesh.local}
`, extra, certificate)
	p := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileCert(cert, key string) string {
	return fmt.Sprintf("            file: {certificateChain: %q, privateKey: %q}", cert, key)
}

// findingsOf returns "check subject-fragment" keys of the findings.
func hasFinding(fs []finding, check, subjectOrMessage string) bool {
	for _, f := range fs {
		if f.Check == check && (strings.Contains(f.Subject, subjectOrMessage) || strings.Contains(f.Message, subjectOrMessage)) {
			return true
		}
	}
	return false
}

// TestCheckFiles triggers each offline finding, and checks a clean input
// finds nothing.
func TestCheckFiles(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(t *testing.T, dir string) checkOptions
		wantCheck string // "" means no finding at all
		wantIn    string
	}{
		{"clean mesh file", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "ok", 365*24*time.Hour, 0o600)
			return checkOptions{MeshFile: meshFile(t, dir, fileCert(c, k), "")}
		}, "", ""},
		{"key readable by others", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "open", 365*24*time.Hour, 0o644)
			return checkOptions{MeshFile: meshFile(t, dir, fileCert(c, k), "")}
		}, "key-permissions", "chmod 600"},
		{"key readable by group", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "group", 365*24*time.Hour, 0o640)
			return checkOptions{MeshFile: meshFile(t, dir, fileCert(c, k), "")}
		}, "key-permissions", "group-key.pem"},
		{"certificate inside the renewal window", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "soon", 10*24*time.Hour, 0o600)
			return checkOptions{MeshFile: meshFile(t, dir, fileCert(c, k), "")}
		}, "expiry", "renewal window"},
		{"certificate expired", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "gone", -time.Minute, 0o600)
			return checkOptions{MeshFile: meshFile(t, dir, fileCert(c, k), "")}
		}, "expiry", "expired"},
		{"setting the proxy does not enforce", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "idle", 365*24*time.Hour, 0o600)
			return checkOptions{MeshFile: meshFile(t, dir, fileCert(c, k), "        timeout: {http: {idle: {unit: s, value: 30}}}\n")}
		}, "unenforced", "idle timeout"},
		{"mesh file that does not validate", func(t *testing.T, dir string) checkOptions {
			return checkOptions{MeshFile: meshFile(t, dir, "            {}", "")}
		}, "config", "mesh.yaml"},
		{"server config: TLS and master key files", func(t *testing.T, dir string) checkOptions {
			c, k := writeCertAndKey(t, dir, "tls", 365*24*time.Hour, 0o644)
			if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "bulwark.yaml")
			doc := fmt.Sprintf("tls: {cert: %q, key: %q}\nmasterKey: {file: master.key}\n", c, k)
			if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			return checkOptions{ServerConfig: p}
		}, "key-permissions", "tls-key.pem"},
		{"server config: master key readable", func(t *testing.T, dir string) checkOptions {
			if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "bulwark.yaml")
			if err := os.WriteFile(p, []byte("masterKey: {file: master.key}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return checkOptions{ServerConfig: p}
		}, "key-permissions", "master.key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.setup(t, t.TempDir())
			o.RenewBefore = 45 * 24 * time.Hour
			c := &checker{o: o, now: time.Now}
			if err := c.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.wantCheck == "" {
				if len(c.findings) != 0 {
					t.Errorf("findings on a clean input: %+v", c.findings)
				}
				return
			}
			if !hasFinding(c.findings, tc.wantCheck, tc.wantIn) {
				t.Errorf("no %s finding mentioning %q in %+v", tc.wantCheck, tc.wantIn, c.findings)
			}
			var out bytes.Buffer
			if err := c.report(&out, "json"); !errors.Is(err, errCheckFailed) {
				t.Errorf("report: %v, want errCheckFailed (exit status 1)", err)
			}
			var doc struct {
				OK       bool      `json:"ok"`
				Findings []finding `json:"findings"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.OK || len(doc.Findings) == 0 {
				t.Errorf("-o json: %v %s", err, out.String())
			}
		})
	}
}

// liveChecker is a checker against a test server.
func liveChecker(srv *servertest.Server, o checkOptions) *checker {
	if o.RenewBefore == 0 {
		o.RenewBefore = 45 * 24 * time.Hour
	}
	o.Live = true
	return &checker{o: o, now: srv.Clock.Now, endpoint: srv.URL, cfg: srv.AWSConfig(), http: &http.Client{Timeout: 10 * time.Second}}
}

// TestCheckLive triggers each live finding against a real server.
func TestCheckLive(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	cfg := srv.AWSConfig()
	pca, acmc, iamc := acmpca.NewFromConfig(cfg), acm.NewFromConfig(cfg), iam.NewFromConfig(cfg)

	// A hierarchy whose CA publishes its CRL under a name that is not the server.
	dir := t.TempDir()
	o := pkiOpts(dir, "Check")
	res, err := pkiInit(ctx, pca, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pca.UpdateCertificateAuthority(ctx, &acmpca.UpdateCertificateAuthorityInput{
		CertificateAuthorityArn: aws.String(res.SubordinateARN),
		RevocationConfiguration: &pcatypes.RevocationConfiguration{CrlConfiguration: &pcatypes.CrlConfiguration{
			Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7), CustomCname: aws.String("crl.elsewhere.example")}},
	}); err != nil {
		t.Fatal(err)
	}
	short, err := acmc.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("short.check.internal"),
		CertificateAuthorityArn: aws.String(res.SubordinateARN), Tags: []acmtypes.Tag{{Key: aws.String("bulwark:validity"), Value: aws.String("24h")}}})
	if err != nil {
		t.Fatal(err)
	}
	shortARN := aws.ToString(short.CertificateArn)

	// Principals: one with nothing, one with what a renewer needs.
	for _, u := range []string{"bare", "renewer-ok"} {
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
	}
	renewerDoc := `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["acm:DescribeCertificate","acm:RenewCertificate","acm:ExportCertificate"],"Resource":"arn:aws:acm:us-east-1:000000000000:certificate/*"},
 {"Effect":"Allow","Action":"secretsmanager:GetRandomPassword","Resource":"*"},
 {"Effect":"Allow","Action":["secretsmanager:CreateSecret","secretsmanager:PutSecretValue","secretsmanager:DescribeSecret"],"Resource":"arn:aws:secretsmanager:us-east-1:000000000000:secret:app/*"}]}`
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("renewer-ok"), PolicyName: aws.String("r"),
		PolicyDocument: aws.String(renewerDoc)}); err != nil {
		t.Fatal(err)
	}

	missingARN := "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"
	cases := []struct {
		name      string
		o         checkOptions
		skew      time.Duration
		wantCheck string
		wantIn    string
		absent    bool // the finding must not be there
	}{
		{name: "certificate inside the window without a renewer", wantCheck: "expiry", wantIn: shortARN},
		{name: "the same certificate with a renewer", o: checkOptions{Renewed: []string{shortARN}}, wantCheck: "expiry", wantIn: shortARN, absent: true},
		{name: "CRL URL elsewhere", wantCheck: "revocation-url", wantIn: "crl.elsewhere.example"},
		{name: "clock ahead", skew: 10 * time.Minute, wantCheck: "clock-skew", wantIn: "fix NTP"},
		{name: "clock a little off", skew: 2 * time.Minute, wantCheck: "clock-skew", wantIn: "check NTP"},
		{name: "clock in step", wantCheck: "clock-skew", wantIn: "", absent: true},
		{name: "principal without permissions", o: checkOptions{Principals: []string{"renewer=bare"}}, wantCheck: "permission", wantIn: "acm:RenewCertificate"},
		{name: "edge principal without kms", o: checkOptions{Principals: []string{"edge=renewer-ok"}}, wantCheck: "permission", wantIn: "kms:GetPublicKey"},
		{name: "renewer principal with its policy", o: checkOptions{Principals: []string{"renewer=renewer-ok"}}, wantCheck: "permission", wantIn: "", absent: true},
		{name: "unknown principal", o: checkOptions{Principals: []string{"proxy=nobody"}}, wantCheck: "permission", wantIn: "cannot read the user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := liveChecker(srv, tc.o)
			if tc.skew != 0 {
				c.now = func() time.Time { return time.Now().Add(tc.skew) }
			}
			if err := c.run(ctx); err != nil {
				t.Fatal(err)
			}
			got := hasFinding(c.findings, tc.wantCheck, tc.wantIn)
			if got == tc.absent {
				t.Errorf("%s finding mentioning %q present=%v, want %v; findings %+v", tc.wantCheck, tc.wantIn, got, !tc.absent, c.findings)
			}
		})
	}

	t.Run("unresolved ARN in a mesh file", func(t *testing.T) {
		d := t.TempDir()
		p := meshFile(t, d, fmt.Sprintf("            acm: {certificateArn: %q}", missingARN), "")
		c := liveChecker(srv, checkOptions{MeshFile: p, Renewed: []string{shortARN}})
		if err := c.run(ctx); err != nil {
			t.Fatal(err)
		}
		if !hasFinding(c.findings, "unresolved-arn", missingARN) {
			t.Errorf("no unresolved-arn finding: %+v", c.findings)
		}
	})
	t.Run("live mesh: unenforced setting and unresolved ARN", func(t *testing.T) {
		am := appmesh.NewFromConfig(cfg)
		if _, err := am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("checked")}); err != nil {
			t.Fatal(err)
		}
		_, err := am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("checked"), VirtualNodeName: aws.String("idle"),
			Spec: &amtypes.VirtualNodeSpec{Listeners: []amtypes.Listener{{
				PortMapping: &amtypes.PortMapping{Port: aws.Int32(9080), Protocol: amtypes.PortProtocolHttp},
				Timeout:     &amtypes.ListenerTimeoutMemberHttp{Value: amtypes.HttpTimeout{Idle: &amtypes.Duration{Unit: amtypes.DurationUnitS, Value: aws.Int64(30)}}},
				Tls: &amtypes.ListenerTls{Mode: amtypes.ListenerTlsModeStrict,
					Certificate: &amtypes.ListenerTlsCertificateMemberAcm{Value: amtypes.ListenerTlsAcmCertificate{CertificateArn: aws.String(missingARN)}}},
			}}}})
		if err != nil {
			t.Fatal(err)
		}
		c := liveChecker(srv, checkOptions{Mesh: "checked", Renewed: []string{shortARN}})
		if err := c.run(ctx); err != nil {
			t.Fatal(err)
		}
		if !hasFinding(c.findings, "unenforced", "idle timeout") || !hasFinding(c.findings, "unresolved-arn", missingARN) {
			t.Errorf("live mesh findings: %+v", c.findings)
		}
		empty := liveChecker(srv, checkOptions{Mesh: "nonexistent"})
		if err := empty.run(ctx); err != nil {
			t.Fatal(err)
		}
		if !hasFinding(empty.findings, "config", "mesh/nonexistent") {
			t.Errorf("a missing mesh gave no finding: %+v", empty.findings)
		}
	})
	t.Run("bad --principal", func(t *testing.T) {
		for _, p := range []string{"renewer", "renewer=", "janitor=bare"} {
			c := liveChecker(srv, checkOptions{Principals: []string{p}})
			if err := c.run(ctx); err == nil {
				t.Errorf("--principal %q accepted", p)
			}
		}
	})
}
