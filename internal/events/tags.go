package events

import (
	"context"
	"errors"
	"strings"

	"github.com/bulwarkd/bulwark/internal/tagging"
)

// checkTags applies AWS's tag rules (internal/tagging) with EventBridge's
// error, ValidationException.
func checkTags(tags []Tag) error {
	return tagging.Wrap(tagging.Check(tags, kvTag), ErrValidation, ErrValidation)
}

func kvTag(t Tag) tagging.Tag { return tagging.Tag(t) }

// resourceTags is api.Service.ResourceTags: the tags of the rule a rule
// ARN names, for the server's aws:ResourceTag/* condition keys. Other
// ARNs (the bus, connections, a rule not yet created) have none.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	name, ok := strings.CutPrefix(arn, s.ruleARN(""))
	if !ok || name == "" || strings.ContainsAny(name, "/*?") {
		return nil, nil
	}
	rule, _, err := s.getRule(ctx, s.store, name)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return tagging.Map(rule.Tags, kvTag), nil
}
