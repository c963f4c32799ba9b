package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwarkd/bulwark/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call (the suite closes it); subtests run in parallel, each on its own
// store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateExists", testCreateExists},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"UpdateConflict", testUpdateConflict},
		{"Put", testPut},
		{"Delete", testDelete},
		{"Secrets", testSecrets},
		{"Invalid", testInvalid},
		{"ListOrder", testListOrder},
		{"ListSelect", testListSelect},
		{"ListPagination", testListPagination},
		{"TxReadsOwnWrites", testTxReadsOwnWrites},
		{"TxRollback", testTxRollback},
		{"TxPanicRollback", testTxPanicRollback},
		{"ConcurrentCounter", testConcurrentCounter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// write runs op on r in its own transaction.
func write(ctx context.Context, s store.Store, op func(store.Tx, context.Context, *store.Record) error, r *store.Record) error {
	return s.Tx(ctx, func(tx store.Tx) error { return op(tx, ctx, r) })
}

func create(ctx context.Context, s store.Store, r *store.Record) error {
	return write(ctx, s, store.Tx.Create, r)
}

func mustCreate(t *testing.T, s store.Store, kind, id, data string) *store.Record {
	t.Helper()
	r := &store.Record{Kind: kind, ID: id, Data: []byte(data)}
	if err := create(t.Context(), s, r); err != nil {
		t.Fatalf("Create %s/%s: %v", kind, id, err)
	}
	return r
}

func mustGet(t *testing.T, s store.Reader, kind, id string) *store.Record {
	t.Helper()
	r, err := s.Get(t.Context(), kind, id)
	if err != nil {
		t.Fatalf("Get %s/%s: %v", kind, id, err)
	}
	return r
}

// equal compares everything a round trip must preserve.
func equal(t *testing.T, got, want *store.Record) {
	t.Helper()
	if got.Kind != want.Kind || got.ID != want.ID || got.Version != want.Version ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Secret, want.Secret) ||
		(got.Secret == nil) != (want.Secret == nil) ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Errorf("record mismatch\n got: %s\nwant: %s", show(got), show(want))
	}
}

func show(r *store.Record) string {
	return fmt.Sprintf("%s/%s v%d data=%q secret=%q(nil=%v) created=%v updated=%v",
		r.Kind, r.ID, r.Version, r.Data, r.Secret, r.Secret == nil, r.Created, r.Updated)
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error = %v, want %v", what, err, want)
	}
}

func testCreateGet(t *testing.T, s store.Store) {
	r := &store.Record{Kind: "kms/key", ID: "k1", Data: []byte(`{"a":1}`), Secret: []byte("s3cret")}
	if err := create(t.Context(), s, r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || r.Created.IsZero() || !r.Created.Equal(r.Updated) {
		t.Errorf("after Create: version %d created %v updated %v; want 1 and equal non-zero times", r.Version, r.Created, r.Updated)
	}
	if r.Created.Location().String() != "UTC" {
		t.Errorf("Created location = %v, want UTC", r.Created.Location())
	}
	equal(t, mustGet(t, s, "kms/key", "k1"), r)
	// A nil Data reads back empty.
	empty := mustCreate(t, s, "kms/key", "k2", "")
	if got := mustGet(t, s, "kms/key", "k2"); len(got.Data) != 0 || got.Secret != nil || got.Version != empty.Version {
		t.Errorf("empty record read back as %s", show(got))
	}
}

func testCreateExists(t *testing.T, s store.Store) {
	orig := &store.Record{Kind: "iam/user", ID: "alice", Data: []byte("first"), Secret: []byte("one")}
	if err := create(t.Context(), s, orig); err != nil {
		t.Fatal(err)
	}
	dup := &store.Record{Kind: "iam/user", ID: "alice", Data: []byte("second")}
	wantErr(t, "Create duplicate", create(t.Context(), s, dup), store.ErrExists)
	if dup.Version != 0 {
		t.Errorf("failed Create set Version to %d", dup.Version)
	}
	equal(t, mustGet(t, s, "iam/user", "alice"), orig)
	// The same ID under another kind is a different record.
	mustCreate(t, s, "iam/role", "alice", "role")
}

func testNotFound(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "x", "")
	ctx := t.Context()
	_, err := s.Get(ctx, "a", "y")
	wantErr(t, "Get missing id", err, store.ErrNotFound)
	_, err = s.Get(ctx, "b", "x")
	wantErr(t, "Get same id in other kind", err, store.ErrNotFound)
	wantErr(t, "Update missing", write(ctx, s, store.Tx.Update, &store.Record{Kind: "a", ID: "y", Version: 1}), store.ErrNotFound)
	wantErr(t, "Delete missing", s.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "a", "y") }), store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.Get(ctx, "b", "x")
		return err
	})
	wantErr(t, "Tx Get missing", err, store.ErrNotFound)
}

func testUpdate(t *testing.T, s store.Store) {
	r := &store.Record{Kind: "k", ID: "id", Data: []byte("v1"), Secret: []byte("sec1")}
	if err := create(t.Context(), s, r); err != nil {
		t.Fatal(err)
	}
	created := r.Created
	for v := int64(2); v <= 4; v++ {
		r.Data = fmt.Appendf(nil, "v%d", v)
		r.Secret = fmt.Appendf(nil, "sec%d", v)
		if err := write(t.Context(), s, store.Tx.Update, r); err != nil {
			t.Fatalf("Update to v%d: %v", v, err)
		}
		if r.Version != v || !r.Created.Equal(created) || r.Updated.Before(created) {
			t.Fatalf("after Update: %s; want version %d, created kept", show(r), v)
		}
		equal(t, mustGet(t, s, "k", "id"), r)
	}
	// Removing the secret.
	r.Secret = nil
	if err := write(t.Context(), s, store.Tx.Update, r); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "k", "id"); got.Secret != nil {
		t.Errorf("secret after update with nil = %q, want nil", got.Secret)
	}
}

func testUpdateConflict(t *testing.T, s store.Store) {
	mustCreate(t, s, "k", "id", "v1")
	a, b := mustGet(t, s, "k", "id"), mustGet(t, s, "k", "id")
	a.Data = []byte("from a")
	if err := write(t.Context(), s, store.Tx.Update, a); err != nil {
		t.Fatal(err)
	}
	b.Data = []byte("from b")
	wantErr(t, "Update with stale version", write(t.Context(), s, store.Tx.Update, b), store.ErrConflict)
	if b.Version != 1 {
		t.Errorf("failed Update changed Version to %d", b.Version)
	}
	future := *a
	future.Version = 99
	wantErr(t, "Update with future version", write(t.Context(), s, store.Tx.Update, &future), store.ErrConflict)
	equal(t, mustGet(t, s, "k", "id"), a)
}

func testPut(t *testing.T, s store.Store) {
	r := &store.Record{Kind: "k", ID: "id", Data: []byte("one"), Version: 42}
	if err := write(t.Context(), s, store.Tx.Put, r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 {
		t.Errorf("Put of a new record: version %d, want 1", r.Version)
	}
	created := r.Created
	equal(t, mustGet(t, s, "k", "id"), r)
	r2 := &store.Record{Kind: "k", ID: "id", Data: []byte("two"), Secret: []byte("s"), Version: 7}
	if err := write(t.Context(), s, store.Tx.Put, r2); err != nil {
		t.Fatal(err)
	}
	if r2.Version != 2 || !r2.Created.Equal(created) {
		t.Errorf("Put over existing: %s; want version 2, created %v", show(r2), created)
	}
	equal(t, mustGet(t, s, "k", "id"), r2)
}

func testDelete(t *testing.T, s store.Store) {
	mustCreate(t, s, "k", "a", "")
	mustCreate(t, s, "k", "b", "")
	mustCreate(t, s, "other", "a", "")
	ctx := t.Context()
	if err := s.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "k", "a") }); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, "k", "a")
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	mustGet(t, s, "k", "b")
	mustGet(t, s, "other", "a")
	wantErr(t, "Delete twice", s.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "k", "a") }), store.ErrNotFound)
	// A deleted record can be created again, starting over at version 1.
	if r := mustCreate(t, s, "k", "a", "again"); r.Version != 1 {
		t.Errorf("re-created record version %d, want 1", r.Version)
	}
}

func testSecrets(t *testing.T, s store.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name   string
		secret []byte
	}{
		{"nil is no secret", nil},
		{"empty is kept", []byte{}},
		{"text", []byte("-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n")},
		{"every byte value", all},
		{"64 KiB", bytes.Repeat([]byte("0123456789abcdef"), 4096)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &store.Record{Kind: "secrets/secret", ID: tc.name, Data: []byte("{}"), Secret: tc.secret}
			if err := create(t.Context(), s, r); err != nil {
				t.Fatal(err)
			}
			equal(t, mustGet(t, s, r.Kind, r.ID), r)
			list, err := s.List(t.Context(), r.Kind, store.ListOptions{Prefix: tc.name})
			if err != nil || len(list) != 1 {
				t.Fatalf("List = %d records, %v", len(list), err)
			}
			equal(t, list[0], r)
		})
	}
}

func testInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name     string
		kind, id string
	}{
		{"empty kind", "", "id"},
		{"empty id", "k", ""},
		{"NUL in kind", "k\x00x", "id"},
		{"NUL in id", "k", "i\x00d"},
		{"invalid UTF-8 id", "k", "\xff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "Create", create(ctx, s, &store.Record{Kind: tc.kind, ID: tc.id}), store.ErrInvalid)
			wantErr(t, "Put", write(ctx, s, store.Tx.Put, &store.Record{Kind: tc.kind, ID: tc.id}), store.ErrInvalid)
			_, err := s.Get(ctx, tc.kind, tc.id)
			wantErr(t, "Get", err, store.ErrInvalid)
		})
	}
	_, err := s.List(ctx, "k", store.ListOptions{Limit: -1})
	wantErr(t, "List negative limit", err, store.ErrInvalid)
	_, err = s.List(ctx, "", store.ListOptions{})
	wantErr(t, "List empty kind", err, store.ErrInvalid)
}

func ids(recs []*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// listIDs are inserted out of order; sorted bytewise they are sortedIDs.
// Upper case sorts before lower case, "/" before digits, multi-byte UTF-8
// last, and "%" and "_" test that prefixes are not LIKE patterns.
var (
	listIDs   = []string{"b", "a/2", "ab", "a", "B", "a/1", "é", "a%", "a_", "a0", "c"}
	sortedIDs = []string{"B", "a", "a%", "a/1", "a/2", "a0", "a_", "ab", "b", "c", "é"}
)

func fillList(t *testing.T, s store.Store) {
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for _, id := range listIDs {
			if err := tx.Create(t.Context(), &store.Record{Kind: "list", ID: id, Data: []byte("d-" + id)}); err != nil {
				return err
			}
		}
		// Neighbouring kinds must not leak into the listing.
		for _, k := range []string{"lis", "list/x", "lists"} {
			if err := tx.Create(t.Context(), &store.Record{Kind: k, ID: "a"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListOrder(t *testing.T, s store.Store) {
	fillList(t, s)
	got, err := s.List(t.Context(), "list", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), sortedIDs) {
		t.Errorf("List order = %q, want %q", ids(got), sortedIDs)
	}
	for _, r := range got {
		if string(r.Data) != "d-"+r.ID || r.Version != 1 {
			t.Errorf("listed record %s", show(r))
		}
	}
	none, err := s.List(t.Context(), "no-such-kind", store.ListOptions{})
	if err != nil || len(none) != 0 {
		t.Errorf("List of empty kind = %q, %v; want empty, nil", ids(none), err)
	}
}

func testListSelect(t *testing.T, s store.Store) {
	fillList(t, s)
	tests := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"prefix", store.ListOptions{Prefix: "a/"}, []string{"a/1", "a/2"}},
		{"prefix is whole id too", store.ListOptions{Prefix: "a"}, []string{"a", "a%", "a/1", "a/2", "a0", "a_", "ab"}},
		{"percent is literal", store.ListOptions{Prefix: "a%"}, []string{"a%"}},
		{"underscore is literal", store.ListOptions{Prefix: "a_"}, []string{"a_"}},
		{"prefix is case sensitive", store.ListOptions{Prefix: "A"}, []string{}},
		{"no match", store.ListOptions{Prefix: "zz"}, []string{}},
		{"multi-byte prefix", store.ListOptions{Prefix: "é"}, []string{"é"}},
		{"after is exclusive", store.ListOptions{After: "a0"}, []string{"a_", "ab", "b", "c", "é"}},
		{"after an absent id", store.ListOptions{After: "a1"}, []string{"a_", "ab", "b", "c", "é"}},
		{"after before prefix", store.ListOptions{Prefix: "a/", After: "A"}, []string{"a/1", "a/2"}},
		{"after inside prefix", store.ListOptions{Prefix: "a/", After: "a/1"}, []string{"a/2"}},
		{"after past prefix", store.ListOptions{Prefix: "a/", After: "b"}, []string{}},
		{"limit", store.ListOptions{Limit: 3}, []string{"B", "a", "a%"}},
		{"limit with prefix", store.ListOptions{Prefix: "a", Limit: 2}, []string{"a", "a%"}},
		{"limit above count", store.ListOptions{Prefix: "a/", Limit: 10}, []string{"a/1", "a/2"}},
		{"all three", store.ListOptions{Prefix: "a", After: "a%", Limit: 2}, []string{"a/1", "a/2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(t.Context(), "list", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("List(%+v) = %q, want %q", tc.opts, ids(got), tc.want)
			}
			// The same inside a transaction.
			err = s.Tx(t.Context(), func(tx store.Tx) error {
				got, err := tx.List(t.Context(), "list", tc.opts)
				if err == nil && !slices.Equal(ids(got), tc.want) {
					t.Errorf("Tx List(%+v) = %q, want %q", tc.opts, ids(got), tc.want)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testListPagination(t *testing.T, s store.Store) {
	fillList(t, s)
	for _, size := range []int{1, 2, 3, len(sortedIDs), len(sortedIDs) + 1} {
		t.Run(fmt.Sprint("page size ", size), func(t *testing.T) {
			var all []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > len(sortedIDs)+1 {
					t.Fatal("pagination does not terminate")
				}
				page, err := s.List(t.Context(), "list", store.ListOptions{After: after, Limit: size})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("page of %d records, limit %d", len(page), size)
				}
				all = append(all, ids(page)...)
				if len(page) < size {
					break
				}
				after = page[len(page)-1].ID
			}
			if !slices.Equal(all, sortedIDs) {
				t.Errorf("paged through %q, want %q", all, sortedIDs)
			}
		})
	}
}

func testTxReadsOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx store.Tx) error {
		r := &store.Record{Kind: "k", ID: "a", Data: []byte("x"), Secret: []byte("y")}
		if err := tx.Create(ctx, r); err != nil {
			return err
		}
		got, err := tx.Get(ctx, "k", "a")
		if err != nil {
			return fmt.Errorf("get own write: %w", err)
		}
		equal(t, got, r)
		r.Data = []byte("x2")
		if err := tx.Update(ctx, r); err != nil {
			return err
		}
		if err := tx.Create(ctx, &store.Record{Kind: "k", ID: "b"}); err != nil {
			return err
		}
		if err := tx.Delete(ctx, "k", "b"); err != nil {
			return err
		}
		list, err := tx.List(ctx, "k", store.ListOptions{})
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].Version != 2 || string(list[0].Data) != "x2" {
			t.Errorf("Tx List after own writes = %q", ids(list))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "k", "a"); got.Version != 2 || string(got.Secret) != "y" {
		t.Errorf("after commit: %s", show(got))
	}
}

// snapshot returns every record of the kinds the rollback tests touch.
func snapshot(t *testing.T, s store.Store) []*store.Record {
	t.Helper()
	var out []*store.Record
	for _, k := range []string{"k", "k2"} {
		l, err := s.List(t.Context(), k, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l...)
	}
	return out
}

// writeEverything performs every kind of write inside tx.
func writeEverything(ctx context.Context, tx store.Tx) error {
	if err := tx.Create(ctx, &store.Record{Kind: "k", ID: "new", Secret: []byte("s")}); err != nil {
		return err
	}
	if err := tx.Put(ctx, &store.Record{Kind: "k2", ID: "new"}); err != nil {
		return err
	}
	upd, err := tx.Get(ctx, "k", "upd")
	if err != nil {
		return err
	}
	upd.Data = []byte("changed")
	if err := tx.Update(ctx, upd); err != nil {
		return err
	}
	if err := tx.Put(ctx, &store.Record{Kind: "k", ID: "put", Data: []byte("changed")}); err != nil {
		return err
	}
	return tx.Delete(ctx, "k", "del")
}

func seedRollback(t *testing.T, s store.Store) []*store.Record {
	for _, id := range []string{"upd", "put", "del"} {
		mustCreate(t, s, "k", id, "orig")
	}
	return snapshot(t, s)
}

func sameRecords(t *testing.T, got, want []*store.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("after rollback %d records %q, want %d %q", len(got), ids(got), len(want), ids(want))
	}
	for i := range got {
		equal(t, got[i], want[i])
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	before := seedRollback(t, s)
	boom := errors.New("boom")
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		if err := writeEverything(t.Context(), tx); err != nil {
			t.Errorf("writes inside the transaction failed: %v", err)
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx error = %v, want fn's error", err)
	}
	sameRecords(t, snapshot(t, s), before)
	// A store error returned by fn (the usual case) rolls back too.
	err = s.Tx(t.Context(), func(tx store.Tx) error {
		if err := tx.Create(t.Context(), &store.Record{Kind: "k", ID: "new2"}); err != nil {
			return err
		}
		return tx.Create(t.Context(), &store.Record{Kind: "k", ID: "upd"})
	})
	wantErr(t, "Tx with duplicate create", err, store.ErrExists)
	sameRecords(t, snapshot(t, s), before)
	// The store still works after rollbacks.
	mustCreate(t, s, "k", "after", "")
}

func testTxPanicRollback(t *testing.T, s store.Store) {
	before := seedRollback(t, s)
	func() {
		defer func() {
			if recover() != "boom" {
				t.Error("panic in fn was not propagated")
			}
		}()
		s.Tx(t.Context(), func(tx store.Tx) error {
			if err := writeEverything(t.Context(), tx); err != nil {
				t.Errorf("writes inside the transaction failed: %v", err)
			}
			panic("boom")
		})
	}()
	sameRecords(t, snapshot(t, s), before)
	mustCreate(t, s, "k", "after", "")
}

// testConcurrentCounter increments one record from 16 goroutines, reading
// outside the transaction and updating inside it so that lost updates are
// possible unless Update's version check works, and retrying on
// ErrConflict. Half the goroutines read inside the transaction instead.
func testConcurrentCounter(t *testing.T, s store.Store) {
	const workers, perWorker = 16, 25
	mustCreate(t, s, "counter", "c", "0")
	ctx := t.Context()
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for range perWorker {
				for attempt := 0; ; attempt++ {
					if attempt > 1000 {
						t.Error("gave up after 1000 conflicts")
						return
					}
					var err error
					if w%2 == 0 {
						err = incrementOutside(ctx, s)
					} else {
						err = s.Tx(ctx, func(tx store.Tx) error { return increment(ctx, tx) })
					}
					if errors.Is(err, store.ErrConflict) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d conflicts retried", conflicts.Load())
	got := mustGet(t, s, "counter", "c")
	if want := fmt.Sprint(workers * perWorker); string(got.Data) != want {
		t.Errorf("counter = %s, want %s", got.Data, want)
	}
	if got.Version != workers*perWorker+1 {
		t.Errorf("counter version = %d, want %d", got.Version, workers*perWorker+1)
	}
}

// incrementOutside reads the counter before the transaction starts, so
// another writer can commit in between: only the version check on Update
// stops a lost update.
func incrementOutside(ctx context.Context, s store.Store) error {
	c, err := s.Get(ctx, "counter", "c")
	if err != nil {
		return err
	}
	if err := bump(c); err != nil {
		return err
	}
	return s.Tx(ctx, func(tx store.Tx) error { return tx.Update(ctx, c) })
}

// increment reads and writes the counter inside tx.
func increment(ctx context.Context, tx store.Tx) error {
	c, err := tx.Get(ctx, "counter", "c")
	if err != nil {
		return err
	}
	if err := bump(c); err != nil {
		return err
	}
	return tx.Update(ctx, c)
}

func bump(c *store.Record) error {
	var n int
	if _, err := fmt.Sscan(string(c.Data), &n); err != nil {
		return err
	}
	c.Data = fmt.Append(nil, n+1)
	return nil
}
