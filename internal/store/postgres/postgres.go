package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/bulwarkd/bulwark/internal/store"
)

// writeLockKey is the advisory lock every write transaction holds; the
// migration lock is a different key so a migrating replica does not block
// on itself.
const (
	writeLockKey     = 0x62756c77 // "bulw"
	migrationLockKey = 0x62756c6d // "bulm"
)

const cols = `kind, id, version, data, secret, created_at, updated_at, mac`

const (
	sqlGet    = `SELECT ` + cols + ` FROM records WHERE kind = $1 AND id = $2`
	sqlList   = `SELECT ` + cols + ` FROM records WHERE kind = $1 AND id >= $2 AND id > $3 ORDER BY id LIMIT $4`
	sqlExists = `SELECT 1 FROM records WHERE kind = $1 AND id = $2`
	sqlCreate = `INSERT INTO records (` + cols + `) VALUES ($1, $2, 1, $3, $4, $5, $6, $7)
		ON CONFLICT (kind, id) DO NOTHING RETURNING version, created_at`
	sqlUpdate = `UPDATE records SET version = version + 1, data = $1, secret = $2, updated_at = $3, mac = $4
		WHERE kind = $5 AND id = $6 AND version = $7 RETURNING version, created_at`
	sqlPut = `INSERT INTO records (` + cols + `) VALUES ($1, $2, 1, $3, $4, $5, $6, $7)
		ON CONFLICT (kind, id) DO UPDATE SET version = records.version + 1,
			data = excluded.data, secret = excluded.secret, updated_at = excluded.updated_at, mac = excluded.mac
		RETURNING version, created_at`
	sqlDelete = `DELETE FROM records WHERE kind = $1 AND id = $2`
)

// Backend is the PostgreSQL store.Backend. It is safe for concurrent use.
type Backend struct {
	db        *sql.DB
	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Backend                = (*Backend)(nil)
	_ store.KindLister             = (*Backend)(nil)
	_ store.UnauthenticatedCounter = (*Backend)(nil)
)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string) and applies missing migrations, one replica at a time.
func Open(ctx context.Context, dsn string) (*Backend, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	b := &Backend{db: db}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := b.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// migrate applies the schema under an advisory lock, so replicas starting
// together migrate once.
func (b *Backend) migrate(ctx context.Context) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	if _, err := store.Migrate(ctx, tx, store.Postgres, time.Now()); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Close closes the connection pool. It is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.db.Close() })
	return b.closeErr
}

// GetRow implements store.BackendReader.
func (b *Backend) GetRow(ctx context.Context, kind, id string) (*store.Row, error) {
	return getRow(ctx, b.db, kind, id)
}

// ListRows implements store.BackendReader.
func (b *Backend) ListRows(ctx context.Context, kind string, opts store.ListOptions) ([]*store.Row, error) {
	return listRows(ctx, b.db, kind, opts)
}

// Kinds implements store.KindLister.
func (b *Backend) Kinds(ctx context.Context) ([]string, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT DISTINCT kind FROM records ORDER BY kind`)
	if err != nil {
		return nil, unavailable("list kinds", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, unavailable("list kinds", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list kinds", err)
	}
	return out, nil
}

// WriteTx implements store.Backend: one transaction holding the cluster-wide
// write lock.
func (b *Backend) WriteTx(ctx context.Context, fn func(tx store.BackendTx) error) error {
	sqlTx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	done := false
	defer func() {
		if !done {
			_ = sqlTx.Rollback()
		}
	}()
	if _, err := sqlTx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
		return unavailable("write lock", err)
	}
	if err := fn(&tx{tx: sqlTx}); err != nil {
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// unavailable wraps failures to reach the database in store.ErrUnavailable,
// so the server answers with a retryable 5xx while PostgreSQL is down or
// failing over.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: postgres %s: %v", store.ErrUnavailable, what, err)
}

// querier is what reads need: the pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type tx struct{ tx *sql.Tx }

func (t *tx) GetRow(ctx context.Context, kind, id string) (*store.Row, error) {
	return getRow(ctx, t.tx, kind, id)
}

func (t *tx) ListRows(ctx context.Context, kind string, opts store.ListOptions) ([]*store.Row, error) {
	return listRows(ctx, t.tx, kind, opts)
}

func (t *tx) CreateRow(ctx context.Context, r *store.Row) error {
	err := t.writeReturning(ctx, sqlCreate, r, r.Kind, r.ID, nonNil(r.Data), r.Sealed, r.Updated.UnixNano(), r.Updated.UnixNano(), r.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s %q", store.ErrExists, r.Kind, r.ID)
	}
	return err
}

func (t *tx) UpdateRow(ctx context.Context, r *store.Row) error {
	err := t.writeReturning(ctx, sqlUpdate, r, nonNil(r.Data), r.Sealed, r.Updated.UnixNano(), r.MAC, r.Kind, r.ID, r.Version)
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var one int
	switch err := t.tx.QueryRowContext(ctx, sqlExists, r.Kind, r.ID).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %s %q", store.ErrNotFound, r.Kind, r.ID)
	case err != nil:
		return unavailable("update", err)
	}
	return fmt.Errorf("%w: %s %q is not at version %d", store.ErrConflict, r.Kind, r.ID, r.Version)
}

func (t *tx) PutRow(ctx context.Context, r *store.Row) error {
	return t.writeReturning(ctx, sqlPut, r, r.Kind, r.ID, nonNil(r.Data), r.Sealed, r.Updated.UnixNano(), r.Updated.UnixNano(), r.MAC)
}

func (t *tx) writeReturning(ctx context.Context, q string, r *store.Row, args ...any) error {
	var created int64
	err := t.tx.QueryRowContext(ctx, q, args...).Scan(&r.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err != nil {
		return unavailable("write", err)
	}
	r.Created = time.Unix(0, created).UTC()
	return nil
}

func (t *tx) DeleteRow(ctx context.Context, kind, id string) error {
	res, err := t.tx.ExecContext(ctx, sqlDelete, kind, id)
	if err != nil {
		return unavailable("delete", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s %q", store.ErrNotFound, kind, id)
	}
	return nil
}

func getRow(ctx context.Context, q querier, kind, id string) (*store.Row, error) {
	r, err := scanRow(q.QueryRowContext(ctx, sqlGet, kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s %q", store.ErrNotFound, kind, id)
	}
	if err != nil {
		return nil, unavailable("get", err)
	}
	return r, nil
}

func listRows(ctx context.Context, q querier, kind string, opts store.ListOptions) ([]*store.Row, error) {
	var limit any // NULL: no limit
	if opts.Limit > 0 {
		limit = opts.Limit
	}
	rows, err := q.QueryContext(ctx, sqlList, kind, opts.Prefix, opts.After, limit)
	if err != nil {
		return nil, unavailable("list", err)
	}
	defer rows.Close()
	out := []*store.Row{}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, unavailable("list", err)
		}
		// IDs with the prefix sort together from the prefix itself (COLLATE
		// "C" is byte order), so the first ID without it ends the range.
		if !strings.HasPrefix(r.ID, opts.Prefix) {
			break
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner) (*store.Row, error) {
	var r store.Row
	var created, updated int64
	if err := s.Scan(&r.Kind, &r.ID, &r.Version, &r.Data, &r.Sealed, &created, &updated, &r.MAC); err != nil {
		return nil, err
	}
	r.Created, r.Updated = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return &r, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CountUnauthenticated implements [store.UnauthenticatedCounter].
func (b *Backend) CountUnauthenticated(ctx context.Context) (int64, error) {
	var n int64
	if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE mac IS NULL`).Scan(&n); err != nil {
		return 0, unavailable("count unauthenticated rows", err)
	}
	return n, nil
}
