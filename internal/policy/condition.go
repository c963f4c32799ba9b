package policy

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

type baseOp uint8

const (
	opString baseOp = iota
	opStringFold
	opStringLike
	opBool
	opIP
	opNumeric
	opDate
	opARN
	opNull
)

type cmpOp uint8

const (
	cmpEq cmpOp = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type setMode uint8

const (
	setNone setMode = iota
	setAny          // ForAnyValue:
	setAll          // ForAllValues:
)

// condition is one (operator, key) pair of a Condition block, compiled.
type condition struct {
	key      string // lower case
	base     baseOp
	cmp      cmpOp
	negate   bool
	ifExists bool
	set      setMode
	vars     bool // values contain policy variables to substitute
	values   []string
	nums     []float64
	times    []time.Time
	nets     []netip.Prefix
	nulls    []bool
}

// lookupOperator maps a base operator name (lower case, no prefix or
// IfExists suffix) to its semantics.
func lookupOperator(name string) (base baseOp, cmp cmpOp, negate, ok bool) {
	ok = true
	switch name {
	case "stringequals":
		base = opString
	case "stringnotequals":
		base, negate = opString, true
	case "stringequalsignorecase":
		base = opStringFold
	case "stringnotequalsignorecase":
		base, negate = opStringFold, true
	case "stringlike":
		base = opStringLike
	case "stringnotlike":
		base, negate = opStringLike, true
	case "bool":
		base = opBool
	case "ipaddress":
		base = opIP
	case "notipaddress":
		base, negate = opIP, true
	case "null":
		base = opNull
	case "numericequals":
		base = opNumeric
	case "numericnotequals":
		base, negate = opNumeric, true
	case "numericlessthan":
		base, cmp = opNumeric, cmpLt
	case "numericlessthanequals":
		base, cmp = opNumeric, cmpLe
	case "numericgreaterthan":
		base, cmp = opNumeric, cmpGt
	case "numericgreaterthanequals":
		base, cmp = opNumeric, cmpGe
	case "dateequals":
		base = opDate
	case "datenotequals":
		base, negate = opDate, true
	case "datelessthan":
		base, cmp = opDate, cmpLt
	case "datelessthanequals":
		base, cmp = opDate, cmpLe
	case "dategreaterthan":
		base, cmp = opDate, cmpGt
	case "dategreaterthanequals":
		base, cmp = opDate, cmpGe
	case "arnequals", "arnlike":
		base = opARN
	case "arnnotequals", "arnnotlike":
		base, negate = opARN, true
	default:
		ok = false
	}
	return base, cmp, negate, ok
}

func compileConditions(block map[string]map[string][]string, vars bool) ([]condition, error) {
	ops := make([]string, 0, len(block))
	for op := range block {
		ops = append(ops, op)
	}
	slices.Sort(ops) // deterministic errors
	var out []condition
	for _, op := range ops {
		keys := make([]string, 0, len(block[op]))
		for k := range block[op] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			c, err := compileCondition(op, k, block[op][k], vars)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func compileCondition(op, key string, values []string, vars bool) (condition, error) {
	c := condition{key: strings.ToLower(key), values: values}
	name := op
	if prefix, rest, found := strings.Cut(name, ":"); found {
		switch {
		case strings.EqualFold(prefix, "ForAnyValue"):
			c.set = setAny
		case strings.EqualFold(prefix, "ForAllValues"):
			c.set = setAll
		default:
			return c, perr("unknown condition set operator %q in %q (expected ForAnyValue or ForAllValues)", prefix, op)
		}
		name = rest
	}
	const ifExists = "ifexists"
	if len(name) > len(ifExists) && strings.EqualFold(name[len(name)-len(ifExists):], ifExists) {
		c.ifExists = true
		name = name[:len(name)-len(ifExists)]
	}
	var ok bool
	c.base, c.cmp, c.negate, ok = lookupOperator(strings.ToLower(name))
	if !ok {
		return c, perr("unknown condition operator %q", op)
	}
	if c.base == opNull && (c.ifExists || c.set != setNone) {
		return c, perr("condition operator %q: Null takes neither IfExists nor a set operator", op)
	}
	prefix, _, found := strings.Cut(key, ":")
	if !found || prefix == "" {
		return c, perr("condition key %q must be prefaced by a vendor, e.g. aws:SourceIp", key)
	}
	for _, v := range values {
		if err := c.addValue(op, v); err != nil {
			return c, err
		}
		if vars && strings.Contains(v, "${") {
			switch c.base {
			case opString, opStringFold, opStringLike, opARN:
				c.vars = true
			}
		}
	}
	return c, nil
}

// addValue validates a policy value and pre-parses the typed operators.
func (c *condition) addValue(op, v string) error {
	switch c.base {
	case opBool:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return perr("condition %s %q: value %q must be true or false", op, c.key, v)
		}
	case opNull:
		switch strings.ToLower(v) {
		case "true":
			c.nulls = append(c.nulls, true)
		case "false":
			c.nulls = append(c.nulls, false)
		default:
			return perr("condition %s %q: value %q must be true or false", op, c.key, v)
		}
	case opNumeric:
		f, ok := parseNumber(v)
		if !ok {
			return perr("condition %s %q: value %q is not a number", op, c.key, v)
		}
		c.nums = append(c.nums, f)
	case opDate:
		t, ok := parseDate(v)
		if !ok {
			return perr("condition %s %q: value %q is not a date (RFC 3339 or epoch seconds)", op, c.key, v)
		}
		c.times = append(c.times, t)
	case opIP:
		pfx, ok := parseCIDR(v)
		if !ok {
			return perr("condition %s %q: value %q is not an IP address or CIDR block", op, c.key, v)
		}
		c.nets = append(c.nets, pfx)
	}
	return nil
}

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < -1e11 || n > 1e11 { // keep within years time.Time formats sanely
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// eval applies the condition to the request. The rules, from the IAM
// documentation:
//   - a missing (or empty) key: ForAllValues is true, ForAnyValue is false,
//     IfExists is true, a negated operator is true, anything else false;
//   - several policy values are ORed (for a negated operator: the context
//     value must match none of them);
//   - without a set prefix, a multi-valued key matches if any value matches
//     (negated: if no value matches);
//   - a policy variable without a value makes the condition false.
func (c *condition) eval(req *Request) bool {
	ctx := req.lookup(c.key)
	present := len(ctx) > 0
	if c.base == opNull {
		for _, wantAbsent := range c.nulls {
			if wantAbsent != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.set == setAll:
			return true
		case c.set == setAny:
			return false
		case c.ifExists:
			return true
		}
		return c.negate
	}
	values := c.values
	var lits [][]bool
	if c.vars {
		values = make([]string, len(c.values))
		lits = make([][]bool, len(c.values))
		for i, v := range c.values {
			var ok bool
			if values[i], lits[i], ok = expandVars(v, req); !ok {
				return false
			}
		}
	}
	switch c.set {
	case setAny:
		for _, v := range ctx {
			if c.matchValue(v, values, lits) != c.negate {
				return true
			}
		}
		return false
	case setAll:
		for _, v := range ctx {
			if c.matchValue(v, values, lits) == c.negate {
				return false
			}
		}
		return true
	}
	for _, v := range ctx {
		if c.matchValue(v, values, lits) {
			return !c.negate
		}
	}
	return c.negate
}

// matchValue reports whether one context value matches any policy value
// under the positive form of the operator. Context values that do not parse
// (a non-number for NumericEquals) match nothing.
func (c *condition) matchValue(v string, values []string, lits [][]bool) bool {
	switch c.base {
	case opString:
		return slices.Contains(values, v)
	case opStringFold:
		for _, p := range values {
			if strings.EqualFold(p, v) {
				return true
			}
		}
	case opStringLike:
		for i, p := range values {
			if matchGlob(p, litAt(lits, i), v, false) {
				return true
			}
		}
	case opARN:
		for i, p := range values {
			if matchARN(p, litAt(lits, i), v) {
				return true
			}
		}
	case opBool:
		for _, p := range values {
			if strings.EqualFold(p, v) {
				return true
			}
		}
	case opIP:
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range c.nets {
			if n.Contains(a) {
				return true
			}
		}
	case opNumeric:
		f, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, p := range c.nums {
			if compare(cmpFloat(f, p), c.cmp) {
				return true
			}
		}
	case opDate:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, p := range c.times {
			if compare(t.Compare(p), c.cmp) {
				return true
			}
		}
	}
	return false
}

func litAt(lits [][]bool, i int) []bool {
	if lits == nil {
		return nil
	}
	return lits[i]
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare turns a three-way comparison of context value to policy value
// into the operator's verdict.
func compare(r int, op cmpOp) bool {
	switch op {
	case cmpLt:
		return r < 0
	case cmpLe:
		return r <= 0
	case cmpGt:
		return r > 0
	case cmpGe:
		return r >= 0
	}
	return r == 0
}
