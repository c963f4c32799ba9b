// Package clock is the time source every background loop takes: the time
// of day plus the tickers and timers that wake the loop. Production code
// uses Real; tests use a Fake and move it with Add, so a loop's next round
// happens when the test says, not when a sleep hopes it has.
//
// The design follows SPIRE's injectable clock: a Fake records every timer
// and ticker it hands out, and BlockUntil lets a test wait until a loop has
// armed its timer before moving time past it, so no test has to sleep.
package clock

import (
	"context"
	"log/slog"
	"time"
)

// Clock tells the time and makes the tickers and timers that wait for it.
// Both implementations are safe for concurrent use.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// NewTicker is time.NewTicker on this clock; d must be positive.
	NewTicker(d time.Duration) Ticker
	// NewTimer is time.NewTimer on this clock.
	NewTimer(d time.Duration) Timer
	// After is time.After on this clock.
	After(d time.Duration) <-chan time.Time
	// AfterFunc is time.AfterFunc on this clock: f runs in its own
	// goroutine once d has passed, unless the timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Ticker is the part of *time.Ticker loops use.
type Ticker interface {
	// C delivers the ticks; as with time.Ticker, ticks a slow reader
	// misses are dropped, never queued.
	C() <-chan time.Time
	// Stop turns the ticker off; no tick is sent after it returns.
	Stop()
	// Reset stops the ticker and restarts it with period d.
	Reset(d time.Duration)
}

// Timer is the part of *time.Timer loops use.
type Timer interface {
	// C delivers the one expiry; nil for a timer made by AfterFunc.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did so.
	Stop() bool
	// Reset re-arms the timer for d from now; it reports whether the
	// timer was active.
	Reset(d time.Duration) bool
}

// Real returns the system clock: package time itself.
func Real() Clock { return realClock{} }

// OrReal returns c, or Real when c is nil: the default every Config with
// a Clock field documents.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real()
	}
	return c
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }
func (realClock) NewTimer(d time.Duration) Timer         { return realTimer{time.NewTimer(d)} }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// WithNow returns a Clock that tells the time with now and waits with
// base's tickers and timers: for callers that move only the time of day
// (a test server whose clock is real time plus an offset, a demo that
// pretends it is later than it is). A nil now leaves base's.
func WithNow(base Clock, now func() time.Time) Clock {
	base = OrReal(base)
	if now == nil {
		return base
	}
	return withNow{Clock: base, now: now}
}

type withNow struct {
	Clock
	now func() time.Time
}

func (w withNow) Now() time.Time { return w.now() }

// Every calls fn at once and then again d of c's time after each call
// returns, until ctx ends; it returns when ctx is done. Waiting d after
// the round (rather than ticking at a fixed rate) means a slow round never
// piles work up, and gives tests one rule: each round arms exactly one
// timer, so with a Fake clock
//
//	fc.BlockUntil(ctx, 1)           // the loop is waiting
//	n := fc.Armed()
//	fc.Add(d)                       // its timer fires
//	fc.BlockUntilArmed(ctx, n+1)    // the round ran and the loop waits again
//
// runs exactly one more round, with no sleep. Every background loop of the
// server and the proxy is one call of Every (or EveryOrWake).
func Every(ctx context.Context, c Clock, d time.Duration, fn func(context.Context)) {
	EveryOrWake(ctx, c, d, nil, fn)
}

// EveryAfter is Every whose first round comes d after the call rather
// than at once, for loops whose caller has just done the work itself (a
// poller that fetched once to start, a key rotated at construction).
func EveryAfter(ctx context.Context, c Clock, d time.Duration, fn func(context.Context)) {
	first := true
	Every(ctx, c, d, func(ctx context.Context) {
		if first {
			first = false
			return
		}
		fn(ctx)
	})
}

// EveryTick is Every for a round that can fail, as the background work of
// ACM, ACM PCA and KMS: the error of a round is logged under msg (unless
// ctx ended, which is no failure) and the loop goes on. A nil log discards.
func EveryTick(ctx context.Context, c Clock, d time.Duration, log *slog.Logger, msg string, tick func(context.Context) error) {
	Every(ctx, c, d, func(ctx context.Context) {
		if err := tick(ctx); err != nil && ctx.Err() == nil && log != nil {
			log.Warn(msg, "err", err)
		}
	})
}

// EveryOrWake is Every that also starts a round whenever wake delivers,
// for a loop other code can hurry (the event bus wakes its delivery loop
// when an event is published). A nil wake never delivers.
func EveryOrWake(ctx context.Context, c Clock, d time.Duration, wake <-chan struct{}, fn func(context.Context)) {
	if d <= 0 {
		panic("clock: non-positive interval for Every")
	}
	c = OrReal(c)
	var t Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return
		}
		fn(ctx)
		if t == nil {
			t = c.NewTimer(d)
		} else {
			t.Stop()
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C():
		}
	}
}
