package certsource

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// flaky is a source that fails until healed, counting loads.
type flaky struct {
	mu     sync.Mutex
	m      *Material
	broken bool
	loads  int
}

func (f *flaky) Load(context.Context) (*Material, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	if f.broken {
		return nil, errors.New("service unavailable")
	}
	return f.m, nil
}

func (f *flaky) set(broken bool, m *Material) {
	f.mu.Lock()
	f.broken, f.m = broken, m
	f.mu.Unlock()
}

// recordingClock is a clock.Fake that hands the watch loop's waits to the
// test: each timer is armed, then its duration is sent on asked, so when
// the test has read it, fire (moving the fake time by it) is sure to
// reach the loop.
type recordingClock struct {
	*clock.Fake
	asked chan time.Duration
	last  time.Duration // read and written by the test goroutine only
}

func newRecordingClock() *recordingClock {
	return &recordingClock{Fake: clock.NewFake(time.Now()), asked: make(chan time.Duration)}
}

func (c *recordingClock) NewTimer(d time.Duration) clock.Timer {
	t := c.Fake.NewTimer(d)
	c.asked <- d
	return t
}

// next waits for the loop to arm its timer and returns the duration.
func (c *recordingClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.asked:
		c.last = d
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("the watch loop never armed its timer")
		return 0
	}
}

// fire lets the wait next returned pass.
func (c *recordingClock) fire() { c.Add(c.last) }

// TestReloaderRetriesWithBackoff: a source whose first check fails is
// still watched (it used to be dropped and stay frozen forever), retried
// with doubling backoff capped at MaxBackoff, and reports its state; once
// it answers, the loop goes back to the poll interval. The same holds
// for a source that fails after serving (state "stale", old material
// kept).
func TestReloaderRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	c, k := selfSigned(t, "a", time.Now().Add(time.Hour))
	good, err := Parse(c, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		preload    bool   // material loaded before Start
		wantStatus string // while failing
	}{
		{"first load fails", false, StatusFailing},
		{"fails after serving", true, StatusStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &flaky{m: good}
			fa := newRecordingClock()
			st := stats.NewStore()
			r := NewReloader(ReloaderConfig{Name: "remote", Source: src, Stats: st, PollInterval: 10 * time.Second,
				RetryBackoff: time.Second, MaxBackoff: 8 * time.Second, Clock: fa})
			if tc.preload {
				if err := r.Reload(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			src.set(true, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r.Start(ctx)
			if tc.preload {
				// Serving: the first check comes after the poll interval.
				if d := fa.next(t); d != 10*time.Second {
					t.Fatalf("first wait %s, want the poll interval", d)
				}
				fa.fire()
			}
			// Failing: backoff doubles to the cap (stale material waits at
			// least the poll interval).
			want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
			for i, w := range want {
				if tc.preload {
					w = max(w, 10*time.Second)
				}
				if d := fa.next(t); d != w {
					t.Fatalf("wait %d = %s, want %s", i, d, w)
				}
				s := r.State()
				if s.Status != tc.wantStatus || s.ConsecutiveFailures != i+1 || s.LastError != "service unavailable" {
					t.Fatalf("state after %d failures: %+v", i+1, s)
				}
				if g := st.Gauge(stats.SourcePrefix("remote") + stats.ConsecutiveFailures).Value(); g != int64(i+1) {
					t.Fatalf("consecutive_failures gauge = %d, want %d", g, i+1)
				}
				if tc.preload && r.Current() != good {
					t.Fatal("old material dropped while the source fails")
				}
				if i == len(want)-1 {
					src.set(false, good)
				}
				fa.fire()
			}
			// Healed: back to the poll interval, state ok, material in use.
			if d := fa.next(t); d != 10*time.Second {
				t.Fatalf("after recovery the loop waits %s, want the poll interval", d)
			}
			if s := r.State(); s.Status != StatusOK || s.ConsecutiveFailures != 0 || s.LastError != "" || s.LastSuccess.IsZero() {
				t.Fatalf("state after recovery: %+v", s)
			}
			if r.Current() != good {
				t.Fatal("material not loaded after recovery")
			}
			if g := st.Gauge(stats.SourcePrefix("remote") + stats.ConsecutiveFailures).Value(); g != 0 {
				t.Fatalf("consecutive_failures gauge = %d after recovery", g)
			}
			if n := st.Counter(stats.SourcePrefix("remote") + stats.UpdateFailure).Value(); n != uint64(len(want)) {
				t.Fatalf("update_failure = %d, want %d", n, len(want))
			}
		})
	}
}
