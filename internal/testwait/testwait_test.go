package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	if !Until(0, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("a condition that comes true was reported as never holding")
	}
	if n.Load() != 3 {
		t.Fatalf("polled %d times, want 3 (stop as soon as it holds)", n.Load())
	}
	start := time.Now()
	if Until(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as holding")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("gave up before the timeout")
	}
}

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestForFailsTheTestOnTimeout(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{TB: t}
	For(ft, time.Millisecond, "never", func() bool { return false })
	if !ft.failed {
		t.Fatal("For did not fail the test when the condition never held")
	}
	ft = &fakeTB{TB: t}
	For(ft, 0, "at once", func() bool { return true })
	if ft.failed {
		t.Fatal("For failed a test whose condition held")
	}
}
