package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Policy versions accepted in the "Version" element.
const (
	// Version2012 is the current policy language version. Only documents of
	// this version substitute policy variables such as ${aws:username}.
	Version2012 = "2012-10-17"
	// Version2008 is the legacy version; AWS treats "${...}" in it as literal
	// text, and so do we.
	Version2008 = "2008-10-17"
)

// Effect is the outcome of evaluating a policy, and also the value of a
// statement's "Effect" element (Allow or Deny).
type Effect int

const (
	// NoMatch means no statement applied: an implicit deny.
	NoMatch Effect = iota
	// Allow means at least one statement allowed and none denied.
	Allow
	// Deny means a statement explicitly denied; it overrides every Allow.
	Deny
)

// String returns "NoMatch", "Allow" or "Deny".
func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	case NoMatch:
		return "NoMatch"
	}
	return fmt.Sprintf("Effect(%d)", int(e))
}

// ParseError reports a malformed policy document. Msg is meant to be shown to
// the caller, e.g. as the message of a MalformedPolicyDocument error.
type ParseError struct {
	Msg string
}

// Error returns Msg.
func (e *ParseError) Error() string { return e.Msg }

func perr(format string, args ...any) error {
	return &ParseError{Msg: fmt.Sprintf(format, args...)}
}

// Kind says which kind of policy a document must be.
type Kind int

const (
	// KindAny accepts statements with and without a principal. Statements
	// with a principal only apply to the principals they name.
	KindAny Kind = iota
	// KindIdentity is a policy attached to a user, group or role: statements
	// must not name a principal and must name a resource.
	KindIdentity
	// KindResource is a policy attached to a resource (a key policy, a secret
	// policy): every statement must have Principal or NotPrincipal. A missing
	// Resource means the resource the policy is attached to.
	KindResource
)

// ParseOptions control ParseWithOptions. The zero value parses any kind of
// policy.
type ParseOptions struct {
	// Kind restricts the document to identity or resource policy rules.
	Kind Kind
}

// Policy is a parsed, validated policy document. It is immutable after
// parsing and safe for concurrent evaluation.
type Policy struct {
	// Version is the "Version" element, or "" when absent (treated as 2008-10-17).
	Version string
	// ID is the optional "Id" element.
	ID string
	// Statements are the statements in document order.
	Statements []Statement
}

// Statement is one element of a policy's "Statement" list. The exported
// fields are the document as written; a nil slice or map means the element
// was absent. Statements must come from Parse: a hand-built Statement never
// matches anything.
type Statement struct {
	// Sid is the optional statement id.
	Sid string
	// Effect is Allow or Deny.
	Effect Effect
	// Principal maps a principal type ("AWS", "Service", "Federated",
	// "CanonicalUser") to its values. The document form "Principal": "*" is
	// stored as {"*": ["*"]}.
	Principal map[string][]string
	// NotPrincipal has the same shape as Principal.
	NotPrincipal map[string][]string
	// Action and NotAction are action patterns such as "kms:Decrypt" or "kms:*".
	Action, NotAction []string
	// Resource and NotResource are ARN patterns or "*".
	Resource, NotResource []string
	// Condition maps operator -> condition key -> values, as written, with
	// JSON numbers and booleans turned into their text.
	Condition map[string]map[string][]string

	c compiled
}

// compiled is the evaluation form of a statement, built once by Parse.
type compiled struct {
	valid        bool
	actions      []string
	notAction    bool
	resources    []resourcePattern
	notResource  bool
	anyResource  bool // Resource absent in a resource policy
	principals   []principalEntry
	hasPrincipal bool
	notPrincipal bool
	conds        []condition
}

type resourcePattern struct {
	pat  string
	vars bool // contains "${" and the policy version substitutes variables
}

// Parse parses and validates a policy document of any kind.
func Parse(doc []byte) (*Policy, error) {
	return ParseWithOptions(doc, ParseOptions{})
}

// ParseIdentity parses an identity policy: no statement may have Principal or
// NotPrincipal, and every statement needs Resource or NotResource.
func ParseIdentity(doc []byte) (*Policy, error) {
	return ParseWithOptions(doc, ParseOptions{Kind: KindIdentity})
}

// ParseResource parses a resource policy such as a KMS key policy: every
// statement needs Principal or NotPrincipal.
func ParseResource(doc []byte) (*Policy, error) {
	return ParseWithOptions(doc, ParseOptions{Kind: KindResource})
}

var topLevelElements = []string{"Version", "Id", "Statement"}

var statementElements = []string{
	"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
	"Resource", "NotResource", "Condition",
}

// ParseWithOptions parses and validates a policy document. Errors are
// *ParseError.
func ParseWithOptions(doc []byte, opts ParseOptions) (*Policy, error) {
	if !json.Valid(doc) {
		return nil, perr("policy document is not valid JSON")
	}
	if err := checkDuplicateKeys(doc); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || top == nil {
		return nil, perr("policy document must be a JSON object")
	}
	if err := unknownElement(top, topLevelElements, "policy"); err != nil {
		return nil, err
	}
	p := &Policy{}
	if raw, ok := top["Version"]; ok {
		v, ok := decodeString(raw)
		if !ok {
			return nil, perr(`"Version" must be a string`)
		}
		if v != Version2012 && v != Version2008 {
			return nil, perr(`"Version" must be %q or %q, not %q`, Version2012, Version2008, v)
		}
		p.Version = v
	}
	if raw, ok := top["Id"]; ok {
		v, ok := decodeString(raw)
		if !ok {
			return nil, perr(`"Id" must be a string`)
		}
		p.ID = v
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, perr(`policy document has no "Statement"`)
	}
	var raws []json.RawMessage
	switch firstByte(raw) {
	case '{':
		raws = []json.RawMessage{raw}
	case '[':
		if err := json.Unmarshal(raw, &raws); err != nil {
			return nil, perr(`"Statement" must be an object or an array of objects`)
		}
	default:
		return nil, perr(`"Statement" must be an object or an array of objects`)
	}
	if len(raws) == 0 {
		return nil, perr(`"Statement" must not be empty`)
	}
	vars := p.Version == Version2012
	sids := make(map[string]int, len(raws))
	p.Statements = make([]Statement, 0, len(raws))
	for i, r := range raws {
		st, err := parseStatement(r, opts.Kind, vars)
		if err != nil {
			return nil, perr("statement %d: %s", i+1, err.(*ParseError).Msg)
		}
		if st.Sid != "" {
			if prev, dup := sids[st.Sid]; dup {
				return nil, perr("statement %d: Sid %q is already used by statement %d; statement ids must be unique", i+1, st.Sid, prev)
			}
			sids[st.Sid] = i + 1
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(raw json.RawMessage, kind Kind, vars bool) (Statement, error) {
	var st Statement
	var m map[string]json.RawMessage
	if firstByte(raw) != '{' || json.Unmarshal(raw, &m) != nil {
		return st, perr("must be a JSON object")
	}
	if err := unknownElement(m, statementElements, "statement"); err != nil {
		return st, err
	}
	if r, ok := m["Sid"]; ok {
		s, ok := decodeString(r)
		if !ok {
			return st, perr(`"Sid" must be a string`)
		}
		st.Sid = s
	}
	r, ok := m["Effect"]
	if !ok {
		return st, perr(`missing "Effect"`)
	}
	switch s, _ := decodeString(r); s {
	case "Allow":
		st.Effect = Allow
	case "Deny":
		st.Effect = Deny
	default:
		return st, perr(`"Effect" must be "Allow" or "Deny"`)
	}

	var err error
	if st.Principal, st.NotPrincipal, err = parsePrincipals(m); err != nil {
		return st, err
	}
	hasPrincipal := st.Principal != nil || st.NotPrincipal != nil
	switch {
	case kind == KindIdentity && hasPrincipal:
		return st, perr("an identity policy must not specify a principal")
	case kind == KindResource && !hasPrincipal:
		return st, perr(`a resource policy statement must have "Principal" or "NotPrincipal"`)
	}

	if st.Action, st.NotAction, err = stringPair(m, "Action", "NotAction"); err != nil {
		return st, err
	}
	if st.Action == nil && st.NotAction == nil {
		return st, perr(`missing "Action" or "NotAction"`)
	}
	if st.Resource, st.NotResource, err = stringPair(m, "Resource", "NotResource"); err != nil {
		return st, err
	}
	if st.Resource == nil && st.NotResource == nil && !hasPrincipal {
		return st, perr(`missing "Resource" or "NotResource"`)
	}
	if r, ok := m["Condition"]; ok {
		if st.Condition, err = parseConditionBlock(r); err != nil {
			return st, err
		}
	}
	if err := st.compile(vars); err != nil {
		return st, err
	}
	return st, nil
}

// compile validates element values and builds the evaluation form.
func (st *Statement) compile(vars bool) error {
	c := &st.c
	c.notAction = st.Action == nil
	acts := st.Action
	if c.notAction {
		acts = st.NotAction
	}
	for _, a := range acts {
		if err := validateAction(a); err != nil {
			return err
		}
	}
	c.actions = acts

	c.notResource = st.NotResource != nil
	res := st.Resource
	if c.notResource {
		res = st.NotResource
	}
	c.anyResource = res == nil
	for _, r := range res {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return perr("resource %q must be an ARN or \"*\"", r)
		}
		c.resources = append(c.resources, resourcePattern{pat: r, vars: vars && strings.Contains(r, "${")})
	}

	c.notPrincipal = st.NotPrincipal != nil
	pm := st.Principal
	if c.notPrincipal {
		pm = st.NotPrincipal
	}
	if pm != nil {
		c.hasPrincipal = true
		entries, err := compilePrincipals(pm)
		if err != nil {
			return err
		}
		c.principals = entries
	}

	conds, err := compileConditions(st.Condition, vars)
	if err != nil {
		return err
	}
	c.conds = conds
	c.valid = true
	return nil
}

func validateAction(a string) error {
	if a == "*" {
		return nil
	}
	prefix, name, ok := strings.Cut(a, ":")
	if !ok || prefix == "" || name == "" {
		return perr("action %q must be \"*\" or \"service:action\"; actions must be prefaced by a vendor, e.g. kms", a)
	}
	if strings.ContainsAny(a, " \t\r\n") {
		return perr("action %q must not contain whitespace", a)
	}
	return nil
}

func parsePrincipals(m map[string]json.RawMessage) (p, np map[string][]string, err error) {
	if _, both := m["Principal"]; both {
		if _, both = m["NotPrincipal"]; both {
			return nil, nil, perr(`a statement must not have both "Principal" and "NotPrincipal"`)
		}
	}
	for _, name := range []string{"Principal", "NotPrincipal"} {
		r, ok := m[name]
		if !ok {
			continue
		}
		v, err := parsePrincipalValue(r, name)
		if err != nil {
			return nil, nil, err
		}
		if name == "Principal" {
			p = v
		} else {
			np = v
		}
	}
	return p, np, nil
}

func parsePrincipalValue(raw json.RawMessage, name string) (map[string][]string, error) {
	if s, ok := decodeString(raw); ok {
		if s != "*" {
			return nil, perr(`%q must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"}`, name)
		}
		return map[string][]string{"*": {"*"}}, nil
	}
	var obj map[string]json.RawMessage
	if firstByte(raw) != '{' || json.Unmarshal(raw, &obj) != nil {
		return nil, perr(`%q must be "*" or an object`, name)
	}
	if len(obj) == 0 {
		return nil, perr("%q must not be empty", name)
	}
	out := make(map[string][]string, len(obj))
	for typ, r := range obj {
		vals, ok := decodeStrings(r)
		if !ok || len(vals) == 0 {
			return nil, perr("%q %q must be a string or a non-empty array of strings", name, typ)
		}
		out[typ] = vals
	}
	return out, nil
}

// stringPair decodes a positive element and its Not* twin, which are
// mutually exclusive.
func stringPair(m map[string]json.RawMessage, pos, neg string) (p, n []string, err error) {
	rp, hasP := m[pos]
	rn, hasN := m[neg]
	if hasP && hasN {
		return nil, nil, perr("a statement must not have both %q and %q", pos, neg)
	}
	name, raw := pos, rp
	if hasN {
		name, raw = neg, rn
	}
	if !hasP && !hasN {
		return nil, nil, nil
	}
	vals, ok := decodeStrings(raw)
	if !ok {
		return nil, nil, perr("%q must be a string or an array of strings", name)
	}
	if len(vals) == 0 {
		return nil, nil, perr("%q must not be empty", name)
	}
	for _, v := range vals {
		if v == "" {
			return nil, nil, perr("%q must not contain an empty string", name)
		}
	}
	if hasN {
		return nil, vals, nil
	}
	return vals, nil, nil
}

func parseConditionBlock(raw json.RawMessage) (map[string]map[string][]string, error) {
	var ops map[string]json.RawMessage
	if firstByte(raw) != '{' || json.Unmarshal(raw, &ops) != nil {
		return nil, perr(`"Condition" must be an object of condition operators`)
	}
	out := make(map[string]map[string][]string, len(ops))
	for op, r := range ops {
		var keys map[string]json.RawMessage
		if firstByte(r) != '{' || json.Unmarshal(r, &keys) != nil {
			return nil, perr("condition operator %q must map condition keys to values", op)
		}
		if len(keys) == 0 {
			return nil, perr("condition operator %q has no condition keys", op)
		}
		km := make(map[string][]string, len(keys))
		for k, vr := range keys {
			vals, err := decodeConditionValues(vr)
			if err != nil {
				return nil, perr("condition %s %q: %s", op, k, err.(*ParseError).Msg)
			}
			km[k] = vals
		}
		out[op] = km
	}
	return out, nil
}

// decodeConditionValues accepts a string, number or boolean, or an array of
// them, and returns their text (numbers as written).
func decodeConditionValues(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, perr("invalid value")
	}
	scalar := func(x any) (string, bool) {
		switch t := x.(type) {
		case string:
			return t, true
		case json.Number:
			return t.String(), true
		case bool:
			if t {
				return "true", true
			}
			return "false", true
		}
		return "", false
	}
	if arr, ok := v.([]any); ok {
		if len(arr) == 0 {
			return nil, perr("values must not be empty")
		}
		out := make([]string, len(arr))
		for i, x := range arr {
			s, ok := scalar(x)
			if !ok {
				return nil, perr("values must be strings, numbers or booleans")
			}
			out[i] = s
		}
		return out, nil
	}
	s, ok := scalar(v)
	if !ok {
		return nil, perr("value must be a string, number, boolean or an array of them")
	}
	return []string{s}, nil
}

func unknownElement(m map[string]json.RawMessage, known []string, where string) error {
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return perr("unknown %s element %q (element names are case-sensitive; expected one of %s)",
		where, unknown[0], strings.Join(known, ", "))
}

func decodeString(raw json.RawMessage) (string, bool) {
	if firstByte(raw) != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// decodeStrings accepts a string or an array of strings.
func decodeStrings(raw json.RawMessage) ([]string, bool) {
	switch firstByte(raw) {
	case '"':
		s, ok := decodeString(raw)
		if !ok {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var ss []string
		if json.Unmarshal(raw, &ss) != nil {
			return nil, false
		}
		if ss == nil {
			ss = []string{}
		}
		return ss, true
	}
	return nil, false
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}
