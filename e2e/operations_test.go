package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// TestPublicURLInIssuedCertificates: --public-url, not the listen address
// nor a built-in default, is what issued certificates carry as CRL
// distribution point and OCSP URL.
func TestPublicURLInIssuedCertificates(t *testing.T) {
	const public = "https://bulwark.example.com:4641"
	p := startDev(t, t.TempDir(), "--public-url", public+"/")
	if !strings.Contains(p.output(), public) {
		t.Errorf("start-up output does not show the public URL:\n%s", p.output())
	}
	ctx := ctxT(t)
	pa := acmpca.NewFromConfig(p.awsConfig())
	ca, err := pa.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
			KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("Public URL Root")},
		},
		RevocationConfiguration: &pcatypes.RevocationConfiguration{
			CrlConfiguration:  &pcatypes.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)},
			OcspConfiguration: &pcatypes.OcspConfiguration{Enabled: aws.Bool(true)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pa.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: ca.CertificateAuthorityArn})
	if err != nil {
		t.Fatal(err)
	}
	root := issueAndGet(t, pa, ca.CertificateAuthorityArn, []byte(aws.ToString(csr.Csr)), "arn:aws:acm-pca:::template/RootCACertificate/V1", 3650)
	if _, err := pa.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: ca.CertificateAuthorityArn, Certificate: []byte(root)}); err != nil {
		t.Fatal(err)
	}
	leaf := parsePEM(t, issueAndGet(t, pa, ca.CertificateAuthorityArn, leafCSR(t, "svc.mesh.local"), "arn:aws:acm-pca:::template/EndEntityCertificate/V1", 30))
	if len(leaf.CRLDistributionPoints) != 1 || !strings.HasPrefix(leaf.CRLDistributionPoints[0], public+"/crl/") {
		t.Errorf("CRL distribution points %v, want one under %s/crl/", leaf.CRLDistributionPoints, public)
	}
	if len(leaf.OCSPServer) != 1 || !strings.HasPrefix(leaf.OCSPServer[0], public+"/ocsp/") {
		t.Errorf("OCSP servers %v, want one under %s/ocsp/", leaf.OCSPServer, public)
	}
}

// TestServerFlagAndFileRefusals: flags a config file would silently
// override, a bad public URL, and a master key file others can read are
// refusals, not silence.
func TestServerFlagAndFileRefusals(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	openKey := filepath.Join(dir, "open.key")
	key := []byte(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	_ = os.WriteFile(keyFile, key, 0o600)
	_ = os.WriteFile(openKey, key, 0o644)
	_ = os.Chmod(openKey, 0o644)
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("listen: 127.0.0.1:0\ndataDir: "+dir+"\nmasterKey:\n  file: "+keyFile+"\n"), 0o600)
	open := filepath.Join(dir, "open.yaml")
	_ = os.WriteFile(open, []byte("listen: 127.0.0.1:0\ndataDir: "+dir+"\nmasterKey:\n  file: "+openKey+"\n"), 0o600)
	badURL := filepath.Join(dir, "badurl.yaml")
	_ = os.WriteFile(badURL, []byte("listen: 127.0.0.1:0\ndataDir: "+dir+"\nmasterKey:\n  file: "+keyFile+"\npublicURL: ftp://x\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--listen with --config", []string{"--config", good, "--listen", "127.0.0.1:9"}, "--listen is not used with --config"},
		{"--data-dir with --config", []string{"--config", good, "--data-dir", dir}, "--data-dir is not used with --config"},
		{"--region with --config", []string{"--config", good, "--region", "eu-west-1"}, "--region is not used with --config"},
		{"--dev-access-key-id with --config", []string{"--config", good, "--dev-access-key-id", "AKIAX"}, "--dev-access-key-id is not used"},
		{"master key readable by others", []string{"--config", open}, "readable by group or others"},
		{"public URL not http(s)", []string{"--config", badURL}, "public URL"},
		{"public URL flag with a query", []string{"--config", good, "--public-url", "https://h/?x=1"}, "public URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binary, append([]string{"server"}, tc.args...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("want refusal mentioning %q, got %v: %s", tc.want, err, out)
			}
		})
	}
}

// TestClientsRefuseAWSFallback: with no endpoint configured, every client
// command refuses to start instead of reaching AWS (or its metadata
// service), and says how to fix it.
func TestClientsRefuseAWSFallback(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=example", "AWS_REGION=us-east-1",
		"BULWARK_RENEWER_API_KEY=0123456789abcdef0123"}
	for _, args := range [][]string{
		{"certs", "export-to-secrets", "--certificate-arn", "arn:aws:acm:us-east-1:1:certificate/x", "--secret-prefix", "p"},
		{"certs", "fetch", "--secret-prefix", "p", "--out", t.TempDir()},
		{"renewer", "--listen", "127.0.0.1:0", "--bind", "arn:aws:acm:us-east-1:1:certificate/x=p"},
		// The proxy needs no API: it refuses because no xDS endpoint is
		// set, never polling an API or AWS instead.
		{"proxy", "--mesh", "m", "--virtual-node", "n"},
		{"edge", "--listen", "127.0.0.1:0", "--origin", "http://127.0.0.1:9", "--key", "01=alias/pii", "--fields", "ssn", "--admin", ""},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(binary, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if args[0] == "proxy" {
				if err == nil || !strings.Contains(string(out), "--xds HOST:PORT") {
					t.Errorf("%v: want a refusal naming --xds, got %v: %s", args, err, out)
				}
				return
			}
			if err == nil || !strings.Contains(string(out), "no API endpoint") || !strings.Contains(string(out), "--aws") {
				t.Errorf("%v: want a refusal naming --endpoint and --aws, got %v: %s", args, err, out)
			}
		})
	}
}

// TestNoRootCredentialsWarning: a configuration without rootCredentials
// starts, with a warning that nobody may be able to call the API.
func TestNoRootCredentialsWarning(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	_ = os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600)
	cfg := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(cfg, []byte("listen: "+freePort(t)+"\ndataDir: "+dir+"\nmasterKey:\n  file: "+keyFile+"\n"), 0o600)
	cmd := exec.Command(binary, "server", "--config", cfg)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	testwait.Until(20*time.Second, func() bool { return strings.Contains(stderr.String(), "serving") })
	if !strings.Contains(stderr.String(), "no rootCredentials") {
		t.Errorf("no warning about missing root credentials:\n%s", stderr.String())
	}
}
