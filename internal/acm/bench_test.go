package acm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// BenchmarkRequestCertificate compares RequestCertificate through the
// whole API path with its raw crypto: key generation plus CSR
// self-signature plus the CA's signature.
func BenchmarkRequestCertificate(b *testing.B) {
	srv := servertest.Start(b)
	p, a := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		keyAlg pcatypes.KeyAlgorithm
		sig    pcatypes.SigningAlgorithm
		alg    acmtypes.KeyAlgorithm
		gen    func() (any, error)
	}{
		{"EC_prime256v1", pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa, acmtypes.KeyAlgorithmEcPrime256v1,
			func() (any, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"RSA_2048", pcatypes.KeyAlgorithmRsa2048, pcatypes.SigningAlgorithmSha256withrsa, acmtypes.KeyAlgorithmRsa2048,
			func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
	} {
		ca := newRootCA(b, p, tc.keyAlg, tc.sig)
		b.Run(tc.name+"/api", func(b *testing.B) {
			for b.Loop() {
				if _, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("bench.mesh.local"), CertificateAuthorityArn: &ca, KeyAlgorithm: tc.alg}); err != nil {
					b.Fatal(err)
				}
			}
		})
		caKey, _ := tc.gen()
		parent := &x509.Certificate{SerialNumber: bigOne, Subject: pkix.Name{CommonName: "p"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		b.Run(tc.name+"/raw-keygen-csr-sign", func(b *testing.B) {
			for b.Loop() {
				k, err := tc.gen()
				if err != nil {
					b.Fatal(err)
				}
				csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bench.mesh.local"}}, k)
				if err != nil {
					b.Fatal(err)
				}
				parsed, _ := x509.ParseCertificateRequest(csr)
				tmpl := &x509.Certificate{SerialNumber: bigOne, Subject: parsed.Subject}
				if _, err := x509.CreateCertificate(rand.Reader, tmpl, parent, parsed.PublicKey, caKey); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var bigOne = big.NewInt(1)

// BenchmarkExportCertificate measures ExportCertificate per second
// (PBKDF2 with 2048 iterations dominates the crypto).
func BenchmarkExportCertificate(b *testing.B) {
	srv := servertest.Start(b)
	p, a := clients(srv, srv.AWSConfig())
	ctx := context.Background()
	ca := newRootCA(b, p, pcatypes.KeyAlgorithmEcPrime256v1, pcatypes.SigningAlgorithmSha256withecdsa)
	req, err := a.RequestCertificate(ctx, &awsacm.RequestCertificateInput{DomainName: aws.String("bench.mesh.local"), CertificateAuthorityArn: &ca})
	if err != nil {
		b.Fatal(err)
	}
	in := &awsacm.ExportCertificateInput{CertificateArn: req.CertificateArn, Passphrase: []byte("bench-passphrase")}
	for b.Loop() {
		if _, err := a.ExportCertificate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
