package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestPolicyDocumentsWithDuplicateKeysAreRefused: every API that takes a
// policy document refuses one whose later duplicate member would otherwise
// replace an earlier one ("Effect":"Deny", …, "Effect":"Allow"), with the
// error name that service's model gives for a malformed policy.
func TestPolicyDocumentsWithDuplicateKeysAreRefused(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	cfg := srv.AWSConfig()
	root := "arn:aws:iam::" + servertest.AccountID + ":root"
	resourceDoc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"` + root + `"},"Action":"*","Resource":"*","Effect":"Allow"}]}`
	identityDoc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Effect":"Allow"}]}`

	if _, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dup")}); err != nil {
		t.Fatal(err)
	}
	key, err := kms.NewFromConfig(cfg).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("dup"), SecretString: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := acmpca.NewFromConfig(cfg).CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
			KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("dup")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"iam PutUserPolicy", func() error {
			_, err := iam.NewFromConfig(cfg).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dup"), PolicyName: aws.String("p"), PolicyDocument: aws.String(identityDoc)})
			return err
		}, "MalformedPolicyDocument"},
		{"kms CreateKey", func() error {
			_, err := kms.NewFromConfig(cfg).CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(resourceDoc)})
			return err
		}, "MalformedPolicyDocumentException"},
		{"kms PutKeyPolicy", func() error {
			_, err := kms.NewFromConfig(cfg).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, PolicyName: aws.String("default"), Policy: aws.String(resourceDoc)})
			return err
		}, "MalformedPolicyDocumentException"},
		{"secretsmanager PutResourcePolicy", func() error {
			_, err := secretsmanager.NewFromConfig(cfg).PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: sec.ARN, ResourcePolicy: aws.String(resourceDoc)})
			return err
		}, "MalformedPolicyDocumentException"},
		{"acm-pca PutPolicy", func() error {
			_, err := acmpca.NewFromConfig(cfg).PutPolicy(ctx, &acmpca.PutPolicyInput{ResourceArn: ca.CertificateAuthorityArn, Policy: aws.String(resourceDoc)})
			return err
		}, "InvalidPolicyException"},
	}
	t.Run("secretsmanager ValidateResourcePolicy", func(t *testing.T) {
		out, err := secretsmanager.NewFromConfig(cfg).ValidateResourcePolicy(ctx, &secretsmanager.ValidateResourcePolicyInput{ResourcePolicy: aws.String(resourceDoc)})
		if err != nil {
			t.Fatal(err)
		}
		if out.PolicyValidationPassed || len(out.ValidationErrors) == 0 {
			t.Errorf("validation passed a policy with a duplicate \"Effect\": %+v", out)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("a policy with a duplicate \"Effect\" was accepted")
			}
			if got := apiCode(t, err); got != tc.wantCode {
				t.Errorf("code = %s, want %s (%v)", got, tc.wantCode, err)
			}
		})
	}
}
