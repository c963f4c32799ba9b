package secrets_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/kms"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// errCode returns the AWS error code of an SDK error ("" for nil).
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

// kmsIsStub reports whether the KMS this tree builds still answers "not
// implemented" (it was being written alongside this package).
func kmsIsStub() (stub bool) {
	defer func() {
		if recover() != nil {
			stub = false
		}
	}()
	_, _, _, err := kms.New(kms.Config{AccountID: servertest.AccountID, Region: servertest.Region}).GenerateDataKeyFor(context.Background(), api.NewCall(nil), "x", nil, "secretsmanager.us-east-1.amazonaws.com")
	return err != nil && strings.Contains(err.Error(), "not implemented")
}

// skipIfKMSStub skips an end-to-end test whose first value write failed
// with InternalFailure only because the server's KMS is still the stub.
func skipIfKMSStub(t *testing.T, err error) {
	t.Helper()
	if errCode(err) == "InternalFailure" && kmsIsStub() {
		t.Skip("the server's KMS answers \"not implemented\"; re-run once internal/kms lands")
	}
}

// start starts a server and returns it with a root Secrets Manager
// client, skipping when KMS cannot make data keys yet.
func start(t *testing.T) (*servertest.Server, *secretsmanager.Client) {
	t.Helper()
	srv := servertest.Start(t)
	sm := smClient(srv, srv.AWSConfig())
	_, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: strp("probe/kms"), SecretString: strp("x")})
	skipIfKMSStub(t, err)
	if err != nil {
		t.Fatalf("probe CreateSecret: %v", err)
	}
	return srv, sm
}

// userClient creates an IAM user with an inline policy (none when doc is
// "") and returns a client signed with its key.
func userClient(t *testing.T, srv *servertest.Server, name, doc string) (*secretsmanager.Client, string) {
	t.Helper()
	ctx := context.Background()
	u, err := srv.IAM().CreateUser(ctx, name, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc != "" {
		if err := srv.IAM().PutUserPolicy(ctx, name, "inline", doc); err != nil {
			t.Fatal(err)
		}
	}
	k, secret, err := srv.IAM().CreateAccessKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return smClient(srv, srv.AWSConfigFor(k.AccessKeyID, secret)), u.ARN
}

func strp(s string) *string { return &s }

// smClient returns a Secrets Manager client; servertest's configuration
// already signs with the server's movable clock.
func smClient(_ *servertest.Server, cfg aws.Config) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg)
}
