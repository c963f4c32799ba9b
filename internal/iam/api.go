package iam

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
)

// This file is the only one that knows the Query wire shapes of IAM and STS.

const (
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// API returns the iam service description for the server. Every
// operation is a typed handler on api.Form: its input struct's `query`
// tags name the form parameters, its `json` tags (CloudTrail's lower-camel
// names) what the audit log records, and redaction and the read-only rule
// are api's.
func (s *Service) API() *api.Service {
	ops := map[string]api.Operation{
		"CreateUser":       {Handler: api.Form(s.apiCreateUser)},
		"GetUser":          {Handler: api.Form(s.apiGetUser), ReadOnly: true},
		"ListUsers":        {Handler: api.Form(s.apiListUsers), ReadOnly: true},
		"DeleteUser":       {Handler: api.Form(s.apiDeleteUser)},
		"CreateAccessKey":  {Handler: api.Form(s.apiCreateAccessKey)},
		"ListAccessKeys":   {Handler: api.Form(s.apiListAccessKeys), ReadOnly: true},
		"UpdateAccessKey":  {Handler: api.Form(s.apiUpdateAccessKey)},
		"DeleteAccessKey":  {Handler: api.Form(s.apiDeleteAccessKey)},
		"PutUserPolicy":    {Handler: api.Form(s.apiPutUserPolicy)},
		"GetUserPolicy":    {Handler: api.Form(s.apiGetUserPolicy), ReadOnly: true},
		"ListUserPolicies": {Handler: api.Form(s.apiListUserPolicies), ReadOnly: true},
		"DeleteUserPolicy": {Handler: api.Form(s.apiDeleteUserPolicy)},
	}
	return &api.Service{Name: "iam", EventSource: "iam.amazonaws.com", Protocol: api.Query, XMLNamespace: iamNamespace, Operations: ops, Errors: errorTable}
}

// STSAPI returns the sts service description for the server.
func (s *Service) STSAPI() *api.Service {
	return &api.Service{Name: "sts", EventSource: "sts.amazonaws.com", Protocol: api.Query, XMLNamespace: stsNamespace,
		Operations: map[string]api.Operation{
			"GetCallerIdentity": {Handler: api.Form(s.apiGetCallerIdentity), ReadOnly: true, NoAuthz: true},
		}}
}

// xmlTag is a tag on the wire, in both directions (Tags.member.N.Key in a
// request, Tags>member in a response).
type xmlTag struct {
	Key   string `xml:"Key" query:"Key" json:"key"`
	Value string `xml:"Value" query:"Value" json:"value"`
}

type xmlUser struct {
	Path       string   `xml:"Path" json:"path"`
	UserName   string   `xml:"UserName" json:"userName"`
	UserID     string   `xml:"UserId" json:"userId"`
	Arn        string   `xml:"Arn" json:"arn"`
	CreateDate string   `xml:"CreateDate" json:"createDate"`
	Tags       []xmlTag `xml:"Tags>member,omitempty" json:"tags,omitempty"`
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func toXMLUser(u *User) xmlUser {
	x := xmlUser{Path: u.Path, UserName: u.UserName, UserID: u.UserID, Arn: u.ARN, CreateDate: isoTime(u.CreateDate)}
	for _, t := range u.Tags {
		x.Tags = append(x.Tags, xmlTag(t))
	}
	return x
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
func targetUser(c *api.Call, userName string) string {
	if userName != "" {
		return userName
	}
	return c.Principal.UserName
}

// nothing is the result of operations that return only ResponseMetadata.
type nothing struct{}

type userOutput struct {
	User xmlUser `xml:"User" json:"user"`
}

type createUserInput struct {
	UserName string   `query:"UserName" json:"userName,omitempty" required:"true"`
	Path     string   `query:"Path" json:"path,omitempty"`
	Tags     []xmlTag `query:"Tags" json:"tags,omitempty"`
}

func (s *Service) apiCreateUser(ctx context.Context, c *api.Call, in *createUserInput) (*userOutput, error) {
	if err := s.authorizeUser(ctx, c, "CreateUser", in.Path, in.UserName); err != nil {
		return nil, err
	}
	var tags []Tag
	for _, t := range in.Tags {
		tags = append(tags, Tag(t))
	}
	u, err := s.CreateUser(ctx, in.UserName, in.Path, tags)
	if err != nil {
		return nil, err
	}
	return &userOutput{toXMLUser(u)}, nil
}

// optionalUserInput names a user, or the caller itself when UserName is
// absent.
type optionalUserInput struct {
	UserName string `query:"UserName" json:"userName,omitempty"`
}

func (s *Service) apiGetUser(ctx context.Context, c *api.Call, in *optionalUserInput) (*userOutput, error) {
	name := targetUser(c, in.UserName)
	if name == "" {
		// The root asking about itself: IAM answers with the root user.
		if err := c.Authorize(ctx, api.AuthzRequest{Action: "iam:GetUser", Resource: s.RootARN()}); err != nil {
			return nil, err
		}
		return &userOutput{xmlUser{UserID: s.accountID, Arn: s.RootARN(), CreateDate: isoTime(time.Unix(0, 0))}}, nil
	}
	u, err := s.authorizeExisting(ctx, c, "GetUser", name)
	if err != nil {
		return nil, err
	}
	return &userOutput{toXMLUser(u)}, nil
}

type listUsersInput struct {
	PathPrefix string `query:"PathPrefix" json:"pathPrefix,omitempty"`
	Marker     string `query:"Marker" json:"marker,omitempty"`
	MaxItems   string `query:"MaxItems" json:"maxItems,omitempty"`
}

type listUsersOutput struct {
	Users       []xmlUser `xml:"Users>member" json:"users"`
	IsTruncated bool      `xml:"IsTruncated" json:"isTruncated"`
	Marker      string    `xml:"Marker,omitempty" json:"marker,omitempty"`
}

func (s *Service) apiListUsers(ctx context.Context, c *api.Call, in *listUsersInput) (*listUsersOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "iam:ListUsers", Resource: "arn:aws:iam::" + s.accountID + ":user/"}); err != nil {
		return nil, err
	}
	maxItems, err := parseMaxItems(in.MaxItems)
	if err != nil {
		return nil, err
	}
	users, marker, err := s.ListUsers(ctx, in.PathPrefix, in.Marker, maxItems)
	if err != nil {
		return nil, err
	}
	out := &listUsersOutput{Users: []xmlUser{}, IsTruncated: marker != "", Marker: marker}
	for _, u := range users {
		out.Users = append(out.Users, toXMLUser(u))
	}
	return out, nil
}

// parseMaxItems reads MaxItems: absent is 100, otherwise 1 to 1000.
func parseMaxItems(v string) (int, error) {
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

type userInput struct {
	UserName string `query:"UserName" json:"userName,omitempty" required:"true"`
}

func (s *Service) apiDeleteUser(ctx context.Context, c *api.Call, in *userInput) (*nothing, error) {
	u, err := s.authorizeExisting(ctx, c, "DeleteUser", in.UserName)
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteUser(ctx, u.UserName)
}

type xmlAccessKeyMeta struct {
	UserName    string `xml:"UserName" json:"userName"`
	AccessKeyID string `xml:"AccessKeyId" json:"accessKeyId"`
	Status      string `xml:"Status" json:"status"`
	CreateDate  string `xml:"CreateDate" json:"createDate"`
}

// xmlAccessKey is CreateAccessKey's result: the only shape that carries a
// secret access key. Its json name is on redact's list, so the audit log
// records the key's id and CloudTrail's marker in place of the secret.
type xmlAccessKey struct {
	UserName        string `xml:"UserName" json:"userName"`
	AccessKeyID     string `xml:"AccessKeyId" json:"accessKeyId"`
	Status          string `xml:"Status" json:"status"`
	SecretAccessKey string `xml:"SecretAccessKey" json:"secretAccessKey"`
	CreateDate      string `xml:"CreateDate" json:"createDate"`
}

type createAccessKeyOutput struct {
	AccessKey xmlAccessKey `xml:"AccessKey" json:"accessKey"`
}

func (s *Service) apiCreateAccessKey(ctx context.Context, c *api.Call, in *optionalUserInput) (*createAccessKeyOutput, error) {
	user, err := s.authorizeKeyOwner(ctx, c, "CreateAccessKey", targetUser(c, in.UserName))
	if err != nil {
		return nil, err
	}
	k, secret, err := s.CreateAccessKey(ctx, user)
	if err != nil {
		return nil, err
	}
	return &createAccessKeyOutput{xmlAccessKey{k.UserName, k.AccessKeyID, k.Status, secret, isoTime(k.CreateDate)}}, nil
}

type listAccessKeysOutput struct {
	AccessKeyMetadata []xmlAccessKeyMeta `xml:"AccessKeyMetadata>member" json:"accessKeyMetadata"`
	IsTruncated       bool               `xml:"IsTruncated" json:"isTruncated"`
}

func (s *Service) apiListAccessKeys(ctx context.Context, c *api.Call, in *optionalUserInput) (*listAccessKeysOutput, error) {
	user := targetUser(c, in.UserName)
	if user == "" {
		return nil, fmt.Errorf("%w: The root's access keys are listed by the server operator, not through ListAccessKeys: pass UserName.", ErrValidation)
	}
	u, err := s.authorizeExisting(ctx, c, "ListAccessKeys", user)
	if err != nil {
		return nil, err
	}
	keys, err := s.ListAccessKeys(ctx, u.UserName)
	if err != nil {
		return nil, err
	}
	out := &listAccessKeysOutput{AccessKeyMetadata: []xmlAccessKeyMeta{}}
	for _, k := range keys {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, xmlAccessKeyMeta{k.UserName, k.AccessKeyID, k.Status, isoTime(k.CreateDate)})
	}
	return out, nil
}

type updateAccessKeyInput struct {
	UserName    string `query:"UserName" json:"userName,omitempty"`
	AccessKeyID string `query:"AccessKeyId" json:"accessKeyId,omitempty" required:"true"`
	Status      string `query:"Status" json:"status,omitempty" required:"true"`
}

func (s *Service) apiUpdateAccessKey(ctx context.Context, c *api.Call, in *updateAccessKeyInput) (*nothing, error) {
	user, err := s.authorizeKeyOwner(ctx, c, "UpdateAccessKey", targetUser(c, in.UserName))
	if err != nil {
		return nil, err
	}
	return nil, s.UpdateAccessKey(ctx, user, in.AccessKeyID, in.Status)
}

type deleteAccessKeyInput struct {
	UserName    string `query:"UserName" json:"userName,omitempty"`
	AccessKeyID string `query:"AccessKeyId" json:"accessKeyId,omitempty" required:"true"`
}

func (s *Service) apiDeleteAccessKey(ctx context.Context, c *api.Call, in *deleteAccessKeyInput) (*nothing, error) {
	user, err := s.authorizeKeyOwner(ctx, c, "DeleteAccessKey", targetUser(c, in.UserName))
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteAccessKey(ctx, user, in.AccessKeyID)
}

type putUserPolicyInput struct {
	UserName       string `query:"UserName" json:"userName,omitempty" required:"true"`
	PolicyName     string `query:"PolicyName" json:"policyName,omitempty" required:"true"`
	PolicyDocument string `query:"PolicyDocument" json:"policyDocument,omitempty" required:"true"`
}

func (s *Service) apiPutUserPolicy(ctx context.Context, c *api.Call, in *putUserPolicyInput) (*nothing, error) {
	u, err := s.authorizeExisting(ctx, c, "PutUserPolicy", in.UserName)
	if err != nil {
		return nil, err
	}
	return nil, s.PutUserPolicy(ctx, u.UserName, in.PolicyName, in.PolicyDocument)
}

type userPolicyInput struct {
	UserName   string `query:"UserName" json:"userName,omitempty" required:"true"`
	PolicyName string `query:"PolicyName" json:"policyName,omitempty" required:"true"`
}

type getUserPolicyOutput struct {
	UserName       string `xml:"UserName" json:"userName"`
	PolicyName     string `xml:"PolicyName" json:"policyName"`
	PolicyDocument string `xml:"PolicyDocument" json:"policyDocument"`
}

func (s *Service) apiGetUserPolicy(ctx context.Context, c *api.Call, in *userPolicyInput) (*getUserPolicyOutput, error) {
	u, err := s.authorizeExisting(ctx, c, "GetUserPolicy", in.UserName)
	if err != nil {
		return nil, err
	}
	p, err := s.GetUserPolicy(ctx, u.UserName, in.PolicyName)
	if err != nil {
		return nil, err
	}
	return &getUserPolicyOutput{p.UserName, p.PolicyName, queryEscapePolicy(p.PolicyDocument)}, nil
}

type listUserPoliciesOutput struct {
	PolicyNames []string `xml:"PolicyNames>member" json:"policyNames"`
	IsTruncated bool     `xml:"IsTruncated" json:"isTruncated"`
}

func (s *Service) apiListUserPolicies(ctx context.Context, c *api.Call, in *userInput) (*listUserPoliciesOutput, error) {
	u, err := s.authorizeExisting(ctx, c, "ListUserPolicies", in.UserName)
	if err != nil {
		return nil, err
	}
	names, err := s.ListUserPolicies(ctx, u.UserName)
	if err != nil {
		return nil, err
	}
	return &listUserPoliciesOutput{PolicyNames: append([]string{}, names...)}, nil
}

func (s *Service) apiDeleteUserPolicy(ctx context.Context, c *api.Call, in *userPolicyInput) (*nothing, error) {
	u, err := s.authorizeExisting(ctx, c, "DeleteUserPolicy", in.UserName)
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteUserPolicy(ctx, u.UserName, in.PolicyName)
}

type callerIdentityOutput struct {
	UserID  string `xml:"UserId" json:"userId"`
	Account string `xml:"Account" json:"account"`
	Arn     string `xml:"Arn" json:"arn"`
}

// apiGetCallerIdentity needs no permission: AWS answers it for every
// authenticated caller, even one whose policies deny everything.
func (s *Service) apiGetCallerIdentity(_ context.Context, c *api.Call, _ *nothing) (*callerIdentityOutput, error) {
	return &callerIdentityOutput{c.Principal.UserID, c.Principal.AccountID, c.Principal.ARN}, nil
}
