package events

import (
	"context"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// DeliveriesAPI describes Bulwark's read-only extension over the delivery
// state (signing name "bulwark", JSON 1.1 target prefix "BulwarkEvents"):
// EventBridge has no API that shows what happened to a rule's deliveries,
// and the web console shows them next to the rules. Like every API it is
// authorized (bulwark:ListRuleDeliveries on the rule ARN) and audited.
func (s *Service) DeliveriesAPI() *api.Service {
	return &api.Service{Name: "bulwark", EventSource: "bulwark.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "BulwarkEvents", Errors: errorTable,
		Operations: map[string]api.Operation{
			"ListRuleDeliveries": {Handler: api.JSON(s.apiListRuleDeliveries), ReadOnly: true},
		}}
}

type listRuleDeliveriesInput struct {
	Rule         string `json:"Rule" required:"true"`
	EventBusName string `json:"EventBusName,omitempty"`
	MaxResults   int    `json:"MaxResults,omitempty"`
	NextToken    string `json:"NextToken,omitempty"`
}

// Validate bounds MaxResults (1 to 100, default 50).
func (in *listRuleDeliveriesInput) Validate() error {
	if in.MaxResults < 0 || in.MaxResults > 100 {
		return awsproto.Validation("MaxResults must be between 1 and 100.")
	}
	return checkName("Rule name", in.Rule)
}

type wireTargetStatus struct {
	TargetID  string         `json:"Id"`
	EventID   string         `json:"EventId"`
	Time      *awsproto.Time `json:"Time"`
	Outcome   string         `json:"Outcome"`
	Attempts  int            `json:"Attempts"`
	LastError string         `json:"LastError,omitempty"`
}

type wirePending struct {
	EventID       string         `json:"EventId"`
	TargetID      string         `json:"TargetId"`
	EnqueuedAt    *awsproto.Time `json:"EnqueuedAt"`
	NextAttemptAt *awsproto.Time `json:"NextAttemptAt"`
	Attempts      int            `json:"Attempts"`
	LastError     string         `json:"LastError,omitempty"`
}

type listRuleDeliveriesOutput struct {
	Targets   []wireTargetStatus `json:"Targets"`
	Pending   []wirePending      `json:"Pending"`
	NextToken string             `json:"NextToken,omitempty"`
}

func (s *Service) apiListRuleDeliveries(ctx context.Context, c *api.Call, in *listRuleDeliveriesInput) (*listRuleDeliveriesOutput, error) {
	// Its own action: event ids and endpoint errors are more than
	// ListTargetsByRule tells.
	if err := s.authorize(ctx, c, "bulwark:ListRuleDeliveries", s.ruleARN(in.Rule), nil); err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The NextToken is not valid: start again without it.")
	}
	// A token is a queue position of this rule's deliveries: due time,
	// then the rest of the record id.
	if after != "" && !strings.Contains(after, "/") {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The NextToken is not valid: start again without it.")
	}
	limit := in.MaxResults
	if limit == 0 {
		limit = 50
	}
	r, err := s.RuleDeliveries(ctx, in.EventBusName, in.Rule, after, limit)
	if err != nil {
		return nil, err
	}
	out := &listRuleDeliveriesOutput{Targets: []wireTargetStatus{}, Pending: []wirePending{}, NextToken: encodeToken(r.Next)}
	for _, t := range r.Targets {
		out.Targets = append(out.Targets, wireTargetStatus{TargetID: t.TargetID, EventID: t.EventID, Time: awsproto.NewTime(t.Time), Outcome: t.Outcome, Attempts: t.Attempts, LastError: t.LastError})
	}
	for _, p := range r.Pending {
		out.Pending = append(out.Pending, wirePending{EventID: p.EventID, TargetID: p.TargetID, EnqueuedAt: awsproto.NewTime(p.Enqueued), NextAttemptAt: awsproto.NewTime(p.NextDue), Attempts: p.Attempts, LastError: p.LastError})
	}
	return out, nil
}
