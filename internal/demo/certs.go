package demo

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/certsync"
)

// certLifetime is the demo certificates' lifetime: short-lived, as Bulwark
// lets a mesh have them, so the renewal step is due at once instead of in
// 45 days.
const certLifetime = "60m"

const (
	tellerName  = "colorteller.mesh.local"
	gatewayName = "colorgateway.mesh.local"
	// gatewayPrefix names the four secrets of ColorGateway's client
	// certificate (certsync.NamesFor).
	gatewayPrefix = "colorgateway"
)

func (d *demo) stepPKI(ctx context.Context) error {
	d.r.section("Create the ColorGateway and ColorTeller CA hierarchies (ACM Private CA API)",
		"root → subordinate → end-entity, as the seed's best-practice note recommends; each CA activated through its CSR")
	var err error
	if d.gatewayCA, err = newHierarchy(ctx, d.pca, "ColorGateway"); err != nil {
		return err
	}
	if d.tellerCA, err = newHierarchy(ctx, d.pca, "ColorTeller"); err != nil {
		return err
	}
	for _, h := range []*hierarchy{d.gatewayCA, d.tellerCA} {
		roots := x509.NewCertPool()
		roots.AddCert(h.rootCert)
		_, verr := h.subCert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		d.r.check(verr == nil, "%s issuing CA chains to its root (%s)", h.name, shortARN(h.subARN))
	}
	return nil
}

func (d *demo) stepCertificates(ctx context.Context) error {
	d.r.section("Request the ColorTeller server and ColorGateway client certificates (ACM API)",
		"private certificates issued at once by the right hierarchy, with keys generated and kept by Bulwark")
	request := func(name string, h *hierarchy) (string, error) {
		out, err := d.acm.RequestCertificate(ctx, &acm.RequestCertificateInput{
			DomainName: aws.String(name), CertificateAuthorityArn: aws.String(h.subARN), KeyAlgorithm: acmtypes.KeyAlgorithmEcPrime256v1,
			Tags: []acmtypes.Tag{{Key: aws.String("bulwark:validity"), Value: aws.String(certLifetime)}},
		})
		if err != nil {
			return "", fmt.Errorf("request %s: %w", name, err)
		}
		return aws.ToString(out.CertificateArn), nil
	}
	var err error
	if d.tellerCert, err = request(tellerName, d.tellerCA); err != nil {
		return err
	}
	if d.gatewayCert, err = request(gatewayName, d.gatewayCA); err != nil {
		return err
	}
	for _, c := range []struct {
		arn   string
		h     *hierarchy
		usage x509.ExtKeyUsage
	}{{d.tellerCert, d.tellerCA, x509.ExtKeyUsageServerAuth}, {d.gatewayCert, d.gatewayCA, x509.ExtKeyUsageClientAuth}} {
		got, err := d.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(c.arn)})
		if !d.r.must(err, "get "+c.arn) {
			return errStop
		}
		d.r.check(c.h.verifyLeaf(aws.ToString(got.Certificate), c.usage) == nil, "%s verifies against the %s hierarchy", shortARN(c.arn), c.h.name)
	}
	return nil
}

func (d *demo) stepPrincipals(ctx context.Context) error {
	d.r.section("Create least-privilege principals (IAM API)",
		"each proxy and the exporter/renewer sign their own requests with keys that can do only their job")
	cfg := d.e.srv.Config()
	// The proxies read their configuration (and ACM certificates) over the
	// xDS stream, authorized on their own resource.
	meshRead := fmt.Sprintf(`{"Effect":"Allow","Action":"appmesh:StreamAggregatedResources","Resource":"arn:aws:appmesh:%[1]s:%[2]s:mesh/colorapp/*"}`, cfg.Region, cfg.AccountID)
	chainSecret := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s/certificate-chain-*", cfg.Region, cfg.AccountID, gatewayPrefix)
	var err error
	// ColorTeller's sidecar: export its own certificate (the key stays in
	// the proxy's memory) and read the ColorGateway CA chain — never the
	// gateway's key.
	if d.tellerProxyCfg, err = d.principal(ctx, "colorteller-proxy", meshRead,
		`{"Effect":"Allow","Action":["acm:ExportCertificate","acm:DescribeCertificate"],"Resource":"`+d.tellerCert+`"}`,
		`{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"`+chainSecret+`"}`); err != nil {
		return err
	}
	// ColorGateway: read its own four secrets and the ColorTeller CA.
	if d.gatewayProxyCfg, err = d.principal(ctx, "colorgateway-proxy", meshRead,
		`{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"`+certsync.SecretARNPattern("aws", cfg.Region, cfg.AccountID, gatewayPrefix)+`"}`,
		`{"Effect":"Allow","Action":"acm-pca:GetCertificateAuthorityCertificate","Resource":"`+d.tellerCA.subARN+`"}`); err != nil {
		return err
	}
	// The exporter/renewer (the seed's Lambda functions): renew and export
	// the two certificates, write secret versions, never read a value.
	doc := certsync.ExportPolicy("aws", cfg.Region, cfg.AccountID, []string{d.tellerCert, d.gatewayCert}, []string{gatewayPrefix})
	if d.renewerCfg, err = d.principalDoc(ctx, "cert-renewer", doc); err != nil {
		return err
	}
	d.r.info("colorteller-proxy, colorgateway-proxy and cert-renewer created with their own access keys")
	return nil
}

func (d *demo) stepExport(ctx context.Context) error {
	d.r.section("Export the ColorGateway client certificate into Secrets Manager, then fetch it (seed steps 3-7)",
		"GetRandomPassword → ExportCertificate with that passphrase → four secrets; the start-up fetch writes a verified set, key 0600")
	acmc, sm := acm.NewFromConfig(d.renewerCfg), secretsmanager.NewFromConfig(d.renewerCfg)
	res, err := certsync.Export(ctx, acmc, sm, certsync.ExportInput{CertificateARN: d.gatewayCert, SecretPrefix: gatewayPrefix})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	d.r.check(res.Written, "certificate, chain, encrypted key and passphrase stored as secrets under %s/ (serial %s)", gatewayPrefix, res.Serial)
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(certsync.NamesFor(gatewayPrefix).Passphrase)})
	d.r.check(isAccessDenied(err), "the exporter cannot read back the passphrase it stored (%s)", errCode(err))

	b, err := certsync.Fetch(ctx, secretsmanager.NewFromConfig(d.gatewayProxyCfg), gatewayPrefix)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	out := filepath.Join(d.dir, "colorgateway-certs")
	if _, err := (&certsync.Writer{Dir: out}).Write(b); err != nil {
		return fmt.Errorf("write fetched files: %w", err)
	}
	cert, _, key, err := certsync.ReadCurrent(out)
	d.r.must(err, "read fetched files")
	d.r.check(d.gatewayCA.verifyLeaf(string(cert), x509.ExtKeyUsageClientAuth) == nil && len(key) > 0,
		"fetched cert.pem verifies against the ColorGateway CA and key.pem was decrypted with the passphrase")
	if st, err := os.Stat(filepath.Join(out, "key.pem")); err == nil {
		d.r.check(st.Mode().Perm() == 0o600, "key.pem has mode %v", st.Mode().Perm())
	}
	return nil
}

func shortARN(arn string) string {
	if i := lastSlash(arn); i >= 0 && len(arn)-i > 9 {
		return arn[:i+9] + "…"
	}
	return arn
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
