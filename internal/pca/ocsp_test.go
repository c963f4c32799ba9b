package pca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"golang.org/x/crypto/ocsp"

	"github.com/bulwarkd/bulwark/internal/pca"
)

// createOCSPCA creates and activates a root CA; ocspOn turns its OCSP
// responder on (and puts it into issued certificates).
func createOCSPCA(t testing.TB, c *acmpca.Client, cn string, keyAlg types.KeyAlgorithm, sig types.SigningAlgorithm, ocspOn bool) (arn, id string) {
	t.Helper()
	out, err := c.CreateCertificateAuthority(context.Background(), &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: types.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &types.CertificateAuthorityConfiguration{
			KeyAlgorithm: keyAlg, SigningAlgorithm: sig,
			Subject: &types.ASN1Subject{CommonName: aws.String(cn), Organization: aws.String("Bulwark Test")},
		},
		RevocationConfiguration: &types.RevocationConfiguration{
			CrlConfiguration:  &types.CrlConfiguration{Enabled: aws.Bool(true)},
			OcspConfiguration: &types.OcspConfiguration{Enabled: aws.Bool(ocspOn)},
		},
	})
	if err != nil {
		t.Fatalf("CreateCertificateAuthority: %v", err)
	}
	arn = *out.CertificateAuthorityArn
	activateRoot(t, c, arn, sig)
	return arn, arn[strings.LastIndex(arn, "/")+1:]
}

// postOCSP sends a DER request by POST and returns the raw response.
func postOCSP(t testing.TB, url string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/ocsp-request", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/ocsp-response" {
		t.Fatalf("POST %s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return b
}

func ocspStatus(t testing.TB, raw []byte, leaf, issuer *x509.Certificate) *ocsp.Response {
	t.Helper()
	r, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		t.Fatalf("ParseResponseForCert: %v", err)
	}
	return r
}

// TestOCSP drives a CA's responder with openssl and the Go OCSP client:
// good, then revoked with its reason, unknown for a serial the CA never
// issued, unauthorized for another issuer, malformed for garbage.
func TestOCSP(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	ctx := context.Background()
	caARN, caID := createOCSPCA(t, c, "OCSP Root", types.KeyAlgorithmRsa2048, types.SigningAlgorithmSha256withrsa, true)
	otherARN, _ := createOCSPCA(t, c, "Other Root", types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, true)
	caPEM, _ := caCert(t, c, caARN)
	otherPEM, _ := caCert(t, c, otherARN)
	ca, other := parseCert(t, caPEM), parseCert(t, otherPEM)
	leafARN, leafPEM, _ := issue(t, c, caARN, types.SigningAlgorithmSha256withrsa, newCSR(t, ecKey(t), "svc.mesh.local", "svc.mesh.local"), "", nil)
	_, otherLeafPEM, _ := issue(t, c, otherARN, types.SigningAlgorithmSha256withecdsa, newCSR(t, ecKey(t), "x.mesh.local", "x.mesh.local"), "", nil)
	leaf, otherLeaf := parseCert(t, leafPEM), parseCert(t, otherLeafPEM)
	respURL := srv.URL + "/ocsp/" + caID

	// The AIA names the responder under the server's public URL.
	if len(leaf.OCSPServer) != 1 || !strings.HasSuffix(leaf.OCSPServer[0], "/ocsp/"+caID) || !strings.HasPrefix(leaf.OCSPServer[0], "http://") {
		t.Fatalf("leaf OCSP servers = %q, want one ending /ocsp/%s", leaf.OCSPServer, caID)
	}
	if len(ca.OCSPServer) != 0 {
		t.Errorf("a self-signed root names an OCSP responder: %q", ca.OCSPServer)
	}

	dir := writeFiles(t, map[string]string{"ca.pem": caPEM, "leaf.pem": leafPEM})
	opensslOCSP := func() string {
		t.Helper()
		out, err := openssl(t, dir, "ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-url", respURL, "-CAfile", "ca.pem", "-resp_text")
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Response verify OK") {
			t.Fatalf("openssl did not verify the response:\n%s", out)
		}
		return out
	}
	if out := opensslOCSP(); !strings.Contains(out, "leaf.pem: good") {
		t.Fatalf("openssl ocsp did not report good:\n%s", out)
	}

	req, err := ocsp.CreateRequest(leaf, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := ocspStatus(t, postOCSP(t, respURL, req), leaf, ca)
	if r.Status != ocsp.Good || r.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("status %d serial %v, want good for %v", r.Status, r.SerialNumber, leaf.SerialNumber)
	}
	if got := r.NextUpdate.Sub(r.ThisUpdate); got != pca.OCSPValidity {
		t.Errorf("nextUpdate - thisUpdate = %v, want %v", got, pca.OCSPValidity)
	}
	if r.Certificate != nil {
		t.Error("response embeds a responder certificate; the CA signs directly")
	}

	// GET form (RFC 6960 appendix A.1): base64, URL-escaped.
	getResp, err := http.Get(respURL + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(req)))
	if err != nil {
		t.Fatal(err)
	}
	getBody, _ := io.ReadAll(getResp.Body)
	getResp.Body.Close()
	if cc := getResp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("GET Cache-Control = %q", cc)
	}
	if r := ocspStatus(t, getBody, leaf, ca); r.Status != ocsp.Good {
		t.Fatalf("GET status %d, want good", r.Status)
	}

	// Revocation shows at once, although a good answer was just cached.
	if _, err := c.RevokeCertificate(ctx, &acmpca.RevokeCertificateInput{
		CertificateAuthorityArn: &caARN, CertificateSerial: aws.String(leafARN[strings.LastIndex(leafARN, "/")+1:]),
		RevocationReason: types.RevocationReasonKeyCompromise,
	}); err != nil {
		t.Fatal(err)
	}
	out := opensslOCSP()
	if !strings.Contains(out, "leaf.pem: revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("openssl ocsp did not report a key-compromise revocation:\n%s", out)
	}
	r = ocspStatus(t, postOCSP(t, respURL, req), leaf, ca)
	if r.Status != ocsp.Revoked || r.RevocationReason != ocsp.KeyCompromise || r.RevokedAt.IsZero() {
		t.Fatalf("after revocation: status %d reason %d at %v", r.Status, r.RevocationReason, r.RevokedAt)
	}

	// A serial this CA never issued, asked of this CA: unknown.
	foreignSerial, err := ocsp.CreateRequest(otherLeaf, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := ocspStatus(t, postOCSP(t, respURL, foreignSerial), otherLeaf, ca); r.Status != ocsp.Unknown {
		t.Errorf("foreign serial: status %d, want unknown", r.Status)
	}

	otherIssuer, err := ocsp.CreateRequest(otherLeaf, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		url  string
		body []byte
		get  string // GET path suffix instead of a POST body
		want ocsp.ResponseStatus
	}{
		{"request naming another issuer", respURL, otherIssuer, "", ocsp.Unauthorized},
		{"unknown CA", srv.URL + "/ocsp/00000000-0000-4000-8000-000000000000", req, "", ocsp.Unauthorized},
		{"garbage body", respURL, []byte("not an OCSP request"), "", ocsp.Malformed},
		{"empty body", respURL, nil, "", ocsp.Malformed},
		{"truncated request", respURL, req[:len(req)-3], "", ocsp.Malformed},
		{"oversized body", respURL, bytes.Repeat([]byte{0x30}, 1<<20), "", ocsp.Malformed},
		{"GET bad base64", respURL, nil, "!!!", ocsp.Malformed},
		{"GET base64 of garbage", respURL, nil, base64.StdEncoding.EncodeToString([]byte("junk")), ocsp.Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw []byte
			if tc.get != "" {
				resp, err := http.Get(tc.url + "/" + tc.get)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			} else {
				raw = postOCSP(t, tc.url, tc.body)
			}
			_, err := ocsp.ParseResponse(raw, ca)
			var re ocsp.ResponseError
			if !errors.As(err, &re) || re.Status != tc.want {
				t.Fatalf("got %v, want response status %v", err, tc.want)
			}
		})
	}

	resp, err := http.DefaultClient.Do(mustRequest(t, http.MethodPut, respURL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %s, want 405", resp.Status)
	}
}

// TestOCSPDisabled checks a CA without OCSP neither advertises nor
// answers, and that enabling it later adds the AIA.
func TestOCSPDisabled(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	ctx := context.Background()
	caARN, caID := createOCSPCA(t, c, "No OCSP Root", types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, false)
	caPEM, _ := caCert(t, c, caARN)
	ca := parseCert(t, caPEM)
	_, leafPEM, _ := issue(t, c, caARN, types.SigningAlgorithmSha256withecdsa, newCSR(t, ecKey(t), "a.mesh.local", "a.mesh.local"), "", nil)
	leaf := parseCert(t, leafPEM)
	if len(leaf.OCSPServer) != 0 {
		t.Fatalf("OCSP off, yet the leaf names %q", leaf.OCSPServer)
	}
	req, err := ocsp.CreateRequest(leaf, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	var re ocsp.ResponseError
	if _, err := ocsp.ParseResponse(postOCSP(t, srv.URL+"/ocsp/"+caID, req), ca); !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
		t.Fatalf("disabled responder answered %v, want unauthorized", err)
	}

	if _, err := c.UpdateCertificateAuthority(ctx, &acmpca.UpdateCertificateAuthorityInput{
		CertificateAuthorityArn: &caARN,
		RevocationConfiguration: &types.RevocationConfiguration{OcspConfiguration: &types.OcspConfiguration{Enabled: aws.Bool(true), OcspCustomCname: aws.String("ocsp.pki.example.com")}},
	}); err != nil {
		t.Fatal(err)
	}
	_, leafPEM, _ = issue(t, c, caARN, types.SigningAlgorithmSha256withecdsa, newCSR(t, ecKey(t), "b.mesh.local", "b.mesh.local"), "", nil)
	if got, want := parseCert(t, leafPEM).OCSPServer, "http://ocsp.pki.example.com/ocsp/"+caID; len(got) != 1 || got[0] != want {
		t.Fatalf("OCSP servers %q, want [%s]", got, want)
	}
	// The responder now answers for certificates issued before, too.
	if r := ocspStatus(t, postOCSP(t, srv.URL+"/ocsp/"+caID, req), leaf, ca); r.Status != ocsp.Good {
		t.Fatalf("status %d, want good", r.Status)
	}

	_, err = c.UpdateCertificateAuthority(ctx, &acmpca.UpdateCertificateAuthorityInput{
		CertificateAuthorityArn: &caARN,
		RevocationConfiguration: &types.RevocationConfiguration{OcspConfiguration: &types.OcspConfiguration{Enabled: aws.Bool(true), OcspCustomCname: aws.String("http://bad/")}},
	})
	if errCode(err) != "InvalidArgsException" {
		t.Fatalf("OcspCustomCname with a scheme: %v, want InvalidArgsException", err)
	}
}

func mustRequest(t testing.TB, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
