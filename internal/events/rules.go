package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/bulwarkd/bulwark/internal/store"
)

// AWS quotas we keep: they bound what one caller can make the server
// store and fan out per event.
const (
	maxRulesPerBus     = 300
	maxTargetsPerRule  = 5
	defaultMaxRetries  = 185
	defaultMaxAgeSecs  = 86400
	minMaxAgeSecs      = 60
	maxInputBytes      = 8192
	maxDescriptionSize = 512
)

var nameRE = regexp.MustCompile(`^[.\-_A-Za-z0-9]{1,64}$`)

func checkName(what, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %s %q must be 1 to 64 characters of letters, digits, '.', '-' and '_'.", ErrValidation, what, name)
	}
	return nil
}

// checkBus accepts only the default bus, by name or ARN: Bulwark has one
// bus per server.
func (s *Service) checkBus(name string) error {
	if name == "" || name == "default" || name == s.busARN() {
		return nil
	}
	return fmt.Errorf("%w: Event bus %s does not exist.", ErrNotFound, name)
}

// RuleInput is what PutRule sets.
type RuleInput struct {
	Name, EventPattern, State, Description, EventBusName string
	// Tags apply only when the rule is created.
	Tags []Tag
}

// PutRule creates or updates a rule, keeping an existing rule's targets,
// and returns its ARN.
func (s *Service) PutRule(ctx context.Context, in RuleInput) (string, error) {
	if err := checkName("Rule name", in.Name); err != nil {
		return "", err
	}
	if err := s.checkBus(in.EventBusName); err != nil {
		return "", err
	}
	if in.EventPattern == "" {
		return "", fmt.Errorf("%w: Parameter EventPattern is required: Bulwark does not run scheduled rules.", ErrValidation)
	}
	if _, err := compilePattern(in.EventPattern); err != nil {
		return "", err
	}
	switch in.State {
	case "":
		in.State = StateEnabled
	case StateEnabled, StateDisabled:
	default:
		return "", fmt.Errorf("%w: State %q is not ENABLED or DISABLED.", ErrValidation, in.State)
	}
	if len(in.Description) > maxDescriptionSize {
		return "", fmt.Errorf("%w: Description is longer than %d characters.", ErrValidation, maxDescriptionSize)
	}
	if err := checkTags(in.Tags); err != nil {
		return "", err
	}
	err := store.Retry(ctx, func() error {
		return s.store.Tx(ctx, func(tx store.Tx) error {
			rule, rec, err := s.getRule(ctx, tx, in.Name)
			if errors.Is(err, ErrNotFound) {
				n, err := tx.List(ctx, kindRule, store.ListOptions{Limit: maxRulesPerBus})
				if err != nil {
					return err
				}
				if len(n) >= maxRulesPerBus {
					return fmt.Errorf("%w: The requested resource exceeds the maximum number allowed (%d rules).", ErrLimitExceeded, maxRulesPerBus)
				}
				rule = &Rule{Name: in.Name, Created: s.now().UTC(), Tags: in.Tags}
				rec = &store.Record{Kind: kindRule, ID: in.Name}
			} else if err != nil {
				return err
			}
			rule.EventPattern, rule.State, rule.Description = in.EventPattern, in.State, in.Description
			rec.Data, err = json.Marshal(rule)
			if err != nil {
				return err
			}
			if rec.Version == 0 {
				return tx.Create(ctx, rec)
			}
			return tx.Update(ctx, rec)
		})
	}, store.AlsoRetryOn(store.ErrExists))
	if err != nil {
		return "", err
	}
	return s.ruleARN(in.Name), nil
}

// DescribeRule returns a rule.
func (s *Service) DescribeRule(ctx context.Context, bus, name string) (*Rule, error) {
	if err := s.checkBus(bus); err != nil {
		return nil, err
	}
	rule, _, err := s.getRule(ctx, s.store, name)
	return rule, err
}

// ListRules returns up to limit rules whose names start with prefix and
// sort after after, and the name to pass as after for the next page ("" on
// the last page).
func (s *Service) ListRules(ctx context.Context, bus, prefix, after string, limit int) ([]*Rule, string, error) {
	if err := s.checkBus(bus); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	recs, err := s.store.List(ctx, kindRule, store.ListOptions{Prefix: prefix, After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(recs) > limit {
		recs = recs[:limit]
		next = recs[limit-1].ID
	}
	out := make([]*Rule, 0, len(recs))
	for _, rec := range recs {
		var r Rule
		if err := json.Unmarshal(rec.Data, &r); err != nil {
			return nil, "", err
		}
		out = append(out, &r)
	}
	return out, next, nil
}

// DeleteRule deletes a rule that has no targets, as AWS requires: remove
// the targets first.
func (s *Service) DeleteRule(ctx context.Context, bus, name string) error {
	if err := s.checkBus(bus); err != nil {
		return err
	}
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		rule, _, err := s.getRule(ctx, tx, name)
		if errors.Is(err, ErrNotFound) {
			return nil // AWS: deleting a missing rule succeeds
		}
		if err != nil {
			return err
		}
		if len(rule.Targets) > 0 {
			return fmt.Errorf("%w: Rule can't be deleted since it has targets.", ErrValidation)
		}
		return tx.Delete(ctx, kindRule, name)
	})
	if err != nil {
		return err
	}
	// A rule made again under this name starts with no delivery history.
	s.forgetTargetStatus(ctx, name, nil)
	return nil
}

// SetRuleState enables or disables a rule.
func (s *Service) SetRuleState(ctx context.Context, bus, name, state string) error {
	if err := s.checkBus(bus); err != nil {
		return err
	}
	_, err := s.updateRule(ctx, name, func(r *Rule) error {
		r.State = state
		return nil
	})
	return err
}

// FailedEntry is a target PutTargets or RemoveTargets could not handle.
type FailedEntry struct {
	TargetID, ErrorCode, ErrorMessage string
}

// PutTargets adds or replaces (by ID) targets of a rule. Invalid targets
// come back as failed entries while the valid ones are stored, as AWS
// does.
func (s *Service) PutTargets(ctx context.Context, bus, ruleName string, targets []Target) ([]FailedEntry, error) {
	if err := s.checkBus(bus); err != nil {
		return nil, err
	}
	var failed []FailedEntry
	var ok []Target
	for _, t := range targets {
		if err := s.checkTarget(ctx, &t); err != nil {
			failed = append(failed, FailedEntry{TargetID: t.ID, ErrorCode: "ValidationException", ErrorMessage: strings.TrimPrefix(err.Error(), "events: ")})
			continue
		}
		ok = append(ok, t)
	}
	_, err := s.updateRule(ctx, ruleName, func(r *Rule) error {
		for _, t := range ok {
			replaced := false
			for i := range r.Targets {
				if r.Targets[i].ID == t.ID {
					r.Targets[i], replaced = t, true
				}
			}
			if !replaced {
				r.Targets = append(r.Targets, t)
			}
		}
		if len(r.Targets) > maxTargetsPerRule {
			return fmt.Errorf("%w: The requested resource exceeds the maximum number allowed (%d targets per rule).", ErrLimitExceeded, maxTargetsPerRule)
		}
		return nil
	})
	return failed, err
}

func (s *Service) checkTarget(ctx context.Context, t *Target) error {
	if err := checkName("Target id", t.ID); err != nil {
		return err
	}
	if t.Input != "" && t.InputPath != "" {
		return fmt.Errorf("%w: Only one of Input and InputPath may be set.", ErrValidation)
	}
	if t.Input != "" {
		if len(t.Input) > maxInputBytes || !json.Valid([]byte(t.Input)) {
			return fmt.Errorf("%w: Input must be valid JSON of at most %d characters.", ErrValidation, maxInputBytes)
		}
	}
	if t.InputPath != "" {
		if _, err := parseInputPath(t.InputPath); err != nil {
			return err
		}
	}
	if n := t.MaxRetryAttempts; n != nil && (*n < 0 || *n > defaultMaxRetries) {
		return fmt.Errorf("%w: MaximumRetryAttempts must be between 0 and %d.", ErrValidation, defaultMaxRetries)
	}
	if n := t.MaxEventAgeSeconds; n != nil && (*n < minMaxAgeSecs || *n > defaultMaxAgeSecs) {
		return fmt.Errorf("%w: MaximumEventAgeInSeconds must be between %d and %d.", ErrValidation, minMaxAgeSecs, defaultMaxAgeSecs)
	}
	if isURLTarget(t.Arn) {
		u, err := url.Parse(t.Arn)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: Target Arn %q is not a valid http(s) URL.", ErrValidation, t.Arn)
		}
		return nil
	}
	name, ok := s.destinationNameFromARN(t.Arn)
	if !ok {
		return fmt.Errorf("%w: Target Arn %q is not supported: Bulwark delivers to API destinations and http(s) URLs only.", ErrValidation, t.Arn)
	}
	d, err := s.DescribeAPIDestination(ctx, name)
	if err != nil {
		return err
	}
	if d.ARN != t.Arn {
		return fmt.Errorf("%w: API destination %s does not exist.", ErrNotFound, t.Arn)
	}
	return nil
}

func isURLTarget(arn string) bool {
	return strings.HasPrefix(arn, "http://") || strings.HasPrefix(arn, "https://")
}

// RemoveTargets removes targets by ID; unknown IDs are ignored, as AWS
// does. Deliveries already queued for them still complete.
func (s *Service) RemoveTargets(ctx context.Context, bus, ruleName string, ids []string) error {
	if err := s.checkBus(bus); err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	_, err := s.updateRule(ctx, ruleName, func(r *Rule) error {
		kept := r.Targets[:0]
		for _, t := range r.Targets {
			if !drop[t.ID] {
				kept = append(kept, t)
			}
		}
		r.Targets = kept
		return nil
	})
	if err != nil {
		return err
	}
	// A target added again under this id starts with no delivery history.
	s.forgetTargetStatus(ctx, ruleName, ids)
	return nil
}

// ListTargets returns a rule's targets in the order they were added.
func (s *Service) ListTargets(ctx context.Context, bus, ruleName string) ([]Target, error) {
	rule, err := s.DescribeRule(ctx, bus, ruleName)
	if err != nil {
		return nil, err
	}
	return rule.Targets, nil
}

// parseInputPath accepts the JSONPath subset "$" and "$.a.b".
func parseInputPath(p string) ([]string, error) {
	if p == "$" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(p, "$.")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w: InputPath %q is not supported: use $ or $.field.field.", ErrValidation, p)
	}
	parts := strings.Split(rest, ".")
	for _, part := range parts {
		if part == "" || strings.ContainsAny(part, "[]*") {
			return nil, fmt.Errorf("%w: InputPath %q is not supported: use $ or $.field.field.", ErrValidation, p)
		}
	}
	return parts, nil
}
