package events

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/redact"
)

// API describes the events service for the server. This file is the only
// one that knows the wire shapes (botocore events 2015-10-07).
func (s *Service) API() *api.Service {
	op := func(h api.Handler) api.Operation { return api.Operation{Handler: h} }
	ro := func(h api.Handler) api.Operation { return api.Operation{Handler: h, ReadOnly: true} }
	return &api.Service{
		Name: "events", EventSource: "events.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "AWSEvents", Errors: errorTable,
		Operations: map[string]api.Operation{
			"PutRule":                op(api.JSON(s.apiPutRule)),
			"DescribeRule":           ro(api.JSON(s.apiDescribeRule)),
			"ListRules":              ro(api.JSON(s.apiListRules)),
			"DeleteRule":             op(api.JSON(s.apiDeleteRule)),
			"EnableRule":             op(api.JSON(s.stateHandler("events:EnableRule", StateEnabled))),
			"DisableRule":            op(api.JSON(s.stateHandler("events:DisableRule", StateDisabled))),
			"PutTargets":             op(api.JSON(s.apiPutTargets)),
			"RemoveTargets":          op(api.JSON(s.apiRemoveTargets)),
			"ListTargetsByRule":      ro(api.JSON(s.apiListTargetsByRule)),
			"PutEvents":              op(api.JSON(s.apiPutEvents)),
			"TestEventPattern":       ro(api.JSON(s.apiTestEventPattern)),
			"CreateConnection":       op(api.JSON(s.apiCreateConnection)),
			"DescribeConnection":     ro(api.JSON(s.apiDescribeConnection)),
			"ListConnections":        ro(api.JSON(s.apiListConnections)),
			"DeleteConnection":       op(api.JSON(s.apiDeleteConnection)),
			"CreateApiDestination":   op(api.JSON(s.apiCreateAPIDestination)),
			"DescribeApiDestination": ro(api.JSON(s.apiDescribeAPIDestination)),
			"ListApiDestinations":    ro(api.JSON(s.apiListAPIDestinations)),
			"DeleteApiDestination":   op(api.JSON(s.apiDeleteAPIDestination)),
		},
		Run:          s.Run,
		ResourceTags: s.resourceTags,
	}
}

func (s *Service) authorize(ctx context.Context, c *api.Call, action, resource string, cond map[string][]string) error {
	return c.Authorize(ctx, api.AuthzRequest{Action: action, Resource: resource, Mode: policy.Standard, Context: cond})
}

// Page tokens are the last name of the previous page, opaque to callers.
func encodeToken(last string) string {
	if last == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", awsproto.Validation("The NextToken is not valid.")
	}
	return string(b), nil
}

// ---- rules ----

type putRuleInput struct {
	Name               string `json:"Name" required:"true"`
	EventPattern       string `json:"EventPattern,omitempty"`
	ScheduleExpression string `json:"ScheduleExpression,omitempty"`
	State              string `json:"State,omitempty"`
	Description        string `json:"Description,omitempty"`
	RoleArn            string `json:"RoleArn,omitempty"`
	Tags               []Tag  `json:"Tags,omitempty"`
	EventBusName       string `json:"EventBusName,omitempty"`
}

type putRuleOutput struct {
	RuleArn string `json:"RuleArn"`
}

func (s *Service) apiPutRule(ctx context.Context, c *api.Call, in *putRuleInput) (*putRuleOutput, error) {
	if err := s.authorize(ctx, c, "events:PutRule", s.ruleARN(in.Name), nil); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		// AWS asks for events:TagResource too when PutRule carries tags.
		if err := s.authorize(ctx, c, "events:TagResource", s.ruleARN(in.Name), nil); err != nil {
			return nil, err
		}
	}
	if in.ScheduleExpression != "" {
		return nil, awsproto.Validation("ScheduleExpression is not supported by Bulwark: rules match events only.")
	}
	arn, err := s.PutRule(ctx, RuleInput{Name: in.Name, EventPattern: in.EventPattern, State: in.State, Description: in.Description, EventBusName: in.EventBusName, Tags: in.Tags})
	if err != nil {
		return nil, err
	}
	return &putRuleOutput{RuleArn: arn}, nil
}

type ruleNameInput struct {
	Name         string `json:"Name" required:"true"`
	EventBusName string `json:"EventBusName,omitempty"`
	Force        bool   `json:"Force,omitempty"`
}

type ruleOutput struct {
	Name         string `json:"Name"`
	Arn          string `json:"Arn"`
	EventPattern string `json:"EventPattern,omitempty"`
	State        string `json:"State"`
	Description  string `json:"Description,omitempty"`
	EventBusName string `json:"EventBusName"`
	CreatedBy    string `json:"CreatedBy,omitempty"`
}

func (s *Service) ruleOut(r *Rule) ruleOutput {
	return ruleOutput{Name: r.Name, Arn: s.ruleARN(r.Name), EventPattern: r.EventPattern, State: r.State, Description: r.Description, EventBusName: "default", CreatedBy: s.cfg.AccountID}
}

func (s *Service) apiDescribeRule(ctx context.Context, c *api.Call, in *ruleNameInput) (*ruleOutput, error) {
	if err := s.authorize(ctx, c, "events:DescribeRule", s.ruleARN(in.Name), nil); err != nil {
		return nil, err
	}
	r, err := s.DescribeRule(ctx, in.EventBusName, in.Name)
	if err != nil {
		return nil, err
	}
	out := s.ruleOut(r)
	return &out, nil
}

type listRulesInput struct {
	NamePrefix   string `json:"NamePrefix,omitempty"`
	EventBusName string `json:"EventBusName,omitempty"`
	NextToken    string `json:"NextToken,omitempty"`
	Limit        int    `json:"Limit,omitempty"`
}

type listRulesOutput struct {
	Rules     []ruleOutput `json:"Rules"`
	NextToken string       `json:"NextToken,omitempty"`
}

func (s *Service) apiListRules(ctx context.Context, c *api.Call, in *listRulesInput) (*listRulesOutput, error) {
	if err := s.authorize(ctx, c, "events:ListRules", "*", nil); err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	rules, next, err := s.ListRules(ctx, in.EventBusName, in.NamePrefix, after, in.Limit)
	if err != nil {
		return nil, err
	}
	out := &listRulesOutput{Rules: []ruleOutput{}, NextToken: encodeToken(next)}
	for _, r := range rules {
		out.Rules = append(out.Rules, s.ruleOut(r))
	}
	return out, nil
}

type empty struct{}

func (s *Service) apiDeleteRule(ctx context.Context, c *api.Call, in *ruleNameInput) (*empty, error) {
	if err := s.authorize(ctx, c, "events:DeleteRule", s.ruleARN(in.Name), nil); err != nil {
		return nil, err
	}
	return &empty{}, s.DeleteRule(ctx, in.EventBusName, in.Name)
}

func (s *Service) stateHandler(action, state string) func(context.Context, *api.Call, *ruleNameInput) (*empty, error) {
	return func(ctx context.Context, c *api.Call, in *ruleNameInput) (*empty, error) {
		if err := s.authorize(ctx, c, action, s.ruleARN(in.Name), nil); err != nil {
			return nil, err
		}
		return &empty{}, s.SetRuleState(ctx, in.EventBusName, in.Name, state)
	}
}

// ---- targets ----

type retryPolicy struct {
	MaximumRetryAttempts     *int `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int `json:"MaximumEventAgeInSeconds,omitempty"`
}

type httpParameters struct {
	PathParameterValues   []string          `json:"PathParameterValues,omitempty"`
	HeaderParameters      map[string]string `json:"HeaderParameters,omitempty"`
	QueryStringParameters map[string]string `json:"QueryStringParameters,omitempty"`
}

// wireTarget is the Target shape. Members for target types Bulwark does
// not deliver to are kept raw only to refuse them by name.
type wireTarget struct {
	Id             string          `json:"Id" required:"true"`
	Arn            string          `json:"Arn" required:"true"`
	RoleArn        string          `json:"RoleArn,omitempty"`
	Input          string          `json:"Input,omitempty"`
	InputPath      string          `json:"InputPath,omitempty"`
	HttpParameters *httpParameters `json:"HttpParameters,omitempty"`
	RetryPolicy    *retryPolicy    `json:"RetryPolicy,omitempty"`

	InputTransformer            json.RawMessage `json:"InputTransformer,omitempty"`
	KinesisParameters           json.RawMessage `json:"KinesisParameters,omitempty"`
	RunCommandParameters        json.RawMessage `json:"RunCommandParameters,omitempty"`
	EcsParameters               json.RawMessage `json:"EcsParameters,omitempty"`
	BatchParameters             json.RawMessage `json:"BatchParameters,omitempty"`
	SqsParameters               json.RawMessage `json:"SqsParameters,omitempty"`
	RedshiftDataParameters      json.RawMessage `json:"RedshiftDataParameters,omitempty"`
	SageMakerPipelineParameters json.RawMessage `json:"SageMakerPipelineParameters,omitempty"`
	DeadLetterConfig            json.RawMessage `json:"DeadLetterConfig,omitempty"`
	AppSyncParameters           json.RawMessage `json:"AppSyncParameters,omitempty"`
}

// unsupported names the first member Bulwark cannot honour, if any.
func (t *wireTarget) unsupported() string {
	for name, v := range map[string]json.RawMessage{
		"InputTransformer": t.InputTransformer, "KinesisParameters": t.KinesisParameters,
		"RunCommandParameters": t.RunCommandParameters, "EcsParameters": t.EcsParameters,
		"BatchParameters": t.BatchParameters, "SqsParameters": t.SqsParameters,
		"RedshiftDataParameters": t.RedshiftDataParameters, "SageMakerPipelineParameters": t.SageMakerPipelineParameters,
		"DeadLetterConfig": t.DeadLetterConfig, "AppSyncParameters": t.AppSyncParameters,
	} {
		if len(v) > 0 && string(v) != "null" {
			return name
		}
	}
	return ""
}

func (t *wireTarget) domain() Target {
	out := Target{ID: t.Id, Arn: t.Arn, Input: t.Input, InputPath: t.InputPath}
	if h := t.HttpParameters; h != nil {
		out.HTTP = &HTTPParameters{PathParameterValues: h.PathParameterValues, Headers: h.HeaderParameters, Query: h.QueryStringParameters}
	}
	if r := t.RetryPolicy; r != nil {
		out.MaxRetryAttempts, out.MaxEventAgeSeconds = r.MaximumRetryAttempts, r.MaximumEventAgeInSeconds
	}
	return out
}

func wireTargetOf(t Target) wireTarget {
	out := wireTarget{Id: t.ID, Arn: t.Arn, Input: t.Input, InputPath: t.InputPath}
	if h := t.HTTP; h != nil {
		out.HttpParameters = &httpParameters{PathParameterValues: h.PathParameterValues, HeaderParameters: h.Headers, QueryStringParameters: h.Query}
	}
	if t.MaxRetryAttempts != nil || t.MaxEventAgeSeconds != nil {
		out.RetryPolicy = &retryPolicy{MaximumRetryAttempts: t.MaxRetryAttempts, MaximumEventAgeInSeconds: t.MaxEventAgeSeconds}
	}
	return out
}

type putTargetsInput struct {
	Rule         string       `json:"Rule" required:"true"`
	EventBusName string       `json:"EventBusName,omitempty"`
	Targets      []wireTarget `json:"Targets" required:"true"`
}

// Validate bounds the request as the model does (1 to 10 targets).
func (in *putTargetsInput) Validate() error {
	if len(in.Targets) == 0 || len(in.Targets) > 10 {
		return awsproto.Validation("Targets must hold 1 to 10 targets.")
	}
	return nil
}

type failedTargetEntry struct {
	TargetId     string `json:"TargetId"`
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

type targetsResultOutput struct {
	FailedEntryCount int                 `json:"FailedEntryCount"`
	FailedEntries    []failedTargetEntry `json:"FailedEntries"`
}

func (s *Service) apiPutTargets(ctx context.Context, c *api.Call, in *putTargetsInput) (*targetsResultOutput, error) {
	if err := s.authorize(ctx, c, "events:PutTargets", s.ruleARN(in.Rule), nil); err != nil {
		return nil, err
	}
	out := &targetsResultOutput{FailedEntries: []failedTargetEntry{}}
	var targets []Target
	for i := range in.Targets {
		t := &in.Targets[i]
		if name := t.unsupported(); name != "" {
			out.FailedEntries = append(out.FailedEntries, failedTargetEntry{TargetId: t.Id, ErrorCode: "ValidationException", ErrorMessage: name + " is not supported by Bulwark."})
			continue
		}
		targets = append(targets, t.domain())
	}
	failed, err := s.PutTargets(ctx, in.EventBusName, in.Rule, targets)
	if err != nil {
		return nil, err
	}
	for _, f := range failed {
		out.FailedEntries = append(out.FailedEntries, failedTargetEntry{TargetId: f.TargetID, ErrorCode: f.ErrorCode, ErrorMessage: f.ErrorMessage})
	}
	out.FailedEntryCount = len(out.FailedEntries)
	return out, nil
}

type removeTargetsInput struct {
	Rule         string   `json:"Rule" required:"true"`
	EventBusName string   `json:"EventBusName,omitempty"`
	Ids          []string `json:"Ids" required:"true"`
	Force        bool     `json:"Force,omitempty"`
}

func (s *Service) apiRemoveTargets(ctx context.Context, c *api.Call, in *removeTargetsInput) (*targetsResultOutput, error) {
	if err := s.authorize(ctx, c, "events:RemoveTargets", s.ruleARN(in.Rule), nil); err != nil {
		return nil, err
	}
	if err := s.RemoveTargets(ctx, in.EventBusName, in.Rule, in.Ids); err != nil {
		return nil, err
	}
	return &targetsResultOutput{FailedEntries: []failedTargetEntry{}}, nil
}

type listTargetsInput struct {
	Rule         string `json:"Rule" required:"true"`
	EventBusName string `json:"EventBusName,omitempty"`
	NextToken    string `json:"NextToken,omitempty"`
	Limit        int    `json:"Limit,omitempty"`
}

type listTargetsOutput struct {
	Targets   []wireTarget `json:"Targets"`
	NextToken string       `json:"NextToken,omitempty"`
}

func (s *Service) apiListTargetsByRule(ctx context.Context, c *api.Call, in *listTargetsInput) (*listTargetsOutput, error) {
	if err := s.authorize(ctx, c, "events:ListTargetsByRule", s.ruleARN(in.Rule), nil); err != nil {
		return nil, err
	}
	// A rule has at most five targets: one page always holds them all.
	targets, err := s.ListTargets(ctx, in.EventBusName, in.Rule)
	if err != nil {
		return nil, err
	}
	out := &listTargetsOutput{Targets: []wireTarget{}}
	for _, t := range targets {
		out.Targets = append(out.Targets, wireTargetOf(t))
	}
	return out, nil
}

// ---- events ----

type putEventsEntry struct {
	Time         *awsproto.Time `json:"Time,omitempty"`
	Source       string         `json:"Source,omitempty"`
	Resources    []string       `json:"Resources,omitempty"`
	DetailType   string         `json:"DetailType,omitempty"`
	Detail       string         `json:"Detail,omitempty"`
	EventBusName string         `json:"EventBusName,omitempty"`
	TraceHeader  string         `json:"TraceHeader,omitempty"`
}

type putEventsInput struct {
	Entries    []putEventsEntry `json:"Entries" required:"true"`
	EndpointId string           `json:"EndpointId,omitempty"`
}

// Validate bounds the request as the model does (1 to 10 entries).
func (in *putEventsInput) Validate() error {
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return awsproto.Validation("Entries must hold 1 to 10 entries.")
	}
	return nil
}

type putEventsResultEntry struct {
	EventId      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsOutput struct {
	FailedEntryCount int                    `json:"FailedEntryCount"`
	Entries          []putEventsResultEntry `json:"Entries"`
}

func (s *Service) apiPutEvents(ctx context.Context, c *api.Call, in *putEventsInput) (*putEventsOutput, error) {
	entries := make([]Entry, len(in.Entries))
	for i, e := range in.Entries {
		// Authorise each entry with its source and detail type, so
		// policies can limit who publishes what (events:source).
		cond := map[string][]string{"events:source": {e.Source}, "events:detail-type": {e.DetailType}}
		if err := s.authorize(ctx, c, "events:PutEvents", s.busARN(), cond); err != nil {
			return nil, err
		}
		entries[i] = Entry{Source: e.Source, DetailType: e.DetailType, Detail: e.Detail, Resources: e.Resources, EventBusName: e.EventBusName}
		if e.Time != nil {
			entries[i].Time = e.Time.Time
		}
	}
	res, err := s.PutEvents(ctx, entries)
	if err != nil {
		return nil, err
	}
	out := &putEventsOutput{Entries: make([]putEventsResultEntry, len(res))}
	for i, r := range res {
		out.Entries[i] = putEventsResultEntry{EventId: r.EventID, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}
		if r.ErrorCode != "" {
			out.FailedEntryCount++
		}
	}
	return out, nil
}

type testEventPatternInput struct {
	EventPattern string `json:"EventPattern" required:"true"`
	Event        string `json:"Event" required:"true"`
}

type testEventPatternOutput struct {
	Result bool `json:"Result"`
}

func (s *Service) apiTestEventPattern(ctx context.Context, c *api.Call, in *testEventPatternInput) (*testEventPatternOutput, error) {
	if err := s.authorize(ctx, c, "events:TestEventPattern", "*", nil); err != nil {
		return nil, err
	}
	ok, err := MatchesPattern(in.EventPattern, in.Event)
	if err != nil {
		return nil, err
	}
	return &testEventPatternOutput{Result: ok}, nil
}

// secretString is a credential member whose name the audit log does not
// know is secret (ApiKeyValue, ClientSecret): it decodes normally and
// always encodes as the audit log's hidden marker, so the redacted
// request never carries it.
type secretString string

// MarshalJSON hides the value.
func (secretString) MarshalJSON() ([]byte, error) { return json.Marshal(redact.Hidden) }

// hiddenJSON is an unsupported member that carries credentials in places
// the audit log cannot name (OAuthParameters: ClientSecret, and HTTP
// parameters marked IsValueSecret). It is kept raw only to be refused,
// and the request is recorded before the handler refuses it, so it always
// encodes as the hidden marker.
type hiddenJSON json.RawMessage

// UnmarshalJSON keeps the raw member.
func (h *hiddenJSON) UnmarshalJSON(b []byte) error {
	*h = append((*h)[:0], b...)
	return nil
}

// MarshalJSON hides the value.
func (hiddenJSON) MarshalJSON() ([]byte, error) { return json.Marshal(redact.Hidden) }
