package pca

import (
	"context"
	"errors"
	"strings"

	"github.com/bulwarkd/bulwark/internal/tagging"

	"github.com/bulwarkd/bulwark/internal/store"
)

// resourceTags is api.Service.ResourceTags: the tags of the CA a CA ARN
// names, for the server's aws:ResourceTag/* condition keys. An ARN of no
// CA (not yet created, a pattern, not a CA ARN) has none.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	id, err := s.parseCAARN(arn)
	if err != nil || id == "" || strings.ContainsAny(id, "*?") {
		return nil, nil
	}
	l, err := s.loadCA(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return tagging.Map(l.rec.Tags, kvTag), nil
}
