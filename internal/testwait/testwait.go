// Package testwait is the one way tests wait for something another
// goroutine or process does and that has no hook to wait on: a condition
// polled until it holds or a deadline passes. It is for tests only.
//
// Prefer a deterministic hook where one exists (a fake clock's
// BlockUntil, a service's DeliverDue or Tick, a callback): polling only
// says when something happened, never that something did not, so a test
// must never use it (or a sleep) to show that nothing happened.
package testwait

import (
	"testing"
	"time"
)

// DefaultTimeout is the deadline For uses when given 0: long enough for a
// loaded 2-core CI machine, short enough that a hung test fails clearly.
const DefaultTimeout = 10 * time.Second

// For polls cond until it returns true, failing the test with what if it
// has not within timeout (0 means DefaultTimeout). Polls start 1 ms apart
// and back off to 50 ms, so a condition that holds soon costs little.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", orDefault(timeout), what)
	}
}

// Until polls cond as For does and reports whether it held in time,
// for callers that fail in their own words (or from a goroutine that
// must not call t.Fatal).
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(orDefault(timeout))
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
	return true
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}
