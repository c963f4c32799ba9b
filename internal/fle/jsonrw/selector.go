package jsonrw

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Elem is one step of a path: a member name, or an array index when
// IsIndex is set.
type Elem struct {
	Name    string
	Index   int
	IsIndex bool
}

// Path is the location of a value from the document root.
type Path []Elem

// String renders the concrete path, e.g. $[3].card["exp.date"].
func (p Path) String() string { return p.format(false) }

// Binding renders the path with every array index as [*], e.g.
// $[*].ssn. It is what HPKE tokens bind, so a value keeps decrypting when
// its array is reordered or an element is stored on its own, but not when
// it is moved to another field.
func (p Path) Binding() string { return p.format(true) }

func (p Path) format(wild bool) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, e := range p {
		switch {
		case e.IsIndex && wild:
			b.WriteString("[*]")
		case e.IsIndex:
			b.WriteString("[" + strconv.Itoa(e.Index) + "]")
		case isIdent(e.Name):
			b.WriteString("." + e.Name)
		default:
			q, _ := json.Marshal(e.Name)
			b.WriteString("[" + string(q) + "]")
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

type segKind int

const (
	segName segKind = iota
	segIndex
	segAnyMember // .*
	segAnyIndex  // [*]
	segDescend   // .. (zero or more steps), followed by another segment
)

type seg struct {
	kind  segKind
	name  string
	index int
}

// Selector picks values in a document. The zero value matches nothing.
type Selector struct {
	raw  string
	segs []seg
}

// String returns the selector as written.
func (s Selector) String() string { return s.raw }

// ParseSelector parses a bare field name (matched at any depth) or a path
// starting with '$': .name, ["name"], ['name'], [n], .*, [*], ..name, ..*.
// Member names match case-insensitively (Unicode simple folding, as
// encoding/json binds them).
func ParseSelector(s string) (Selector, error) {
	if s == "" {
		return Selector{}, fmt.Errorf("jsonrw: empty selector")
	}
	if s[0] != '$' {
		return Selector{raw: s, segs: []seg{{kind: segDescend}, {kind: segName, name: s}}}, nil
	}
	var segs []seg
	i := 1
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], ".."):
			segs = append(segs, seg{kind: segDescend})
			i += 2
			n, sg, err := member(s, i)
			if err != nil {
				return Selector{}, err
			}
			segs, i = append(segs, sg), n
		case s[i] == '.':
			n, sg, err := member(s, i+1)
			if err != nil {
				return Selector{}, err
			}
			segs, i = append(segs, sg), n
		case s[i] == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return Selector{}, fmt.Errorf("jsonrw: selector %q: unclosed '['", s)
			}
			inner := s[i+1 : i+end]
			// A quoted name may itself contain ']'.
			if len(inner) > 0 && (inner[0] == '"' || inner[0] == '\'') {
				n, name, err := quoted(s, i+1)
				if err != nil {
					return Selector{}, err
				}
				if n >= len(s) || s[n] != ']' {
					return Selector{}, fmt.Errorf("jsonrw: selector %q: expected ']'", s)
				}
				segs, i = append(segs, seg{kind: segName, name: name}), n+1
				continue
			}
			switch {
			case inner == "*":
				segs = append(segs, seg{kind: segAnyIndex})
			default:
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return Selector{}, fmt.Errorf("jsonrw: selector %q: bad index %q", s, inner)
				}
				segs = append(segs, seg{kind: segIndex, index: n})
			}
			i += end + 1
		default:
			return Selector{}, fmt.Errorf("jsonrw: selector %q: unexpected %q at %d", s, s[i], i)
		}
	}
	if len(segs) == 0 {
		return Selector{}, fmt.Errorf("jsonrw: selector %q selects the whole document", s)
	}
	return Selector{raw: s, segs: segs}, nil
}

func member(s string, i int) (int, seg, error) {
	if i < len(s) && s[i] == '*' {
		return i + 1, seg{kind: segAnyMember}, nil
	}
	j := i
	for j < len(s) && s[j] != '.' && s[j] != '[' {
		j++
	}
	if j == i {
		return 0, seg{}, fmt.Errorf("jsonrw: selector %q: empty member name at %d", s, i)
	}
	return j, seg{kind: segName, name: s[i:j]}, nil
}

func quoted(s string, i int) (int, string, error) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\\' && j+1 < len(s):
			b.WriteByte(s[j+1])
			j++
		case c == q:
			return j + 1, b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return 0, "", fmt.Errorf("jsonrw: selector %q: unterminated quote", s)
}

// Match reports whether the selector matches the value at p.
func (s Selector) Match(p Path) bool { return len(s.segs) > 0 && matchSegs(s.segs, p) }

func matchSegs(segs []seg, p Path) bool {
	if len(segs) == 0 {
		return len(p) == 0
	}
	sg := segs[0]
	if sg.kind == segDescend {
		for k := 0; k <= len(p); k++ {
			if matchSegs(segs[1:], p[k:]) {
				return true
			}
		}
		return false
	}
	if len(p) == 0 {
		return false
	}
	e := p[0]
	ok := false
	switch sg.kind {
	case segName:
		// Go's encoding/json and ASP.NET bind members case-insensitively
		// ({"SSN":...} and {"ſsn":...} fill a field tagged "ssn"), so a
		// name must select every spelling that folds to it. EqualFold is
		// the Unicode simple folding encoding/json uses.
		ok = !e.IsIndex && NameEqual(e.Name, sg.name)
	case segIndex:
		ok = e.IsIndex && e.Index == sg.index
	case segAnyMember:
		ok = !e.IsIndex
	case segAnyIndex:
		ok = e.IsIndex
	}
	return ok && matchSegs(segs[1:], p[1:])
}

// NameEqual reports whether a member name binds to a selector name: equal
// under Unicode simple folding (as encoding/json and ASP.NET bind them),
// after cutting both at the first NUL, since C-string-based parsers and
// binders read "ssn\u0000x" as "ssn".
func NameEqual(name, sel string) bool {
	name, _, _ = strings.Cut(name, "\x00")
	sel, _, _ = strings.Cut(sel, "\x00")
	return strings.EqualFold(name, sel)
}

// Names returns the member names the selector spells out, in order
// (wildcards and indexes have none), so callers can look for the names
// of selected fields in text that is not JSON.
func (s Selector) Names() []string {
	var out []string
	for _, sg := range s.segs {
		if sg.kind == segName {
			out = append(out, sg.name)
		}
	}
	return out
}
