package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// UserPolicy is an inline policy attached to a user.
type UserPolicy struct {
	UserName       string
	PolicyName     string
	PolicyDocument string
}

// MaxPolicySize is IAM's limit on a user's inline policy document.
const MaxPolicySize = 2048 * 5

// PutUserPolicy validates and stores an inline policy (create or replace).
func (s *Service) PutUserPolicy(ctx context.Context, user, name, doc string) error {
	if !policyNameRE.MatchString(name) {
		return fmt.Errorf("%w: The specified value for policyName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-", ErrValidation)
	}
	if len(doc) > MaxPolicySize {
		return fmt.Errorf("%w: Maximum policy size of %d bytes exceeded for user %s", ErrLimitExceeded, MaxPolicySize, user)
	}
	if _, err := policy.ParseIdentity([]byte(doc)); err != nil {
		return fmt.Errorf("%w: %s", ErrMalformedPolicy, err.Error())
	}
	return s.write(ctx, func(tx store.Tx) error {
		u, err := getUser(ctx, tx, user)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(UserPolicy{UserName: u.UserName, PolicyName: name, PolicyDocument: doc})
		return tx.Put(ctx, &store.Record{Kind: kindUserPolicy, ID: userKey(user) + "/" + name, Data: data})
	})
}

// GetUserPolicy returns an inline policy.
func (s *Service) GetUserPolicy(ctx context.Context, user, name string) (*UserPolicy, error) {
	if _, err := s.GetUser(ctx, user); err != nil {
		return nil, err
	}
	rec, err := s.store.Get(ctx, kindUserPolicy, userKey(user)+"/"+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: The user policy with name %s cannot be found.", ErrNoSuchEntity, name)
	}
	if err != nil {
		return nil, err
	}
	var p UserPolicy
	return &p, json.Unmarshal(rec.Data, &p)
}

// ListUserPolicies returns the names of a user's inline policies.
func (s *Service) ListUserPolicies(ctx context.Context, user string) ([]string, error) {
	if _, err := s.GetUser(ctx, user); err != nil {
		return nil, err
	}
	recs, err := s.store.List(ctx, kindUserPolicy, store.ListOptions{Prefix: userKey(user) + "/"})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(recs))
	for _, rec := range recs {
		var p UserPolicy
		if err := json.Unmarshal(rec.Data, &p); err != nil {
			return nil, err
		}
		names = append(names, p.PolicyName)
	}
	return names, nil
}

// DeleteUserPolicy removes an inline policy.
func (s *Service) DeleteUserPolicy(ctx context.Context, user, name string) error {
	return s.write(ctx, func(tx store.Tx) error {
		if _, err := getUser(ctx, tx, user); err != nil {
			return err
		}
		err := tx.Delete(ctx, kindUserPolicy, userKey(user)+"/"+name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: The user policy with name %s cannot be found.", ErrNoSuchEntity, name)
		}
		return err
	})
}

// IdentityPolicies returns the parsed identity policies that apply to p.
// The root gets a single allow-everything policy: AWS's root may do
// anything that no resource policy forbids.
func (s *Service) IdentityPolicies(ctx context.Context, p api.Principal) ([]*policy.Policy, error) {
	if p.Type == api.Root {
		return []*policy.Policy{rootPolicy}, nil
	}
	key := userKey(p.UserName)
	if pols, ok := s.cache.policies.Get(key); ok {
		return pols, nil
	}
	recs, err := s.store.List(ctx, kindUserPolicy, store.ListOptions{Prefix: key + "/"})
	if err != nil {
		return nil, err
	}
	out := make([]*policy.Policy, 0, len(recs))
	for _, rec := range recs {
		pol, err := s.parsedPolicy(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, pol)
	}
	s.cache.policies.Put(key, out, 0)
	return out, nil
}

// parsedPolicy parses a stored policy, caching by document text so a
// request does not re-parse its caller's policies; keying by content (not
// record id and version) means a replaced or re-created policy can never
// hit a stale entry.
func (s *Service) parsedPolicy(rec *store.Record) (*policy.Policy, error) {
	var up UserPolicy
	if err := json.Unmarshal(rec.Data, &up); err != nil {
		return nil, err
	}
	s.mu.Lock()
	pol, ok := s.policies[up.PolicyDocument]
	s.mu.Unlock()
	if ok {
		return pol, nil
	}
	pol, err := policy.ParseIdentity([]byte(up.PolicyDocument))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.policies) >= maxCachedPolicies {
		clear(s.policies)
	}
	s.policies[up.PolicyDocument] = pol
	s.mu.Unlock()
	return pol, nil
}

// maxCachedPolicies bounds the parsed-policy cache; when full it is simply
// emptied, which costs a re-parse and never a wrong answer.
const maxCachedPolicies = 4096

var rootPolicy = mustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)

func mustParse(doc string) *policy.Policy {
	p, err := policy.ParseIdentity([]byte(doc))
	if err != nil {
		panic(err)
	}
	return p
}

// queryEscapePolicy encodes a policy document the way IAM returns it:
// URL-encoded (RFC 3986), which the AWS CLI decodes for display.
func queryEscapePolicy(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}
