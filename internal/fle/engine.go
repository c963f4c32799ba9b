package fle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle/codec"
	"github.com/bulwarkd/bulwark/internal/fle/detect"
	"github.com/bulwarkd/bulwark/internal/fle/jsonrw"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// DefaultBodyLimit is the body limit when Config.BodyLimit is zero: 1 MiB,
// the seed's origin-request body limit.
const DefaultBodyLimit = 1 << 20

// KeySource hands out Encrypters by key marker id. The edge implements it
// over KMS GetPublicKey with caching and refresh; it is asked once per key
// per request, so a refreshed key takes effect on the next request.
type KeySource interface {
	Encrypter(ctx context.Context, keyID string) (token.Encrypter, error)
}

// StaticKeys is a KeySource over a fixed map.
type StaticKeys map[string]token.Encrypter

// Encrypter implements KeySource.
func (s StaticKeys) Encrypter(_ context.Context, keyID string) (token.Encrypter, error) {
	if e, ok := s[keyID]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("no key with marker id %q", keyID)
}

// Config configures an Engine.
type Config struct {
	// Rules are tried in order; the first match applies.
	Rules []Rule
	// Keys supplies Encrypters. Required.
	Keys KeySource
	// BodyLimit caps the bytes Protect reads; 0 means DefaultBodyLimit,
	// negative means no limit (not recommended at an edge).
	BodyLimit int64
}

// Engine chooses the rule for a request and rewrites its body. It is
// immutable and safe for concurrent use; to change rules, build a new
// Engine and swap it in.
type Engine struct {
	rules []*compiledRule
	keys  KeySource
	limit int64
	// scan holds every rule's fields, to find protected names in requests
	// no rule covers and in headers; nil when no rule names a field.
	scan  *compiledRule
	names []string // the selected names, folded, for text bodies
}

// New validates the rules and returns an Engine; configuration errors are
// *Error of KindConfig.
func New(cfg Config) (*Engine, error) {
	if cfg.Keys == nil {
		return nil, &Error{Kind: KindConfig, Err: errors.New("no key source")}
	}
	e := &Engine{keys: cfg.Keys, limit: cfg.BodyLimit}
	if e.limit == 0 {
		e.limit = DefaultBodyLimit
	}
	for i, r := range cfg.Rules {
		c, err := compileRule(i, r)
		if err != nil {
			return nil, err
		}
		e.rules = append(e.rules, c)
	}
	var err error
	if e.scan, e.names, err = compileScan(e.rules); err != nil {
		return nil, err
	}
	return e, nil
}

// BodyLimit returns the effective body limit (negative: none).
func (e *Engine) BodyLimit() int64 { return e.limit }

// Match returns the rule that applies to a request by its method, host,
// path (in every form PathForms gives) and content type, if any. Route
// says what the edge must do with a request; Match is the first step of
// it.
func (e *Engine) Match(method, host, path, contentType string) (Rule, bool) {
	forms, err := PathForms(path)
	if err != nil {
		return Rule{}, false
	}
	if c := e.match(method, host, forms, contentType); c != nil {
		return c.Rule, true
	}
	return Rule{}, false
}

// HostAllowed reports whether some rule could apply to host: true when no
// rule names a host, or when a rule has no host or one matching it. The
// edge refuses other hosts, since the origin does not see the client's
// Host and would accept the request whatever it said.
func (e *Engine) HostAllowed(host string) bool {
	named := false
	for _, c := range e.rules {
		if c.Host == "" || matchHost(c.Host, host) {
			return true
		}
		named = true
	}
	return !named
}

func (e *Engine) match(method, host string, forms []string, contentType string) *compiledRule {
	mt, _ := mediaType(contentType)
	for _, c := range e.rules {
		if c.match(method, host, forms, mt) {
			return c
		}
	}
	return nil
}

// Target is what Route needs to know about a request: everything but the
// body.
type Target struct {
	Method, Host, ContentType string
	// Path is the path as sent (url.URL.EscapedPath), see PathForms.
	Path     string
	RawQuery string
	// HasBody says the request has, or may have, a body (a declared
	// length other than zero, or a chunked or HTTP/2 stream).
	HasBody bool
	// Header, when not nil, is checked with CheckHeader first.
	Header http.Header
}

// Action is what the edge does with a request.
type Action int

// The actions.
const (
	// ActionPass streams the request to the origin untouched.
	ActionPass Action = iota
	// ActionProtect buffers the request and rewrites it with Protect.
	ActionProtect
	// ActionRefuse answers the request with Route.Err; nothing reaches
	// the origin.
	ActionRefuse
	// ActionScan is for a request with a body that no rule covers: it is
	// buffered and Protect looks for protected names in it (refusing the
	// request if it finds one, or cannot show there is none); the body is
	// forwarded unchanged otherwise.
	ActionScan
)

// Route is the engine's decision for one request.
type Route struct {
	Action Action
	// Rule is the rule applied (ActionProtect) or refusing, if any.
	Rule Rule
	// Err is an *Error when Action is ActionRefuse.
	Err error
	c   *compiledRule
}

// Route decides what happens to a request, failing closed wherever an
// origin could read a protected value the edge would not have protected:
//
//   - a path the edge cannot map to one set of segments (PathForms) is
//     refused (KindAmbiguousPath);
//   - the first rule matching method, host, path and content type applies;
//   - otherwise the first rule matching host and path applies to a request
//     with a body or a query whatever its method, since origins route
//     PATCH, DELETE, GET or PROPFIND bodies to the same handler; a body in
//     a content type the rule does not name is refused (KindUnsupported),
//     since many origins decode a body whatever its Content-Type says;
//   - otherwise a query carrying a name some rule protects is refused
//     (KindOutsideRule): the name says the value is protected, the path
//     says no rule covers it, and guessing either way could leak;
//   - otherwise a request with a body is scanned (ActionScan) for the
//     same names;
//   - anything else passes.
//
// Before all that, t.Header (when given) is checked with CheckHeader.
func (e *Engine) Route(t Target) Route {
	if t.Header != nil {
		if err := e.CheckHeader(t.Header); err != nil {
			return Route{Action: ActionRefuse, Err: err}
		}
	}
	forms, err := PathForms(t.Path)
	if err != nil {
		return Route{Action: ActionRefuse, Err: &Error{Kind: KindAmbiguousPath, Err: err}}
	}
	if c := e.match(t.Method, t.Host, forms, t.ContentType); c != nil {
		return Route{Action: ActionProtect, Rule: c.Rule, c: c}
	}
	mt, _ := mediaType(t.ContentType)
	for _, c := range e.rules {
		if !c.matchTarget(t.Host, forms) {
			continue
		}
		switch {
		case t.HasBody && !c.matchType(mt):
			return Route{Action: ActionRefuse, Rule: c.Rule, Err: &Error{Kind: KindUnsupported, Rule: c.Name,
				Err: errors.New("content type not among the rule's content types")}}
		case t.HasBody || t.RawQuery != "":
			return Route{Action: ActionProtect, Rule: c.Rule, c: c}
		}
		return Route{Action: ActionPass}
	}
	if t.RawQuery != "" {
		if err := e.queryOutsideRules(t.RawQuery); err != nil {
			return Route{Action: ActionRefuse, Err: err}
		}
	}
	if t.HasBody && e.scan != nil {
		return Route{Action: ActionScan}
	}
	return Route{Action: ActionPass}
}

// errProtectedName stops the query scan at the first protected name.
var errProtectedName = errors.New("protected name")

// queryOutsideRules refuses a query that names a field some rule
// protects.
func (e *Engine) queryOutsideRules(rawQuery string) error {
	var hit *compiledRule
	_, _, err := codec.RewriteForm([]byte(rawQuery), "query", func(f codec.Field) (string, bool, error) {
		paths := formPaths(f.Name)
		for _, c := range e.rules {
			for i := range c.query {
				if c.query[i].selectsName(paths) {
					hit = c
					return "", false, errProtectedName
				}
			}
		}
		return "", false, nil
	})
	switch {
	case hit != nil:
		return &Error{Kind: KindOutsideRule, Err: fmt.Errorf("query names a field rule %s protects, on a path no rule covers", hit.Name)}
	case err != nil:
		return &Error{Kind: KindUnparseable, Err: err}
	}
	return nil
}

// Request is what Protect needs to know about an HTTP request.
type Request struct {
	Method, Host, Path, RawQuery, ContentType string
	// Header, when not nil, is checked as Route checks Target.Header.
	Header http.Header
	// Body is read up to the engine's body limit; nil means empty.
	Body io.Reader
}

// Result is a rewritten request. When Matched is false nothing was
// changed (no rule covers the request; a body was scanned for protected
// names and had none), and Body holds the bytes read.
type Result struct {
	Matched  bool
	Rule     string
	Body     []byte
	RawQuery string
	// Protected counts the values replaced by tokens, body and query.
	Protected int
}

// ReadLimited reads all of r, failing with a KindBodyTooLarge *Error as
// soon as more than limit bytes arrive (limit < 0: unlimited).
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	if limit < 0 {
		return io.ReadAll(r)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{Kind: KindUnparseable, Err: fmt.Errorf("reading body: %w", err)}
	}
	if int64(len(b)) > limit {
		return nil, &Error{Kind: KindBodyTooLarge, Err: &BodyTooLargeError{Limit: limit}}
	}
	return b, nil
}

// Protect reads the body and applies the rule Route chooses for req (with
// HasBody from the body read). On success the whole body and query are
// rewritten; on any error the Result is empty and the request must not be
// forwarded. Errors are *Error.
func (e *Engine) Protect(ctx context.Context, req Request) (Result, error) {
	t := Target{Method: req.Method, Host: req.Host, Path: req.Path, RawQuery: req.RawQuery, ContentType: req.ContentType, Header: req.Header}
	body, err := ReadLimited(req.Body, e.limit)
	if err != nil {
		t.HasBody = true
		if fe := (*Error)(nil); errors.As(err, &fe) {
			fe.Rule = e.Route(t).Rule.Name
		}
		return Result{}, err
	}
	t.HasBody = len(body) > 0
	rt := e.Route(t)
	switch rt.Action {
	case ActionRefuse:
		return Result{}, rt.Err
	case ActionPass:
		return Result{Body: body, RawQuery: req.RawQuery}, nil
	case ActionScan:
		p := &protector{ctx: ctx, rule: e.scan, scan: true, names: e.names}
		if err := p.scanBody(body, req.ContentType); err != nil {
			return Result{}, err
		}
		return Result{Body: body, RawQuery: req.RawQuery}, nil
	}
	c := rt.c
	p := &protector{ctx: ctx, rule: c, keys: e.keys, encs: map[string]token.Encrypter{}}
	res := Result{Matched: true, Rule: c.Name, Body: body, RawQuery: req.RawQuery}
	if len(c.query) > 0 && req.RawQuery != "" {
		q, _, err := codec.RewriteForm([]byte(req.RawQuery), "query", p.fieldFunc(c.query, "", 0, false, false))
		if err != nil {
			return Result{}, p.wrap(err, KindUnparseable)
		}
		res.RawQuery = string(q)
	}
	if len(body) > 0 && (len(c.fields) > 0 || len(c.Detectors) > 0) {
		out, err := p.body(body, req.ContentType)
		if err != nil {
			return Result{}, err
		}
		res.Body = out
	}
	res.Protected = p.n
	return res, nil
}

// protector carries the per-request state: the rule, the Encrypters
// already fetched and the number of tokens made.
type protector struct {
	ctx  context.Context
	rule *compiledRule
	keys KeySource
	encs map[string]token.Encrypter
	n    int
	// scan: the rule is the engine's scan rule, and any value it selects
	// refuses the request (KindOutsideRule) instead of being encrypted.
	scan  bool
	names []string
}

// maxNesting bounds content inside content (a JSON string holding JSON,
// a multipart part holding a form or another multipart body); deeper
// nesting is refused.
const maxNesting = 8

// body rewrites a request body of a media type the rules can address;
// other types are refused, since they might carry the fields.
func (p *protector) body(body []byte, contentType string) ([]byte, error) {
	mt, _ := mediaType(contentType)
	if !structured(mt) && !(strings.HasPrefix(mt, "text/") && len(p.rule.fields) == 0) {
		return nil, &Error{Kind: KindUnsupported, Rule: p.rule.Name,
			Err: fmt.Errorf("cannot protect fields in %q bodies", mt)}
	}
	out, err := p.content(body, contentType, "", 0, nestOpts{detect: true})
	if err != nil {
		return nil, p.wrap(err, KindUnparseable)
	}
	return out, nil
}

// structured reports whether mt is a type content parses as declared.
func structured(mt string) bool {
	return isJSON(mt) || isXML(mt) || mt == "application/x-www-form-urlencoded" || strings.HasPrefix(mt, "multipart/")
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

func isXML(mt string) bool {
	return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml")
}

// asciiCharset reports whether a charset parameter leaves ASCII bytes as
// they are, so names and delimiters are where the codecs look. UTF-16,
// UTF-32, UTF-7 and EBCDIC bodies are decoded by some origins (ASP.NET
// honours a form's charset) into names the edge never saw.
func asciiCharset(cs string) bool {
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "iso-8859-15", "windows-1252", "cp1252":
		return true
	}
	return false
}

// nestOpts says how to look inside content whose type is not declared.
type nestOpts struct {
	detect bool // run detectors over text no selector chose
	form   bool // try it as a urlencoded form (multipart parts)
}

// content rewrites b as its media type says, or, when the type is absent
// or not structured, as whatever it parses as: JSON (an object or array),
// XML, and with o.form a urlencoded form; then detectors over the text.
// bind, when set, is the path every token inside binds (the field that
// holds the content), so unprotect --json finds them where they are
// bound. Unchanged content is returned as it is.
func (p *protector) content(b []byte, contentType, bind string, depth int, o nestOpts) ([]byte, error) {
	if depth > maxNesting {
		return nil, &Error{Kind: KindUnparseable, Rule: p.rule.Name, Err: errors.New("content nested too deep")}
	}
	mt, params := mediaType(contentType)
	if !asciiCharset(params["charset"]) {
		return nil, &Error{Kind: KindUnsupported, Rule: p.rule.Name,
			Err: fmt.Errorf("charset %q: field names and values would not be where the edge looks", params["charset"])}
	}
	switch {
	case isJSON(mt):
		return p.json(b, bind, depth)
	case mt == "application/x-www-form-urlencoded":
		out, _, err := codec.RewriteForm(b, "form", p.fieldFunc(p.rule.fields, bind, depth, true, false))
		return out, err
	case strings.HasPrefix(mt, "multipart/"):
		out, _, err := codec.RewriteMultipart(b, params["boundary"], p.fieldFunc(p.rule.fields, bind, depth, true, true))
		return out, err
	case isXML(mt):
		out, _, err := codec.RewriteXML(b, p.xmlFunc(bind))
		return out, err
	}
	// Undeclared or unstructured: look inside whatever parses, since the
	// origin may (a GraphQL "operations" part, a JSON file).
	// A byte order mark is skipped by .NET's and Python's JSON readers.
	bom := []byte("\ufeff")
	jb := bytes.TrimPrefix(b, bom)
	t := bytes.TrimLeft(jb, " \t\r\n")
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(jb) {
		out, err := p.json(jb, bind, depth)
		if err != nil || len(jb) == len(b) {
			return out, err
		}
		return append(append([]byte(nil), bom...), out...), nil
	}
	if len(t) > 0 && t[0] == '<' {
		out, _, err := codec.RewriteXML(b, p.xmlFunc(bind))
		if err == nil || !errors.Is(err, codec.ErrSyntax) {
			return out, err
		}
	}
	if o.form && bytes.IndexByte(b, '=') >= 0 {
		out, n, err := codec.RewriteForm(b, "form", p.fieldFunc(p.rule.fields, bind, depth, false, false))
		if err != nil && !errors.Is(err, codec.ErrSyntax) {
			return nil, err
		}
		if err == nil && n > 0 {
			return out, nil
		}
	}
	if o.detect && (mt == "" || strings.HasPrefix(mt, "text/")) {
		path := bind
		if path == "" {
			path = "text"
		}
		s, _, err := p.detect(string(b), path)
		return []byte(s), err
	}
	return b, nil
}

// wrap turns a codec or callback error into an *Error, keeping the kind of
// errors that already are one.
func (p *protector) wrap(err error, kind ErrorKind) error {
	var fe *Error
	if errors.As(err, &fe) {
		if fe.Rule == "" {
			fe.Rule = p.rule.Name
		}
		return fe
	}
	if errors.Is(err, codec.ErrUnsupported) {
		kind = KindUnsupported
	}
	return &Error{Kind: kind, Rule: p.rule.Name, Err: err}
}

func (p *protector) encrypter(f Field) (token.Encrypter, error) {
	id := f.KeyID
	if id == "" {
		id = p.rule.KeyID
	}
	if enc, ok := p.encs[id]; ok {
		return enc, nil
	}
	enc, err := p.keys.Encrypter(p.ctx, id)
	if err == nil && enc == nil {
		err = errors.New("key source returned no encrypter")
	}
	if err != nil {
		return nil, &Error{Kind: KindKeyUnavailable, Rule: p.rule.Name, Err: fmt.Errorf("key %q: %w", id, err)}
	}
	want := f.Format
	if want == "" {
		want = p.rule.Format
	}
	if want != "" && enc.Format() != want {
		return nil, &Error{Kind: KindKeyUnavailable, Rule: p.rule.Name,
			Err: fmt.Errorf("key %q makes %s tokens, rule wants %s", id, enc.Format(), want)}
	}
	p.encs[id] = enc
	return enc, nil
}

func (p *protector) encrypt(f Field, plaintext, path string) (string, error) {
	if p.scan {
		return "", &Error{Kind: KindOutsideRule, Field: path,
			Err: fmt.Errorf("a body on a path no rule covers carries protected field %s", f.Selector)}
	}
	enc, err := p.encrypter(f)
	if err != nil {
		return "", err
	}
	tok, err := enc.Encrypt([]byte(plaintext), path)
	if err != nil {
		var tl *token.PlaintextTooLargeError
		if errors.As(err, &tl) {
			return "", &Error{Kind: KindPlaintextTooLarge, Rule: p.rule.Name, Field: path, Err: err}
		}
		return "", &Error{Kind: KindEncrypt, Rule: p.rule.Name, Field: path, Err: err}
	}
	p.n++
	return tok, nil
}

// detect replaces every detector match in s by a token under the rule's
// default key.
func (p *protector) detect(s, path string) (string, int, error) {
	if len(p.rule.Detectors) == 0 {
		return s, 0, nil
	}
	ms := detect.Find(s, p.rule.Detectors...)
	if len(ms) == 0 {
		return s, 0, nil
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		tok, err := p.encrypt(Field{}, s[m.Start:m.End], path)
		if err != nil {
			return "", 0, err
		}
		b.WriteString(s[last:m.Start])
		b.WriteString(tok)
		last = m.End
	}
	b.WriteString(s[last:])
	return b.String(), len(ms), nil
}

// json rewrites a JSON document; strings no selector chose are looked
// into (JSON inside a string, such as GraphQL variables sent as text)
// and then through the detectors.
func (p *protector) json(body []byte, bind string, depth int) ([]byte, error) {
	if depth > maxNesting {
		return nil, &Error{Kind: KindUnparseable, Rule: p.rule.Name, Err: errors.New("content nested too deep")}
	}
	path := func(v jsonrw.Value) string {
		if bind != "" {
			return bind
		}
		return v.Path.Binding()
	}
	out, _, err := jsonrw.Rewrite(body, jsonrw.Options{
		Selectors: p.rule.jsonSel,
		Field: func(sel int, v jsonrw.Value) (string, error) {
			return p.encrypt(p.rule.fields[sel].Field, v.Text, path(v))
		},
		Strings: func(v jsonrw.Value) (string, bool, error) {
			if t := strings.TrimLeft(v.Text, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(v.Text)) {
				before := p.n
				out, err := p.json([]byte(v.Text), path(v), depth+1)
				if err != nil || p.n > before {
					return string(out), err == nil, err
				}
			}
			s, k, err := p.detect(v.Text, path(v))
			return s, k > 0 && err == nil, err
		},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// fieldFunc selects form, multipart and query fields by name (read as
// formPaths does); other values are looked into (content) and, with
// detect, go through the detectors. multipart says the values are
// multipart parts, which may hold a form.
func (p *protector) fieldFunc(fields []compiledField, bind string, depth int, detect, multipart bool) codec.Func {
	return func(f codec.Field) (string, bool, error) {
		path := f.Path
		if bind != "" {
			path = bind
		}
		paths := formPaths(f.Name)
		if canonName(f.Name) == "_charset_" && !asciiCharset(f.Value) {
			// HTML's _charset_ field sets the charset of the other fields.
			return "", false, &Error{Kind: KindUnsupported, Rule: p.rule.Name, Err: fmt.Errorf("_charset_ %q", f.Value)}
		}
		for i := range fields {
			if fields[i].selectsName(paths) {
				if f.File && !p.scan {
					return "", false, &Error{Kind: KindUnparseable, Rule: p.rule.Name, Field: path,
						Err: errors.New("a selected multipart part is a file")}
				}
				tok, err := p.encrypt(fields[i].Field, f.Value, path)
				return tok, err == nil, err
			}
		}
		if f.Opaque {
			return "", false, nil
		}
		before := p.n
		out, err := p.content([]byte(f.Value), f.ContentType, path, depth+1,
			nestOpts{detect: detect && !f.File, form: multipart})
		if err != nil {
			return "", false, err
		}
		return string(out), p.n > before, nil
	}
}

func (p *protector) xmlFunc(bind string) codec.Func {
	return func(f codec.Field) (string, bool, error) {
		path := f.Path
		if bind != "" {
			path = bind
		}
		for i := range p.rule.fields {
			if p.rule.fields[i].matchXML(f.Path, f.Name) {
				tok, err := p.encrypt(p.rule.fields[i].Field, f.Value, path)
				return tok, err == nil, err
			}
		}
		if f.Opaque {
			return "", false, nil
		}
		s, k, err := p.detect(f.Value, path)
		return s, k > 0 && err == nil, err
	}
}
