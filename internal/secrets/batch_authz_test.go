package secrets_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestE2EBatchGetSecretValueFiltersNeedListSecrets: choosing secrets by
// filter lists them, so, as in AWS, it needs secretsmanager:ListSecrets on
// "*" besides BatchGetSecretValue; naming them does not.
func TestE2EBatchGetSecretValueFiltersNeedListSecrets(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("app/db"), SecretString: strp("pw")}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.IAM().CreateUser(ctx, "reader", "/", nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:BatchGetSecretValue","secretsmanager:GetSecretValue"],"Resource":"*"}]}`
	if err := srv.IAM().PutUserPolicy(ctx, "reader", "read", doc); err != nil {
		t.Fatal(err)
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, "reader")
	if err != nil {
		t.Fatal(err)
	}
	reader := smClient(srv, srv.AWSConfigFor(key.AccessKeyID, secret))
	tests := []struct {
		name string
		in   *secretsmanager.BatchGetSecretValueInput
		want string
	}{
		{"by id", &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"app/db"}}, ""},
		{"by filter", &secretsmanager.BatchGetSecretValueInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}}}, "AccessDeniedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := reader.BatchGetSecretValue(ctx, tc.in)
			if got := errCode(err); got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, err, tc.want)
			}
			if err == nil && len(out.SecretValues) != 1 {
				t.Errorf("values = %+v, errors = %+v", out.SecretValues, out.Errors)
			}
		})
	}
}
