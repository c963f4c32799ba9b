package iam

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// This file is the only one that knows the Query wire shapes of IAM and STS.

const (
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// API returns the iam service description for the server.
func (s *Service) API() *api.Service {
	ops := map[string]api.Operation{
		"CreateUser":       {Handler: api.Raw(s.handleCreateUser)},
		"GetUser":          {Handler: api.Raw(s.handleGetUser), ReadOnly: true},
		"ListUsers":        {Handler: api.Raw(s.handleListUsers), ReadOnly: true},
		"DeleteUser":       {Handler: api.Raw(s.handleDeleteUser)},
		"CreateAccessKey":  {Handler: api.Raw(s.handleCreateAccessKey)},
		"ListAccessKeys":   {Handler: api.Raw(s.handleListAccessKeys), ReadOnly: true},
		"UpdateAccessKey":  {Handler: api.Raw(s.handleUpdateAccessKey)},
		"DeleteAccessKey":  {Handler: api.Raw(s.handleDeleteAccessKey)},
		"PutUserPolicy":    {Handler: api.Raw(s.handlePutUserPolicy)},
		"GetUserPolicy":    {Handler: api.Raw(s.handleGetUserPolicy), ReadOnly: true},
		"ListUserPolicies": {Handler: api.Raw(s.handleListUserPolicies), ReadOnly: true},
		"DeleteUserPolicy": {Handler: api.Raw(s.handleDeleteUserPolicy)},
	}
	return &api.Service{Name: "iam", EventSource: "iam.amazonaws.com", Protocol: api.Query, XMLNamespace: iamNamespace, Operations: ops, Errors: errorTable}
}

// STSAPI returns the sts service description for the server.
func (s *Service) STSAPI() *api.Service {
	return &api.Service{Name: "sts", EventSource: "sts.amazonaws.com", Protocol: api.Query, XMLNamespace: stsNamespace,
		Operations: map[string]api.Operation{
			"GetCallerIdentity": {Handler: api.Raw(s.handleGetCallerIdentity), ReadOnly: true, NoAuthz: true},
		}}
}

type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type xmlUser struct {
	Path       string   `xml:"Path"`
	UserName   string   `xml:"UserName"`
	UserID     string   `xml:"UserId"`
	Arn        string   `xml:"Arn"`
	CreateDate string   `xml:"CreateDate"`
	Tags       []xmlTag `xml:"Tags>member,omitempty"`
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func toXMLUser(u *User) xmlUser {
	x := xmlUser{Path: u.Path, UserName: u.UserName, UserID: u.UserID, Arn: u.ARN, CreateDate: isoTime(u.CreateDate)}
	for _, t := range u.Tags {
		x.Tags = append(x.Tags, xmlTag(t))
	}
	return x
}

// param reads a required Query parameter.
func param(c *api.Call, name string) (string, error) {
	v := c.Form.Get(name)
	if v == "" {
		lower := string(name[0]+'a'-'A') + name[1:]
		return "", fmt.Errorf("%w: 1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", ErrValidation, lower)
	}
	return v, nil
}

// recordParams puts the non-secret request parameters in the audit event
// under CloudTrail's lower-camel-case names.
func recordParams(c *api.Call, names ...string) {
	m := map[string]string{}
	for _, n := range names {
		if v := c.Form.Get(n); v != "" {
			m[string(n[0]+'a'-'A')+n[1:]] = v
		}
	}
	c.RequestParameters = m
}

func (s *Service) authorizeUser(ctx context.Context, c *api.Call, action, path, user string) error {
	if path == "" {
		path = "/"
	}
	return c.Authorize(ctx, api.AuthzRequest{Action: "iam:" + action, Resource: s.userARN(path, user)})
}

// authorizeExisting authorizes action on the stored user named name, by
// its stored ARN: names are looked up without regard to case and users
// may have a path, so an ARN built from the caller's spelling would slip
// past a Deny on the user's real ARN. A user that does not exist is
// authorized against the default path first, so a caller without
// permission learns nothing about which users exist, and then refused
// with NoSuchEntity.
func (s *Service) authorizeExisting(ctx context.Context, c *api.Call, action, name string) (*User, error) {
	u, err := s.GetUser(ctx, name)
	if err != nil {
		if aerr := s.authorizeUser(ctx, c, action, "/", name); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "iam:" + action, Resource: u.ARN}); err != nil {
		return nil, err
	}
	return u, nil
}

// authorizeKeyOwner authorizes an access-key action for user, "" meaning
// the root's own keys, and returns the owner's stored name.
func (s *Service) authorizeKeyOwner(ctx context.Context, c *api.Call, action, user string) (string, error) {
	if user == "" {
		return "", c.Authorize(ctx, api.AuthzRequest{Action: "iam:" + action, Resource: s.RootARN()})
	}
	u, err := s.authorizeExisting(ctx, c, action, user)
	if err != nil {
		return "", err
	}
	return u.UserName, nil
}

// targetUser resolves the optional UserName parameter: absent means the
// caller itself, as for GetUser and CreateAccessKey.
func targetUser(c *api.Call) string {
	if v := c.Form.Get("UserName"); v != "" {
		return v
	}
	return c.Principal.UserName
}

func (s *Service) handleCreateUser(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName", "Path")
	name, err := param(c, "UserName")
	if err != nil {
		return nil, err
	}
	if err := s.authorizeUser(ctx, c, "CreateUser", c.Form.Get("Path"), name); err != nil {
		return nil, err
	}
	var tags []Tag
	for _, m := range awsproto.QueryMembers(c.Form, "Tags.member") {
		tags = append(tags, Tag{Key: m.Get("Key"), Value: m.Get("Value")})
	}
	u, err := s.CreateUser(ctx, name, c.Form.Get("Path"), tags)
	if err != nil {
		return nil, err
	}
	return struct {
		User xmlUser `xml:"User"`
	}{toXMLUser(u)}, nil
}

func (s *Service) handleGetUser(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName")
	name := targetUser(c)
	if name == "" {
		// The root asking about itself: IAM answers with the root user.
		if err := c.Authorize(ctx, api.AuthzRequest{Action: "iam:GetUser", Resource: s.RootARN()}); err != nil {
			return nil, err
		}
		return struct {
			User xmlUser `xml:"User"`
		}{xmlUser{UserID: s.accountID, Arn: s.RootARN(), CreateDate: isoTime(time.Unix(0, 0))}}, nil
	}
	u, err := s.authorizeExisting(ctx, c, "GetUser", name)
	if err != nil {
		return nil, err
	}
	return struct {
		User xmlUser `xml:"User"`
	}{toXMLUser(u)}, nil
}

func (s *Service) handleListUsers(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "PathPrefix", "Marker", "MaxItems")
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "iam:ListUsers", Resource: "arn:aws:iam::" + s.accountID + ":user/"}); err != nil {
		return nil, err
	}
	maxItems, err := maxItemsParam(c)
	if err != nil {
		return nil, err
	}
	users, marker, err := s.ListUsers(ctx, c.Form.Get("PathPrefix"), c.Form.Get("Marker"), maxItems)
	if err != nil {
		return nil, err
	}
	out := struct {
		Users       []xmlUser `xml:"Users>member"`
		IsTruncated bool      `xml:"IsTruncated"`
		Marker      string    `xml:"Marker,omitempty"`
	}{Users: []xmlUser{}, IsTruncated: marker != "", Marker: marker}
	for _, u := range users {
		out.Users = append(out.Users, toXMLUser(u))
	}
	return out, nil
}

func maxItemsParam(c *api.Call) (int, error) {
	v := c.Form.Get("MaxItems")
	if v == "" {
		return 100, nil
	}
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' || n > 1000 {
			return 0, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", ErrValidation, v)
		}
		n = n*10 + int(r-'0')
	}
	if n < 1 || n > 1000 {
		return 0, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", ErrValidation, v)
	}
	return n, nil
}

func (s *Service) handleDeleteUser(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName")
	name, err := param(c, "UserName")
	if err != nil {
		return nil, err
	}
	u, err := s.authorizeExisting(ctx, c, "DeleteUser", name)
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteUser(ctx, u.UserName)
}

type xmlAccessKeyMeta struct {
	UserName    string `xml:"UserName"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

// xmlAccessKey is CreateAccessKey's result: the only shape that carries a
// secret access key.
type xmlAccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	CreateDate      string `xml:"CreateDate"`
}

func (s *Service) handleCreateAccessKey(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName")
	user, err := s.authorizeKeyOwner(ctx, c, "CreateAccessKey", targetUser(c))
	if err != nil {
		return nil, err
	}
	k, secret, err := s.CreateAccessKey(ctx, user)
	if err != nil {
		return nil, err
	}
	// The audit record names the new key but never its secret.
	c.ResponseElements = map[string]any{"accessKey": map[string]string{"accessKeyId": k.AccessKeyID, "status": k.Status, "userName": k.UserName}}
	return struct {
		AccessKey xmlAccessKey `xml:"AccessKey"`
	}{xmlAccessKey{k.UserName, k.AccessKeyID, k.Status, secret, isoTime(k.CreateDate)}}, nil
}

func (s *Service) handleListAccessKeys(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName")
	user := targetUser(c)
	if user == "" {
		return nil, fmt.Errorf("%w: The root's access keys are listed by the server operator, not through ListAccessKeys: pass UserName.", ErrValidation)
	}
	u, err := s.authorizeExisting(ctx, c, "ListAccessKeys", user)
	if err != nil {
		return nil, err
	}
	user = u.UserName
	keys, err := s.ListAccessKeys(ctx, user)
	if err != nil {
		return nil, err
	}
	out := struct {
		AccessKeyMetadata []xmlAccessKeyMeta `xml:"AccessKeyMetadata>member"`
		IsTruncated       bool               `xml:"IsTruncated"`
	}{AccessKeyMetadata: []xmlAccessKeyMeta{}}
	for _, k := range keys {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, xmlAccessKeyMeta{k.UserName, k.AccessKeyID, k.Status, isoTime(k.CreateDate)})
	}
	return out, nil
}

func (s *Service) handleUpdateAccessKey(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName", "AccessKeyId", "Status")
	id, err := param(c, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	status, err := param(c, "Status")
	if err != nil {
		return nil, err
	}
	user, err := s.authorizeKeyOwner(ctx, c, "UpdateAccessKey", targetUser(c))
	if err != nil {
		return nil, err
	}
	return nil, s.UpdateAccessKey(ctx, user, id, status)
}

func (s *Service) handleDeleteAccessKey(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName", "AccessKeyId")
	id, err := param(c, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	user, err := s.authorizeKeyOwner(ctx, c, "DeleteAccessKey", targetUser(c))
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteAccessKey(ctx, user, id)
}

func (s *Service) handlePutUserPolicy(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName", "PolicyName", "PolicyDocument")
	user, err := param(c, "UserName")
	if err != nil {
		return nil, err
	}
	name, err := param(c, "PolicyName")
	if err != nil {
		return nil, err
	}
	doc, err := param(c, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	u, err := s.authorizeExisting(ctx, c, "PutUserPolicy", user)
	if err != nil {
		return nil, err
	}
	user = u.UserName
	return nil, s.PutUserPolicy(ctx, user, name, doc)
}

func (s *Service) handleGetUserPolicy(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName", "PolicyName")
	user, err := param(c, "UserName")
	if err != nil {
		return nil, err
	}
	name, err := param(c, "PolicyName")
	if err != nil {
		return nil, err
	}
	u, err := s.authorizeExisting(ctx, c, "GetUserPolicy", user)
	if err != nil {
		return nil, err
	}
	user = u.UserName
	p, err := s.GetUserPolicy(ctx, user, name)
	if err != nil {
		return nil, err
	}
	return struct {
		UserName       string `xml:"UserName"`
		PolicyName     string `xml:"PolicyName"`
		PolicyDocument string `xml:"PolicyDocument"`
	}{p.UserName, p.PolicyName, queryEscapePolicy(p.PolicyDocument)}, nil
}

func (s *Service) handleListUserPolicies(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName")
	user, err := param(c, "UserName")
	if err != nil {
		return nil, err
	}
	u, err := s.authorizeExisting(ctx, c, "ListUserPolicies", user)
	if err != nil {
		return nil, err
	}
	user = u.UserName
	names, err := s.ListUserPolicies(ctx, user)
	if err != nil {
		return nil, err
	}
	return struct {
		PolicyNames []string `xml:"PolicyNames>member"`
		IsTruncated bool     `xml:"IsTruncated"`
	}{PolicyNames: append([]string{}, names...)}, nil
}

func (s *Service) handleDeleteUserPolicy(ctx context.Context, c *api.Call) (any, error) {
	recordParams(c, "UserName", "PolicyName")
	user, err := param(c, "UserName")
	if err != nil {
		return nil, err
	}
	name, err := param(c, "PolicyName")
	if err != nil {
		return nil, err
	}
	u, err := s.authorizeExisting(ctx, c, "DeleteUserPolicy", user)
	if err != nil {
		return nil, err
	}
	user = u.UserName
	return nil, s.DeleteUserPolicy(ctx, user, name)
}

// handleGetCallerIdentity needs no permission: AWS answers it for every
// authenticated caller, even one whose policies deny everything.
func (s *Service) handleGetCallerIdentity(_ context.Context, c *api.Call) (any, error) {
	return struct {
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
		Arn     string `xml:"Arn"`
	}{c.Principal.UserID, c.Principal.AccountID, c.Principal.ARN}, nil
}
