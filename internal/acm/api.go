package acm

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"github.com/bulwarkd/bulwark/internal/tagging"
	"slices"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// API describes the acm service for the server, with Run as its
// background loop (expiry events and managed renewal).
func (s *Service) API() *api.Service {
	ops := map[string]api.Operation{
		"RequestCertificate":        {Handler: api.JSON(s.apiRequest)},
		"DescribeCertificate":       {Handler: api.JSON(s.apiDescribe), ReadOnly: true},
		"GetCertificate":            {Handler: api.JSON(s.apiGet), ReadOnly: true},
		"ListCertificates":          {Handler: api.JSON(s.apiList), ReadOnly: true},
		"DeleteCertificate":         {Handler: api.JSON(s.apiDelete)},
		"ImportCertificate":         {Handler: api.JSON(s.apiImport)},
		"AddTagsToCertificate":      {Handler: api.JSON(s.apiAddTags)},
		"RemoveTagsFromCertificate": {Handler: api.JSON(s.apiRemoveTags)},
		"ListTagsForCertificate":    {Handler: api.JSON(s.apiListTags), ReadOnly: true},
		"GetAccountConfiguration":   {Handler: api.JSON(s.apiGetAccount), ReadOnly: true},
		"PutAccountConfiguration":   {Handler: api.JSON(s.apiPutAccount)},
		"ExportCertificate":         {Handler: api.JSON(s.apiExport)},
		"RenewCertificate":          {Handler: api.JSON(s.apiRenew)},
		"RevokeCertificate":         {Handler: api.JSON(s.apiRevoke)},
	}
	return &api.Service{Name: "acm", EventSource: "acm.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "CertificateManager",
		Operations: ops, Errors: errorTable, Run: s.Run, ResourceTags: s.resourceTags}
}

// auth authorizes action on a certificate ARN and returns its id.
func (s *Service) auth(ctx context.Context, c *api.Call, action, arn string) (string, error) {
	id, err := s.parseARN(arn)
	if err != nil {
		return "", err
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm:" + action, Resource: arn}); err != nil {
		return "", err
	}
	return id, nil
}

type empty struct{}

type arnInput struct {
	CertificateArn string `json:"CertificateArn" required:"true"`
}

type arnOutput struct {
	CertificateArn string `json:"CertificateArn,omitempty"`
}

type requestInput struct {
	DomainName              string   `json:"DomainName" required:"true"`
	ValidationMethod        string   `json:"ValidationMethod"`
	SubjectAlternativeNames []string `json:"SubjectAlternativeNames"`
	IdempotencyToken        string   `json:"IdempotencyToken"`
	CertificateAuthorityArn string   `json:"CertificateAuthorityArn"`
	Tags                    []Tag    `json:"Tags"`
	KeyAlgorithm            string   `json:"KeyAlgorithm"`
}

func (s *Service) apiRequest(ctx context.Context, c *api.Call, in *requestInput) (*arnOutput, error) {
	var cond map[string][]string
	if in.CertificateAuthorityArn != "" {
		cond = map[string][]string{"acm:certificateauthority": {in.CertificateAuthorityArn}}
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm:RequestCertificate", Resource: s.certARN("*"), Context: cond}); err != nil {
		return nil, err
	}
	arn, err := s.Request(ctx, RequestInput{DomainName: in.DomainName, SANs: in.SubjectAlternativeNames, CAARN: in.CertificateAuthorityArn,
		KeyAlgorithm: in.KeyAlgorithm, IdempotencyToken: in.IdempotencyToken, Tags: in.Tags})
	if err != nil {
		return nil, err
	}
	c.Resources = append(c.Resources, api.Resource{ARN: arn, Type: "AWS::CertificateManager::Certificate"})
	return &arnOutput{CertificateArn: arn}, nil
}

type nameOID struct {
	Name string `json:"Name"`
	OID  string `json:"OID,omitempty"`
}

type renewalSummary struct {
	RenewalStatus           string         `json:"RenewalStatus"`
	DomainValidationOptions []any          `json:"DomainValidationOptions"`
	RenewalStatusReason     string         `json:"RenewalStatusReason,omitempty"`
	UpdatedAt               *awsproto.Time `json:"UpdatedAt"`
}

type certificateDetail struct {
	CertificateArn          string          `json:"CertificateArn"`
	DomainName              string          `json:"DomainName,omitempty"`
	SubjectAlternativeNames []string        `json:"SubjectAlternativeNames,omitempty"`
	Serial                  string          `json:"Serial,omitempty"`
	Subject                 string          `json:"Subject,omitempty"`
	Issuer                  string          `json:"Issuer,omitempty"`
	CreatedAt               *awsproto.Time  `json:"CreatedAt,omitempty"`
	IssuedAt                *awsproto.Time  `json:"IssuedAt,omitempty"`
	ImportedAt              *awsproto.Time  `json:"ImportedAt,omitempty"`
	Status                  string          `json:"Status"`
	RevokedAt               *awsproto.Time  `json:"RevokedAt,omitempty"`
	RevocationReason        string          `json:"RevocationReason,omitempty"`
	NotBefore               *awsproto.Time  `json:"NotBefore,omitempty"`
	NotAfter                *awsproto.Time  `json:"NotAfter,omitempty"`
	KeyAlgorithm            string          `json:"KeyAlgorithm,omitempty"`
	SignatureAlgorithm      string          `json:"SignatureAlgorithm,omitempty"`
	InUseBy                 []string        `json:"InUseBy"`
	Type                    string          `json:"Type"`
	RenewalSummary          *renewalSummary `json:"RenewalSummary,omitempty"`
	KeyUsages               []nameOID       `json:"KeyUsages,omitempty"`
	ExtendedKeyUsages       []nameOID       `json:"ExtendedKeyUsages,omitempty"`
	CertificateAuthorityArn string          `json:"CertificateAuthorityArn,omitempty"`
	RenewalEligibility      string          `json:"RenewalEligibility"`
	Options                 map[string]any  `json:"Options,omitempty"`
}

var kuNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "DIGITAL_SIGNATURE"}, {x509.KeyUsageContentCommitment, "NON_REPUDIATION"},
	{x509.KeyUsageKeyEncipherment, "KEY_ENCIPHERMENT"}, {x509.KeyUsageDataEncipherment, "DATA_ENCIPHERMENT"},
	{x509.KeyUsageKeyAgreement, "KEY_AGREEMENT"}, {x509.KeyUsageCertSign, "CERTIFICATE_SIGNING"},
	{x509.KeyUsageCRLSign, "CRL_SIGNING"}, {x509.KeyUsageEncipherOnly, "ENCIPHER_ONLY"}, {x509.KeyUsageDecipherOnly, "DECIPHER_ONLY"},
}

var ekuNames = map[x509.ExtKeyUsage]nameOID{
	x509.ExtKeyUsageServerAuth:      {"TLS_WEB_SERVER_AUTHENTICATION", "1.3.6.1.5.5.7.3.1"},
	x509.ExtKeyUsageClientAuth:      {"TLS_WEB_CLIENT_AUTHENTICATION", "1.3.6.1.5.5.7.3.2"},
	x509.ExtKeyUsageCodeSigning:     {"CODE_SIGNING", "1.3.6.1.5.5.7.3.3"},
	x509.ExtKeyUsageEmailProtection: {"EMAIL_PROTECTION", "1.3.6.1.5.5.7.3.4"},
	x509.ExtKeyUsageTimeStamping:    {"TIME_STAMPING", "1.3.6.1.5.5.7.3.8"},
	x509.ExtKeyUsageOCSPSigning:     {"OCSP_SIGNING", "1.3.6.1.5.5.7.3.9"},
}

func sigAlgName(a x509.SignatureAlgorithm) string {
	return strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(a.String(), "-", ""), "With", "WITH"))
}

func (s *Service) detail(c *certRecord) certificateDetail {
	d := certificateDetail{
		CertificateArn: c.ARN, DomainName: c.DomainName, SubjectAlternativeNames: c.SANs,
		CreatedAt: awsproto.NewTime(c.CreatedAt), IssuedAt: awsproto.NewTime(c.IssuedAt), ImportedAt: awsproto.NewTime(c.ImportedAt),
		Status: c.Status, RevokedAt: awsproto.NewTime(c.RevokedAt), RevocationReason: c.RevocationReason,
		KeyAlgorithm: c.KeyAlgorithm, InUseBy: []string{}, Type: c.Type, CertificateAuthorityArn: c.CAARN,
		RenewalEligibility: "INELIGIBLE",
	}
	if c.Type == TypePrivate {
		d.Options = map[string]any{"CertificateTransparencyLoggingPreference": "DISABLED", "Export": "ENABLED"}
		if c.Exported {
			d.RenewalEligibility = "ELIGIBLE"
		}
	}
	if c.RenewalStatus != "" {
		d.RenewalSummary = &renewalSummary{RenewalStatus: c.RenewalStatus, DomainValidationOptions: []any{},
			RenewalStatusReason: c.RenewalReason, UpdatedAt: awsproto.NewTime(c.RenewalUpdatedAt)}
	}
	leaf, err := x509.ParseCertificate(c.CertDER)
	if err != nil {
		return d
	}
	if d.Status == StatusIssued && !s.now().Before(leaf.NotAfter) {
		d.Status = StatusExpired
	}
	d.Serial = x509util.ColonSerial(leaf.SerialNumber)
	d.Subject, d.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	d.NotBefore, d.NotAfter = awsproto.NewTime(leaf.NotBefore), awsproto.NewTime(leaf.NotAfter)
	d.SignatureAlgorithm = sigAlgName(leaf.SignatureAlgorithm)
	for _, k := range kuNames {
		if leaf.KeyUsage&k.bit != 0 {
			d.KeyUsages = append(d.KeyUsages, nameOID{Name: k.name})
		}
	}
	for _, e := range leaf.ExtKeyUsage {
		if n, ok := ekuNames[e]; ok {
			d.ExtendedKeyUsages = append(d.ExtendedKeyUsages, n)
		}
	}
	return d
}

type describeOutput struct {
	Certificate certificateDetail `json:"Certificate"`
}

func (s *Service) apiDescribe(ctx context.Context, c *api.Call, in *arnInput) (*describeOutput, error) {
	id, err := s.auth(ctx, c, "DescribeCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	cr, err := s.getCert(ctx, id)
	if err != nil {
		return nil, err
	}
	return &describeOutput{Certificate: s.detail(cr)}, nil
}

type getOutput struct {
	Certificate      string `json:"Certificate,omitempty"`
	CertificateChain string `json:"CertificateChain,omitempty"`
}

func (s *Service) apiGet(ctx context.Context, c *api.Call, in *arnInput) (*getOutput, error) {
	id, err := s.auth(ctx, c, "GetCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	cr, err := s.getCert(ctx, id)
	if err != nil {
		return nil, err
	}
	return &getOutput{Certificate: x509util.CertPEM(cr.CertDER), CertificateChain: x509util.CertPEM(cr.ChainDER...)}, nil
}

type listInput struct {
	CertificateStatuses []string `json:"CertificateStatuses"`
	Includes            *struct {
		KeyTypes []string `json:"keyTypes"`
	} `json:"Includes"`
	NextToken string `json:"NextToken"`
	MaxItems  int    `json:"MaxItems"`
}

type summary struct {
	CertificateArn                  string         `json:"CertificateArn"`
	DomainName                      string         `json:"DomainName,omitempty"`
	SubjectAlternativeNameSummaries []string       `json:"SubjectAlternativeNameSummaries,omitempty"`
	Status                          string         `json:"Status"`
	Type                            string         `json:"Type"`
	KeyAlgorithm                    string         `json:"KeyAlgorithm,omitempty"`
	Exported                        bool           `json:"Exported"`
	InUse                           bool           `json:"InUse"`
	RenewalEligibility              string         `json:"RenewalEligibility"`
	NotBefore                       *awsproto.Time `json:"NotBefore,omitempty"`
	NotAfter                        *awsproto.Time `json:"NotAfter,omitempty"`
	CreatedAt                       *awsproto.Time `json:"CreatedAt,omitempty"`
	IssuedAt                        *awsproto.Time `json:"IssuedAt,omitempty"`
	ImportedAt                      *awsproto.Time `json:"ImportedAt,omitempty"`
	RevokedAt                       *awsproto.Time `json:"RevokedAt,omitempty"`
}

type listOutput struct {
	CertificateSummaryList []summary `json:"CertificateSummaryList"`
	NextToken              string    `json:"NextToken,omitempty"`
}

func (s *Service) apiList(ctx context.Context, c *api.Call, in *listInput) (*listOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm:ListCertificates", Resource: "*"}); err != nil {
		return nil, err
	}
	// AWS's default key-type filter: without Includes.keyTypes only
	// RSA_1024 and RSA_2048 certificates are listed.
	keyTypes := []string{"RSA_1024", x509util.RSA2048}
	if in.Includes != nil && len(in.Includes.KeyTypes) > 0 {
		keyTypes = in.Includes.KeyTypes
	}
	limit := in.MaxItems
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%w: invalid NextToken", ErrInvalidArgs)
		}
		after = string(b)
	}
	recs, err := s.cfg.Store.List(ctx, kindCert, store.ListOptions{After: after})
	if err != nil {
		return nil, err
	}
	out := &listOutput{CertificateSummaryList: []summary{}}
	for _, r := range recs {
		cr, err := decodeCert(r)
		if err != nil {
			return nil, err
		}
		d := s.detail(cr)
		if !slices.Contains(keyTypes, d.KeyAlgorithm) || (len(in.CertificateStatuses) > 0 && !slices.Contains(in.CertificateStatuses, d.Status)) {
			continue
		}
		if len(out.CertificateSummaryList) == limit {
			last := out.CertificateSummaryList[limit-1].CertificateArn
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(last[strings.LastIndex(last, "/")+1:]))
			break
		}
		out.CertificateSummaryList = append(out.CertificateSummaryList, summary{
			CertificateArn: d.CertificateArn, DomainName: d.DomainName, SubjectAlternativeNameSummaries: d.SubjectAlternativeNames,
			Status: d.Status, Type: d.Type, KeyAlgorithm: d.KeyAlgorithm, Exported: cr.Exported, RenewalEligibility: d.RenewalEligibility,
			NotBefore: d.NotBefore, NotAfter: d.NotAfter, CreatedAt: d.CreatedAt, IssuedAt: d.IssuedAt, ImportedAt: d.ImportedAt, RevokedAt: d.RevokedAt,
		})
	}
	return out, nil
}

func (s *Service) apiDelete(ctx context.Context, c *api.Call, in *arnInput) (*empty, error) {
	id, err := s.auth(ctx, c, "DeleteCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.Delete(ctx, id)
}

type importInput struct {
	CertificateArn   string `json:"CertificateArn"`
	Certificate      []byte `json:"Certificate" required:"true"`
	PrivateKey       []byte `json:"PrivateKey" required:"true"`
	CertificateChain []byte `json:"CertificateChain"`
	Tags             []Tag  `json:"Tags"`
}

func (s *Service) apiImport(ctx context.Context, c *api.Call, in *importInput) (*arnOutput, error) {
	res := s.certARN("*")
	if in.CertificateArn != "" {
		res = in.CertificateArn
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm:ImportCertificate", Resource: res}); err != nil {
		return nil, err
	}
	arn, err := s.Import(ctx, in.CertificateArn, in.Certificate, in.PrivateKey, in.CertificateChain, in.Tags)
	if err != nil {
		return nil, err
	}
	return &arnOutput{CertificateArn: arn}, nil
}

type tagsInput struct {
	CertificateArn string `json:"CertificateArn" required:"true"`
	Tags           []Tag  `json:"Tags" required:"true"`
}

func (s *Service) apiAddTags(ctx context.Context, c *api.Call, in *tagsInput) (*empty, error) {
	id, err := s.auth(ctx, c, "AddTagsToCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.tag(ctx, id, in.Tags, false)
}

func (s *Service) apiRemoveTags(ctx context.Context, c *api.Call, in *tagsInput) (*empty, error) {
	id, err := s.auth(ctx, c, "RemoveTagsFromCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.tag(ctx, id, in.Tags, true)
}

type listTagsOutput struct {
	Tags []Tag `json:"Tags"`
}

func (s *Service) apiListTags(ctx context.Context, c *api.Call, in *arnInput) (*listTagsOutput, error) {
	id, err := s.auth(ctx, c, "ListTagsForCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	cr, err := s.getCert(ctx, id)
	if err != nil {
		return nil, err
	}
	return &listTagsOutput{Tags: tagging.List(cr.Tags)}, nil
}

type expiryEvents struct {
	DaysBeforeExpiry int `json:"DaysBeforeExpiry,omitempty"`
}

type accountOutput struct {
	ExpiryEvents *expiryEvents `json:"ExpiryEvents,omitempty"`
}

func (s *Service) apiGetAccount(ctx context.Context, c *api.Call, _ *empty) (*accountOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm:GetAccountConfiguration", Resource: "*"}); err != nil {
		return nil, err
	}
	ac, err := s.account(ctx)
	if err != nil {
		return nil, err
	}
	return &accountOutput{ExpiryEvents: &expiryEvents{DaysBeforeExpiry: ac.DaysBeforeExpiry}}, nil
}

type putAccountInput struct {
	ExpiryEvents     *expiryEvents `json:"ExpiryEvents"`
	IdempotencyToken string        `json:"IdempotencyToken" required:"true"`
}

func (s *Service) apiPutAccount(ctx context.Context, c *api.Call, in *putAccountInput) (*empty, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "acm:PutAccountConfiguration", Resource: "*"}); err != nil {
		return nil, err
	}
	if in.ExpiryEvents == nil {
		return &empty{}, nil
	}
	return &empty{}, s.putAccount(ctx, in.ExpiryEvents.DaysBeforeExpiry)
}

type exportInput struct {
	CertificateArn string `json:"CertificateArn" required:"true"`
	Passphrase     []byte `json:"Passphrase" required:"true"`
}

type exportOutput struct {
	Certificate      string `json:"Certificate,omitempty"`
	CertificateChain string `json:"CertificateChain,omitempty"`
	PrivateKey       string `json:"PrivateKey,omitempty"`
}

func (s *Service) apiExport(ctx context.Context, c *api.Call, in *exportInput) (*exportOutput, error) {
	id, err := s.auth(ctx, c, "ExportCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	e, err := s.Export(ctx, id, in.Passphrase)
	if err != nil {
		return nil, err
	}
	return &exportOutput{Certificate: e.Certificate, CertificateChain: e.Chain, PrivateKey: e.PrivateKey}, nil
}

func (s *Service) apiRenew(ctx context.Context, c *api.Call, in *arnInput) (*empty, error) {
	id, err := s.auth(ctx, c, "RenewCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	cr, err := s.Renew(ctx, id)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(cr.CertDER)
	if err != nil {
		return nil, err
	}
	err = s.emit(ctx, EventAvailable, cr.ARN, map[string]any{
		"Action": "RENEWAL", "CertificateType": "PRIVATE", "CommonName": cr.DomainName,
		"CertificateExpirationDate": leaf.NotAfter.Format("2006-01-02T15:04:05Z"), "DaysToExpiry": daysToExpiry(s.now(), leaf.NotAfter),
		"Exported": cr.Exported, "InUse": false,
	})
	if err != nil {
		// The renewal stands; only the notification was lost.
		s.cfg.Logger.Warn("acm: renewal event not delivered", "arn", cr.ARN, "err", err)
	}
	return &empty{}, nil
}

type revokeInput struct {
	CertificateArn   string `json:"CertificateArn" required:"true"`
	RevocationReason string `json:"RevocationReason" required:"true"`
}

func (s *Service) apiRevoke(ctx context.Context, c *api.Call, in *revokeInput) (*arnOutput, error) {
	id, err := s.auth(ctx, c, "RevokeCertificate", in.CertificateArn)
	if err != nil {
		return nil, err
	}
	return &arnOutput{CertificateArn: in.CertificateArn}, s.Revoke(ctx, id, in.RevocationReason)
}
