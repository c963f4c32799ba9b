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
	"time"
)

// Passthrough is the part of a certificate a caller may dictate through
// IssueCertificate's ApiPassthrough (read only by an APIPassthrough
// template). Nil and empty members leave the value to the next source.
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
	// Extensions are AWS's CustomExtensions. One naming keyUsage or
	// extKeyUsage counts as that slot's value; one the CA always decides
	// (basic constraints, key identifiers, CRL distribution points,
	// authority information access, name constraints) is dropped.
	Extensions []pkix.Extension
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

// ErrRefused wraps every reason Build refuses a request: the caller asked
// for something no template allows, or sent values that contradict each
// other. The message says which.
var ErrRefused = errors.New("certificate request refused")

var (
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidCertPolicies     = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	// managedOIDs are extensions the CA always decides itself, so neither
	// a CSR nor a passthrough can smuggle in cA=TRUE, a foreign key
	// identifier or a revocation pointer.
	managedOIDs = []asn1.ObjectIdentifier{
		oidBasicConstraints,
		{2, 5, 29, 14},              // subjectKeyIdentifier
		{2, 5, 29, 35},              // authorityKeyIdentifier
		{2, 5, 29, 31},              // cRLDistributionPoints
		{2, 5, 29, 30},              // nameConstraints
		{1, 3, 6, 1, 5, 5, 7, 1, 1}, // authorityInfoAccess
	}
)

// subjectSlot names the subject in builder.owner, next to extension OIDs.
const subjectSlot = "subject"

// builder carries one certificate through the ordered steps. owner maps
// each decided slot (an extension OID, or "subject") to the source that
// decided it; a later source never overrides an earlier one.
type builder struct {
	r     Request
	t     Template
	c     *x509.Certificate
	owner map[string]string
}

// claim gives slot to source unless an earlier source has it.
func (b *builder) claim(slot, source string) bool {
	if _, taken := b.owner[slot]; taken {
		return false
	}
	b.owner[slot] = source
	return true
}

func (b *builder) free(slot string) bool {
	_, taken := b.owner[slot]
	return !taken
}

// buildSteps run in AWS's order of operations: per slot the template has
// the highest priority, then ApiPassthrough, then the CSR.
var buildSteps = []struct {
	name string
	run  func(*builder) error
}{
	{"template", (*builder).applyTemplate},
	{"ApiPassthrough", (*builder).applyAPIPassthrough},
	{"CSR", (*builder).applyCSR},
	{"CA configuration", (*builder).applyCAConfig},
	{"defaults", (*builder).applyDefaults},
	{"checks", (*builder).check},
}

// Build returns the certificate template for r, or an error wrapping
// ErrRefused that says what to change.
func Build(r Request) (*x509.Certificate, error) {
	if r.CSR == nil || r.Serial == nil {
		return nil, errors.New("x509util: CSR and serial are required")
	}
	if r.Template.Root != (r.Issuer == nil) {
		return nil, errors.New("x509util: a root template is self-signed and only a root template is")
	}
	b := &builder{r: r, t: r.Template, owner: map[string]string{}}
	for _, s := range buildSteps {
		if err := s.run(b); err != nil {
			return nil, err
		}
	}
	return b.c, nil
}

// applyTemplate sets what the template fixes and reserves the
// extensions only the CA decides.
func (b *builder) applyTemplate() error {
	t, r := b.t, b.r
	b.c = &x509.Certificate{
		SerialNumber:          r.Serial,
		NotBefore:             r.NotBefore.UTC().Truncate(time.Second),
		NotAfter:              r.NotAfter.UTC().Truncate(time.Second),
		SignatureAlgorithm:    r.SigAlg,
		BasicConstraintsValid: true,
		IsCA:                  t.CA,
		MaxPathLen:            -1,
		SubjectKeyId:          SubjectKeyID(r.CSR.PublicKey),
	}
	if t.CA && t.PathLen >= 0 {
		b.c.MaxPathLen, b.c.MaxPathLenZero = t.PathLen, t.PathLen == 0
	}
	for _, oid := range managedOIDs {
		b.claim(oid.String(), "CA")
	}
	if t.Fixed(SlotKeyUsage) && b.claim(oidKeyUsage.String(), "template") {
		b.c.KeyUsage = t.KeyUsage
		if !t.CA && t.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
			// Key encipherment is RSA key transport; RFC 8813 forbids it
			// for EC keys (AWS sets it regardless and zlint flags that).
			if _, isRSA := r.CSR.PublicKey.(*rsa.PublicKey); !isRSA {
				b.c.KeyUsage &^= x509.KeyUsageKeyEncipherment
			}
		}
	}
	if t.Fixed(SlotExtKeyUsage) && b.claim(oidExtKeyUsage.String(), "template") {
		b.c.ExtKeyUsage = slices.Clone(t.ExtKeyUsage)
	}
	return nil
}

// passthroughSteps fill, in this order, the slots the template left open
// from the request's ApiPassthrough; custom is its CustomExtensions by OID.
var passthroughSteps = []func(b *builder, p *Passthrough, custom map[string]pkix.Extension) error{
	(*builder).apiSubject,
	(*builder).apiSAN,
	(*builder).apiKeyUsage,
	(*builder).apiExtKeyUsage,
	(*builder).apiPolicies,
	(*builder).apiCustomExtensions,
}

// applyAPIPassthrough takes the ApiPassthrough values for every slot the
// template left open.
func (b *builder) applyAPIPassthrough() error {
	p := b.r.Passthrough
	if !b.t.APIPassthrough || p == nil {
		return nil
	}
	custom, err := indexExtensions(p.Extensions, "ApiPassthrough CustomExtensions")
	if err != nil {
		return err
	}
	for _, step := range passthroughSteps {
		if err := step(b, p, custom); err != nil {
			return err
		}
	}
	return nil
}

const srcAPI = "ApiPassthrough"

func (b *builder) apiSubject(p *Passthrough, _ map[string]pkix.Extension) error {
	if p.Subject != nil && b.claim(subjectSlot, srcAPI) {
		b.c.Subject = *p.Subject
	}
	return nil
}

// apiSAN takes the typed subject alternative names; a SAN custom
// extension is refused, as AWS does.
func (b *builder) apiSAN(p *Passthrough, custom map[string]pkix.Extension) error {
	if _, ok := custom[oidSubjectAltName.String()]; ok {
		return fmt.Errorf("%w: give subject alternative names in ApiPassthrough Extensions.SubjectAlternativeNames, not as a custom extension", ErrRefused)
	}
	if len(p.DNSNames)+len(p.EmailAddresses)+len(p.IPAddresses)+len(p.URIs) > 0 && b.claim(oidSubjectAltName.String(), srcAPI) {
		b.c.DNSNames, b.c.EmailAddresses = p.DNSNames, p.EmailAddresses
		b.c.IPAddresses, b.c.URIs = p.IPAddresses, p.URIs
	}
	return nil
}

func (b *builder) apiPolicies(p *Passthrough, custom map[string]pkix.Extension) error {
	if len(p.Policies) == 0 {
		return nil
	}
	if _, dup := custom[oidCertPolicies.String()]; dup {
		return fmt.Errorf("%w: certificate policies given both in CertificatePolicies and as a custom extension; give them once", ErrRefused)
	}
	if b.claim(oidCertPolicies.String(), srcAPI) {
		b.c.Policies = p.Policies
	}
	return nil
}

// apiCustomExtensions copies the custom extensions into open slots, in the
// order given; key usage and extended key usage were decided above.
func (b *builder) apiCustomExtensions(p *Passthrough, _ map[string]pkix.Extension) error {
	for _, e := range p.Extensions {
		if !e.Id.Equal(oidKeyUsage) && !e.Id.Equal(oidExtKeyUsage) && b.claim(e.Id.String(), srcAPI) {
			b.c.ExtraExtensions = append(b.c.ExtraExtensions, e)
		}
	}
	return nil
}

func (b *builder) apiKeyUsage(p *Passthrough, custom map[string]pkix.Extension) error {
	e, hasCustom := custom[oidKeyUsage.String()]
	if p.KeyUsage != nil && *p.KeyUsage == 0 {
		// An ApiPassthrough KeyUsage with every flag false names nothing;
		// taking it would leave a blank CA without keyCertSign.
		p = &Passthrough{}
	}
	if p.KeyUsage != nil && hasCustom {
		return fmt.Errorf("%w: key usage given both in KeyUsage and as a custom extension; give it once", ErrRefused)
	}
	if (p.KeyUsage == nil && !hasCustom) || !b.free(oidKeyUsage.String()) {
		return nil
	}
	ku := p.KeyUsage
	if hasCustom {
		v, err := ParseKeyUsage(e.Value)
		if err != nil {
			return fmt.Errorf("%w: ApiPassthrough custom extension %s: %v", ErrRefused, oidKeyUsage, err)
		}
		ku = &v
	}
	b.claim(oidKeyUsage.String(), srcAPI)
	b.c.KeyUsage = *ku
	return nil
}

func (b *builder) apiExtKeyUsage(p *Passthrough, custom map[string]pkix.Extension) error {
	e, hasCustom := custom[oidExtKeyUsage.String()]
	typed := len(p.ExtKeyUsage)+len(p.UnknownExtKeyUsage) > 0
	if typed && hasCustom {
		return fmt.Errorf("%w: extended key usage given both in ExtendedKeyUsage and as a custom extension; give it once", ErrRefused)
	}
	if (!typed && !hasCustom) || !b.free(oidExtKeyUsage.String()) {
		return nil
	}
	eku, unknown := p.ExtKeyUsage, p.UnknownExtKeyUsage
	if hasCustom {
		var err error
		if eku, unknown, err = ParseExtKeyUsage(e.Value); err != nil {
			return fmt.Errorf("%w: ApiPassthrough custom extension %s: %v", ErrRefused, oidExtKeyUsage, err)
		}
	}
	b.claim(oidExtKeyUsage.String(), srcAPI)
	b.c.ExtKeyUsage, b.c.UnknownExtKeyUsage = slices.Clone(eku), slices.Clone(unknown)
	return nil
}

// applyCSR takes subject and subject alternative names from the CSR
// (every template does, when ApiPassthrough gave none) and, for a
// CSRPassthrough template, the CSR's other extensions in open slots.
func (b *builder) applyCSR() error {
	const src = "CSR"
	csr := b.r.CSR
	if b.claim(subjectSlot, src) {
		// The raw bytes keep attributes pkix.Name cannot re-encode.
		b.c.RawSubject = csr.RawSubject
	}
	exts, err := indexExtensions(csr.Extensions, "the CSR's extensions")
	if err != nil {
		return err
	}
	if san, ok := exts[oidSubjectAltName.String()]; ok && b.claim(oidSubjectAltName.String(), src) {
		// Raw, so otherName and directoryName entries survive; Go parsed
		// it already when it read the CSR. Criticality is set in check.
		b.c.ExtraExtensions = append(b.c.ExtraExtensions, san)
	}
	if !b.t.CSRPassthrough {
		return nil
	}
	for _, e := range csr.Extensions {
		slot := e.Id.String()
		if e.Id.Equal(oidSubjectAltName) || !b.free(slot) {
			continue
		}
		switch {
		case e.Id.Equal(oidKeyUsage):
			ku, err := ParseKeyUsage(e.Value)
			if err != nil {
				return fmt.Errorf("%w: the CSR's key usage extension: %v", ErrRefused, err)
			}
			b.c.KeyUsage = ku
		case e.Id.Equal(oidExtKeyUsage):
			eku, unknown, err := ParseExtKeyUsage(e.Value)
			if err != nil {
				return fmt.Errorf("%w: the CSR's extended key usage extension: %v", ErrRefused, err)
			}
			b.c.ExtKeyUsage, b.c.UnknownExtKeyUsage = eku, unknown
		default:
			b.c.ExtraExtensions = append(b.c.ExtraExtensions, e)
		}
		b.claim(slot, src)
	}
	return nil
}

// applyCAConfig adds the revocation pointers and the root's own key
// identifier.
func (b *builder) applyCAConfig() error {
	r, c := b.r, b.c
	if r.Issuer == nil {
		// Self-signed: x509.CreateCertificate takes the subject and key
		// identifier from this template as the issuer's.
		c.AuthorityKeyId = c.SubjectKeyId
		return nil
	}
	if r.CRLURL != "" {
		c.CRLDistributionPoints = []string{r.CRLURL}
	}
	if r.OCSPURL != "" {
		c.OCSPServer = []string{r.OCSPURL}
	}
	if r.IssuerURL != "" {
		c.IssuingCertificateURL = []string{r.IssuerURL}
	}
	return nil
}

// applyDefaults fills open slots no source named.
func (b *builder) applyDefaults() error {
	if b.t.KeyUsage != 0 && b.claim(oidKeyUsage.String(), "template default") {
		b.c.KeyUsage = b.t.KeyUsage
	}
	return nil
}

// check refuses certificates RFC 5280 forbids and marks a raw subject
// alternative name critical exactly when the subject is empty.
func (b *builder) check() error {
	c := b.c
	if !c.IsCA && c.KeyUsage&x509.KeyUsageCertSign != 0 {
		return fmt.Errorf("%w: keyCertSign is only for CA certificates (RFC 5280 4.2.1.3); use a CA template or leave it out", ErrRefused)
	}
	emptySubject, err := subjectEmpty(c)
	if err != nil {
		return fmt.Errorf("%w: the CSR's subject: %v", ErrRefused, err)
	}
	hasSAN := len(c.DNSNames)+len(c.EmailAddresses)+len(c.IPAddresses)+len(c.URIs) > 0
	for i := range c.ExtraExtensions {
		if c.ExtraExtensions[i].Id.Equal(oidSubjectAltName) {
			hasSAN = true
			c.ExtraExtensions[i].Critical = emptySubject
		}
	}
	if emptySubject && !hasSAN {
		return fmt.Errorf("%w: the certificate would have neither a subject nor a subject alternative name; put one in the CSR or the ApiPassthrough", ErrRefused)
	}
	return nil
}

func subjectEmpty(c *x509.Certificate) (bool, error) {
	if len(c.RawSubject) == 0 {
		return len(c.Subject.ToRDNSequence()) == 0, nil
	}
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(c.RawSubject, &rdns)
	if err != nil || len(rest) > 0 {
		return false, errors.New("does not parse")
	}
	return len(rdns) == 0, nil
}

// indexExtensions maps extensions by OID, refusing one given twice.
func indexExtensions(exts []pkix.Extension, where string) (map[string]pkix.Extension, error) {
	m := make(map[string]pkix.Extension, len(exts))
	for _, e := range exts {
		k := e.Id.String()
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: %s name extension %s twice", ErrRefused, where, k)
		}
		m[k] = e
	}
	return m, nil
}
