package secrets

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRotator is a rotation endpoint that follows the protocol by calling
// the service directly; failStep makes one step answer 500.
type fakeRotator struct {
	e        *env
	mu       sync.Mutex
	steps    []string
	tokens   []string
	failStep string
}

func (f *fakeRotator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev RotationEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.mu.Lock()
	f.steps = append(f.steps, ev.Step)
	f.tokens = append(f.tokens, ev.ClientRequestToken)
	fail := f.failStep == ev.Step
	f.mu.Unlock()
	if fail {
		http.Error(w, "step refused", 500)
		return
	}
	ctx, svc, c := r.Context(), f.e.svc, f.e.root()
	var err error
	switch ev.Step {
	case "createSecret":
		if _, err = svc.GetSecretValue(ctx, c, ev.SecretID, ev.ClientRequestToken, stagePending); err != nil {
			_, err = svc.PutSecretValue(ctx, c, PutInput{SecretID: ev.SecretID, Token: ev.ClientRequestToken, Value: Value{String: str("rotated-" + ev.ClientRequestToken[:4])}, Stages: []string{stagePending}})
		}
	case "finishSecret":
		m, _ := svc.DescribeSecret(ctx, c, ev.SecretID)
		_, err = svc.UpdateSecretVersionStage(ctx, c, ev.SecretID, stageCurrent, m.versionWith(stageCurrent), ev.ClientRequestToken)
	}
	if err != nil {
		http.Error(w, err.Error(), 500)
	}
}

func TestRotationFailureAndResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	f := &fakeRotator{e: e, failStep: "testSecret"}
	ts := httptest.NewServer(f)
	defer ts.Close()
	mustCreate(t, e, "r", "orig")
	_, _, err := e.svc.RotateSecret(ctx, e.root(), RotateInput{SecretID: "r", Endpoint: ts.URL, Rules: &RotationRules{ScheduleExpression: "rate(5 days)"}})
	if codeOf(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "testSecret") {
		t.Fatalf("failing step: %v", err)
	}
	if got := *mustGet(t, e, e.root(), "r", "", "").Value.String; got != "orig" {
		t.Fatalf("current changed by a failed rotation: %q", got)
	}
	pending := f.tokens[0]
	// The next attempt resumes the same pending version.
	f.failStep = ""
	_, vid, err := e.svc.RotateSecret(ctx, e.root(), RotateInput{SecretID: "r"})
	if err != nil || vid != pending {
		t.Fatalf("resume: %v, version %q want %q", err, vid, pending)
	}
	r := mustGet(t, e, e.root(), "r", "", "")
	if r.VersionID != pending || len(r.Stages) != 1 {
		t.Fatalf("after resume: %+v", r)
	}
	m, _ := e.svc.DescribeSecret(ctx, e.root(), "r")
	if !m.NextRotation.Equal(m.LastRotated.Add(5*24*time.Hour)) || !m.Rotation {
		t.Fatalf("schedule: last %v next %v", m.LastRotated, m.NextRotation)
	}
	// Scheduled: nothing before the date, one rotation after it.
	if n, _ := e.svc.RotateDue(ctx); n != 0 {
		t.Fatal("rotated early")
	}
	e.clock.Add(5 * 24 * time.Hour)
	if n, err := e.svc.RotateDue(ctx); n != 1 || err != nil {
		t.Fatalf("due: %d %v", n, err)
	}
	// A failing scheduled rotation is postponed an hour, not retried every tick.
	f.failStep = "setSecret"
	e.clock.Add(5 * 24 * time.Hour)
	if n, err := e.svc.RotateDue(ctx); n != 0 || err == nil {
		t.Fatalf("failing due rotation: %d %v", n, err)
	}
	m, _ = e.svc.DescribeSecret(ctx, e.root(), "r")
	if !m.NextRotation.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("not postponed: next %v now %v", m.NextRotation, e.clock.Now())
	}
	if _, pend, err := e.svc.CancelRotateSecret(ctx, e.root(), "r"); err != nil || pend == "" {
		t.Fatalf("cancel: %q %v", pend, err)
	}
}

func TestRotationRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		rules RotationRules
		want  time.Duration
		bad   bool
	}{
		{"days", RotationRules{AutomaticallyAfterDays: 30}, 30 * 24 * time.Hour, false},
		{"rate days", RotationRules{ScheduleExpression: "rate(10 days)"}, 240 * time.Hour, false},
		{"rate hours", RotationRules{ScheduleExpression: "rate(4 hours)"}, 4 * time.Hour, false},
		{"too few hours", RotationRules{ScheduleExpression: "rate(2 hours)"}, 0, true},
		{"cron", RotationRules{ScheduleExpression: "cron(0 16 1,15 * ? *)"}, 0, true},
		{"zero days", RotationRules{}, 0, true},
		{"too many days", RotationRules{AutomaticallyAfterDays: 1001}, 0, true},
	}
	for _, tc := range cases {
		d, err := tc.rules.interval()
		if (err != nil) != tc.bad || d != tc.want {
			t.Errorf("%s: %v %v", tc.name, d, err)
		}
	}
}

// BenchmarkServiceGetSecretValue4KB is the domain path alone (store read,
// policy check, cached data key, AES-GCM) without HTTP and SigV4.
func BenchmarkServiceGetSecretValue4KB(b *testing.B) {
	e := newEnv(b)
	m, _, err := e.svc.CreateSecret(context.Background(), e.root(), CreateInput{Name: "b", Value: strValue(strings.Repeat("x", 4096))})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := e.root()
		for pb.Next() {
			if _, err := e.svc.GetSecretValue(context.Background(), c, m.ARN, "", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestRotationTargetChecks: the call-time checks (the resolved host, then
// the dialled address) refuse link-local and metadata addresses and keep
// loopback and private ones.
func TestRotationTargetChecks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		host    string
		refused bool
	}{
		{"IPv4 metadata", "169.254.169.254", true},
		{"IPv4 link-local", "169.254.1.1", true},
		{"IPv6 link-local", "fe80::1", true},
		{"AWS IPv6 metadata", "fd00:ec2::254", true},
		{"IPv4-mapped metadata", "::ffff:169.254.169.254", true},
		{"loopback", "127.0.0.1", false},
		{"private", "10.1.2.3", false},
		{"localhost by name", "localhost", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHost(context.Background(), tc.host)
			if (err != nil) != tc.refused {
				t.Errorf("checkHost(%q) = %v, refused want %v", tc.host, err, tc.refused)
			}
			if net.ParseIP(tc.host) != nil {
				err := refuseLinkLocalDial("tcp", net.JoinHostPort(tc.host, "80"), nil)
				if (err != nil) != tc.refused {
					t.Errorf("dial control for %q = %v, refused want %v", tc.host, err, tc.refused)
				}
			}
		})
	}
}
