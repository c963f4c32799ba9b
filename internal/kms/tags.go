package kms

import (
	"context"
	"errors"
	"github.com/bulwarkd/bulwark/internal/tagging"
	"strings"
)

// tagMap is a key's tags as the server's aws:ResourceTag/* condition keys
// want them; never nil, so an untagged key is "no tags", not "look up".
func tagMap(tags []tag) map[string]string { return tagging.Map(tags, kvTag) }

// resourceTags is api.Service.ResourceTags: the tags of the key a key ARN
// names. Aliases have no tags, and an ARN of no key (not yet created, or
// a pattern) has none either.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	id, ok := strings.CutPrefix(arn, s.keyARN(""))
	if !ok || id == "" || strings.ContainsAny(id, "/*?") {
		return nil, nil
	}
	lk, err := s.getKey(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return tagMap(lk.meta.Tags), nil
}
