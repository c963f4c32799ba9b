package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff shapes the retries of [Retry] and [Update]: attempt n (1-based)
// that fails with a retryable error waits a random time in
// [d/2, d] where d = min(Max, Base·2^(n-1)) ("equal jitter"), so writers
// that collided once do not collide again in lockstep, as fixed or
// immediate retries do across replicas sharing one PostgreSQL database.
// The zero value means the defaults.
type Backoff struct {
	// Attempts is the total number of tries; zero means 8.
	Attempts int
	// Base is the first delay's upper bound; zero means 2ms.
	Base time.Duration
	// Max caps every delay; zero means 250ms.
	Max time.Duration
	// Jitter returns a random int64 in [0, n); nil means math/rand/v2.
	Jitter func(n int64) int64
	// Sleep waits d or until ctx ends; nil means a timer. Tests record
	// the delays through it.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = 8
	}
	if b.Base <= 0 {
		b.Base = 2 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 250 * time.Millisecond
	}
	if b.Jitter == nil {
		b.Jitter = rand.Int64N
	}
	if b.Sleep == nil {
		b.Sleep = sleep
	}
	return b
}

// Delay returns the wait before retry n (1-based) under b.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + time.Duration(b.Jitter(int64(d-half)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryOption adjusts [Retry] and [Update].
type RetryOption func(*retryConfig)

type retryConfig struct {
	backoff Backoff
	also    []error
}

// WithBackoff replaces the default [Backoff].
func WithBackoff(b Backoff) RetryOption { return func(c *retryConfig) { c.backoff = b } }

// AlsoRetryOn makes errors wrapping err retryable too, for example
// [ErrExists] where two writers race to create the same record and the
// loser should re-read and find it.
func AlsoRetryOn(err error) RetryOption {
	return func(c *retryConfig) { c.also = append(c.also, err) }
}

// Retry calls fn until it returns nil, an error that is not retryable
// ([ErrConflict], plus those named by [AlsoRetryOn]), the attempts run
// out, or ctx ends, waiting a jittered, exponentially growing time
// between tries. It returns fn's last error. fn must be safe to run more
// than once: each try re-reads what it depends on.
func Retry(ctx context.Context, fn func() error, opts ...RetryOption) error {
	var c retryConfig
	for _, o := range opts {
		o(&c)
	}
	b := c.backoff.withDefaults()
	for n := 1; ; n++ {
		err := fn()
		if err == nil || n >= b.Attempts || !c.retryable(err) {
			return err
		}
		if serr := b.Sleep(ctx, b.Delay(n)); serr != nil {
			return err
		}
	}
}

func (c *retryConfig) retryable(err error) bool {
	if errors.Is(err, ErrConflict) {
		return true
	}
	for _, e := range c.also {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Update is a read-modify-write of one record: inside one transaction of
// s it reads (kind, id), calls fn with the record, and writes back what fn
// left in r.Data and r.Secret with the version check, retrying the whole
// transaction as [Retry] does. fn may read and write other records
// through tx (they commit or roll back with the update); an error from fn
// aborts without writing and is returned as is. fn may run more than once.
// A missing record is an error wrapping [ErrNotFound] (fn is not called).
// It returns the record as written, with its new Version.
func Update(ctx context.Context, s Store, kind, id string, fn func(tx Tx, r *Record) error, opts ...RetryOption) (*Record, error) {
	var out *Record
	err := Retry(ctx, func() error {
		return s.Tx(ctx, func(tx Tx) error {
			r, err := tx.Get(ctx, kind, id)
			if err != nil {
				return err
			}
			if err := fn(tx, r); err != nil {
				return err
			}
			r.Kind, r.ID = kind, id
			if err := tx.Update(ctx, r); err != nil {
				return err
			}
			out = r
			return nil
		})
	}, opts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}
