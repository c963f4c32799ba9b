package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/postgres"
	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func keyring(t testing.TB) *seal.Keyring {
	k, err := seal.NewKeyring(bytes.Repeat([]byte{7}, seal.MasterKeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func open(t testing.TB, dsn string) store.Store {
	t.Helper()
	b, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(b, keyring(t))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DSN(t)) })
}

// TestIntegrity: rows altered with SQL on the database are refused.
func TestIntegrity(t *testing.T) {
	storetest.RunIntegrity(t, func(t *testing.T) (store.Backend, storetest.Exec) {
		dsn := pgtest.DSN(t)
		b, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return b, func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := raw.Exec(storetest.Placeholders(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
}

// TestTwoBackendsOneDatabase: two "replicas" migrate the same database
// concurrently and then see each other's writes.
func TestTwoBackendsOneDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	stores := make(chan store.Store, 2)
	for i := 0; i < 2; i++ {
		go func() { stores <- open(t, dsn) }()
	}
	a, b := <-stores, <-stores
	if err := a.Tx(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, &store.Record{Kind: "k", ID: "x", Data: []byte("from a"), Secret: []byte("s3cret")})
	}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Get(ctx, "k", "x")
	if err != nil || string(r.Data) != "from a" || string(r.Secret) != "s3cret" {
		t.Fatalf("replica b reads %v %v", r, err)
	}
	// The secret is sealed in the table itself.
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	var raw []byte
	if err := db.QueryRow(`SELECT secret FROM records WHERE kind='k' AND id='x'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("s3cret")) {
		t.Error("secret stored in the clear")
	}
	var versions int
	if err := db.QueryRow(`SELECT count(*) FROM bulwark_schema`).Scan(&versions); err != nil || versions != store.SchemaVersion() {
		t.Errorf("schema applied %d times (want once per version): %v", versions, err)
	}
}
