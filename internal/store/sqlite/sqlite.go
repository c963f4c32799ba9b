package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"

	msqlite "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

const (
	// busyTimeout bounds how long a connection waits for a lock held by
	// another process (a second Bulwark, a backup tool, the sqlite3 shell)
	// or a checkpoint before failing with SQLITE_BUSY. Writers inside this
	// process never wait here: they queue for the single write connection.
	busyTimeout = 10 * time.Second
	// readConns sizes the read pool. Readers in WAL mode do not block each
	// other; a handful covers concurrent API requests on small machines
	// without holding a page cache per idle goroutine.
	readConns = 4
)

const cols = `kind, id, version, data, secret, created_at, updated_at, mac`

// The statements, prepared once per pool and reused: parsing SQL would be
// most of a Get's cost otherwise. "?" placeholders and RETURNING/ON CONFLICT
// are also valid PostgreSQL (with $n), so a pgx backend can mirror them.
const (
	sqlGet    = `SELECT ` + cols + ` FROM records WHERE kind = ? AND id = ?`
	sqlList   = `SELECT ` + cols + ` FROM records WHERE kind = ? AND id >= ? AND id > ? ORDER BY id LIMIT ?`
	sqlExists = `SELECT 1 FROM records WHERE kind = ? AND id = ?`
	sqlCreate = `INSERT INTO records (` + cols + `) VALUES (?, ?, 1, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, id) DO NOTHING RETURNING version, created_at`
	sqlUpdate = `UPDATE records SET version = version + 1, data = ?, secret = ?, updated_at = ?, mac = ?
		WHERE kind = ? AND id = ? AND version = ? RETURNING version, created_at`
	sqlPut = `INSERT INTO records (` + cols + `) VALUES (?, ?, 1, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET version = records.version + 1,
			data = excluded.data, secret = excluded.secret, updated_at = excluded.updated_at, mac = excluded.mac
		RETURNING version, created_at`
	sqlDelete = `DELETE FROM records WHERE kind = ? AND id = ?`
)

// Backend is the SQLite [store.Backend]. It is safe for concurrent use.
type Backend struct {
	path string
	w    *sql.DB // one connection; every transaction BEGIN IMMEDIATE
	r    *sql.DB // read-only pool for reads outside transactions

	// Prepared statements: rGet/rList on the read pool, the rest on the
	// write connection (bound to each transaction with Tx.StmtContext,
	// which reuses the statement already prepared on that connection).
	rGet, rList                                     *sql.Stmt
	wGet, wList, wExists, wCreate, wUpd, wPut, wDel *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Backend                = (*Backend)(nil)
	_ store.KindLister             = (*Backend)(nil)
	_ store.UnauthenticatedCounter = (*Backend)(nil)
)

// Open opens (creating if needed, mode 0600) the SQLite database at path,
// which must name a file, and applies any missing schema migrations.
func Open(path string) (*Backend, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools need one shared file; a URI could also smuggle options.
		return nil, fmt.Errorf("sqlite: path %q must be a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file ourselves so it starts 0600: SQLite would use 0644.
	// SQLite gives the -wal and -shm files the database file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	b := &Backend{path: abs}
	if err := b.open(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Backend) open() error {
	u := url.URL{Scheme: "file", Path: b.path}
	base := u.String() + "?_pragma=" + url.QueryEscape(fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))

	// Writer pragmas:
	//  - journal_mode=WAL: readers see the last commit without blocking the
	//    writer, and a commit appends to the log instead of rewriting pages.
	//  - synchronous=FULL: in WAL mode the default NORMAL does not fsync the
	//    log on commit, so a power loss or kernel crash can drop the last
	//    acknowledged transactions (a process crash or SIGKILL cannot, the
	//    OS keeps the pages). FULL fsyncs the WAL at every commit, so a
	//    write is on disk before Tx returns: an issued certificate or a
	//    created key never silently disappears.
	//  - foreign_keys=ON: off by default in SQLite; future migrations may
	//    rely on it.
	//  - _txlock=immediate: BEGIN IMMEDIATE takes the write lock at the start
	//    of the transaction, so a transaction that read and then writes
	//    cannot fail to upgrade its lock (SQLITE_BUSY, which busy_timeout
	//    does not retry) against another writer.
	var err error
	b.w, err = sql.Open("sqlite", base+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", b.path, err)
	}
	b.w.SetMaxOpenConns(1)
	b.w.SetMaxIdleConns(1)
	b.w.SetConnMaxLifetime(0)
	b.w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if err := b.checkPragmas(ctx); err != nil {
		return err
	}
	if err := b.migrate(ctx); err != nil {
		return err
	}

	// query_only makes the read pool refuse writes, so a bug that sends a
	// write there fails loudly instead of racing the writer.
	b.r, err = sql.Open("sqlite", base+"&_pragma=query_only(ON)")
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", b.path, err)
	}
	b.r.SetMaxOpenConns(readConns)
	b.r.SetMaxIdleConns(readConns)
	b.r.SetConnMaxLifetime(0)
	b.r.SetConnMaxIdleTime(0)

	prep := []struct {
		db   *sql.DB
		q    string
		stmt **sql.Stmt
	}{
		{b.r, sqlGet, &b.rGet}, {b.r, sqlList, &b.rList},
		{b.w, sqlGet, &b.wGet}, {b.w, sqlList, &b.wList}, {b.w, sqlExists, &b.wExists},
		{b.w, sqlCreate, &b.wCreate}, {b.w, sqlUpdate, &b.wUpd}, {b.w, sqlPut, &b.wPut},
		{b.w, sqlDelete, &b.wDel},
	}
	for _, p := range prep {
		if *p.stmt, err = p.db.PrepareContext(ctx, p.q); err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", p.q, err)
		}
	}
	return nil
}

// checkPragmas verifies the durability settings took: journal_mode=WAL can
// silently stay "delete" on file systems without shared memory support.
func (b *Backend) checkPragmas(ctx context.Context) error {
	var mode string
	var sync int
	if err := b.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", b.path, err)
	}
	if err := b.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", b.path, err)
	}
	if !strings.EqualFold(mode, "wal") || sync != 2 {
		return fmt.Errorf("sqlite: %s: journal_mode=%s synchronous=%d, want wal and 2 (FULL); is the data dir on a network file system?", b.path, mode, sync)
	}
	return nil
}

func (b *Backend) migrate(ctx context.Context) error {
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", b.path, err)
	}
	defer tx.Rollback()
	if _, err := store.Migrate(ctx, tx, store.SQLite, time.Now()); err != nil {
		return fmt.Errorf("sqlite: %s: %w", b.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", b.path, err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (b *Backend) Path() string { return b.path }

// Close closes both pools. The last connection to close checkpoints the WAL
// into the database file. Close is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		var errs []error
		for _, s := range []*sql.Stmt{b.rGet, b.rList, b.wGet, b.wList, b.wExists, b.wCreate, b.wUpd, b.wPut, b.wDel} {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		if b.r != nil {
			errs = append(errs, b.r.Close())
		}
		if b.w != nil {
			errs = append(errs, b.w.Close())
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// GetRow implements [store.BackendReader] on the read pool.
func (b *Backend) GetRow(ctx context.Context, kind, id string) (*store.Row, error) {
	return getRow(ctx, b.rGet, kind, id)
}

// ListRows implements [store.BackendReader] on the read pool.
func (b *Backend) ListRows(ctx context.Context, kind string, opts store.ListOptions) ([]*store.Row, error) {
	return listRows(ctx, b.rList, kind, opts)
}

// Kinds implements [store.KindLister] on the read pool.
func (b *Backend) Kinds(ctx context.Context) ([]string, error) {
	return kinds(ctx, b.r)
}

// WriteTx implements [store.Backend]. If fn panics the transaction is
// rolled back and the panic continues.
func (b *Backend) WriteTx(ctx context.Context, fn func(tx store.BackendTx) error) (err error) {
	defer func() { err = diskFull(err) }()
	sqlTx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			sqlTx.Rollback()
		}
	}()
	if err := fn(&tx{b: b, tx: sqlTx}); err != nil {
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// sqliteFull is SQLITE_FULL, the primary result code (low byte) of a write
// that found the disk (or max_page_count) full.
const sqliteFull = 13

// diskFull marks a write that failed for lack of space as
// store.ErrUnavailable: nothing was committed and the same call succeeds
// once an operator frees space, so the client gets a retryable 503 (as
// with a full audit disk), not an InternalFailure.
func diskFull(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var se *msqlite.Error
	if errors.Is(err, syscall.ENOSPC) || (errors.As(err, &se) && se.Code()&0xff == sqliteFull) {
		return fmt.Errorf("%w: sqlite: the disk holding the database is full; free space on it: %v", store.ErrUnavailable, err)
	}
	return err
}
