package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Option configures [New].
type Option func(*sealedStore)

// WithClock sets the clock that stamps Record.Created and Record.Updated;
// the default is time.Now. Times are stored in UTC with nanosecond precision.
func WithClock(now func() time.Time) Option {
	return func(s *sealedStore) { s.now = now }
}

// New returns a Store that keeps records in b, sealing every Record.Secret
// with k before it reaches b (additional data: kind + "\x00" + id, so a
// sealed blob cannot be moved to another record) and opening it on reads.
//
// Every row it writes also carries an integrity tag from k over its kind,
// id, version, times, data and sealed secret, and every row it reads must
// verify (with k's current or a previous key) or the read fails with an
// error wrapping [ErrIntegrity]: the non-secret data of a record is stored
// in the clear, and without the tag anyone able to write to the database
// could change who an access key belongs to or re-enable a disabled key.
// A row that fails is never used nor reported absent.
//
// The Store owns b: closing the Store closes b.
func New(b Backend, k Keys, opts ...Option) Store {
	st := &sealedStore{b: b, keys: k, now: time.Now}
	for _, o := range opts {
		o(st)
	}
	return st
}

type sealedStore struct {
	b           Backend
	keys        Keys
	now         func() time.Time
	onIntegrity func(*IntegrityError)
}

func (s *sealedStore) Get(ctx context.Context, kind, id string) (*Record, error) {
	return s.get(ctx, s.b, kind, id)
}

func (s *sealedStore) List(ctx context.Context, kind string, opts ListOptions) ([]*Record, error) {
	return s.list(ctx, s.b, kind, opts)
}

func (s *sealedStore) Tx(ctx context.Context, fn func(tx Tx) error) error {
	return s.b.WriteTx(ctx, func(btx BackendTx) error {
		return fn(&sealedTx{s: s, tx: btx})
	})
}

func (s *sealedStore) Close() error { return s.b.Close() }

func (s *sealedStore) get(ctx context.Context, r BackendReader, kind, id string) (*Record, error) {
	if err := validKey(kind, id); err != nil {
		return nil, err
	}
	row, err := r.GetRow(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	return s.open(row)
}

func (s *sealedStore) list(ctx context.Context, r BackendReader, kind string, opts ListOptions) ([]*Record, error) {
	if err := validKind(kind); err != nil {
		return nil, err
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%w: negative list limit %d", ErrInvalid, opts.Limit)
	}
	rows, err := r.ListRows(ctx, kind, opts)
	if err != nil {
		return nil, err
	}
	recs := make([]*Record, 0, len(rows))
	for _, row := range rows {
		rec, err := s.open(row)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// verify checks row's integrity tag, reporting a failure to the hook.
func (s *sealedStore) verify(row *Row) error {
	err := verifyRow(s.keys, row)
	if err != nil && s.onIntegrity != nil {
		var ie *IntegrityError
		if errors.As(err, &ie) {
			s.onIntegrity(ie)
		}
	}
	return err
}

// open verifies a stored row and turns it into a Record, opening its secret.
func (s *sealedStore) open(row *Row) (*Record, error) {
	if err := s.verify(row); err != nil {
		return nil, err
	}
	rec := &Record{
		Kind: row.Kind, ID: row.ID, Data: row.Data, Version: row.Version,
		Created: row.Created, Updated: row.Updated,
	}
	if row.Sealed != nil {
		pt, err := s.keys.Open(row.Sealed, aad(row.Kind, row.ID))
		if err != nil {
			// The tag verified, so the blob is the one we stored: only a
			// keyring holding the tag key but not the sealing key (which
			// Keyring never is) gets here.
			return nil, fmt.Errorf("store: open secret of %s %q (wrong master key or altered database): %w", row.Kind, row.ID, err)
		}
		rec.Secret = pt
	}
	return rec, nil
}

// row seals r into the Row a backend stores, stamped with now.
func (s *sealedStore) row(r *Record, now time.Time) (*Row, error) {
	if err := validKey(r.Kind, r.ID); err != nil {
		return nil, err
	}
	row := &Row{Kind: r.Kind, ID: r.ID, Data: r.Data, Version: r.Version, Created: now, Updated: now}
	if r.Secret != nil {
		sealed, err := s.keys.Seal(r.Secret, aad(r.Kind, r.ID))
		if err != nil {
			return nil, fmt.Errorf("store: seal secret of %s %q: %w", r.Kind, r.ID, err)
		}
		row.Sealed = sealed
	}
	return row, nil
}

func aad(kind, id string) []byte {
	b := make([]byte, 0, len(kind)+1+len(id))
	return append(append(append(b, kind...), 0), id...)
}

type sealedTx struct {
	s  *sealedStore
	tx BackendTx
}

func (t *sealedTx) Get(ctx context.Context, kind, id string) (*Record, error) {
	return t.s.get(ctx, t.tx, kind, id)
}

func (t *sealedTx) List(ctx context.Context, kind string, opts ListOptions) ([]*Record, error) {
	return t.s.list(ctx, t.tx, kind, opts)
}

// How write stores a record.
type writeMode int

const (
	modeCreate writeMode = iota
	modeUpdate
	modePut
)

func (t *sealedTx) Create(ctx context.Context, r *Record) error {
	return t.write(ctx, r, modeCreate)
}

func (t *sealedTx) Update(ctx context.Context, r *Record) error {
	return t.write(ctx, r, modeUpdate)
}

func (t *sealedTx) Put(ctx context.Context, r *Record) error {
	return t.write(ctx, r, modePut)
}

func (t *sealedTx) Delete(ctx context.Context, kind, id string) error {
	if err := validKey(kind, id); err != nil {
		return err
	}
	return t.tx.DeleteRow(ctx, kind, id)
}

// write seals r, tags it and stores it, then copies the store-set fields
// back. The tag covers the version and creation time the row will have, so
// updates first read the stored row (inside the transaction, which holds
// the write lock on every engine) to learn them; the stored row must itself
// verify, so a write never builds on, or blesses the creation time of, a
// row someone altered. Put therefore refuses to replace a row that fails
// its check: delete it first (see docs/operations.md).
func (t *sealedTx) write(ctx context.Context, r *Record, mode writeMode) error {
	now := t.s.now().UTC()
	row, err := t.s.row(r, now)
	if err != nil {
		return err
	}
	var cur *Row
	if mode != modeCreate {
		cur, err = t.tx.GetRow(ctx, r.Kind, r.ID)
		switch {
		case errors.Is(err, ErrNotFound) && mode == modePut:
			cur = nil
		case err != nil:
			return err
		default:
			if mode == modeUpdate && cur.Version != r.Version {
				return fmt.Errorf("%w: %s %q is not at version %d", ErrConflict, r.Kind, r.ID, r.Version)
			}
			if err := t.s.verify(cur); err != nil {
				return err
			}
		}
	}
	if cur == nil {
		row.Version, row.Created = 1, now
		tagRow(t.s.keys, row)
		if err := t.tx.CreateRow(ctx, row); err != nil {
			return err
		}
		if row.Version != 1 || !row.Created.Equal(now) {
			return fmt.Errorf("store: create %s %q: backend stored version %d created %v, want 1 and %v", r.Kind, r.ID, row.Version, row.Created, now)
		}
	} else {
		want := cur.Version + 1
		row.Version, row.Created = want, cur.Created
		tagRow(t.s.keys, row)
		row.Version = cur.Version // UpdateRow's input: the version replaced
		if err := t.tx.UpdateRow(ctx, row); err != nil {
			return err
		}
		if row.Version != want || !row.Created.Equal(cur.Created) {
			// The tag would not verify: never commit such a row.
			return fmt.Errorf("store: update %s %q: backend stored version %d created %v, want %d and %v", r.Kind, r.ID, row.Version, row.Created, want, cur.Created)
		}
	}
	r.Version, r.Created, r.Updated = row.Version, row.Created, row.Updated
	return nil
}

// validKey checks what every engine can store and what keeps the sealing
// AAD unambiguous: with a NUL inside kind, ("a\x00b", "c") and ("a", "b\x00c")
// would share additional data. Valid UTF-8 because PostgreSQL TEXT needs it.
func validKey(kind, id string) error {
	if err := validKind(kind); err != nil {
		return err
	}
	if id == "" || strings.IndexByte(id, 0) >= 0 || !utf8.ValidString(id) {
		return fmt.Errorf("%w: record id %q must be non-empty UTF-8 without NUL", ErrInvalid, id)
	}
	return nil
}

func validKind(kind string) error {
	if kind == "" || strings.IndexByte(kind, 0) >= 0 || !utf8.ValidString(kind) {
		return fmt.Errorf("%w: record kind %q must be non-empty UTF-8 without NUL", ErrInvalid, kind)
	}
	return nil
}
