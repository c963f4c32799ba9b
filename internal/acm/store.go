package acm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

const (
	kindCert    = "acm/cert"    // id: certificate id; Secret: PKCS#8 key
	kindIdem    = "acm/idem"    // id: token hash
	kindAccount = "acm/account" // id: "config"
)

// Certificate types and statuses as AWS names them.
const (
	TypePrivate    = "PRIVATE"
	TypeImported   = "IMPORTED"
	StatusIssued   = "ISSUED"
	StatusExpired  = "EXPIRED"
	StatusRevoked  = "REVOKED"
	StatusFailed   = "FAILED"
	RenewalSuccess = "SUCCESS"
	RenewalPending = "PENDING_AUTO_RENEWAL"
	RenewalFailed  = "FAILED"
)

// Tag is a certificate tag.
type Tag struct {
	Key   string `json:"Key" required:"true"`
	Value string `json:"Value,omitempty"`
}

// certRecord is one certificate as stored.
type certRecord struct {
	ID               string    `json:"id"`
	ARN              string    `json:"arn"`
	Type             string    `json:"type"`
	Status           string    `json:"status"`
	DomainName       string    `json:"domainName"`
	SANs             []string  `json:"sans,omitempty"`
	CAARN            string    `json:"caArn,omitempty"`
	KeyAlgorithm     string    `json:"keyAlgorithm"`
	CertDER          []byte    `json:"cert,omitempty"`
	ChainDER         [][]byte  `json:"chain,omitempty"`
	Validity         string    `json:"validity,omitempty"` // Go duration it was issued with
	CreatedAt        time.Time `json:"createdAt"`
	IssuedAt         time.Time `json:"issuedAt,omitzero"`
	ImportedAt       time.Time `json:"importedAt,omitzero"`
	RevokedAt        time.Time `json:"revokedAt,omitzero"`
	RevocationReason string    `json:"revocationReason,omitempty"`
	Tags             []Tag     `json:"tags,omitempty"`
	Exported         bool      `json:"exported,omitempty"`
	RenewalStatus    string    `json:"renewalStatus,omitempty"`
	RenewalReason    string    `json:"renewalReason,omitempty"`
	RenewalUpdatedAt time.Time `json:"renewalUpdatedAt,omitzero"`
	// LastApproachingDay is the UTC day ("2006-01-02") the last
	// approaching-expiration event went out for the current certificate,
	// so a restarted server does not repeat it. ExpiredNotified is the
	// same for the expired event. Both reset on renewal.
	LastApproachingDay string `json:"lastApproachingDay,omitempty"`
	ExpiredNotified    bool   `json:"expiredNotified,omitempty"`

	version int64
	key     []byte // PKCS#8 DER, from the record's sealed secret
}

func decodeCert(r *store.Record) (*certRecord, error) {
	var c certRecord
	if err := json.Unmarshal(r.Data, &c); err != nil {
		return nil, fmt.Errorf("acm: decode certificate %s: %w", r.ID, err)
	}
	c.version, c.key = r.Version, r.Secret
	return &c, nil
}

func (c *certRecord) record() (*store.Record, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &store.Record{Kind: kindCert, ID: c.ID, Data: data, Secret: c.key, Version: c.version}, nil
}

func (s *Service) getCert(ctx context.Context, id string) (*certRecord, error) {
	r, err := s.cfg.Store.Get(ctx, kindCert, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: certificate %s", ErrNotFound, s.certARN(id))
	}
	if err != nil {
		return nil, err
	}
	return decodeCert(r)
}

// updateCert applies fn to the stored certificate with the version check,
// retrying when another writer got there first.
func (s *Service) updateCert(ctx context.Context, id string, fn func(c *certRecord) error) (*certRecord, error) {
	// Optimistic: fn may call the CA, which writes through its own
	// transaction, so it runs outside ours; the version check catches a
	// writer in between and Retry re-reads.
	var out *certRecord
	err := store.Retry(ctx, func() error {
		c, err := s.getCert(ctx, id)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		r, err := c.record()
		if err != nil {
			return err
		}
		if err := s.cfg.Store.Tx(ctx, func(tx store.Tx) error { return tx.Update(ctx, r) }); err != nil {
			return err
		}
		c.version, out = r.Version, c
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: certificate %s changed concurrently; retry", ErrConflict, s.certARN(id))
	}
	if err != nil {
		return nil, err
	}
	s.changed(out.ARN)
	return out, nil
}

// accountConfig is Get/PutAccountConfiguration's document.
type accountConfig struct {
	DaysBeforeExpiry int `json:"daysBeforeExpiry"`
}

func (s *Service) account(ctx context.Context) (accountConfig, error) {
	ac := accountConfig{DaysBeforeExpiry: DefaultDaysBeforeExpiry}
	r, err := s.cfg.Store.Get(ctx, kindAccount, accountConfigID)
	if errors.Is(err, store.ErrNotFound) {
		return ac, nil
	}
	if err != nil {
		return ac, err
	}
	err = json.Unmarshal(r.Data, &ac)
	return ac, err
}
