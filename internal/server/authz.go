package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// Authorize implements api.Authorizer: the caller's identity policies, the
// resource's policy and the request's condition keys go through the policy
// engine, and a refusal names principal, action and resource as AWS does.
func (s *Server) Authorize(ctx context.Context, c *api.Call, req api.AuthzRequest) error {
	start := s.cfg.Clock.Now()
	defer func() { s.metrics.stage.WithLabelValues("policy").Observe(s.cfg.Clock.Now().Sub(start).Seconds()) }()
	identity, err := s.iam.IdentityPolicies(ctx, c.Principal)
	if err != nil {
		return err
	}
	tags, err := s.tagConditions(ctx, c, req)
	if err != nil {
		return err
	}
	pr := &policy.Request{
		Principal: policy.Principal{ARN: c.Principal.ARN, AccountID: c.Principal.AccountID, Type: "AWS"},
		Action:    req.Action,
		Resource:  req.Resource,
		Context:   conditionContext(c, req.Context, tags),
	}
	d := policy.Authorize(pr, identity, req.ResourcePolicy, req.Mode)
	if d.Allowed {
		return nil
	}
	return &awsproto.AccessDenied{Principal: c.Principal.ARN, Action: req.Action, Resource: req.Resource, Reason: d.Reason}
}

// conditionContext adds the global condition keys every policy may test,
// and the tag keys, to the service's own keys. The server's keys win: a
// service cannot supply, say, aws:username or aws:ResourceTag/* values of
// its own.
func conditionContext(c *api.Call, service, tags map[string][]string) map[string][]string {
	ctx := make(map[string][]string, len(service)+len(tags)+10)
	for k, v := range service {
		ctx[k] = v
	}
	for k, v := range tags {
		ctx[k] = v
	}
	p := c.Principal
	ctx["aws:sourceip"] = []string{c.SourceIP}
	ctx["aws:principalarn"] = []string{p.ARN}
	ctx["aws:principalaccount"] = []string{p.AccountID}
	ctx["aws:userid"] = []string{p.UserID}
	ctx["aws:principaltype"] = []string{principalType(p.Type)}
	ctx["aws:currenttime"] = []string{c.Time.Format("2006-01-02T15:04:05Z")}
	ctx["aws:epochtime"] = []string{strconv.FormatInt(c.Time.Unix(), 10)}
	ctx["aws:useragent"] = []string{c.UserAgent}
	ctx["aws:requestedregion"] = []string{c.Region}
	ctx["aws:securetransport"] = []string{strconv.FormatBool(c.TLS)}
	if p.UserName != "" {
		ctx["aws:username"] = []string{p.UserName}
	}
	return ctx
}

func principalType(t api.PrincipalType) string {
	if t == api.Root {
		return "Account"
	}
	return "User"
}

// tagConditions returns the tag condition keys of one authorization, in
// one place for every service: aws:ResourceTag/<key> from the resource's
// tags (given by the handler, or looked up through the service that owns
// the ARN), and aws:RequestTag/<key> and aws:TagKeys from the request's
// Tags and TagKeys members. Key names are lower-cased, as condition key
// names are case-insensitive; values keep their case.
func (s *Server) tagConditions(ctx context.Context, c *api.Call, req api.AuthzRequest) (map[string][]string, error) {
	var out map[string][]string
	add := func(k, v string) {
		if out == nil {
			out = map[string][]string{}
		}
		out[k] = append(out[k], v)
	}
	resTags := req.ResourceTags
	if resTags == nil {
		var err error
		if resTags, err = s.lookupResourceTags(ctx, req.Resource); err != nil {
			return nil, err
		}
	}
	for k, v := range resTags {
		add("aws:resourcetag/"+strings.ToLower(k), v)
	}
	reqTags, err := requestTags(c)
	if err != nil {
		return nil, err
	}
	for _, t := range reqTags {
		if t.value != nil {
			add("aws:requesttag/"+strings.ToLower(t.key), *t.value)
		}
		add("aws:tagkeys", t.key)
	}
	return out, nil
}

// lookupResourceTags asks the service named by arn's service field for the
// resource's tags. An ARN of a service without tags, or no ARN ("*"), has
// none.
func (s *Server) lookupResourceTags(ctx context.Context, arn string) (map[string]string, error) {
	svcName, ok := arnService(arn)
	if !ok {
		return nil, nil
	}
	for _, svc := range s.services {
		if svc.Name != svcName || svc.ResourceTags == nil {
			continue
		}
		tags, err := svc.ResourceTags(ctx, arn)
		if err != nil {
			// Fail closed: a Deny conditioned on a tag we could not read
			// must not be skipped.
			return nil, fmt.Errorf("reading the tags of %s: %w", arn, err)
		}
		return tags, nil
	}
	return nil, nil
}

// arnService returns the service field of arn:partition:service:….
func arnService(arn string) (string, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, ":")
	if !ok {
		return "", false
	}
	svc, _, ok := strings.Cut(rest, ":")
	if !ok || svc == "" {
		return "", false
	}
	return svc, true
}

// requestTag is one tag a request sets or removes; value is nil for a key
// named without a value (TagKeys, an untag list).
type requestTag struct {
	key   string
	value *string
}

// wireTag is every tag shape of the JSON services: {Key, Value} (ACM, ACM
// PCA, Secrets Manager, EventBridge) and {TagKey, TagValue} (KMS). It is
// decoded with encoding/json's struct rules, like the handlers' own input
// shapes, so the tags seen here are the tags the handler applies.
type wireTag struct {
	Key      *string `json:"Key"`
	Value    *string `json:"Value"`
	TagKey   *string `json:"TagKey"`
	TagValue *string `json:"TagValue"`
}

// requestTags reads the top-level Tags and TagKeys members of a JSON
// request body. A body without them has no request tags; a Tags member of
// another shape is refused rather than authorized without its tags.
func requestTags(c *api.Call) ([]requestTag, error) {
	if c.Service == nil || c.Service.Protocol != api.JSON11 || len(c.Body) == 0 {
		return nil, nil
	}
	// Cheap pre-check for the hot paths (Decrypt, GetSecretValue): member
	// names are matched case-insensitively, so look for a string starting
	// with "tag in any case (base64 values may contain "tag" but never a
	// quote).
	if !containsFold(c.Body, `"tag`) {
		return nil, nil
	}
	var in struct {
		Tags    json.RawMessage `json:"Tags"`
		TagKeys json.RawMessage `json:"TagKeys"`
	}
	if err := json.Unmarshal(c.Body, &in); err != nil {
		// The handler's own decoding refuses the body in its own words.
		return nil, awsproto.Serialization("The request body is not a JSON object.")
	}
	var out []requestTag
	if len(in.Tags) > 0 && string(in.Tags) != "null" {
		var tags []wireTag
		if err := json.Unmarshal(in.Tags, &tags); err != nil {
			return nil, awsproto.Validation("Tags must be a list of tags, each {\"Key\": …, \"Value\": …}.")
		}
		for _, t := range tags {
			key, value := t.Key, t.Value
			if t.TagKey != nil || t.TagValue != nil {
				if t.Key != nil || t.Value != nil {
					return nil, awsproto.Validation("A tag has both Key/Value and TagKey/TagValue members; use the one shape of this service.")
				}
				key, value = t.TagKey, t.TagValue
			}
			if key == nil {
				return nil, awsproto.Validation("Every tag needs a key.")
			}
			out = append(out, requestTag{key: *key, value: value})
		}
	}
	if len(in.TagKeys) > 0 && string(in.TagKeys) != "null" {
		var keys []string
		if err := json.Unmarshal(in.TagKeys, &keys); err != nil {
			return nil, awsproto.Validation("TagKeys must be a list of strings.")
		}
		for _, k := range keys {
			out = append(out, requestTag{key: k})
		}
	}
	return out, nil
}

// containsFold reports whether b contains sub (ASCII lower case letters
// and '"') in any case. Escapes could hide sub from a byte search, so a
// backslash anywhere makes it answer true.
func containsFold(b []byte, sub string) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' {
			return true
		}
		if i+len(sub) <= len(b) {
			match := true
			for j := 0; j < len(sub); j++ {
				c := b[i+j]
				if 'A' <= c && c <= 'Z' {
					c |= 0x20
				}
				if c != sub[j] {
					match = false
					break
				}
			}
			if match {
				return true
			}
		}
	}
	return false
}
