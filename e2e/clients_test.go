package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Clients people use, each configured only as its documentation says
// (AWS_ENDPOINT_URL and the standard credential and region variables;
// no endpoint in code): the AWS SDK for JavaScript v3, the AWS
// Encryption SDK for JavaScript (e2e/js, pinned by package-lock.json,
// installed by `npm ci` in .ci/run) and boto3 (e2e/py).

// clientEnv is the environment of a client script against p.
func clientEnv(p *proc, home string) []string {
	return append(cleanAWSEnv(), "HOME="+home, "AWS_ENDPOINT_URL="+p.endpoint, "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret)
}

func runClient(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s", out)
}

// TestJavaScriptSDKs runs e2e/js/roundtrip.mjs: KMS (with encryption
// context), Secrets Manager, ACM PCA, ACM and App Mesh through the SDK v3
// clients, and an Encryption SDK round trip with a KMS keyring.
func TestJavaScriptSDKs(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: .ci/run installs nodejs and npm, then runs npm ci in e2e/js")
	}
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-crypto", "client-node")); err != nil {
		t.Skip("e2e/js has no node_modules: run `npm ci` in e2e/js (.ci/run does)")
	}
	p := startDev(t, t.TempDir())
	runClient(t, dir, clientEnv(p, t.TempDir()), "node", "roundtrip.mjs")
}

// TestBoto3 runs e2e/py/boto3_roundtrip.py.
func TestBoto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed: .ci/run installs python3-boto3")
	}
	dir, err := filepath.Abs("py")
	if err != nil {
		t.Fatal(err)
	}
	p := startDev(t, t.TempDir())
	runClient(t, dir, append(clientEnv(p, t.TempDir()), "PYTHONDONTWRITEBYTECODE=1"), "python3", "boto3_roundtrip.py")
}
