package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when a test calls Add or Set.
// Timers and tickers fire, in time order, as Add moves past them; tickers
// drop ticks a slow reader misses, as real ones do. BlockUntil waits until
// a loop has armed its timer, so a test never moves time before the loop
// is listening and never sleeps to find out.
type Fake struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []*fakeTimer
	armed   int // total timers and tickers ever armed (Reset counts)
}

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake {
	f := &Fake{now: start}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Add moves the clock forward by d, firing every timer and ticker that
// comes due on the way, in order, each at its own due time.
func (f *Fake) Add(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	f.advanceLocked(end)
	f.mu.Unlock()
}

// Set moves the clock to t (never backwards), as Add does.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if t.After(f.now) {
		f.advanceLocked(t)
	}
	f.mu.Unlock()
}

func (f *Fake) advanceLocked(end time.Time) {
	for {
		sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].when.Before(f.waiters[j].when) })
		if len(f.waiters) == 0 || f.waiters[0].when.After(end) {
			break
		}
		w := f.waiters[0]
		if w.when.After(f.now) {
			f.now = w.when
		}
		if w.period > 0 {
			w.when = w.when.Add(w.period)
		} else {
			f.waiters = f.waiters[1:]
			w.active = false
		}
		w.fire(f.now)
	}
	f.now = end
}

// Waiters returns how many timers and tickers are armed now.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil waits until at least n timers and tickers are armed (a loop
// sleeping in Every holds one), or ctx ends; it reports whether they were.
func (f *Fake) BlockUntil(ctx context.Context, n int) bool {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) < n {
		if ctx.Err() != nil {
			return false
		}
		f.cond.Wait()
	}
	return true
}

// Armed returns how many times a timer or ticker has been armed on this
// clock (made or Reset). A test that must know a loop went round once
// more records it, moves the clock, and waits for it to grow with
// BlockUntilArmed.
func (f *Fake) Armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed
}

// BlockUntilArmed waits until Armed reaches n, or ctx ends; it reports
// whether it did.
func (f *Fake) BlockUntilArmed(ctx context.Context, n int) bool {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.armed < n {
		if ctx.Err() != nil {
			return false
		}
		f.cond.Wait()
	}
	return true
}

// After is time.After on the fake clock.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer is time.NewTimer on the fake clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	return f.arm(&fakeTimer{clock: f, c: make(chan time.Time, 1)}, d, 0)
}

// AfterFunc is time.AfterFunc on the fake clock: fn runs in its own
// goroutine when Add moves past d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.arm(&fakeTimer{clock: f, fn: fn}, d, 0)
}

// NewTicker is time.NewTicker on the fake clock.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{f.arm(&fakeTimer{clock: f, c: make(chan time.Time, 1)}, d, d)}
}

func (f *Fake) arm(t *fakeTimer, d, period time.Duration) *fakeTimer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armLocked(t, d, period)
	if d <= 0 && period == 0 {
		// Already due, as a real timer of 0 would be.
		f.removeLocked(t)
		t.active = false
		t.fire(f.now)
	}
	return t
}

func (f *Fake) armLocked(t *fakeTimer, d, period time.Duration) {
	t.drain()
	t.when = f.now.Add(d)
	t.period = period
	if !t.active {
		t.active = true
		f.waiters = append(f.waiters, t)
	}
	f.armed++
	f.cond.Broadcast()
}

func (f *Fake) removeLocked(t *fakeTimer) bool {
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTimer struct {
	clock  *Fake
	c      chan time.Time
	fn     func()
	when   time.Time
	period time.Duration
	active bool
}

// fire delivers one expiry; the clock's lock is held.
func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.c <- now:
	default: // a tick nobody took yet: dropped, as time.Ticker does
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	was := t.active
	f.removeLocked(t)
	t.active = false
	t.drain()
	return was
}

// drain drops an expiry nobody took, as Stop and Reset do for time.Timer
// since Go 1.23: no stale tick is read after them.
func (t *fakeTimer) drain() {
	if t.c == nil {
		return
	}
	select {
	case <-t.c:
	default:
	}
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.clock
	f.mu.Lock()
	was := t.active
	f.armLocked(t, d, 0)
	f.mu.Unlock()
	if d <= 0 {
		f.mu.Lock()
		if f.removeLocked(t) {
			t.active = false
			t.fire(f.now)
		}
		f.mu.Unlock()
	}
	return was
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.c }
func (k fakeTicker) Stop()               { k.t.Stop() }
func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	f := k.t.clock
	f.mu.Lock()
	f.armLocked(k.t, d, d)
	f.mu.Unlock()
}
