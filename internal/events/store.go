package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// Record kinds. Rules keep their targets inline so that DeleteRule's
// "no targets" check and PutTargets are one record's read-modify-write.
const (
	kindRule        = "events/rule"        // ID: rule name
	kindConnection  = "events/connection"  // ID: connection name; Secret: credentials
	kindDestination = "events/destination" // ID: API destination name
	// kindDelivery is the delivery queue. Its ID starts with the due time
	// so that listing in ID order yields the earliest deliveries first.
	kindDelivery = "events/delivery"
)

// Rule is a rule on the default bus.
type Rule struct {
	Name         string    `json:"name"`
	EventPattern string    `json:"eventPattern"`
	State        string    `json:"state"`
	Description  string    `json:"description,omitempty"`
	Created      time.Time `json:"created"`
	Targets      []Target  `json:"targets,omitempty"`
	// Tags are set when the rule is created (PutRule ignores them on an
	// update, as in AWS) and feed aws:ResourceTag/* conditions.
	Tags []Tag `json:"tags,omitempty"`
}

// Tag is a rule's tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Target is where a rule sends matching events.
type Target struct {
	ID  string `json:"id"`
	Arn string `json:"arn"`
	// Input replaces the event with constant JSON; InputPath selects part
	// of the event ("$.detail"). At most one is set.
	Input     string `json:"input,omitempty"`
	InputPath string `json:"inputPath,omitempty"`
	// HTTP adds path, header and query parameters to the request.
	HTTP *HTTPParameters `json:"http,omitempty"`
	// MaxRetryAttempts and MaxEventAgeSeconds are the RetryPolicy; nil
	// means the AWS defaults (185 and 86400).
	MaxRetryAttempts   *int `json:"maxRetryAttempts,omitempty"`
	MaxEventAgeSeconds *int `json:"maxEventAgeSeconds,omitempty"`
}

// HTTPParameters are a target's HttpParameters.
type HTTPParameters struct {
	PathParameterValues []string          `json:"path,omitempty"`
	Headers             map[string]string `json:"headers,omitempty"`
	Query               map[string]string `json:"query,omitempty"`
}

// Rule states.
const (
	StateEnabled  = "ENABLED"
	StateDisabled = "DISABLED"
)

// getJSON reads one record into v, returning its version.
func getJSON(ctx context.Context, r store.Reader, kind, id string, v any) (*store.Record, error) {
	rec, err := r.Get(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(rec.Data, v); err != nil {
		return nil, fmt.Errorf("events: decode %s %q: %w", kind, id, err)
	}
	return rec, nil
}

func (s *Service) getRule(ctx context.Context, r store.Reader, name string) (*Rule, *store.Record, error) {
	var rule Rule
	rec, err := getJSON(ctx, r, kindRule, name, &rule)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: Rule %s does not exist on EventBus default.", ErrNotFound, name)
	}
	if err != nil {
		return nil, nil, err
	}
	return &rule, rec, nil
}

// updateRule applies fn to the stored rule and writes it back, retrying
// when another writer got there first.
func (s *Service) updateRule(ctx context.Context, name string, fn func(*Rule) error) (*Rule, error) {
	var out *Rule
	err := store.Retry(ctx, func() error {
		return s.store.Tx(ctx, func(tx store.Tx) error {
			rule, rec, err := s.getRule(ctx, tx, name)
			if err != nil {
				return err
			}
			if err := fn(rule); err != nil {
				return err
			}
			data, err := json.Marshal(rule)
			if err != nil {
				return err
			}
			rec.Data = data
			out = rule
			return tx.Update(ctx, rec)
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// delivery is one queued (event, target) pair.
type delivery struct {
	EventID  string          `json:"eventId"`
	Rule     string          `json:"rule"`
	Target   Target          `json:"target"`
	Event    json.RawMessage `json:"event"`
	Enqueued time.Time       `json:"enqueued"`
	// Attempts counts the attempts made so far.
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
}

// deliveryID orders the queue by due time; the event id, rule and target
// make it unique.
func deliveryID(due time.Time, d *delivery) string {
	n := due.UnixNano()
	if n < 0 {
		n = 0
	}
	return fmt.Sprintf("%020d/%s/%s/%s", n, d.EventID, d.Rule, d.Target.ID)
}

// dueOf reads the due time back from a delivery ID.
func dueOf(id string) (time.Time, bool) {
	head, _, ok := strings.Cut(id, "/")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

func deliveryRecord(due time.Time, d *delivery) (*store.Record, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &store.Record{Kind: kindDelivery, ID: deliveryID(due, d), Data: data}, nil
}
