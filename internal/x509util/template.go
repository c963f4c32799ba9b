package x509util

import (
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TemplateARNPrefix starts every template ARN AWS Private CA accepts
// ("arn:aws:acm-pca:::template/EndEntityCertificate/V1").
const TemplateARNPrefix = "arn:aws:acm-pca:::template/"

// DefaultTemplate is used when IssueCertificate names none.
const DefaultTemplate = "EndEntityCertificate/V1"

// ErrUnknownTemplate means a template name or ARN is not one we know.
var ErrUnknownTemplate = errors.New("x509util: unknown certificate template")

// Template is one certificate profile.
type Template struct {
	// Name is the template's name without the ARN prefix.
	Name string
	// CA marks a CA certificate (basicConstraints cA=TRUE). PathLen is its
	// pathLenConstraint; -1 means none.
	CA      bool
	PathLen int
	// Root marks RootCACertificate/V1: only a CA's own CSR, self-signed.
	Root bool
	// Blank templates set only basicConstraints; everything else comes
	// from the passthrough.
	Blank       bool
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	// APIPassthrough takes extensions and subject from the request's
	// ApiPassthrough; CSRPassthrough copies the CSR's extensions.
	APIPassthrough bool
	CSRPassthrough bool
}

const (
	caKeyUsage     = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	serverKeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
)

// baseTemplates are the AWS base templates; variants are derived by
// suffix in LookupTemplate.
var baseTemplates = map[string]Template{
	"EndEntityCertificate": {PathLen: -1, KeyUsage: serverKeyUsage,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
	"EndEntityClientAuthCertificate": {PathLen: -1, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	"EndEntityServerAuthCertificate": {PathLen: -1, KeyUsage: serverKeyUsage,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
	"CodeSigningCertificate": {PathLen: -1, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}},
	"OCSPSigningCertificate": {PathLen: -1, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}},
	"RootCACertificate":                      {CA: true, Root: true, PathLen: -1, KeyUsage: caKeyUsage},
	"SubordinateCACertificate_PathLen0":      {CA: true, PathLen: 0, KeyUsage: caKeyUsage},
	"SubordinateCACertificate_PathLen1":      {CA: true, PathLen: 1, KeyUsage: caKeyUsage},
	"SubordinateCACertificate_PathLen2":      {CA: true, PathLen: 2, KeyUsage: caKeyUsage},
	"SubordinateCACertificate_PathLen3":      {CA: true, PathLen: 3, KeyUsage: caKeyUsage},
	"BlankEndEntityCertificate":              {PathLen: -1, Blank: true},
	"BlankRootCACertificate":                 {CA: true, Root: true, PathLen: -1, Blank: true, KeyUsage: caKeyUsage},
	"BlankSubordinateCACertificate_PathLen0": {CA: true, PathLen: 0, Blank: true, KeyUsage: caKeyUsage},
	"BlankSubordinateCACertificate_PathLen1": {CA: true, PathLen: 1, Blank: true, KeyUsage: caKeyUsage},
	"BlankSubordinateCACertificate_PathLen2": {CA: true, PathLen: 2, Blank: true, KeyUsage: caKeyUsage},
	"BlankSubordinateCACertificate_PathLen3": {CA: true, PathLen: 3, Blank: true, KeyUsage: caKeyUsage},
}

// LookupTemplate finds a template by ARN or by name ("" is the default,
// EndEntityCertificate/V1). Variants "_APIPassthrough", "_CSRPassthrough"
// and "_APICSRPassthrough" of every base template are known; blank
// templates exist only as passthrough variants, as in AWS.
func LookupTemplate(arnOrName string) (Template, error) {
	name := strings.TrimPrefix(arnOrName, TemplateARNPrefix)
	if name == "" {
		name = DefaultTemplate
	}
	base, ok := strings.CutSuffix(name, "/V1")
	if !ok {
		return Template{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, arnOrName)
	}
	var api, csr bool
	switch {
	case strings.HasSuffix(base, "_APICSRPassthrough"):
		base, api, csr = strings.TrimSuffix(base, "_APICSRPassthrough"), true, true
	case strings.HasSuffix(base, "_APIPassthrough"):
		base, api = strings.TrimSuffix(base, "_APIPassthrough"), true
	case strings.HasSuffix(base, "_CSRPassthrough"):
		base, csr = strings.TrimSuffix(base, "_CSRPassthrough"), true
	}
	t, ok := baseTemplates[base]
	if !ok || (t.Blank && !api && !csr) {
		return Template{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, arnOrName)
	}
	t.Name = name
	t.APIPassthrough, t.CSRPassthrough = api, csr
	t.ExtKeyUsage = slices.Clone(t.ExtKeyUsage)
	return t, nil
}

// Passthrough is the part of a certificate a caller may dictate through
// IssueCertificate's ApiPassthrough (only with an APIPassthrough template).
// Nil and empty members leave the template's values.
type Passthrough struct {
	Subject            *pkix.Name
	DNSNames           []string
	EmailAddresses     []string
	IPAddresses        []net.IP
	URIs               []*url.URL
	KeyUsage           *x509.KeyUsage
	ExtKeyUsage        []x509.ExtKeyUsage
	UnknownExtKeyUsage []asn1.ObjectIdentifier
	Policies           []x509.OID
	Extensions         []pkix.Extension
}

// Request is everything needed to build one certificate.
type Request struct {
	Template    Template
	CSR         *x509.CertificateRequest
	Passthrough *Passthrough
	Serial      *big.Int
	NotBefore   time.Time
	NotAfter    time.Time
	// CRLURL goes into the CRL distribution point ("" = none); OCSPURL and
	// IssuerURL into authority information access ("" = none).
	CRLURL    string
	OCSPURL   string
	IssuerURL string
	SigAlg    x509.SignatureAlgorithm
	// Issuer is the signing CA's certificate; nil for a self-signed root,
	// whose subject is then the CSR's.
	Issuer *x509.Certificate
}

// Build returns the certificate template for r.
func Build(r Request) (*x509.Certificate, error) {
	t := r.Template
	if r.CSR == nil || r.Serial == nil {
		return nil, errors.New("x509util: CSR and serial are required")
	}
	if t.Root != (r.Issuer == nil) {
		return nil, errors.New("x509util: a root template is self-signed and only a root template is")
	}
	c := &x509.Certificate{
		SerialNumber:          r.Serial,
		NotBefore:             r.NotBefore.UTC().Truncate(time.Second),
		NotAfter:              r.NotAfter.UTC().Truncate(time.Second),
		SignatureAlgorithm:    r.SigAlg,
		BasicConstraintsValid: true,
		IsCA:                  t.CA,
		KeyUsage:              t.KeyUsage,
		ExtKeyUsage:           slices.Clone(t.ExtKeyUsage),
		SubjectKeyId:          SubjectKeyID(r.CSR.PublicKey),
	}
	if t.CA {
		c.MaxPathLen = t.PathLen
		c.MaxPathLenZero = t.PathLen == 0
		if t.PathLen < 0 {
			c.MaxPathLen = -1
		}
	}
	if !t.Blank {
		c.Subject = r.CSR.Subject
		c.DNSNames, c.EmailAddresses = r.CSR.DNSNames, r.CSR.EmailAddresses
		c.IPAddresses, c.URIs = r.CSR.IPAddresses, r.CSR.URIs
	}
	if !t.CA && c.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
		// Key encipherment is RSA key transport; RFC 8813 forbids it for
		// EC keys (AWS sets it regardless and zlint rightly flags that).
		if _, isRSA := r.CSR.PublicKey.(*rsa.PublicKey); !isRSA {
			c.KeyUsage &^= x509.KeyUsageKeyEncipherment
		}
	}
	if t.CSRPassthrough {
		for _, e := range r.CSR.Extensions {
			if !isManagedExtension(e.Id) {
				c.ExtraExtensions = append(c.ExtraExtensions, e)
			}
		}
	}
	if p := r.Passthrough; t.APIPassthrough && p != nil {
		applyPassthrough(c, p)
	}
	if r.Issuer != nil && r.CRLURL != "" {
		c.CRLDistributionPoints = []string{r.CRLURL}
	}
	if r.Issuer != nil && r.OCSPURL != "" {
		c.OCSPServer = []string{r.OCSPURL}
	}
	if r.Issuer != nil && r.IssuerURL != "" {
		c.IssuingCertificateURL = []string{r.IssuerURL}
	}
	if r.Issuer == nil {
		// Self-signed: x509.CreateCertificate takes the subject and key
		// identifier from this template as the issuer's.
		c.AuthorityKeyId = c.SubjectKeyId
	}
	if len(c.Subject.Names) == 0 && len(c.Subject.ToRDNSequence()) == 0 &&
		len(c.DNSNames)+len(c.EmailAddresses)+len(c.IPAddresses)+len(c.URIs) == 0 {
		return nil, errors.New("x509util: the certificate would have neither a subject nor a subject alternative name")
	}
	return c, nil
}

func applyPassthrough(c *x509.Certificate, p *Passthrough) {
	if p.Subject != nil {
		c.Subject = *p.Subject
	}
	if len(p.DNSNames)+len(p.EmailAddresses)+len(p.IPAddresses)+len(p.URIs) > 0 {
		c.DNSNames, c.EmailAddresses = p.DNSNames, p.EmailAddresses
		c.IPAddresses, c.URIs = p.IPAddresses, p.URIs
	}
	if p.KeyUsage != nil {
		c.KeyUsage = *p.KeyUsage
	}
	if len(p.ExtKeyUsage)+len(p.UnknownExtKeyUsage) > 0 {
		c.ExtKeyUsage, c.UnknownExtKeyUsage = p.ExtKeyUsage, p.UnknownExtKeyUsage
	}
	if len(p.Policies) > 0 {
		c.Policies = p.Policies
	}
	for _, e := range p.Extensions {
		if !isManagedExtension(e.Id) {
			c.ExtraExtensions = append(c.ExtraExtensions, e)
		}
	}
}

// isManagedExtension reports extensions the CA always decides itself, so
// neither a CSR nor a passthrough can smuggle in cA=TRUE or a foreign key
// identifier.
func isManagedExtension(id asn1.ObjectIdentifier) bool {
	managed := []asn1.ObjectIdentifier{
		{2, 5, 29, 19},              // basicConstraints
		{2, 5, 29, 14},              // subjectKeyIdentifier
		{2, 5, 29, 35},              // authorityKeyIdentifier
		{2, 5, 29, 31},              // cRLDistributionPoints
		{2, 5, 29, 30},              // nameConstraints
		{1, 3, 6, 1, 5, 5, 7, 1, 1}, // authorityInfoAccess
	}
	for _, m := range managed {
		if id.Equal(m) {
			return true
		}
	}
	return false
}
