package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// This file is the one place the storage schema is defined. Every backend
// creates exactly these tables, so a database can be understood (and moved
// between engines) from here alone:
//
//	records
//	  kind        TEXT    NOT NULL   Record.Kind
//	  id          TEXT    NOT NULL   Record.ID; compared bytewise (SQLite's
//	                                 default BINARY collation, COLLATE "C"
//	                                 in PostgreSQL) so List order is the same
//	                                 on every engine
//	  version     BIGINT  NOT NULL   Record.Version, 1 on create
//	  data        BLOB/BYTEA NOT NULL  Record.Data (empty when nil)
//	  secret      BLOB/BYTEA NULL    Record.Secret sealed by package seal;
//	                                 NULL means no secret. Never plaintext.
//	  created_at  BIGINT  NOT NULL   Unix nanoseconds, UTC (an integer rather
//	  updated_at  BIGINT  NOT NULL   than a timestamp type: exact on both
//	                                 engines, no time-zone conversions)
//	  mac         BLOB/BYTEA NULL    integrity tag (seal.TagSize bytes) over
//	                                 kind, id, version, created_at,
//	                                 updated_at, data and secret, under a
//	                                 key derived from the master key
//	                                 (migration 2; see recordTagMessage).
//	                                 NULL only in rows written before it,
//	                                 which are refused until `bulwark admin
//	                                 reseal --authenticate-legacy` tags them
//	  PRIMARY KEY (kind, id)
//
//	bulwark_schema                    one row per applied migration
//	  version     BIGINT PRIMARY KEY  Migration.Version
//	  applied_at  BIGINT NOT NULL     Unix nanoseconds, UTC

// Dialect names a SQL engine for which Migrations carries DDL.
type Dialect int

// Dialects with DDL in Migrations.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// Migration is one numbered step of the schema.
type Migration struct {
	// Version numbers migrations from 1, without gaps, in the order applied.
	Version int
	// Description says what the step does, for logs.
	Description string
	// SQLite and Postgres are the step's statements in each dialect.
	SQLite, Postgres []string
}

// Statements returns m's statements for dialect d.
func (m Migration) Statements(d Dialect) []string {
	if d == Postgres {
		return m.Postgres
	}
	return m.SQLite
}

// versionTableDDL is valid in both dialects.
const versionTableDDL = `CREATE TABLE IF NOT EXISTS bulwark_schema (
	version    BIGINT PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`

// Migrations returns every schema step in order. A new step is appended with
// the next Version; released steps are never edited.
func Migrations() []Migration {
	return []Migration{{
		Version:     1,
		Description: "create records",
		SQLite: []string{`CREATE TABLE records (
	kind       TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	version    BIGINT  NOT NULL,
	data       BLOB    NOT NULL,
	secret     BLOB,
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL,
	PRIMARY KEY (kind, id)
)`},
		Postgres: []string{`CREATE TABLE records (
	kind       TEXT COLLATE "C" NOT NULL,
	id         TEXT COLLATE "C" NOT NULL,
	version    BIGINT NOT NULL,
	data       BYTEA  NOT NULL,
	secret     BYTEA,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (kind, id)
)`},
	}, {
		Version:     2,
		Description: "add records.mac (record integrity tags)",
		SQLite:      []string{`ALTER TABLE records ADD COLUMN mac BLOB`},
		Postgres:    []string{`ALTER TABLE records ADD COLUMN mac BYTEA`},
	}}
}

// SchemaVersion returns the version the schema has after all Migrations.
func SchemaVersion() int {
	m := Migrations()
	return m[len(m)-1].Version
}

// Migrate brings the schema in tx up to [SchemaVersion], applying the
// missing Migrations in order and recording each in bulwark_schema. The
// caller provides a transaction that holds the write lock (SQLite BEGIN
// IMMEDIATE; in PostgreSQL take an advisory lock first) so that two servers
// starting together do not both migrate. A database written by a newer
// Bulwark (a version above SchemaVersion) is refused rather than touched.
// It returns the version the database was at before.
func Migrate(ctx context.Context, tx *sql.Tx, d Dialect, now time.Time) (from int, err error) {
	if _, err := tx.ExecContext(ctx, versionTableDDL); err != nil {
		return 0, fmt.Errorf("store: create schema table: %w", err)
	}
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM bulwark_schema`).Scan(&cur); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	from = int(cur.Int64)
	if from > SchemaVersion() {
		return from, fmt.Errorf("store: database schema version %d is newer than this binary's %d; upgrade Bulwark", from, SchemaVersion())
	}
	for _, m := range Migrations() {
		if m.Version <= from {
			continue
		}
		for _, stmt := range m.Statements(d) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return from, fmt.Errorf("store: migration %d (%s): %w", m.Version, m.Description, err)
			}
		}
		// Literal integers rather than placeholders: the placeholder syntax
		// differs between dialects and these values are ours.
		q := fmt.Sprintf(`INSERT INTO bulwark_schema (version, applied_at) VALUES (%d, %d)`, m.Version, now.UnixNano())
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return from, fmt.Errorf("store: record migration %d: %w", m.Version, err)
		}
	}
	return from, nil
}
