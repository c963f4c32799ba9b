package fle

import (
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle/jsonrw"
)

// formPaths returns the JSON paths a form, multipart or query field name
// may bind to at the origin, so that JSON selectors can be matched
// against it:
//
//   - the name itself, cut at a NUL and trimmed of spaces ("ssn " from
//     "ssn+=", "ssn\x00"): C-based parsers stop at NUL, many binders trim;
//   - PHP's mangling of '.' and ' ' to '_' ("user.ssn" is $_POST["user_ssn"]);
//   - the nesting of PHP, Rails, Rack and qs brackets and of qs (allowDots)
//     and Spring dots: "user[ssn]", "user.ssn", "ssn[]", "a[0][ssn]" are
//     user→ssn, ssn→[index], a→[0]→ssn.
//
// Member names compare case-insensitively in the selectors, so "SSN" is
// covered too.
func formPaths(name string) []jsonrw.Path {
	n := canonName(name)
	paths := []jsonrw.Path{{{Name: n}}}
	if php := strings.NewReplacer(".", "_", " ", "_").Replace(n); php != n {
		paths = append(paths, jsonrw.Path{{Name: php}})
	}
	var nested jsonrw.Path
	addNames := func(s string) {
		for _, part := range strings.Split(s, ".") {
			part = canonName(part)
			if part == "" || isDigits(part) {
				idx := 0
				for _, c := range part {
					idx = idx*10 + int(c-'0')
					if idx > 1<<20 {
						break
					}
				}
				nested = append(nested, jsonrw.Elem{IsIndex: true, Index: idx})
				continue
			}
			nested = append(nested, jsonrw.Elem{Name: part})
		}
	}
	base, rest, hasBracket := strings.Cut(n, "[")
	addNames(base)
	if hasBracket {
		rest = "[" + rest
		for strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				addNames(rest[1:])
				rest = ""
				break
			}
			addNames(rest[1:end])
			rest = rest[end+1:]
		}
		if rest != "" {
			addNames(rest)
		}
	}
	if len(nested) > 1 {
		paths = append(paths, nested)
	}
	return paths
}

// canonName cuts a name at its first NUL and trims surrounding spaces.
func canonName(s string) string {
	s, _, _ = strings.Cut(s, "\x00")
	return strings.TrimSpace(s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// selectsName reports whether f selects a field called name, or a field
// nested inside one it selects ("ssn[]" and "ssn[0]" are inside "ssn").
func (f *compiledField) selectsName(paths []jsonrw.Path) bool {
	for _, p := range paths {
		for k := 1; k <= len(p); k++ {
			if f.matchName([]jsonrw.Path{p[:k]}) {
				return true
			}
		}
	}
	return false
}
