package policy

import (
	"strings"
	"unicode/utf8"
)

// matchGlob reports whether s matches pat, where '*' matches any run of
// characters (including none) and '?' matches exactly one character (rune).
// lit, when non-nil, has one entry per byte of pat; a true entry makes that
// byte literal even if it is '*' or '?' (used for substituted policy
// variables and the ${*} / ${?} escapes). fold makes ASCII letters compare
// case-insensitively.
//
// The algorithm is the classic iterative one that remembers only the last
// star: a later star subsumes every earlier choice, so there is no
// backtracking beyond it and the worst case is O(len(pat)*len(s)), never
// exponential. Both strings are untrusted (policy text and request ARNs).
func matchGlob(pat string, lit []bool, s string, fold bool) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pat) {
			c := pat[p]
			wild := lit == nil || !lit[p]
			switch {
			case wild && c == '*':
				starP, starI = p, i
				p++
				continue
			case wild && c == '?':
				i += runeLen(s, i)
				p++
				continue
			case c == s[i] || (fold && lowerASCII(c) == lowerASCII(s[i])):
				p++
				i++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star swallow one more character and retry after it.
		starI += runeLen(s, starI)
		i = starI
		p = starP + 1
	}
	for p < len(pat) && pat[p] == '*' && (lit == nil || !lit[p]) {
		p++
	}
	return p == len(pat)
}

func runeLen(s string, i int) int {
	if s[i] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return n
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// expandVars substitutes policy variables in s from the request. The result
// carries a literal mask for matchGlob: substituted text and the escapes
// ${*}, ${?} and ${$} never act as wildcards. ok is false when a variable has
// no single value and no default ("${aws:username, 'nobody'}"); AWS then
// treats the element as not matching.
func expandVars(s string, req *Request) (out string, lit []bool, ok bool) {
	var b strings.Builder
	b.Grow(len(s) + 16)
	add := func(t string, literal bool) {
		b.WriteString(t)
		for range len(t) {
			lit = append(lit, literal)
		}
	}
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break
		}
		add(s[:i], false)
		inner := strings.TrimSpace(s[i+2 : i+2+j])
		s = s[i+3+j:]
		switch inner {
		case "*", "?", "$":
			add(inner, true)
			continue
		}
		name, def, hasDef := splitDefault(inner)
		vals := req.lookup(name)
		switch {
		case len(vals) == 1:
			add(vals[0], true)
		case hasDef:
			add(def, true)
		default:
			return "", nil, false
		}
	}
	add(s, false)
	return b.String(), lit, true
}

// splitDefault splits "key, 'default'" into key and default.
func splitDefault(inner string) (name, def string, ok bool) {
	name, rest, found := strings.Cut(inner, ",")
	name = strings.TrimSpace(name)
	if !found {
		return name, "", false
	}
	rest = strings.TrimSpace(rest)
	if len(rest) >= 2 && rest[0] == '\'' && rest[len(rest)-1] == '\'' {
		return name, rest[1 : len(rest)-1], true
	}
	return name, "", false
}

// matchARN compares an ARN with an ARN pattern component by component, as
// ArnEquals/ArnLike do: a wildcard never spans a ':' between the first six
// components. Patterns that are not six-component ARNs (e.g. "*") are matched
// as a whole.
func matchARN(pat string, lit []bool, arn string) bool {
	pe, ok := arnSplits(pat)
	if !ok {
		return matchGlob(pat, lit, arn, false)
	}
	ae, ok := arnSplits(arn)
	if !ok {
		return false
	}
	ps, as := 0, 0
	for k := range 6 {
		var l []bool
		if lit != nil {
			l = lit[ps:pe[k]]
		}
		if !matchGlob(pat[ps:pe[k]], l, arn[as:ae[k]], false) {
			return false
		}
		ps, as = pe[k]+1, ae[k]+1
	}
	return true
}

// arnSplits returns the end offsets of the six ARN components; the last
// component (the resource) may itself contain colons.
func arnSplits(s string) (ends [6]int, ok bool) {
	start := 0
	for k := range 5 {
		j := strings.IndexByte(s[start:], ':')
		if j < 0 {
			return ends, false
		}
		ends[k] = start + j
		start += j + 1
	}
	ends[5] = len(s)
	return ends, true
}
