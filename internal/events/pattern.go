package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Event patterns are untrusted input (any caller with events:PutRule or
// events:TestEventPattern writes them), so compilation bounds everything
// matching will cost: the pattern text is at most maxPatternBytes, nesting
// at most maxPatternDepth, and wildcard matching is linear-time per
// candidate (no backtracking regexps).
const (
	maxPatternBytes = 4096
	maxPatternDepth = 32
)

// patternErr is a pattern compilation failure, in the words of AWS's
// InvalidEventPatternException.
func patternErr(format string, args ...any) error {
	return fmt.Errorf("%w: Event pattern is not valid. Reason: %s", ErrInvalidPattern, fmt.Sprintf(format, args...))
}

// pattern is a compiled event pattern: every field must match (AND), and
// if ors is set one of its alternatives must match too ($or).
type pattern struct {
	fields []fieldMatcher
	ors    []*pattern
}

// fieldMatcher matches one key of an object: either a nested pattern (the
// pattern value was an object) or a list of value matchers, any of which
// may match (the pattern value was an array).
type fieldMatcher struct {
	key    string
	nested *pattern
	values []valueMatcher
}

type matchKind int

const (
	mExact matchKind = iota // str, num, boolean or null equal
	mPrefix
	mSuffix
	mEqualsIgnoreCase
	mWildcard
	mNumeric
	mExists
	mAnythingBut // not any of the inner exact values (or inner operator)
	mCIDR
)

// valueMatcher is one element of a pattern's value array.
type valueMatcher struct {
	kind matchKind
	// exact: the JSON value; str for strings, num for numbers, and
	// isNull/boolean for the rest.
	str     string
	num     float64
	isNum   bool
	isBool  bool
	boolean bool
	isNull  bool
	fold    bool // prefix/suffix with equals-ignore-case
	// numeric ranges: lower/upper bounds (inclusive flags).
	lo, hi       float64
	loInc, hiInc bool
	exists       bool
	// anything-but: the excluded values, or one operator in inner.
	excluded []valueMatcher
	inner    *valueMatcher
	prefix   netip.Prefix
}

// compilePattern parses and validates an EventBridge event pattern.
func compilePattern(text string) (*pattern, error) {
	if len(text) > maxPatternBytes {
		return nil, patternErr("the pattern is longer than %d characters", maxPatternBytes)
	}
	v, err := decodeJSON([]byte(text))
	if err != nil {
		return nil, patternErr("the pattern is not valid JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, patternErr("the pattern must be a JSON object")
	}
	return compileObject(obj, 0)
}

// decodeJSON decodes one JSON value keeping numbers as json.Number (so a
// number keeps the text it was written with for exact comparisons) and
// refuses trailing data.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func compileObject(obj map[string]any, depth int) (*pattern, error) {
	if depth > maxPatternDepth {
		return nil, patternErr("the pattern is nested deeper than %d levels", maxPatternDepth)
	}
	if len(obj) == 0 {
		return nil, patternErr("empty objects are not allowed in a pattern")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic evaluation order
	p := &pattern{}
	for _, k := range keys {
		v := obj[k]
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return nil, patternErr("$or must be an array of at least two patterns")
			}
			for _, a := range alts {
				ao, ok := a.(map[string]any)
				if !ok {
					return nil, patternErr("each $or alternative must be an object")
				}
				sub, err := compileObject(ao, depth+1)
				if err != nil {
					return nil, err
				}
				p.ors = append(p.ors, sub)
			}
			continue
		}
		switch t := v.(type) {
		case map[string]any:
			sub, err := compileObject(t, depth+1)
			if err != nil {
				return nil, err
			}
			p.fields = append(p.fields, fieldMatcher{key: k, nested: sub})
		case []any:
			if len(t) == 0 {
				return nil, patternErr("the value of %q is an empty array", k)
			}
			fm := fieldMatcher{key: k}
			for _, e := range t {
				vm, err := compileValue(k, e)
				if err != nil {
					return nil, err
				}
				fm.values = append(fm.values, vm)
			}
			p.fields = append(p.fields, fm)
		default:
			return nil, patternErr("the value of %q must be an object or an array", k)
		}
	}
	return p, nil
}

func compileValue(key string, e any) (valueMatcher, error) {
	if op, ok := e.(map[string]any); ok {
		return compileOperator(key, op)
	}
	return exactMatcher(key, e)
}

func exactMatcher(key string, e any) (valueMatcher, error) {
	switch t := e.(type) {
	case string:
		return valueMatcher{kind: mExact, str: t}, nil
	case json.Number:
		f, err := parseNumber(t)
		if err != nil {
			return valueMatcher{}, patternErr("%q: %v", key, err)
		}
		return valueMatcher{kind: mExact, num: f, isNum: true}, nil
	case bool:
		return valueMatcher{kind: mExact, isBool: true, boolean: t}, nil
	case nil:
		return valueMatcher{kind: mExact, isNull: true}, nil
	}
	return valueMatcher{}, patternErr("%q: arrays inside value arrays are not allowed", key)
}

func parseNumber(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("number %s is out of range", n)
	}
	return f, nil
}

func compileOperator(key string, op map[string]any) (valueMatcher, error) {
	if len(op) != 1 {
		return valueMatcher{}, patternErr("%q: a matching object must have exactly one operator", key)
	}
	for name, arg := range op {
		switch name {
		case "prefix", "suffix":
			kind := mPrefix
			if name == "suffix" {
				kind = mSuffix
			}
			if s, ok := arg.(string); ok {
				return valueMatcher{kind: kind, str: s}, nil
			}
			if inner, ok := arg.(map[string]any); ok && len(inner) == 1 {
				if s, ok := inner["equals-ignore-case"].(string); ok {
					return valueMatcher{kind: kind, str: strings.ToLower(s), fold: true}, nil
				}
			}
			return valueMatcher{}, patternErr("%q: %s takes a string", key, name)
		case "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return valueMatcher{}, patternErr("%q: equals-ignore-case takes a string", key)
			}
			return valueMatcher{kind: mEqualsIgnoreCase, str: strings.ToLower(s)}, nil
		case "wildcard":
			s, ok := arg.(string)
			if !ok {
				return valueMatcher{}, patternErr("%q: wildcard takes a string", key)
			}
			if strings.Contains(s, "**") {
				return valueMatcher{}, patternErr("%q: consecutive wildcard characters are not allowed", key)
			}
			return valueMatcher{kind: mWildcard, str: s}, nil
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return valueMatcher{}, patternErr("%q: exists takes true or false", key)
			}
			return valueMatcher{kind: mExists, exists: b}, nil
		case "numeric":
			return compileNumeric(key, arg)
		case "cidr":
			s, ok := arg.(string)
			if !ok {
				return valueMatcher{}, patternErr("%q: cidr takes a string", key)
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return valueMatcher{}, patternErr("%q: %v", key, err)
			}
			return valueMatcher{kind: mCIDR, prefix: pfx.Masked()}, nil
		case "anything-but":
			return compileAnythingBut(key, arg)
		default:
			return valueMatcher{}, patternErr("%q: unrecognized match type %s", key, name)
		}
	}
	panic("unreachable")
}

func compileAnythingBut(key string, arg any) (valueMatcher, error) {
	vm := valueMatcher{kind: mAnythingBut}
	switch t := arg.(type) {
	case []any:
		if len(t) == 0 {
			return vm, patternErr("%q: anything-but needs at least one value", key)
		}
		for _, e := range t {
			if _, isObj := e.(map[string]any); isObj {
				return vm, patternErr("%q: anything-but lists hold only values", key)
			}
			x, err := exactMatcher(key, e)
			if err != nil {
				return vm, err
			}
			vm.excluded = append(vm.excluded, x)
		}
	case map[string]any:
		if len(t) != 1 {
			return vm, patternErr("%q: anything-but takes one operator", key)
		}
		for name, a := range t {
			var inner valueMatcher
			var err error
			switch name {
			case "prefix", "suffix", "wildcard":
				inner, err = compileOperator(key, map[string]any{name: a})
			case "equals-ignore-case":
				// equals-ignore-case under anything-but may take a list.
				list, isList := a.([]any)
				if !isList {
					list = []any{a}
				}
				for _, e := range list {
					s, ok := e.(string)
					if !ok {
						return vm, patternErr("%q: equals-ignore-case takes strings", key)
					}
					vm.excluded = append(vm.excluded, valueMatcher{kind: mEqualsIgnoreCase, str: strings.ToLower(s)})
				}
				return vm, nil
			default:
				return vm, patternErr("%q: anything-but does not support %s", key, name)
			}
			if err != nil {
				return vm, err
			}
			vm.inner = &inner
		}
	default:
		x, err := exactMatcher(key, arg)
		if err != nil {
			return vm, err
		}
		vm.excluded = []valueMatcher{x}
	}
	return vm, nil
}

func compileNumeric(key string, arg any) (valueMatcher, error) {
	list, ok := arg.([]any)
	if !ok || len(list) == 0 || len(list)%2 != 0 || len(list) > 4 {
		return valueMatcher{}, patternErr("%q: numeric takes one or two operator/number pairs", key)
	}
	vm := valueMatcher{kind: mNumeric, lo: math.Inf(-1), hi: math.Inf(1), loInc: true, hiInc: true}
	var haveLo, haveHi, haveEq bool
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		n, nok := list[i+1].(json.Number)
		if !ok || !nok {
			return vm, patternErr("%q: numeric takes operator/number pairs", key)
		}
		f, err := parseNumber(n)
		if err != nil {
			return vm, patternErr("%q: %v", key, err)
		}
		switch op {
		case "=":
			if len(list) != 2 {
				return vm, patternErr("%q: numeric = stands alone", key)
			}
			vm.lo, vm.hi, haveEq = f, f, true
		case ">", ">=":
			if haveLo {
				return vm, patternErr("%q: numeric has two lower bounds", key)
			}
			vm.lo, vm.loInc, haveLo = f, op == ">=", true
		case "<", "<=":
			if haveHi {
				return vm, patternErr("%q: numeric has two upper bounds", key)
			}
			vm.hi, vm.hiInc, haveHi = f, op == "<=", true
		default:
			return vm, patternErr("%q: unrecognized numeric operator %q", key, op)
		}
	}
	if !haveEq && haveLo && haveHi && vm.lo > vm.hi {
		return vm, patternErr("%q: numeric range is empty", key)
	}
	return vm, nil
}

// match reports whether the decoded event (an object from decodeJSON)
// matches p.
func (p *pattern) match(event any) bool {
	obj, ok := event.(map[string]any)
	if !ok {
		return false
	}
	for i := range p.fields {
		if !p.fields[i].match(obj) {
			return false
		}
	}
	if len(p.ors) == 0 {
		return true
	}
	for _, alt := range p.ors {
		if alt.match(obj) {
			return true
		}
	}
	return false
}

func (f *fieldMatcher) match(obj map[string]any) bool {
	v, present := obj[f.key]
	if f.nested != nil {
		// An array of objects matches if one element matches the whole
		// nested pattern, so fields of different elements never combine.
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if f.nested.match(e) {
					return true
				}
			}
			return false
		}
		if !present {
			// A nested pattern made only of exists:false still matches
			// a missing object.
			return f.nested.match(map[string]any{})
		}
		return f.nested.match(v)
	}
	// Leaf: the candidates are the value, or an array's scalar elements.
	var cands []any
	switch t := v.(type) {
	case map[string]any:
	case []any:
		for _, e := range t {
			switch e.(type) {
			case map[string]any, []any:
			default:
				cands = append(cands, e)
			}
		}
	default:
		if present {
			cands = []any{v}
		}
	}
	for i := range f.values {
		vm := &f.values[i]
		if vm.kind == mExists {
			if vm.exists == (len(cands) > 0) {
				return true
			}
			continue
		}
		for _, c := range cands {
			if vm.matches(c) {
				return true
			}
		}
	}
	return false
}

// matches tests one scalar candidate (string, json.Number, bool or nil).
func (vm *valueMatcher) matches(c any) bool {
	switch vm.kind {
	case mExact:
		return vm.equal(c)
	case mPrefix, mSuffix:
		s, ok := c.(string)
		if !ok {
			return false
		}
		if vm.fold {
			s = strings.ToLower(s)
		}
		if vm.kind == mPrefix {
			return strings.HasPrefix(s, vm.str)
		}
		return strings.HasSuffix(s, vm.str)
	case mEqualsIgnoreCase:
		s, ok := c.(string)
		return ok && strings.EqualFold(s, vm.str)
	case mWildcard:
		s, ok := c.(string)
		return ok && wildcardMatch(vm.str, s)
	case mNumeric:
		f, ok := numberOf(c)
		if !ok {
			return false
		}
		if f < vm.lo || (f == vm.lo && !vm.loInc) {
			return false
		}
		return f < vm.hi || (f == vm.hi && vm.hiInc)
	case mCIDR:
		s, ok := c.(string)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(s)
		return err == nil && vm.prefix.Contains(a.Unmap())
	case mAnythingBut:
		if vm.inner != nil {
			_, isStr := c.(string)
			return isStr && !vm.inner.matches(c)
		}
		for i := range vm.excluded {
			if vm.excluded[i].matches(c) {
				return false
			}
		}
		return true
	}
	return false
}

func (vm *valueMatcher) equal(c any) bool {
	switch t := c.(type) {
	case string:
		return !vm.isNum && !vm.isBool && !vm.isNull && t == vm.str
	case json.Number:
		f, ok := numberOf(t)
		return ok && vm.isNum && f == vm.num
	case bool:
		return vm.isBool && vm.boolean == t
	case nil:
		return vm.isNull
	}
	return false
}

func numberOf(c any) (float64, bool) {
	n, ok := c.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := parseNumber(n)
	return f, err == nil
}

// wildcardMatch matches s against a pattern where * matches any run of
// characters and \* a literal star. It is the classic greedy algorithm with
// one backtrack point, O(len(p)·len(s)) at worst, never exponential.
func wildcardMatch(p, s string) bool {
	// Tokenise the pattern into literal bytes and stars.
	type tok struct {
		star bool
		c    byte
	}
	toks := make([]tok, 0, len(p))
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && (p[i+1] == '*' || p[i+1] == '\\'):
			toks = append(toks, tok{c: p[i+1]})
			i++
		case p[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{c: p[i]})
		}
	}
	ti, si := 0, 0
	starT, starS := -1, 0
	for si < len(s) {
		switch {
		case ti < len(toks) && !toks[ti].star && toks[ti].c == s[si]:
			ti++
			si++
		case ti < len(toks) && toks[ti].star:
			starT, starS = ti, si
			ti++
		case starT >= 0:
			starS++
			si = starS
			ti = starT + 1
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}

// validateTestEvent checks what TestEventPattern requires of an event: a
// JSON object with the envelope fields AWS makes mandatory.
func validateTestEvent(text string) (any, error) {
	v, err := decodeJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("the event is not valid JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the event must be a JSON object")
	}
	for _, k := range []string{"id", "account", "source", "time", "region", "detail-type"} {
		if _, ok := obj[k].(string); !ok {
			return nil, fmt.Errorf("the event lacks the string field %q", k)
		}
	}
	if r, ok := obj["resources"]; ok {
		if _, isArr := r.([]any); !isArr {
			return nil, errors.New("the event's resources must be an array")
		}
	}
	return obj, nil
}
