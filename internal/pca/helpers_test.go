package pca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/schemas"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

const tmplPrefix = "arn:aws:acm-pca:::template/"

func newClient(t testing.TB) (*servertest.Server, *acmpca.Client) {
	t.Helper()
	srv := servertest.Start(t)
	return srv, pcaClient(srv.AWSConfig(), srv.Clock.Now)
}

// pcaClient makes an acmpca client as users have it: SDK v1.57 and later
// speak Smithy RPC v2 CBOR to ACM PCA by default, so every PCA test also
// tests the server's CBOR protocol. pcaJSONClient forces AWS JSON 1.1, as
// older SDKs and the AWS CLI send.
func pcaClient(cfg aws.Config, now func() time.Time) *acmpca.Client {
	return acmpca.NewFromConfig(cfg)
}

func pcaJSONClient(cfg aws.Config, now func() time.Time) *acmpca.Client {
	return acmpca.NewFromConfig(cfg, func(o *acmpca.Options) {
		o.Protocol = awsjson.New11(schemas.ACMPrivateCA)
	})
}

type caSpec struct {
	keyAlg types.KeyAlgorithm
	sigAlg types.SigningAlgorithm
	cn     string
	crl    bool
}

func createCA(t testing.TB, c *acmpca.Client, typ types.CertificateAuthorityType, spec caSpec) string {
	t.Helper()
	in := &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: typ,
		CertificateAuthorityConfiguration: &types.CertificateAuthorityConfiguration{
			KeyAlgorithm: spec.keyAlg, SigningAlgorithm: spec.sigAlg,
			Subject: &types.ASN1Subject{CommonName: aws.String(spec.cn), Organization: aws.String("Bulwark Test"), Country: aws.String("US")},
		},
	}
	if spec.crl {
		in.RevocationConfiguration = &types.RevocationConfiguration{CrlConfiguration: &types.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)}}
	}
	out, err := c.CreateCertificateAuthority(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateCertificateAuthority: %v", err)
	}
	return *out.CertificateAuthorityArn
}

// activateRoot issues the root's own CSR with RootCACertificate/V1 and
// imports the result, as the AWS console does.
func activateRoot(t testing.TB, c *acmpca.Client, arn string, sig types.SigningAlgorithm) {
	t.Helper()
	ctx := context.Background()
	csr, err := c.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &arn, Csr: []byte(*csr.Csr), SigningAlgorithm: sig,
		TemplateArn: aws.String(tmplPrefix + "RootCACertificate/V1"),
		Validity:    &types.Validity{Type: types.ValidityPeriodTypeYears, Value: aws.Int64(10)},
	})
	if err != nil {
		t.Fatalf("issue root: %v", err)
	}
	got, err := c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &arn, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: &arn, Certificate: []byte(*got.Certificate),
	}); err != nil {
		t.Fatalf("import root: %v", err)
	}
}

// activateSub has parent sign sub's CSR with a path-length template.
func activateSub(t testing.TB, c *acmpca.Client, parent, sub string, parentSig types.SigningAlgorithm, pathLen string) {
	t.Helper()
	ctx := context.Background()
	csr, err := c.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &sub})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &parent, Csr: []byte(*csr.Csr), SigningAlgorithm: parentSig,
		TemplateArn: aws.String(tmplPrefix + "SubordinateCACertificate_PathLen" + pathLen + "/V1"),
		Validity:    &types.Validity{Type: types.ValidityPeriodTypeYears, Value: aws.Int64(5)},
	})
	if err != nil {
		t.Fatalf("issue subordinate: %v", err)
	}
	got, err := c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &parent, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: &sub, Certificate: []byte(*got.Certificate), CertificateChain: []byte(*got.CertificateChain),
	}); err != nil {
		t.Fatalf("import subordinate: %v", err)
	}
}

type hierarchy struct {
	root, sub string
}

// newHierarchy builds an RSA root and an EC P-256 subordinate, both
// publishing CRLs and answering OCSP.
func newHierarchy(t testing.TB, c *acmpca.Client) hierarchy {
	t.Helper()
	root := createCA(t, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmRsa2048, types.SigningAlgorithmSha256withrsa, "Bulwark Test Root", true})
	enableOCSP(t, c, root)
	activateRoot(t, c, root, types.SigningAlgorithmSha256withrsa)
	sub := createCA(t, c, types.CertificateAuthorityTypeSubordinate, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Bulwark Test Issuing CA", true})
	enableOCSP(t, c, sub)
	activateSub(t, c, root, sub, types.SigningAlgorithmSha256withrsa, "0")
	return hierarchy{root: root, sub: sub}
}

// enableOCSP turns a CA's OCSP responder on, keeping its CRL on.
func enableOCSP(t testing.TB, c *acmpca.Client, arn string) {
	t.Helper()
	if _, err := c.UpdateCertificateAuthority(context.Background(), &acmpca.UpdateCertificateAuthorityInput{
		CertificateAuthorityArn: &arn,
		RevocationConfiguration: &types.RevocationConfiguration{
			CrlConfiguration:  &types.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)},
			OcspConfiguration: &types.OcspConfiguration{Enabled: aws.Bool(true)},
		},
	}); err != nil {
		t.Fatalf("enable OCSP: %v", err)
	}
}

func newCSR(t testing.TB, key crypto.Signer, cn string, dns ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs a CSR and returns the leaf and chain PEM.
func issue(t testing.TB, c *acmpca.Client, ca string, sig types.SigningAlgorithm, csr []byte, template string, pt *types.ApiPassthrough) (arn, leaf, chain string) {
	t.Helper()
	ctx := context.Background()
	in := &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &ca, Csr: csr, SigningAlgorithm: sig,
		Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)}, ApiPassthrough: pt,
	}
	if template != "" {
		in.TemplateArn = aws.String(tmplPrefix + template)
	}
	iss, err := c.IssueCertificate(ctx, in)
	if err != nil {
		t.Fatalf("IssueCertificate(%s): %v", template, err)
	}
	got, err := c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &ca, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	return *iss.CertificateArn, *got.Certificate, aws.ToString(got.CertificateChain)
}

func parseCert(t testing.TB, p string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatalf("no PEM in %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caCert(t testing.TB, c *acmpca.Client, arn string) (cert, chain string) {
	t.Helper()
	out, err := c.GetCertificateAuthorityCertificate(context.Background(), &acmpca.GetCertificateAuthorityCertificateInput{CertificateAuthorityArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	return *out.Certificate, aws.ToString(out.CertificateChain)
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

func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func openssl(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	cmd := exec.Command(p, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
