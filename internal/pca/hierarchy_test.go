package pca_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
)

// TestHierarchyOpenSSLVerify builds root -> subordinate -> leaf through
// the SDK and has openssl verify the leaf.
func TestHierarchyOpenSSLVerify(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	h := newHierarchy(t, c)
	rootPEM, rootChain := caCert(t, c, h.root)
	if rootChain != "" {
		t.Errorf("root CA certificate has a chain: %q", rootChain)
	}
	subPEM, subChain := caCert(t, c, h.sub)
	if subChain != rootPEM {
		t.Errorf("subordinate chain is not the root certificate")
	}
	pt := &types.ApiPassthrough{Extensions: &types.Extensions{SubjectAlternativeNames: []types.GeneralName{
		{DnsName: aws.String("colorteller.mesh.local")},
		{UniformResourceIdentifier: aws.String("spiffe://mesh.local/ns/default/sa/colorteller")},
		{IpAddress: aws.String("10.0.0.7")},
	}}}
	before := srv.Clock.Now()
	_, leafPEM, chain := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa,
		newCSR(t, ecKey(t), "colorteller.mesh.local"), "EndEntityCertificate_APIPassthrough/V1", pt)
	if chain != subPEM+rootPEM {
		t.Errorf("leaf chain should be subordinate then root")
	}
	dir := writeFiles(t, map[string]string{"root.pem": rootPEM, "chain.pem": subPEM, "leaf.pem": leafPEM})
	if out, err := openssl(t, dir, "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"); err != nil || !strings.Contains(out, "leaf.pem: OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	// Purpose checks: the leaf serves and the subordinate cannot extend
	// the path (pathlen 0).
	if out, err := openssl(t, dir, "verify", "-purpose", "sslserver", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"); err != nil {
		t.Fatalf("openssl verify -purpose sslserver: %v\n%s", err, out)
	}

	leaf := parseCert(t, leafPEM)
	if got := before.Add(-time.Hour).Sub(leaf.NotBefore); got < -2*time.Second || got > 2*time.Second {
		t.Errorf("NotBefore = %v, want issue time minus 60 minutes (%v)", leaf.NotBefore, before.Add(-time.Hour))
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://mesh.local/ns/default/sa/colorteller" {
		t.Errorf("URI SANs = %v", leaf.URIs)
	}
	if len(leaf.IPAddresses) != 1 || len(leaf.DNSNames) != 1 {
		t.Errorf("SANs: DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	subID := h.sub[strings.LastIndex(h.sub, "/")+1:]
	if len(leaf.CRLDistributionPoints) != 1 || !strings.HasSuffix(leaf.CRLDistributionPoints[0], "/crl/"+subID+".crl") {
		t.Errorf("CRL distribution points = %v", leaf.CRLDistributionPoints)
	}
	sub := parseCert(t, subPEM)
	if !sub.IsCA || sub.MaxPathLen != 0 || !sub.MaxPathLenZero {
		t.Errorf("subordinate: IsCA %v MaxPathLen %d", sub.IsCA, sub.MaxPathLen)
	}

	// A pathlen-0 subordinate may not sign another CA.
	ctx := context.Background()
	grand := createCA(t, c, types.CertificateAuthorityTypeSubordinate, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Too Deep", false})
	csr, err := c.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &grand})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &h.sub, Csr: []byte(*csr.Csr), SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
		TemplateArn: aws.String(tmplPrefix + "SubordinateCACertificate_PathLen0/V1"),
		Validity:    &types.Validity{Type: types.ValidityPeriodTypeYears, Value: aws.Int64(1)},
	})
	if errCode(err) != "InvalidArgsException" {
		t.Errorf("CA under a pathlen-0 CA: err = %v, want InvalidArgsException", err)
	}
}

// TestRevocationCRL revokes a leaf and checks the CRL with openssl: it
// lists the serial and `openssl verify -crl_check` rejects the leaf. Once
// the leaf expires it drops out of the CRL.
func TestRevocationCRL(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	h := newHierarchy(t, c)
	ctx := context.Background()
	rootPEM, _ := caCert(t, c, h.root)
	subPEM, _ := caCert(t, c, h.sub)
	_, leafPEM, _ := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa, newCSR(t, ecKey(t), "revoked.mesh.local", "revoked.mesh.local"), "", nil)
	_, keptPEM, _ := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa, newCSR(t, ecKey(t), "kept.mesh.local", "kept.mesh.local"), "", nil)
	leaf := parseCert(t, leafPEM)

	fetchCRL := func() *x509.RevocationList {
		t.Helper()
		u := mustURL(t, leaf.CRLDistributionPoints[0])
		resp, err := http.Get(srv.URL + u.Path) // unauthenticated
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
			t.Fatalf("GET CRL: %d %s", resp.StatusCode, body)
		}
		crl, err := x509.ParseRevocationList(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(parseCert(t, subPEM)); err != nil {
			t.Fatalf("CRL signature: %v", err)
		}
		return crl
	}
	if n := len(fetchCRL().RevokedCertificateEntries); n != 0 {
		t.Fatalf("fresh CRL has %d entries", n)
	}

	serial := leaf.SerialNumber.Text(16)
	colon := strings.Join(splitPairs(serial), ":") // the form openssl prints
	if _, err := c.RevokeCertificate(ctx, &acmpca.RevokeCertificateInput{CertificateAuthorityArn: &h.sub, CertificateSerial: &colon, RevocationReason: types.RevocationReasonKeyCompromise}); err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	_, err := c.RevokeCertificate(ctx, &acmpca.RevokeCertificateInput{CertificateAuthorityArn: &h.sub, CertificateSerial: &serial, RevocationReason: types.RevocationReasonKeyCompromise})
	if errCode(err) != "RequestAlreadyProcessedException" {
		t.Errorf("second revoke: %v", err)
	}
	crl := fetchCRL()
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 ||
		crl.RevokedCertificateEntries[0].ReasonCode != 1 {
		t.Fatalf("CRL entries = %+v", crl.RevokedCertificateEntries)
	}
	if d := crl.NextUpdate.Sub(crl.ThisUpdate); d != 7*24*time.Hour {
		t.Errorf("nextUpdate - thisUpdate = %v, want ExpirationInDays 7", d)
	}
	crlPEM := string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw}))
	dir := writeFiles(t, map[string]string{"root.pem": rootPEM, "chain.pem": subPEM, "leaf.pem": leafPEM, "kept.pem": keptPEM, "crl.pem": crlPEM})
	out, err := openssl(t, dir, "crl", "-in", "crl.pem", "-noout", "-text")
	if err != nil || !strings.Contains(strings.ToUpper(out), strings.ToUpper(serial)) {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	out, err = openssl(t, dir, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem")
	if err == nil || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check accepted a revoked certificate: %v\n%s", err, out)
	}
	if out, err := openssl(t, dir, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "-untrusted", "chain.pem", "kept.pem"); err != nil {
		t.Fatalf("openssl verify -crl_check rejected an unrevoked certificate: %v\n%s", err, out)
	}

	// 31 days on, the revoked leaf (30 days) has expired and left the CRL.
	srv.Clock.Advance(31 * 24 * time.Hour)
	crl = fetchCRL()
	if len(crl.RevokedCertificateEntries) != 0 {
		t.Fatalf("expired certificate still listed: %+v", crl.RevokedCertificateEntries)
	}
	if crl.Number.Int64() < 3 {
		t.Errorf("CRL number %v did not increase", crl.Number)
	}
}

func splitPairs(h string) []string {
	if len(h)%2 == 1 {
		h = "0" + h
	}
	var out []string
	for i := 0; i < len(h); i += 2 {
		out = append(out, h[i:i+2])
	}
	return out
}

func TestCRLRouteNotFound(t *testing.T) {
	t.Parallel()
	srv, _ := newClient(t)
	for _, path := range []string{"/crl/nope.crl", "/crl/../x.crl", "/crl/"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}
