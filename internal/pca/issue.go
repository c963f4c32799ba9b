package pca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// Backdate is how far NotBefore is set before the issuing time, as AWS
// Private CA does, so clocks a little behind still accept the certificate.
const Backdate = 60 * time.Minute

// Validity is AWS's Validity: Value in units of Type.
type Validity struct {
	Type  string `json:"Type" required:"true"`
	Value int64  `json:"Value" required:"true"`
}

// end resolves the validity against now.
func (v Validity) end(now time.Time) (time.Time, error) {
	bad := fmt.Errorf("%w: Validity %s %d", ErrInvalidArgs, v.Type, v.Value)
	if v.Value <= 0 {
		return time.Time{}, bad
	}
	const maxYears = 200 // keeps the arithmetic far from overflow
	switch v.Type {
	case "DAYS":
		if v.Value > maxYears*366 {
			return time.Time{}, bad
		}
		return now.AddDate(0, 0, int(v.Value)), nil
	case "MONTHS":
		if v.Value > maxYears*12 {
			return time.Time{}, bad
		}
		return now.AddDate(0, int(v.Value), 0), nil
	case "YEARS":
		if v.Value > maxYears {
			return time.Time{}, bad
		}
		return now.AddDate(int(v.Value), 0, 0), nil
	case "ABSOLUTE":
		return time.Unix(v.Value, 0).UTC(), nil
	case "END_DATE":
		t, err := time.Parse("20060102150405", strconv.FormatInt(v.Value, 10))
		if err != nil {
			return time.Time{}, bad
		}
		return t, nil
	}
	return time.Time{}, bad
}

// IssueInput is IssueCertificate's request.
type IssueInput struct {
	CAID              string
	CSR               []byte // PEM or DER
	SigningAlgorithm  string
	TemplateArn       string
	Validity          Validity
	ValidityNotBefore *Validity
	Passthrough       *x509util.Passthrough
	IdempotencyToken  string

	// notAfter, when set, replaces Validity and is capped at the CA's own
	// expiry rather than refused (IssueFor).
	notAfter time.Time
}

// issued is the result of issuing.
type issued struct {
	ARN   string
	DER   []byte
	Chain [][]byte
}

func parseCSR(b []byte) (*x509.CertificateRequest, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	csr, err := x509.ParseCertificateRequest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the CSR's signature does not verify: %v", ErrMalformedCSR, err)
	}
	return csr, nil
}

// issuePlan is one IssueCertificate request after every check: the CA,
// the template, the parsed CSR and the validity window.
type issuePlan struct {
	in        IssueInput
	ca        *loadedCA
	tmpl      x509util.Template
	csr       *x509.CertificateRequest
	sigAlg    x509.SignatureAlgorithm
	now       time.Time
	notBefore time.Time
	notAfter  time.Time
}

// issue signs a CSR with a CA in ordered steps: plan (CA, template, CSR,
// validity), replay an idempotent retry, build the certificate (template,
// then ApiPassthrough, then CSR, in x509util.Build), sign, record.
func (s *Service) issue(ctx context.Context, in IssueInput) (*issued, error) {
	p, err := s.planIssue(ctx, in)
	if err != nil {
		return nil, err
	}
	idemID, reqHash := "", ""
	if in.IdempotencyToken != "" {
		idemID, reqHash = idemKey("issue/"+in.CAID, in.IdempotencyToken, in)
		var prev idemRecord
		if err := getJSON(ctx, s.cfg.Store, kindIdem, idemID, &prev); err == nil && p.now.Sub(prev.Created) < idemWindow && prev.Hash == reqHash {
			return s.getIssued(ctx, in.CAID, prev.Result)
		}
	}
	serial, der, err := s.signPlan(p)
	if err != nil {
		return nil, err
	}
	sh := x509util.SerialHex(serial)
	cr := certRecord{CAID: in.CAID, Serial: sh, DER: der, NotAfter: p.notAfter, IssuedAt: p.now}
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if err := putJSON(ctx, tx, kindCert, in.CAID+"/"+sh, cr, true); err != nil {
			return err
		}
		if idemID != "" {
			return putJSON(ctx, tx, kindIdem, idemID, idemRecord{Hash: reqHash, Result: sh, Created: p.now}, false)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &issued{ARN: s.certARN(in.CAID, sh), DER: der}
	if !p.tmpl.Root {
		out.Chain = p.ca.chain()
	}
	return out, nil
}

// planIssue loads and checks everything a request names.
func (s *Service) planIssue(ctx context.Context, in IssueInput) (*issuePlan, error) {
	l, err := s.loadCA(ctx, in.CAID)
	if err != nil {
		return nil, err
	}
	tmpl, err := x509util.LookupTemplate(in.TemplateArn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	csr, err := parseCSR(in.CSR)
	if err != nil {
		return nil, err
	}
	sigAlg, family, err := x509util.SignatureAlgorithm(in.SigningAlgorithm)
	if err != nil || family != x509util.KeyFamily(l.rec.Config.KeyAlgorithm) {
		return nil, fmt.Errorf("%w: SigningAlgorithm %q does not fit the CA's %s key", ErrInvalidArgs, in.SigningAlgorithm, l.rec.Config.KeyAlgorithm)
	}
	p := &issuePlan{in: in, ca: l, tmpl: tmpl, csr: csr, sigAlg: sigAlg, now: s.now()}
	if err := p.checkTemplateFitsCA(); err != nil {
		return nil, err
	}
	if err := p.resolveValidity(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkTemplateFitsCA refuses a root template for anything but the root's
// own CSR, an inactive CA, and a CA template deeper than the issuer's path
// length allows.
func (p *issuePlan) checkTemplateFitsCA() error {
	l, tmpl := p.ca, p.tmpl
	status := l.rec.effectiveStatus(p.now)
	if tmpl.Root {
		if l.rec.Type != TypeRoot {
			return fmt.Errorf("%w: %s is only for a root CA's own certificate", ErrInvalidArgs, tmpl.Name)
		}
		if !x509util.SamePublicKey(l.signer.Public(), p.csr.PublicKey) {
			return fmt.Errorf("%w: %s signs only the CA's own CSR", ErrInvalidArgs, tmpl.Name)
		}
		if status != StatusPendingCertificate && status != StatusActive {
			return fmt.Errorf("%w: the certificate authority is %s", ErrInvalidState, status)
		}
		return nil
	}
	if status != StatusActive {
		return fmt.Errorf("%w: the certificate authority is %s, not ACTIVE", ErrInvalidState, status)
	}
	if tmpl.CA && l.cert != nil && l.cert.BasicConstraintsValid {
		if max := l.cert.MaxPathLen; (max == 0 && l.cert.MaxPathLenZero) || (max > 0 && tmpl.PathLen >= max) {
			return fmt.Errorf("%w: template path length %d exceeds what the CA's path length %d allows", ErrInvalidArgs, tmpl.PathLen, max)
		}
	}
	return nil
}

// resolveValidity sets notBefore (back-dated unless ValidityNotBefore
// says otherwise) and notAfter, both within the CA certificate's own
// validity.
func (p *issuePlan) resolveValidity() error {
	in, now := p.in, p.now
	var err error
	p.notBefore = now.Add(-Backdate)
	if in.ValidityNotBefore != nil {
		if in.ValidityNotBefore.Type != "ABSOLUTE" && in.ValidityNotBefore.Type != "END_DATE" {
			return fmt.Errorf("%w: ValidityNotBefore must be ABSOLUTE or END_DATE", ErrInvalidArgs)
		}
		if p.notBefore, err = in.ValidityNotBefore.end(now); err != nil {
			return err
		}
	}
	p.notAfter = in.notAfter
	if p.notAfter.IsZero() {
		if p.notAfter, err = in.Validity.end(now); err != nil {
			return err
		}
	}
	if caCert := p.ca.cert; caCert != nil && !p.tmpl.Root {
		if p.notAfter.After(caCert.NotAfter) {
			if in.notAfter.IsZero() {
				return fmt.Errorf("%w: the validity ends after the CA certificate (%s)", ErrInvalidArgs, caCert.NotAfter.Format(time.RFC3339))
			}
			p.notAfter = caCert.NotAfter
		}
		if p.notBefore.Before(caCert.NotBefore) {
			p.notBefore = caCert.NotBefore
		}
	}
	if !p.notAfter.After(now) || !p.notAfter.After(p.notBefore) {
		return fmt.Errorf("%w: the validity ends before it begins or in the past", ErrInvalidArgs)
	}
	return nil
}

// signPlan builds the certificate from the template and the passthrough
// values and signs it. The result is parsed back before it is returned, so
// a passthrough value that would make the certificate unreadable is
// refused rather than stored.
func (s *Service) signPlan(p *issuePlan) (*big.Int, []byte, error) {
	serial, err := x509util.NewSerial(s.cfg.Rand)
	if err != nil {
		return nil, nil, err
	}
	l := p.ca
	req := x509util.Request{
		Template: p.tmpl, CSR: p.csr, Passthrough: p.in.Passthrough, Serial: serial,
		NotBefore: p.notBefore, NotAfter: p.notAfter, SigAlg: p.sigAlg, Issuer: l.cert,
		CRLURL: s.crlURL(l.rec), OCSPURL: s.ocspURL(l.rec),
	}
	if p.tmpl.Root {
		req.Issuer = nil
	}
	tc, err := x509util.Build(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	parent := l.cert
	if p.tmpl.Root {
		parent = tc
	}
	der, err := x509.CreateCertificate(s.cfg.Rand, tc, parent, p.csr.PublicKey, l.signer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, nil, fmt.Errorf("%w: the passthrough values make a certificate that does not parse (%v); check the custom extensions", ErrInvalidArgs, err)
	}
	return serial, der, nil
}

// chain is the CA certificate followed by its own chain: what an issued
// certificate's chain is.
func (l *loadedCA) chain() [][]byte {
	return append([][]byte{l.rec.CertDER}, l.rec.ChainDER...)
}

// getIssued returns an issued certificate with its chain.
func (s *Service) getIssued(ctx context.Context, caID, serialHex string) (*issued, error) {
	l, err := s.loadCA(ctx, caID)
	if err != nil {
		return nil, err
	}
	canon, err := x509util.ParseSerial(serialHex)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s", ErrNotFound, serialHex)
	}
	var cr certRecord
	if err := getJSON(ctx, s.cfg.Store, kindCert, caID+"/"+canon, &cr); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: certificate %s", ErrNotFound, s.certARN(caID, canon))
	} else if err != nil {
		return nil, err
	}
	out := &issued{ARN: s.certARN(caID, canon), DER: cr.DER}
	// A root's own certificate has no chain; everything else chains to
	// the CA's current certificate.
	if l.cert != nil && !(l.rec.Type == TypeRoot && x509util.SerialHex(l.cert.SerialNumber) == canon) {
		out.Chain = l.chain()
	}
	return out, nil
}

// crlURL is the CRL distribution point put into certificates a CA issues;
// "" when CRLs are off or the extension is to be omitted.
func (s *Service) crlURL(ca *caRecord) string {
	if !ca.crlEnabled() {
		return ""
	}
	cc := ca.Revocation.CrlConfiguration
	if o := cc.CrlDistributionPointExtensionConfiguration; o != nil && o.OmitExtension != nil && *o.OmitExtension {
		return ""
	}
	if cc.CustomCname != "" {
		return "http://" + cc.CustomCname + "/crl/" + ca.ID + ".crl"
	}
	if s.cfg.CRLBaseURL == "" {
		return ""
	}
	return s.cfg.CRLBaseURL + "/" + ca.ID + ".crl"
}

// IssueFor signs csrDER with the CA caARN using template (a TemplateArn's
// last part, e.g. "EndEntityCertificate/V1") until notAfter, capped at the
// CA's own expiry; it returns the leaf and the chain (issuer first, up to
// the root). Used by ACM, which has already authorized its caller.
func (s *Service) IssueFor(ctx context.Context, caARN string, csrDER []byte, template string, notAfter time.Time) (leafDER []byte, chainDER [][]byte, err error) {
	id, err := s.parseCAARN(caARN)
	if err != nil {
		return nil, nil, err
	}
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	sig := "SHA256WITHRSA"
	if x509util.KeyFamily(l.rec.Config.KeyAlgorithm) == "EC" {
		sig = "SHA256WITHECDSA"
	}
	if l.rec.Config.SigningAlgorithm != "" {
		sig = l.rec.Config.SigningAlgorithm
	}
	out, err := s.issue(ctx, IssueInput{CAID: id, CSR: csrDER, SigningAlgorithm: sig, TemplateArn: template, notAfter: notAfter})
	if err != nil {
		return nil, nil, err
	}
	return out.DER, out.Chain, nil
}

// KeyAlgorithmOf returns the CA's KeyAlgorithm (RSA_2048, EC_prime256v1...).
func (s *Service) KeyAlgorithmOf(ctx context.Context, caARN string) (string, error) {
	id, err := s.parseCAARN(caARN)
	if err != nil {
		return "", err
	}
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return "", err
	}
	return l.rec.Config.KeyAlgorithm, nil
}
