package clock

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeTimerFiresOnlyWhenDue(t *testing.T) {
	t.Parallel()
	fc := NewFake(t0)
	tm := fc.NewTimer(time.Minute)
	fc.Add(59 * time.Second)
	if _, ok := received(tm.C()); ok {
		t.Fatal("timer fired before it was due")
	}
	fc.Add(time.Second)
	if v, ok := received(tm.C()); !ok || !v.Equal(t0.Add(time.Minute)) {
		t.Fatalf("timer at its due time: %v %v", v, ok)
	}
	if fc.Waiters() != 0 || tm.Stop() {
		t.Fatal("a fired timer is still armed")
	}
	if got := fc.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Now = %v", got)
	}
}

func TestFakeTickerFiresEachPeriodAndDropsMissedTicks(t *testing.T) {
	t.Parallel()
	fc := NewFake(t0)
	tk := fc.NewTicker(time.Second)
	fc.Add(3500 * time.Millisecond)
	// Three ticks came due; the channel holds one, like time.Ticker.
	v, ok := received(tk.C())
	if !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("first tick: %v %v", v, ok)
	}
	if _, ok := received(tk.C()); ok {
		t.Fatal("missed ticks were queued")
	}
	fc.Add(500 * time.Millisecond)
	if v, ok := received(tk.C()); !ok || !v.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("tick at 4s: %v %v", v, ok)
	}
	tk.Stop()
	fc.Add(time.Hour)
	if _, ok := received(tk.C()); ok {
		t.Fatal("a stopped ticker ticked")
	}
	tk.Reset(time.Minute)
	fc.Add(time.Minute)
	if _, ok := received(tk.C()); !ok {
		t.Fatal("a reset ticker did not tick")
	}
}

func TestFakeStopAndResetDropStaleExpiry(t *testing.T) {
	t.Parallel()
	fc := NewFake(t0)
	tm := fc.NewTimer(time.Second)
	fc.Add(time.Second)
	if tm.Reset(time.Minute) {
		t.Error("Reset of a fired timer reported it active")
	}
	if _, ok := received(tm.C()); ok {
		t.Fatal("a stale expiry survived Reset")
	}
	if !tm.Stop() {
		t.Error("Stop of an armed timer reported it inactive")
	}
	fc.Add(time.Hour)
	if _, ok := received(tm.C()); ok {
		t.Fatal("a stopped timer fired")
	}
	// A timer of zero is due at once, as with package time.
	if _, ok := received(fc.After(0)); !ok {
		t.Fatal("After(0) did not fire at once")
	}
}

func TestFakeAfterFunc(t *testing.T) {
	t.Parallel()
	fc := NewFake(t0)
	ran := make(chan struct{})
	fc.AfterFunc(time.Second, func() { close(ran) })
	stopped := fc.AfterFunc(time.Second, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending AfterFunc reported false")
	}
	select {
	case <-ran:
		t.Fatal("AfterFunc ran before its time")
	default:
	}
	fc.Add(time.Second)
	select {
	case <-ran:
	case <-testCtx(t).Done():
		t.Fatal("AfterFunc did not run")
	}
}

func TestFakeFiresInTimeOrder(t *testing.T) {
	t.Parallel()
	fc := NewFake(t0)
	late, early := fc.NewTimer(2*time.Second), fc.NewTimer(time.Second)
	fc.Add(time.Hour)
	a, _ := received(early.C())
	b, _ := received(late.C())
	if !a.Equal(t0.Add(time.Second)) || !b.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("expiries %v %v: each timer must see its own due time", a, b)
	}
	fc.Set(t0) // never backwards
	if !fc.Now().Equal(t0.Add(time.Hour)) {
		t.Fatalf("Set moved the clock backwards to %v", fc.Now())
	}
}

func TestEveryRunsOneRoundPerPeriod(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testCtx(t))
	fc := NewFake(t0)
	var rounds atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, fc, time.Minute, func(context.Context) { rounds.Add(1) })
	}()
	if !fc.BlockUntil(ctx, 1) {
		t.Fatal("the loop never armed its timer")
	}
	if n := rounds.Load(); n != 1 {
		t.Fatalf("%d rounds before any time passed, want 1 (the first is immediate)", n)
	}
	// Less than a period: no round. This can fail: a loop that ran early
	// would have re-armed (Armed grows) and counted a round.
	armed := fc.Armed()
	fc.Add(59 * time.Second)
	if fc.Armed() != armed || rounds.Load() != 1 {
		t.Fatalf("a round ran before its period: rounds %d", rounds.Load())
	}
	for i := 2; i <= 4; i++ {
		armed := fc.Armed()
		fc.Add(time.Minute)
		if !fc.BlockUntilArmed(ctx, armed+1) {
			t.Fatal("the loop did not go round")
		}
		if n := rounds.Load(); int(n) != i {
			t.Fatalf("after %d periods: %d rounds", i-1, n)
		}
	}
	cancel()
	<-done
	if fc.Waiters() != 0 {
		t.Fatal("Every left its timer armed after returning")
	}
}

func TestEveryAfterWaitsForTheFirstPeriod(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	fc := NewFake(t0)
	var rounds atomic.Int32
	go EveryAfter(ctx, fc, time.Minute, func(context.Context) { rounds.Add(1) })
	fc.BlockUntil(ctx, 1)
	if n := rounds.Load(); n != 0 {
		t.Fatalf("%d rounds before the first period", n)
	}
	armed := fc.Armed()
	fc.Add(time.Minute)
	fc.BlockUntilArmed(ctx, armed+1)
	if n := rounds.Load(); n != 1 {
		t.Fatalf("%d rounds after one period, want 1", n)
	}
}

func TestEveryOrWake(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	fc := NewFake(t0)
	wake := make(chan struct{})
	rounds := make(chan struct{}, 10)
	go EveryOrWake(ctx, fc, time.Hour, wake, func(context.Context) { rounds <- struct{}{} })
	<-rounds
	wake <- struct{}{} // unbuffered: the loop is waiting and takes it
	select {
	case <-rounds:
	case <-ctx.Done():
		t.Fatal("wake did not start a round")
	}
}

func TestRealAndWithNow(t *testing.T) {
	t.Parallel()
	fixed := t0
	c := WithNow(nil, func() time.Time { return fixed })
	if !c.Now().Equal(t0) {
		t.Fatalf("WithNow: %v", c.Now())
	}
	if _, ok := WithNow(Real(), nil).(realClock); !ok {
		t.Fatal("WithNow(base, nil) is not base")
	}
	select {
	case <-c.After(time.Millisecond):
	case <-testCtx(t).Done():
		t.Fatal("a real timer never fired")
	}
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	ran := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(ran) })
	<-ran
}
