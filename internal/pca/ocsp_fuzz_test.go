package pca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func fuzzCA(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzOCSPRequest feeds arbitrary bytes, as a POST body and as the GET
// path element, to the request parser: it must never panic, must accept
// only what it can answer for (a parseable request naming this CA), and
// must class every other input as malformed or another issuer's.
func FuzzOCSPRequest(f *testing.F) {
	ca, other := fuzzCA(f, "Fuzz CA"), fuzzCA(f, "Other CA")
	leaf := &x509.Certificate{SerialNumber: big.NewInt(4242)}
	for _, issuer := range []*x509.Certificate{ca, other} {
		for _, h := range []ocsp.RequestOptions{{}, {Hash: crypto.SHA256}} {
			der, err := ocsp.CreateRequest(leaf, issuer, &h)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(der)
			f.Add(der[:len(der)/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte("%2F%2B=="))

	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(der []byte) {
			req, err := parseOCSPRequest(der, ca)
			switch {
			case err == nil:
				if req == nil || req.SerialNumber == nil {
					t.Fatal("accepted a request without a serial")
				}
				name, key, herr := issuerHashes(ca, req.HashAlgorithm)
				if herr != nil || string(name) != string(req.IssuerNameHash) || string(key) != string(req.IssuerKeyHash) {
					t.Fatal("accepted a request for another issuer")
				}
			case errors.Is(err, errOCSPUnauthorized):
				if _, perr := ocsp.ParseRequest(der); perr != nil {
					t.Fatalf("unparseable request classed as another issuer's: %v", perr)
				}
			case errors.Is(err, errOCSPMalformed):
			default:
				t.Fatalf("unclassified error %v", err)
			}
			if _, perr := ocsp.ParseRequest(der); perr != nil && !errors.Is(err, errOCSPMalformed) {
				t.Fatalf("ParseRequest rejects the input (%v) but it was not malformed: %v", perr, err)
			}
		}
		check(data)
		if der, err := ocspRequestFromPath(string(data)); err == nil {
			check(der)
		} else if !errors.Is(err, errOCSPMalformed) {
			t.Fatalf("path decoding error not malformed: %v", err)
		}
		if der, err := ocspRequestFromPath(url.PathEscape(base64.StdEncoding.EncodeToString(data))); err != nil || string(der) != string(data) {
			if len(data) <= ocspMaxRequest {
				t.Fatalf("escaped base64 of %d bytes did not round-trip: %v", len(data), err)
			}
		}
	})
}
