package pca_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func status(t *testing.T, c *acmpca.Client, arn string) types.CertificateAuthorityStatus {
	t.Helper()
	out, err := c.DescribeCertificateAuthority(context.Background(), &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	return out.CertificateAuthority.Status
}

// TestLifecycle walks a root CA through every status AWS has.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	ctx := context.Background()
	spec := caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Lifecycle Root", false}
	root := createCA(t, c, types.CertificateAuthorityTypeRoot, spec)
	if s := status(t, c, root); s != types.CertificateAuthorityStatusPendingCertificate {
		t.Fatalf("new CA is %s", s)
	}
	// Pending: ordinary issuance is refused, so is importing a certificate
	// for another key.
	_, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &root, Csr: newCSR(t, ecKey(t), "x", "x.local"),
		SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(1)}})
	if errCode(err) != "InvalidStateException" {
		t.Errorf("issue from pending CA: %v", err)
	}
	other := createCA(t, c, types.CertificateAuthorityTypeRoot, spec)
	activateRoot(t, c, other, types.SigningAlgorithmSha256withecdsa)
	otherPEM, _ := caCert(t, c, other)
	_, err = c.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &root, Certificate: []byte(otherPEM)})
	if errCode(err) != "CertificateMismatchException" {
		t.Errorf("import foreign certificate: %v", err)
	}
	activateRoot(t, c, root, types.SigningAlgorithmSha256withecdsa)
	if s := status(t, c, root); s != types.CertificateAuthorityStatusActive {
		t.Fatalf("after import: %s", s)
	}
	desc, _ := c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &root})
	if desc.CertificateAuthority.NotAfter == nil || desc.CertificateAuthority.Serial == nil || *desc.CertificateAuthority.CertificateAuthorityConfiguration.Subject.CommonName != "Lifecycle Root" {
		t.Errorf("describe: %+v", desc.CertificateAuthority)
	}

	// Active CAs cannot be deleted; disabled ones cannot issue.
	if _, err := c.DeleteCertificateAuthority(ctx, &acmpca.DeleteCertificateAuthorityInput{CertificateAuthorityArn: &root}); errCode(err) != "InvalidStateException" {
		t.Errorf("delete active CA: %v", err)
	}
	if _, err := c.UpdateCertificateAuthority(ctx, &acmpca.UpdateCertificateAuthorityInput{CertificateAuthorityArn: &root, Status: types.CertificateAuthorityStatusDisabled}); err != nil {
		t.Fatal(err)
	}
	_, err = c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &root, Csr: newCSR(t, ecKey(t), "x", "x.local"),
		SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(1)}})
	if errCode(err) != "InvalidStateException" {
		t.Errorf("issue from disabled CA: %v", err)
	}
	if _, err := c.DeleteCertificateAuthority(ctx, &acmpca.DeleteCertificateAuthorityInput{CertificateAuthorityArn: &root, PermanentDeletionTimeInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	desc, _ = c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &root})
	if desc.CertificateAuthority.Status != types.CertificateAuthorityStatusDeleted || desc.CertificateAuthority.RestorableUntil == nil {
		t.Fatalf("after delete: %+v", desc.CertificateAuthority)
	}
	if _, err := c.RestoreCertificateAuthority(ctx, &acmpca.RestoreCertificateAuthorityInput{CertificateAuthorityArn: &root}); err != nil {
		t.Fatal(err)
	}
	if s := status(t, c, root); s != types.CertificateAuthorityStatusDisabled {
		t.Fatalf("restored CA is %s, want DISABLED", s)
	}
	// Deleted again and past the window, it is gone.
	if _, err := c.DeleteCertificateAuthority(ctx, &acmpca.DeleteCertificateAuthorityInput{CertificateAuthorityArn: &root, PermanentDeletionTimeInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(8 * 24 * time.Hour)
	_, err = c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &root})
	if errCode(err) != "ResourceNotFoundException" {
		t.Errorf("describe after the restore window: %v", err)
	}
	list, err := c.ListCertificateAuthorities(ctx, &acmpca.ListCertificateAuthoritiesInput{})
	if err != nil || len(list.CertificateAuthorities) != 1 || *list.CertificateAuthorities[0].Arn != other {
		t.Errorf("list: %v %+v", err, list)
	}
}

func TestIssueValidation(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	ctx := context.Background()
	root := createCA(t, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Validation Root", false})
	activateRoot(t, c, root, types.SigningAlgorithmSha256withecdsa)
	csr := newCSR(t, ecKey(t), "v.local", "v.local")
	days := func(n int64) *types.Validity {
		return &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(n)}
	}
	tests := []struct {
		name string
		in   acmpca.IssueCertificateInput
		want string
	}{
		{"outlasts the CA", acmpca.IssueCertificateInput{Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: &types.Validity{Type: types.ValidityPeriodTypeYears, Value: aws.Int64(11)}}, "InvalidArgsException"},
		{"wrong key family", acmpca.IssueCertificateInput{Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withrsa, Validity: days(1)}, "InvalidArgsException"},
		{"malformed CSR", acmpca.IssueCertificateInput{Csr: []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: days(1)}, "MalformedCSRException"},
		{"unknown template", acmpca.IssueCertificateInput{Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: days(1), TemplateArn: aws.String(tmplPrefix + "Nope/V1")}, "InvalidArgsException"},
		{"root template for a foreign key", acmpca.IssueCertificateInput{Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: days(1), TemplateArn: aws.String(tmplPrefix + "RootCACertificate/V1")}, "InvalidArgsException"},
		{"END_DATE", acmpca.IssueCertificateInput{Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: &types.Validity{Type: types.ValidityPeriodTypeEndDate, Value: aws.Int64(int64(time.Now().UTC().Year())*1e10 + 1231235959)}}, ""},
		{"ABSOLUTE", acmpca.IssueCertificateInput{Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: &types.Validity{Type: types.ValidityPeriodTypeAbsolute, Value: aws.Int64(time.Now().Add(48 * time.Hour).Unix())}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.CertificateAuthorityArn = &root
			_, err := c.IssueCertificate(ctx, &tc.in)
			if got := errCode(err); got != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// The same idempotency token returns the same certificate.
	in := &acmpca.IssueCertificateInput{CertificateAuthorityArn: &root, Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa, Validity: days(2), IdempotencyToken: aws.String("tok-1")}
	a, err := c.IssueCertificate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.IssueCertificate(ctx, in)
	if err != nil || *a.CertificateArn != *b.CertificateArn {
		t.Fatalf("idempotent issue: %v, %s vs %v", err, *a.CertificateArn, b)
	}
	if !strings.HasPrefix(*a.CertificateArn, root+"/certificate/") {
		t.Errorf("certificate ARN %s", *a.CertificateArn)
	}
}

func TestTagsAndPolicy(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	ctx := context.Background()
	ca := createCA(t, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Tags", false})
	if _, err := c.TagCertificateAuthority(ctx, &acmpca.TagCertificateAuthorityInput{CertificateAuthorityArn: &ca, Tags: []types.Tag{{Key: aws.String("app"), Value: aws.String("color")}, {Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagCertificateAuthority(ctx, &acmpca.UntagCertificateAuthorityInput{CertificateAuthorityArn: &ca, Tags: []types.Tag{{Key: aws.String("env")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTags(ctx, &acmpca.ListTagsInput{CertificateAuthorityArn: &ca})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Key != "app" {
		t.Fatalf("tags: %v %+v", err, tags)
	}
	if _, err := c.GetPolicy(ctx, &acmpca.GetPolicyInput{ResourceArn: &ca}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetPolicy without policy: %v", err)
	}
	if _, err := c.PutPolicy(ctx, &acmpca.PutPolicyInput{ResourceArn: &ca, Policy: aws.String(`{"nope":1}`)}); errCode(err) != "InvalidPolicyException" {
		t.Errorf("bad policy: %v", err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"acm-pca:IssueCertificate","Resource":"` + ca + `"}]}`
	if _, err := c.PutPolicy(ctx, &acmpca.PutPolicyInput{ResourceArn: &ca, Policy: &doc}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetPolicy(ctx, &acmpca.GetPolicyInput{ResourceArn: &ca})
	if err != nil || *got.Policy != doc {
		t.Fatalf("GetPolicy: %v", err)
	}
	if _, err := c.DeletePolicy(ctx, &acmpca.DeletePolicyInput{ResourceArn: &ca}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: aws.String("arn:aws:acm:us-east-1:111122223333:certificate/x")}); errCode(err) != "InvalidArnException" {
		t.Errorf("ACM ARN to PCA: %v", err)
	}
}

// TestBothWireProtocols: the same CA work through the SDK's default RPC v2
// CBOR and through AWS JSON 1.1 (older SDKs, the AWS CLI); what one writes
// the other reads, with timestamps and blobs intact.
func TestBothWireProtocols(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	cborClient := pcaClient(srv.AWSConfig(), srv.Clock.Now)
	jsonClient := pcaJSONClient(srv.AWSConfig(), srv.Clock.Now)
	spec := caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Wire Root", false}
	for name, pair := range map[string][2]*acmpca.Client{"cbor then json": {cborClient, jsonClient}, "json then cbor": {jsonClient, cborClient}} {
		t.Run(name, func(t *testing.T) {
			writer, reader := pair[0], pair[1]
			ca := createCA(t, writer, types.CertificateAuthorityTypeRoot, spec)
			activateRoot(t, writer, ca, types.SigningAlgorithmSha256withecdsa)
			desc, err := reader.DescribeCertificateAuthority(context.Background(), &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &ca})
			if err != nil {
				t.Fatal(err)
			}
			if desc.CertificateAuthority.Status != types.CertificateAuthorityStatusActive || desc.CertificateAuthority.CreatedAt == nil ||
				desc.CertificateAuthority.CreatedAt.After(srv.Clock.Now()) || desc.CertificateAuthority.CreatedAt.Before(srv.Clock.Now().Add(-time.Hour)) {
				t.Errorf("describe through the other protocol: %+v", desc.CertificateAuthority)
			}
			_, err = reader.DescribeCertificateAuthority(context.Background(), &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: aws.String(ca + "x")})
			if errCode(err) != "ResourceNotFoundException" {
				t.Errorf("error through the other protocol: %v", err)
			}
		})
	}
}
