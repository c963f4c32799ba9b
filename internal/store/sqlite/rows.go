package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// tx is a [store.BackendTx] over one SQL transaction on the write connection.
type tx struct {
	b  *Backend
	tx *sql.Tx
}

func (t *tx) stmt(ctx context.Context, s *sql.Stmt) *sql.Stmt { return t.tx.StmtContext(ctx, s) }

func (t *tx) GetRow(ctx context.Context, kind, id string) (*store.Row, error) {
	return getRow(ctx, t.stmt(ctx, t.b.wGet), kind, id)
}

func (t *tx) ListRows(ctx context.Context, kind string, opts store.ListOptions) ([]*store.Row, error) {
	return listRows(ctx, t.stmt(ctx, t.b.wList), kind, opts)
}

func (t *tx) CreateRow(ctx context.Context, r *store.Row) error {
	err := t.writeReturning(ctx, t.b.wCreate, r,
		r.Kind, r.ID, nonNil(r.Data), r.Sealed, r.Updated.UnixNano(), r.Updated.UnixNano(), r.MAC)
	if errors.Is(err, sql.ErrNoRows) { // ON CONFLICT DO NOTHING returned nothing
		return fmt.Errorf("%w: %s %q", store.ErrExists, r.Kind, r.ID)
	}
	return err
}

func (t *tx) UpdateRow(ctx context.Context, r *store.Row) error {
	err := t.writeReturning(ctx, t.b.wUpd, r,
		nonNil(r.Data), r.Sealed, r.Updated.UnixNano(), r.MAC, r.Kind, r.ID, r.Version)
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	// No row matched kind, id and version: tell absence from a stale version.
	var one int
	switch err := t.stmt(ctx, t.b.wExists).QueryRowContext(ctx, r.Kind, r.ID).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %s %q", store.ErrNotFound, r.Kind, r.ID)
	case err != nil:
		return fmt.Errorf("sqlite: update %s %q: %w", r.Kind, r.ID, err)
	}
	return fmt.Errorf("%w: %s %q is not at version %d", store.ErrConflict, r.Kind, r.ID, r.Version)
}

func (t *tx) PutRow(ctx context.Context, r *store.Row) error {
	return t.writeReturning(ctx, t.b.wPut, r,
		r.Kind, r.ID, nonNil(r.Data), r.Sealed, r.Updated.UnixNano(), r.Updated.UnixNano(), r.MAC)
}

// writeReturning runs a write whose RETURNING clause yields the stored
// version and creation time, and sets them on r. sql.ErrNoRows passes
// through unwrapped for the caller to interpret.
func (t *tx) writeReturning(ctx context.Context, s *sql.Stmt, r *store.Row, args ...any) error {
	var created int64
	err := t.stmt(ctx, s).QueryRowContext(ctx, args...).Scan(&r.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err != nil {
		return fmt.Errorf("sqlite: write %s %q: %w", r.Kind, r.ID, err)
	}
	r.Created = fromNanos(created)
	return nil
}

func (t *tx) DeleteRow(ctx context.Context, kind, id string) error {
	res, err := t.stmt(ctx, t.b.wDel).ExecContext(ctx, kind, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %q: %w", kind, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %q: %w", kind, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s %q", store.ErrNotFound, kind, id)
	}
	return nil
}

func getRow(ctx context.Context, s *sql.Stmt, kind, id string) (*store.Row, error) {
	r, err := scanRow(s.QueryRowContext(ctx, kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s %q", store.ErrNotFound, kind, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s %q: %w", kind, id, err)
	}
	return r, nil
}

func listRows(ctx context.Context, s *sql.Stmt, kind string, opts store.ListOptions) ([]*store.Row, error) {
	limit := int64(opts.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	// IDs with the prefix sort contiguously from the prefix itself, so the
	// query starts there and the loop stops at the first ID without it.
	// That avoids LIKE, whose case folding and escapes differ by engine.
	rows, err := s.QueryContext(ctx, kind, opts.Prefix, opts.After, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", kind, err)
	}
	defer rows.Close()
	out := []*store.Row{}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list %s: %w", kind, err)
		}
		if !strings.HasPrefix(r.ID, opts.Prefix) {
			break
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", kind, err)
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
	r.Created, r.Updated = fromNanos(created), fromNanos(updated)
	return &r, nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// nonNil keeps a nil Data from binding as NULL in the NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// kinds lists the distinct kinds; the primary key (kind, id) serves it.
func kinds(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT kind FROM records ORDER BY kind`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list kinds: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("sqlite: list kinds: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list kinds: %w", err)
	}
	return out, nil
}

// CountUnauthenticated implements [store.UnauthenticatedCounter] on the
// read pool.
func (b *Backend) CountUnauthenticated(ctx context.Context) (int64, error) {
	var n int64
	if err := b.r.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE mac IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count unauthenticated rows: %w", err)
	}
	return n, nil
}
