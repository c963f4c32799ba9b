package iam

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/tagging"
	"github.com/bulwarkd/bulwark/internal/ttlcache"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Record kinds in the store.
const (
	kindUser       = "iam/user"
	kindAccessKey  = "iam/accesskey"
	kindUserPolicy = "iam/userpolicy"
	kindUserKey    = "iam/userkey"
)

// MaxAccessKeysPerUser is AWS's quota of access keys per user.
const MaxAccessKeysPerUser = 2

// Config builds a Service.
type Config struct {
	Store     store.Store
	AccountID string
	// Clock tells the time (creation dates); nil means the real clock.
	Clock clock.Clock
	// Rand is the source of key ids and secrets; nil means crypto/rand.
	Rand io.Reader
	// CacheTTL is how long access keys and user policies are served from
	// memory; 0 means DefaultCacheTTL, negative disables the cache.
	CacheTTL time.Duration
}

// Service manages users, access keys and inline user policies.
type Service struct {
	store     store.Store
	accountID string
	now       func() time.Time
	rand      io.Reader

	// policies caches parsed policy documents by record id and version,
	// so a request does not re-parse its caller's policies.
	mu       sync.Mutex
	policies map[string]*policy.Policy

	cache caches

	// subs are called after every write (Subscribe).
	subMu   sync.Mutex
	subs    map[int]func()
	nextSub int
}

// New returns a Service over cfg.Store.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, accountID: cfg.AccountID, now: clock.OrReal(cfg.Clock).Now, rand: cfg.Rand, policies: map[string]*policy.Policy{}}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	ttl := cfg.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	s.cache = caches{credentials: ttlcache.New[*Credential](maxCacheEntries, 0, ttl, s.now, nil, nil), policies: ttlcache.New[[]*policy.Policy](maxCacheEntries, 0, ttl, s.now, nil, nil)}
	return s
}

// User is an IAM user.
type User struct {
	UserName   string
	UserID     string
	Path       string
	ARN        string
	CreateDate time.Time
	Tags       []Tag `json:",omitempty"`
}

// Tag is a key/value pair.
type Tag struct{ Key, Value string }

// AccessKey is an access key's metadata; the secret lives in the record's
// sealed Secret and is returned only once, by CreateAccessKey.
type AccessKey struct {
	AccessKeyID string
	// UserName is empty for the account root's keys.
	UserName   string
	UserID     string
	Status     string // Active | Inactive
	CreateDate time.Time
	// Bootstrap marks a root key installed from the server's configuration
	// (the dev server's printed credentials); installing another one
	// removes it, so old printed credentials stop working.
	Bootstrap bool `json:",omitempty"`
}

// checkTags applies AWS's tag rules (internal/tagging) with IAM's errors:
// LimitExceeded over the limit, InvalidInput else.
func checkTags(tags []Tag) error {
	return tagging.Wrap(tagging.Check(tags, func(t Tag) tagging.Tag { return tagging.Tag(t) }), ErrInvalidInput, ErrLimitExceeded)
}

var (
	userNameRE   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	policyNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	pathRE       = regexp.MustCompile(`^(/|/[\x21-\x7E]*/)$`)
)

func (s *Service) userARN(path, name string) string {
	return "arn:aws:iam::" + s.accountID + ":user" + path + name
}

// RootARN is the ARN of the account root principal.
func (s *Service) RootARN() string { return "arn:aws:iam::" + s.accountID + ":root" }

// CreateUser creates a user.
func (s *Service) CreateUser(ctx context.Context, name, path string, tags []Tag) (*User, error) {
	if !userNameRE.MatchString(name) {
		return nil, fmt.Errorf("%w: The specified value for userName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-", ErrValidation)
	}
	if path == "" {
		path = "/"
	}
	if !pathRE.MatchString(path) || len(path) > 512 {
		return nil, fmt.Errorf("%w: The specified value for path is invalid. It must begin and end with / and contain only printable ASCII characters.", ErrValidation)
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	id, err := s.randomID("AIDA")
	if err != nil {
		return nil, err
	}
	u := &User{UserName: name, UserID: id, Path: path, ARN: s.userARN(path, name), CreateDate: s.now().UTC().Truncate(time.Second), Tags: tags}
	data, _ := json.Marshal(u)
	err = s.write(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, &store.Record{Kind: kindUser, ID: userKey(name), Data: data})
	})
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("%w: User with name %s already exists.", ErrEntityAlreadyExists, name)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// userKey is case-insensitive because IAM user names are: "Bob" and "bob"
// cannot both exist.
func userKey(name string) string { return strings.ToLower(name) }

// GetUser returns a user by name.
func (s *Service) GetUser(ctx context.Context, name string) (*User, error) {
	return getUser(ctx, s.store, name)
}

func getUser(ctx context.Context, r store.Reader, name string) (*User, error) {
	rec, err := r.Get(ctx, kindUser, userKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: The user with name %s cannot be found.", ErrNoSuchEntity, name)
	}
	if err != nil {
		return nil, err
	}
	var u User
	if err := json.Unmarshal(rec.Data, &u); err != nil {
		return nil, fmt.Errorf("decode user %s: %w", name, err)
	}
	return &u, nil
}

// ListUsers returns users whose path starts with pathPrefix, in name order,
// after marker, at most maxItems (0 = 100). The returned marker is empty when
// the list is complete.
func (s *Service) ListUsers(ctx context.Context, pathPrefix, marker string, maxItems int) ([]*User, string, error) {
	if maxItems <= 0 {
		maxItems = 100
	}
	if pathPrefix == "" {
		pathPrefix = "/"
	}
	var out []*User
	after := marker
	for {
		recs, err := s.store.List(ctx, kindUser, store.ListOptions{After: after, Limit: 500})
		if err != nil {
			return nil, "", err
		}
		for _, rec := range recs {
			var u User
			if err := json.Unmarshal(rec.Data, &u); err != nil {
				return nil, "", err
			}
			if !strings.HasPrefix(u.Path, pathPrefix) {
				continue
			}
			if len(out) == maxItems {
				return out, out[len(out)-1].UserName, nil
			}
			out = append(out, &u)
		}
		if len(recs) < 500 {
			return out, "", nil
		}
		after = recs[len(recs)-1].ID
	}
}

// DeleteUser deletes a user that has no access keys and no policies left,
// as IAM requires.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	return s.write(ctx, func(tx store.Tx) error {
		if _, err := getUser(ctx, tx, name); err != nil {
			return err
		}
		keys, err := userAccessKeys(ctx, tx, name)
		if err != nil {
			return err
		}
		pols, err := tx.List(ctx, kindUserPolicy, store.ListOptions{Prefix: userKey(name) + "/"})
		if err != nil {
			return err
		}
		if len(keys) > 0 || len(pols) > 0 {
			return fmt.Errorf("%w: Cannot delete entity, must delete access keys and policies first.", ErrDeleteConflict)
		}
		return tx.Delete(ctx, kindUser, userKey(name))
	})
}

func userAccessKeys(ctx context.Context, r store.Reader, user string) ([]*AccessKey, error) {
	// Keys are stored by id for the per-request lookup; this index record
	// per (user, key) lists a user's keys without a scan.
	idx, err := r.List(ctx, kindUserKey, store.ListOptions{Prefix: userKey(user) + "/"})
	if err != nil {
		return nil, err
	}
	out := make([]*AccessKey, 0, len(idx))
	for _, rec := range idx {
		k, err := getAccessKey(ctx, r, strings.TrimPrefix(rec.ID, userKey(user)+"/"))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateDate.Before(out[j].CreateDate) })
	return out, nil
}
