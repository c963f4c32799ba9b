package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/tagging"
)

// Rotation and deletion limits from the AWS KMS API reference.
const (
	defaultRotationDays = 365
	minRotationDays     = 90
	maxRotationDays     = 2560
	minPendingDays      = 7
	maxPendingDays      = 30
	maxRotations        = 25 // on-demand rotations per key (AWS quota: 10)
)

// createParams are CreateKey's inputs.
type createParams struct {
	spec, usage, description, policy string
	bypassLockout                    bool
	tags                             []tag
}

func (s *Service) createKey(ctx context.Context, c *api.Call, p createParams) (*keyMeta, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "kms:CreateKey", Resource: "*", Mode: policy.Standard}); err != nil {
		return nil, err
	}
	spec, usage, err := checkSpecUsage(p.spec, p.usage)
	if err != nil {
		return nil, err
	}
	if err := checkTags(p.tags); err != nil {
		return nil, err
	}
	id, err := s.newKeyID()
	if err != nil {
		return nil, err
	}
	m := &keyMeta{KeyID: id, ARN: s.keyARN(id), AccountID: s.cfg.AccountID, Created: s.now(), Description: p.description,
		KeySpec: spec, KeyUsage: usage, KeyState: stateEnabled, KeyManager: "CUSTOMER", Policy: p.policy, Tags: p.tags}
	if m.Policy == "" {
		m.Policy = s.defaultPolicy()
	} else if _, err := s.checkPolicy(ctx, c, m.Policy, m.ARN, p.bypassLockout); err != nil {
		return nil, err
	}
	sec, err := newSecret(spec, s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	if err := s.putNewKey(ctx, m, sec, ""); err != nil {
		return nil, err
	}
	return m, nil
}

// managedKey returns the AWS-managed key alias/aws/<service>, creating it
// on first use.
func (s *Service) managedKey(ctx context.Context, service string) (string, error) {
	alias := "alias/aws/" + service
	var keyID string
	// Another request (or replica) may create it first: the loser's Create
	// fails with ErrExists and the retry finds the alias.
	err := store.Retry(ctx, func() error {
		ar, err := s.getAlias(ctx, alias)
		if err == nil {
			keyID = ar.TargetKeyID
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		id, err := s.newKeyID()
		if err != nil {
			return err
		}
		m := &keyMeta{KeyID: id, ARN: s.keyARN(id), AccountID: s.cfg.AccountID, Created: s.now(),
			Description: "Default key that protects my " + service + " data when no other key is defined",
			KeySpec:     specSymmetric, KeyUsage: usageEncrypt, KeyState: stateEnabled, KeyManager: "AWS", Policy: s.managedPolicy(service)}
		// AWS rotates managed keys every year.
		next := m.Created.AddDate(0, 0, defaultRotationDays)
		m.RotationEnabled, m.RotationPeriodDays, m.NextRotation = true, defaultRotationDays, &next
		sec, err := newSecret(specSymmetric, s.cfg.Rand)
		if err != nil {
			return err
		}
		if err := s.putNewKey(ctx, m, sec, alias); err != nil {
			return err
		}
		keyID = id
		return nil
	}, store.AlsoRetryOn(store.ErrExists))
	if errors.Is(err, store.ErrExists) {
		return "", errors.New("kms: could not create the managed key " + alias)
	}
	return keyID, err
}

// adminKey loads a key and authorizes an administrative action on it.
func (s *Service) adminKey(ctx context.Context, c *api.Call, action, keyID string) (*loadedKey, error) {
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, action, lk, nil); err != nil {
		return nil, err
	}
	return lk, nil
}

// customerOnly refuses changes AWS does not allow on AWS-managed keys.
func customerOnly(m *keyMeta, op string) error {
	if m.KeyManager == "AWS" {
		return fmt.Errorf("%w: %s is not supported on AWS managed key %s.", ErrUnsupported, op, m.ARN)
	}
	return nil
}

// modify authorizes action on keyID and applies fn to the stored key.
func (s *Service) modify(ctx context.Context, c *api.Call, action, keyID string, fn func(m *keyMeta, sec *keySecret) error) (*keyMeta, error) {
	lk, err := s.adminKey(ctx, c, action, keyID)
	if err != nil {
		return nil, err
	}
	return s.updateKey(ctx, lk.meta.KeyID, fn)
}

func notPending(m *keyMeta) error {
	if m.KeyState == statePendingDeletion {
		return fmt.Errorf("%w: %s is pending deletion.", ErrInvalidState, m.ARN)
	}
	return nil
}

func (s *Service) setEnabled(ctx context.Context, c *api.Call, keyID string, enabled bool) error {
	action, state := "kms:DisableKey", stateDisabled
	if enabled {
		action, state = "kms:EnableKey", stateEnabled
	}
	_, err := s.modify(ctx, c, action, keyID, func(m *keyMeta, _ *keySecret) error {
		if err := customerOnly(m, strings.TrimPrefix(action, "kms:")); err != nil {
			return err
		}
		if err := notPending(m); err != nil {
			return err
		}
		m.KeyState = state
		return nil
	})
	return err
}

func (s *Service) scheduleDeletion(ctx context.Context, c *api.Call, keyID string, days int) (*keyMeta, error) {
	if days == 0 {
		days = maxPendingDays
	}
	if days < minPendingDays || days > maxPendingDays {
		return nil, fmt.Errorf("%w: PendingWindowInDays must be between %d and %d.", ErrValidation, minPendingDays, maxPendingDays)
	}
	return s.modify(ctx, c, "kms:ScheduleKeyDeletion", keyID, func(m *keyMeta, _ *keySecret) error {
		if err := customerOnly(m, "ScheduleKeyDeletion"); err != nil {
			return err
		}
		if err := notPending(m); err != nil {
			return err
		}
		d := s.now().Add(time.Duration(days) * 24 * time.Hour)
		m.KeyState, m.DeletionDate, m.PendingWindowInDays = statePendingDeletion, &d, days
		return nil
	})
}

func (s *Service) cancelDeletion(ctx context.Context, c *api.Call, keyID string) (*keyMeta, error) {
	return s.modify(ctx, c, "kms:CancelKeyDeletion", keyID, func(m *keyMeta, _ *keySecret) error {
		if m.KeyState != statePendingDeletion {
			return fmt.Errorf("%w: %s is not pending deletion.", ErrInvalidState, m.ARN)
		}
		// AWS leaves a cancelled key disabled.
		m.KeyState, m.DeletionDate, m.PendingWindowInDays = stateDisabled, nil, 0
		return nil
	})
}

// symmetricRotatable refuses rotation changes on keys that cannot rotate.
func symmetricRotatable(m *keyMeta) error {
	if m.KeySpec != specSymmetric {
		return fmt.Errorf("%w: %s is not a symmetric encryption key; only those rotate.", ErrUnsupported, m.ARN)
	}
	return notPending(m)
}

func (s *Service) setRotation(ctx context.Context, c *api.Call, keyID string, enable bool, days int) error {
	action := "kms:DisableKeyRotation"
	if enable {
		action = "kms:EnableKeyRotation"
		if days == 0 {
			days = defaultRotationDays
		}
		if days < minRotationDays || days > maxRotationDays {
			return fmt.Errorf("%w: RotationPeriodInDays must be between %d and %d.", ErrValidation, minRotationDays, maxRotationDays)
		}
	}
	_, err := s.modify(ctx, c, action, keyID, func(m *keyMeta, _ *keySecret) error {
		if err := customerOnly(m, strings.TrimPrefix(action, "kms:")); err != nil {
			return err
		}
		if err := symmetricRotatable(m); err != nil {
			return err
		}
		if m.KeyState == stateDisabled {
			return fmt.Errorf("%w: %s is disabled.", ErrDisabled, m.ARN)
		}
		m.RotationEnabled = enable
		if !enable {
			m.NextRotation, m.RotationPeriodDays = nil, 0
			return nil
		}
		next := s.now().AddDate(0, 0, days)
		m.RotationPeriodDays, m.NextRotation = days, &next
		return nil
	})
	return err
}

// rotate adds a new material version; encryption uses it from now on and
// every older version stays for decryption.
func (s *Service) rotate(ctx context.Context, id, kind string) (*keyMeta, error) {
	return s.updateKey(ctx, id, func(m *keyMeta, sec *keySecret) error {
		if err := symmetricRotatable(m); err != nil {
			return err
		}
		if m.KeyState == stateDisabled {
			return fmt.Errorf("%w: %s is disabled.", ErrDisabled, m.ARN)
		}
		now := s.now()
		if kind == "AUTOMATIC" && (m.NextRotation == nil || now.Before(*m.NextRotation)) {
			return nil // someone else rotated it already
		}
		if kind == "ON_DEMAND" && len(m.Rotations) >= maxRotations {
			return fmt.Errorf("%w: %s has reached the limit of %d on-demand rotations.", ErrLimitExceeded, m.ARN, maxRotations)
		}
		fresh, err := newSecret(specSymmetric, s.cfg.Rand)
		if err != nil {
			return err
		}
		sec.Sym = append(sec.Sym, fresh.Sym[0])
		m.Rotations = append(m.Rotations, rotation{Date: now, Type: kind})
		if m.RotationEnabled {
			next := now.AddDate(0, 0, m.RotationPeriodDays)
			m.NextRotation = &next
		}
		return nil
	})
}

func (s *Service) rotateOnDemand(ctx context.Context, c *api.Call, keyID string) (*keyMeta, error) {
	lk, err := s.adminKey(ctx, c, "kms:RotateKeyOnDemand", keyID)
	if err != nil {
		return nil, err
	}
	if err := customerOnly(&lk.meta, "RotateKeyOnDemand"); err != nil {
		return nil, err
	}
	return s.rotate(ctx, lk.meta.KeyID, "ON_DEMAND")
}

func (s *Service) putPolicy(ctx context.Context, c *api.Call, keyID, name, doc string, bypass bool) error {
	if name != "" && name != "default" {
		return fmt.Errorf("%w: PolicyName must be default.", ErrValidation)
	}
	lk, err := s.adminKey(ctx, c, "kms:PutKeyPolicy", keyID)
	if err != nil {
		return err
	}
	if err := customerOnly(&lk.meta, "PutKeyPolicy"); err != nil {
		return err
	}
	if err := notPending(&lk.meta); err != nil {
		return err
	}
	if _, err := s.checkPolicy(ctx, c, doc, lk.meta.ARN, bypass); err != nil {
		return err
	}
	_, err = s.updateKey(ctx, lk.meta.KeyID, func(m *keyMeta, _ *keySecret) error {
		m.Policy = doc
		return nil
	})
	return err
}

// checkTags applies AWS's tag rules (internal/tagging) with KMS's error,
// TagException.
func checkTags(tags []tag) error {
	return tagging.Wrap(tagging.Check(tags, kvTag), ErrTag, ErrTag)
}

func kvTag(t tag) tagging.Tag { return tagging.Tag(t) }

func (s *Service) tagKey(ctx context.Context, c *api.Call, keyID string, add []tag, remove []string) error {
	action := "kms:TagResource"
	if add == nil {
		action = "kms:UntagResource"
	}
	_, err := s.modify(ctx, c, action, keyID, func(m *keyMeta, _ *keySecret) error {
		if err := notPending(m); err != nil {
			return err
		}
		kept := m.Tags[:0:0]
		for _, t := range m.Tags {
			drop := false
			for _, r := range remove {
				drop = drop || r == t.Key
			}
			for _, a := range add {
				drop = drop || a.Key == t.Key
			}
			if !drop {
				kept = append(kept, t)
			}
		}
		m.Tags = append(kept, add...)
		if add == nil {
			// Removing is always allowed, so a tag stored before the
			// shared rules (say "AWS:x") can still be removed.
			return nil
		}
		return checkTags(m.Tags)
	})
	return err
}

// listKeys returns up to limit key ids after marker, purging keys whose
// deletion window has passed.
func (s *Service) listKeys(ctx context.Context, c *api.Call, limit int, marker string) (ids []string, next string, err error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "kms:ListKeys", Resource: "*", Mode: policy.Standard}); err != nil {
		return nil, "", err
	}
	recs, err := s.cfg.Store.List(ctx, kindKey, store.ListOptions{After: marker, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	if len(recs) > limit {
		recs, next = recs[:limit], recs[limit-1].ID
	}
	for _, rec := range recs {
		lk, err := s.getKey(ctx, rec.ID)
		if err == nil {
			_, err = s.maintain(ctx, lk)
		}
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		ids = append(ids, rec.ID)
	}
	return ids, next, nil
}

// Aliases.

func (s *Service) checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") || len(name) <= len("alias/") || len(name) > 256 {
		return fmt.Errorf("%w: Alias name must begin with alias/ and be at most 256 characters.", ErrValidation)
	}
	for _, r := range name[len("alias/"):] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_-", r)) {
			return fmt.Errorf("%w: Alias name %s contains characters other than letters, digits, /, _ and -.", ErrValidation, name)
		}
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return fmt.Errorf("%w: Alias names beginning with alias/aws/ are reserved for AWS managed keys.", ErrInvalidAliasName)
	}
	return nil
}

// aliasTarget loads an alias's target key and authorizes action on the
// alias (identity policies) and the key (its key policy).
func (s *Service) aliasTarget(ctx context.Context, c *api.Call, action, alias, keyID string) (*loadedKey, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: action, Resource: s.aliasARN(alias), Mode: policy.Standard}); err != nil {
		return nil, err
	}
	if strings.HasPrefix(keyID, "alias/") || strings.Contains(keyID, ":alias/") {
		return nil, fmt.Errorf("%w: TargetKeyId must be a key id or key ARN, not an alias.", ErrValidation)
	}
	return s.adminKey(ctx, c, action, keyID)
}

func (s *Service) createAlias(ctx context.Context, c *api.Call, name, keyID string) error {
	if err := s.checkAliasName(name); err != nil {
		return err
	}
	lk, err := s.aliasTarget(ctx, c, "kms:CreateAlias", name, keyID)
	if err != nil {
		return err
	}
	if err := notPending(&lk.meta); err != nil {
		return err
	}
	now := s.now()
	data, _ := json.Marshal(aliasRec{TargetKeyID: lk.meta.KeyID, Created: now, Updated: now})
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, &store.Record{Kind: kindAlias, ID: name, Data: data})
	})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: An alias with the name %s already exists", ErrAlreadyExists, s.aliasARN(name))
	}
	return err
}

func (s *Service) updateAlias(ctx context.Context, c *api.Call, name, keyID string) error {
	if err := s.checkAliasName(name); err != nil {
		return err
	}
	old, err := s.getAlias(ctx, name)
	if err != nil {
		return err
	}
	if _, err := s.adminKey(ctx, c, "kms:UpdateAlias", old.TargetKeyID); err != nil {
		return err
	}
	lk, err := s.aliasTarget(ctx, c, "kms:UpdateAlias", name, keyID)
	if err != nil {
		return err
	}
	if err := notPending(&lk.meta); err != nil {
		return err
	}
	oldKey, _ := s.getKey(ctx, old.TargetKeyID)
	if oldKey != nil && (oldKey.meta.KeySpec != lk.meta.KeySpec || oldKey.meta.KeyUsage != lk.meta.KeyUsage) {
		return fmt.Errorf("%w: The new target key must have the same key spec and key usage as the current one.", ErrValidation)
	}
	return s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, kindAlias, name)
		if err != nil {
			return err
		}
		var ar aliasRec
		if err := json.Unmarshal(rec.Data, &ar); err != nil {
			return err
		}
		ar.TargetKeyID, ar.Updated = lk.meta.KeyID, s.now()
		rec.Data, _ = json.Marshal(ar)
		return tx.Update(ctx, rec)
	})
}

func (s *Service) deleteAlias(ctx context.Context, c *api.Call, name string) error {
	if strings.HasPrefix(name, "alias/aws/") {
		return fmt.Errorf("%w: Alias names beginning with alias/aws/ are reserved for AWS managed keys.", ErrInvalidAliasName)
	}
	ar, err := s.getAlias(ctx, name)
	if err != nil {
		return err
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "kms:DeleteAlias", Resource: s.aliasARN(name), Mode: policy.Standard}); err != nil {
		return err
	}
	if _, err := s.adminKey(ctx, c, "kms:DeleteAlias", ar.TargetKeyID); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, kindAlias, name) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: Alias %s is not found.", ErrNotFound, s.aliasARN(name))
	}
	return err
}

// aliasEntry is one alias for ListAliases.
type aliasEntry struct {
	name string
	aliasRec
}

func (s *Service) listAliases(ctx context.Context, c *api.Call, keyID string, limit int, marker string) ([]aliasEntry, string, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "kms:ListAliases", Resource: "*", Mode: policy.Standard}); err != nil {
		return nil, "", err
	}
	var want string
	if keyID != "" {
		lk, err := s.loadKey(ctx, keyID)
		if err != nil {
			return nil, "", err
		}
		want = lk.meta.KeyID
	}
	var out []aliasEntry
	after := marker
	for {
		recs, err := s.cfg.Store.List(ctx, kindAlias, store.ListOptions{After: after, Limit: 200})
		if err != nil {
			return nil, "", err
		}
		for _, rec := range recs {
			after = rec.ID
			var ar aliasRec
			if json.Unmarshal(rec.Data, &ar) != nil || want != "" && ar.TargetKeyID != want {
				continue
			}
			if len(out) == limit {
				return out, out[limit-1].name, nil
			}
			out = append(out, aliasEntry{rec.ID, ar})
		}
		if len(recs) < 200 {
			return out, "", nil
		}
	}
}
