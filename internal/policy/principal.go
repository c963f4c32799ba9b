package policy

import (
	"slices"
	"strings"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	// ARN is the caller's ARN, e.g. "arn:aws:iam::111122223333:user/alice",
	// "arn:aws:sts::111122223333:assumed-role/app/session", or for a service
	// principal its name, e.g. "ec2.amazonaws.com". Empty means anonymous.
	ARN string
	// AccountID is the caller's 12-digit account. When empty it is taken
	// from ARN.
	AccountID string
	// Type is "AWS" (the zero value means "AWS"), "Service", "Federated" or
	// "CanonicalUser".
	Type string
}

// Principal types accepted in Principal and NotPrincipal.
const (
	PrincipalAWS           = "AWS"
	PrincipalService       = "Service"
	PrincipalFederated     = "Federated"
	PrincipalCanonicalUser = "CanonicalUser"
)

func (p *Principal) typ() string {
	if p.Type == "" {
		return PrincipalAWS
	}
	return p.Type
}

func (p *Principal) account() string {
	if p.AccountID != "" {
		return p.AccountID
	}
	if ends, ok := arnSplits(p.ARN); ok && strings.HasPrefix(p.ARN, "arn:") {
		return p.ARN[ends[3]+1 : ends[4]]
	}
	return ""
}

type principalKind uint8

const (
	pkEveryone  principalKind = iota // "Principal": "*"
	pkAnyOfType                      // {"AWS": "*"}
	pkAccount                        // {"AWS": "111122223333"} or its root ARN
	pkARN                            // {"AWS": "arn:aws:iam::111122223333:user/alice"}
	pkValue                          // Service, Federated, CanonicalUser values
)

type principalEntry struct {
	kind    principalKind
	typ     string
	value   string
	account string // pkAccount
	// For a role ARN, the parts that identify its sessions: AWS matches
	// "arn:P:iam::A:role/path/N" against "arn:P:sts::A:assumed-role/N/session".
	rolePartition, roleAccount, roleName string
}

func compilePrincipals(m map[string][]string) ([]principalEntry, error) {
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	slices.Sort(types) // deterministic errors
	var out []principalEntry
	for _, t := range types {
		for _, v := range m[t] {
			e, err := compilePrincipal(t, v)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func compilePrincipal(typ, v string) (principalEntry, error) {
	e := principalEntry{typ: typ, value: v}
	if v == "" {
		return e, perr("principal %s must not be empty", typ)
	}
	switch typ {
	case "*":
		e.kind = pkEveryone
		return e, nil
	case PrincipalAWS:
		switch {
		case v == "*":
			e.kind = pkAnyOfType
		case isAccountID(v):
			e.kind, e.account = pkAccount, v
		case strings.HasPrefix(v, "arn:"):
			if acct, ok := rootAccount(v); ok {
				e.kind, e.account = pkAccount, acct
				return e, nil
			}
			if _, ok := arnSplits(v); !ok {
				return e, perr("invalid AWS principal %q", v)
			}
			e.kind = pkARN
			e.rolePartition, e.roleAccount, e.roleName = roleParts(v)
		default:
			return e, perr("invalid AWS principal %q: must be \"*\", an account id or an ARN", v)
		}
	case PrincipalService, PrincipalFederated, PrincipalCanonicalUser:
		e.kind = pkValue
		if v == "*" {
			e.kind = pkAnyOfType
		}
	default:
		return e, perr("unknown principal type %q (expected AWS, Service, Federated or CanonicalUser)", typ)
	}
	return e, nil
}

// matchPrincipals reports whether any entry names p. delegated is true when
// the only entries that match are p's account (id or root ARN) and p is not
// the account root itself: such a grant enables identity policies rather than
// granting access directly.
func matchPrincipals(entries []principalEntry, p *Principal) (matched, delegated bool) {
	typ := p.typ()
	for i := range entries {
		e := &entries[i]
		switch e.kind {
		case pkEveryone:
			return true, false
		case pkAnyOfType:
			if typ == e.typ {
				return true, false
			}
		case pkValue:
			if typ == e.typ && (p.ARN == e.value || (typ == PrincipalService && strings.EqualFold(p.ARN, e.value))) {
				return true, false
			}
		case pkARN:
			if typ == PrincipalAWS && (p.ARN == e.value || e.matchesSession(p.ARN)) {
				return true, false
			}
		case pkAccount:
			if typ != PrincipalAWS || p.account() != e.account {
				continue
			}
			if acct, ok := rootAccount(p.ARN); ok && acct == e.account {
				return true, false // the root user itself
			}
			matched, delegated = true, true
		}
	}
	return matched, delegated
}

// matchesSession reports whether arn is an STS session of the role e names.
func (e *principalEntry) matchesSession(arn string) bool {
	if e.roleName == "" || !strings.HasPrefix(arn, "arn:") {
		return false
	}
	ends, ok := arnSplits(arn)
	if !ok || arn[ends[1]+1:ends[2]] != "sts" {
		return false
	}
	rest, ok := strings.CutPrefix(arn[ends[4]+1:], "assumed-role/")
	if !ok {
		return false
	}
	name, _, ok := strings.Cut(rest, "/")
	return ok && name == e.roleName &&
		arn[ends[0]+1:ends[1]] == e.rolePartition &&
		arn[ends[3]+1:ends[4]] == e.roleAccount
}

// roleParts extracts partition, account and role name from an IAM role ARN
// ("arn:aws:iam::111122223333:role/path/name"); all empty for other ARNs.
func roleParts(arn string) (partition, account, name string) {
	ends, ok := arnSplits(arn)
	if !ok || arn[ends[1]+1:ends[2]] != "iam" {
		return "", "", ""
	}
	res, ok := strings.CutPrefix(arn[ends[4]+1:], "role/")
	if !ok || res == "" {
		return "", "", ""
	}
	if i := strings.LastIndexByte(res, '/'); i >= 0 {
		res = res[i+1:]
	}
	return arn[ends[0]+1 : ends[1]], arn[ends[3]+1 : ends[4]], res
}

// rootAccount returns the account of an account-root ARN
// ("arn:<partition>:iam::<account>:root").
func rootAccount(arn string) (string, bool) {
	if !strings.HasPrefix(arn, "arn:") {
		return "", false
	}
	ends, ok := arnSplits(arn)
	if !ok || arn[ends[1]+1:ends[2]] != "iam" || ends[3] != ends[2]+1 || arn[ends[4]+1:] != "root" {
		return "", false
	}
	acct := arn[ends[3]+1 : ends[4]]
	return acct, isAccountID(acct)
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
