package server_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestFullDatabaseDiskIsRetryable puts the database on a small tmpfs (the
// audit log elsewhere) and fills it: the failing call is a retryable 503
// ServiceUnavailable, as for a full audit disk, not an InternalFailure.
func TestFullDatabaseDiskIsRetryable(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("this test needs to mount a small tmpfs (root in a machine that allows it): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	srv := servertest.Start(t, func(c *server.Config) {
		c.Storage = "sqlite://" + filepath.Join(dir, "bulwark.db")
		c.AuditLogPath = filepath.Join(t.TempDir(), "audit.log")
	})
	client := iam.NewFromConfig(srv.AWSConfig())
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Sid":"` + strings.Repeat("x", 4000) + `"}]}`
	ctx := context.Background()
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("filler")}); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("filler"), PolicyName: aws.String(fmt.Sprintf("p%d", i)), PolicyDocument: aws.String(policy)})
	}
	if err == nil {
		t.Fatal("the database disk never filled up")
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 || apiCode(t, err) != "ServiceUnavailable" {
		t.Fatalf("write to a full database disk: %v, want a 503 ServiceUnavailable", err)
	}
}
