package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

func TestPragmas(t *testing.T) {
	t.Parallel()
	b, err := Open(filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tests := []struct {
		pragma string
		db     *sql.DB
		want   string
	}{
		{"journal_mode", b.w, "wal"},
		{"synchronous", b.w, "2"}, // FULL
		{"foreign_keys", b.w, "1"},
		{"busy_timeout", b.w, "10000"},
		{"busy_timeout", b.r, "10000"},
		{"query_only", b.r, "1"},
		{"journal_mode", b.r, "wal"},
	}
	for _, tc := range tests {
		var got string
		if err := tc.db.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(got, tc.want) {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := b.r.Exec(`DELETE FROM records`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	versions := func() []int {
		b, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		rows, err := b.r.Query(`SELECT version FROM bulwark_schema ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			rows.Scan(&v)
			vs = append(vs, v)
		}
		return vs
	}
	first := versions()
	if len(first) != store.SchemaVersion() || first[len(first)-1] != store.SchemaVersion() {
		t.Fatalf("applied migrations %v, want 1..%d", first, store.SchemaVersion())
	}
	if again := versions(); len(again) != len(first) {
		t.Fatalf("reopening applied migrations again: %v", again)
	}

	// A database from a newer Bulwark is refused, not modified.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO bulwark_schema VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if b, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Open of a newer schema: %v, want a refusal", err)
	}
}

// TestDiskFullIsUnavailable: a write that runs out of space (here the
// database's page limit, as a full disk would) is store.ErrUnavailable,
// which the server answers with a retryable 503.
func TestDiskFullIsUnavailable(t *testing.T) {
	t.Parallel()
	b, err := Open(filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	var pages int
	if err := b.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := b.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	err = b.WriteTx(ctx, func(tx store.BackendTx) error {
		return tx.PutRow(ctx, &store.Row{Kind: "test/full", ID: "a", Data: make([]byte, 1<<20), Updated: time.Now()})
	})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("write to a full database: %v, want store.ErrUnavailable", err)
	}
}
