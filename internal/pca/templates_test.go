package pca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

var (
	oidKU  = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidEKU = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidBC  = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}
)

func mustDER(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kuExt(t testing.TB, ku x509.KeyUsage) pkix.Extension {
	var bits []byte
	n := 0
	for i := 0; i < 9; i++ {
		if ku&(1<<i) != 0 {
			n = i + 1
		}
	}
	bits = make([]byte, (n+7)/8)
	for i := 0; i < n; i++ {
		if ku&(1<<i) != 0 {
			bits[i/8] |= 0x80 >> (i % 8)
		}
	}
	return pkix.Extension{Id: oidKU, Critical: true, Value: mustDER(t, asn1.BitString{Bytes: bits, BitLength: n})}
}

func ekuExt(t testing.TB, oids ...asn1.ObjectIdentifier) pkix.Extension {
	return pkix.Extension{Id: oidEKU, Value: mustDER(t, oids)}
}

var (
	ekuCodeSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	ekuEmail       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}
)

func bcCATrueExt(t testing.TB) pkix.Extension {
	type bc struct {
		IsCA    bool
		PathLen int
	}
	return pkix.Extension{Id: oidBC, Critical: true, Value: mustDER(t, bc{true, 5})}
}

// csrWith makes a CSR carrying extra extensions (key usage, extended key
// usage, basic constraints, a raw subject alternative name...).
func csrWith(t testing.TB, key crypto.Signer, subject pkix.Name, dns []string, exts ...pkix.Extension) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject, DNSNames: dns, ExtraExtensions: exts}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// The greedy requests ask for more than any non-blank template allows.
// CSR and API values differ so a test can tell which one won.
const (
	greedyCSRKU = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	greedyAPIKU = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
)

var (
	greedyCSREKU = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageEmailProtection}
	greedyAPIEKU = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
)

func greedyCSR(t testing.TB) []byte {
	return csrWith(t, ecKey(t), pkix.Name{CommonName: "greedy.example.internal"}, []string{"greedy.example.internal"},
		kuExt(t, greedyCSRKU), ekuExt(t, ekuCodeSigning, ekuEmail), bcCATrueExt(t))
}

// greedyAPI asks through ApiPassthrough's typed fields (typed=true) or
// through CustomExtensions only.
func greedyAPI(t testing.TB, typed bool) *types.ApiPassthrough {
	bc := bcCATrueExt(t)
	custom := []types.CustomExtension{{ObjectIdentifier: aws.String(bc.Id.String()), Value: aws.String(base64.StdEncoding.EncodeToString(bc.Value)), Critical: aws.Bool(true)}}
	ext := &types.Extensions{}
	if typed {
		ext.KeyUsage = &types.KeyUsage{KeyCertSign: true, CRLSign: true}
		ext.ExtendedKeyUsage = []types.ExtendedKeyUsage{{ExtendedKeyUsageType: types.ExtendedKeyUsageTypeCodeSigning}}
	} else {
		for _, e := range []pkix.Extension{kuExt(t, greedyAPIKU), ekuExt(t, ekuCodeSigning)} {
			custom = append(custom, types.CustomExtension{ObjectIdentifier: aws.String(e.Id.String()), Value: aws.String(base64.StdEncoding.EncodeToString(e.Value))})
		}
	}
	ext.CustomExtensions = custom
	return &types.ApiPassthrough{Extensions: ext}
}

// want is what a template must issue, worked out here from AWS's
// template definitions rather than read from x509util.
type want struct {
	refused bool
	ca      bool
	pathLen int // -1: none
	ku      x509.KeyUsage
	eku     []x509.ExtKeyUsage
}

// expect gives the certificate a template issues for the greedy requests.
// Every non-blank template fixes key usage and extended key usage (none,
// for a CA); a blank one takes them from ApiPassthrough, then the CSR, and
// refuses keyCertSign outside a CA.
func expect(t *testing.T, name string) want {
	t.Helper()
	base, _ := strings.CutSuffix(name, "/V1")
	api := strings.HasSuffix(base, "_APIPassthrough") || strings.HasSuffix(base, "_APICSRPassthrough")
	csr := strings.HasSuffix(base, "_CSRPassthrough") || strings.HasSuffix(base, "_APICSRPassthrough")
	for _, s := range []string{"_APICSRPassthrough", "_APIPassthrough", "_CSRPassthrough"} {
		base = strings.TrimSuffix(base, s)
	}
	pathLen := -1
	if i := strings.Index(base, "_PathLen"); i >= 0 {
		fmt.Sscanf(base[i+len("_PathLen"):], "%d", &pathLen)
	}
	ds := x509.KeyUsageDigitalSignature
	caKU := ds | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	switch {
	case base == "EndEntityCertificate":
		return want{pathLen: -1, ku: ds, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	case base == "EndEntityClientAuthCertificate":
		return want{pathLen: -1, ku: ds, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	case base == "EndEntityServerAuthCertificate":
		return want{pathLen: -1, ku: ds, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	case base == "CodeSigningCertificate":
		return want{pathLen: -1, ku: ds, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	case base == "OCSPSigningCertificate":
		return want{pathLen: -1, ku: ds, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}
	case base == "RootCACertificate" || strings.HasPrefix(base, "SubordinateCACertificate_"):
		return want{ca: true, pathLen: pathLen, ku: caKU}
	case strings.HasPrefix(base, "BlankEndEntityCertificate"):
		return want{refused: true}
	case strings.HasPrefix(base, "BlankRootCACertificate"), strings.HasPrefix(base, "BlankSubordinateCACertificate_"):
		w := want{ca: true, pathLen: pathLen}
		switch {
		case api:
			w.ku, w.eku = greedyAPIKU, greedyAPIEKU
		case csr:
			w.ku, w.eku = greedyCSRKU, greedyCSREKU
		}
		if strings.HasPrefix(base, "BlankRoot") {
			// The root's own CSR asks for nothing.
			w.ku, w.eku = greedyAPIKU, greedyAPIEKU
		}
		return w
	}
	t.Fatalf("no expectation for template %s: add it to this test", name)
	return want{}
}

// templateRig is a server with an active EC root that issues every
// template: leaf and subordinate templates for a fresh key, root
// templates for the root's own CSR.
type templateRig struct {
	c       *acmpca.Client
	root    string
	rootCSR []byte
	rootCrt *x509.Certificate
}

func newTemplateRig(t *testing.T) *templateRig {
	_, c := newClient(t)
	root := createCA(t, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Template Root", true})
	activateRoot(t, c, root, types.SigningAlgorithmSha256withecdsa)
	csr, err := c.GetCertificateAuthorityCsr(context.Background(), &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &root})
	if err != nil {
		t.Fatal(err)
	}
	pemCert, _ := caCert(t, c, root)
	return &templateRig{c: c, root: root, rootCSR: []byte(*csr.Csr), rootCrt: parseCert(t, pemCert)}
}

// issueRaw returns the issued certificate, or the AWS error code.
func (r *templateRig) issueRaw(t *testing.T, c *acmpca.Client, template string, csr []byte, pt *types.ApiPassthrough) (*x509.Certificate, string) {
	t.Helper()
	ctx := context.Background()
	iss, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &r.root, Csr: csr, SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
		TemplateArn: aws.String(tmplPrefix + template), ApiPassthrough: pt,
		Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)},
	})
	if err != nil {
		return nil, errCode(err)
	}
	got, err := r.c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &r.root, CertificateArn: iss.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	return parseCert(t, *got.Certificate), ""
}

func sortedEKU(e []x509.ExtKeyUsage) []x509.ExtKeyUsage {
	e = slices.Clone(e)
	slices.Sort(e)
	return e
}

// TestEveryTemplateFixesUsages issues with every template the service
// knows, each with a CSR and an ApiPassthrough (typed fields, and custom
// extensions) that ask for keyCertSign, cRLSign, codeSigning and CA:TRUE,
// and checks the certificate's key usage, extended key usage and basic
// constraints are the template's: AWS applies the template first and lets
// passthrough values fill only what it leaves open (the Blank templates).
func TestEveryTemplateFixesUsages(t *testing.T) {
	t.Parallel()
	r := newTemplateRig(t)
	names := x509util.TemplateNames()
	if len(names) < 60 {
		t.Fatalf("only %d templates known", len(names))
	}
	for _, name := range names {
		w := expect(t, name)
		for _, typed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/typed=%v", name, typed), func(t *testing.T) {
				csr := greedyCSR(t)
				if strings.HasPrefix(name, "RootCACertificate") || strings.HasPrefix(name, "BlankRootCACertificate") {
					csr = r.rootCSR
				}
				cert, code := r.issueRaw(t, r.c, name, csr, greedyAPI(t, typed))
				if w.refused {
					if code != "InvalidArgsException" {
						t.Fatalf("got %q, want InvalidArgsException (keyCertSign outside a CA)", code)
					}
					return
				}
				if code != "" {
					t.Fatalf("IssueCertificate: %s", code)
				}
				if !cert.BasicConstraintsValid || cert.IsCA != w.ca {
					t.Errorf("basic constraints: valid %v cA %v, want cA %v", cert.BasicConstraintsValid, cert.IsCA, w.ca)
				}
				if gotLen := cert.MaxPathLen; w.ca && (gotLen != w.pathLen || cert.MaxPathLenZero != (w.pathLen == 0)) {
					t.Errorf("pathLen = %d (zero %v), want %d", gotLen, cert.MaxPathLenZero, w.pathLen)
				}
				if cert.KeyUsage != w.ku {
					t.Errorf("key usage = %b, want %b", cert.KeyUsage, w.ku)
				}
				if !slices.Equal(sortedEKU(cert.ExtKeyUsage), sortedEKU(w.eku)) || len(cert.UnknownExtKeyUsage) != 0 {
					t.Errorf("extended key usage = %v %v, want %v", cert.ExtKeyUsage, cert.UnknownExtKeyUsage, w.eku)
				}
				n := 0
				for _, e := range cert.Extensions {
					if e.Id.Equal(oidBC) {
						n++
						if !e.Critical {
							t.Error("basicConstraints not critical")
						}
					}
				}
				if n != 1 {
					t.Errorf("%d basicConstraints extensions", n)
				}
				issuer := r.rootCrt
				if cert.Subject.String() == r.rootCrt.Subject.String() && cert.IsCA && cert.CheckSignatureFrom(cert) == nil {
					issuer = cert
				}
				if err := cert.CheckSignatureFrom(issuer); err != nil {
					t.Errorf("signature: %v", err)
				}
				if cert.Subject.CommonName == "" {
					t.Error("subject lost its CN")
				}
			})
		}
	}
}

// TestBlankTemplatesTakeSubjectAndSANFromCSR: every Blank template that
// reads the CSR or the API takes the subject and subject alternative names
// from the CSR when ApiPassthrough gives none; a subject alternative name
// Go does not parse (an otherName) counts; a CSR with neither is refused.
func TestBlankTemplatesTakeSubjectAndSANFromCSR(t *testing.T) {
	t.Parallel()
	r := newTemplateRig(t)
	upn := otherNameSAN(t, "svc@example.internal")
	for _, name := range x509util.TemplateNames() {
		if !strings.HasPrefix(name, "Blank") || strings.HasPrefix(name, "BlankRoot") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cert, code := r.issueRaw(t, r.c, name, newCSR(t, ecKey(t), "blank.example.internal", "blank.example.internal"), nil)
			if code != "" {
				t.Fatalf("normal CSR refused: %s", code)
			}
			if cert.Subject.CommonName != "blank.example.internal" || !slices.Equal(cert.DNSNames, []string{"blank.example.internal"}) {
				t.Errorf("subject %q, DNS %v: not the CSR's", cert.Subject, cert.DNSNames)
			}

			cert, code = r.issueRaw(t, r.c, name, csrWith(t, ecKey(t), pkix.Name{}, nil, upn), nil)
			if code != "" {
				t.Fatalf("CSR with an empty subject and an otherName SAN refused: %s", code)
			}
			var san *pkix.Extension
			for i, e := range cert.Extensions {
				if e.Id.Equal(oidSAN) {
					san = &cert.Extensions[i]
				}
			}
			if san == nil || !san.Critical || string(san.Value) != string(upn.Value) {
				t.Errorf("SAN = %+v, want the CSR's, critical (the subject is empty)", san)
			}

			if _, code = r.issueRaw(t, r.c, name, csrWith(t, ecKey(t), pkix.Name{}, nil), nil); code != "InvalidArgsException" {
				t.Errorf("CSR with neither subject nor SAN: got %q, want InvalidArgsException", code)
			}
		})
	}
}

// otherNameSAN is a subjectAltName holding only a UPN otherName, which
// crypto/x509 keeps as a raw extension rather than a parsed field.
func otherNameSAN(t testing.TB, upn string) pkix.Extension {
	t.Helper()
	utf8, err := asn1.MarshalWithParams(upn, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	inner := mustDER(t, struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"tag:0,explicit"`
	}{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}, asn1.RawValue{FullBytes: utf8}})
	// [0] IMPLICIT OtherName: re-tag the SEQUENCE as context 0, constructed.
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(inner, &seq); err != nil {
		t.Fatal(err)
	}
	gn := mustDER(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: seq.Bytes})
	return pkix.Extension{Id: oidSAN, Value: mustDER(t, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: gn})}
}

// TestBlankEndEntityTakesUsagesFromPassthrough: a blank end-entity
// template is where ApiPassthrough (then the CSR) sets key usage and
// extended key usage, as AWS does for smart-card profiles.
func TestBlankEndEntityTakesUsagesFromPassthrough(t *testing.T) {
	t.Parallel()
	r := newTemplateRig(t)
	csr := csrWith(t, ecKey(t), pkix.Name{CommonName: "signer.example.internal"}, nil,
		kuExt(t, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment), ekuExt(t, ekuEmail))
	api := &types.ApiPassthrough{Extensions: &types.Extensions{
		KeyUsage:         &types.KeyUsage{DigitalSignature: true},
		ExtendedKeyUsage: []types.ExtendedKeyUsage{{ExtendedKeyUsageType: types.ExtendedKeyUsageTypeCodeSigning}},
	}}
	tests := []struct {
		template string
		ku       x509.KeyUsage
		eku      x509.ExtKeyUsage
	}{
		{"BlankEndEntityCertificate_APIPassthrough/V1", x509.KeyUsageDigitalSignature, x509.ExtKeyUsageCodeSigning},
		{"BlankEndEntityCertificate_APICSRPassthrough/V1", x509.KeyUsageDigitalSignature, x509.ExtKeyUsageCodeSigning},
		{"BlankEndEntityCertificate_CSRPassthrough/V1", x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, x509.ExtKeyUsageEmailProtection},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			cert, code := r.issueRaw(t, r.c, tc.template, csr, api)
			if code != "" {
				t.Fatal(code)
			}
			if cert.IsCA || cert.KeyUsage != tc.ku || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{tc.eku}) {
				t.Errorf("cA %v KU %b EKU %v, want KU %b EKU %v", cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage, tc.ku, tc.eku)
			}
		})
	}
}

// TestTemplateArnConditionStopsCodeSigning: a principal whose policy allows
// only the client-auth templates cannot obtain a certificate that
// crypto/x509 accepts for code signing — neither through ApiPassthrough
// (typed or custom extension), nor through the CSR, nor by naming another
// template.
func TestTemplateArnConditionStopsCodeSigning(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	ctx := context.Background()
	r := &templateRig{c: c}
	r.root = createCA(t, c, types.CertificateAuthorityTypeRoot, caSpec{types.KeyAlgorithmEcPrime256v1, types.SigningAlgorithmSha256withecdsa, "Cond Root", false})
	activateRoot(t, c, r.root, types.SigningAlgorithmSha256withecdsa)
	rootPEM, _ := caCert(t, c, r.root)
	r.rootCrt = parseCert(t, rootPEM)
	if _, err := srv.IAM().CreateUser(ctx, "client-issuer", "/", nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["acm-pca:IssueCertificate","acm-pca:GetCertificate"],"Resource":"*",
		"Condition":{"StringEqualsIfExists":{"acm-pca:TemplateArn":[
		"arn:aws:acm-pca:::template/EndEntityClientAuthCertificate_APIPassthrough/V1",
		"arn:aws:acm-pca:::template/EndEntityClientAuthCertificate_CSRPassthrough/V1",
		"arn:aws:acm-pca:::template/EndEntityClientAuthCertificate_APICSRPassthrough/V1"]}}}]}`
	if err := srv.IAM().PutUserPolicy(ctx, "client-issuer", "client-only", doc); err != nil {
		t.Fatal(err)
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, "client-issuer")
	if err != nil {
		t.Fatal(err)
	}
	uc := pcaClient(srv.AWSConfigFor(key.AccessKeyID, secret), srv.Clock.Now)
	roots := x509.NewCertPool()
	roots.AddCert(r.rootCrt)
	codeCSR := csrWith(t, ecKey(t), pkix.Name{CommonName: "build.example.internal"}, nil, ekuExt(t, ekuCodeSigning), kuExt(t, x509.KeyUsageDigitalSignature))
	tests := []struct {
		name, template string
		csr            []byte
		pt             *types.ApiPassthrough
		wantCode       string
	}{
		{"API typed EKU", "EndEntityClientAuthCertificate_APIPassthrough/V1", codeCSR, greedyAPI(t, true), ""},
		{"API custom EKU", "EndEntityClientAuthCertificate_APIPassthrough/V1", codeCSR, greedyAPI(t, false), ""},
		{"CSR EKU", "EndEntityClientAuthCertificate_CSRPassthrough/V1", codeCSR, nil, ""},
		{"API and CSR EKU", "EndEntityClientAuthCertificate_APICSRPassthrough/V1", codeCSR, greedyAPI(t, true), ""},
		{"code-signing template", "CodeSigningCertificate/V1", codeCSR, nil, "AccessDeniedException"},
		{"blank template", "BlankEndEntityCertificate_APIPassthrough/V1", codeCSR, greedyAPI(t, true), "AccessDeniedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, code := r.issueRaw(t, uc, tc.template, tc.csr, tc.pt)
			if code != tc.wantCode {
				t.Fatalf("got %q, want %q", code, tc.wantCode)
			}
			if cert == nil {
				return
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err == nil {
				t.Errorf("certificate verifies for code signing: EKU %v", cert.ExtKeyUsage)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("certificate does not verify for client auth: %v", err)
			}
			if cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign != 0 {
				t.Errorf("cA %v KU %b", cert.IsCA, cert.KeyUsage)
			}
		})
	}
}
