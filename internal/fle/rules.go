package fle

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"regexp"
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle/detect"
	"github.com/bulwarkd/bulwark/internal/fle/jsonrw"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// Field names one thing to protect and, optionally, the key for it.
type Field struct {
	// Selector is a bare field name (JSON member at any depth, form,
	// multipart or query field, XML element; "@name" an XML attribute), a
	// JSONPath-style path starting with '$', or an XML path starting with
	// '/' ('*' matches one step).
	Selector string
	// KeyID overrides the rule's key marker id; empty means Rule.KeyID.
	KeyID string
	// Format, when set, is checked against the key's format at request
	// time; a mismatch fails closed with KindKeyUnavailable.
	Format token.Format
}

// Fields is shorthand for fields protected under the rule's key.
func Fields(selectors ...string) []Field {
	out := make([]Field, len(selectors))
	for i, s := range selectors {
		out[i] = Field{Selector: s}
	}
	return out
}

// Rule says which requests to rewrite and what to protect in them. A rule
// with no Fields, Query or Detectors matches but changes nothing.
type Rule struct {
	// Name labels metrics and errors; it defaults to "rule<N>".
	Name string
	// Methods to match (case-insensitive); empty matches any method.
	Methods []string
	// Host matches the request host without port, case-insensitively;
	// "*.example.com" matches any subdomain; empty matches any host.
	Host string
	// Path matching: at most one of PathExact, PathPrefix and PathRegex;
	// none matches every path. Paths are compared in every form an origin
	// may route on (see PathForms): "//people" and "/x/../people" match
	// "/people".
	PathExact, PathPrefix, PathRegex string
	// PathCaseSensitive compares paths byte for byte. The zero value
	// compares them case-insensitively (Unicode simple folding), because
	// case-insensitive origins (ASP.NET, IIS, Spring with a case-insensitive
	// matcher) route "/PEOPLE" to "/people": a case-sensitive rule in front
	// of such an origin would let "/People" through unprotected. Set it
	// only when the origin is known to route case-sensitively.
	PathCaseSensitive bool
	// ContentTypes are media types (no parameters) to match; empty matches
	// any. "application/*+json" style suffix patterns are accepted.
	ContentTypes []string
	// Fields to protect in the body.
	Fields []Field
	// Query parameters to protect, whatever the body: names, or '$'
	// paths matched against the nested names of PHP, Rails, Rack, qs and
	// Spring ("user[ssn]", "user.ssn"). Bare and '$' selectors of Fields
	// are protected in the query too, since many frameworks merge query
	// and body parameters.
	Query []Field
	// Detectors run over text bodies and over every JSON, form, multipart
	// and XML string value that no field selected.
	Detectors []detect.Kind
	// KeyID is the default key marker id ("01").
	KeyID string
	// Format is the default expected token format; empty accepts the key's.
	Format token.Format
}

type compiledField struct {
	Field
	json  *jsonrw.Selector // nil when the selector is not JSON-shaped
	xml   []string         // path steps for '/' selectors
	plain string           // bare name
}

type compiledRule struct {
	Rule
	methods map[string]bool
	re      *regexp.Regexp
	exact   string // PathExact, folded unless PathCaseSensitive
	prefix  string // PathPrefix, likewise
	fields  []compiledField
	query   []compiledField // Query, then the JSON-shaped Fields
	jsonSel []jsonrw.Selector
}

func compileRule(i int, r Rule) (*compiledRule, error) {
	c := &compiledRule{Rule: r}
	if c.Name == "" {
		c.Name = fmt.Sprintf("rule%d", i)
	}
	bad := func(format string, a ...any) error {
		return &Error{Kind: KindConfig, Rule: c.Name, Err: fmt.Errorf(format, a...)}
	}
	n := 0
	for _, p := range []string{r.PathExact, r.PathPrefix, r.PathRegex} {
		if p != "" {
			n++
		}
	}
	if n > 1 {
		return nil, bad("at most one of path exact, prefix and regex")
	}
	c.exact, c.prefix = r.PathExact, r.PathPrefix
	if !r.PathCaseSensitive {
		c.exact, c.prefix = foldPath(c.exact), foldPath(c.prefix)
	}
	if r.PathRegex != "" {
		expr := r.PathRegex
		if !r.PathCaseSensitive {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, bad("path regex: %v", err)
		}
		c.re = re
	}
	if len(r.Methods) > 0 {
		c.methods = map[string]bool{}
		for _, m := range r.Methods {
			c.methods[strings.ToUpper(m)] = true
		}
	}
	for _, f := range append(append([]Field(nil), r.Fields...), r.Query...) {
		id := f.KeyID
		if id == "" {
			id = r.KeyID
		}
		if !token.ValidKeyID(id) {
			return nil, bad("field %q: invalid or missing key id %q", f.Selector, id)
		}
	}
	for _, f := range r.Fields {
		cf, err := compileField(f)
		if err != nil {
			return nil, bad("%v", err)
		}
		c.fields = append(c.fields, cf)
		if cf.json != nil {
			c.jsonSel = append(c.jsonSel, *cf.json)
		} else {
			c.jsonSel = append(c.jsonSel, jsonrw.Selector{}) // never matches
		}
	}
	for _, f := range r.Query {
		if f.Selector == "" || strings.ContainsAny(f.Selector[:1], "/@") {
			return nil, bad("query selector %q must be a parameter name or a $ path", f.Selector)
		}
		cf, err := compileField(f)
		if err != nil {
			return nil, bad("%v", err)
		}
		c.query = append(c.query, cf)
	}
	for _, cf := range c.fields {
		if cf.json != nil {
			c.query = append(c.query, cf)
		}
	}
	if _, err := detect.ParseKinds(kindNames(r.Detectors)); err != nil {
		return nil, bad("%v", err)
	}
	return c, nil
}

func kindNames(ks []detect.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func compileField(f Field) (compiledField, error) {
	cf := compiledField{Field: f}
	s := f.Selector
	switch {
	case s == "":
		return cf, errors.New("empty selector")
	case s[0] == '$':
		sel, err := jsonrw.ParseSelector(s)
		if err != nil {
			return cf, err
		}
		cf.json = &sel
	case s[0] == '/':
		cf.xml = strings.Split(strings.TrimPrefix(s, "/"), "/")
	default:
		cf.plain = s
		if s[0] != '@' {
			sel, err := jsonrw.ParseSelector(s)
			if err != nil {
				return cf, err
			}
			cf.json = &sel
		}
	}
	return cf, nil
}

// matchName reports whether a form, multipart or query field is
// selected: its name is read the way PHP, Rails, Rack, qs and Spring bind
// it (see formPaths) and matched like a JSON member, so "ssn" selects
// "SSN", "ssn[]", "user[ssn]", "user.ssn" and "ssn " too.
func (f *compiledField) matchName(paths []jsonrw.Path) bool {
	if f.json == nil {
		return false
	}
	for _, p := range paths {
		if f.json.Match(p) {
			return true
		}
	}
	return false
}

// matchXML reports whether an XML path ("/a/b" or "/a/b/@c") is selected.
// Names compare by local part: Go's encoding/xml (and most binders) fill a
// field tagged "ssn" from <p:ssn>, whatever the prefix.
// Element and attribute names are interchangeable and case-insensitive
// (Jackson's XmlMapper and XmlSerializer settings fill a property from
// either, in any case), so "ssn" selects <SSN> and ssn="...", and "@id"
// selects <id>.
func (f *compiledField) matchXML(path, name string) bool {
	if f.plain != "" {
		return strings.EqualFold(xmlLocal(f.plain), xmlLocal(name))
	}
	if f.xml == nil {
		return false
	}
	steps := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(steps) != len(f.xml) {
		return false
	}
	for i, s := range f.xml {
		if s != "*" && !strings.EqualFold(xmlLocal(s), xmlLocal(steps[i])) {
			return false
		}
	}
	return true
}

// xmlLocal drops the "@" of an attribute and the namespace prefix.
func xmlLocal(n string) string {
	n = strings.TrimPrefix(n, "@")
	if i := strings.LastIndexByte(n, ':'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

func (c *compiledRule) match(method, host string, paths []string, mediaType string) bool {
	return c.matchMethod(method) && c.matchTarget(host, paths) && c.matchType(mediaType)
}

func (c *compiledRule) matchMethod(method string) bool {
	return c.methods == nil || c.methods[strings.ToUpper(method)]
}

// matchTarget reports whether host and one of the path forms match,
// whatever the method and content type.
func (c *compiledRule) matchTarget(host string, paths []string) bool {
	if c.Host != "" && !matchHost(c.Host, host) {
		return false
	}
	for _, p := range paths {
		if c.matchPathForm(p) {
			return true
		}
	}
	return false
}

func (c *compiledRule) matchType(mediaType string) bool {
	if len(c.ContentTypes) > 0 {
		ok := false
		for _, ct := range c.ContentTypes {
			if matchMediaType(ct, mediaType) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchHost(pattern, host string) bool {
	host, pattern = NormalizeHost(host), NormalizeHost(pattern)
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return host == pattern
}

// NormalizeHost returns the form of a Host header rules compare: lower
// case, without port, IPv6 brackets or a trailing dot, since
// "API.example.com.:443" reaches the same origin as "api.example.com".
func NormalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimRight(strings.ToLower(host), ".")
}

func matchMediaType(pattern, mt string) bool {
	pattern = strings.ToLower(pattern)
	switch {
	case pattern == "*/*" || pattern == mt:
		return true
	case strings.HasSuffix(pattern, "/*"):
		return strings.HasPrefix(mt, strings.TrimSuffix(pattern, "*"))
	case strings.Contains(pattern, "*+"):
		// application/*+json
		typ, suffix, _ := strings.Cut(pattern, "*")
		return strings.HasPrefix(mt, typ) && strings.HasSuffix(mt, suffix)
	}
	return false
}

// mediaType returns the lower-cased media type of a Content-Type value,
// "" when absent or unparseable, and its parameters.
func mediaType(ct string) (string, map[string]string) {
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil
	}
	return strings.ToLower(mt), params
}
