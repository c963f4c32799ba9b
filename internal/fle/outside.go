package fle

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// This file is what the engine does with a request outside every rule,
// and with the names a request carries outside its query and body
// (headers and cookies). The decision, for both, is to refuse rather than
// protect: with no rule, the edge has no key chosen for the value (rules
// pick keys per field, and the key decides who may read it), and the
// origin's handler there was not written to receive tokens, so a guess
// either puts the value under a key its readers were not meant to hold
// or silently corrupts it. A refusal is visible and fixed by adding a
// rule.

// scanKeyID is the key id of the engine's scan rule; nothing is ever
// encrypted under it (the scan protector refuses instead).
const scanKeyID = "scan"

// compileScan builds the rule that finds protected names in requests no
// rule covers: every rule's fields and query selectors, as body fields.
// It returns nil when no rule names a field.
func compileScan(rules []*compiledRule) (*compiledRule, []string, error) {
	var fields []Field
	seen := map[string]bool{}
	for _, c := range rules {
		for _, f := range append(append([]Field(nil), c.Fields...), c.Query...) {
			if !seen[f.Selector] {
				seen[f.Selector] = true
				fields = append(fields, Field{Selector: f.Selector})
			}
		}
	}
	if len(fields) == 0 {
		return nil, nil, nil
	}
	c, err := compileRule(0, Rule{Name: "scan", Fields: fields, KeyID: scanKeyID})
	if err != nil {
		return nil, nil, err
	}
	c.Name = "" // refusals name no rule: none applied
	var names []string
	add := func(n string) {
		n = foldPath(strings.TrimPrefix(n, "@"))
		if n == "" || n == "*" {
			return
		}
		for _, x := range names {
			if x == n {
				return
			}
		}
		names = append(names, n)
	}
	for _, f := range c.fields {
		switch {
		case f.plain != "":
			add(xmlLocal(f.plain))
		case f.json != nil:
			if ns := f.json.Names(); len(ns) > 0 {
				add(ns[len(ns)-1])
			}
		case f.xml != nil:
			for i := len(f.xml) - 1; i >= 0; i-- {
				if f.xml[i] != "*" {
					add(xmlLocal(f.xml[i]))
					break
				}
			}
		}
	}
	return c, names, nil
}

// scanBody looks for protected names in the body of a request no rule
// covers. Structured bodies (JSON, forms, multipart, XML) are parsed as
// declared, with nested content, and any field a rule would protect is
// refused (KindOutsideRule); a body that does not parse is refused
// (KindUnparseable), since the edge cannot show it is free of them.
// Other bodies are read as text: one holding a NUL byte (binary, UTF-16,
// UTF-32, compressed) or in a charset that is not ASCII-compatible is
// refused (KindUnsupported), and one that mentions a protected name as a
// word, after undoing percent, backslash and XML character escapes, is
// refused (KindOutsideRule): the edge cannot tell how the origin reads it
// (YAML, CSV, a JSON or form body under another Content-Type).
func (p *protector) scanBody(body []byte, contentType string) error {
	mt, params := mediaType(contentType)
	if contentType != "" && mt == "" {
		// An origin with a lenient parser may still find a media type or a
		// charset (say EBCDIC, where "ssn" is not the bytes s-s-n) in it.
		return &Error{Kind: KindUnsupported, Err: fmt.Errorf("content type %q does not parse: the body cannot be shown free of protected names", contentType)}
	}
	for _, m := range anyCharset.FindAllStringSubmatch(contentType, -1) {
		if !asciiCharset(m[1]) {
			return &Error{Kind: KindUnsupported, Err: fmt.Errorf("charset %q: the body cannot be shown free of protected names", m[1])}
		}
	}
	if structured(mt) {
		_, err := p.content(body, contentType, "", 0, nestOpts{})
		if err != nil {
			return p.wrap(err, KindUnparseable)
		}
		return nil
	}
	if !asciiCharset(params["charset"]) {
		return &Error{Kind: KindUnsupported, Err: fmt.Errorf("charset %q: the body cannot be shown free of protected names", params["charset"])}
	}
	if bytes.IndexByte(body, 0) >= 0 {
		return &Error{Kind: KindUnsupported, Err: fmt.Errorf("binary %q body: it cannot be shown free of protected names", mt)}
	}
	if n := mentionsName(string(body), p.names); n != "" {
		return &Error{Kind: KindOutsideRule, Err: fmt.Errorf("a %q body on a path no rule covers mentions protected name %q", mt, n)}
	}
	return nil
}

// anyCharset finds every charset parameter in a Content-Type as a lenient
// parser would (a substring search), so a second, hidden charset cannot
// make the origin decode what the scan read as ASCII.
var anyCharset = regexp.MustCompile(`(?i)charset\s*=\s*"?([^;",\s]*)`)

// mentionsName returns the first of names (folded, see foldPath) that s
// holds as a word, in any of its decoded views, or "".
func mentionsName(s string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	cur := s
	for round := 0; round <= maxPathDecodes; round++ {
		f := foldPath(cur)
		for _, n := range names {
			if hasWord(f, n) {
				return n
			}
		}
		next := unescapeText(cur)
		if next == cur {
			break
		}
		cur = next
	}
	return ""
}

// hasWord reports whether w occurs in s with no letter, digit or '_' on
// either side.
func hasWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before, _ := utf8.DecodeLastRuneInString(s[:j])
		after, _ := utf8.DecodeRuneInString(s[j+len(w):])
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		i = j + 1
	}
}

func wordRune(r rune) bool {
	return r != utf8.RuneError && (r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r))
}

// unescapeText undoes one round of the escapes a name can hide behind in
// text: %XX, \uXXXX, \xXX and &#N; / &#xN;.
func unescapeText(s string) string {
	if !strings.ContainsAny(s, "%\\&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		case c == '\\' && i+5 < len(s) && s[i+1] == 'u' && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]):
			r := rune(unhex(s[i+2]))<<12 | rune(unhex(s[i+3]))<<8 | rune(unhex(s[i+4]))<<4 | rune(unhex(s[i+5]))
			b.WriteRune(r)
			i += 5
			continue
		case c == '\\' && i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]):
			b.WriteByte(unhex(s[i+2])<<4 | unhex(s[i+3]))
			i += 3
			continue
		case c == '&' && i+3 < len(s) && s[i+1] == '#':
			if r, n, ok := charRef(s[i:]); ok {
				b.WriteRune(r)
				i += n - 1
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// charRef decodes an XML/HTML numeric character reference at the start
// of s, returning the rune and the bytes it took.
func charRef(s string) (rune, int, bool) {
	i, base := 2, 10
	if i < len(s) && (s[i] == 'x' || s[i] == 'X') {
		i, base = 3, 16
	}
	var r rune
	start := i
	for ; i < len(s) && i-start < 8; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			r = r*rune(base) + rune(c-'0')
		case base == 16 && isHex(c):
			r = r*16 + rune(unhex(c))
		case c == ';' && i > start:
			if r > unicode.MaxRune {
				return 0, 0, false
			}
			return r, i + 1, true
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// standardHeaders are defined by HTTP itself (or the web platform) and
// mean what their specification says, so a field that happens to share
// one's name ("origin", "date", "from") is not looked for there.
var standardHeaders = map[string]bool{
	"accept": true, "accept-charset": true, "accept-encoding": true, "accept-language": true, "accept-ranges": true,
	"authorization": true, "cache-control": true, "connection": true, "content-disposition": true, "content-encoding": true,
	"content-language": true, "content-length": true, "content-location": true, "content-range": true, "content-type": true,
	"cookie": true, "date": true, "dnt": true, "expect": true, "forwarded": true, "from": true, "host": true, "if-match": true,
	"if-modified-since": true, "if-none-match": true, "if-range": true, "if-unmodified-since": true, "keep-alive": true,
	"max-forwards": true, "origin": true, "pragma": true, "priority": true, "proxy-authorization": true, "range": true,
	"referer": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true, "upgrade-insecure-requests": true,
	"user-agent": true, "via": true, "x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true,
	"x-request-id": true, "traceparent": true, "tracestate": true,
}

// headerNames returns the parameter names a header may be bound as:
// Spring's @RequestHeader and ASP.NET's [FromHeader] bind a header by its
// own name, CGI, PHP and WSGI turn '-' into '_' (HTTP_X_SSN), and the "X-"
// prefix is dropped by convention ("X-Ssn" carries "ssn").
func headerNames(name string) []string {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	out := []string{n, strings.ReplaceAll(n, "-", "_"), strings.ReplaceAll(n, "-", "")}
	if rest, ok := strings.CutPrefix(n, "x-"); ok && rest != "" {
		out = append(out, rest, strings.ReplaceAll(rest, "-", "_"), strings.ReplaceAll(rest, "-", ""))
	}
	return out
}

// CheckHeader refuses (KindProtectedHeader) a request with a header or a
// cookie named like a field some rule protects ("X-Ssn: ...",
// "Cookie: ssn=..."; names read as for forms, see formPaths) whose value
// is not already a token. Values are never protected there: the edge's
// rules choose body and query fields, headers and cookies are copied by
// every hop and log on the way, and a cookie travels to paths other than
// the one a rule covers. A token is let through, since an origin that
// stored one may hand it back as a cookie. It also refuses
// (KindAmbiguousHeader) a Content-Type or Content-Encoding sent twice and
// declared trailers.
func (e *Engine) CheckHeader(h http.Header) error {
	for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length", "Transfer-Encoding"} {
		if len(h.Values(k)) > 1 {
			// Origins take the first, the last or the comma-joined list.
			return &Error{Kind: KindAmbiguousHeader, Err: fmt.Errorf("%s sent more than once", k)}
		}
	}
	if len(h.Values("Trailer")) > 0 {
		// Trailers arrive after the body the edge has rewritten.
		return &Error{Kind: KindAmbiguousHeader, Err: errors.New("request declares trailers")}
	}
	if e.scan == nil {
		return nil
	}
	for name, vs := range h {
		low := strings.ToLower(name)
		if low == "cookie" {
			for _, v := range vs {
				if err := e.checkCookies(v); err != nil {
					return err
				}
			}
			continue
		}
		if standardHeaders[low] {
			continue
		}
		if f := e.protectedName(headerNames(name)...); f != "" && !allTokens(vs) {
			return &Error{Kind: KindProtectedHeader, Field: "header:" + name, Err: fmt.Errorf("header %s is named like protected field %s", name, f)}
		}
	}
	return nil
}

// checkCookies refuses a Cookie header with a cookie named like a
// protected field. Pairs are split at ';' and at ',' (RFC 2109 and older
// Java and Python parsers), names are read raw and percent-decoded (PHP
// decodes them) and with brackets and dots (PHP's $_COOKIE["user"]["ssn"]).
func (e *Engine) checkCookies(v string) error {
	for _, pair := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' }) {
		name, val, _ := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		names := []string{name}
		if d, err := url.QueryUnescape(name); err == nil && d != name {
			names = append(names, d)
		}
		if f := e.protectedName(names...); f != "" && !allTokens([]string{val}) {
			return &Error{Kind: KindProtectedHeader, Field: "cookie:" + name, Err: fmt.Errorf("cookie %q is named like protected field %s", name, f)}
		}
	}
	return nil
}

// protectedName returns the selector of the first field some rule
// protects that one of names binds to, or "".
func (e *Engine) protectedName(names ...string) string {
	for _, n := range names {
		paths := formPaths(n)
		for i := range e.scan.fields {
			f := &e.scan.fields[i]
			if f.selectsName(paths) || (f.plain != "" && strings.EqualFold(xmlLocal(f.plain), canonName(n))) {
				return f.Selector
			}
		}
	}
	return ""
}

// allTokens reports whether every value is exactly one token (quotes and
// spaces around it, and percent-encoding, allowed).
func allTokens(vs []string) bool {
	for _, v := range vs {
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if _, err := token.Parse(v); err == nil {
			continue
		}
		d, err := url.PathUnescape(v)
		if err != nil {
			return false
		}
		if _, err := token.Parse(d); err != nil {
			return false
		}
	}
	return true
}
