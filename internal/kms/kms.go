package kms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/ttlcache"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/ids"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Config builds a Service.
type Config struct {
	// Store keeps keys and aliases; key material goes only into the sealed
	// Record.Secret. Required.
	Store store.Store
	// AccountID and Region build every ARN and the default key policy.
	AccountID string
	Region    string
	// Clock tells the time (deletion windows, rotation) and makes the
	// sweep loop's timers; nil means the real clock. Tests pass a
	// *clock.Fake.
	Clock clock.Clock
	// Rand is the source of key material, nonces and data keys; nil =
	// crypto/rand. A weak source here makes every key guessable.
	Rand io.Reader
	// Logger receives operational messages (never key material); nil
	// discards them.
	Logger *slog.Logger
	// SweepInterval is how often the background loop purges keys whose
	// deletion window has passed and rotates keys that are due; zero
	// means one minute. Keys are also purged and rotated lazily on access.
	SweepInterval time.Duration
	// KeyCacheTTL is how long a key read from the store is used without
	// reading it again; zero means one second, negative disables the cache.
	// Changes made through this Service take effect at once; changes made
	// by another server sharing the store (a key disabled there) take
	// effect here within the TTL, which is the price of not reading and
	// unsealing the key record on every call.
	KeyCacheTTL time.Duration
}

// Service is the KMS. It is safe for concurrent use.
type Service struct {
	cfg Config

	cache *ttlcache.Cache[*loadedKey] // by key id; see getKey
}

// New returns a Service with cfg's nil members set to their defaults.
func New(cfg Config) *Service {
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	return &Service{cfg: cfg, cache: ttlcache.New[*loadedKey](keyCacheEntries, 0, cfg.KeyCacheTTL, cfg.Clock.Now, nil, nil)}
}

// keyCacheEntries bounds the key cache; beyond it the least recently used
// key is read from the store again.
const keyCacheEntries = 10000

func (s *Service) now() time.Time { return s.cfg.Clock.Now().UTC() }

func (s *Service) keyARN(id string) string {
	return "arn:aws:kms:" + s.cfg.Region + ":" + s.cfg.AccountID + ":key/" + id
}

func (s *Service) aliasARN(name string) string {
	return "arn:aws:kms:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + name
}

// newKeyID returns a random UUID (version 4), the form AWS key ids take.
func (s *Service) newKeyID() (string, error) { return ids.UUID(s.cfg.Rand) }

// resolveKeyID turns any KeyId form (key id, key ARN, alias name, alias
// ARN) into a key id.
func (s *Service) resolveKeyID(ctx context.Context, keyID string) (string, error) {
	if keyID == "" {
		return "", fmt.Errorf("%w: KeyId must not be empty.", ErrValidation)
	}
	name := keyID
	if strings.HasPrefix(keyID, "arn:") {
		prefix := "arn:aws:kms:" + s.cfg.Region + ":" + s.cfg.AccountID + ":"
		rest, ok := strings.CutPrefix(keyID, prefix)
		if !ok {
			return "", fmt.Errorf("%w: Invalid arn %s", ErrNotFound, keyID)
		}
		if id, ok := strings.CutPrefix(rest, "key/"); ok {
			return id, nil
		}
		if !strings.HasPrefix(rest, "alias/") {
			return "", fmt.Errorf("%w: Invalid arn %s", ErrNotFound, keyID)
		}
		name = rest
	}
	if !strings.HasPrefix(name, "alias/") {
		return name, nil
	}
	ar, err := s.getAlias(ctx, name)
	if err != nil {
		return "", err
	}
	return ar.TargetKeyID, nil
}

// loadKey resolves keyID and returns the key, first purging it if its
// deletion window has passed and rotating it if rotation is due.
func (s *Service) loadKey(ctx context.Context, keyID string) (*loadedKey, error) {
	id, err := s.resolveKeyID(ctx, keyID)
	if err != nil {
		return nil, err
	}
	lk, err := s.getKey(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.maintain(ctx, lk)
}

// maintain carries out the time-driven transitions of one key: deletion
// once the window has passed (the key then reads as not found) and
// automatic rotation once due. Both the background loop and every access
// call it, so neither depends on the other having run.
func (s *Service) maintain(ctx context.Context, lk *loadedKey) (*loadedKey, error) {
	now := s.now()
	m := &lk.meta
	switch {
	case m.KeyState == statePendingDeletion && m.DeletionDate != nil && !now.Before(*m.DeletionDate):
		if err := s.purgeKey(ctx, m.KeyID); err != nil {
			return nil, err
		}
		s.cfg.Logger.Info("kms: deleted key after its pending window", "key", m.ARN)
		return nil, fmt.Errorf("%w: Key '%s' does not exist", ErrNotFound, m.ARN)
	case m.RotationEnabled && m.KeyState == stateEnabled && m.NextRotation != nil && !now.Before(*m.NextRotation):
		if _, err := s.rotate(ctx, m.KeyID, "AUTOMATIC"); err != nil {
			return nil, err
		}
		return s.getKey(ctx, m.KeyID)
	}
	return lk, nil
}

// sweep runs maintain over every key.
func (s *Service) sweep(ctx context.Context) {
	after := ""
	for {
		recs, err := s.cfg.Store.List(ctx, kindKey, store.ListOptions{After: after, Limit: 100})
		if err != nil {
			s.cfg.Logger.Warn("kms: sweep list", "err", err)
			return
		}
		for _, rec := range recs {
			after = rec.ID
			lk, err := s.getKey(ctx, rec.ID)
			if err == nil {
				_, err = s.maintain(ctx, lk)
			}
			if err != nil && ctx.Err() == nil {
				if !errors.Is(err, ErrNotFound) {
					s.cfg.Logger.Warn("kms: sweep", "key", rec.ID, "err", err)
				}
			}
		}
		if len(recs) < 100 {
			return
		}
	}
}

// run is the background loop: a sweep at once and then every
// SweepInterval of Clock until ctx ends.
func (s *Service) run(ctx context.Context) {
	clock.Every(ctx, s.cfg.Clock, s.cfg.SweepInterval, s.sweep)
}

// authorize asks the policy engine whether c may perform action on the
// key, with KMS's rule (the key policy must allow) and KMS condition keys.
func (s *Service) authorize(ctx context.Context, c *api.Call, action string, lk *loadedKey, extra map[string][]string) error {
	cond := make(map[string][]string, len(extra)+4)
	for k, v := range extra {
		cond[k] = v
	}
	cond["kms:calleraccount"] = []string{c.Principal.AccountID}
	cond["kms:keyspec"] = []string{lk.meta.KeySpec}
	cond["kms:keyusage"] = []string{lk.meta.KeyUsage}
	cond["kms:keyorigin"] = []string{"AWS_KMS"}
	return c.Authorize(ctx, api.AuthzRequest{Action: action, Resource: lk.meta.ARN, ResourcePolicy: lk.pol, Mode: policy.KeyPolicy, Context: cond, ResourceTags: tagMap(lk.meta.Tags)})
}

// contextKeys returns the kms:EncryptionContext:* and
// kms:EncryptionContextKeys condition keys of an encryption context.
func contextKeys(dst map[string][]string, encCtx map[string]string) map[string][]string {
	if dst == nil {
		dst = make(map[string][]string, len(encCtx)+1)
	}
	keys := make([]string, 0, len(encCtx))
	for k, v := range encCtx {
		dst["kms:encryptioncontext:"+strings.ToLower(k)] = []string{v}
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		dst["kms:encryptioncontextkeys"] = keys
	}
	return dst
}

// usable refuses a key that may not be used for cryptography now.
func usable(lk *loadedKey) error {
	switch lk.meta.KeyState {
	case stateEnabled:
		return nil
	case stateDisabled:
		return fmt.Errorf("%w: %s is disabled.", ErrDisabled, lk.meta.ARN)
	}
	return fmt.Errorf("%w: %s is pending deletion.", ErrInvalidState, lk.meta.ARN)
}

// requireUsage refuses a key whose KeyUsage is not want.
func requireUsage(lk *loadedKey, want, op string) error {
	if lk.meta.KeyUsage != want {
		return fmt.Errorf("%w: %s key usage is %s which is not valid for %s.", ErrInvalidKeyUsage, lk.meta.ARN, lk.meta.KeyUsage, op)
	}
	return nil
}
