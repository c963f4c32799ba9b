package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Record kinds. Aliases are their own records (ID = alias name), the
// secondary index from name to key.
const (
	kindKey   = "kms/key"
	kindAlias = "kms/alias"
)

// Key states, as on the wire.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

// keyMeta is a key's non-secret record (Record.Data, stored in clear).
type keyMeta struct {
	KeyID               string     `json:"KeyId"`
	ARN                 string     `json:"Arn"`
	AccountID           string     `json:"AccountId"`
	Created             time.Time  `json:"Created"`
	Description         string     `json:"Description"`
	KeySpec             string     `json:"KeySpec"`
	KeyUsage            string     `json:"KeyUsage"`
	KeyState            string     `json:"KeyState"`
	KeyManager          string     `json:"KeyManager"` // CUSTOMER or AWS
	DeletionDate        *time.Time `json:"DeletionDate,omitempty"`
	PendingWindowInDays int        `json:"PendingWindowInDays,omitempty"`
	Policy              string     `json:"Policy"`
	Tags                []tag      `json:"Tags,omitempty"`
	RotationEnabled     bool       `json:"RotationEnabled,omitempty"`
	RotationPeriodDays  int        `json:"RotationPeriodDays,omitempty"`
	NextRotation        *time.Time `json:"NextRotation,omitempty"`
	// Rotations records when each material version after the first was
	// made (ON_DEMAND or AUTOMATIC); the current version is len(Rotations).
	Rotations []rotation `json:"Rotations,omitempty"`
}

type tag struct {
	Key   string `json:"TagKey"`
	Value string `json:"TagValue"`
}

type rotation struct {
	Date time.Time `json:"Date"`
	Type string    `json:"Type"`
}

type aliasRec struct {
	TargetKeyID string    `json:"TargetKeyId"`
	Created     time.Time `json:"Created"`
	Updated     time.Time `json:"Updated"`
}

// loadedKey is a key as the domain uses it: metadata, parsed key policy and
// parsed material, cached per store record version. It is shared between
// requests and must not be modified.
type loadedKey struct {
	meta    keyMeta
	pol     *policy.Policy
	mat     *material
	version int64
	updated time.Time
	fetched time.Time // when the store was last read for it
}

// getKey reads the key with the given id (already resolved from an alias
// or ARN), reusing the parsed form when the record has not changed.
func (s *Service) getKey(ctx context.Context, id string) (*loadedKey, error) {
	// The cache is bounded and its entries expire after KeyCacheTTL, so a
	// key disabled or deleted through another server is refused here
	// within the TTL, and keys deleted elsewhere do not pile up.
	if lk, ok := s.cache.Get(id); ok {
		return lk, nil
	}
	rec, err := s.cfg.Store.Get(ctx, kindKey, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, fmt.Errorf("%w: Key '%s' does not exist", ErrNotFound, s.keyARN(id))
	}
	if err != nil {
		return nil, err
	}
	lk, err := decodeKey(rec)
	if err != nil {
		return nil, err
	}
	lk.fetched = s.now()
	s.cache.Put(id, lk, 0)
	return lk, nil
}

func decodeKey(rec *store.Record) (*loadedKey, error) {
	lk := &loadedKey{version: rec.Version, updated: rec.Updated}
	if err := json.Unmarshal(rec.Data, &lk.meta); err != nil {
		return nil, fmt.Errorf("kms: decode key %s: %w", rec.ID, err)
	}
	var err error
	if lk.pol, err = policy.ParseResource([]byte(lk.meta.Policy)); err != nil {
		return nil, fmt.Errorf("kms: stored policy of key %s: %w", rec.ID, err)
	}
	if lk.mat, err = parseMaterial(rec.Secret); err != nil {
		return nil, err
	}
	return lk, nil
}

// updateKey applies fn to a key's metadata and secret in a transaction,
// retrying when another writer got there first. fn may run more than once.
func (s *Service) updateKey(ctx context.Context, id string, fn func(m *keyMeta, sec *keySecret) error) (*keyMeta, error) {
	var out keyMeta
	_, err := store.Update(ctx, s.cfg.Store, kindKey, id, func(_ store.Tx, rec *store.Record) error {
		var m keyMeta
		if err := json.Unmarshal(rec.Data, &m); err != nil {
			return err
		}
		var sec keySecret
		if err := json.Unmarshal(rec.Secret, &sec); err != nil {
			return err
		}
		if err := fn(&m, &sec); err != nil {
			return err
		}
		var err error
		if rec.Data, err = json.Marshal(&m); err != nil {
			return err
		}
		rec.Secret = sec.marshal()
		out = m
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w: Key '%s' does not exist", ErrNotFound, s.keyARN(id))
	}
	s.forget(id)
	return &out, err
}

// putNewKey stores a new key and, when alias is set, the alias naming it,
// in one transaction.
func (s *Service) putNewKey(ctx context.Context, m *keyMeta, sec *keySecret, alias string) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Create(ctx, &store.Record{Kind: kindKey, ID: m.KeyID, Data: data, Secret: sec.marshal()}); err != nil {
			return err
		}
		if alias == "" {
			return nil
		}
		ad, _ := json.Marshal(aliasRec{TargetKeyID: m.KeyID, Created: m.Created, Updated: m.Created})
		return tx.Create(ctx, &store.Record{Kind: kindAlias, ID: alias, Data: ad})
	})
}

// purgeKey deletes a key whose deletion window has passed, with every
// alias that points at it.
func (s *Service) purgeKey(ctx context.Context, id string) error {
	err := s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		aliases, err := tx.List(ctx, kindAlias, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, a := range aliases {
			var ar aliasRec
			if json.Unmarshal(a.Data, &ar) == nil && ar.TargetKeyID == id {
				if err := tx.Delete(ctx, kindAlias, a.ID); err != nil {
					return err
				}
			}
		}
		return tx.Delete(ctx, kindKey, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		err = nil // someone else purged it
	}
	s.forget(id)
	return err
}

// forget drops a key from the cache after this Service changed it, so the
// change is visible to the next call at once.
func (s *Service) forget(id string) { s.cache.Drop(id) }

func (s *Service) getAlias(ctx context.Context, name string) (*aliasRec, error) {
	rec, err := s.cfg.Store.Get(ctx, kindAlias, name)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, fmt.Errorf("%w: Alias %s is not found.", ErrNotFound, s.aliasARN(name))
	}
	if err != nil {
		return nil, err
	}
	var ar aliasRec
	if err := json.Unmarshal(rec.Data, &ar); err != nil {
		return nil, err
	}
	return &ar, nil
}
