package acm

import (
	"context"
	"errors"
	"strings"

	"github.com/bulwarkd/bulwark/internal/tagging"

	"github.com/bulwarkd/bulwark/internal/store"
)

// resourceTags is api.Service.ResourceTags: the tags of the certificate a
// certificate ARN names, for the server's aws:ResourceTag/* condition
// keys. An ARN of no certificate (not yet created, a pattern) has none.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	id, err := s.parseARN(arn)
	if err != nil || id == "" || strings.ContainsAny(id, "*?") {
		return nil, nil
	}
	c, err := s.getCert(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return tagging.Map(c.Tags, kvTag), nil
}
