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

// Connection authorization types. NONE is a Bulwark extension for
// endpoints that need no credentials (AWS requires one of the others).
const (
	AuthNone   = "NONE"
	AuthBasic  = "BASIC"
	AuthAPIKey = "API_KEY"
)

// Connection holds how to authenticate to HTTP endpoints. Its credentials
// and secret parameter values live only in the record's sealed Secret.
type Connection struct {
	Name              string    `json:"name"`
	ARN               string    `json:"arn"`
	Description       string    `json:"description,omitempty"`
	AuthorizationType string    `json:"authorizationType"`
	Username          string    `json:"username,omitempty"`
	APIKeyName        string    `json:"apiKeyName,omitempty"`
	Created           time.Time `json:"created"`
	Modified          time.Time `json:"modified"`
	// Params are the invocation parameters with secret values blanked.
	Params []HTTPParam `json:"params,omitempty"`
}

// HTTPParam is one invocation parameter of a connection.
type HTTPParam struct {
	In     string `json:"in"` // "header" or "query"
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Secret bool   `json:"secret,omitempty"`
}

// connSecret is the sealed part of a connection.
type connSecret struct {
	Password    string      `json:"password,omitempty"`
	APIKeyValue string      `json:"apiKeyValue,omitempty"`
	Params      []HTTPParam `json:"params,omitempty"`
}

// ConnectionInput is what CreateConnection sets.
type ConnectionInput struct {
	Name, Description, AuthorizationType string
	Username, Password                   string
	APIKeyName, APIKeyValue              string
	Params                               []HTTPParam
}

// CreateConnection stores a connection.
func (s *Service) CreateConnection(ctx context.Context, in ConnectionInput) (*Connection, error) {
	if err := checkName("Connection name", in.Name); err != nil {
		return nil, err
	}
	switch in.AuthorizationType {
	case AuthNone:
	case AuthBasic:
		if in.Username == "" || in.Password == "" {
			return nil, fmt.Errorf("%w: BASIC authorization needs BasicAuthParameters with Username and Password.", ErrValidation)
		}
	case AuthAPIKey:
		if in.APIKeyName == "" || in.APIKeyValue == "" {
			return nil, fmt.Errorf("%w: API_KEY authorization needs ApiKeyAuthParameters with ApiKeyName and ApiKeyValue.", ErrValidation)
		}
	default:
		return nil, fmt.Errorf("%w: AuthorizationType %q is not supported: use BASIC, API_KEY or NONE.", ErrValidation, in.AuthorizationType)
	}
	id, err := s.newUUID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := &Connection{
		Name: in.Name, Description: in.Description, AuthorizationType: in.AuthorizationType,
		ARN:     fmt.Sprintf("arn:aws:events:%s:%s:connection/%s/%s", s.cfg.Region, s.cfg.AccountID, in.Name, id),
		Created: now, Modified: now,
	}
	sec := connSecret{Params: in.Params}
	switch in.AuthorizationType {
	case AuthBasic:
		c.Username, sec.Password = in.Username, in.Password
	case AuthAPIKey:
		c.APIKeyName, sec.APIKeyValue = in.APIKeyName, in.APIKeyValue
	}
	for _, p := range in.Params {
		if p.Secret {
			p.Value = ""
		}
		c.Params = append(c.Params, p)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	secret, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	err = s.store.Tx(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, &store.Record{Kind: kindConnection, ID: in.Name, Data: data, Secret: secret})
	})
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("%w: Connection %s already exists.", ErrExists, in.Name)
	}
	return c, err
}

// DescribeConnection returns a connection without its secrets.
func (s *Service) DescribeConnection(ctx context.Context, name string) (*Connection, error) {
	c, _, err := s.getConnection(ctx, name)
	return c, err
}

func (s *Service) getConnection(ctx context.Context, name string) (*Connection, *connSecret, error) {
	var c Connection
	rec, err := getJSON(ctx, s.store, kindConnection, name, &c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: Connection %s does not exist.", ErrNotFound, name)
	}
	if err != nil {
		return nil, nil, err
	}
	var sec connSecret
	if len(rec.Secret) > 0 {
		if err := json.Unmarshal(rec.Secret, &sec); err != nil {
			return nil, nil, fmt.Errorf("events: decode connection secret: %w", err)
		}
	}
	return &c, &sec, nil
}

// ListConnections returns connections whose names start with prefix.
func (s *Service) ListConnections(ctx context.Context, prefix, after string, limit int) ([]*Connection, string, error) {
	return listJSON[Connection](ctx, s.store, kindConnection, prefix, after, limit)
}

// DeleteConnection deletes a connection. API destinations that use it fail
// their deliveries until they are pointed elsewhere.
func (s *Service) DeleteConnection(ctx context.Context, name string) (*Connection, error) {
	var c *Connection
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		var conn Connection
		_, err := getJSON(ctx, tx, kindConnection, name, &conn)
		if err != nil {
			return err
		}
		c = &conn
		return tx.Delete(ctx, kindConnection, name)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: Connection %s does not exist.", ErrNotFound, name)
	}
	return c, err
}

// APIDestination is an HTTP endpoint with the connection that
// authenticates to it.
type APIDestination struct {
	Name          string    `json:"name"`
	ARN           string    `json:"arn"`
	Description   string    `json:"description,omitempty"`
	ConnectionARN string    `json:"connectionArn"`
	Endpoint      string    `json:"endpoint"`
	Method        string    `json:"method"`
	RateLimit     int       `json:"rateLimit,omitempty"`
	Created       time.Time `json:"created"`
	Modified      time.Time `json:"modified"`
}

var httpMethods = map[string]bool{"POST": true, "GET": true, "HEAD": true, "OPTIONS": true, "PUT": true, "PATCH": true, "DELETE": true}

// CreateAPIDestination stores an API destination. Unlike AWS, the endpoint
// may be http:// as well as https:// (loopback and private networks).
func (s *Service) CreateAPIDestination(ctx context.Context, d APIDestination) (*APIDestination, error) {
	if err := checkName("API destination name", d.Name); err != nil {
		return nil, err
	}
	if !httpMethods[d.Method] {
		return nil, fmt.Errorf("%w: HttpMethod %q is not valid.", ErrValidation, d.Method)
	}
	u, err := url.Parse(d.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: InvocationEndpoint %q is not an http(s) URL.", ErrValidation, d.Endpoint)
	}
	connName, ok := s.connectionNameFromARN(d.ConnectionARN)
	if !ok {
		return nil, fmt.Errorf("%w: Connection %s does not exist.", ErrNotFound, d.ConnectionARN)
	}
	conn, err := s.DescribeConnection(ctx, connName)
	if err != nil {
		return nil, err
	}
	if conn.ARN != d.ConnectionARN {
		return nil, fmt.Errorf("%w: Connection %s does not exist.", ErrNotFound, d.ConnectionARN)
	}
	id, err := s.newUUID()
	if err != nil {
		return nil, err
	}
	d.ARN = fmt.Sprintf("arn:aws:events:%s:%s:api-destination/%s/%s", s.cfg.Region, s.cfg.AccountID, d.Name, id)
	d.Created = s.now().UTC()
	d.Modified = d.Created
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	err = s.store.Tx(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, &store.Record{Kind: kindDestination, ID: d.Name, Data: data})
	})
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("%w: An api-destination %s already exists.", ErrExists, d.Name)
	}
	return &d, err
}

// DescribeAPIDestination returns an API destination.
func (s *Service) DescribeAPIDestination(ctx context.Context, name string) (*APIDestination, error) {
	var d APIDestination
	_, err := getJSON(ctx, s.store, kindDestination, name, &d)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: An api-destination '%s' does not exist.", ErrNotFound, name)
	}
	return &d, err
}

// ListAPIDestinations returns API destinations whose names start with
// prefix and, when connectionARN is set, use that connection.
func (s *Service) ListAPIDestinations(ctx context.Context, prefix, connectionARN, after string, limit int) ([]*APIDestination, string, error) {
	if connectionARN == "" {
		return listJSON[APIDestination](ctx, s.store, kindDestination, prefix, after, limit)
	}
	// Filtering after paging could return short pages; page through all.
	all, _, err := listJSON[APIDestination](ctx, s.store, kindDestination, prefix, after, 0)
	if err != nil {
		return nil, "", err
	}
	var out []*APIDestination
	for _, d := range all {
		if d.ConnectionARN == connectionARN {
			out = append(out, d)
		}
	}
	if limit > 0 && len(out) > limit {
		return out[:limit], out[limit-1].Name, nil
	}
	return out, "", nil
}

// DeleteAPIDestination deletes an API destination. Rules that target it
// keep the target, whose deliveries are then dropped.
func (s *Service) DeleteAPIDestination(ctx context.Context, name string) error {
	err := s.store.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, kindDestination, name) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: An api-destination '%s' does not exist.", ErrNotFound, name)
	}
	return err
}

// nameFromARN extracts NAME from arn:aws:events:REGION:ACCOUNT:TYPE/NAME/ID
// when the ARN is in this server's account and region.
func (s *Service) nameFromARN(arn, typ string) (string, bool) {
	prefix := fmt.Sprintf("arn:aws:events:%s:%s:%s/", s.cfg.Region, s.cfg.AccountID, typ)
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return "", false
	}
	name, id, ok := strings.Cut(rest, "/")
	if !ok || id == "" || checkName("name", name) != nil {
		return "", false
	}
	return name, true
}

func (s *Service) destinationNameFromARN(arn string) (string, bool) {
	return s.nameFromARN(arn, "api-destination")
}

func (s *Service) connectionNameFromARN(arn string) (string, bool) {
	return s.nameFromARN(arn, "connection")
}

// listJSON pages through records of one kind decoded as T.
func listJSON[T any](ctx context.Context, r store.Reader, kind, prefix, after string, limit int) ([]*T, string, error) {
	opts := store.ListOptions{Prefix: prefix, After: after}
	if limit > 0 {
		opts.Limit = limit + 1
	}
	recs, err := r.List(ctx, kind, opts)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
		next = recs[limit-1].ID
	}
	out := make([]*T, 0, len(recs))
	for _, rec := range recs {
		v := new(T)
		if err := json.Unmarshal(rec.Data, v); err != nil {
			return nil, "", fmt.Errorf("events: decode %s %q: %w", kind, rec.ID, err)
		}
		out = append(out, v)
	}
	return out, next, nil
}
