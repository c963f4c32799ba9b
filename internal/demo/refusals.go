package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/certsync"
)

func (d *demo) listenerStat(name string) uint64 {
	prefix := "listener." + strings.ReplaceAll(d.sidecar.p.ListenerAddr(d.app.port), ":", "_") + "."
	return d.sidecar.p.Stats().Counter(prefix + name).Value()
}

func (d *demo) stepRefusals(ctx context.Context) error {
	d.r.section("Refusals: ColorTeller accepts only the ColorGateway's certificate",
		"a client without a certificate and one from the wrong CA are refused and counted in Envoy's statistics")
	before := d.listenerStat("ssl.fail_verify_no_cert")
	_, err := d.tlsClient(nil)
	d.r.check(err != nil && d.listenerStat("ssl.fail_verify_no_cert") == before+1,
		"no client certificate: refused, ssl.fail_verify_no_cert %d → %d", before, d.listenerStat("ssl.fail_verify_no_cert"))

	wrong, err := d.clientCertFrom(ctx, d.tellerCA, gatewayName)
	if err != nil {
		return err
	}
	before = d.listenerStat("ssl.fail_verify_error")
	_, err = d.tlsClient(wrong)
	d.r.check(err != nil && d.listenerStat("ssl.fail_verify_error") == before+1,
		"a %s certificate from the ColorTeller CA (wrong hierarchy): refused, ssl.fail_verify_error %d → %d", gatewayName, before, d.listenerStat("ssl.fail_verify_error"))

	// Least privilege: ColorTeller's principal may read the gateway's CA
	// chain but not the gateway's key.
	_, err = secretsmanager.NewFromConfig(d.tellerProxyCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(certsync.NamesFor(gatewayPrefix).PrivateKey)})
	d.r.check(isAccessDenied(err), "colorteller-proxy reading the gateway's private key: %s", errCode(err))
	return nil
}

// clientCertFrom issues a client certificate for name from hierarchy h
// with a key made here.
func (d *demo) clientCertFrom(ctx context.Context, h *hierarchy, name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		return nil, err
	}
	out, err := d.pca.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: aws.String(h.subARN), Csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
		TemplateArn:      aws.String("arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1"),
		SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
		Validity:         &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeDays, Value: aws.Int64(1)},
	})
	if err != nil {
		return nil, fmt.Errorf("issue the wrong-CA certificate: %w", err)
	}
	got, err := d.pca.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: aws.String(h.subARN), CertificateArn: out.CertificateArn})
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair([]byte(aws.ToString(got.Certificate)+aws.ToString(got.CertificateChain)), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return &c, err
}
