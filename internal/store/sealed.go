package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwarkd/bulwark/internal/seal"
)

// Option configures [New].
type Option func(*sealedStore)

// WithClock sets the clock that stamps Record.Created and Record.Updated;
// the default is time.Now. Times are stored in UTC with nanosecond precision.
func WithClock(now func() time.Time) Option {
	return func(s *sealedStore) { s.now = now }
}

// New returns a Store that keeps records in b, sealing every Record.Secret
// with s before it reaches b (additional data: kind + "\x00" + id, so a
// sealed blob cannot be moved to another record) and opening it on reads.
// The Store owns b: closing the Store closes b.
func New(b Backend, s seal.Sealer, opts ...Option) Store {
	st := &sealedStore{b: b, sealer: s, now: time.Now}
	for _, o := range opts {
		o(st)
	}
	return st
}

type sealedStore struct {
	b      Backend
	sealer seal.Sealer
	now    func() time.Time
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

// open turns a stored row into a Record, opening its secret.
func (s *sealedStore) open(row *Row) (*Record, error) {
	rec := &Record{
		Kind: row.Kind, ID: row.ID, Data: row.Data, Version: row.Version,
		Created: row.Created, Updated: row.Updated,
	}
	if row.Sealed != nil {
		pt, err := s.sealer.Open(row.Sealed, aad(row.Kind, row.ID))
		if err != nil {
			// Almost always a wrong master key; otherwise the database was
			// altered (or a sealed blob copied from another record).
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
		sealed, err := s.sealer.Seal(r.Secret, aad(r.Kind, r.ID))
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

func (t *sealedTx) Create(ctx context.Context, r *Record) error {
	return t.write(ctx, r, t.tx.CreateRow)
}

func (t *sealedTx) Update(ctx context.Context, r *Record) error {
	return t.write(ctx, r, t.tx.UpdateRow)
}

func (t *sealedTx) Put(ctx context.Context, r *Record) error {
	return t.write(ctx, r, t.tx.PutRow)
}

func (t *sealedTx) Delete(ctx context.Context, kind, id string) error {
	if err := validKey(kind, id); err != nil {
		return err
	}
	return t.tx.DeleteRow(ctx, kind, id)
}

// write seals r, stores it with op and copies the store-set fields back.
func (t *sealedTx) write(ctx context.Context, r *Record, op func(context.Context, *Row) error) error {
	now := t.s.now().UTC()
	row, err := t.s.row(r, now)
	if err != nil {
		return err
	}
	if err := op(ctx, row); err != nil {
		return err
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
