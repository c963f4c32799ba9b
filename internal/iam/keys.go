package iam

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Credential is what the server needs to verify a request signed with an
// access key and to name its caller.
type Credential struct {
	Secret    string
	Active    bool
	Principal api.Principal
}

// ErrUnknownAccessKey is returned by LookupAccessKey for an id that does
// not exist.
var ErrUnknownAccessKey = errors.New("iam: unknown access key id")

func getAccessKey(ctx context.Context, r store.Reader, id string) (*AccessKey, error) {
	rec, err := r.Get(ctx, kindAccessKey, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: The Access Key with id %s cannot be found.", ErrNoSuchEntity, id)
	}
	if err != nil {
		return nil, err
	}
	var k AccessKey
	if err := json.Unmarshal(rec.Data, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// LookupAccessKey returns the secret and owner of an access key; it is on
// the path of every request, so answers are cached for CacheTTL (see
// DefaultCacheTTL for what that means across servers).
func (s *Service) LookupAccessKey(ctx context.Context, id string) (*Credential, error) {
	if c, ok := s.cache.credentials.Get(id); ok {
		return c, nil
	}
	c, err := s.lookupAccessKey(ctx, id)
	if err == nil {
		s.cache.credentials.Put(id, c, 0)
	}
	return c, err
}

func (s *Service) lookupAccessKey(ctx context.Context, id string) (*Credential, error) {
	rec, err := s.store.Get(ctx, kindAccessKey, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownAccessKey
	}
	if err != nil {
		return nil, err
	}
	var k AccessKey
	if err := json.Unmarshal(rec.Data, &k); err != nil {
		return nil, err
	}
	c := &Credential{Secret: string(rec.Secret), Active: k.Status == statusActive}
	if k.UserName == "" {
		c.Principal = api.Principal{Type: api.Root, ARN: s.RootARN(), AccountID: s.accountID, UserID: s.accountID, AccessKeyID: id}
	} else {
		u, err := s.GetUser(ctx, k.UserName)
		if err != nil {
			// A key whose user is gone authenticates nobody.
			return nil, ErrUnknownAccessKey
		}
		c.Principal = api.Principal{Type: api.IAMUser, ARN: u.ARN, AccountID: s.accountID, UserName: u.UserName, UserID: u.UserID, AccessKeyID: id}
	}
	return c, nil
}

const (
	statusActive   = "Active"
	statusInactive = "Inactive"
)

// CreateAccessKey makes a new access key for user (empty = the root). The
// secret is returned here and never again.
func (s *Service) CreateAccessKey(ctx context.Context, user string) (*AccessKey, string, error) {
	id, err := s.randomID("AKIA")
	if err != nil {
		return nil, "", err
	}
	secret, err := randomSecret(s.rand)
	if err != nil {
		return nil, "", err
	}
	k, err := s.putAccessKey(ctx, user, id, secret)
	return k, secret, err
}

// EnsureRootAccessKey installs a root access key with a given id and secret
// (the dev server's printed credentials, or a configuration's bootstrap
// credentials). It is idempotent; an existing key with the same id gets the
// given secret and is made active. Any other key installed this way is
// deleted, so credentials printed by an earlier start on the same data
// stop working; root keys made through the IAM API are left alone.
func (s *Service) EnsureRootAccessKey(ctx context.Context, id, secret string) error {
	if len(id) < 16 || len(id) > 128 || len(secret) < 16 {
		return fmt.Errorf("root access key id must be 16-128 characters and the secret at least 16")
	}
	k := &AccessKey{AccessKeyID: id, Status: statusActive, CreateDate: s.now().UTC(), Bootstrap: true}
	data, _ := json.Marshal(k)
	return s.write(ctx, func(tx store.Tx) error {
		recs, err := tx.List(ctx, kindAccessKey, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			var old AccessKey
			if json.Unmarshal(rec.Data, &old) == nil && old.Bootstrap && rec.ID != id {
				if err := tx.Delete(ctx, kindAccessKey, rec.ID); err != nil {
					return err
				}
			}
		}
		return tx.Put(ctx, &store.Record{Kind: kindAccessKey, ID: id, Data: data, Secret: []byte(secret)})
	})
}

func (s *Service) putAccessKey(ctx context.Context, user, id, secret string) (*AccessKey, error) {
	k := &AccessKey{AccessKeyID: id, Status: statusActive, CreateDate: s.now().UTC()}
	err := s.write(ctx, func(tx store.Tx) error {
		if user != "" {
			u, err := getUser(ctx, tx, user)
			if err != nil {
				return err
			}
			k.UserName, k.UserID = u.UserName, u.UserID
			existing, err := userAccessKeys(ctx, tx, user)
			if err != nil {
				return err
			}
			if len(existing) >= MaxAccessKeysPerUser {
				return fmt.Errorf("%w: Cannot exceed quota for AccessKeysPerUser: %d", ErrLimitExceeded, MaxAccessKeysPerUser)
			}
			if err := tx.Create(ctx, &store.Record{Kind: kindUserKey, ID: userKey(user) + "/" + id}); err != nil {
				return err
			}
		}
		data, _ := json.Marshal(k)
		return tx.Create(ctx, &store.Record{Kind: kindAccessKey, ID: id, Data: data, Secret: []byte(secret)})
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ListAccessKeys lists a user's access keys (metadata only).
func (s *Service) ListAccessKeys(ctx context.Context, user string) ([]*AccessKey, error) {
	if _, err := s.GetUser(ctx, user); err != nil {
		return nil, err
	}
	return userAccessKeys(ctx, s.store, user)
}

// UpdateAccessKey sets a key's status to Active or Inactive.
func (s *Service) UpdateAccessKey(ctx context.Context, user, id, status string) error {
	if status != statusActive && status != statusInactive {
		return fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", ErrValidation, status)
	}
	return s.write(ctx, func(tx store.Tx) error {
		rec, k, err := s.ownedKey(ctx, tx, user, id)
		if err != nil {
			return err
		}
		k.Status = status
		rec.Data, _ = json.Marshal(k)
		return tx.Update(ctx, rec)
	})
}

// DeleteAccessKey deletes a user's access key.
func (s *Service) DeleteAccessKey(ctx context.Context, user, id string) error {
	return s.write(ctx, func(tx store.Tx) error {
		if _, _, err := s.ownedKey(ctx, tx, user, id); err != nil {
			return err
		}
		if err := tx.Delete(ctx, kindAccessKey, id); err != nil {
			return err
		}
		if user == "" {
			return nil
		}
		return tx.Delete(ctx, kindUserKey, userKey(user)+"/"+id)
	})
}

// ownedKey loads key id and checks that it belongs to user, so one user's
// name cannot be used to change another's key.
func (s *Service) ownedKey(ctx context.Context, tx store.Tx, user, id string) (*store.Record, *AccessKey, error) {
	rec, err := tx.Get(ctx, kindAccessKey, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: The Access Key with id %s cannot be found.", ErrNoSuchEntity, id)
	}
	if err != nil {
		return nil, nil, err
	}
	var k AccessKey
	if err := json.Unmarshal(rec.Data, &k); err != nil {
		return nil, nil, err
	}
	if !strings.EqualFold(k.UserName, user) {
		return nil, nil, fmt.Errorf("%w: The Access Key with id %s cannot be found.", ErrNoSuchEntity, id)
	}
	return rec, &k, nil
}

// randomID makes an AWS-style identifier: a four-letter prefix and 16
// base32 characters (80 bits).
func (s *Service) randomID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", err
	}
	return prefix + base32.StdEncoding.EncodeToString(b), nil
}

// randomSecret makes a 40-character secret access key (240 bits).
func randomSecret(r io.Reader) (string, error) {
	b := make([]byte, 30)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
