package pca

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/bulwarkd/bulwark/internal/tagging"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// CreateInput is CreateCertificateAuthority's request.
type CreateInput struct {
	Type             string
	Config           CAConfiguration
	Revocation       *RevocationConfiguration
	IdempotencyToken string
	Tags             []Tag
	UsageMode        string
	KeyStorage       string
}

var caKeyAlgorithms = map[string]bool{
	x509util.RSA2048: true, x509util.RSA3072: true, x509util.RSA4096: true,
	x509util.ECPrime256v1: true, x509util.ECSecp384r1: true, x509util.ECSecp521r1: true,
}

// CreateCA generates the CA's key and CSR and stores it
// PENDING_CERTIFICATE. A repeated IdempotencyToken within five minutes
// returns the first CA's ARN.
func (s *Service) CreateCA(ctx context.Context, in CreateInput) (string, error) {
	if in.Type != TypeRoot && in.Type != TypeSubordinate {
		return "", fmt.Errorf("%w: CertificateAuthorityType %q", ErrInvalidArgs, in.Type)
	}
	if !caKeyAlgorithms[in.Config.KeyAlgorithm] {
		return "", fmt.Errorf("%w: KeyAlgorithm %q is not supported", ErrInvalidArgs, in.Config.KeyAlgorithm)
	}
	sigAlg, family, err := x509util.SignatureAlgorithm(in.Config.SigningAlgorithm)
	if err != nil || family != x509util.KeyFamily(in.Config.KeyAlgorithm) {
		return "", fmt.Errorf("%w: SigningAlgorithm %q does not fit KeyAlgorithm %q", ErrInvalidArgs, in.Config.SigningAlgorithm, in.Config.KeyAlgorithm)
	}
	if in.Config.Subject == nil {
		return "", fmt.Errorf("%w: Subject is required", ErrInvalidArgs)
	}
	subject, err := in.Config.Subject.Name()
	if err != nil {
		return "", err
	}
	rev, err := normaliseRevocation(in.Revocation)
	if err != nil {
		return "", err
	}
	if err := validateTags(in.Tags); err != nil {
		return "", err
	}
	now := s.now()
	idemID, reqHash := "", ""
	if in.IdempotencyToken != "" {
		idemID, reqHash = idemKey("create", in.IdempotencyToken, in)
		var prev idemRecord
		if err := getJSON(ctx, s.cfg.Store, kindIdem, idemID, &prev); err == nil && now.Sub(prev.Created) < idemWindow {
			return prev.Result, nil
		}
	}
	key, err := x509util.GenerateKey(s.cfg.Rand, in.Config.KeyAlgorithm)
	if err != nil {
		return "", err
	}
	csr, err := x509.CreateCertificateRequest(s.cfg.Rand, &x509.CertificateRequest{Subject: subject, SignatureAlgorithm: sigAlg}, key)
	if err != nil {
		return "", fmt.Errorf("pca: CSR: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	id, err := s.newID()
	if err != nil {
		return "", err
	}
	ca := &caRecord{
		ID: id, ARN: s.caARN(id), Type: in.Type, Status: StatusPendingCertificate,
		Config: in.Config, Revocation: rev, UsageMode: in.UsageMode, KeyStorage: in.KeyStorage,
		Tags: in.Tags, CSRDER: csr, CreatedAt: now, LastStateChangeAt: now,
	}
	if ca.UsageMode == "" {
		ca.UsageMode = "GENERAL_PURPOSE"
	}
	if ca.KeyStorage == "" {
		ca.KeyStorage = "FIPS_140_2_LEVEL_3_OR_HIGHER"
	}
	rec, err := ca.record(keyDER)
	if err != nil {
		return "", err
	}
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if idemID != "" {
			if err := putJSON(ctx, tx, kindIdem, idemID, idemRecord{Hash: reqHash, Result: ca.ARN, Created: now}, false); err != nil {
				return err
			}
		}
		return tx.Create(ctx, rec)
	})
	if err != nil {
		return "", err
	}
	return ca.ARN, nil
}

func idemKey(scope, token string, req any) (id, hash string) {
	t := sha256.Sum256([]byte(token))
	b, _ := json.Marshal(req)
	h := sha256.Sum256(b)
	return scope + "/" + hex.EncodeToString(t[:16]), hex.EncodeToString(h[:])
}

func normaliseRevocation(rc *RevocationConfiguration) (*RevocationConfiguration, error) {
	if rc == nil {
		return nil, nil
	}
	out := *rc
	if c := rc.CrlConfiguration; c != nil {
		cc := *c
		if cc.Enabled != nil && *cc.Enabled && cc.ExpirationInDays == 0 {
			cc.ExpirationInDays = 7
		}
		if cc.ExpirationInDays < 0 || cc.ExpirationInDays > 5000 {
			return nil, fmt.Errorf("%w: ExpirationInDays must be 1 to 5000", ErrInvalidArgs)
		}
		if bytes.ContainsAny([]byte(cc.CustomCname), ":/") {
			return nil, fmt.Errorf("%w: CustomCname must be a host name without scheme or path", ErrInvalidArgs)
		}
		out.CrlConfiguration = &cc
	}
	if o := rc.OcspConfiguration; o != nil {
		if len(o.OcspCustomCname) > 253 || bytes.ContainsAny([]byte(o.OcspCustomCname), ":/") {
			return nil, fmt.Errorf("%w: OcspCustomCname must be a host name without scheme or path", ErrInvalidArgs)
		}
	}
	return &out, nil
}

// describe returns the CA record.
func (s *Service) describe(ctx context.Context, id string) (*caRecord, error) {
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return nil, err
	}
	return l.rec, nil
}

// listCAs returns up to limit CAs after the id after, and the id to
// continue from ("" at the end). CAs past their restore window are left
// out. CAs are few, so filtering in memory is fine.
func (s *Service) listCAs(ctx context.Context, after string, limit int) ([]*caRecord, string, error) {
	recs, err := s.cfg.Store.List(ctx, kindCA, store.ListOptions{After: after})
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	var out []*caRecord
	for _, r := range recs {
		c, err := decodeCA(r)
		if err != nil {
			return nil, "", err
		}
		if c.Status == StatusDeleted && now.After(c.RestorableUntil) {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, nil
		}
		out = append(out, c)
	}
	return out, "", nil
}

// update changes a CA's status (ACTIVE <-> DISABLED) and/or its
// revocation configuration.
func (s *Service) update(ctx context.Context, id, status string, rev *RevocationConfiguration) error {
	rc, err := normaliseRevocation(rev)
	if err != nil {
		return err
	}
	_, err = s.updateCA(ctx, id, func(c *caRecord) error {
		if c.Status == StatusDeleted {
			return fmt.Errorf("%w: the certificate authority is deleted", ErrInvalidState)
		}
		if status != "" && status != c.Status {
			if (status != StatusActive && status != StatusDisabled) || c.CertDER == nil {
				return fmt.Errorf("%w: cannot change status from %s to %s", ErrInvalidState, c.Status, status)
			}
			c.Status, c.LastStateChangeAt = status, s.now()
		}
		if rc != nil {
			c.Revocation = rc
		}
		return nil
	})
	return err
}

// deleteCA schedules a CA for deletion after days (7-30, default 30). An
// ACTIVE CA must be disabled first, as in AWS.
func (s *Service) deleteCA(ctx context.Context, id string, days int) error {
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return fmt.Errorf("%w: PermanentDeletionTimeInDays must be 7 to 30", ErrInvalidArgs)
	}
	_, err := s.updateCA(ctx, id, func(c *caRecord) error {
		switch c.Status {
		case StatusActive:
			return fmt.Errorf("%w: disable the certificate authority before deleting it", ErrInvalidState)
		case StatusDeleted:
			return fmt.Errorf("%w: the certificate authority is already deleted", ErrInvalidState)
		}
		now := s.now()
		c.StatusBeforeDelete = c.Status
		c.Status, c.LastStateChangeAt = StatusDeleted, now
		c.RestorableUntil = now.Add(time.Duration(days) * 24 * time.Hour)
		return nil
	})
	return err
}

// restore brings a deleted CA back within its window: DISABLED if it had a
// certificate, PENDING_CERTIFICATE otherwise.
func (s *Service) restore(ctx context.Context, id string) error {
	_, err := s.updateCA(ctx, id, func(c *caRecord) error {
		if c.Status != StatusDeleted {
			return fmt.Errorf("%w: the certificate authority is %s, not DELETED", ErrInvalidState, c.Status)
		}
		c.Status = StatusPendingCertificate
		if c.CertDER != nil {
			c.Status = StatusDisabled
		}
		c.RestorableUntil, c.StatusBeforeDelete, c.LastStateChangeAt = time.Time{}, "", s.now()
		return nil
	})
	return err
}

// csrPEM returns the CA's CSR.
func (s *Service) csrPEM(ctx context.Context, id string) (string, error) {
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return "", err
	}
	if l.rec.Status == StatusDeleted {
		return "", fmt.Errorf("%w: the certificate authority is deleted", ErrInvalidState)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: l.rec.CSRDER})), nil
}

// importCACert installs the CA's certificate (and, for a subordinate, the
// chain to its root) and makes it ACTIVE. The certificate must be for the
// CA's own key, a CA certificate, and verify against the chain.
func (s *Service) importCACert(ctx context.Context, id string, certPEM, chainPEM []byte) error {
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return err
	}
	certs, err := x509util.ParseCertsPEM(certPEM)
	if err != nil || len(certs) != 1 {
		return fmt.Errorf("%w: Certificate must be exactly one PEM certificate", ErrMalformedCertificate)
	}
	cert := certs[0]
	var chain []*x509.Certificate
	if len(bytes.TrimSpace(chainPEM)) > 0 {
		if chain, err = x509util.ParseCertsPEM(chainPEM); err != nil {
			return fmt.Errorf("%w: CertificateChain: %v", ErrMalformedCertificate, err)
		}
	}
	if !x509util.SamePublicKey(l.signer.Public(), cert.PublicKey) {
		return fmt.Errorf("%w: the certificate is not for this certificate authority's key", ErrCertificateMismatch)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("%w: the certificate is not a CA certificate", ErrInvalidRequest)
	}
	switch l.rec.Type {
	case TypeRoot:
		if len(chain) > 0 {
			return fmt.Errorf("%w: a root CA certificate takes no chain", ErrInvalidRequest)
		}
		if err := cert.CheckSignatureFrom(cert); err != nil {
			return fmt.Errorf("%w: a root CA certificate must be self-signed: %v", ErrInvalidRequest, err)
		}
	case TypeSubordinate:
		if len(chain) == 0 {
			return fmt.Errorf("%w: a subordinate CA certificate needs its CertificateChain", ErrInvalidRequest)
		}
		all := append([]*x509.Certificate{cert}, chain...)
		for i := 0; i+1 < len(all); i++ {
			if err := all[i].CheckSignatureFrom(all[i+1]); err != nil {
				return fmt.Errorf("%w: certificate %d of the chain does not sign the one before it: %v", ErrInvalidRequest, i+1, err)
			}
		}
		root := all[len(all)-1]
		if err := root.CheckSignatureFrom(root); err != nil {
			return fmt.Errorf("%w: the chain must end with a self-signed root", ErrInvalidRequest)
		}
	}
	chainDER := make([][]byte, len(chain))
	for i, c := range chain {
		chainDER[i] = c.Raw
	}
	_, err = s.updateCA(ctx, id, func(c *caRecord) error {
		switch c.Status {
		case StatusPendingCertificate, StatusActive, StatusDisabled:
		default:
			return fmt.Errorf("%w: cannot import a certificate into a %s certificate authority", ErrInvalidState, c.Status)
		}
		if c.Status == StatusPendingCertificate {
			c.Status, c.LastStateChangeAt = StatusActive, s.now()
		}
		c.CertDER, c.ChainDER = cert.Raw, chainDER
		c.Serial = x509util.ColonSerial(cert.SerialNumber)
		c.NotBefore, c.NotAfter = cert.NotBefore, cert.NotAfter
		return nil
	})
	return err
}

// caCertificate returns the CA certificate and its chain (issuer first).
func (s *Service) caCertificate(ctx context.Context, id string) (cert string, chain string, err error) {
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return "", "", err
	}
	if l.rec.CertDER == nil {
		return "", "", fmt.Errorf("%w: the certificate authority has no certificate yet", ErrInvalidState)
	}
	return x509util.CertPEM(l.rec.CertDER), x509util.CertPEM(l.rec.ChainDER...), nil
}

// tag adds tags; untag removes them.
func (s *Service) tag(ctx context.Context, id string, tags []Tag, remove bool) error {
	if err := validateTags(tags); err != nil && !remove {
		return err
	}
	_, err := s.updateCA(ctx, id, func(c *caRecord) error {
		if remove {
			c.Tags = tagging.Remove(c.Tags, tags, kvTag)
			return nil
		}
		c.Tags = tagging.Merge(c.Tags, tags, kvTag)
		return validateTags(c.Tags)
	})
	return err
}

// putPolicy attaches a resource policy to the CA.
func (s *Service) putPolicy(ctx context.Context, id, doc string) error {
	if _, err := policy.ParseResource([]byte(doc)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	_, err := s.updateCA(ctx, id, func(c *caRecord) error {
		if c.Status == StatusDeleted {
			return fmt.Errorf("%w: the certificate authority is deleted", ErrInvalidState)
		}
		c.Policy = doc
		return nil
	})
	return err
}

// getPolicy returns the CA's resource policy.
func (s *Service) getPolicy(ctx context.Context, id string) (string, error) {
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return "", err
	}
	if l.rec.Policy == "" {
		return "", fmt.Errorf("%w: the certificate authority has no policy", ErrNotFound)
	}
	return l.rec.Policy, nil
}

// deletePolicy removes the CA's resource policy.
func (s *Service) deletePolicy(ctx context.Context, id string) error {
	_, err := s.updateCA(ctx, id, func(c *caRecord) error {
		if c.Policy == "" {
			return fmt.Errorf("%w: the certificate authority has no policy", ErrNotFound)
		}
		c.Policy = ""
		return nil
	})
	return err
}
