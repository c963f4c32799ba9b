package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
)

// bulwarkCLI runs the binary against p with the standard AWS environment.
func bulwarkCLI(t *testing.T, p *proc, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanAWSEnv(), "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL="+p.endpoint)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// cleanAWSEnv is the environment without AWS settings a developer's
// shell may carry, and without shared config files.
func cleanAWSEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
}

// TestPKIInitChainVerifiesWithOpenSSL: bulwark pki init, then a
// certificate from the new subordinate, checked by openssl verify
// against the written trust bundle.
func TestPKIInitChainVerifiesWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed (.ci/run installs it)")
	}
	p := startDev(t, t.TempDir())
	dir := t.TempDir()
	out, errOut, err := bulwarkCLI(t, p, dir, "pki", "init", "--name", "E2E", "--bundle", "bundle.pem", "--chain", "chain.pem", "-o", "json")
	if err != nil {
		t.Fatalf("pki init: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "endpoint: "+p.endpoint) || !strings.Contains(errOut, "activated subordinate") {
		t.Errorf("progress on standard error lacks the endpoint or the steps:\n%s", errOut)
	}
	var res struct {
		Root        string `json:"rootCertificateAuthorityArn"`
		Subordinate string `json:"subordinateCertificateAuthorityArn"`
		TrustBundle string `json:"trustBundle"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Root == "" || res.Subordinate == "" || res.TrustBundle != "bundle.pem" {
		t.Fatalf("-o json: %v %q", err, out)
	}

	ctx := ctxT(t)
	client := acm.NewFromConfig(p.awsConfig())
	req, err := client.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("svc.e2e.internal"),
		CertificateAuthorityArn: aws.String(res.Subordinate)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: req.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	leaf := filepath.Join(dir, "leaf.pem")
	if err := os.WriteFile(leaf, []byte(aws.ToString(got.Certificate)), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (string, error) {
		b, err := exec.Command("openssl", append([]string{"verify"}, args...)...).CombinedOutput()
		return string(b), err
	}
	if o, err := verify("-CAfile", filepath.Join(dir, "bundle.pem"), "-untrusted", filepath.Join(dir, "chain.pem"), leaf); err != nil {
		t.Errorf("openssl verify of a leaf through the chain: %v\n%s", err, o)
	}
	// Without the subordinate the leaf must not verify: the bundle holds
	// the root alone, as a trust bundle should.
	if o, err := verify("-CAfile", filepath.Join(dir, "bundle.pem"), leaf); err == nil {
		t.Errorf("the leaf verified against the bundle alone: the bundle holds more than the root\n%s", o)
	}

	// Idempotent-safe: a second run refuses (exit status 1) and a --reuse
	// run prints the same ARNs.
	if o, e, err := bulwarkCLI(t, p, dir, "pki", "init", "--name", "E2E", "--bundle", "bundle.pem"); err == nil || !strings.Contains(e, "--reuse") {
		t.Errorf("second run without --reuse: %v\n%s\n%s", err, o, e)
	}
	o2, e2, err := bulwarkCLI(t, p, dir, "pki", "init", "--name", "E2E", "--bundle", "bundle.pem", "--reuse")
	if err != nil || !strings.Contains(o2, res.Root) || !strings.Contains(o2, res.Subordinate) {
		t.Errorf("--reuse: %v\n%s\n%s", err, o2, e2)
	}
}
