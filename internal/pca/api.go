package pca

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"github.com/bulwarkd/bulwark/internal/tagging"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// API describes the acm-pca service for the server: its operations, the
// unauthenticated CRL and OCSP routes "/crl/" and "/ocsp/", and the
// background loop.
func (s *Service) API() *api.Service {
	ops := map[string]api.Operation{
		"CreateCertificateAuthority":            {Handler: api.JSON(s.apiCreate)},
		"DescribeCertificateAuthority":          {Handler: api.JSON(s.apiDescribe), ReadOnly: true},
		"ListCertificateAuthorities":            {Handler: api.JSON(s.apiList), ReadOnly: true},
		"UpdateCertificateAuthority":            {Handler: api.JSON(s.apiUpdate)},
		"DeleteCertificateAuthority":            {Handler: api.JSON(s.apiDelete)},
		"RestoreCertificateAuthority":           {Handler: api.JSON(s.apiRestore)},
		"GetCertificateAuthorityCsr":            {Handler: api.JSON(s.apiGetCSR), ReadOnly: true},
		"ImportCertificateAuthorityCertificate": {Handler: api.JSON(s.apiImport)},
		"GetCertificateAuthorityCertificate":    {Handler: api.JSON(s.apiGetCACert), ReadOnly: true},
		"IssueCertificate":                      {Handler: api.JSON(s.apiIssue)},
		"GetCertificate":                        {Handler: api.JSON(s.apiGetCert), ReadOnly: true},
		"RevokeCertificate":                     {Handler: api.JSON(s.apiRevoke)},
		"TagCertificateAuthority":               {Handler: api.JSON(s.apiTag)},
		"UntagCertificateAuthority":             {Handler: api.JSON(s.apiUntag)},
		"ListTags":                              {Handler: api.JSON(s.apiListTags), ReadOnly: true},
		"PutPolicy":                             {Handler: api.JSON(s.apiPutPolicy)},
		"GetPolicy":                             {Handler: api.JSON(s.apiGetPolicy), ReadOnly: true},
		"DeletePolicy":                          {Handler: api.JSON(s.apiDeletePolicy)},
	}
	return &api.Service{
		Name: "acm-pca", EventSource: "acm-pca.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "ACMPrivateCA",
		Operations: ops,
		Errors:     errorTable,
		Routes:     map[string]http.Handler{"/crl/": s.crlHandler(), "/ocsp/": s.ocspHandler()},
		Run:        s.Run,
		// One line here so the server supplies aws:ResourceTag/* for CAs.
		ResourceTags: s.resourceTags,
	}
}

// authCA authorizes action on a CA ARN with the CA's resource policy and
// returns the CA id. Authorization comes before "not found", so callers
// without rights learn nothing about which CAs exist.
func (s *Service) authCA(ctx context.Context, c *api.Call, action, arn string) (string, error) {
	return s.authCAWith(ctx, c, action, arn, nil)
}

// authCAWith is authCA with the action's condition keys.
func (s *Service) authCAWith(ctx context.Context, c *api.Call, action, arn string, cond map[string][]string) (string, error) {
	id, err := s.parseCAARN(arn)
	if err != nil {
		return "", err
	}
	var pol *policy.Policy
	l, loadErr := s.loadCA(ctx, id)
	if loadErr == nil {
		pol = l.policy
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm-pca:" + action, Resource: arn, ResourcePolicy: pol, Context: cond}); err != nil {
		return "", err
	}
	return id, loadErr
}

type empty struct{}

type caARNInput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn" required:"true"`
}

type createInput struct {
	CertificateAuthorityConfiguration *CAConfiguration         `json:"CertificateAuthorityConfiguration" required:"true"`
	RevocationConfiguration           *RevocationConfiguration `json:"RevocationConfiguration"`
	CertificateAuthorityType          string                   `json:"CertificateAuthorityType" required:"true"`
	IdempotencyToken                  string                   `json:"IdempotencyToken"`
	KeyStorageSecurityStandard        string                   `json:"KeyStorageSecurityStandard"`
	Tags                              []Tag                    `json:"Tags"`
	UsageMode                         string                   `json:"UsageMode"`
}

type createOutput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn,omitempty"`
}

func (s *Service) apiCreate(ctx context.Context, c *api.Call, in *createInput) (*createOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm-pca:CreateCertificateAuthority", Resource: s.caARN("*")}); err != nil {
		return nil, err
	}
	arn, err := s.CreateCA(ctx, CreateInput{
		Type: in.CertificateAuthorityType, Config: *in.CertificateAuthorityConfiguration,
		Revocation: in.RevocationConfiguration, IdempotencyToken: in.IdempotencyToken, Tags: in.Tags,
		UsageMode: in.UsageMode, KeyStorage: in.KeyStorageSecurityStandard,
	})
	if err != nil {
		return nil, err
	}
	return &createOutput{CertificateAuthorityArn: arn}, nil
}

// certificateAuthority is AWS's CertificateAuthority shape.
type certificateAuthority struct {
	Arn                               string                   `json:"Arn"`
	OwnerAccount                      string                   `json:"OwnerAccount"`
	CreatedAt                         *awsproto.Time           `json:"CreatedAt,omitempty"`
	LastStateChangeAt                 *awsproto.Time           `json:"LastStateChangeAt,omitempty"`
	Type                              string                   `json:"Type"`
	Serial                            string                   `json:"Serial,omitempty"`
	Status                            string                   `json:"Status"`
	NotBefore                         *awsproto.Time           `json:"NotBefore,omitempty"`
	NotAfter                          *awsproto.Time           `json:"NotAfter,omitempty"`
	CertificateAuthorityConfiguration CAConfiguration          `json:"CertificateAuthorityConfiguration"`
	RevocationConfiguration           *RevocationConfiguration `json:"RevocationConfiguration,omitempty"`
	RestorableUntil                   *awsproto.Time           `json:"RestorableUntil,omitempty"`
	KeyStorageSecurityStandard        string                   `json:"KeyStorageSecurityStandard,omitempty"`
	UsageMode                         string                   `json:"UsageMode,omitempty"`
}

func (s *Service) wireCA(ca *caRecord) certificateAuthority {
	return certificateAuthority{
		Arn: ca.ARN, OwnerAccount: s.cfg.AccountID, CreatedAt: awsproto.NewTime(ca.CreatedAt),
		LastStateChangeAt: awsproto.NewTime(ca.LastStateChangeAt), Type: ca.Type, Serial: ca.Serial,
		Status: ca.effectiveStatus(s.now()), NotBefore: awsproto.NewTime(ca.NotBefore), NotAfter: awsproto.NewTime(ca.NotAfter),
		CertificateAuthorityConfiguration: ca.Config, RevocationConfiguration: ca.Revocation,
		RestorableUntil: awsproto.NewTime(ca.RestorableUntil), KeyStorageSecurityStandard: ca.KeyStorage, UsageMode: ca.UsageMode,
	}
}

type describeOutput struct {
	CertificateAuthority certificateAuthority `json:"CertificateAuthority"`
}

func (s *Service) apiDescribe(ctx context.Context, c *api.Call, in *caARNInput) (*describeOutput, error) {
	id, err := s.authCA(ctx, c, "DescribeCertificateAuthority", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	ca, err := s.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	return &describeOutput{CertificateAuthority: s.wireCA(ca)}, nil
}

type listInput struct {
	MaxResults    int    `json:"MaxResults"`
	NextToken     string `json:"NextToken"`
	ResourceOwner string `json:"ResourceOwner"`
}

type listOutput struct {
	CertificateAuthorities []certificateAuthority `json:"CertificateAuthorities"`
	NextToken              string                 `json:"NextToken,omitempty"`
}

func (s *Service) apiList(ctx context.Context, c *api.Call, in *listInput) (*listOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm-pca:ListCertificateAuthorities", Resource: "*"}); err != nil {
		return nil, err
	}
	limit := in.MaxResults
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &listOutput{CertificateAuthorities: []certificateAuthority{}}
	if in.ResourceOwner == "OTHER_ACCOUNTS" {
		return out, nil // no cross-account sharing in Bulwark
	}
	cas, next, err := s.listCAs(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	for _, ca := range cas {
		out.CertificateAuthorities = append(out.CertificateAuthorities, s.wireCA(ca))
	}
	if next != "" {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	return out, nil
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("%w: the NextToken is not one this service issued", ErrInvalidNextToken)
	}
	return string(b), nil
}

type updateInput struct {
	CertificateAuthorityArn string                   `json:"CertificateAuthorityArn" required:"true"`
	RevocationConfiguration *RevocationConfiguration `json:"RevocationConfiguration"`
	Status                  string                   `json:"Status"`
}

func (s *Service) apiUpdate(ctx context.Context, c *api.Call, in *updateInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "UpdateCertificateAuthority", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.update(ctx, id, in.Status, in.RevocationConfiguration)
}

type deleteInput struct {
	CertificateAuthorityArn     string `json:"CertificateAuthorityArn" required:"true"`
	PermanentDeletionTimeInDays int    `json:"PermanentDeletionTimeInDays"`
}

func (s *Service) apiDelete(ctx context.Context, c *api.Call, in *deleteInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "DeleteCertificateAuthority", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.deleteCA(ctx, id, in.PermanentDeletionTimeInDays)
}

func (s *Service) apiRestore(ctx context.Context, c *api.Call, in *caARNInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "RestoreCertificateAuthority", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.restore(ctx, id)
}

type csrOutput struct {
	Csr string `json:"Csr,omitempty"`
}

func (s *Service) apiGetCSR(ctx context.Context, c *api.Call, in *caARNInput) (*csrOutput, error) {
	id, err := s.authCA(ctx, c, "GetCertificateAuthorityCsr", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	csr, err := s.csrPEM(ctx, id)
	return &csrOutput{Csr: csr}, err
}

type importInput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn" required:"true"`
	Certificate             []byte `json:"Certificate" required:"true"`
	CertificateChain        []byte `json:"CertificateChain"`
}

func (s *Service) apiImport(ctx context.Context, c *api.Call, in *importInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "ImportCertificateAuthorityCertificate", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.importCACert(ctx, id, in.Certificate, in.CertificateChain)
}

type certOutput struct {
	Certificate      string `json:"Certificate,omitempty"`
	CertificateChain string `json:"CertificateChain,omitempty"`
}

func (s *Service) apiGetCACert(ctx context.Context, c *api.Call, in *caARNInput) (*certOutput, error) {
	id, err := s.authCA(ctx, c, "GetCertificateAuthorityCertificate", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	cert, chain, err := s.caCertificate(ctx, id)
	return &certOutput{Certificate: cert, CertificateChain: chain}, err
}

type issueInput struct {
	ApiPassthrough          *apiPassthrough `json:"ApiPassthrough"`
	CertificateAuthorityArn string          `json:"CertificateAuthorityArn" required:"true"`
	Csr                     []byte          `json:"Csr" required:"true"`
	SigningAlgorithm        string          `json:"SigningAlgorithm" required:"true"`
	TemplateArn             string          `json:"TemplateArn"`
	Validity                *Validity       `json:"Validity" required:"true"`
	ValidityNotBefore       *Validity       `json:"ValidityNotBefore"`
	IdempotencyToken        string          `json:"IdempotencyToken"`
}

// templateARN is the acm-pca:TemplateArn condition value: the default
// template when none is named, and always the full ARN, since the issuer
// also accepts a bare template name that a policy on ARNs would not match.
func templateARN(arnOrName string) string {
	if arnOrName == "" {
		return x509util.TemplateARNPrefix + x509util.DefaultTemplate
	}
	if strings.HasPrefix(arnOrName, x509util.TemplateARNPrefix) {
		return arnOrName
	}
	return x509util.TemplateARNPrefix + arnOrName
}

type issueOutput struct {
	CertificateArn string `json:"CertificateArn,omitempty"`
}

func (s *Service) apiIssue(ctx context.Context, c *api.Call, in *issueInput) (*issueOutput, error) {
	id, err := s.authCAWith(ctx, c, "IssueCertificate", in.CertificateAuthorityArn, map[string][]string{"acm-pca:templatearn": {templateARN(in.TemplateArn)}})
	if err != nil {
		return nil, err
	}
	var pt *x509util.Passthrough
	if in.ApiPassthrough != nil {
		if pt, err = in.ApiPassthrough.convert(); err != nil {
			return nil, err
		}
	}
	out, err := s.issue(ctx, IssueInput{
		CAID: id, CSR: in.Csr, SigningAlgorithm: in.SigningAlgorithm, TemplateArn: in.TemplateArn,
		Validity: *in.Validity, ValidityNotBefore: in.ValidityNotBefore, Passthrough: pt, IdempotencyToken: in.IdempotencyToken,
	})
	if err != nil {
		return nil, err
	}
	c.Resources = append(c.Resources, api.Resource{ARN: out.ARN, Type: "AWS::ACMPCA::Certificate"})
	return &issueOutput{CertificateArn: out.ARN}, nil
}

type getCertInput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn" required:"true"`
	CertificateArn          string `json:"CertificateArn" required:"true"`
}

func (s *Service) apiGetCert(ctx context.Context, c *api.Call, in *getCertInput) (*certOutput, error) {
	id, err := s.authCA(ctx, c, "GetCertificate", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	certCA, serial, err := s.parseCertARN(in.CertificateArn)
	if err != nil {
		return nil, err
	}
	if certCA != id {
		return nil, fmt.Errorf("%w: certificate %s was not issued by %s", ErrNotFound, in.CertificateArn, in.CertificateAuthorityArn)
	}
	is, err := s.getIssued(ctx, id, serial)
	if err != nil {
		return nil, err
	}
	return &certOutput{Certificate: x509util.CertPEM(is.DER), CertificateChain: x509util.CertPEM(is.Chain...)}, nil
}

type revokeInput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn" required:"true"`
	CertificateSerial       string `json:"CertificateSerial" required:"true"`
	RevocationReason        string `json:"RevocationReason" required:"true"`
}

func (s *Service) apiRevoke(ctx context.Context, c *api.Call, in *revokeInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "RevokeCertificate", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.revoke(ctx, id, in.CertificateSerial, in.RevocationReason)
}

type tagInput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn" required:"true"`
	Tags                    []Tag  `json:"Tags" required:"true"`
}

func (s *Service) apiTag(ctx context.Context, c *api.Call, in *tagInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "TagCertificateAuthority", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.tag(ctx, id, in.Tags, false)
}

func (s *Service) apiUntag(ctx context.Context, c *api.Call, in *tagInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "UntagCertificateAuthority", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.tag(ctx, id, in.Tags, true)
}

type listTagsInput struct {
	CertificateAuthorityArn string `json:"CertificateAuthorityArn" required:"true"`
	MaxResults              int    `json:"MaxResults"`
	NextToken               string `json:"NextToken"`
}

type listTagsOutput struct {
	Tags      []Tag  `json:"Tags"`
	NextToken string `json:"NextToken,omitempty"`
}

func (s *Service) apiListTags(ctx context.Context, c *api.Call, in *listTagsInput) (*listTagsOutput, error) {
	id, err := s.authCA(ctx, c, "ListTags", in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	ca, err := s.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	return &listTagsOutput{Tags: tagging.List(ca.Tags)}, nil
}

type putPolicyInput struct {
	ResourceArn string `json:"ResourceArn" required:"true"`
	Policy      string `json:"Policy" required:"true"`
}

func (s *Service) apiPutPolicy(ctx context.Context, c *api.Call, in *putPolicyInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "PutPolicy", in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.putPolicy(ctx, id, in.Policy)
}

type policyARNInput struct {
	ResourceArn string `json:"ResourceArn" required:"true"`
}

type getPolicyOutput struct {
	Policy string `json:"Policy,omitempty"`
}

func (s *Service) apiGetPolicy(ctx context.Context, c *api.Call, in *policyARNInput) (*getPolicyOutput, error) {
	id, err := s.authCA(ctx, c, "GetPolicy", in.ResourceArn)
	if err != nil {
		return nil, err
	}
	p, err := s.getPolicy(ctx, id)
	return &getPolicyOutput{Policy: p}, err
}

func (s *Service) apiDeletePolicy(ctx context.Context, c *api.Call, in *policyARNInput) (*empty, error) {
	id, err := s.authCA(ctx, c, "DeletePolicy", in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.deletePolicy(ctx, id)
}

// apiPassthrough is AWS's ApiPassthrough.
type apiPassthrough struct {
	Extensions *struct {
		CertificatePolicies []struct {
			CertPolicyId string `json:"CertPolicyId" required:"true"`
		} `json:"CertificatePolicies"`
		ExtendedKeyUsage []struct {
			ExtendedKeyUsageType             string `json:"ExtendedKeyUsageType"`
			ExtendedKeyUsageObjectIdentifier string `json:"ExtendedKeyUsageObjectIdentifier"`
		} `json:"ExtendedKeyUsage"`
		KeyUsage                *KeyUsage     `json:"KeyUsage"`
		SubjectAlternativeNames []generalName `json:"SubjectAlternativeNames"`
		CustomExtensions        []struct {
			ObjectIdentifier string `json:"ObjectIdentifier" required:"true"`
			Value            string `json:"Value" required:"true"`
			Critical         bool   `json:"Critical"`
		} `json:"CustomExtensions"`
	} `json:"Extensions"`
	Subject *Subject `json:"Subject"`
}

// generalName is AWS's GeneralName; Bulwark issues the DNS, IP, URI and
// e-mail forms.
type generalName struct {
	DnsName                   string `json:"DnsName"`
	IpAddress                 string `json:"IpAddress"`
	UniformResourceIdentifier string `json:"UniformResourceIdentifier"`
	Rfc822Name                string `json:"Rfc822Name"`
	DirectoryName             any    `json:"DirectoryName"`
	OtherName                 any    `json:"OtherName"`
	RegisteredId              string `json:"RegisteredId"`
	EdiPartyName              any    `json:"EdiPartyName"`
}

var ekuTypes = map[string]any{
	"SERVER_AUTH":              x509ExtServerAuth,
	"CLIENT_AUTH":              x509ExtClientAuth,
	"CODE_SIGNING":             x509ExtCodeSigning,
	"EMAIL_PROTECTION":         x509ExtEmail,
	"TIME_STAMPING":            x509ExtTimeStamping,
	"OCSP_SIGNING":             x509ExtOCSP,
	"SMART_CARD_LOGIN":         asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 2},
	"DOCUMENT_SIGNING":         asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 10, 3, 12},
	"CERTIFICATE_TRANSPARENCY": asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 4},
}

func (p *apiPassthrough) convert() (*x509util.Passthrough, error) {
	out := &x509util.Passthrough{}
	if p.Subject != nil {
		n, err := p.Subject.Name()
		if err != nil {
			return nil, err
		}
		out.Subject = &n
	}
	e := p.Extensions
	if e == nil {
		return out, nil
	}
	for _, gn := range e.SubjectAlternativeNames {
		switch {
		case gn.DnsName != "":
			out.DNSNames = append(out.DNSNames, gn.DnsName)
		case gn.IpAddress != "":
			ip := net.ParseIP(gn.IpAddress)
			if ip == nil {
				return nil, fmt.Errorf("%w: IpAddress %q", ErrInvalidArgs, gn.IpAddress)
			}
			out.IPAddresses = append(out.IPAddresses, ip)
		case gn.UniformResourceIdentifier != "":
			u, err := url.Parse(gn.UniformResourceIdentifier)
			if err != nil || u.Scheme == "" {
				return nil, fmt.Errorf("%w: UniformResourceIdentifier %q", ErrInvalidArgs, gn.UniformResourceIdentifier)
			}
			out.URIs = append(out.URIs, u)
		case gn.Rfc822Name != "":
			out.EmailAddresses = append(out.EmailAddresses, gn.Rfc822Name)
		default:
			return nil, fmt.Errorf("%w: only DnsName, IpAddress, UniformResourceIdentifier and Rfc822Name subject alternative names are supported", ErrInvalidArgs)
		}
	}
	if ku := e.KeyUsage; ku != nil {
		v := ku.bits()
		out.KeyUsage = &v
	}
	for _, eku := range e.ExtendedKeyUsage {
		if eku.ExtendedKeyUsageObjectIdentifier != "" {
			oid, err := parseOID(eku.ExtendedKeyUsageObjectIdentifier)
			if err != nil {
				return nil, err
			}
			out.UnknownExtKeyUsage = append(out.UnknownExtKeyUsage, oid)
			continue
		}
		switch v := ekuTypes[eku.ExtendedKeyUsageType].(type) {
		case extKeyUsage:
			out.ExtKeyUsage = append(out.ExtKeyUsage, v)
		case asn1.ObjectIdentifier:
			out.UnknownExtKeyUsage = append(out.UnknownExtKeyUsage, v)
		default:
			return nil, fmt.Errorf("%w: ExtendedKeyUsageType %q", ErrInvalidArgs, eku.ExtendedKeyUsageType)
		}
	}
	for _, cp := range e.CertificatePolicies {
		oid, err := x509OID(cp.CertPolicyId)
		if err != nil {
			return nil, err
		}
		out.Policies = append(out.Policies, oid)
	}
	for _, ce := range e.CustomExtensions {
		oid, err := parseOID(ce.ObjectIdentifier)
		if err != nil {
			return nil, err
		}
		val, err := base64.StdEncoding.DecodeString(ce.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: CustomExtension %s value is not base64", ErrInvalidArgs, ce.ObjectIdentifier)
		}
		out.Extensions = append(out.Extensions, pkixExtension(oid, ce.Critical, val))
	}
	return out, nil
}
