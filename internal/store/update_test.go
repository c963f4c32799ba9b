package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

func TestBackoffDelayBounds(t *testing.T) {
	b := store.Backoff{Base: 2 * time.Millisecond, Max: 20 * time.Millisecond}
	for n := 1; n <= 8; n++ {
		d := min(b.Base<<(n-1), b.Max)
		lo, hi := b, b
		lo.Jitter = func(int64) int64 { return 0 }
		hi.Jitter = func(k int64) int64 { return k - 1 }
		if got := lo.Delay(n); got != d/2 {
			t.Errorf("retry %d: smallest delay %v, want %v", n, got, d/2)
		}
		if got := hi.Delay(n); got != d {
			t.Errorf("retry %d: largest delay %v, want %v", n, got, d)
		}
	}
}

func TestRetryStopsOnOtherErrors(t *testing.T) {
	other := errors.New("boom")
	calls := 0
	err := store.Retry(context.Background(), func() error { calls++; return other })
	if !errors.Is(err, other) || calls != 1 {
		t.Fatalf("err %v after %d calls, want boom after 1", err, calls)
	}
	calls = 0
	err = store.Retry(context.Background(), func() error { calls++; return store.ErrConflict },
		store.WithBackoff(store.Backoff{Attempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }}))
	if !errors.Is(err, store.ErrConflict) || calls != 3 {
		t.Fatalf("err %v after %d calls, want a conflict after 3", err, calls)
	}
	calls = 0
	err = store.Retry(context.Background(), func() error {
		calls++
		if calls < 2 {
			return store.ErrExists
		}
		return nil
	}, store.AlsoRetryOn(store.ErrExists), store.WithBackoff(store.Backoff{Sleep: func(context.Context, time.Duration) error { return nil }}))
	if err != nil || calls != 2 {
		t.Fatalf("AlsoRetryOn: err %v after %d calls", err, calls)
	}
}

// TestUpdateContention runs many writers on one record on each engine:
// readers outside the transaction (optimistic, as ACM's update is) and
// readers inside it (store.Update). No increment may be lost, and the
// retries the optimistic writers make must wait different, jittered
// times rather than retrying in lockstep.
func TestUpdateContention(t *testing.T) {
	const writers, each = 10, 4
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			st := store.New(noClose{be.open(t)}, keyring(t, 1))
			ctx := context.Background()
			if err := st.Tx(ctx, func(tx store.Tx) error {
				return tx.Create(ctx, &store.Record{Kind: "test/counter", ID: "c", Data: []byte("0")})
			}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var delays []time.Duration
			backoff := store.Backoff{Attempts: 1000, Base: time.Millisecond, Max: 20 * time.Millisecond,
				Sleep: func(ctx context.Context, d time.Duration) error {
					mu.Lock()
					delays = append(delays, d)
					mu.Unlock()
					time.Sleep(d) // the backoff itself, not synchronisation
					return nil
				}}
			incr := func(r *store.Record) error {
				n, err := strconv.Atoi(string(r.Data))
				if err != nil {
					return err
				}
				r.Data = []byte(strconv.Itoa(n + 1))
				return nil
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2*writers*each)
			for w := 0; w < writers; w++ {
				wg.Add(2)
				go func() { // optimistic: read, then a versioned write
					defer wg.Done()
					for i := 0; i < each; i++ {
						errs <- store.Retry(ctx, func() error {
							r, err := st.Get(ctx, "test/counter", "c")
							if err != nil {
								return err
							}
							if err := incr(r); err != nil {
								return err
							}
							return st.Tx(ctx, func(tx store.Tx) error { return tx.Update(ctx, r) })
						}, store.WithBackoff(backoff))
					}
				}()
				go func() { // read-modify-write inside the transaction
					defer wg.Done()
					for i := 0; i < each; i++ {
						_, err := store.Update(ctx, st, "test/counter", "c", func(_ store.Tx, r *store.Record) error { return incr(r) }, store.WithBackoff(backoff))
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			r, err := st.Get(ctx, "test/counter", "c")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(r.Data), fmt.Sprint(2*writers*each); got != want {
				t.Fatalf("counter = %s, want %s: an update was lost", got, want)
			}
			if r.Version != 1+2*writers*each {
				t.Fatalf("version = %d, want %d", r.Version, 1+2*writers*each)
			}
			if len(delays) < 2 {
				t.Fatalf("only %d retries under contention; the test did not contend", len(delays))
			}
			distinct := map[time.Duration]bool{}
			for _, d := range delays {
				distinct[d] = true
			}
			if len(distinct) < len(delays)/2 {
				t.Fatalf("%d retries waited only %d distinct times: not jittered", len(delays), len(distinct))
			}
		})
	}
}

func TestUpdateMissingAndAbort(t *testing.T) {
	st := store.New(noClose{backends[0].open(t)}, keyring(t, 1))
	ctx := context.Background()
	if _, err := store.Update(ctx, st, "test/x", "none", func(store.Tx, *store.Record) error { t.Fatal("fn called"); return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	if err := st.Tx(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, &store.Record{Kind: "test/x", ID: "a", Data: []byte("1")})
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := store.Update(ctx, st, "test/x", "a", func(tx store.Tx, r *store.Record) error {
		r.Data = []byte("2")
		if err := tx.Create(ctx, &store.Record{Kind: "test/x", ID: "b", Data: []byte("1")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if r, _ := st.Get(ctx, "test/x", "a"); string(r.Data) != "1" {
		t.Fatalf("aborted update wrote %q", r.Data)
	}
	if _, err := st.Get(ctx, "test/x", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("aborted update kept a side write: %v", err)
	}
}
