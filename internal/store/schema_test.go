package store

import "testing"

// TestMigrationsNumbering keeps the invariants Migrate relies on: versions
// 1..n in order without gaps, and DDL for every dialect.
func TestMigrationsNumbering(t *testing.T) {
	t.Parallel()
	for i, m := range Migrations() {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d, want %d", i, m.Version, i+1)
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			if len(m.Statements(d)) == 0 {
				t.Errorf("migration %d has no statements for dialect %d", m.Version, d)
			}
		}
	}
	if SchemaVersion() != len(Migrations()) {
		t.Errorf("SchemaVersion() = %d, want %d", SchemaVersion(), len(Migrations()))
	}
}
