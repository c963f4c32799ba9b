package pca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
)

// BenchmarkIssueCertificate compares IssueCertificate through the whole
// API path (SDK, SigV4, JSON, authorization, store, audit) with the raw
// crypto it cannot avoid: one ECDSA P-256 signature, and the same plus
// certificate encoding (x509.CreateCertificate).
func BenchmarkIssueCertificate(b *testing.B) {
	_, c := newClient(b)
	ca := createCA(b, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Bench Root", true})
	activateRoot(b, c, ca, types.SigningAlgorithmSha256withecdsa)
	key := ecKey(b)
	csr := newCSR(b, key, "bench.mesh.local", "bench.mesh.local")
	ctx := context.Background()
	b.Run("api", func(b *testing.B) {
		in := &acmpca.IssueCertificateInput{CertificateAuthorityArn: &ca, Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
			Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)}}
		for b.Loop() {
			if _, err := c.IssueCertificate(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	caKey := ecKey(b)
	b.Run("raw-ecdsa-sign", func(b *testing.B) {
		digest := sha256.Sum256([]byte("tbsCertificate"))
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, caKey, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-create-certificate", func(b *testing.B) {
		parent := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "p"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		for b.Loop() {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bench.mesh.local"}, DNSNames: []string{"bench.mesh.local"},
				NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
			if _, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, caKey); err != nil {
				b.Fatal(err)
			}
		}
	})
}
