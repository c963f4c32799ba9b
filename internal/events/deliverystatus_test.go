package events

import (
	"bytes"
	"context"
	"github.com/bulwarkd/bulwark/internal/clock"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// closedURL is an http URL nothing listens on (a connection error).
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestRuleDeliveries: the last attempt per target (delivered, retrying)
// and the queued retries are reported, pages do not overlap, other rules'
// deliveries are left out, and a connection error never carries the
// connection's secret query parameter.
func TestRuleDeliveries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	s := newTestService(t, st, clk)
	ok := httptest.NewServer(&recorder{})
	defer ok.Close()
	conn, err := s.CreateConnection(ctx, ConnectionInput{Name: "c", AuthorizationType: AuthAPIKey, APIKeyName: "X-Api-Key", APIKeyValue: "hdr-secret",
		Params: []HTTPParam{{In: "query", Key: "token", Value: "query-s3cret", Secret: true}}})
	if err != nil {
		t.Fatal(err)
	}
	down, err := s.CreateAPIDestination(ctx, APIDestination{Name: "down", ConnectionARN: conn.ARN, Endpoint: closedURL(t) + "/hook", Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	mustRuleWithTarget(t, s, "r", `{"source":["app"]}`, Target{ID: "ok", Arn: ok.URL}, Target{ID: "down", Arn: down.ARN})
	mustRuleWithTarget(t, s, "other", `{"source":["app"]}`, Target{ID: "down", Arn: down.ARN})
	for range 3 {
		if _, err := s.PutEvents(ctx, []Entry{{Source: "app", DetailType: "x", Detail: `{}`}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeliverDue(ctx); err != nil || n != 9 {
		t.Fatalf("DeliverDue = %d, %v; want 9 attempts", n, err)
	}

	first, err := s.RuleDeliveries(ctx, "", "r", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]TargetStatus{}
	for _, ts := range first.Targets {
		byID[ts.TargetID] = ts
	}
	if byID["ok"].Outcome != OutcomeDelivered || byID["ok"].Attempts != 1 || byID["ok"].LastError != "" {
		t.Errorf("target ok: %+v", byID["ok"])
	}
	if d := byID["down"]; d.Outcome != OutcomeRetrying || d.Attempts != 1 || !strings.Contains(d.LastError, "/hook") || !strings.Contains(d.LastError, "connect") {
		t.Errorf("target down: %+v", d)
	}
	if len(first.Pending) != 2 || first.Next == "" {
		t.Fatalf("first page: %d pending, next %q", len(first.Pending), first.Next)
	}
	second, err := s.RuleDeliveries(ctx, "", "r", first.Next, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Pending) != 1 || second.Next != "" || len(second.Targets) != 0 {
		t.Fatalf("second page: %+v", second)
	}
	seen := map[string]bool{}
	for _, p := range append(first.Pending, second.Pending...) {
		if p.TargetID != "down" || p.Attempts != 1 || !p.NextDue.After(clk.Now()) || seen[p.EventID] {
			t.Errorf("pending %+v (seen %v)", p, seen)
		}
		seen[p.EventID] = true
		if strings.Contains(p.LastError, "s3cret") || !strings.Contains(p.LastError, "/hook") {
			t.Errorf("pending error %q", p.LastError)
		}
	}
	// Nothing stored about deliveries holds the secret parameter.
	for _, kind := range []string{kindDelivery, kindTargetStatus} {
		recs, err := st.List(ctx, kind, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if bytes.Contains(r.Data, []byte("query-s3cret")) || bytes.Contains(r.Data, []byte("hdr-secret")) {
				t.Errorf("%s %s stores a connection secret: %s", kind, r.ID, r.Data)
			}
		}
	}
	if _, err := s.RuleDeliveries(ctx, "", "missing", "", 2); err == nil {
		t.Error("a missing rule has deliveries")
	}

	// A target removed and added again, and a rule deleted and made
	// again, start without the old history.
	if err := s.RemoveTargets(ctx, "", "r", []string{"ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTargets(ctx, "", "r", []Target{{ID: "ok", Arn: ok.URL}}); err != nil {
		t.Fatal(err)
	}
	again, err := s.RuleDeliveries(ctx, "", "r", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Targets) != 1 || again.Targets[0].TargetID != "down" {
		t.Errorf("after re-adding target ok: %+v", again.Targets)
	}
	if err := s.RemoveTargets(ctx, "", "other", []string{"down"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRule(ctx, "", "other"); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.List(ctx, kindTargetStatus, store.ListOptions{Prefix: "other/"}); len(recs) != 0 {
		t.Errorf("a deleted rule keeps %d delivery status records", len(recs))
	}
}
