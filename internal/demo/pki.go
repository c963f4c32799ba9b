package demo

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
)

// hierarchy is one private CA hierarchy: a root that only signs the
// subordinate, and the subordinate that issues end-entity certificates,
// as the seed's best-practice note recommends.
type hierarchy struct {
	name     string
	rootARN  string
	subARN   string
	rootPEM  string
	subPEM   string
	chainPEM string // subordinate + root
	rootCert *x509.Certificate
	subCert  *x509.Certificate
}

const (
	tmplRoot = "arn:aws:acm-pca:::template/RootCACertificate/V1"
	tmplSub0 = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
)

// newHierarchy creates and activates root and subordinate CAs through the
// acm-pca API, the way an operator would with the AWS CLI.
func newHierarchy(ctx context.Context, pca *acmpca.Client, name string) (*hierarchy, error) {
	h := &hierarchy{name: name}
	create := func(typ pcatypes.CertificateAuthorityType, cn string) (string, error) {
		out, err := pca.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
			CertificateAuthorityType: typ,
			CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
				KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
				Subject: &pcatypes.ASN1Subject{CommonName: aws.String(cn), Organization: aws.String("Color App")},
			},
			RevocationConfiguration: &pcatypes.RevocationConfiguration{CrlConfiguration: &pcatypes.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)}},
			Tags:                    []pcatypes.Tag{{Key: aws.String("app"), Value: aws.String("colorapp")}},
		})
		if err != nil {
			return "", fmt.Errorf("create %s CA: %w", cn, err)
		}
		return aws.ToString(out.CertificateAuthorityArn), nil
	}
	var err error
	if h.rootARN, err = create(pcatypes.CertificateAuthorityTypeRoot, name+" Root CA"); err != nil {
		return nil, err
	}
	if h.rootPEM, err = signCSR(ctx, pca, h.rootARN, h.rootARN, tmplRoot, 3650); err != nil {
		return nil, err
	}
	if _, err := pca.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: &h.rootARN, Certificate: []byte(h.rootPEM)}); err != nil {
		return nil, fmt.Errorf("activate %s root: %w", name, err)
	}
	if h.subARN, err = create(pcatypes.CertificateAuthorityTypeSubordinate, name+" Issuing CA"); err != nil {
		return nil, err
	}
	if h.subPEM, err = signCSR(ctx, pca, h.subARN, h.rootARN, tmplSub0, 1825); err != nil {
		return nil, err
	}
	if _, err := pca.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: &h.subARN, Certificate: []byte(h.subPEM), CertificateChain: []byte(h.rootPEM)}); err != nil {
		return nil, fmt.Errorf("activate %s subordinate: %w", name, err)
	}
	h.chainPEM = h.subPEM + h.rootPEM
	if h.rootCert, err = parseCert(h.rootPEM); err != nil {
		return nil, err
	}
	if h.subCert, err = parseCert(h.subPEM); err != nil {
		return nil, err
	}
	return h, nil
}

// signCSR has issuer sign the CSR of ca with template, then fetches it.
func signCSR(ctx context.Context, pca *acmpca.Client, ca, issuer, template string, days int64) (string, error) {
	csr, err := pca.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &ca})
	if err != nil {
		return "", fmt.Errorf("CSR of %s: %w", ca, err)
	}
	out, err := pca.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &issuer, Csr: []byte(aws.ToString(csr.Csr)), TemplateArn: aws.String(template),
		SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
		Validity:         &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeDays, Value: aws.Int64(days)},
	})
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", ca, err)
	}
	for i := 0; ; i++ {
		got, err := pca.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &issuer, CertificateArn: out.CertificateArn})
		if err == nil {
			return aws.ToString(got.Certificate), nil
		}
		if i == 50 {
			return "", fmt.Errorf("fetch issued certificate: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parseCert(pemText string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		return nil, fmt.Errorf("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// verifyLeaf checks a leaf against a hierarchy for a usage.
func (h *hierarchy) verifyLeaf(leafPEM string, usage x509.ExtKeyUsage) error {
	leaf, err := parseCert(leafPEM)
	if err != nil {
		return err
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(h.rootCert)
	inter.AddCert(h.subCert)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}
