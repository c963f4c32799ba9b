package policy

import "strings"

// Request is one API call to authorise.
type Request struct {
	// Principal is the authenticated caller.
	Principal Principal
	// Action is "service:Operation", e.g. "kms:Decrypt"; matched
	// case-insensitively.
	Action string
	// Resource is the ARN acted on; matched case-sensitively. Empty matches
	// only "*" patterns (and resource policies without Resource).
	Resource string
	// Context holds condition keys and their values. Keys are matched
	// case-insensitively; storing them in lower case makes lookups cheapest.
	// A key that is absent or has no values is "missing" to conditions.
	// aws:PrincipalArn and aws:PrincipalAccount default to Principal's.
	Context map[string][]string
}

// lookup returns the values of a condition key, case-insensitively.
func (r *Request) lookup(key string) []string {
	if v, ok := r.Context[key]; ok {
		return v
	}
	for k, v := range r.Context {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	switch {
	case strings.EqualFold(key, "aws:PrincipalArn") && r.Principal.ARN != "":
		return []string{r.Principal.ARN}
	case strings.EqualFold(key, "aws:PrincipalAccount"):
		if a := r.Principal.account(); a != "" {
			return []string{a}
		}
	}
	return nil
}

// Evaluate returns Deny if any statement that applies to req denies, else
// Allow if any allows, else NoMatch. Statements with Principal or
// NotPrincipal only apply when they name (or, for NotPrincipal, do not name)
// req.Principal; an account id or account-root ARN names every principal of
// that account.
func (p *Policy) Evaluate(req *Request) Effect {
	e, _, _ := p.eval(req)
	return e
}

// EvaluateResource evaluates a resource policy like Evaluate and also reports
// whether the Allow was only a delegation: every allowing statement matched
// the caller through its account ("111122223333" or
// "arn:aws:iam::111122223333:root"), not by naming it or "*". Such a policy
// lets the account's identity policies decide; it does not grant access on
// its own. The account root user itself is matched directly.
func (p *Policy) EvaluateResource(req *Request) (effect Effect, delegatedToAccount bool) {
	e, d, _ := p.eval(req)
	return e, d
}

// eval returns the effect, whether an Allow is delegation only, and the
// deciding statement (the first Deny, or the first direct Allow, or the
// first delegating Allow).
func (p *Policy) eval(req *Request) (Effect, bool, *Statement) {
	if p == nil {
		return NoMatch, false, nil
	}
	var allow *Statement
	direct := false
	for i := range p.Statements {
		st := &p.Statements[i]
		ok, delegated := st.applies(req)
		if !ok {
			continue
		}
		if st.Effect == Deny {
			return Deny, false, st
		}
		if st.Effect == Allow && !direct && (allow == nil || !delegated) {
			allow = st
			direct = !delegated
		}
	}
	if allow == nil {
		return NoMatch, false, nil
	}
	return Allow, !direct, allow
}

// applies reports whether the statement covers req, and whether it covers
// the principal only through delegation to its account.
func (st *Statement) applies(req *Request) (ok, delegated bool) {
	c := &st.c
	if !c.valid {
		return false, false
	}
	if c.matchAction(req.Action) == c.notAction {
		return false, false
	}
	if !c.anyResource && c.matchResource(req) == c.notResource {
		return false, false
	}
	if c.hasPrincipal {
		m, d := matchPrincipals(c.principals, &req.Principal)
		if c.notPrincipal {
			m, d = !m, false
		}
		if !m {
			return false, false
		}
		delegated = d
	}
	for i := range c.conds {
		if !c.conds[i].eval(req) {
			return false, false
		}
	}
	return true, delegated
}

func (c *compiled) matchAction(action string) bool {
	for _, a := range c.actions {
		if a == "*" || matchGlob(a, nil, action, true) {
			return true
		}
	}
	return false
}

func (c *compiled) matchResource(req *Request) bool {
	for _, r := range c.resources {
		if r.pat == "*" {
			return true
		}
		if !r.vars {
			if matchGlob(r.pat, nil, req.Resource, false) {
				return true
			}
			continue
		}
		pat, lit, ok := expandVars(r.pat, req)
		if ok && matchGlob(pat, lit, req.Resource, false) {
			return true
		}
	}
	return false
}

// Mode selects how Authorize combines identity and resource policies.
type Mode int

const (
	// Standard is the IAM rule within one account: an Allow in an identity
	// policy or a resource policy that names the caller suffices.
	Standard Mode = iota
	// KeyPolicy is the AWS KMS rule: the key policy must allow, either by
	// naming the caller (or "*"), or by delegating to the caller's account,
	// in which case an identity policy must allow too. No key policy, no
	// access.
	KeyPolicy
)

// Decision is the result of Authorize.
type Decision struct {
	// Allowed is true when the request may proceed.
	Allowed bool
	// ExplicitDeny is true when a Deny statement matched (AWS reports these
	// as "with an explicit deny").
	ExplicitDeny bool
	// Reason explains the decision for logs and audit records; it names the
	// deciding statement's Sid when it has one.
	Reason string
}

// Authorize decides req against the caller's identity policies and the
// resource's policy (nil when the resource has none). An explicit Deny in any
// policy wins. Otherwise, in Standard mode, the request is allowed when an
// identity policy allows or the resource policy allows the caller directly;
// in KeyPolicy mode see KeyPolicy. Nil entries in identity are skipped.
func Authorize(req *Request, identity []*Policy, resource *Policy, mode Mode) Decision {
	var idAllow *Statement
	for _, p := range identity {
		e, _, st := p.eval(req)
		switch e {
		case Deny:
			return Decision{ExplicitDeny: true, Reason: "explicitly denied by identity policy" + sidSuffix(st)}
		case Allow:
			if idAllow == nil {
				idAllow = st
			}
		}
	}
	resEffect, delegated, resStmt := resource.eval(req)
	if resEffect == Deny {
		return Decision{ExplicitDeny: true, Reason: "explicitly denied by " + resourceName(mode) + sidSuffix(resStmt)}
	}
	resDirect := resEffect == Allow && !delegated

	if mode == KeyPolicy {
		switch {
		case resource == nil:
			return Decision{Reason: "the key has no key policy"}
		case resDirect:
			return Decision{Allowed: true, Reason: "allowed by key policy" + sidSuffix(resStmt)}
		case resEffect == Allow && idAllow != nil:
			return Decision{Allowed: true, Reason: "key policy" + sidSuffix(resStmt) +
				" delegates to the account and identity policy" + sidSuffix(idAllow) + " allows"}
		case resEffect == Allow:
			return Decision{Reason: "key policy" + sidSuffix(resStmt) +
				" delegates to the account but no identity policy allows"}
		}
		return Decision{Reason: "no key policy statement allows"}
	}
	switch {
	case idAllow != nil:
		return Decision{Allowed: true, Reason: "allowed by identity policy" + sidSuffix(idAllow)}
	case resDirect:
		return Decision{Allowed: true, Reason: "allowed by resource policy" + sidSuffix(resStmt)}
	}
	return Decision{Reason: "no policy allows (implicit deny)"}
}

func resourceName(m Mode) string {
	if m == KeyPolicy {
		return "key policy"
	}
	return "resource policy"
}

func sidSuffix(st *Statement) string {
	if st == nil || st.Sid == "" {
		return ""
	}
	return " statement " + st.Sid
}
