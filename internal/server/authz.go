package server

import (
	"context"
	"strconv"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// Authorize implements api.Authorizer: the caller's identity policies, the
// resource's policy and the request's condition keys go through the policy
// engine, and a refusal names principal, action and resource as AWS does.
func (s *Server) Authorize(ctx context.Context, c *api.Call, req api.AuthzRequest) error {
	start := s.cfg.Now()
	defer func() { s.metrics.stage.WithLabelValues("policy").Observe(s.cfg.Now().Sub(start).Seconds()) }()
	identity, err := s.iam.IdentityPolicies(ctx, c.Principal)
	if err != nil {
		return err
	}
	pr := &policy.Request{
		Principal: policy.Principal{ARN: c.Principal.ARN, AccountID: c.Principal.AccountID, Type: "AWS"},
		Action:    req.Action,
		Resource:  req.Resource,
		Context:   conditionContext(c, req.Context),
	}
	d := policy.Authorize(pr, identity, req.ResourcePolicy, req.Mode)
	if d.Allowed {
		return nil
	}
	return &awsproto.AccessDenied{Principal: c.Principal.ARN, Action: req.Action, Resource: req.Resource, Reason: d.Reason}
}

// conditionContext adds the global condition keys every policy may test to
// the service's own keys.
func conditionContext(c *api.Call, service map[string][]string) map[string][]string {
	ctx := make(map[string][]string, len(service)+10)
	for k, v := range service {
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
