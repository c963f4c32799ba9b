package pca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/tagging"
)

// The CA's configuration documents keep AWS's shapes (and JSON names)
// both on the wire and at rest: they are configuration the caller wrote,
// returned verbatim by DescribeCertificateAuthority.

// CA statuses.
const (
	StatusPendingCertificate = "PENDING_CERTIFICATE"
	StatusActive             = "ACTIVE"
	StatusDisabled           = "DISABLED"
	StatusDeleted            = "DELETED"
	StatusExpired            = "EXPIRED"
)

// CA types.
const (
	TypeRoot        = "ROOT"
	TypeSubordinate = "SUBORDINATE"
)

// Subject is AWS's ASN1Subject.
type Subject struct {
	Country                    string            `json:"Country,omitempty"`
	Organization               string            `json:"Organization,omitempty"`
	OrganizationalUnit         string            `json:"OrganizationalUnit,omitempty"`
	DistinguishedNameQualifier string            `json:"DistinguishedNameQualifier,omitempty"`
	State                      string            `json:"State,omitempty"`
	CommonName                 string            `json:"CommonName,omitempty"`
	SerialNumber               string            `json:"SerialNumber,omitempty"`
	Locality                   string            `json:"Locality,omitempty"`
	Title                      string            `json:"Title,omitempty"`
	Surname                    string            `json:"Surname,omitempty"`
	GivenName                  string            `json:"GivenName,omitempty"`
	Initials                   string            `json:"Initials,omitempty"`
	Pseudonym                  string            `json:"Pseudonym,omitempty"`
	GenerationQualifier        string            `json:"GenerationQualifier,omitempty"`
	CustomAttributes           []CustomAttribute `json:"CustomAttributes,omitempty"`
}

// CustomAttribute is one extra RDN of a Subject.
type CustomAttribute struct {
	ObjectIdentifier string `json:"ObjectIdentifier" required:"true"`
	Value            string `json:"Value" required:"true"`
}

// Name converts the subject to a pkix.Name; attribute types Go's pkix
// has no field for go to ExtraNames.
func (s *Subject) Name() (pkix.Name, error) {
	n := pkix.Name{CommonName: s.CommonName, SerialNumber: s.SerialNumber}
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = append(*dst, v)
		}
	}
	add(&n.Country, s.Country)
	add(&n.Organization, s.Organization)
	add(&n.OrganizationalUnit, s.OrganizationalUnit)
	add(&n.Province, s.State)
	add(&n.Locality, s.Locality)
	extra := []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{asn1.ObjectIdentifier{2, 5, 4, 46}, s.DistinguishedNameQualifier},
		{asn1.ObjectIdentifier{2, 5, 4, 12}, s.Title},
		{asn1.ObjectIdentifier{2, 5, 4, 4}, s.Surname},
		{asn1.ObjectIdentifier{2, 5, 4, 42}, s.GivenName},
		{asn1.ObjectIdentifier{2, 5, 4, 43}, s.Initials},
		{asn1.ObjectIdentifier{2, 5, 4, 65}, s.Pseudonym},
		{asn1.ObjectIdentifier{2, 5, 4, 44}, s.GenerationQualifier},
	}
	for _, e := range extra {
		if e.v != "" {
			n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: e.oid, Value: e.v})
		}
	}
	for _, ca := range s.CustomAttributes {
		oid, err := parseOID(ca.ObjectIdentifier)
		if err != nil {
			return pkix.Name{}, err
		}
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oid, Value: ca.Value})
	}
	if len(n.ToRDNSequence()) == 0 {
		return pkix.Name{}, fmt.Errorf("%w: the subject has no attributes", ErrInvalidArgs)
	}
	return n, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	var cur int
	digits := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 {
				return nil, fmt.Errorf("%w: %q is not an object identifier", ErrInvalidArgs, s)
			}
			oid = append(oid, cur)
			cur, digits = 0, 0
			continue
		}
		if s[i] < '0' || s[i] > '9' || digits > 9 {
			return nil, fmt.Errorf("%w: %q is not an object identifier", ErrInvalidArgs, s)
		}
		cur = cur*10 + int(s[i]-'0')
		digits++
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("%w: %q is not an object identifier", ErrInvalidArgs, s)
	}
	return oid, nil
}

// KeyUsage is AWS's KeyUsage flag set.
type KeyUsage struct {
	DigitalSignature bool `json:"DigitalSignature,omitempty"`
	NonRepudiation   bool `json:"NonRepudiation,omitempty"`
	KeyEncipherment  bool `json:"KeyEncipherment,omitempty"`
	DataEncipherment bool `json:"DataEncipherment,omitempty"`
	KeyAgreement     bool `json:"KeyAgreement,omitempty"`
	KeyCertSign      bool `json:"KeyCertSign,omitempty"`
	CRLSign          bool `json:"CRLSign,omitempty"`
	EncipherOnly     bool `json:"EncipherOnly,omitempty"`
	DecipherOnly     bool `json:"DecipherOnly,omitempty"`
}

// CSRExtensions is AWS's CsrExtensions (kept, not yet applied to the CSR).
type CSRExtensions struct {
	KeyUsage                 *KeyUsage `json:"KeyUsage,omitempty"`
	SubjectInformationAccess []any     `json:"SubjectInformationAccess,omitempty"`
}

// CAConfiguration is AWS's CertificateAuthorityConfiguration.
type CAConfiguration struct {
	KeyAlgorithm     string         `json:"KeyAlgorithm" required:"true"`
	SigningAlgorithm string         `json:"SigningAlgorithm" required:"true"`
	Subject          *Subject       `json:"Subject" required:"true"`
	CsrExtensions    *CSRExtensions `json:"CsrExtensions,omitempty"`
}

// RevocationConfiguration is AWS's RevocationConfiguration.
type RevocationConfiguration struct {
	CrlConfiguration  *CRLConfiguration  `json:"CrlConfiguration,omitempty"`
	OcspConfiguration *OCSPConfiguration `json:"OcspConfiguration,omitempty"`
}

// CRLConfiguration is AWS's CrlConfiguration. S3 members are accepted and
// echoed but Bulwark serves CRLs itself.
type CRLConfiguration struct {
	Enabled                                    *bool  `json:"Enabled" required:"true"`
	ExpirationInDays                           int    `json:"ExpirationInDays,omitempty"`
	CustomCname                                string `json:"CustomCname,omitempty"`
	S3BucketName                               string `json:"S3BucketName,omitempty"`
	S3ObjectAcl                                string `json:"S3ObjectAcl,omitempty"`
	CrlType                                    string `json:"CrlType,omitempty"`
	CustomPath                                 string `json:"CustomPath,omitempty"`
	CrlDistributionPointExtensionConfiguration *struct {
		OmitExtension *bool `json:"OmitExtension" required:"true"`
	} `json:"CrlDistributionPointExtensionConfiguration,omitempty"`
}

// OCSPConfiguration is AWS's OcspConfiguration. Enabled puts the CA's
// responder (Config.OCSPBaseURL + "/<ca-id>", or
// "http://<OcspCustomCname>/ocsp/<ca-id>") into the certificates it issues
// and turns the responder on.
type OCSPConfiguration struct {
	Enabled         *bool  `json:"Enabled" required:"true"`
	OcspCustomCname string `json:"OcspCustomCname,omitempty"`
}

// Tag is a CA tag.
type Tag struct {
	Key   string `json:"Key" required:"true"`
	Value string `json:"Value,omitempty"`
}

// validateTags applies AWS's tag rules (internal/tagging) with ACM PCA's
// errors: TooManyTagsException over the limit, InvalidTagException else.
func validateTags(tags []Tag) error {
	return tagging.Wrap(tagging.Check(tags, kvTag), ErrInvalidTag, ErrTooManyTags)
}

func kvTag(t Tag) tagging.Tag { return tagging.Tag(t) }
