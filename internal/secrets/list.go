package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Filter is a ListSecrets / BatchGetSecretValue filter. Values are OR-ed,
// filters AND-ed; a value starting with "!" negates.
type Filter struct {
	Key    string
	Values []string
}

// ListInput selects and orders ListSecrets.
type ListInput struct {
	Filters                []Filter
	IncludePlannedDeletion bool
	SortBy, SortOrder      string // created-date (default), last-accessed-date, last-changed-date, name; asc (default) or desc
	MaxResults             int    // 1–100, default 100
	NextToken              string
}

func validateFilters(fs []Filter) error {
	if len(fs) > 10 {
		return fmt.Errorf("%w: You can specify at most 10 filters.", ErrInvalidParameter)
	}
	for _, f := range fs {
		switch f.Key {
		case "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all":
		default:
			return fmt.Errorf("%w: Invalid filter key %q.", ErrInvalidParameter, f.Key)
		}
		if len(f.Values) == 0 || len(f.Values) > 10 {
			return fmt.Errorf("%w: Each filter needs 1 to 10 values.", ErrInvalidParameter)
		}
	}
	return nil
}

// ListSecrets lists secret metadata. Like AWS it needs
// secretsmanager:ListSecrets on "*" and does not filter by per-secret
// permissions.
func (s *Service) ListSecrets(ctx context.Context, c *api.Call, in ListInput) ([]*Secret, string, error) {
	if err := validateFilters(in.Filters); err != nil {
		return nil, "", err
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "secretsmanager:ListSecrets", Resource: "*"}); err != nil {
		return nil, "", err
	}
	all, err := s.matching(ctx, in.Filters, in.IncludePlannedDeletion)
	if err != nil {
		return nil, "", err
	}
	if err := sortSecrets(all, in.SortBy, in.SortOrder); err != nil {
		return nil, "", err
	}
	return page(all, in.MaxResults, 100, in.NextToken)
}

// matching returns the live secrets that pass every filter.
func (s *Service) matching(ctx context.Context, fs []Filter, withDeleted bool) ([]*Secret, error) {
	recs, err := s.cfg.Store.List(ctx, kindSecret, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Secret
	for _, r := range recs {
		m, err := decodeSecret(r)
		if err != nil {
			return nil, err
		}
		if m.deleted() && (!withDeleted || !now.Before(m.PurgeAt)) {
			continue
		}
		if s.passes(m, fs) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *Service) passes(m *Secret, fs []Filter) bool {
	for _, f := range fs {
		if !s.filterMatches(m, f) {
			return false
		}
	}
	return true
}

// filterMatches applies one filter: positive values are OR-ed, and a
// negated value ("!x") excludes secrets that match x.
func (s *Service) filterMatches(m *Secret, f Filter) bool {
	anyPositive, matched := false, false
	for _, v := range f.Values {
		neg := strings.HasPrefix(v, "!")
		v = strings.TrimPrefix(v, "!")
		hit := s.fieldMatches(m, f.Key, v)
		if neg {
			if hit {
				return false
			}
			continue
		}
		anyPositive = true
		matched = matched || hit
	}
	return !anyPositive || matched
}

// fieldMatches: prefix matches as AWS documents them (name, tag-key and
// tag-value case-sensitive; description and all not).
func (s *Service) fieldMatches(m *Secret, key, v string) bool {
	switch key {
	case "name":
		return strings.HasPrefix(m.Name, v)
	case "description":
		return strings.HasPrefix(strings.ToLower(m.Description), strings.ToLower(v))
	case "tag-key":
		for _, t := range m.Tags {
			if strings.HasPrefix(t.Key, v) {
				return true
			}
		}
	case "tag-value":
		for _, t := range m.Tags {
			if strings.HasPrefix(t.Value, v) {
				return true
			}
		}
	case "primary-region":
		return v == s.cfg.Region
	case "owning-service":
		return false
	case "all":
		lv := strings.ToLower(v)
		fields := []string{m.Name, m.Description, s.cfg.Region}
		for _, t := range m.Tags {
			fields = append(fields, t.Key, t.Value)
		}
		for _, f := range fields {
			for _, w := range strings.FieldsFunc(strings.ToLower(f), func(r rune) bool { return strings.ContainsRune(" /_-.+=@", r) }) {
				if strings.HasPrefix(w, lv) {
					return true
				}
			}
			if strings.HasPrefix(strings.ToLower(f), lv) {
				return true
			}
		}
	}
	return false
}

func sortSecrets(list []*Secret, by, order string) error {
	var key func(*Secret) time.Time
	switch by {
	case "", "created-date":
		key = func(m *Secret) time.Time { return m.Created }
	case "last-accessed-date":
		key = func(m *Secret) time.Time { return m.LastAccessed }
	case "last-changed-date":
		key = func(m *Secret) time.Time { return m.LastChanged }
	case "name":
	default:
		return fmt.Errorf("%w: Invalid SortBy %q.", ErrInvalidParameter, by)
	}
	desc := false
	switch order {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return fmt.Errorf("%w: Invalid SortOrder %q.", ErrInvalidParameter, order)
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if desc {
			a, b = b, a
		}
		if key != nil && !key(a).Equal(key(b)) {
			return key(a).Before(key(b))
		}
		return a.Name < b.Name
	})
	return nil
}

// page cuts one page from a fully sorted list. The token is the offset,
// opaque to clients.
func page[T any](all []T, max, limit int, token string) ([]T, string, error) {
	if max == 0 {
		max = limit
	}
	if max < 1 || max > limit {
		return nil, "", fmt.Errorf("%w: MaxResults must be between 1 and %d.", ErrInvalidParameter, limit)
	}
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "o:") || n < 0 || n > len(all) {
			return nil, "", fmt.Errorf("%w: The NextToken value is invalid.", ErrInvalidNextToken)
		}
		start = n
	}
	end := min(start+max, len(all))
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(end)))
	}
	return all[start:end], next, nil
}

// VersionEntry is one ListSecretVersionIds entry.
type VersionEntry struct {
	ID string
	*Version
}

// ListSecretVersionIds lists a secret's versions, newest first; unlabelled
// (deprecated) versions only with includeDeprecated.
func (s *Service) ListSecretVersionIds(ctx context.Context, c *api.Call, id string, includeDeprecated bool, max int, token string) (*Secret, []VersionEntry, string, error) {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, nil, "", err
	}
	if err := s.authorize(ctx, c, "ListSecretVersionIds", m, nil); err != nil {
		return nil, nil, "", err
	}
	var all []VersionEntry
	for vid, v := range m.Versions {
		if len(v.Stages) > 0 || includeDeprecated {
			all = append(all, VersionEntry{ID: vid, Version: v})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].Created.Equal(all[j].Created) {
			return all[i].Created.After(all[j].Created)
		}
		return all[i].ID < all[j].ID
	})
	out, next, err := page(all, max, 100, token)
	return m, out, next, err
}

// BatchError is a per-secret failure of BatchGetSecretValue.
type BatchError struct {
	SecretID, Code, Message string
}

// BatchGetSecretValue reads the AWSCURRENT value of up to 20 secrets,
// named by ids or chosen by filters (not both). Secrets the caller may not
// read are reported in the errors, not fatal.
func (s *Service) BatchGetSecretValue(ctx context.Context, c *api.Call, ids []string, fs []Filter, max int, token string) ([]*GetResult, []BatchError, string, error) {
	if (len(ids) == 0) == (len(fs) == 0) {
		return nil, nil, "", fmt.Errorf("%w: Either 'SecretIdList' or 'Filters' must be provided, but not both.", ErrInvalidParameter)
	}
	if len(ids) > 20 {
		return nil, nil, "", fmt.Errorf("%w: SecretIdList can have at most 20 entries.", ErrInvalidParameter)
	}
	if err := validateFilters(fs); err != nil {
		return nil, nil, "", err
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "secretsmanager:BatchGetSecretValue", Resource: "*"}); err != nil {
		return nil, nil, "", err
	}
	next := ""
	if len(fs) > 0 {
		// Filters list secrets, so, as in AWS, they need ListSecrets too.
		if err := c.Authorize(ctx, api.AuthzRequest{Action: "secretsmanager:ListSecrets", Resource: "*"}); err != nil {
			return nil, nil, "", err
		}
		all, err := s.matching(ctx, fs, false)
		if err != nil {
			return nil, nil, "", err
		}
		_ = sortSecrets(all, "name", "asc")
		sel, nt, err := page(all, max, 20, token)
		if err != nil {
			return nil, nil, "", err
		}
		next = nt
		for _, m := range sel {
			ids = append(ids, m.ARN)
		}
	}
	var vals []*GetResult
	var errs []BatchError
	for _, id := range ids {
		r, err := s.GetSecretValue(ctx, c, id, "", "")
		if err != nil {
			var ae *awsproto.Error
			var ad *awsproto.AccessDenied
			switch w := errorTable.Convert(err); {
			case errors.As(w, &ae):
				errs = append(errs, BatchError{SecretID: id, Code: ae.Code, Message: ae.Message})
			case errors.As(w, &ad):
				errs = append(errs, BatchError{SecretID: id, Code: awsproto.CodeAccessDenied, Message: ad.Error()})
			default:
				return nil, nil, "", err
			}
			continue
		}
		vals = append(vals, r)
	}
	return vals, errs, next, nil
}
