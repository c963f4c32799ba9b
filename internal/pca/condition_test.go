package pca_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
)

// TestIssueCertificateTemplateArnCondition: IssueCertificate fills
// acm-pca:TemplateArn (the default template when none is named, and the
// full ARN for a bare template name), so policies can limit what a caller
// may issue.
func TestIssueCertificateTemplateArnCondition(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	ctx := context.Background()
	ca := createCA(t, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Cond Root", false})
	activateRoot(t, c, ca, types.SigningAlgorithmSha256withecdsa)
	if _, err := srv.IAM().CreateUser(ctx, "issuer", "/", nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"acm-pca:IssueCertificate","Resource":"*",
		"Condition":{"StringEquals":{"acm-pca:TemplateArn":"arn:aws:acm-pca:::template/EndEntityCertificate/V1"}}}]}`
	if err := srv.IAM().PutUserPolicy(ctx, "issuer", "leaf-only", doc); err != nil {
		t.Fatal(err)
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	uc := pcaClient(srv.AWSConfigFor(key.AccessKeyID, secret), srv.Clock.Now)
	csr := newCSR(t, ecKey(t), "leaf.example.internal", "leaf.example.internal")
	tests := []struct {
		name     string
		template *string
		want     string
	}{
		{"default template", nil, ""},
		{"end-entity template by ARN", aws.String("arn:aws:acm-pca:::template/EndEntityCertificate/V1"), ""},
		{"CA template by ARN", aws.String("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"), "AccessDeniedException"},
		{"CA template by bare name", aws.String("SubordinateCACertificate_PathLen0/V1"), "AccessDeniedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := uc.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
				CertificateAuthorityArn: &ca, Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, TemplateArn: tc.template,
				Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)},
			})
			if got := errCode(err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
