package secrets_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// TestUpdateSecretIsOneTransaction: UpdateSecret's metadata and its new
// version commit together. A value that cannot be sealed (under a key that
// does not exist) must leave the description, the key and the current
// value as they were, not half-updated.
func TestUpdateSecretIsOneTransaction(t *testing.T) {
	_, sm := start(t)
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("atomic"), SecretString: aws.String("v1"), Description: aws.String("before")}); err != nil {
		t.Fatal(err)
	}
	before, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("atomic")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   *secretsmanager.UpdateSecretInput
	}{
		{"unknown key alias", &secretsmanager.UpdateSecretInput{SecretId: aws.String("atomic"), Description: aws.String("after"), KmsKeyId: aws.String("alias/does-not-exist"), SecretString: aws.String("v2")}},
		{"unknown key id", &secretsmanager.UpdateSecretInput{SecretId: aws.String("atomic"), Description: aws.String("after"), KmsKeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab"), SecretString: aws.String("v2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sm.UpdateSecret(ctx, tc.in); err == nil {
				t.Fatal("UpdateSecret with a key that does not exist succeeded")
			}
			after, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("atomic")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(after.Description) != "before" || aws.ToString(after.KmsKeyId) != aws.ToString(before.KmsKeyId) {
				t.Fatalf("half-written: description %q, key %q", aws.ToString(after.Description), aws.ToString(after.KmsKeyId))
			}
			v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("atomic")})
			if err != nil || aws.ToString(v.SecretString) != "v1" {
				t.Fatalf("current value after failed update: %v %q", err, aws.ToString(v.SecretString))
			}
		})
	}
	// And the success path still writes both.
	if _, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("atomic"), Description: aws.String("after"), SecretString: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	after, _ := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("atomic")})
	v, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("atomic")})
	if aws.ToString(after.Description) != "after" || aws.ToString(v.SecretString) != "v2" {
		t.Fatalf("update: description %q value %q", aws.ToString(after.Description), aws.ToString(v.SecretString))
	}
}
