package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// checkTags applies EventBridge's tag limits.
func checkTags(tags []Tag) error {
	if len(tags) > 50 {
		return fmt.Errorf("%w: A rule can have at most 50 tags.", ErrValidation)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			return fmt.Errorf("%w: Tag keys must be 1 to 128 characters and values at most 256.", ErrValidation)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return fmt.Errorf("%w: Tag keys may not start with aws:.", ErrValidation)
		}
		if seen[t.Key] {
			return fmt.Errorf("%w: Tag key %q is given twice.", ErrValidation, t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

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
	m := make(map[string]string, len(rule.Tags))
	for _, t := range rule.Tags {
		m[t.Key] = t.Value
	}
	return m, nil
}
