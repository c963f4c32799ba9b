package pca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Record kinds. Certificates, revocations and idempotency entries are
// keyed "<ca-id>/<...>" so one CA's records list by prefix.
const (
	kindCA      = "pca/ca"      // id: CA id; Secret: PKCS#8 CA key
	kindCert    = "pca/cert"    // id: ca-id/serial
	kindRevoked = "pca/revoked" // id: ca-id/serial; only unexpired revocations
	kindCRL     = "pca/crl"     // id: CA id; the current signed CRL
	kindIdem    = "pca/idem"    // id: scope/token-hash
)

// caRecord is a CA as stored (Data); the key is the record's Secret.
type caRecord struct {
	ID                 string                   `json:"id"`
	ARN                string                   `json:"arn"`
	Type               string                   `json:"type"`
	Status             string                   `json:"status"`
	Config             CAConfiguration          `json:"config"`
	Revocation         *RevocationConfiguration `json:"revocation,omitempty"`
	UsageMode          string                   `json:"usageMode,omitempty"`
	KeyStorage         string                   `json:"keyStorage,omitempty"`
	Tags               []Tag                    `json:"tags,omitempty"`
	Policy             string                   `json:"policy,omitempty"`
	CSRDER             []byte                   `json:"csr"`
	CertDER            []byte                   `json:"cert,omitempty"`
	ChainDER           [][]byte                 `json:"chain,omitempty"` // issuer first, root last
	Serial             string                   `json:"serial,omitempty"`
	NotBefore          time.Time                `json:"notBefore,omitzero"`
	NotAfter           time.Time                `json:"notAfter,omitzero"`
	CreatedAt          time.Time                `json:"createdAt"`
	LastStateChangeAt  time.Time                `json:"lastStateChangeAt"`
	RestorableUntil    time.Time                `json:"restorableUntil,omitzero"`
	StatusBeforeDelete string                   `json:"statusBeforeDelete,omitempty"`

	version int64
}

func (c *caRecord) crlEnabled() bool {
	return c.Revocation != nil && c.Revocation.CrlConfiguration != nil &&
		c.Revocation.CrlConfiguration.Enabled != nil && *c.Revocation.CrlConfiguration.Enabled
}

// effectiveStatus reports EXPIRED for an active CA past its certificate.
func (c *caRecord) effectiveStatus(now time.Time) string {
	if c.Status == StatusActive && !c.NotAfter.IsZero() && now.After(c.NotAfter) {
		return StatusExpired
	}
	return c.Status
}

func decodeCA(r *store.Record) (*caRecord, error) {
	var c caRecord
	if err := json.Unmarshal(r.Data, &c); err != nil {
		return nil, fmt.Errorf("pca: decode CA %s: %w", r.ID, err)
	}
	c.version = r.Version
	return &c, nil
}

func (c *caRecord) record(secret []byte) (*store.Record, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &store.Record{Kind: kindCA, ID: c.ID, Data: data, Secret: secret, Version: c.version}, nil
}

// certRecord is an issued certificate.
type certRecord struct {
	CAID      string    `json:"caId"`
	Serial    string    `json:"serial"`
	DER       []byte    `json:"der"`
	NotAfter  time.Time `json:"notAfter"`
	IssuedAt  time.Time `json:"issuedAt"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

// revokedEntry is one line of a CA's CRL until the certificate expires.
type revokedEntry struct {
	Serial    string    `json:"serial"`
	NotAfter  time.Time `json:"notAfter"`
	RevokedAt time.Time `json:"revokedAt"`
	Reason    string    `json:"reason"`
}

// crlRecord is a CA's current CRL.
type crlRecord struct {
	DER        []byte    `json:"der"`
	Number     int64     `json:"number"`
	ThisUpdate time.Time `json:"thisUpdate"`
	NextUpdate time.Time `json:"nextUpdate"`
	// Entries is the revocation count it was built from; a mismatch with
	// the index means a revocation is not yet in it.
	Entries int `json:"entries"`
	// EarliestExpiry is when the first listed certificate expires and the
	// CRL should shrink.
	EarliestExpiry time.Time `json:"earliestExpiry,omitzero"`
}

// idemRecord remembers the result of an idempotent request.
type idemRecord struct {
	Hash    string    `json:"hash"` // of the request's arguments
	Result  string    `json:"result"`
	Created time.Time `json:"created"`
}

// idemWindow is how long an IdempotencyToken returns the first result
// (AWS: five minutes for CreateCertificateAuthority; we use one window).
const idemWindow = 5 * time.Minute

func putJSON(ctx context.Context, tx store.Tx, kind, id string, v any, create bool) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r := &store.Record{Kind: kind, ID: id, Data: data}
	if create {
		return tx.Create(ctx, r)
	}
	return tx.Put(ctx, r)
}

func getJSON(ctx context.Context, rd store.Reader, kind, id string, v any) error {
	r, err := rd.Get(ctx, kind, id)
	if err != nil {
		return err
	}
	return json.Unmarshal(r.Data, v)
}

// loadedCA is a CA with its key and certificates parsed, cached by record
// version so issuing does not unseal and parse the key every time.
type loadedCA struct {
	rec    *caRecord
	signer crypto.Signer
	cert   *x509.Certificate // nil while PENDING_CERTIFICATE
	policy *policy.Policy
}

// loadCA reads a CA (not found if absent or purged) and its parsed key.
func (s *Service) loadCA(ctx context.Context, id string) (*loadedCA, error) {
	r, err := s.cfg.Store.Get(ctx, kindCA, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: certificate authority %s", ErrNotFound, s.caARN(id))
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	l := s.cache[id]
	s.mu.Unlock()
	if l != nil && l.rec.version == r.Version {
		return l, nil
	}
	rec, err := decodeCA(r)
	if err != nil {
		return nil, err
	}
	if rec.Status == StatusDeleted && s.now().After(rec.RestorableUntil) {
		return nil, fmt.Errorf("%w: certificate authority %s", ErrNotFound, rec.ARN)
	}
	key, err := x509.ParsePKCS8PrivateKey(r.Secret)
	if err != nil {
		return nil, fmt.Errorf("pca: CA %s key: %w", id, err)
	}
	l = &loadedCA{rec: rec, signer: key.(crypto.Signer)}
	if rec.CertDER != nil {
		if l.cert, err = x509.ParseCertificate(rec.CertDER); err != nil {
			return nil, fmt.Errorf("pca: CA %s certificate: %w", id, err)
		}
	}
	if rec.Policy != "" {
		if l.policy, err = policy.ParseResource([]byte(rec.Policy)); err != nil {
			return nil, fmt.Errorf("pca: CA %s policy: %w", id, err)
		}
	}
	s.mu.Lock()
	s.cache[id] = l
	s.mu.Unlock()
	return l, nil
}

// updateCA re-reads a CA, applies fn and writes it back with the version
// check, retrying on conflicts.
func (s *Service) updateCA(ctx context.Context, id string, fn func(c *caRecord) error) (*caRecord, error) {
	var out *caRecord
	r, err := store.Update(ctx, s.cfg.Store, kindCA, id, func(_ store.Tx, r *store.Record) error {
		c, err := decodeCA(r)
		if err != nil {
			return err
		}
		if c.Status == StatusDeleted && s.now().After(c.RestorableUntil) {
			return fmt.Errorf("%w: certificate authority %s", ErrNotFound, c.ARN)
		}
		if err := fn(c); err != nil {
			return err
		}
		nr, err := c.record(r.Secret)
		if err != nil {
			return err
		}
		*r = *nr
		out = c
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: certificate authority %s", ErrNotFound, s.caARN(id))
	case errors.Is(err, store.ErrConflict):
		return nil, fmt.Errorf("%w: certificate authority %s changed; retry", ErrConcurrent, s.caARN(id))
	case err != nil:
		return nil, err
	}
	out.version = r.Version
	s.changed(s.caARN(id))
	return out, nil
}

// purge removes a deleted CA and everything it issued.
func (s *Service) purge(ctx context.Context, id string) error {
	return s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		for _, kind := range []string{kindCert, kindRevoked} {
			recs, err := tx.List(ctx, kind, store.ListOptions{Prefix: id + "/"})
			if err != nil {
				return err
			}
			for _, r := range recs {
				if err := tx.Delete(ctx, kind, r.ID); err != nil {
					return err
				}
			}
		}
		if err := tx.Delete(ctx, kindCRL, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Delete(ctx, kindCA, id)
	})
}
