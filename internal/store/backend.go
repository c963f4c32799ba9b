package store

import (
	"context"
	"time"
)

// Row is a record as a Backend stores it: like [Record] but with the secret
// already sealed.
type Row struct {
	Kind, ID string
	Data     []byte
	// Sealed is the sealed secret, stored verbatim; nil means no secret and
	// is stored as SQL NULL.
	Sealed []byte
	// Version: see the BackendTx methods for what it means on input and
	// what they set it to.
	Version int64
	// Created and Updated are stored with nanosecond precision; see
	// [Migrations] for the column encoding.
	Created, Updated time.Time
	// MAC is the row's integrity tag, stored verbatim; nil (SQL NULL) only
	// in rows written before record authentication. The tag covers the
	// version and times the row has after the write, so the caller
	// computes them before calling (see [New]).
	MAC []byte
}

// BackendReader reads rows.
type BackendReader interface {
	// GetRow returns the row, or an error wrapping ErrNotFound.
	GetRow(ctx context.Context, kind, id string) (*Row, error)
	// ListRows returns rows of kind whose ID starts with opts.Prefix and
	// sorts after opts.After, at most opts.Limit (0 = all), in byte order
	// of ID. opts has been validated by the caller.
	ListRows(ctx context.Context, kind string, opts ListOptions) ([]*Row, error)
}

// BackendTx writes rows inside a transaction. The caller has validated kind
// and ID. Each method's effect must be atomic with respect to other
// transactions (a single statement or under the transaction's write lock).
type BackendTx interface {
	BackendReader
	// CreateRow inserts r with version 1, created and updated set to
	// r.Updated; ErrExists if (kind, id) is present. It sets r.Version and
	// r.Created.
	CreateRow(ctx context.Context, r *Row) error
	// UpdateRow replaces data, sealed, updated and mac of the row whose version
	// equals r.Version, incrementing the version; ErrNotFound if absent,
	// ErrConflict if the version differs. It sets r.Version to the new
	// version and r.Created to the stored creation time.
	UpdateRow(ctx context.Context, r *Row) error
	// PutRow inserts r as CreateRow would, or else replaces it as UpdateRow
	// would whatever its version. It sets r.Version and r.Created. [New]
	// does not use it: a row's tag covers the version it is stored at, which
	// PutRow decides, so the store reads the row and then creates or updates.
	PutRow(ctx context.Context, r *Row) error
	// DeleteRow removes the row; ErrNotFound if absent.
	DeleteRow(ctx context.Context, kind, id string) error
}

// Backend is the raw, unsealed storage of one database engine. Use it only
// through [New]. An implementation's transactions must be serialisable and
// durable on commit; one that can abort a transaction for serialisation
// reasons (PostgreSQL SERIALIZABLE) reports that as ErrConflict so callers'
// retry loops cover it.
type Backend interface {
	BackendReader
	// WriteTx runs fn in one transaction; see [Store].Tx for the contract.
	WriteTx(ctx context.Context, fn func(tx BackendTx) error) error
	// Close releases the backend.
	Close() error
}

// UnauthenticatedCounter is implemented by backends that can count the rows
// without an integrity tag (both built-in backends do), so a server can
// refuse to start on a database that needs `bulwark admin reseal
// --authenticate-legacy` rather than fail every request; see
// [CheckAuthenticated].
type UnauthenticatedCounter interface {
	// CountUnauthenticated returns the number of rows whose MAC is NULL.
	CountUnauthenticated(ctx context.Context) (int64, error)
}

// KindLister is implemented by backends that can name every kind they hold
// (both built-in backends do). It is deliberately neither part of [Backend]
// nor of [Store]: services always know which kinds they read, and only
// maintenance that walks the whole database ([Reseal] after a master key
// rotation) needs it, so the interface every service and test fake sees
// stays as small as the services need.
type KindLister interface {
	// Kinds returns the distinct kinds of the stored rows in byte order.
	Kinds(ctx context.Context) ([]string, error)
}
