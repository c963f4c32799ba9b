package acm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/tagging"

	"github.com/bulwarkd/bulwark/internal/pkcs8"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// RequestInput is RequestCertificate's request.
type RequestInput struct {
	DomainName       string
	SANs             []string
	CAARN            string
	KeyAlgorithm     string
	IdempotencyToken string
	Tags             []Tag
}

// idemWindow: AWS honours RequestCertificate tokens for one hour.
const idemWindow = time.Hour

// Request issues a private certificate at once: key generated here,
// signed by the CA.
func (s *Service) Request(ctx context.Context, in RequestInput) (string, error) {
	if in.CAARN == "" {
		return "", fmt.Errorf("%w: Bulwark issues only private certificates: give a CertificateAuthorityArn (public certificates need domain validation, which Bulwark does not do)", ErrInvalidParameter)
	}
	if s.cfg.CA == nil {
		return "", fmt.Errorf("%w: no private CA is configured", ErrInvalidParameter)
	}
	if err := validateDomain(in.DomainName); err != nil {
		return "", err
	}
	for _, d := range in.SANs {
		if err := validateDomain(d); err != nil {
			return "", err
		}
	}
	if err := validateTags(in.Tags); err != nil {
		return "", err
	}
	validity, err := s.validityOf(in.Tags)
	if err != nil {
		return "", err
	}
	caAlg, err := s.cfg.CA.KeyAlgorithmOf(ctx, in.CAARN)
	if err != nil {
		return "", fmt.Errorf("%w: certificate authority %s: %v", ErrInvalidArn, in.CAARN, err)
	}
	alg := in.KeyAlgorithm
	if alg == "" {
		alg = x509util.RSA2048
		if x509util.KeyFamily(caAlg) == "EC" {
			alg = x509util.ECPrime256v1
		}
	}
	if x509util.KeyFamily(alg) != x509util.KeyFamily(caAlg) {
		return "", fmt.Errorf("%w: KeyAlgorithm %s does not match the CA's %s key family", ErrInvalidParameter, alg, caAlg)
	}
	now := s.now()
	var idemID string
	if in.IdempotencyToken != "" {
		h := sha256.Sum256([]byte(in.IdempotencyToken + "\x00" + in.DomainName + "\x00" + in.CAARN))
		idemID = hex.EncodeToString(h[:16])
		var prev struct {
			ARN     string    `json:"arn"`
			Created time.Time `json:"created"`
		}
		if r, err := s.cfg.Store.Get(ctx, kindIdem, idemID); err == nil && json.Unmarshal(r.Data, &prev) == nil && now.Sub(prev.Created) < idemWindow {
			return prev.ARN, nil
		}
	}
	id, err := s.newID()
	if err != nil {
		return "", err
	}
	sans := dedupe(append([]string{in.DomainName}, in.SANs...))
	c := &certRecord{ID: id, ARN: s.certARN(id), Type: TypePrivate, DomainName: in.DomainName, SANs: sans,
		CAARN: in.CAARN, KeyAlgorithm: alg, Validity: validity.String(), CreatedAt: now, Tags: in.Tags}
	if err := s.issueInto(ctx, c, validity); err != nil {
		return "", err
	}
	r, err := c.record()
	if err != nil {
		return "", err
	}
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if idemID != "" {
			b, _ := json.Marshal(map[string]any{"arn": c.ARN, "created": now})
			if err := tx.Put(ctx, &store.Record{Kind: kindIdem, ID: idemID, Data: b}); err != nil {
				return err
			}
		}
		return tx.Create(ctx, r)
	})
	if err != nil {
		return "", err
	}
	s.changed(c.ARN)
	return c.ARN, nil
}

// issueInto generates a fresh key, has the CA sign it and puts key and
// certificate into c.
func (s *Service) issueInto(ctx context.Context, c *certRecord, validity time.Duration) error {
	key, err := x509util.GenerateKey(s.cfg.Rand, c.KeyAlgorithm)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidParameter, err)
	}
	tmpl := &x509.CertificateRequest{DNSNames: c.SANs}
	if len(c.DomainName) <= 64 { // X.520 ub-common-name
		tmpl.Subject = pkix.Name{CommonName: c.DomainName}
	}
	csr, err := x509.CreateCertificateRequest(s.cfg.Rand, tmpl, key)
	if err != nil {
		return fmt.Errorf("acm: CSR: %w", err)
	}
	now := s.now()
	leaf, chain, err := s.cfg.CA.IssueFor(ctx, c.CAARN, csr, issuingTemplate, now.Add(validity))
	if err != nil {
		return fmt.Errorf("%w: the private CA refused to issue: %v", ErrInvalidState, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	c.key, c.CertDER, c.ChainDER = keyDER, leaf, chain
	c.Status, c.IssuedAt = StatusIssued, now
	c.LastApproachingDay, c.ExpiredNotified = "", false
	return nil
}

// validityOf reads the "bulwark:validity" tag.
func (s *Service) validityOf(tags []Tag) (time.Duration, error) {
	for _, t := range tags {
		if t.Key == ValidityTag {
			d, err := time.ParseDuration(t.Value)
			if err != nil || d < time.Minute {
				return 0, fmt.Errorf("%w: tag %s must be a duration of at least 1m, like \"24h\"", ErrInvalidParameter, ValidityTag)
			}
			return d, nil
		}
	}
	return s.cfg.DefaultValidity, nil
}

func validateDomain(d string) error {
	if d == "" || len(d) > 253 || strings.ContainsAny(d, " /:@") {
		return fmt.Errorf("%w: %q is not a domain name", ErrInvalidParameter, d)
	}
	return nil
}

// validateTags applies AWS's tag rules (internal/tagging) with ACM's
// errors: TooManyTagsException over the limit, InvalidTagException else.
func validateTags(tags []Tag) error {
	return tagging.Wrap(tagging.Check(tags, kvTag), ErrInvalidTag, ErrTooManyTags)
}

func kvTag(t Tag) tagging.Tag { return tagging.Tag(t) }

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Import stores a certificate and key from elsewhere (type IMPORTED), or
// re-imports over arn when given.
func (s *Service) Import(ctx context.Context, arn string, certPEM, keyPEM, chainPEM []byte, tags []Tag) (string, error) {
	certs, err := x509util.ParseCertsPEM(certPEM)
	if err != nil || len(certs) != 1 {
		return "", fmt.Errorf("%w: Certificate must be one PEM certificate", ErrValidation)
	}
	cert := certs[0]
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return "", fmt.Errorf("%w: PrivateKey is not PEM", ErrValidation)
	}
	key, err := parseKey(blk)
	if err != nil {
		return "", fmt.Errorf("%w: PrivateKey: %v", ErrValidation, err)
	}
	if !x509util.SamePublicKey(key.Public(), cert.PublicKey) {
		return "", fmt.Errorf("%w: the private key does not match the certificate", ErrValidation)
	}
	var chain [][]byte
	if len(bytes.TrimSpace(chainPEM)) > 0 {
		cs, err := x509util.ParseCertsPEM(chainPEM)
		if err != nil {
			return "", fmt.Errorf("%w: CertificateChain: %v", ErrValidation, err)
		}
		for _, c := range cs {
			chain = append(chain, c.Raw)
		}
	}
	if err := validateTags(tags); err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	now := s.now()
	fill := func(c *certRecord) {
		c.Type, c.Status, c.CertDER, c.ChainDER, c.key = TypeImported, StatusIssued, cert.Raw, chain, keyDER
		c.DomainName, c.SANs = cert.Subject.CommonName, cert.DNSNames
		if c.DomainName == "" && len(cert.DNSNames) > 0 {
			c.DomainName = cert.DNSNames[0]
		}
		c.KeyAlgorithm, c.ImportedAt = x509util.KeyAlgorithm(cert.PublicKey), now
		c.LastApproachingDay, c.ExpiredNotified = "", false
	}
	if arn != "" {
		id, err := s.parseARN(arn)
		if err != nil {
			return "", err
		}
		if len(tags) > 0 {
			return "", fmt.Errorf("%w: tags cannot be given when re-importing", ErrInvalidParameter)
		}
		_, err = s.updateCert(ctx, id, func(c *certRecord) error {
			if c.Type != TypeImported {
				return fmt.Errorf("%w: only imported certificates can be re-imported", ErrInvalidParameter)
			}
			fill(c)
			return nil
		})
		return arn, err
	}
	id, err := s.newID()
	if err != nil {
		return "", err
	}
	c := &certRecord{ID: id, ARN: s.certARN(id), CreatedAt: now, Tags: tags}
	fill(c)
	r, err := c.record()
	if err != nil {
		return "", err
	}
	if err := s.cfg.Store.Tx(ctx, func(tx store.Tx) error { return tx.Create(ctx, r) }); err != nil {
		return "", err
	}
	s.changed(c.ARN)
	return c.ARN, nil
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM type %q", b.Type)
	}
	if err != nil {
		return nil, err
	}
	sk, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported key type")
	}
	return sk, nil
}

// Renew re-issues a private certificate: same ARN, new key, serial and
// validity.
func (s *Service) Renew(ctx context.Context, id string) (*certRecord, error) {
	c, err := s.getCert(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Type != TypePrivate {
		return nil, fmt.Errorf("%w: only private certificates can be renewed here", ErrValidation)
	}
	if c.Status == StatusRevoked {
		return nil, fmt.Errorf("%w: the certificate is revoked", ErrValidation)
	}
	validity, err := time.ParseDuration(c.Validity)
	if err != nil {
		validity = s.cfg.DefaultValidity
	}
	return s.updateCert(ctx, id, func(c *certRecord) error {
		if err := s.issueInto(ctx, c, validity); err != nil {
			c.RenewalStatus, c.RenewalReason, c.RenewalUpdatedAt = RenewalFailed, "PCA_REQUEST_FAILED", s.now()
			return err
		}
		c.RenewalStatus, c.RenewalReason, c.RenewalUpdatedAt = RenewalSuccess, "", s.now()
		return nil
	})
}

// Delete removes a certificate.
func (s *Service) Delete(ctx context.Context, id string) error {
	err := s.cfg.Store.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, kindCert, id) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: certificate %s", ErrNotFound, s.certARN(id))
	}
	if err == nil {
		s.changed(s.certARN(id))
	}
	return err
}

// acmToPCAReason maps ACM's RevocationReason to the CA's.
var acmToPCAReason = map[string]string{
	"UNSPECIFIED": "UNSPECIFIED", "KEY_COMPROMISE": "KEY_COMPROMISE", "CA_COMPROMISE": "CERTIFICATE_AUTHORITY_COMPROMISE",
	"AFFILIATION_CHANGED": "AFFILIATION_CHANGED", "SUPERCEDED": "SUPERSEDED", "SUPERSEDED": "SUPERSEDED",
	"CESSATION_OF_OPERATION": "CESSATION_OF_OPERATION", "PRIVILEGE_WITHDRAWN": "PRIVILEGE_WITHDRAWN", "A_A_COMPROMISE": "A_A_COMPROMISE",
}

// Revoke revokes a private certificate through its CA.
func (s *Service) Revoke(ctx context.Context, id, reason string) error {
	pcaReason, ok := acmToPCAReason[reason]
	if !ok {
		return fmt.Errorf("%w: RevocationReason %q is not supported", ErrValidation, reason)
	}
	c, err := s.getCert(ctx, id)
	if err != nil {
		return err
	}
	if c.Type != TypePrivate {
		return fmt.Errorf("%w: only private certificates can be revoked", ErrValidation)
	}
	if c.Status == StatusRevoked {
		return fmt.Errorf("%w: the certificate is already revoked", ErrConflict)
	}
	leaf, err := x509.ParseCertificate(c.CertDER)
	if err != nil {
		return err
	}
	if err := s.cfg.CA.RevokeFor(ctx, c.CAARN, x509util.SerialHex(leaf.SerialNumber), pcaReason); err != nil {
		return fmt.Errorf("%w: the private CA refused: %v", ErrConflict, err)
	}
	_, err = s.updateCert(ctx, id, func(c *certRecord) error {
		c.Status, c.RevokedAt, c.RevocationReason = StatusRevoked, s.now(), reason
		return nil
	})
	return err
}

// Exported is ExportCertificate's result.
type Exported struct {
	Certificate, Chain, PrivateKey string
}

// Export returns the certificate, chain and the key encrypted under
// passphrase in ACM's PKCS#8 layout, and marks the certificate exported
// (which enrols it in managed renewal).
func (s *Service) Export(ctx context.Context, id string, passphrase []byte) (*Exported, error) {
	if len(passphrase) < 4 || len(passphrase) > 128 {
		return nil, fmt.Errorf("%w: Passphrase must be 4 to 128 characters", ErrValidation)
	}
	if bytes.ContainsAny(passphrase, "#$%") {
		return nil, fmt.Errorf("%w: Passphrase must not contain #, $ or %%", ErrValidation)
	}
	c, err := s.getCert(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Type != TypePrivate {
		return nil, fmt.Errorf("%w: only private certificates can be exported", ErrValidation)
	}
	if c.Status != StatusIssued && c.Status != StatusExpired {
		return nil, fmt.Errorf("%w: the certificate is %s", ErrInProgress, c.Status)
	}
	enc, err := pkcs8.EncryptDER(s.cfg.Rand, c.key, passphrase)
	if err != nil {
		return nil, err
	}
	if !c.Exported {
		if _, err := s.updateCert(ctx, id, func(c *certRecord) error { c.Exported = true; return nil }); err != nil {
			return nil, err
		}
	}
	return &Exported{
		Certificate: x509util.CertPEM(c.CertDER),
		Chain:       x509util.CertPEM(c.ChainDER...),
		PrivateKey:  string(pem.EncodeToMemory(&pem.Block{Type: pkcs8.PEMType, Bytes: enc})),
	}, nil
}

// tag adds or removes tags.
func (s *Service) tag(ctx context.Context, id string, tags []Tag, remove bool) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	_, err := s.updateCert(ctx, id, func(c *certRecord) error {
		if remove {
			c.Tags = tagging.Remove(c.Tags, tags, kvTag)
			return nil
		}
		c.Tags = tagging.Merge(c.Tags, tags, kvTag)
		return validateTags(c.Tags)
	})
	return err
}

// putAccount stores the account's expiry-event configuration.
func (s *Service) putAccount(ctx context.Context, days int) error {
	if days < 1 || days > 45 {
		return fmt.Errorf("%w: DaysBeforeExpiry must be 1 to 45", ErrValidation)
	}
	b, _ := json.Marshal(accountConfig{DaysBeforeExpiry: days})
	return s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, &store.Record{Kind: kindAccount, ID: accountConfigID, Data: b})
	})
}
