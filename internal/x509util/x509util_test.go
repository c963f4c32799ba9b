package x509util_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

func TestLookupTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		wantCA, api bool
		pathLen     int
		wantErr     bool
	}{
		{"default", "", false, false, -1, false},
		{"ARN", "arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1", false, false, -1, false},
		{"subordinate pathlen 2", "SubordinateCACertificate_PathLen2/V1", true, false, 2, false},
		{"API passthrough", "EndEntityCertificate_APIPassthrough/V1", false, true, -1, false},
		{"blank needs passthrough", "BlankEndEntityCertificate/V1", false, false, -1, true},
		{"blank passthrough", "BlankEndEntityCertificate_APICSRPassthrough/V1", false, true, -1, false},
		{"unknown", "Nope/V1", false, false, 0, true},
		{"no version", "EndEntityCertificate", false, false, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := x509util.LookupTemplate(tc.in)
			if tc.wantErr {
				if !errors.Is(err, x509util.ErrUnknownTemplate) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || tm.CA != tc.wantCA || tm.APIPassthrough != tc.api || tm.PathLen != tc.pathLen {
				t.Fatalf("%+v, %v", tm, err)
			}
		})
	}
}

func TestSerials(t *testing.T) {
	t.Parallel()
	n, _ := new(big.Int).SetString("0a1b2c", 16)
	if got := x509util.ColonSerial(n); got != "0a:1b:2c" {
		t.Errorf("ColonSerial = %q", got)
	}
	for _, in := range []string{"0a:1b:2c", "A1B2C", "a1b2c"} {
		got, err := x509util.ParseSerial(in)
		if err != nil || (got != "a1b2c") {
			t.Errorf("ParseSerial(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "xyz", "0"} {
		if _, err := x509util.ParseSerial(bad); err == nil {
			t.Errorf("ParseSerial(%q) accepted", bad)
		}
	}
	s, err := x509util.NewSerial(zeroReader{})
	if err != nil || s.Sign() <= 0 || len(s.Bytes()) != 20 {
		t.Errorf("NewSerial: %v %v", s, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestLookupTemplateCatalogue: only the templates AWS defines exist; the
// non-blank ones fix key usage and extended key usage, the blank ones fix
// neither.
func TestLookupTemplateCatalogue(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"RootCACertificate_CSRPassthrough/V1",         // AWS has no CSR variant of the root
		"BlankRootCACertificate_APICSRPassthrough/V1", // nor of the blank root
		"BlankSubordinateCACertificate_PathLen4_APIPassthrough/V1",
		"EndEntityCertificate_APIPassthrough/V2",
	} {
		if _, err := x509util.LookupTemplate(bad); !errors.Is(err, x509util.ErrUnknownTemplate) {
			t.Errorf("%s: err = %v, want ErrUnknownTemplate", bad, err)
		}
	}
	for _, name := range x509util.TemplateNames() {
		tm, err := x509util.LookupTemplate(x509util.TemplateARNPrefix + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fixed := tm.Fixed(x509util.SlotKeyUsage) && tm.Fixed(x509util.SlotExtKeyUsage)
		if tm.Blank == fixed || (!tm.Blank && tm.KeyUsage == 0) {
			t.Errorf("%s: blank %v but fixes usages %v (KU %b)", name, tm.Blank, fixed, tm.KeyUsage)
		}
		if tm.CA && len(tm.ExtKeyUsage) != 0 {
			t.Errorf("%s: a CA template with extended key usage %v", name, tm.ExtKeyUsage)
		}
	}
}

func TestParseKeyUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		der     []byte
		want    x509.KeyUsage
		wantErr bool
	}{
		{"digitalSignature", mustMarshal(t, asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}), x509.KeyUsageDigitalSignature, false},
		{"keyCertSign cRLSign", mustMarshal(t, asn1.BitString{Bytes: []byte{0x06}, BitLength: 7}), x509.KeyUsageCertSign | x509.KeyUsageCRLSign, false},
		{"decipherOnly", mustMarshal(t, asn1.BitString{Bytes: []byte{0x00, 0x80}, BitLength: 9}), x509.KeyUsageDecipherOnly, false},
		{"bit past decipherOnly", mustMarshal(t, asn1.BitString{Bytes: []byte{0x00, 0x40}, BitLength: 10}), 0, true},
		{"no bits", mustMarshal(t, asn1.BitString{}), 0, true},
		{"trailing data", append(mustMarshal(t, asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}), 0), 0, true},
		{"not a bit string", mustMarshal(t, 5), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := x509util.ParseKeyUsage(tc.der)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %b, %v; want %b, err %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseExtKeyUsage(t *testing.T) {
	t.Parallel()
	private := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 2}
	known, unknown, err := x509util.ParseExtKeyUsage(mustMarshal(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}, private}))
	if err != nil || len(known) != 1 || known[0] != x509.ExtKeyUsageCodeSigning || len(unknown) != 1 || !unknown[0].Equal(private) {
		t.Errorf("got %v %v %v", known, unknown, err)
	}
	for name, der := range map[string][]byte{
		"empty":    mustMarshal(t, []asn1.ObjectIdentifier{}),
		"trailing": append(mustMarshal(t, []asn1.ObjectIdentifier{{1, 2, 3}}), 0),
		"not oids": mustMarshal(t, []int{1}),
	} {
		if _, _, err := x509util.ParseExtKeyUsage(der); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseKeyUsage(f *testing.F) {
	f.Add([]byte{0x03, 0x02, 0x07, 0x80})
	f.Add([]byte{0x03, 0x03, 0x07, 0x06, 0x00})
	f.Add([]byte{0x03, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		u, err := x509util.ParseKeyUsage(der)
		if err == nil && (u == 0 || u >= 1<<9) {
			t.Fatalf("accepted %x as %b", der, u)
		}
	})
}

func FuzzParseExtKeyUsage(f *testing.F) {
	f.Add([]byte{0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		known, unknown, err := x509util.ParseExtKeyUsage(der)
		if err == nil && len(known)+len(unknown) == 0 {
			t.Fatalf("accepted %x with no usage", der)
		}
	})
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzBuildCSRPassthrough feeds arbitrary CSRs through the template steps
// of a blank and a fixed CSR-passthrough template: Build must never panic,
// and a fixed template's key usage must survive whatever the CSR asks.
func FuzzBuildCSRPassthrough(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	ku := mustMarshal(f, asn1.BitString{Bytes: []byte{0x06}, BitLength: 7})
	seed, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "fuzz"}, DNSNames: []string{"fuzz.example"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Value: ku}},
	}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	blank, _ := x509util.LookupTemplate("BlankEndEntityCertificate_CSRPassthrough/V1")
	fixed, _ := x509util.LookupTemplate("EndEntityClientAuthCertificate_CSRPassthrough/V1")
	issuer := &x509.Certificate{}
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return
		}
		for _, tm := range []x509util.Template{blank, fixed} {
			c, err := x509util.Build(x509util.Request{Template: tm, CSR: csr, Serial: big.NewInt(1), Issuer: issuer,
				NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1, 0)})
			if err != nil {
				continue
			}
			if c.IsCA || c.KeyUsage&x509.KeyUsageCertSign != 0 {
				t.Fatalf("%s: cA %v KU %b", tm.Name, c.IsCA, c.KeyUsage)
			}
			if tm.Fixed(x509util.SlotExtKeyUsage) && (len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || len(c.UnknownExtKeyUsage) != 0) {
				t.Fatalf("%s: EKU %v %v", tm.Name, c.ExtKeyUsage, c.UnknownExtKeyUsage)
			}
		}
	})
}
