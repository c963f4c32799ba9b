package fle

import (
	"errors"
	"strings"
	"unicode"
)

// maxPathDecodes bounds how many times a path is percent-decoded while
// looking for the forms an origin may route on; a path still holding
// escapes after that many rounds is refused.
const maxPathDecodes = 3

// ErrAmbiguousPath is wrapped by the KindAmbiguous *Error for a path that
// origins may split into segments differently from the edge.
var ErrAmbiguousPath = errors.New("ambiguous request path")

// PathForms returns the forms of a request path that origins route on,
// for rule matching: the path percent-decoded (once, and again while
// escapes remain, as IIS and some frameworks do), each also with repeated
// slashes collapsed, dot segments removed, trailing dots and spaces of
// segments trimmed (IIS), and with ";params" cut from every segment
// (Tomcat, Spring, Jetty). A rule that matches any form applies, so
// "//people", "/./people", "/x/../people", "/%2e/people" and
// "/a;x/../people" all reach a "/people" rule.
//
// raw should be the path as sent (url.URL.EscapedPath); an already
// decoded path works too. Encodings the edge cannot map to one path
// without guessing are refused with an ErrAmbiguousPath error: an encoded
// '/' or '\' (one origin splits segments there, another does not), an
// IIS %u escape, the lead byte of an overlong UTF-8 sequence, a
// literal '\' (IIS and ASP.NET treat it as '/'), control characters
// (NUL cuts a path short in C-based servers), and escapes nested deeper
// than maxPathDecodes.
func PathForms(raw string) ([]string, error) {
	if raw == "" {
		raw = "/"
	}
	if raw == "*" {
		// "OPTIONS *": Go's reverse proxy joins it to the origin's path
		// and sends "/*", which origins route like any other path.
		return []string{"*", "/*"}, nil
	}
	var forms []string
	add := func(s string) {
		for _, f := range forms {
			if f == s {
				return
			}
		}
		forms = append(forms, s)
	}
	cur := raw
	for round := 0; ; round++ {
		dec, changed, err := percentDecode(cur)
		if err != nil {
			return nil, err
		}
		if !changed && round > 0 {
			break
		}
		if round == maxPathDecodes {
			return nil, errors.Join(ErrAmbiguousPath, errors.New("percent-encoding nested too deep"))
		}
		for i := 0; i < len(dec); i++ {
			if c := dec[i]; c < 0x20 || c == 0x7f || c == '\\' {
				return nil, errors.Join(ErrAmbiguousPath, errors.New("control character or backslash in the path"))
			}
		}
		add(dec)
		add(normalizePath(dec, false))
		add(normalizePath(dec, true))
		if !changed {
			break
		}
		cur = dec
	}
	return forms, nil
}

// percentDecode decodes every valid %XX escape once. Invalid escapes are
// kept as they are (the server already refused them in the request line;
// they can only appear here after a round of decoding). An escape that
// decodes to '/' or '\' is refused.
func percentDecode(s string) (string, bool, error) {
	if !strings.Contains(s, "%") {
		return s, false, nil
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') &&
			isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]) {
			// IIS decodes %u002e as '.'.
			return "", false, errors.Join(ErrAmbiguousPath, errors.New("%u escape in the path"))
		}
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c := unhex(s[i+1])<<4 | unhex(s[i+2])
			if c == '/' || c == '\\' {
				return "", false, errors.Join(ErrAmbiguousPath, errors.New("encoded '/' or '\\' in a path segment"))
			}
			if c == 0xc0 || c == 0xc1 {
				// The lead byte of an overlong UTF-8 encoding of an ASCII
				// character (%c0%af is '/' to old decoders).
				return "", false, errors.Join(ErrAmbiguousPath, errors.New("overlong UTF-8 in the path"))
			}
			b.WriteByte(c)
			i += 2
			changed = true
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), changed, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// normalizePath collapses repeated slashes, removes "." and ".." segments
// (RFC 3986 §5.2.4, never above the root), trims trailing dots and spaces
// of other segments, and with params cuts ";..." from every segment. A
// trailing slash is kept.
func normalizePath(p string, params bool) string {
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		if params {
			s, _, _ = strings.Cut(s, ";")
		}
		if s != "." && s != ".." {
			s = strings.TrimRight(s, ". ")
		}
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	n := "/" + strings.Join(out, "/")
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		n += "/"
	}
	return n
}

// foldPath maps every rune to the smallest member of its Unicode simple
// case-folding orbit, so two paths compare equal exactly when
// strings.EqualFold would say so, and prefixes can be compared too.
func foldPath(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		return m
	}, s)
}

// matchPathForm reports whether one path form matches the rule's path
// condition. Exact paths also match with a trailing slash and with a
// ".ext" suffix on the last segment (Spring's suffix pattern matching);
// prefixes also match the path with a slash appended ("/people" for
// "/people/").
func (c *compiledRule) matchPathForm(p string) bool {
	if !c.PathCaseSensitive {
		p = foldPath(p)
	}
	switch {
	case c.exact != "":
		if p == c.exact || strings.TrimSuffix(p, "/") == strings.TrimSuffix(c.exact, "/") {
			return true
		}
		rest, ok := strings.CutPrefix(p, strings.TrimSuffix(c.exact, "/")+".")
		return ok && !strings.Contains(rest, "/")
	case c.prefix != "":
		return strings.HasPrefix(p, c.prefix) || strings.HasPrefix(p+"/", c.prefix)
	case c.re != nil:
		return c.re.MatchString(p)
	}
	return true
}
