package renewer

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ACM event detail types the renewer acts on.
const (
	DetailApproaching = "ACM Certificate Approaching Expiration"
	DetailExpired     = "ACM Certificate Expired"
	DetailAvailable   = "ACM Certificate Available"
	sourceACM         = "aws.acm"
)

// Auth is what a delivery must carry: an API-key header (an EventBridge
// API_KEY connection) or HTTP basic credentials (a BASIC connection).
// Exactly one must be configured.
type Auth struct {
	// HeaderName and HeaderValue: the request must have HeaderName:
	// HeaderValue (e.g. x-api-key).
	HeaderName, HeaderValue string
	// Username and Password: the request must carry them as basic auth.
	Username, Password string
}

func (a Auth) validate() error {
	hdr := a.HeaderName != "" || a.HeaderValue != ""
	basic := a.Username != "" || a.Password != ""
	switch {
	case hdr && basic:
		return errors.New("renewer: configure an API key header or basic auth, not both")
	case hdr && (a.HeaderName == "" || len(a.HeaderValue) < 16):
		return errors.New("renewer: the API key needs a header name and a value of at least 16 characters")
	case basic && (a.Username == "" || len(a.Password) < 16):
		return errors.New("renewer: basic auth needs a user name and a password of at least 16 characters")
	case !hdr && !basic:
		return errors.New("renewer: deliveries must be authenticated: configure an API key header or basic auth")
	}
	return nil
}

// check compares in constant time (per length) so the key cannot be
// guessed byte by byte from response times.
func (a Auth) check(r *http.Request) bool {
	if a.HeaderName != "" {
		return subtle.ConstantTimeCompare([]byte(r.Header.Get(a.HeaderName)), []byte(a.HeaderValue)) == 1
	}
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(a.Username))&subtle.ConstantTimeCompare([]byte(p), []byte(a.Password)) == 1
}

// Event is the EventBridge envelope the renewer reads.
type Event struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// EventResponse is the JSON answer to a delivery.
type EventResponse struct {
	EventID   string    `json:"eventId"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Ignored   string    `json:"ignored,omitempty"`
	Results   []*Result `json:"results,omitempty"`
}

// HandleEvent acts on one delivered event. Events already handled
// successfully (same id) are answered as duplicates without work; the
// renewal rule makes re-handling harmless anyway, the id check only saves
// the calls. A failure returns an error so the caller answers 5xx and
// EventBridge retries.
func (r *Renewer) HandleEvent(ctx context.Context, ev Event) (*EventResponse, error) {
	resp := &EventResponse{EventID: ev.ID}
	r.count(func(c *EventCounts) { c.Received++ })
	if ev.ID != "" && r.seen.has(ev.ID) {
		r.count(func(c *EventCounts) { c.Duplicates++ })
		resp.Duplicate = true
		return resp, nil
	}
	switch {
	case ev.Source != sourceACM:
		resp.Ignored = "source is not aws.acm"
	case ev.DetailType != DetailApproaching && ev.DetailType != DetailExpired && ev.DetailType != DetailAvailable:
		resp.Ignored = "detail-type not handled"
	}
	var errs []error
	if resp.Ignored == "" {
		for _, arn := range ev.Resources {
			if !r.Bound(arn) {
				continue
			}
			// Available announces a new certificate (often one this
			// renewer just asked for): export it, never renew again.
			res, err := r.handle(ctx, arn, "event:"+ev.ID, ev.DetailType != DetailAvailable)
			resp.Results = append(resp.Results, res)
			errs = append(errs, err)
		}
		if len(resp.Results) == 0 {
			resp.Ignored = "no bound certificate in resources"
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.count(func(c *EventCounts) { c.Failed++ })
		return resp, err
	}
	if resp.Ignored != "" {
		r.count(func(c *EventCounts) { c.Ignored++ })
	}
	if ev.ID != "" {
		r.seen.add(ev.ID)
	}
	return resp, nil
}

// maxEventBytes bounds a delivery body (EventBridge events are ≤ 256 KB).
const maxEventBytes = 256 << 10

// handlingTimeout bounds one delivery's work. It is detached from the
// request: EventBridge gives up after 5 s and retries, and a renewal cut
// off half-way would only be redone.
const handlingTimeout = 10 * time.Minute

// Handler serves POST / (deliveries; any path except those below),
// GET /status (JSON Status), GET /metrics (Prometheus text; MetricRenewals
// and the other Metric names) and GET /healthz (unauthenticated). /status
// and /metrics need the delivery credentials.
func (r *Renewer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /status", r.authed(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Status()) }))
	mux.Handle("GET /metrics", r.authed(r.metrics.handler().ServeHTTP))
	mux.Handle("POST /", r.authed(r.serveEvent))
	return mux
}

func (r *Renewer) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.cfg.Auth.check(req) {
			r.count(func(c *EventCounts) { c.Unauthorized++ })
			if r.cfg.Auth.Username != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="bulwark-renewer"`)
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		h(w, req)
	})
}

func (r *Renewer) serveEvent(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxEventBytes+1))
	if err != nil || len(body) > maxEventBytes {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable or oversized body"})
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || !strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
		// 400 is not retried by EventBridge: a malformed event never gets better.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not an EventBridge event"})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), handlingTimeout)
	defer cancel()
	resp, err := r.HandleEvent(ctx, ev)
	switch {
	case errors.Is(err, ErrRateLimited):
		// 503 is retried by EventBridge, with backoff.
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// idSet remembers the last n ids (FIFO).
type idSet struct {
	n     int
	order []string
	ids   map[string]struct{}
	mu    sync.Mutex
}

func newIDSet(n int) *idSet {
	return &idSet{n: n, ids: map[string]struct{}{}}
}

func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return
	}
	s.ids[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.n {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}
