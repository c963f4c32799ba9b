package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func pkiOpts(dir, name string) pkiInitOptions {
	return pkiInitOptions{Name: name, KeyAlgorithm: "EC_prime256v1", RootDays: 3650, SubDays: 1825,
		BundlePath: filepath.Join(dir, name+"-bundle.pem"), ChainPath: filepath.Join(dir, name+"-chain.pem"), CRL: true}
}

func countCAs(t *testing.T, c *acmpca.Client) int {
	t.Helper()
	out, err := c.ListCertificateAuthorities(context.Background(), &acmpca.ListCertificateAuthoritiesInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.CertificateAuthorities)
}

// verifyHierarchy checks that the chain file verifies against the bundle
// and that the subordinate may issue end-entity certificates only.
func verifyHierarchy(t *testing.T, o pkiInitOptions) {
	t.Helper()
	bundle, err := os.ReadFile(o.BundlePath)
	if err != nil {
		t.Fatal(err)
	}
	chainPEM, err := os.ReadFile(o.ChainPath)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := parseCertsPEM(string(bundle))
	if err != nil || len(roots) != 1 {
		t.Fatalf("bundle: %v (%d certificates)", err, len(roots))
	}
	chain, err := parseCertsPEM(string(chainPEM))
	if err != nil || len(chain) != 2 {
		t.Fatalf("chain: %v (%d certificates)", err, len(chain))
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("subordinate does not verify against the bundle: %v", err)
	}
	if !chain[0].IsCA || chain[0].MaxPathLen != o.PathLen || (o.PathLen == 0 && !chain[0].MaxPathLenZero) {
		t.Errorf("subordinate: IsCA %v MaxPathLen %d", chain[0].IsCA, chain[0].MaxPathLen)
	}
}

func TestPKIInit(t *testing.T) {
	srv := servertest.Start(t)
	c := acmpca.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	dir := t.TempDir()

	o := pkiOpts(dir, "Example")
	res, err := pkiInit(ctx, c, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.RootAction != "created" || res.SubordinateAction != "created" || res.RootARN == "" || res.SubordinateARN == "" {
		t.Fatalf("result %+v", res)
	}
	verifyHierarchy(t, o)
	for _, arn := range []string{res.RootARN, res.SubordinateARN} {
		d, err := c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: aws.String(arn)})
		if err != nil || d.CertificateAuthority.Status != pcatypes.CertificateAuthorityStatusActive {
			t.Errorf("%s: %v %+v", arn, err, d)
		}
	}
	n := countCAs(t, c)

	t.Run("same name refused, nothing created", func(t *testing.T) {
		_, err := pkiInit(ctx, c, o, io.Discard)
		if !errors.Is(err, errPKIExists) || !strings.Contains(err.Error(), "--reuse") {
			t.Fatalf("error %v, want errPKIExists naming --reuse", err)
		}
		if got := countCAs(t, c); got != n {
			t.Errorf("%d CAs after a refusal, had %d", got, n)
		}
	})
	t.Run("reuse returns the same hierarchy", func(t *testing.T) {
		r := o
		r.Reuse = true
		again, err := pkiInit(ctx, c, r, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if again.RootARN != res.RootARN || again.SubordinateARN != res.SubordinateARN || again.RootAction != "reused" || again.SubordinateAction != "reused" {
			t.Errorf("reuse: %+v, first %+v", again, res)
		}
		if got := countCAs(t, c); got != n {
			t.Errorf("%d CAs after --reuse, had %d", got, n)
		}
	})
	t.Run("attach to an existing root", func(t *testing.T) {
		a := pkiOpts(dir, "Payments")
		a.RootARN = res.RootARN
		a.PathLen = 1
		got, err := pkiInit(ctx, c, a, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got.RootARN != res.RootARN || got.RootAction != "attached" || got.SubordinateARN == res.SubordinateARN {
			t.Errorf("attach: %+v", got)
		}
		verifyHierarchy(t, a)
	})
	t.Run("pending CA of the name is activated with --reuse", func(t *testing.T) {
		out, err := c.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
			CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
			CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
				KeyAlgorithm: pcatypes.KeyAlgorithmRsa2048, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withrsa,
				Subject: &pcatypes.ASN1Subject{CommonName: aws.String("Halfway Root CA")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		h := pkiOpts(dir, "Halfway")
		h.Reuse = true
		got, err := pkiInit(ctx, c, h, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got.RootARN != aws.ToString(out.CertificateAuthorityArn) || got.RootAction != "reused" || got.SubordinateAction != "created" {
			t.Errorf("pending reuse: %+v", got)
		}
		verifyHierarchy(t, h)
	})
}

func TestPKIInitRefusals(t *testing.T) {
	srv := servertest.Start(t)
	c := acmpca.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	dir := t.TempDir()
	pending, err := c.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
			KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("Pending")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		edit    func(*pkiInitOptions)
		wantErr string
	}{
		{"empty name", func(o *pkiInitOptions) { o.Name = " " }, "--name"},
		{"long name", func(o *pkiInitOptions) { o.Name = strings.Repeat("n", 51) }, "--name"},
		{"unknown key algorithm", func(o *pkiInitOptions) { o.KeyAlgorithm = "RSA_1024" }, "--key-algorithm"},
		{"path length", func(o *pkiInitOptions) { o.PathLen = 4 }, "--path-len"},
		{"subordinate outlives root", func(o *pkiInitOptions) { o.SubDays = o.RootDays }, "validity"},
		{"no bundle", func(o *pkiInitOptions) { o.BundlePath = "" }, "--bundle"},
		{"parent not active", func(o *pkiInitOptions) { o.RootARN = aws.ToString(pending.CertificateAuthorityArn) }, "must be ACTIVE"},
		{"parent unknown", func(o *pkiInitOptions) {
			o.RootARN = "arn:aws:acm-pca:us-east-1:000000000000:certificate-authority/00000000-0000-0000-0000-000000000000"
		}, "--root-arn"},
		{"bundle directory missing", func(o *pkiInitOptions) { o.BundlePath = filepath.Join(dir, "no", "such", "b.pem") }, "--bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := pkiOpts(dir, "Refused-"+strings.ReplaceAll(tc.name, " ", "-"))
			tc.edit(&o)
			_, err := pkiInit(ctx, c, o, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzParseCertsPEM: the CA chains pki init and check read come from a
// server; no input may panic the parser.
func FuzzParseCertsPEM(f *testing.F) {
	f.Add("")
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	f.Add("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		certs, err := parseCertsPEM(s)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
