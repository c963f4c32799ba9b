package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/redact"
)

// Wire shapes and handlers of connections and API destinations.

type connectionParameter struct {
	Key           string `json:"Key"`
	Value         string `json:"Value,omitempty"`
	IsValueSecret bool   `json:"IsValueSecret,omitempty"`
}

// MarshalJSON hides secret values from the audit log.
func (p connectionParameter) MarshalJSON() ([]byte, error) {
	type plain connectionParameter
	if p.IsValueSecret && p.Value != "" {
		p.Value = redact.Hidden
	}
	return json.Marshal(plain(p))
}

type connectionHTTPParameters struct {
	HeaderParameters      []connectionParameter `json:"HeaderParameters,omitempty"`
	QueryStringParameters []connectionParameter `json:"QueryStringParameters,omitempty"`
	BodyParameters        []connectionParameter `json:"BodyParameters,omitempty"`
}

type createConnectionInput struct {
	Name              string `json:"Name" required:"true"`
	Description       string `json:"Description,omitempty"`
	AuthorizationType string `json:"AuthorizationType" required:"true"`
	AuthParameters    struct {
		BasicAuthParameters *struct {
			Username string       `json:"Username"`
			Password secretString `json:"Password"`
		} `json:"BasicAuthParameters,omitempty"`
		ApiKeyAuthParameters *struct {
			ApiKeyName  string       `json:"ApiKeyName"`
			ApiKeyValue secretString `json:"ApiKeyValue"`
		} `json:"ApiKeyAuthParameters,omitempty"`
		OAuthParameters          hiddenJSON                `json:"OAuthParameters,omitempty"`
		InvocationHttpParameters *connectionHTTPParameters `json:"InvocationHttpParameters,omitempty"`
	} `json:"AuthParameters" required:"true"`
	InvocationConnectivityParameters json.RawMessage `json:"InvocationConnectivityParameters,omitempty"`
	KmsKeyIdentifier                 string          `json:"KmsKeyIdentifier,omitempty"`
}

type connectionStateOutput struct {
	ConnectionArn      string         `json:"ConnectionArn"`
	ConnectionState    string         `json:"ConnectionState"`
	CreationTime       *awsproto.Time `json:"CreationTime,omitempty"`
	LastModifiedTime   *awsproto.Time `json:"LastModifiedTime,omitempty"`
	LastAuthorizedTime *awsproto.Time `json:"LastAuthorizedTime,omitempty"`
}

// connectionState is always AUTHORIZED: there is no OAuth handshake to
// wait for.
const connectionState = "AUTHORIZED"

func (s *Service) connectionResource(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:connection/%s", s.cfg.Region, s.cfg.AccountID, name)
}

func (s *Service) apiCreateConnection(ctx context.Context, c *api.Call, in *createConnectionInput) (*connectionStateOutput, error) {
	if err := s.authorize(ctx, c, "events:CreateConnection", s.connectionResource(in.Name), nil); err != nil {
		return nil, err
	}
	ap := in.AuthParameters
	if len(ap.OAuthParameters) > 0 && string(ap.OAuthParameters) != "null" {
		return nil, awsproto.Validation("OAUTH_CLIENT_CREDENTIALS is not supported by Bulwark.")
	}
	if len(in.InvocationConnectivityParameters) > 0 && string(in.InvocationConnectivityParameters) != "null" {
		return nil, awsproto.Validation("InvocationConnectivityParameters is not supported by Bulwark.")
	}
	ci := ConnectionInput{Name: in.Name, Description: in.Description, AuthorizationType: in.AuthorizationType}
	if b := ap.BasicAuthParameters; b != nil {
		ci.Username, ci.Password = b.Username, string(b.Password)
	}
	if k := ap.ApiKeyAuthParameters; k != nil {
		ci.APIKeyName, ci.APIKeyValue = k.ApiKeyName, string(k.ApiKeyValue)
	}
	if h := ap.InvocationHttpParameters; h != nil {
		if len(h.BodyParameters) > 0 {
			return nil, awsproto.Validation("BodyParameters are not supported by Bulwark.")
		}
		for _, p := range h.HeaderParameters {
			ci.Params = append(ci.Params, HTTPParam{In: "header", Key: p.Key, Value: p.Value, Secret: p.IsValueSecret})
		}
		for _, p := range h.QueryStringParameters {
			ci.Params = append(ci.Params, HTTPParam{In: "query", Key: p.Key, Value: p.Value, Secret: p.IsValueSecret})
		}
	}
	conn, err := s.CreateConnection(ctx, ci)
	if err != nil {
		return nil, err
	}
	return connStateOut(conn), nil
}

func connStateOut(conn *Connection) *connectionStateOutput {
	return &connectionStateOutput{ConnectionArn: conn.ARN, ConnectionState: connectionState,
		CreationTime: awsproto.NewTime(conn.Created), LastModifiedTime: awsproto.NewTime(conn.Modified), LastAuthorizedTime: awsproto.NewTime(conn.Created)}
}

type nameInput struct {
	Name string `json:"Name" required:"true"`
}

type describeConnectionOutput struct {
	ConnectionArn     string         `json:"ConnectionArn"`
	Name              string         `json:"Name"`
	Description       string         `json:"Description,omitempty"`
	ConnectionState   string         `json:"ConnectionState"`
	AuthorizationType string         `json:"AuthorizationType"`
	CreationTime      *awsproto.Time `json:"CreationTime,omitempty"`
	LastModifiedTime  *awsproto.Time `json:"LastModifiedTime,omitempty"`
	AuthParameters    struct {
		BasicAuthParameters *struct {
			Username string `json:"Username"`
		} `json:"BasicAuthParameters,omitempty"`
		ApiKeyAuthParameters *struct {
			ApiKeyName string `json:"ApiKeyName"`
		} `json:"ApiKeyAuthParameters,omitempty"`
		InvocationHttpParameters *connectionHTTPParameters `json:"InvocationHttpParameters,omitempty"`
	} `json:"AuthParameters"`
}

func (s *Service) apiDescribeConnection(ctx context.Context, c *api.Call, in *nameInput) (*describeConnectionOutput, error) {
	conn, err := s.DescribeConnection(ctx, in.Name)
	resource := s.connectionResource(in.Name)
	if err == nil {
		resource = conn.ARN
	}
	// Authorise before revealing whether the connection exists.
	if aerr := s.authorize(ctx, c, "events:DescribeConnection", resource, nil); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	out := &describeConnectionOutput{ConnectionArn: conn.ARN, Name: conn.Name, Description: conn.Description,
		ConnectionState: connectionState, AuthorizationType: conn.AuthorizationType,
		CreationTime: awsproto.NewTime(conn.Created), LastModifiedTime: awsproto.NewTime(conn.Modified)}
	switch conn.AuthorizationType {
	case AuthBasic:
		out.AuthParameters.BasicAuthParameters = &struct {
			Username string `json:"Username"`
		}{conn.Username}
	case AuthAPIKey:
		out.AuthParameters.ApiKeyAuthParameters = &struct {
			ApiKeyName string `json:"ApiKeyName"`
		}{conn.APIKeyName}
	}
	if len(conn.Params) > 0 {
		h := &connectionHTTPParameters{}
		for _, p := range conn.Params {
			cp := connectionParameter{Key: p.Key, Value: p.Value, IsValueSecret: p.Secret}
			if p.In == "query" {
				h.QueryStringParameters = append(h.QueryStringParameters, cp)
			} else {
				h.HeaderParameters = append(h.HeaderParameters, cp)
			}
		}
		out.AuthParameters.InvocationHttpParameters = h
	}
	return out, nil
}

type listConnectionsInput struct {
	NamePrefix      string `json:"NamePrefix,omitempty"`
	ConnectionState string `json:"ConnectionState,omitempty"`
	NextToken       string `json:"NextToken,omitempty"`
	Limit           int    `json:"Limit,omitempty"`
}

type connectionSummary struct {
	ConnectionArn     string         `json:"ConnectionArn"`
	Name              string         `json:"Name"`
	ConnectionState   string         `json:"ConnectionState"`
	AuthorizationType string         `json:"AuthorizationType"`
	CreationTime      *awsproto.Time `json:"CreationTime,omitempty"`
	LastModifiedTime  *awsproto.Time `json:"LastModifiedTime,omitempty"`
}

type listConnectionsOutput struct {
	Connections []connectionSummary `json:"Connections"`
	NextToken   string              `json:"NextToken,omitempty"`
}

func (s *Service) apiListConnections(ctx context.Context, c *api.Call, in *listConnectionsInput) (*listConnectionsOutput, error) {
	if err := s.authorize(ctx, c, "events:ListConnections", "*", nil); err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &listConnectionsOutput{Connections: []connectionSummary{}}
	if in.ConnectionState != "" && in.ConnectionState != connectionState {
		return out, nil
	}
	conns, next, err := s.ListConnections(ctx, in.NamePrefix, after, pageLimit(in.Limit))
	if err != nil {
		return nil, err
	}
	for _, conn := range conns {
		out.Connections = append(out.Connections, connectionSummary{ConnectionArn: conn.ARN, Name: conn.Name, ConnectionState: connectionState,
			AuthorizationType: conn.AuthorizationType, CreationTime: awsproto.NewTime(conn.Created), LastModifiedTime: awsproto.NewTime(conn.Modified)})
	}
	out.NextToken = encodeToken(next)
	return out, nil
}

func pageLimit(n int) int {
	if n <= 0 || n > 100 {
		return 100
	}
	return n
}

func (s *Service) apiDeleteConnection(ctx context.Context, c *api.Call, in *nameInput) (*connectionStateOutput, error) {
	conn, err := s.DescribeConnection(ctx, in.Name)
	resource := s.connectionResource(in.Name)
	if err == nil {
		resource = conn.ARN
	}
	if aerr := s.authorize(ctx, c, "events:DeleteConnection", resource, nil); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	conn, err = s.DeleteConnection(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	out := connStateOut(conn)
	out.ConnectionState = "DELETING"
	return out, nil
}

// ---- API destinations ----

type createAPIDestinationInput struct {
	Name                         string `json:"Name" required:"true"`
	Description                  string `json:"Description,omitempty"`
	ConnectionArn                string `json:"ConnectionArn" required:"true"`
	InvocationEndpoint           string `json:"InvocationEndpoint" required:"true"`
	HttpMethod                   string `json:"HttpMethod" required:"true"`
	InvocationRateLimitPerSecond int    `json:"InvocationRateLimitPerSecond,omitempty"`
}

type apiDestinationStateOutput struct {
	ApiDestinationArn   string         `json:"ApiDestinationArn"`
	ApiDestinationState string         `json:"ApiDestinationState"`
	CreationTime        *awsproto.Time `json:"CreationTime,omitempty"`
	LastModifiedTime    *awsproto.Time `json:"LastModifiedTime,omitempty"`
}

func (s *Service) destinationResource(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:api-destination/%s", s.cfg.Region, s.cfg.AccountID, name)
}

func (s *Service) apiCreateAPIDestination(ctx context.Context, c *api.Call, in *createAPIDestinationInput) (*apiDestinationStateOutput, error) {
	if err := s.authorize(ctx, c, "events:CreateApiDestination", s.destinationResource(in.Name), nil); err != nil {
		return nil, err
	}
	d, err := s.CreateAPIDestination(ctx, APIDestination{Name: in.Name, Description: in.Description, ConnectionARN: in.ConnectionArn,
		Endpoint: in.InvocationEndpoint, Method: in.HttpMethod, RateLimit: in.InvocationRateLimitPerSecond})
	if err != nil {
		return nil, err
	}
	return &apiDestinationStateOutput{ApiDestinationArn: d.ARN, ApiDestinationState: "ACTIVE",
		CreationTime: awsproto.NewTime(d.Created), LastModifiedTime: awsproto.NewTime(d.Modified)}, nil
}

type apiDestinationOutput struct {
	ApiDestinationArn            string         `json:"ApiDestinationArn"`
	Name                         string         `json:"Name"`
	Description                  string         `json:"Description,omitempty"`
	ApiDestinationState          string         `json:"ApiDestinationState"`
	ConnectionArn                string         `json:"ConnectionArn"`
	InvocationEndpoint           string         `json:"InvocationEndpoint"`
	HttpMethod                   string         `json:"HttpMethod"`
	InvocationRateLimitPerSecond int            `json:"InvocationRateLimitPerSecond,omitempty"`
	CreationTime                 *awsproto.Time `json:"CreationTime,omitempty"`
	LastModifiedTime             *awsproto.Time `json:"LastModifiedTime,omitempty"`
}

func destOut(d *APIDestination) apiDestinationOutput {
	return apiDestinationOutput{ApiDestinationArn: d.ARN, Name: d.Name, Description: d.Description, ApiDestinationState: "ACTIVE",
		ConnectionArn: d.ConnectionARN, InvocationEndpoint: d.Endpoint, HttpMethod: d.Method, InvocationRateLimitPerSecond: d.RateLimit,
		CreationTime: awsproto.NewTime(d.Created), LastModifiedTime: awsproto.NewTime(d.Modified)}
}

func (s *Service) apiDescribeAPIDestination(ctx context.Context, c *api.Call, in *nameInput) (*apiDestinationOutput, error) {
	d, err := s.DescribeAPIDestination(ctx, in.Name)
	resource := s.destinationResource(in.Name)
	if err == nil {
		resource = d.ARN
	}
	if aerr := s.authorize(ctx, c, "events:DescribeApiDestination", resource, nil); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	out := destOut(d)
	return &out, nil
}

type listAPIDestinationsInput struct {
	NamePrefix    string `json:"NamePrefix,omitempty"`
	ConnectionArn string `json:"ConnectionArn,omitempty"`
	NextToken     string `json:"NextToken,omitempty"`
	Limit         int    `json:"Limit,omitempty"`
}

type listAPIDestinationsOutput struct {
	ApiDestinations []apiDestinationOutput `json:"ApiDestinations"`
	NextToken       string                 `json:"NextToken,omitempty"`
}

func (s *Service) apiListAPIDestinations(ctx context.Context, c *api.Call, in *listAPIDestinationsInput) (*listAPIDestinationsOutput, error) {
	if err := s.authorize(ctx, c, "events:ListApiDestinations", "*", nil); err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	ds, next, err := s.ListAPIDestinations(ctx, in.NamePrefix, in.ConnectionArn, after, pageLimit(in.Limit))
	if err != nil {
		return nil, err
	}
	out := &listAPIDestinationsOutput{ApiDestinations: []apiDestinationOutput{}, NextToken: encodeToken(next)}
	for _, d := range ds {
		out.ApiDestinations = append(out.ApiDestinations, destOut(d))
	}
	return out, nil
}

func (s *Service) apiDeleteAPIDestination(ctx context.Context, c *api.Call, in *nameInput) (*empty, error) {
	d, err := s.DescribeAPIDestination(ctx, in.Name)
	resource := s.destinationResource(in.Name)
	if err == nil {
		resource = d.ARN
	}
	if aerr := s.authorize(ctx, c, "events:DeleteApiDestination", resource, nil); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return &empty{}, s.DeleteAPIDestination(ctx, in.Name)
}
