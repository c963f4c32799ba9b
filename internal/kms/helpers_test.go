package kms_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

const acct = servertest.AccountID

// start runs a server and returns it with a root KMS client that signs
// with the server's clock, so tests can move that clock by days.
func start(t *testing.T) (*servertest.Server, *kms.Client) {
	t.Helper()
	srv := servertest.Start(t)
	return srv, clientFor(srv, srv.AWSConfig())
}

// clientFor returns a KMS client; servertest's configuration already
// signs with the server's movable clock.
func clientFor(_ *servertest.Server, cfg aws.Config) *kms.Client {
	return kms.NewFromConfig(cfg)
}

// createKey makes a key of spec and usage and returns its id.
func createKey(t *testing.T, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		t.Fatalf("CreateKey %s/%s: %v", spec, usage, err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// wantCode fails unless err is an API error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

// newUser creates an IAM user (with an optional inline policy) and returns
// a KMS client acting as that user and the user's ARN.
func newUser(t *testing.T, srv *servertest.Server, name, identityPolicy string) (*kms.Client, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.IAM().CreateUser(ctx, name, "/", nil); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if identityPolicy != "" {
		if err := srv.IAM().PutUserPolicy(ctx, name, "p", identityPolicy); err != nil {
			t.Fatalf("PutUserPolicy: %v", err)
		}
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, name)
	if err != nil {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	return clientFor(srv, srv.AWSConfigFor(key.AccessKeyID, secret)), "arn:aws:iam::" + acct + ":user/" + name
}

// auditLog returns the audit log's contents.
func auditLog(t *testing.T, srv *servertest.Server) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// auditLines returns the audit log lines that contain every one of subs.
func auditLines(t *testing.T, srv *servertest.Server, subs ...string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(auditLog(t, srv), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

func kmsKeySpec(s string) types.KeySpec       { return types.KeySpec(s) }
func kmsKeyUsage(s string) types.KeyUsageType { return types.KeyUsageType(s) }
