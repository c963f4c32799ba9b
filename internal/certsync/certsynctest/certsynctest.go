// Package certsynctest builds the PKI the certificate-lifecycle tests and
// the demo need on a running server: a root CA, a subordinate CA under it
// (the hierarchy the seed's best-practice note recommends) and ACM
// certificates issued by the subordinate, through the real SDK clients.
package certsynctest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
)

// PKI is a root and a subordinate CA.
type PKI struct {
	RootARN, SubordinateARN string
	// RootPEM is the root certificate (the trust anchor to verify with).
	RootPEM string
	// EC says the CAs use EC P-256 keys (certificates then get EC keys).
	EC bool
}

// NewPKI creates and activates root → subordinate, RSA 2048 or EC P-256.
func NewPKI(tb testing.TB, cfg aws.Config, name string, ec bool) *PKI {
	tb.Helper()
	ctx := context.Background()
	p := acmpca.NewFromConfig(cfg)
	keyAlg, sig := pcatypes.KeyAlgorithmRsa2048, pcatypes.SigningAlgorithmSha256withrsa
	if ec {
		keyAlg, sig = pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa
	}
	create := func(typ pcatypes.CertificateAuthorityType, cn string) (string, string) {
		out, err := p.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
			CertificateAuthorityType: typ,
			CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: keyAlg, SigningAlgorithm: sig,
				Subject: &pcatypes.ASN1Subject{CommonName: aws.String(cn)}},
		})
		if err != nil {
			tb.Fatalf("create %s: %v", cn, err)
		}
		csr, err := p.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: out.CertificateAuthorityArn})
		if err != nil {
			tb.Fatal(err)
		}
		return *out.CertificateAuthorityArn, *csr.Csr
	}
	issue := func(issuer, csr, template string, years int64) (string, string) {
		iss, err := p.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &issuer, Csr: []byte(csr), SigningAlgorithm: sig,
			TemplateArn: aws.String("arn:aws:acm-pca:::template/" + template),
			Validity:    &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeYears, Value: aws.Int64(years)}})
		if err != nil {
			tb.Fatalf("issue %s: %v", template, err)
		}
		got, err := p.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &issuer, CertificateArn: iss.CertificateArn})
		if err != nil {
			tb.Fatal(err)
		}
		return aws.ToString(got.Certificate), aws.ToString(got.CertificateChain)
	}
	rootARN, rootCSR := create(pcatypes.CertificateAuthorityTypeRoot, name+" Root CA")
	rootPEM, _ := issue(rootARN, rootCSR, "RootCACertificate/V1", 10)
	if _, err := p.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &rootARN, Certificate: []byte(rootPEM)}); err != nil {
		tb.Fatal(err)
	}
	subARN, subCSR := create(pcatypes.CertificateAuthorityTypeSubordinate, name+" Issuing CA")
	subPEM, chain := issue(rootARN, subCSR, "SubordinateCACertificate_PathLen0/V1", 5)
	if chain == "" {
		chain = rootPEM
	}
	if _, err := p.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &subARN,
		Certificate: []byte(subPEM), CertificateChain: []byte(chain)}); err != nil {
		tb.Fatal(err)
	}
	return &PKI{RootARN: rootARN, SubordinateARN: subARN, RootPEM: rootPEM, EC: ec}
}

// Request asks ACM for a private certificate from the subordinate CA.
// validity, if not empty, is a Go duration for the bulwark:validity tag
// (e.g. "720h"); empty means ACM's default (395 days).
func (k *PKI) Request(tb testing.TB, cfg aws.Config, domain, validity string) string {
	tb.Helper()
	in := &acm.RequestCertificateInput{DomainName: aws.String(domain), CertificateAuthorityArn: aws.String(k.SubordinateARN)}
	if k.EC {
		in.KeyAlgorithm = acmtypes.KeyAlgorithmEcPrime256v1
	}
	if validity != "" {
		in.Tags = []acmtypes.Tag{{Key: aws.String("bulwark:validity"), Value: aws.String(validity)}}
	}
	out, err := acm.NewFromConfig(cfg).RequestCertificate(context.Background(), in)
	if err != nil {
		tb.Fatalf("request %s: %v", domain, err)
	}
	return aws.ToString(out.CertificateArn)
}
