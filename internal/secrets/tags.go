package secrets

import (
	"context"
	"errors"
	"github.com/bulwarkd/bulwark/internal/tagging"
)

// tagMap is a secret's tags as the server's aws:ResourceTag/* condition
// keys want them; never nil, so an untagged secret is "no tags", not
// "look up".
func tagMap(tags []Tag) map[string]string { return tagging.Map(tags, kvTag) }

// resourceTags is api.Service.ResourceTags: the tags of the secret a full
// secret ARN names. Anything else (a partial ARN, a pattern, a secret not
// yet created) has none.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	names, arns := s.candidates(arn)
	if len(names) == 0 || arns[0] == "" {
		return nil, nil
	}
	m, err := s.load(ctx, s.cfg.Store, arn)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.ARN != arn {
		return nil, nil
	}
	return tagMap(m.Tags), nil
}
