package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// kindTargetStatus holds the outcome of the last delivery attempt per rule
// target (ID: rule/target id), written with the attempt's settlement so a
// reader sees what happened to deliveries that left the queue.
const kindTargetStatus = "events/targetstatus"

// Outcomes of a delivery attempt.
const (
	OutcomeDelivered = "DELIVERED" // the endpoint answered 2xx
	OutcomeRetrying  = "RETRYING"  // failed, queued again with backoff
	OutcomeDropped   = "DROPPED"   // failed for good: no retry left, too old, or a final answer
)

// TargetStatus is the last delivery attempt to one rule target.
type TargetStatus struct {
	Rule      string    `json:"rule"`
	TargetID  string    `json:"targetId"`
	EventID   string    `json:"eventId"`
	Time      time.Time `json:"time"`
	Outcome   string    `json:"outcome"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
}

// PendingDelivery is one delivery waiting in the queue: not yet attempted,
// or failed and waiting for its retry.
type PendingDelivery struct {
	EventID   string
	TargetID  string
	Enqueued  time.Time
	NextDue   time.Time
	Attempts  int
	LastError string
}

// RuleDeliveries is what RuleDeliveries reports.
type RuleDeliveries struct {
	// Targets holds the last attempt per current target of the rule that
	// has had one.
	Targets []TargetStatus
	// Pending are the rule's queued deliveries, earliest due first.
	Pending []PendingDelivery
	// Next continues the queue scan ("" when it reached the end).
	Next string
}

// maxQueueScan bounds the queue records one RuleDeliveries call reads:
// the queue holds every rule's deliveries, so a rule with few pending ones
// behind a long queue answers with what it found and where to go on.
const maxQueueScan = 1000

// RuleDeliveries reports a rule's delivery state: the last attempt per
// target, and up to limit queued deliveries after the queue position
// after ("" for the start).
func (s *Service) RuleDeliveries(ctx context.Context, bus, ruleName, after string, limit int) (*RuleDeliveries, error) {
	rule, err := s.DescribeRule(ctx, bus, ruleName)
	if err != nil {
		return nil, err
	}
	out := &RuleDeliveries{Targets: []TargetStatus{}, Pending: []PendingDelivery{}}
	if after == "" {
		for _, t := range rule.Targets {
			var st TargetStatus
			_, err := getJSON(ctx, s.store, kindTargetStatus, statusID(rule.Name, t.ID), &st)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out.Targets = append(out.Targets, st)
		}
	}
	for scanned := 0; scanned < maxQueueScan; {
		recs, err := s.store.List(ctx, kindDelivery, store.ListOptions{After: after, Limit: min(deliveryBatch*4, maxQueueScan-scanned)})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return out, nil
		}
		for _, rec := range recs {
			scanned++
			after = rec.ID
			// IDs are due/event/rule/target: the rule is the third part.
			if p := strings.SplitN(rec.ID, "/", 4); len(p) != 4 || p[2] != rule.Name {
				continue
			}
			var d delivery
			if err := json.Unmarshal(rec.Data, &d); err != nil {
				continue
			}
			due, _ := dueOf(rec.ID)
			out.Pending = append(out.Pending, PendingDelivery{EventID: d.EventID, TargetID: d.Target.ID, Enqueued: d.Enqueued, NextDue: due, Attempts: d.Attempts, LastError: d.LastError})
			if len(out.Pending) == limit {
				out.Next = rec.ID
				return out, nil
			}
		}
	}
	out.Next = after
	return out, nil
}

func statusID(rule, target string) string { return rule + "/" + target }

// forgetTargetStatus deletes the last-attempt records of a rule's targets
// ids (nil: all of the rule's). It is best effort: a record left behind
// only shows an old attempt, and a delivery still queued for a removed
// target writes one again when it settles.
func (s *Service) forgetTargetStatus(ctx context.Context, rule string, ids []string) {
	if ids == nil {
		recs, err := s.store.List(ctx, kindTargetStatus, store.ListOptions{Prefix: rule + "/"})
		if err != nil {
			s.log.Warn("events: list delivery status", "rule", rule, "err", err)
			return
		}
		for _, r := range recs {
			ids = append(ids, strings.TrimPrefix(r.ID, rule+"/"))
		}
	}
	if len(ids) == 0 {
		return
	}
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			if err := tx.Delete(ctx, kindTargetStatus, statusID(rule, id)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("events: forget delivery status", "rule", rule, "err", err)
	}
}

func targetStatusRecord(now time.Time, d *delivery, outcome string, err error) (*store.Record, error) {
	st := TargetStatus{Rule: d.Rule, TargetID: d.Target.ID, EventID: d.EventID, Time: now.UTC(), Outcome: outcome, Attempts: d.Attempts}
	if err != nil {
		st.LastError = err.Error()
	}
	data, merr := json.Marshal(st)
	if merr != nil {
		return nil, merr
	}
	return &store.Record{Kind: kindTargetStatus, ID: statusID(d.Rule, d.Target.ID), Data: data}, nil
}

// redactURLError keeps an HTTP client error's operation and cause but
// drops the URL's query, fragment and user information: connection
// parameters in the query (API keys) are secret, and the error is stored,
// logged and shown by ListRuleDeliveries.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	u.RawQuery, u.Fragment, u.User, u.RawFragment = "", "", nil, ""
	return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
}
