package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/fle"
)

// Config builds a Proxy.
type Config struct {
	// Engine holds the rules and keys. Required.
	Engine *fle.Engine
	// Origin is where requests go. Required.
	Origin *url.URL
	// Transport reaches the origin; nil means an HTTP/1.1 and HTTP/2
	// transport with system roots (see OriginTransport).
	Transport http.RoundTripper
	// AccessLog receives one line per request (method, host, path, status,
	// rule, protected count, duration, error kind; never a query string or
	// a body); nil discards it.
	AccessLog *slog.Logger
	// Logger receives error details (the access log carries only the
	// kind); nil discards them.
	Logger *slog.Logger
	// Registry receives the edge's metrics; nil means a new registry.
	Registry *prometheus.Registry
	// Clock tells the time for latency metrics; nil means the real clock.
	Clock clock.Clock
	// PassUninspectedUnder lists path prefixes ("/uploads/") under which
	// a request that no rule covers is streamed to the origin without
	// its body being read: bodies over the body limit, binary bodies and
	// protocol upgrades (WebSocket) are let through there. A request
	// qualifies only if every form of its path (see fle.PathForms) is
	// under a prefix, compared case-sensitively, segment by segment. Nil
	// (the default) reads every body no rule covers and refuses what it
	// cannot show free of protected names: this is an escape hatch that
	// trusts the origin's handlers there never to bind a protected field.
	PassUninspectedUnder []string
}

// Proxy is the edge reverse proxy, an http.Handler. It is safe for
// concurrent use.
type Proxy struct {
	engine *fle.Engine
	opaque []string // Config.PassUninspectedUnder, cleaned
	rp     *httputil.ReverseProxy
	m      *metrics
	access *slog.Logger
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Engine == nil || cfg.Origin == nil {
		return nil, errors.New("edge: Engine and Origin are required")
	}
	discard := slog.New(slog.DiscardHandler)
	opaque, err := cleanPrefixes(cfg.PassUninspectedUnder)
	if err != nil {
		return nil, err
	}
	p := &Proxy{engine: cfg.Engine, opaque: opaque, access: cfg.AccessLog, log: cfg.Logger, now: clock.OrReal(cfg.Clock).Now}
	if p.access == nil {
		p.access = discard
	}
	if p.log == nil {
		p.log = discard
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	p.m = newMetrics(cfg.Registry)
	tr := cfg.Transport
	if tr == nil {
		tr = OriginTransport(nil)
	}
	origin := cfg.Origin
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			pr.SetXForwarded()
			// Request trailers arrive after the body the edge has read;
			// they are refused where it reads bodies and never sent on.
			pr.Out.Trailer = nil
		},
		Transport: tr,
		// Flush at once so streamed responses are not held back.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("edge: origin request failed", "path", r.URL.Path, "err", err)
			setKind(w, KindOriginUnavailable)
			writeError(w, http.StatusBadGateway, KindOriginUnavailable, "", "", "the origin could not be reached")
		},
	}
	return p, nil
}

// Registry-backed admin endpoints: /stats, /metrics, /healthz.
func (p *Proxy) AdminHandler() http.Handler { return p.m.adminHandler() }

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	ruleName, protected := PassThroughRule, 0
	defer func() {
		code := strconv.Itoa(rec.status)
		p.m.requests.WithLabelValues(ruleName, code).Inc()
		if rec.kind != "" {
			p.m.errors.WithLabelValues(rec.kind).Inc()
		}
		p.access.Info("edge", "method", r.Method, "host", r.Host, "path", r.URL.Path, "proto", r.Proto,
			"status", rec.status, "rule", ruleName, "protected", protected, "error", rec.kind,
			"duration_ms", float64(p.now().Sub(start).Microseconds())/1000)
	}()

	ct := r.Header.Get("Content-Type")
	if h := overrideHeader(r.Header); h != "" {
		// The origin would route (or dispatch) the request by this header,
		// somewhere the rules never looked.
		p.refuse(rec, r, &fle.Error{Kind: fle.KindOverride, Err: fmt.Errorf("request carries %s", h)})
		return
	}
	if !p.engine.HostAllowed(r.Host) {
		// Host is the client's word and the origin never sees it: a
		// request for another name must not slip past host-scoped rules.
		rec.kind = KindMisdirected
		writeError(rec, http.StatusMisdirectedRequest, KindMisdirected, "", "", "the edge does not serve this host")
		return
	}
	if len(r.Trailer) > 0 {
		// Declared trailers (HTTP/1.1 chunked, HTTP/2) arrive after the
		// body the edge reads and rewrites.
		p.refuse(rec, r, &fle.Error{Kind: fle.KindAmbiguousHeader, Err: errors.New("request declares trailers")})
		return
	}
	path := requestPath(r)
	rt := p.engine.Route(fle.Target{Method: r.Method, Host: r.Host, Path: path, RawQuery: r.URL.RawQuery,
		ContentType: ct, HasBody: r.ContentLength != 0, Header: r.Header})
	if rt.Action != fle.ActionRefuse && isUpgrade(r) && !(rt.Action != fle.ActionProtect && p.uninspected(path)) {
		// After 101 the connection is a byte stream the edge cannot read
		// (WebSocket messages would reach the origin as sent).
		p.refuse(rec, r, &fle.Error{Kind: fle.KindUninspectable, Rule: rt.Rule.Name,
			Err: errors.New("protocol upgrades and CONNECT are not inspected")})
		return
	}
	switch rt.Action {
	case fle.ActionRefuse:
		if rt.Rule.Name != "" {
			ruleName = rt.Rule.Name
		}
		p.refuse(rec, r, rt.Err)
		return
	case fle.ActionPass:
		p.rp.ServeHTTP(rec, r)
		return
	case fle.ActionScan:
		if p.uninspected(path) {
			p.rp.ServeHTTP(rec, r)
			return
		}
	default:
		ruleName = rt.Rule.Name
	}
	if err := p.precheck(r, rt.Rule.Name); err != nil {
		p.refuse(rec, r, err)
		return
	}
	res, err := p.engine.Protect(r.Context(), fle.Request{Method: r.Method, Host: r.Host, Path: path,
		RawQuery: r.URL.RawQuery, ContentType: ct, Header: r.Header, Body: r.Body})
	if err != nil {
		p.refuse(rec, r, err)
		return
	}
	if len(r.Trailer) > 0 {
		// Undeclared HTTP/1.1 trailers, read with the body.
		p.refuse(rec, r, &fle.Error{Kind: fle.KindAmbiguousHeader, Rule: rt.Rule.Name, Err: errors.New("request trailers")})
		return
	}
	if res.Matched {
		protected = res.Protected
		p.m.protected.WithLabelValues(ruleName).Add(float64(res.Protected))
		p.m.latency.WithLabelValues(ruleName).Observe(p.now().Sub(start).Seconds())
	}

	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(res.Body))
	out.ContentLength = int64(len(res.Body))
	out.TransferEncoding = nil
	out.Trailer = nil
	out.Header.Del("Content-Length")
	out.GetBody = nil
	out.URL.RawQuery = res.RawQuery
	out.RequestURI = ""
	p.rp.ServeHTTP(rec, out)
}

// requestPath is the path the rules match: the escaped path of the
// request target, which for an absolute-form target ("POST
// http://host/people") is its path, and "*" for "OPTIONS *".
func requestPath(r *http.Request) string {
	if r.URL.Path == "*" && r.URL.RawPath == "" {
		return "*"
	}
	return r.URL.EscapedPath()
}

// isUpgrade reports a request that would turn its connection into a
// stream: an HTTP/1.1 Upgrade (WebSocket, h2c) or a CONNECT (a tunnel, or
// HTTP/2's extended CONNECT for WebSocket).
func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodConnect || r.Header.Get("Upgrade") != "" ||
		strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Connection"), ",")), "upgrade")
}

// uninspected reports whether every form of path is under one of the
// Config.PassUninspectedUnder prefixes.
func (p *Proxy) uninspected(path string) bool {
	if len(p.opaque) == 0 {
		return false
	}
	forms, err := fle.PathForms(path)
	if err != nil {
		return false
	}
	for _, f := range forms {
		ok := false
		for _, pre := range p.opaque {
			if f == pre || strings.HasPrefix(f, pre+"/") {
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

// cleanPrefixes checks PassUninspectedUnder: absolute paths without dot
// segments, escapes or repeated slashes, kept without a trailing slash.
func cleanPrefixes(ps []string) ([]string, error) {
	var out []string
	for _, pre := range ps {
		forms, err := fle.PathForms(pre)
		if err != nil || !strings.HasPrefix(pre, "/") || len(forms) != 1 || forms[0] != pre {
			return nil, fmt.Errorf("edge: uninspected path prefix %q: give a plain absolute path such as /uploads/", pre)
		}
		out = append(out, strings.TrimSuffix(pre, "/"))
	}
	return out, nil
}

// overrideHeaders make frameworks dispatch a request by another method
// (Rails, Laravel, Express method-override, ASP.NET, Symfony) or another
// URL (IIS URL Rewrite, Symfony, Zend) than the request line's, which is
// what the rules matched. They are refused rather than guessed at. Keys
// are lower case with '-', the form overrideHeader compares.
var overrideHeaders = map[string]bool{
	"x-http-method-override": true, "x-http-method": true, "x-method-override": true,
	"x-original-url": true, "x-rewrite-url": true, "x-original-method": true,
}

// overrideHeader returns the first override header the request carries.
// '_' counts as '-', since CGI, PHP and WSGI map both to the same
// HTTP_X_HTTP_METHOD_OVERRIDE variable.
func overrideHeader(h http.Header) string {
	for k := range h {
		if overrideHeaders[strings.ReplaceAll(strings.ToLower(k), "_", "-")] {
			return k
		}
	}
	return ""
}

// precheck refuses what can be refused before reading the body: a
// declared length over the limit, and compressed bodies, which the rules
// cannot see into.
func (p *Proxy) precheck(r *http.Request, rule string) error {
	if lim := p.engine.BodyLimit(); lim >= 0 && r.ContentLength > lim {
		return &fle.Error{Kind: fle.KindBodyTooLarge, Rule: rule, Err: &fle.BodyTooLargeError{Limit: lim}}
	}
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, ce := range strings.Split(v, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				return &fle.Error{Kind: fle.KindUnsupported, Rule: rule, Err: errors.New("content-encoded bodies cannot be inspected")}
			}
		}
	}
	return nil
}

// refuse answers a failed protection; the request is not forwarded.
func (p *Proxy) refuse(w *recorder, r *http.Request, err error) {
	var fe *fle.Error
	if !errors.As(err, &fe) {
		fe = &fle.Error{Kind: fle.KindEncrypt, Err: err}
	}
	p.log.Warn("edge: request refused", "kind", fe.Kind, "rule", fe.Rule, "field", fe.Field, "path", r.URL.Path, "err", err)
	status := fe.Kind.HTTPStatus()
	if fe.Kind == fle.KindBodyTooLarge {
		// The rest of the body is not worth reading.
		w.Header().Set("Connection", "close")
	}
	w.kind = string(fe.Kind)
	writeError(w, status, string(fe.Kind), fe.Rule, fe.Field, messages[fe.Kind])
}

// messages are the client-facing explanations; details (which may name
// KMS endpoints or keys) stay in the operator's log.
var messages = map[fle.ErrorKind]string{
	fle.KindBodyTooLarge:      "the request body is over the edge's limit",
	fle.KindUnparseable:       "the request body could not be parsed as its content type",
	fle.KindUnsupported:       "the edge cannot protect fields in this content type or encoding",
	fle.KindPlaintextTooLarge: "a protected value is longer than its key's token format allows",
	fle.KindKeyUnavailable:    "an encryption key is unavailable",
	fle.KindEncrypt:           "encryption failed",
	fle.KindAmbiguousPath:     "the request path uses an encoding origins read differently (an encoded '/' or '\\', a backslash, a control character, %u or overlong UTF-8); send it plainly",
	fle.KindOverride:          "method and URL override headers are not accepted by the edge; send the real method and path",
	fle.KindOutsideRule:       "the request carries a protected field name (in its query or body) on a path no rule covers; send it where a rule protects it",
	fle.KindProtectedHeader:   "a header or cookie is named like a protected field; send the field in the body or query of a path a rule covers",
	fle.KindAmbiguousHeader:   "Content-Type, Content-Encoding or Content-Length is sent more than once, or the request has trailers; send each once and no trailers",
	fle.KindUninspectable:     "protocol upgrades (WebSocket, h2c) and CONNECT are not forwarded: the edge cannot inspect the stream",
}

// errorBody is the JSON every refusal is answered with.
type errorBody struct {
	Error struct {
		Kind    string `json:"kind"`
		Status  int    `json:"status"`
		Message string `json:"message"`
		Rule    string `json:"rule,omitempty"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, kind, rule, field, msg string) {
	var b errorBody
	b.Error.Kind, b.Error.Status, b.Error.Message, b.Error.Rule, b.Error.Field = kind, status, msg, rule, field
	out, _ := json.Marshal(&b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Bulwark-Edge-Error", kind)
	w.WriteHeader(status)
	_, _ = w.Write(append(out, '\n'))
}

// setKind records an error kind on the response writer if it is ours.
func setKind(w http.ResponseWriter, kind string) {
	if rec, ok := w.(*recorder); ok {
		rec.kind = kind
	}
}

// recorder keeps the status and error kind for metrics and the access log.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	kind        string
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
