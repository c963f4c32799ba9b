package events

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

func openStore(t testing.TB, path string) store.Store { return storetest.SQLite(t, path) }

func newTestService(t *testing.T, st store.Store, clock *clock.Fake) *Service {
	t.Helper()
	return New(Config{Store: st, AccountID: "111122223333", Region: "us-east-1", Clock: clock})
}

// recorder is an HTTP target that fails the first failures requests with
// status and records every request.
type recorder struct {
	mu       sync.Mutex
	failures int
	status   int
	reqs     []recorded
}

type recorded struct {
	method, path, query string
	header              http.Header
	body                []byte
	accepted            bool
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := recorded{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, header: req.Header.Clone(), body: body}
	if r.failures > 0 {
		r.failures--
		r.reqs = append(r.reqs, rec)
		w.WriteHeader(r.status)
		return
	}
	rec.accepted = true
	r.reqs = append(r.reqs, rec)
}

func (r *recorder) snapshot() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func (r *recorder) accepted() []recorded {
	var out []recorded
	for _, q := range r.snapshot() {
		if q.accepted {
			out = append(out, q)
		}
	}
	return out
}

func mustRuleWithTarget(t *testing.T, s *Service, name, pattern string, targets ...Target) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.PutRule(ctx, RuleInput{Name: name, EventPattern: pattern}); err != nil {
		t.Fatal(err)
	}
	failed, err := s.PutTargets(ctx, "", name, targets)
	if err != nil || len(failed) > 0 {
		t.Fatalf("PutTargets: %v %+v", err, failed)
	}
}

func intp(n int) *int { return &n }

const acmPattern = `{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration"]}`

func TestPutEventDelivers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := newTestService(t, openStore(t, filepath.Join(t.TempDir(), "db")), clock)
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	mustRuleWithTarget(t, s, "acm-expiry", acmPattern, Target{ID: "hook", Arn: srv.URL + "/hook"})

	arn := "arn:aws:acm:us-east-1:111122223333:certificate/abc"
	if err := s.PutEvent(ctx, "aws.acm", "ACM Certificate Approaching Expiration", []string{arn}, map[string]any{"DaysToExpiry": 30, "CommonName": "example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEvent(ctx, "aws.acm", "ACM Certificate Expired", []string{arn}, map[string]any{"CommonName": "example.com"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v; want 1 attempt", n, err)
	}
	got := rec.accepted()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	var env map[string]any
	if err := json.Unmarshal(got[0].body, &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version": "0", "detail-type": "ACM Certificate Approaching Expiration", "source": "aws.acm",
		"account": "111122223333", "time": "2030-01-02T03:04:05Z", "region": "us-east-1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %v, want %v", k, env[k], v)
		}
	}
	if r, _ := env["resources"].([]any); len(r) != 1 || r[0] != arn {
		t.Errorf("resources = %v", env["resources"])
	}
	if d, _ := env["detail"].(map[string]any); d["DaysToExpiry"] != float64(30) || d["CommonName"] != "example.com" {
		t.Errorf("detail = %v", env["detail"])
	}
	if id, _ := env["id"].(string); len(id) != 36 {
		t.Errorf("id = %q", id)
	}
	if got[0].path != "/hook" || got[0].method != http.MethodPost || got[0].header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("request = %s %s %v", got[0].method, got[0].path, got[0].header)
	}
	if n, _ := s.DeliverDue(ctx); n != 0 {
		t.Errorf("a second pass made %d attempts, want 0", n)
	}
}

func TestRetryUntilAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		failures int
		retries  *int
		want     int // attempts until the queue is empty
		accepted bool
	}{
		{"500 three times then accepted", 500, 3, nil, 4, true},
		{"429 is retried", 429, 1, nil, 2, true},
		{"404 is final", 404, 1, nil, 1, false},
		{"retries exhausted", 503, 5, intp(2), 3, false},
		{"no retries", 500, 1, intp(0), 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			s := newTestService(t, openStore(t, filepath.Join(t.TempDir(), "db")), clock)
			rec := &recorder{failures: tc.failures, status: tc.status}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			mustRuleWithTarget(t, s, "r", `{"source":["app"]}`, Target{ID: "t", Arn: srv.URL, MaxRetryAttempts: tc.retries})
			res, err := s.PutEvents(ctx, []Entry{{Source: "app", DetailType: "x", Detail: `{}`}})
			if err != nil || res[0].ErrorCode != "" {
				t.Fatalf("PutEvents: %v %+v", err, res)
			}
			for i := 0; i < 20; i++ {
				if _, err := s.DeliverDue(ctx); err != nil {
					t.Fatal(err)
				}
				clock.Add(10 * time.Minute) // past any backoff
			}
			reqs := rec.snapshot()
			if len(reqs) != tc.want {
				t.Fatalf("%d attempts, want %d", len(reqs), tc.want)
			}
			if n := len(rec.accepted()); (n == 1) != tc.accepted || n > 1 {
				t.Fatalf("%d accepted, want accepted=%v", n, tc.accepted)
			}
			for _, q := range reqs[1:] {
				if string(q.body) != string(reqs[0].body) {
					t.Fatal("a retry sent a different event")
				}
			}
		})
	}
}

func TestRetryWaitsForBackoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newTestService(t, openStore(t, filepath.Join(t.TempDir(), "db")), clock)
	rec := &recorder{failures: 1, status: 500}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	mustRuleWithTarget(t, s, "r", `{"source":["app"]}`, Target{ID: "t", Arn: srv.URL})
	if _, err := s.PutEvents(ctx, []Entry{{Source: "app", DetailType: "x", Detail: `{}`}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.DeliverDue(ctx); n != 1 {
		t.Fatalf("first pass: %d attempts", n)
	}
	if n, _ := s.DeliverDue(ctx); n != 0 {
		t.Fatalf("a retry ran before its backoff: %d attempts", n)
	}
	clock.Add(s.backoffBase)
	if n, _ := s.DeliverDue(ctx); n != 1 || len(rec.accepted()) != 1 {
		t.Fatalf("after the backoff: %d attempts, %d accepted", n, len(rec.accepted()))
	}
}

func TestEventAgeLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newTestService(t, openStore(t, filepath.Join(t.TempDir(), "db")), clock)
	rec := &recorder{failures: 100, status: 500}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	mustRuleWithTarget(t, s, "r", `{"source":["app"]}`, Target{ID: "t", Arn: srv.URL, MaxEventAgeSeconds: intp(120)})
	if _, err := s.PutEvents(ctx, []Entry{{Source: "app", DetailType: "x", Detail: `{}`}}); err != nil {
		t.Fatal(err)
	}
	_, _ = s.DeliverDue(ctx)
	clock.Add(5 * time.Minute)
	_, _ = s.DeliverDue(ctx)
	recs, err := s.store.List(ctx, kindDelivery, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 || len(rec.snapshot()) != 1 {
		t.Fatalf("queue %d, attempts %d; want the event dropped after one attempt", len(recs), len(rec.snapshot()))
	}
}

// TestRestartResumes checks the queue outlives the process: a new Service
// on the same database delivers what the old one queued.
func TestRestartResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	clock := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()

	st := openStore(t, path)
	s1 := newTestService(t, st, clock)
	mustRuleWithTarget(t, s1, "r", `{"source":["app"]}`, Target{ID: "t", Arn: srv.URL})
	if _, err := s1.PutEvents(ctx, []Entry{{Source: "app", DetailType: "x", Detail: `{"n":1}`}}); err != nil {
		t.Fatal(err)
	}
	// A claimed-but-unsettled delivery (crash mid-attempt) comes back
	// after its lease.
	recs, _ := st.List(ctx, kindDelivery, store.ListOptions{})
	if _, _, err := s1.claim(ctx, recs[0], clock.Now()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	s2 := newTestService(t, openStore(t, path), clock)
	if n, _ := s2.DeliverDue(ctx); n != 0 {
		t.Fatalf("leased delivery attempted early: %d", n)
	}
	clock.Add(s2.lease)
	if n, err := s2.DeliverDue(ctx); n != 1 || err != nil || len(rec.accepted()) != 1 {
		t.Fatalf("after restart: %d attempts (%v), %d accepted", n, err, len(rec.accepted()))
	}
}

func TestAPIDestinationRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		conn   ConnectionInput
		target Target
		check  func(t *testing.T, r recorded)
	}{
		{
			name:   "basic auth",
			conn:   ConnectionInput{AuthorizationType: AuthBasic, Username: "u", Password: "p@ss"},
			target: Target{ID: "t"},
			check: func(t *testing.T, r recorded) {
				if got := r.header.Get("Authorization"); got != "Basic dTpwQHNz" {
					t.Errorf("Authorization = %q", got)
				}
			},
		},
		{
			name:   "api key and parameters",
			conn:   ConnectionInput{AuthorizationType: AuthAPIKey, APIKeyName: "X-Api-Key", APIKeyValue: "k1", Params: []HTTPParam{{In: "query", Key: "tenant", Value: "t9", Secret: true}}},
			target: Target{ID: "t", HTTP: &HTTPParameters{PathParameterValues: []string{"a b"}, Headers: map[string]string{"X-Extra": "1"}}},
			check: func(t *testing.T, r recorded) {
				if r.header.Get("X-Api-Key") != "k1" || r.header.Get("X-Extra") != "1" || r.query != "tenant=t9" || r.path != "/items/a b" {
					t.Errorf("request %s?%s %v", r.path, r.query, r.header)
				}
			},
		},
		{
			name:   "input path",
			conn:   ConnectionInput{AuthorizationType: AuthNone},
			target: Target{ID: "t", InputPath: "$.detail"},
			check: func(t *testing.T, r recorded) {
				if string(r.body) != `{"n":1}` {
					t.Errorf("body = %s", r.body)
				}
			},
		},
		{
			name:   "constant input",
			conn:   ConnectionInput{AuthorizationType: AuthNone},
			target: Target{ID: "t", Input: `{"fixed":true}`},
			check: func(t *testing.T, r recorded) {
				if string(r.body) != `{"fixed":true}` {
					t.Errorf("body = %s", r.body)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			st := openStore(t, filepath.Join(t.TempDir(), "db"))
			s := newTestService(t, st, clock)
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			tc.conn.Name = "c"
			conn, err := s.CreateConnection(ctx, tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := st.Get(ctx, kindConnection, "c")
			if tc.conn.Password != "" && bytes.Contains(raw.Data, []byte(tc.conn.Password)) {
				t.Fatal("the password is stored in the clear")
			}
			d, err := s.CreateAPIDestination(ctx, APIDestination{Name: "d", ConnectionARN: conn.ARN, Endpoint: srv.URL + "/items/*", Method: "PUT"})
			if err != nil {
				t.Fatal(err)
			}
			tc.target.Arn = d.ARN
			mustRuleWithTarget(t, s, "r", `{"source":["app"]}`, tc.target)
			if _, err := s.PutEvents(ctx, []Entry{{Source: "app", DetailType: "x", Detail: `{"n":1}`}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			got := rec.accepted()
			if len(got) != 1 || got[0].method != "PUT" {
				t.Fatalf("deliveries %+v", got)
			}
			tc.check(t, got[0])
		})
	}
}
