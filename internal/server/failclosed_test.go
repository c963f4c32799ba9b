package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestAuditFailureFailsClosed puts the audit log on a tiny tmpfs, fills
// it, and checks that the server then refuses every request, says so in
// /readyz and counts the failure in /metrics.
func TestAuditFailureFailsClosed(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("this test needs to mount a small tmpfs (root in a machine that allows it): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	srv := servertest.Start(t, func(c *server.Config) { c.AuditLogPath = filepath.Join(dir, "audit.log") })
	ctx := context.Background()
	client := sts.NewFromConfig(srv.AWSConfig())
	var failed error
	for i := 0; i < 200 && failed == nil; i++ {
		_, failed = client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	}
	if failed == nil {
		t.Fatal("the audit log never filled up")
	}
	if got := apiCode(t, failed); got != "ServiceUnavailable" {
		t.Fatalf("first failure: %s (%v)", got, failed)
	}
	// Once broken, nothing runs: the user is not created.
	_, err := iam.NewFromConfig(srv.AWSConfig()).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ghost")})
	if got := apiCode(t, err); got != "ServiceUnavailable" {
		t.Errorf("request after the failure: %s", got)
	}
	if _, err := srv.IAM().GetUser(ctx, "ghost"); err == nil {
		t.Error("a request was executed although it could not be audited")
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while the audit log fails", code)
	}
	// Each lost event counts: the failed GetCallerIdentity, then the
	// refused CreateUser.
	if _, body := get(t, srv.URL+"/metrics"); !strings.Contains(body, "bulwark_audit_write_failures_total 2") {
		t.Errorf("audit failures not counted in metrics")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthReadyAndMetrics(t *testing.T) {
	srv := servertest.Start(t)
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	ctx := context.Background()
	_, _ = sts.NewFromConfig(srv.AWSConfig()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	_, _ = iam.NewFromConfig(srv.AWSConfig()).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`bulwark_api_requests_total{code="OK",operation="GetCallerIdentity",service="sts"} 1`,
		`bulwark_api_requests_total{code="NoSuchEntity",operation="GetUser",service="iam"} 1`,
		`bulwark_api_errors_total{code="NoSuchEntity",service="iam"} 1`,
		`bulwark_api_request_duration_seconds_count{operation="GetCallerIdentity",service="sts"} 1`,
		`bulwark_api_stage_duration_seconds_count{stage="sigv4"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSecretsSealedOnDisk creates an access key through the API and scans
// every file of the data dir for its secret: only sealed bytes may be
// there.
func TestSecretsSealedOnDisk(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	client := iam.NewFromConfig(srv.AWSConfig())
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dave")}); err != nil {
		t.Fatal(err)
	}
	key, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")})
	if err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{[]byte(aws.ToString(key.AccessKey.SecretAccessKey)), []byte(servertest.RootSecretAccessKey)}
	found := 0
	err = filepath.Walk(srv.DataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(raw, []byte(aws.ToString(key.AccessKey.AccessKeyId))) {
			found++
		}
		for _, s := range secrets {
			if bytes.Contains(raw, s) {
				t.Errorf("%s contains a secret access key in the clear", filepath.Base(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Error("the scan found not even the (public) access key id: it is not looking at the right files")
	}
}
