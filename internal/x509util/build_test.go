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
	"slices"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

var (
	oidKU   = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidEKU  = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSAN  = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBC   = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidPriv = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
)

// TestBuildSteps drives Build's ordered steps (template, ApiPassthrough,
// CSR, CA configuration, defaults, checks) one rule per case: per slot
// the template wins over ApiPassthrough, which wins over the CSR; the CA
// keeps the slots it always decides; the checks refuse what RFC 5280
// forbids.
func TestBuildSteps(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kuDigital := mustMarshal(t, asn1.BitString{Bytes: []byte{0x80}, BitLength: 1})
	kuCertSign := mustMarshal(t, asn1.BitString{Bytes: []byte{0x04}, BitLength: 6})
	ekuCode := mustMarshal(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}})
	bcCA := mustMarshal(t, struct{ IsCA bool }{true})
	ku := func(u x509.KeyUsage) *x509.KeyUsage { return &u }

	type csrSpec struct {
		cn   string
		dns  []string
		exts []pkix.Extension
	}
	tests := []struct {
		name     string
		template string
		csr      csrSpec
		pass     *x509util.Passthrough
		wantErr  bool
		check    func(t *testing.T, c *x509.Certificate)
	}{
		{
			name: "template fixes key usage over ApiPassthrough and CSR; EC drops keyEncipherment", template: "EndEntityCertificate_APICSRPassthrough/V1",
			csr:  csrSpec{cn: "a", exts: []pkix.Extension{{Id: oidKU, Value: kuCertSign}}},
			pass: &x509util.Passthrough{KeyUsage: ku(x509.KeyUsageContentCommitment)},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.KeyUsage != x509.KeyUsageDigitalSignature {
					t.Errorf("KeyUsage %b, want digitalSignature only", c.KeyUsage)
				}
			},
		},
		{
			name: "template fixes extended key usage over a CSR's", template: "EndEntityServerAuthCertificate_CSRPassthrough/V1",
			csr: csrSpec{cn: "a", exts: []pkix.Extension{{Id: oidEKU, Value: ekuCode}}},
			check: func(t *testing.T, c *x509.Certificate) {
				if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
					t.Errorf("ExtKeyUsage %v", c.ExtKeyUsage)
				}
			},
		},
		{
			name: "ApiPassthrough subject and SAN over the CSR's", template: "EndEntityCertificate_APIPassthrough/V1",
			csr:  csrSpec{cn: "from-csr", dns: []string{"csr.example"}},
			pass: &x509util.Passthrough{Subject: &pkix.Name{CommonName: "from-api"}, DNSNames: []string{"api.example"}},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.Subject.CommonName != "from-api" || len(c.RawSubject) != 0 {
					t.Errorf("subject %v raw %x", c.Subject, c.RawSubject)
				}
				if !slices.Equal(c.DNSNames, []string{"api.example"}) || hasExt(c, oidSAN) {
					t.Errorf("SAN %v, raw SAN extension %v", c.DNSNames, hasExt(c, oidSAN))
				}
			},
		},
		{
			name: "CSR subject and raw SAN when ApiPassthrough names none", template: "EndEntityCertificate_APIPassthrough/V1",
			csr:  csrSpec{cn: "from-csr", dns: []string{"csr.example"}},
			pass: &x509util.Passthrough{},
			check: func(t *testing.T, c *x509.Certificate) {
				if len(c.RawSubject) == 0 || !hasExt(c, oidSAN) {
					t.Errorf("raw subject %x, SAN extension %v", c.RawSubject, hasExt(c, oidSAN))
				}
			},
		},
		{
			name: "a template without ApiPassthrough ignores it", template: "EndEntityCertificate/V1",
			csr:  csrSpec{cn: "from-csr"},
			pass: &x509util.Passthrough{Subject: &pkix.Name{CommonName: "from-api"}},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.Subject.CommonName == "from-api" || len(c.RawSubject) == 0 {
					t.Errorf("took the passthrough subject %v", c.Subject)
				}
			},
		},
		{
			name: "blank template: ApiPassthrough key usage over the CSR's", template: "BlankEndEntityCertificate_APICSRPassthrough/V1",
			csr:  csrSpec{cn: "a", exts: []pkix.Extension{{Id: oidKU, Value: kuDigital}}},
			pass: &x509util.Passthrough{KeyUsage: ku(x509.KeyUsageContentCommitment)},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.KeyUsage != x509.KeyUsageContentCommitment {
					t.Errorf("KeyUsage %b", c.KeyUsage)
				}
			},
		},
		{
			name: "blank CSR-passthrough template takes the CSR's usages and extensions", template: "BlankEndEntityCertificate_CSRPassthrough/V1",
			csr: csrSpec{cn: "a", exts: []pkix.Extension{{Id: oidKU, Value: kuDigital}, {Id: oidEKU, Value: ekuCode}, {Id: oidPriv, Value: []byte{5, 0}}}},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}) || !hasExt(c, oidPriv) {
					t.Errorf("KU %b EKU %v private extension %v", c.KeyUsage, c.ExtKeyUsage, hasExt(c, oidPriv))
				}
			},
		},
		{
			name: "the CA keeps basic constraints whatever the CSR asks", template: "BlankEndEntityCertificate_CSRPassthrough/V1",
			csr: csrSpec{cn: "a", exts: []pkix.Extension{{Id: oidBC, Critical: true, Value: bcCA}}},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.IsCA || hasExt(c, oidBC) {
					t.Errorf("IsCA %v, copied basicConstraints %v", c.IsCA, hasExt(c, oidBC))
				}
			},
		},
		{
			name: "blank CA gets the default key usage when no source names one", template: "BlankSubordinateCACertificate_PathLen0_APIPassthrough/V1",
			csr:  csrSpec{cn: "sub"},
			pass: &x509util.Passthrough{KeyUsage: ku(0)},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || !c.IsCA || !c.MaxPathLenZero {
					t.Errorf("KU %b IsCA %v pathlen0 %v", c.KeyUsage, c.IsCA, c.MaxPathLenZero)
				}
			},
		},
		{
			name: "custom extensions fill open slots", template: "EndEntityCertificate_APIPassthrough/V1",
			csr:  csrSpec{cn: "a"},
			pass: &x509util.Passthrough{Extensions: []pkix.Extension{{Id: oidPriv, Value: []byte{5, 0}}, {Id: oidBC, Value: bcCA}}},
			check: func(t *testing.T, c *x509.Certificate) {
				if !hasExt(c, oidPriv) || hasExt(c, oidBC) || c.IsCA {
					t.Errorf("private %v, basicConstraints copied %v", hasExt(c, oidPriv), hasExt(c, oidBC))
				}
			},
		},
		{
			name: "key usage both typed and custom is refused", template: "BlankEndEntityCertificate_APIPassthrough/V1",
			csr:     csrSpec{cn: "a"},
			pass:    &x509util.Passthrough{KeyUsage: ku(x509.KeyUsageDigitalSignature), Extensions: []pkix.Extension{{Id: oidKU, Value: kuDigital}}},
			wantErr: true,
		},
		{
			name: "SAN as a custom extension is refused", template: "EndEntityCertificate_APIPassthrough/V1",
			csr:     csrSpec{cn: "a"},
			pass:    &x509util.Passthrough{Extensions: []pkix.Extension{{Id: oidSAN, Value: []byte{0x30, 0}}}},
			wantErr: true,
		},
		{
			name: "the same custom extension twice is refused", template: "EndEntityCertificate_APIPassthrough/V1",
			csr:     csrSpec{cn: "a"},
			pass:    &x509util.Passthrough{Extensions: []pkix.Extension{{Id: oidPriv, Value: []byte{5, 0}}, {Id: oidPriv, Value: []byte{5, 0}}}},
			wantErr: true,
		},
		{
			name: "keyCertSign on an end entity is refused", template: "BlankEndEntityCertificate_APIPassthrough/V1",
			csr:     csrSpec{cn: "a"},
			pass:    &x509util.Passthrough{KeyUsage: ku(x509.KeyUsageCertSign)},
			wantErr: true,
		},
		{
			name: "neither subject nor SAN is refused", template: "EndEntityCertificate/V1",
			wantErr: true,
		},
		{
			name: "an empty subject makes the SAN critical", template: "EndEntityCertificate/V1",
			csr: csrSpec{dns: []string{"only-san.example"}},
			check: func(t *testing.T, c *x509.Certificate) {
				for _, e := range c.ExtraExtensions {
					if e.Id.Equal(oidSAN) && !e.Critical {
						t.Error("SAN not critical with an empty subject")
					}
				}
				if !hasExt(c, oidSAN) {
					t.Error("no SAN")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tm, err := x509util.LookupTemplate(tc.template)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: tc.csr.cn}, DNSNames: tc.csr.dns, ExtraExtensions: tc.csr.exts,
			}, key)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			c, err := x509util.Build(x509util.Request{
				Template: tm, CSR: csr, Passthrough: tc.pass, Serial: big.NewInt(1), Issuer: &x509.Certificate{},
				NotBefore: time.Unix(0, 0), NotAfter: time.Unix(3600, 0),
			})
			if tc.wantErr {
				if !errors.Is(err, x509util.ErrRefused) {
					t.Fatalf("err = %v, want ErrRefused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func hasExt(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(c.ExtraExtensions, func(e pkix.Extension) bool { return e.Id.Equal(oid) })
}
