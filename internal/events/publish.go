package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// maxEntryBytes is PutEvents' per-entry size limit (256 KiB), counted
// over Source, DetailType, Detail and Resources as AWS does.
const maxEntryBytes = 256 * 1024

// Entry is one event to publish.
type Entry struct {
	Source, DetailType, Detail, EventBusName string
	Resources                                []string
	// Time is the event's time; zero means now.
	Time time.Time
}

// EntryResult is the outcome of one Entry: an EventID or an error.
type EntryResult struct {
	EventID, ErrorCode, ErrorMessage string
}

// envelope is the event as targets receive it, in AWS's member order.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// PutEvents publishes events from an API caller. Sources starting with
// "aws." are refused per entry (NotAuthorizedForSourceException), as AWS
// does: otherwise any caller could forge ACM's expiry events and trigger
// whatever they drive.
func (s *Service) PutEvents(ctx context.Context, entries []Entry) ([]EntryResult, error) {
	return s.publish(ctx, entries, false)
}

type activeRule struct {
	name    string
	p       *pattern
	targets []Target
}

// publish validates entries, matches them against the enabled rules and
// queues one delivery per matching (event, target) in one transaction.
func (s *Service) publish(ctx context.Context, entries []Entry, internal bool) ([]EntryResult, error) {
	rules, err := s.activeRules(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	results := make([]EntryResult, len(entries))
	var queue []*store.Record
	for i, e := range entries {
		env, code, msg := s.buildEnvelope(e, now, internal)
		if code != "" {
			results[i] = EntryResult{ErrorCode: code, ErrorMessage: msg}
			continue
		}
		raw, err := json.Marshal(env)
		if err != nil {
			return nil, err
		}
		decoded, err := decodeJSON(raw)
		if err != nil {
			return nil, err
		}
		results[i].EventID = env.ID
		for _, r := range rules {
			if !r.p.match(decoded) {
				continue
			}
			for _, t := range r.targets {
				rec, err := deliveryRecord(now, &delivery{EventID: env.ID, Rule: r.name, Target: t, Event: raw, Enqueued: now})
				if err != nil {
					return nil, err
				}
				queue = append(queue, rec)
			}
		}
	}
	if len(queue) > 0 {
		err := s.store.Tx(ctx, func(tx store.Tx) error {
			for _, rec := range queue {
				if err := tx.Create(ctx, rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.nextDue.Store(0)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return results, nil
}

// buildEnvelope validates one entry and wraps it; a non-empty code is the
// entry's error.
func (s *Service) buildEnvelope(e Entry, now time.Time, internal bool) (*envelope, string, string) {
	if s.checkBus(e.EventBusName) != nil {
		return nil, "ResourceNotFoundException", "Event bus " + e.EventBusName + " does not exist."
	}
	if e.Source == "" || e.DetailType == "" || e.Detail == "" {
		return nil, "InvalidArgument", "Parameters Source, DetailType and Detail are required."
	}
	if !internal && strings.HasPrefix(e.Source, "aws.") {
		return nil, "NotAuthorizedForSourceException", "Not authorized for the source."
	}
	size := len(e.Source) + len(e.DetailType) + len(e.Detail)
	for _, r := range e.Resources {
		size += len(r)
	}
	if size > maxEntryBytes {
		return nil, "InvalidArgument", "Event entry is larger than 256 KB."
	}
	detail, err := decodeJSON([]byte(e.Detail))
	if _, isObj := detail.(map[string]any); err != nil || !isObj {
		return nil, "MalformedDetail", "Detail is malformed."
	}
	id, err := s.newUUID()
	if err != nil {
		return nil, "InternalFailure", "Could not allocate an event id."
	}
	t := e.Time
	if t.IsZero() {
		t = now
	}
	res := e.Resources
	if res == nil {
		res = []string{}
	}
	return &envelope{
		Version: "0", ID: id, DetailType: e.DetailType, Source: e.Source,
		Account: s.cfg.AccountID, Time: t.UTC().Format(time.RFC3339), Region: s.cfg.Region,
		Resources: res, Detail: json.RawMessage(e.Detail),
	}, "", ""
}

// activeRules returns the enabled rules that have targets, with their
// compiled patterns (cached by pattern text, which a deleted and
// recreated rule may change while its record version restarts).
func (s *Service) activeRules(ctx context.Context) ([]activeRule, error) {
	recs, err := s.store.List(ctx, kindRule, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []activeRule
	s.patMu.Lock()
	defer s.patMu.Unlock()
	seen := map[string]bool{}
	for _, rec := range recs {
		var r Rule
		if err := json.Unmarshal(rec.Data, &r); err != nil {
			return nil, err
		}
		seen[r.Name] = true
		if r.State != StateEnabled || len(r.Targets) == 0 {
			continue
		}
		c, ok := s.patterns[r.Name]
		if !ok || c.text != r.EventPattern {
			p, err := compilePattern(r.EventPattern)
			if err != nil {
				s.log.Warn("events: stored rule has an invalid pattern; skipping it", "rule", r.Name, "err", err)
				continue
			}
			c = cachedPattern{text: r.EventPattern, p: p}
			s.patterns[r.Name] = c
		}
		out = append(out, activeRule{name: r.Name, p: c.p, targets: r.Targets})
	}
	for name := range s.patterns {
		if !seen[name] {
			delete(s.patterns, name)
		}
	}
	return out, nil
}

// MatchesPattern reports whether event (a full event envelope in JSON)
// matches pattern: the TestEventPattern operation.
func MatchesPattern(pattern, event string) (bool, error) {
	p, err := compilePattern(pattern)
	if err != nil {
		return false, err
	}
	ev, err := validateTestEvent(event)
	if err != nil {
		return false, fmt.Errorf("%w: Parameter Event is not valid: %v.", ErrValidation, err)
	}
	return p.match(ev), nil
}
