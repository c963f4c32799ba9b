package e2e

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
)

// TestTwoReplicasShareState runs two dev servers on one PostgreSQL
// database with one master key: what one writes, the other serves, and a
// key deleted on one stops working on the other.
func TestTwoReplicasShareState(t *testing.T) {
	dsn := pgtest.DSN(t)
	t.Setenv("BULWARK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	a := startDev(t, t.TempDir(), "--storage", dsn)
	b := startDev(t, t.TempDir(), "--storage", dsn)
	ctx := ctxT(t)
	ia, ib := iam.NewFromConfig(a.awsConfig()), iam.NewFromConfig(b.awsConfig())
	if _, err := ia.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	key, err := ia.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("shared")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ib.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("shared")}); err != nil {
		t.Fatalf("replica b does not see the user created on a: %v", err)
	}
	cfg := b.awsConfig()
	cfg.Credentials = staticCreds(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey))
	userOnB := sts.NewFromConfig(cfg)
	if _, err := userOnB.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("key made on a refused by b: %v", err)
	}
	if _, err := ia.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("shared"), AccessKeyId: key.AccessKey.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	// Access keys are read from the database on every request, so the
	// deletion takes effect on b at once.
	if _, err := userOnB.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("a key deleted on replica a still works on replica b")
	}
}
