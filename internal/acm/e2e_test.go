package acm_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// clients returns acm-pca (its SDK default, Smithy RPC v2 CBOR) and acm
// (JSON 1.1) clients.
func clients(srv *servertest.Server, cfg aws.Config) (*acmpca.Client, *awsacm.Client) {
	p := acmpca.NewFromConfig(cfg)
	a := awsacm.NewFromConfig(cfg)
	return p, a
}

// newRootCA creates and activates a root CA.
func newRootCA(t testing.TB, p *acmpca.Client, keyAlg pcatypes.KeyAlgorithm, sig pcatypes.SigningAlgorithm) string {
	t.Helper()
	ctx := context.Background()
	out, err := p.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: keyAlg, SigningAlgorithm: sig,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("ACM Test Root")}},
		RevocationConfiguration: &pcatypes.RevocationConfiguration{CrlConfiguration: &pcatypes.CrlConfiguration{Enabled: aws.Bool(true)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := *out.CertificateAuthorityArn
	csr, err := p.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := p.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &arn, Csr: []byte(*csr.Csr), SigningAlgorithm: sig,
		TemplateArn: aws.String("arn:aws:acm-pca:::template/RootCACertificate/V1"),
		Validity:    &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeYears, Value: aws.Int64(10)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &arn, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &arn, Certificate: []byte(*got.Certificate)}); err != nil {
		t.Fatal(err)
	}
	return arn
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "non-API error: " + err.Error()
}

func mustCert(t testing.TB, p string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatalf("no PEM: %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestExportOpenSSL requests EC and RSA certificates, exports them
// and has openssl decrypt the key and verify the certificate.
func TestRequestExportOpenSSL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	srv := servertest.Start(t)
	p, a := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	ecCA := newRootCA(t, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	rsaCA := newRootCA(t, p, pcatypes.KeyAlgorithmRsa2048, pcatypes.SigningAlgorithmSha256withrsa)
	tests := []struct {
		name string
		ca   string
		alg  acmtypes.KeyAlgorithm
	}{
		{"EC_prime256v1", ecCA, acmtypes.KeyAlgorithmEcPrime256v1},
		{"RSA_2048", rsaCA, acmtypes.KeyAlgorithmRsa2048},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("colorteller.mesh.local"),
				SubjectAlternativeNames: []string{"colorteller.mesh.local", "teller.mesh.local"}, CertificateAuthorityArn: &tc.ca, KeyAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			desc, err := a.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: req.CertificateArn})
			if err != nil {
				t.Fatal(err)
			}
			d := desc.Certificate
			if d.Status != acmtypes.CertificateStatusIssued || d.Type != acmtypes.CertificateTypePrivate || d.KeyAlgorithm != tc.alg ||
				!strings.Contains(aws.ToString(d.Serial), ":") || len(d.SubjectAlternativeNames) != 2 {
				t.Fatalf("describe: %+v", d)
			}
			if life := d.NotAfter.Sub(*d.NotBefore); life != 395*24*time.Hour+time.Hour {
				t.Errorf("lifetime %v, want 395 days plus the 60-minute back-date", life)
			}
			const pass = "Correct Horse Battery"
			exp, err := a.ExportCertificate(ctx, &awsacm.ExportCertificateInput{CertificateArn: req.CertificateArn, Passphrase: []byte(pass)})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(*exp.PrivateKey, "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
				t.Fatalf("private key is not an encrypted PKCS#8 PEM")
			}
			dir := t.TempDir()
			write := func(name, body string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write("exported.pem", *exp.PrivateKey)
			write("cert.pem", *exp.Certificate)
			write("chain.pem", *exp.CertificateChain)
			out, err := exec.Command("openssl", "pkcs8", "-in", filepath.Join(dir, "exported.pem"), "-passin", "pass:"+pass).Output()
			if err != nil {
				t.Fatalf("openssl pkcs8: %v", err)
			}
			blk, _ := pem.Decode(out)
			if blk == nil {
				t.Fatalf("openssl output: %s", out)
			}
			key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			cert := mustCert(t, *exp.Certificate)
			if !x509util.SamePublicKey(key.(crypto.Signer).Public(), cert.PublicKey) {
				t.Fatal("exported key does not match the certificate")
			}
			if msg, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, "chain.pem"), filepath.Join(dir, "cert.pem")).CombinedOutput(); err != nil {
				t.Fatalf("openssl verify: %v %s", err, msg)
			}

			// Renewal keeps the ARN, changes serial and key.
			if _, err := a.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: req.CertificateArn}); err != nil {
				t.Fatal(err)
			}
			desc2, _ := a.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: req.CertificateArn})
			if *desc2.Certificate.Serial == *d.Serial || desc2.Certificate.RenewalSummary == nil ||
				desc2.Certificate.RenewalSummary.RenewalStatus != acmtypes.RenewalStatusSuccess || desc2.Certificate.RenewalEligibility != acmtypes.RenewalEligibilityEligible {
				t.Fatalf("after renewal: %+v", desc2.Certificate)
			}
			got, _ := a.GetCertificate(ctx, &awsacm.GetCertificateInput{CertificateArn: req.CertificateArn})
			if x509util.SamePublicKey(mustCert(t, *got.Certificate).PublicKey, cert.PublicKey) {
				t.Fatal("renewal kept the key pair")
			}
		})
	}
}

func TestExportPassphraseRules(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	p, a := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	ca := newRootCA(t, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	req, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("x.mesh.local"), CertificateAuthorityArn: &ca})
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"", "abc#defg", "abc$defg", "abc%defg"} {
		_, err := a.ExportCertificate(ctx, &awsacm.ExportCertificateInput{CertificateArn: req.CertificateArn, Passphrase: []byte(pass)})
		if err == nil {
			t.Errorf("passphrase %q accepted", pass)
		} else if pass != "" && errCode(err) != "ValidationException" {
			t.Errorf("passphrase %q: %v", pass, err)
		}
	}
	// No CA: AWS would start public DNS validation; Bulwark refuses.
	_, err = a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("public.example.com")})
	if errCode(err) != "InvalidParameterException" {
		t.Errorf("public request: %v", err)
	}
	// Family mismatch.
	_, err = a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("x.mesh.local"), CertificateAuthorityArn: &ca, KeyAlgorithm: acmtypes.KeyAlgorithmRsa2048})
	if errCode(err) != "InvalidParameterException" {
		t.Errorf("RSA key from an EC CA: %v", err)
	}
}

func TestShortLivedTagsListRevoke(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	p, a := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	ca := newRootCA(t, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	req, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("short.mesh.local"), CertificateAuthorityArn: &ca,
		IdempotencyToken: aws.String("tok"), Tags: []acmtypes.Tag{{Key: aws.String("bulwark:validity"), Value: aws.String("15m")}}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("short.mesh.local"), CertificateAuthorityArn: &ca, IdempotencyToken: aws.String("tok")})
	if err != nil || *again.CertificateArn != *req.CertificateArn {
		t.Fatalf("idempotent request: %v", err)
	}
	d, _ := a.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: req.CertificateArn})
	if life := d.Certificate.NotAfter.Sub(*d.Certificate.NotBefore); life != 75*time.Minute {
		t.Errorf("lifetime %v, want 15m plus the 60-minute back-date", life)
	}
	if _, err := a.AddTagsToCertificate(ctx, &awsacm.AddTagsToCertificateInput{CertificateArn: req.CertificateArn, Tags: []acmtypes.Tag{{Key: aws.String("app"), Value: aws.String("color")}}}); err != nil {
		t.Fatal(err)
	}
	tags, _ := a.ListTagsForCertificate(ctx, &awsacm.ListTagsForCertificateInput{CertificateArn: req.CertificateArn})
	if len(tags.Tags) != 2 {
		t.Errorf("tags %+v", tags.Tags)
	}
	// Default listing shows RSA only (as AWS); asking for EC finds it.
	l, _ := a.ListCertificates(ctx, &awsacm.ListCertificatesInput{})
	if len(l.CertificateSummaryList) != 0 {
		t.Errorf("default list shows EC certificates: %+v", l.CertificateSummaryList)
	}
	l, _ = a.ListCertificates(ctx, &awsacm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: []acmtypes.KeyAlgorithm{acmtypes.KeyAlgorithmEcPrime256v1}}})
	if len(l.CertificateSummaryList) != 1 {
		t.Errorf("EC list: %+v", l.CertificateSummaryList)
	}
	if _, err := a.RevokeCertificate(ctx, &awsacm.RevokeCertificateInput{CertificateArn: req.CertificateArn, RevocationReason: acmtypes.RevocationReasonKeyCompromise}); err != nil {
		t.Fatal(err)
	}
	d, _ = a.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: req.CertificateArn})
	if d.Certificate.Status != acmtypes.CertificateStatusRevoked || d.Certificate.RevokedAt == nil {
		t.Errorf("after revoke: %+v", d.Certificate)
	}
	// Account configuration.
	if _, err := a.PutAccountConfiguration(ctx, &awsacm.PutAccountConfigurationInput{IdempotencyToken: aws.String("x"), ExpiryEvents: &acmtypes.ExpiryEventsConfiguration{DaysBeforeExpiry: aws.Int32(30)}}); err != nil {
		t.Fatal(err)
	}
	ac, err := a.GetAccountConfiguration(ctx, &awsacm.GetAccountConfigurationInput{})
	if err != nil || *ac.ExpiryEvents.DaysBeforeExpiry != 30 {
		t.Errorf("account configuration: %v %+v", err, ac)
	}
	if _, err := a.DeleteCertificate(ctx, &awsacm.DeleteCertificateInput{CertificateArn: req.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: req.CertificateArn}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("after delete: %v", err)
	}
}

// TestExportAuthorization: a user allowed acm:ExportCertificate on one
// certificate cannot export another.
func TestExportAuthorization(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	p, a := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	ca := newRootCA(t, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	var arns []string
	for _, d := range []string{"mine.mesh.local", "theirs.mesh.local"} {
		req, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String(d), CertificateAuthorityArn: &ca})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, *req.CertificateArn)
	}
	iam := srv.IAM()
	if _, err := iam.CreateUser(ctx, "exporter", "/", nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"acm:ExportCertificate","Resource":"` + arns[0] + `"}]}`
	if err := iam.PutUserPolicy(ctx, "exporter", "export-one", doc); err != nil {
		t.Fatal(err)
	}
	akid, secret, err := iam.CreateAccessKey(ctx, "exporter")
	if err != nil {
		t.Fatal(err)
	}
	_, ua := clients(srv, srv.AWSConfigFor(akid.AccessKeyID, secret))
	if _, err := ua.ExportCertificate(ctx, &awsacm.ExportCertificateInput{CertificateArn: &arns[0], Passphrase: []byte("passw0rd")}); err != nil {
		t.Fatalf("export allowed certificate: %v", err)
	}
	_, err = ua.ExportCertificate(ctx, &awsacm.ExportCertificateInput{CertificateArn: &arns[1], Passphrase: []byte("passw0rd")})
	if errCode(err) != "AccessDeniedException" {
		t.Fatalf("export other certificate: %v", err)
	}
	if _, err := ua.DescribeCertificate(ctx, &awsacm.DescribeCertificateInput{CertificateArn: &arns[0]}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("describe without permission: %v", err)
	}
}

// TestRequestCertificateAuthorityCondition: RequestCertificate fills
// acm:CertificateAuthority, so a policy can name the CAs a caller may
// request certificates from.
func TestRequestCertificateAuthorityCondition(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	p, _ := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	allowed := newRootCA(t, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	other := newRootCA(t, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	if _, err := srv.IAM().CreateUser(ctx, "requester", "/", nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"acm:RequestCertificate","Resource":"*",
		"Condition":{"StringEquals":{"acm:CertificateAuthority":"` + allowed + `"}}}]}`
	if err := srv.IAM().PutUserPolicy(ctx, "requester", "one-ca", doc); err != nil {
		t.Fatal(err)
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, "requester")
	if err != nil {
		t.Fatal(err)
	}
	_, ua := clients(srv, srv.AWSConfigFor(key.AccessKeyID, secret))
	tests := []struct {
		name string
		ca   string
		want string
	}{
		{"the allowed CA", allowed, ""},
		{"another CA", other, "AccessDeniedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ua.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("svc.mesh.local"), CertificateAuthorityArn: aws.String(tc.ca)})
			if got := errCode(err); got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
