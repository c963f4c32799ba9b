package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them; test with errors.Is.
var (
	// ErrNotFound means no record has the requested kind and ID.
	ErrNotFound = errors.New("store: record not found")
	// ErrExists means Create found a record with the same kind and ID.
	ErrExists = errors.New("store: record already exists")
	// ErrConflict means an Update's version did not match the stored one:
	// someone else wrote the record since it was read. Re-read and retry.
	ErrConflict = errors.New("store: version conflict")
	// ErrInvalid means a record or argument is malformed (for example an
	// empty kind or ID, or one containing a NUL byte).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrUnavailable means the database could not be reached or failed
	// mid-transaction (a PostgreSQL restart or failover); nothing was
	// committed and the request may be retried.
	ErrUnavailable = errors.New("store: database unavailable")
)

// Record is one stored item.
type Record struct {
	// Kind names the record type, conventionally "service/type"
	// (e.g. "kms/key", "iam/user"). Must be non-empty and free of NUL bytes.
	Kind string
	// ID is unique within Kind. Must be non-empty and free of NUL bytes.
	// Records list in byte order of ID.
	ID string
	// Data is the non-secret document, conventionally JSON. It is stored in
	// the clear: never put key material or secret values here.
	Data []byte
	// Secret is plaintext in memory and always sealed at rest, bound to
	// this Kind and ID so a sealed blob cannot be moved to another record.
	// nil means no secret; an empty non-nil slice is kept as an empty secret.
	Secret []byte
	// Version is set by the store: 1 on create, +1 on each update or put.
	// Update requires it to equal the stored version.
	Version int64
	// Created and Updated are set by the store from its clock (UTC).
	Created, Updated time.Time
}

// ListOptions selects and pages records of one kind.
type ListOptions struct {
	// Prefix keeps only IDs that start with it; "" keeps all.
	Prefix string
	// After keeps only IDs that sort strictly after it, for pagination:
	// pass the last ID of the previous page. "" starts at the beginning.
	After string
	// Limit caps the number of records returned; 0 means no cap.
	// Negative values are invalid.
	Limit int
}

// Reader reads records.
type Reader interface {
	// Get returns the record, or an error wrapping ErrNotFound.
	Get(ctx context.Context, kind, id string) (*Record, error)
	// List returns records of kind selected by opts, ordered by ID (byte
	// order). It returns an empty slice, not an error, when none match.
	List(ctx context.Context, kind string, opts ListOptions) ([]*Record, error)
}

// Tx reads and writes inside one transaction. Writes set r.Version,
// r.Created and r.Updated on the caller's record on success.
type Tx interface {
	Reader
	// Create stores a new record; an error wrapping ErrExists if present.
	Create(ctx context.Context, r *Record) error
	// Update replaces a record whose stored version equals r.Version (else
	// ErrConflict); ErrNotFound if absent. Created is kept.
	Update(ctx context.Context, r *Record) error
	// Put creates or replaces a record whatever its version.
	Put(ctx context.Context, r *Record) error
	// Delete removes a record; ErrNotFound if absent.
	Delete(ctx context.Context, kind, id string) error
}

// Store is a transactional record store.
type Store interface {
	Reader
	// Tx runs fn in one serialisable transaction and commits if it returns
	// nil. If fn returns an error (or panics) nothing it wrote is kept and
	// that error is returned. When Tx returns nil the writes are durable:
	// they survive a crash, SIGKILL or power loss.
	//
	// fn may run against a snapshot that another writer then changes; use
	// Update's version check (ErrConflict) and retry for read-modify-write.
	// fn must not call the Store's own Tx (implementations may serialise
	// writers, which would deadlock) and should not keep tx after returning.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the store. Calls after Close fail.
	Close() error
}
