package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/sqlite"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

func keyring(t testing.TB, b byte) *seal.Keyring {
	t.Helper()
	master := make([]byte, seal.MasterKeySize)
	for i := range master {
		master[i] = b
	}
	k, err := seal.NewKeyring(master, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB, path string, k store.Keys, opts ...store.Option) store.Store {
	t.Helper()
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return store.New(b, k, opts...)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, filepath.Join(t.TempDir(), "bulwark.db"), keyring(t, 1))
	})
}

// TestIntegrity: rows altered by opening the database file directly are
// refused.
func TestIntegrity(t *testing.T) {
	storetest.RunIntegrity(t, func(t *testing.T) (store.Backend, storetest.Exec) {
		path := filepath.Join(t.TempDir(), "bulwark.db")
		b, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return b, func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := raw.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
}

func put(t testing.TB, s store.Store, r *store.Record) {
	t.Helper()
	if err := s.Tx(context.Background(), func(tx store.Tx) error { return tx.Put(context.Background(), r) }); err != nil {
		t.Fatal(err)
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	s := openStore(t, path, keyring(t, 1))
	want := &store.Record{Kind: "kms/key", ID: "k1", Data: []byte("d"), Secret: []byte("s")}
	put(t, s, want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Get(t.Context(), "kms/key", "k1"); err == nil {
		t.Error("Get after Close succeeded")
	}

	tests := []struct {
		name    string
		key     byte
		wantErr error
	}{
		{"same master key", 1, nil},
		// The tag is checked first and names a key this keyring lacks.
		{"other master key", 2, store.ErrIntegrity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, path, keyring(t, tc.key))
			defer s.Close()
			got, err := s.Get(t.Context(), "kms/key", "k1")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Get error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (string(got.Secret) != "s" || got.Version != 1) {
				t.Errorf("reopened record: %+v", got)
			}
		})
	}
}

// TestSealedBlobCannotMove copies a sealed secret to another record behind
// the store's back: the row's integrity tag covers the sealed bytes (and
// the sealing's additional data binds the blob to its kind and id).
func TestSealedBlobCannotMove(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	s := openStore(t, path, keyring(t, 1))
	defer s.Close()
	put(t, s, &store.Record{Kind: "secrets/secret", ID: "prod", Secret: []byte("prod password")})
	put(t, s, &store.Record{Kind: "secrets/secret", ID: "dev", Secret: []byte("dev password")})

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, err = raw.Exec(`UPDATE records SET secret = (SELECT secret FROM records WHERE id = 'prod') WHERE id = 'dev'`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(t.Context(), "secrets/secret", "dev")
	if !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("Get of record with a moved blob: error = %v, want store.ErrIntegrity", err)
	}
	if got, err := s.Get(t.Context(), "secrets/secret", "prod"); err != nil || string(got.Secret) != "prod password" {
		t.Errorf("original record: %v, %v", got, err)
	}
}

func TestWithClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	s := openStore(t, filepath.Join(t.TempDir(), "bulwark.db"), keyring(t, 1),
		store.WithClock(func() time.Time { return now }))
	defer s.Close()
	r := &store.Record{Kind: "k", ID: "a"}
	put(t, s, r)
	created := now
	now = now.Add(90 * time.Minute)
	put(t, s, r)
	got, err := s.Get(t.Context(), "k", "a")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(created) || !got.Updated.Equal(now) || got.Updated.Location() != time.UTC {
		t.Errorf("created %v updated %v, want %v and %v in UTC", got.Created, got.Updated, created, now)
	}
}

func TestFileModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "bulwark.db"), keyring(t, 1))
	defer s.Close()
	put(t, s, &store.Record{Kind: "k", ID: "a"})
	for _, name := range []string{"bulwark.db", "bulwark.db-wal", "bulwark.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode %04o, want 0600", name, perm)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		t.Run(path, func(t *testing.T) {
			if b, err := sqlite.Open(path); err == nil {
				b.Close()
				t.Fatalf("Open(%q) succeeded", path)
			}
		})
	}
	t.Run("path with URI characters", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "we?ird#name%20.db")
		s := openStore(t, path, keyring(t, 1))
		put(t, s, &store.Record{Kind: "k", ID: "a"})
		s.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("database not at the literal path: %v", err)
		}
	})
}

// TestReadsDoNotWaitForWriter holds a write transaction open and checks
// that reads outside it still complete (WAL mode, separate read pool) and
// see the last committed state.
func TestReadsDoNotWaitForWriter(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "bulwark.db"), keyring(t, 1))
	defer s.Close()
	put(t, s, &store.Record{Kind: "k", ID: "a", Data: []byte("committed")})

	inTx, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Tx(context.Background(), func(tx store.Tx) error {
			if err := tx.Put(context.Background(), &store.Record{Kind: "k", ID: "a", Data: []byte("uncommitted")}); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got, err := s.Get(ctx, "k", "a")
	if err != nil {
		t.Fatalf("Get during a write transaction: %v", err)
	}
	if string(got.Data) != "committed" {
		t.Errorf("Get during a write transaction saw %q", got.Data)
	}
	if _, err := s.List(ctx, "k", store.ListOptions{}); err != nil {
		t.Fatalf("List during a write transaction: %v", err)
	}
	// A second writer queues, and gives up when its context ends.
	short, cancelShort := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelShort()
	err = s.Tx(short, func(tx store.Tx) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued writer error = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(t.Context(), "k", "a"); string(got.Data) != "uncommitted" {
		t.Errorf("after commit Get = %q", got.Data)
	}
}
