package fle

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	return e, nil
}

// BodyLimit returns the effective body limit (negative: none).
func (e *Engine) BodyLimit() int64 { return e.limit }

// Match returns the rule that applies to a request, if any, so the proxy
// can stream unmatched requests without buffering them.
func (e *Engine) Match(method, host, path, contentType string) (Rule, bool) {
	if c := e.match(method, host, path, contentType); c != nil {
		return c.Rule, true
	}
	return Rule{}, false
}

// MatchTarget returns the first rule whose methods, host and path match,
// ignoring its content types. The edge refuses a request that matches a
// rule this way but not by content type: the body format is the client's
// choice, and many origins decode a body whatever its Content-Type says.
func (e *Engine) MatchTarget(method, host, path string) (Rule, bool) {
	for _, c := range e.rules {
		if c.matchTarget(method, host, path) {
			return c.Rule, true
		}
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

func (e *Engine) match(method, host, path, contentType string) *compiledRule {
	mt, _ := mediaType(contentType)
	for _, c := range e.rules {
		if c.match(method, host, path, mt) {
			return c
		}
	}
	return nil
}

// Request is what Protect needs to know about an HTTP request.
type Request struct {
	Method, Host, Path, RawQuery, ContentType string
	// Body is read up to the engine's body limit; nil means empty.
	Body io.Reader
}

// Result is a rewritten request. When Matched is false nothing was read
// or changed beyond Body, which holds the bytes read.
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

// Protect applies the first matching rule to req. On success the whole
// body and query are rewritten; on any error the Result is empty and the
// request must not be forwarded. Errors are *Error.
func (e *Engine) Protect(ctx context.Context, req Request) (Result, error) {
	c := e.match(req.Method, req.Host, req.Path, req.ContentType)
	body, err := ReadLimited(req.Body, e.limit)
	if err != nil {
		if fe := (*Error)(nil); errors.As(err, &fe) && c != nil {
			fe.Rule = c.Name
		}
		return Result{}, err
	}
	if c == nil {
		return Result{Body: body, RawQuery: req.RawQuery}, nil
	}
	p := &protector{ctx: ctx, rule: c, keys: e.keys, encs: map[string]token.Encrypter{}}
	res := Result{Matched: true, Rule: c.Name, Body: body, RawQuery: req.RawQuery}
	if len(c.query) > 0 && req.RawQuery != "" {
		q, n, err := codec.RewriteForm([]byte(req.RawQuery), "query", p.nameFunc(c.query, false))
		if err != nil {
			return Result{}, p.wrap(err, KindUnparseable)
		}
		res.RawQuery, res.Protected = string(q), n
	}
	if len(body) > 0 && (len(c.fields) > 0 || len(c.Detectors) > 0) {
		out, n, err := p.body(body, req.ContentType)
		if err != nil {
			return Result{}, err
		}
		res.Body, res.Protected = out, res.Protected+n
	}
	return res, nil
}

// protector carries the per-request state: the rule and the Encrypters
// already fetched.
type protector struct {
	ctx  context.Context
	rule *compiledRule
	keys KeySource
	encs map[string]token.Encrypter
}

func (p *protector) body(body []byte, contentType string) ([]byte, int, error) {
	mt, params := mediaType(contentType)
	var (
		out []byte
		n   int
		err error
	)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		out, n, err = p.json(body)
	case mt == "application/x-www-form-urlencoded":
		out, n, err = codec.RewriteForm(body, "form", p.nameFunc(p.rule.fields, true))
	case mt == "multipart/form-data":
		out, n, err = codec.RewriteMultipart(body, params["boundary"], p.nameFunc(p.rule.fields, true))
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		out, n, err = codec.RewriteXML(body, p.xmlFunc())
	case strings.HasPrefix(mt, "text/") && len(p.rule.fields) == 0:
		var s string
		s, n, err = p.detect(string(body), "text")
		out = []byte(s)
	default:
		return nil, 0, &Error{Kind: KindUnsupported, Rule: p.rule.Name,
			Err: fmt.Errorf("cannot protect fields in %q bodies", mt)}
	}
	if err != nil {
		return nil, 0, p.wrap(err, KindUnparseable)
	}
	return out, n, nil
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

func (p *protector) json(body []byte) ([]byte, int, error) {
	detected, detStrings := 0, 0
	out, n, err := jsonrw.Rewrite(body, jsonrw.Options{
		Selectors: p.rule.jsonSel,
		Field: func(sel int, v jsonrw.Value) (string, error) {
			return p.encrypt(p.rule.fields[sel].Field, v.Text, v.Path.Binding())
		},
		Strings: func(v jsonrw.Value) (string, bool, error) {
			s, k, err := p.detect(v.Text, v.Path.Binding())
			detected += k
			if k > 0 {
				detStrings++
			}
			return s, k > 0 && err == nil, err
		},
	})
	if err != nil {
		return nil, 0, err
	}
	// n counts rewritten JSON values; a string with several detector hits
	// is one value but several protected fields.
	return out, n - detStrings + detected, nil
}

// nameFunc selects form, multipart and query fields by name; other values
// go through the detectors when detect is set.
func (p *protector) nameFunc(fields []compiledField, detect bool) codec.Func {
	return func(f codec.Field) (string, bool, error) {
		for i := range fields {
			if fields[i].matchName(f.Name) {
				tok, err := p.encrypt(fields[i].Field, f.Value, f.Path)
				return tok, err == nil, err
			}
		}
		if !detect || f.Opaque {
			return "", false, nil
		}
		s, k, err := p.detect(f.Value, f.Path)
		return s, k > 0 && err == nil, err
	}
}

func (p *protector) xmlFunc() codec.Func {
	return func(f codec.Field) (string, bool, error) {
		for i := range p.rule.fields {
			if p.rule.fields[i].matchXML(f.Path, f.Name) {
				tok, err := p.encrypt(p.rule.fields[i].Field, f.Value, f.Path)
				return tok, err == nil, err
			}
		}
		if f.Opaque {
			return "", false, nil
		}
		s, k, err := p.detect(f.Value, f.Path)
		return s, k > 0 && err == nil, err
	}
}
