package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// endpointCommands are the commands that talk to a Bulwark server, with
// arguments that get them as far as their first API call. Each must
// refuse to run with no endpoint configured (never reaching AWS or the
// EC2 metadata service) and print the endpoint it uses otherwise.
func endpointCommands(dir string) map[string][]string {
	mesh := filepath.Join(dir, "empty.json")
	_ = os.WriteFile(mesh, []byte(`{"Resources":{}}`), 0o600)
	edgeCfg := filepath.Join(dir, "edge.yaml")
	_ = os.WriteFile(edgeCfg, []byte("listen: 127.0.0.1:0\norigin: http://127.0.0.1:1\nkeys: {\"01\": alias/none}\nrules: [{name: r, fields: [\"$.x\"], key: \"01\"}]\n"), 0o600)
	return map[string][]string{
		"certs export-to-secrets": {"certs", "export-to-secrets", "--certificate-arn", "arn:aws:acm:us-east-1:000000000000:certificate/x", "--secret-prefix", "p"},
		"certs fetch":             {"certs", "fetch", "--secret-prefix", "p", "--out", filepath.Join(dir, "out")},
		"renewer":                 {"renewer", "--listen", "127.0.0.1:0", "--bind", "arn:aws:acm:us-east-1:000000000000:certificate/x=p"},
		"unprotect":               {"unprotect", "--key", "01=alias/none", os.DevNull},
		"proxy --mesh":            {"proxy", "--mesh", "m", "--virtual-node", "n", "--admin", "127.0.0.1:0"},
		"mesh import":             {"mesh", "import", mesh},
		"pki init":                {"pki", "init", "--name", "EndpointTest", "--bundle", filepath.Join(dir, "b.pem")},
		"check":                   {"check"},
		"edge":                    {"edge", "--config", edgeCfg},
	}
}

func runWithEnv(t *testing.T, env []string, args []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader("")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestCommandsNeverFallBackToAWS: with no endpoint configured every
// server-talking command refuses, naming --endpoint and --aws.
func TestCommandsNeverFallBackToAWS(t *testing.T) {
	dir := t.TempDir()
	env := append(cleanAWSEnv(), "AWS_ACCESS_KEY_ID=AKIAEXAMPLE000000000", "AWS_SECRET_ACCESS_KEY=x", "AWS_REGION=us-east-1",
		"HOME="+dir, "BULWARK_RENEWER_API_KEY=0123456789abcdef0123")
	for name, args := range endpointCommands(dir) {
		t.Run(name, func(t *testing.T) {
			out, err := runWithEnv(t, env, args)
			if err == nil {
				t.Fatalf("ran without an endpoint:\n%s", out)
			}
			if !strings.Contains(out, "--endpoint") || !strings.Contains(out, "AWS_ENDPOINT_URL") {
				t.Errorf("refusal does not say how to give an endpoint:\n%s", out)
			}
		})
	}
}

// TestCommandsPrintTheirEndpoint: with AWS_ENDPOINT_URL set (here to a
// port nothing listens on) each command prints it on standard error.
func TestCommandsPrintTheirEndpoint(t *testing.T) {
	dir := t.TempDir()
	endpoint := "http://" + freePort(t)
	env := append(cleanAWSEnv(), "AWS_ACCESS_KEY_ID=AKIAEXAMPLE000000000", "AWS_SECRET_ACCESS_KEY=x", "AWS_REGION=us-east-1",
		"HOME="+dir, "BULWARK_RENEWER_API_KEY=0123456789abcdef0123", "AWS_ENDPOINT_URL="+endpoint)
	for name, args := range endpointCommands(dir) {
		t.Run(name, func(t *testing.T) {
			out := runUntil(t, env, args, endpoint)
			if !strings.Contains(out, endpoint) {
				t.Errorf("output does not name the endpoint %s:\n%s", endpoint, out)
			}
		})
	}
}

// runUntil runs the binary until it exits or its output contains want
// (long-running commands: renewer, proxy), then stops it.
func runUntil(t *testing.T, env, args []string, want string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader("")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return out.String()
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			return out.String()
		case <-tick.C:
			if strings.Contains(out.String(), want) {
				_ = cmd.Process.Kill()
				<-done
				return out.String()
			}
		}
	}
}
