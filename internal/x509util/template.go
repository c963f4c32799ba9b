package x509util

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// TemplateARNPrefix starts every template ARN AWS Private CA accepts
// ("arn:aws:acm-pca:::template/EndEntityCertificate/V1").
const TemplateARNPrefix = "arn:aws:acm-pca:::template/"

// DefaultTemplate is used when IssueCertificate names none.
const DefaultTemplate = "EndEntityCertificate/V1"

// ErrUnknownTemplate means a template name or ARN is not one we know.
var ErrUnknownTemplate = errors.New("x509util: unknown certificate template")

// Slot is a part of a certificate that a template either fixes or leaves
// open to the passthrough values. Subject and subject alternative names
// are always open (ApiPassthrough, then the CSR); basic constraints, key
// identifiers, CRL distribution point and authority information access
// are always the CA's.
type Slot uint8

const (
	// SlotKeyUsage is the keyUsage extension.
	SlotKeyUsage Slot = 1 << iota
	// SlotExtKeyUsage is the extKeyUsage extension. A template that fixes
	// it with no value (the CA templates) issues no extKeyUsage at all.
	SlotExtKeyUsage
)

// Template is one certificate profile: what AWS Private CA's template of
// that name fixes, and which passthrough sources it reads for the rest.
type Template struct {
	// Name is the template's name without the ARN prefix.
	Name string
	// CA marks a CA certificate (basicConstraints cA=TRUE). PathLen is its
	// pathLenConstraint; -1 means none.
	CA      bool
	PathLen int
	// Root marks the root templates: only a CA's own CSR, self-signed.
	Root bool
	// Blank templates fix only basic constraints; key usage and extended
	// key usage come from the passthrough values.
	Blank bool
	// Fixes lists the slots whose value is KeyUsage / ExtKeyUsage whatever
	// a passthrough asks. In a slot left open, KeyUsage is the default used
	// when no passthrough source names one (a blank CA still gets
	// keyCertSign and cRLSign, without which it could sign nothing).
	Fixes       Slot
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	// APIPassthrough reads the request's ApiPassthrough; CSRPassthrough
	// copies the CSR's extensions. Subject and subject alternative names
	// come from the CSR whatever the variety.
	APIPassthrough bool
	CSRPassthrough bool
}

// Fixed reports whether the template decides slot itself.
func (t Template) Fixed(slot Slot) bool { return t.Fixes&slot != 0 }

const (
	caKeyUsage      = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	blankCAKeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	serverKeyUsage  = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	fixedUsage      = SlotKeyUsage | SlotExtKeyUsage
)

// variety is the set of passthrough variants a template family exists in.
type variety uint8

const (
	vBase variety = 1 << iota
	vAPI
	vCSR
	vAPICSR
	vAll = vBase | vAPI | vCSR | vAPICSR
)

var varietySuffix = map[variety]string{vBase: "", vAPI: "_APIPassthrough", vCSR: "_CSRPassthrough", vAPICSR: "_APICSRPassthrough"}

// family is one AWS template definition and the variants of it AWS offers.
type family struct {
	name      string
	varieties variety
	t         Template
}

func subCA(n int) Template {
	return Template{CA: true, PathLen: n, Fixes: fixedUsage, KeyUsage: caKeyUsage}
}

func blankSubCA(n int) Template {
	return Template{CA: true, PathLen: n, Blank: true, KeyUsage: blankCAKeyUsage}
}

func blankRoot(n int) Template {
	return Template{CA: true, Root: true, PathLen: n, Blank: true, KeyUsage: blankCAKeyUsage}
}

func leaf(ku x509.KeyUsage, eku ...x509.ExtKeyUsage) Template {
	return Template{PathLen: -1, Fixes: fixedUsage, KeyUsage: ku, ExtKeyUsage: eku}
}

// families is AWS Private CA's template catalogue ("Template definitions"
// in the user guide), one row per definition. A template name not derived
// from this table is refused.
var families = []family{
	{"EndEntityCertificate", vAll, leaf(serverKeyUsage, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)},
	{"EndEntityClientAuthCertificate", vAll, leaf(serverKeyUsage, x509.ExtKeyUsageClientAuth)},
	{"EndEntityServerAuthCertificate", vAll, leaf(serverKeyUsage, x509.ExtKeyUsageServerAuth)},
	{"CodeSigningCertificate", vAll, leaf(x509.KeyUsageDigitalSignature, x509.ExtKeyUsageCodeSigning)},
	{"OCSPSigningCertificate", vAll, leaf(x509.KeyUsageDigitalSignature, x509.ExtKeyUsageOCSPSigning)},
	{"RootCACertificate", vBase | vAPI, Template{CA: true, Root: true, PathLen: -1, Fixes: fixedUsage, KeyUsage: caKeyUsage}},
	{"SubordinateCACertificate_PathLen0", vAll, subCA(0)},
	{"SubordinateCACertificate_PathLen1", vAll, subCA(1)},
	{"SubordinateCACertificate_PathLen2", vAll, subCA(2)},
	{"SubordinateCACertificate_PathLen3", vAll, subCA(3)},
	{"BlankEndEntityCertificate", vAPI | vCSR | vAPICSR, Template{PathLen: -1, Blank: true}},
	// Go always marks basicConstraints critical, so this is the same
	// profile under the name AWS gives it.
	{"BlankEndEntityCertificate_CriticalBasicConstraints", vAPI | vCSR | vAPICSR, Template{PathLen: -1, Blank: true}},
	{"BlankSubordinateCACertificate_PathLen0", vAPI | vCSR | vAPICSR, blankSubCA(0)},
	{"BlankSubordinateCACertificate_PathLen1", vAPI | vCSR | vAPICSR, blankSubCA(1)},
	{"BlankSubordinateCACertificate_PathLen2", vAPI | vCSR | vAPICSR, blankSubCA(2)},
	{"BlankSubordinateCACertificate_PathLen3", vAPI | vCSR | vAPICSR, blankSubCA(3)},
	{"BlankRootCACertificate", vAPI, blankRoot(-1)},
	{"BlankRootCACertificate_PathLen0", vAPI, blankRoot(0)},
	{"BlankRootCACertificate_PathLen1", vAPI, blankRoot(1)},
	{"BlankRootCACertificate_PathLen2", vAPI, blankRoot(2)},
	{"BlankRootCACertificate_PathLen3", vAPI, blankRoot(3)},
}

// templates is every template by name ("EndEntityCertificate_APIPassthrough/V1").
var templates = func() map[string]Template {
	m := map[string]Template{}
	for _, f := range families {
		for v, suffix := range varietySuffix {
			if f.varieties&v == 0 {
				continue
			}
			t := f.t
			t.Name = f.name + suffix + "/V1"
			t.APIPassthrough = v == vAPI || v == vAPICSR
			t.CSRPassthrough = v == vCSR || v == vAPICSR
			m[t.Name] = t
		}
	}
	return m
}()

// TemplateNames lists every template name LookupTemplate knows, sorted.
func TemplateNames() []string {
	out := make([]string, 0, len(templates))
	for n := range templates {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupTemplate finds a template by ARN or by name ("" is the default,
// EndEntityCertificate/V1). Only the templates AWS Private CA defines are
// known; the result is a copy the caller may change.
func LookupTemplate(arnOrName string) (Template, error) {
	name := strings.TrimPrefix(arnOrName, TemplateARNPrefix)
	if name == "" {
		name = DefaultTemplate
	}
	t, ok := templates[name]
	if !ok {
		return Template{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, arnOrName)
	}
	t.ExtKeyUsage = slices.Clone(t.ExtKeyUsage)
	return t, nil
}
