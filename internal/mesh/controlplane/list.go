package controlplane

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/tagging"
)

// Page is one page of a List* answer.
type Page struct {
	Resources []*Resource
	// NextToken continues the listing; empty on the last page.
	NextToken string
}

// List returns the resources of kind in a mesh (or under a router or
// gateway for routes and gateway routes; parent.Mesh only for meshes, which
// ignores it), in name order. limit 0 means 100. The token is opaque to the
// caller: the last id of the previous page, so pages stay correct while
// resources come and go.
func (s *Service) List(ctx context.Context, kind Kind, parent Key, limit int, token string) (*Page, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 100 {
		return nil, fmt.Errorf("%w: limit: must be between 1 and 100", ErrBadRequest)
	}
	prefix := ""
	if kind != KindMesh {
		if err := checkName("meshName", parent.Mesh); err != nil {
			return nil, err
		}
		prefix = parent.Mesh + "/"
		if err := s.checkParents(ctx, s.cfg.Store, kind, parent); err != nil {
			return nil, err
		}
		if kinds[kind].hasParent {
			prefix = parent.Mesh + "/" + parent.Parent + "/"
		}
	}
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(b), prefix) {
			return nil, fmt.Errorf("%w: nextToken: is not a token this listing returned", ErrBadRequest)
		}
		after = string(b)
	}
	recs, err := s.cfg.Store.List(ctx, kinds[kind].storeKind, store.ListOptions{Prefix: prefix, After: after, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	page := &Page{}
	if len(recs) > limit {
		recs = recs[:limit]
		page.NextToken = base64.RawURLEncoding.EncodeToString([]byte(recs[len(recs)-1].ID))
	}
	for _, r := range recs {
		res, err := decodeResource(r)
		if err != nil {
			return nil, err
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

// Resolve maps an App Mesh ARN of this account and region to its resource
// kind and key; a malformed or foreign ARN is BadRequestException.
func (s *Service) Resolve(arn string) (Kind, Key, error) {
	kind, key, ok := s.parseARN(arn)
	if !ok {
		return 0, Key{}, fmt.Errorf("%w: resourceArn: %s is not an App Mesh resource ARN of account %s in %s", ErrBadRequest, arn, s.cfg.AccountID, s.cfg.Region)
	}
	if err := checkKey(kind, key); err != nil {
		return 0, Key{}, fmt.Errorf("%w: resourceArn: %v", ErrBadRequest, err)
	}
	return kind, key, nil
}

// TagResource adds or replaces tags on a resource. More than 50 tags in
// all is TooManyTagsException, and then none is applied.
func (s *Service) TagResource(ctx context.Context, kind Kind, k Key, tags []Tag) error {
	if err := checkTags(tags, "tags"); err != nil {
		return err
	}
	_, err := s.update(ctx, kind, k, func(_ store.Tx, res *Resource) error {
		merged := tagging.Merge(res.Tags, tags, kvTag)
		if len(merged) > tagging.MaxTags {
			return fmt.Errorf("%w: The resource would have %d tags; at most %d are allowed. None of the tags were applied.", ErrTooManyTags, len(merged), tagging.MaxTags)
		}
		res.Tags = merged
		return nil
	})
	return err
}

// UntagResource removes tags by key; keys the resource lacks are ignored.
func (s *Service) UntagResource(ctx context.Context, kind Kind, k Key, keys []string) error {
	if len(keys) > tagging.MaxTags {
		return fmt.Errorf("%w: tagKeys: at most %d keys are allowed", ErrBadRequest, tagging.MaxTags)
	}
	for i, key := range keys {
		if err := tagging.CheckKey(i, key); err != nil {
			return fmt.Errorf("%w: tagKeys: %s", ErrBadRequest, err.(*tagging.Error).Message())
		}
	}
	_, err := s.update(ctx, kind, k, func(_ store.Tx, res *Resource) error {
		res.Tags = tagging.RemoveKeys(res.Tags, keys, kvTag)
		return nil
	})
	return err
}

// ListTags pages through a resource's tags (limit 0 means 100).
func (s *Service) ListTags(ctx context.Context, kind Kind, k Key, limit int, token string) ([]Tag, string, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 100 {
		return nil, "", fmt.Errorf("%w: limit: must be between 1 and 100", ErrBadRequest)
	}
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("%w: nextToken: is not a token this listing returned", ErrBadRequest)
		}
		start = n
	}
	res, err := get(ctx, s.cfg.Store, kind, k)
	if err != nil {
		return nil, "", err
	}
	tags := []Tag{}
	if start < len(res.Tags) {
		tags = res.Tags[start:]
	}
	next := ""
	if len(tags) > limit {
		tags = tags[:limit]
		next = strconv.Itoa(start + limit)
	}
	return tags, next, nil
}
