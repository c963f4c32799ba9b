package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/seal"
)

// DefaultResealBatch is how many rows [Reseal] rewrites per transaction when
// ResealOptions.BatchSize is 0: small enough that the write lock it holds
// (the cluster-wide one on PostgreSQL) delays the servers' own writes by
// milliseconds, large enough that a database of 100 000 secrets is re-sealed
// in a thousand transactions.
const DefaultResealBatch = 100

// ResealOptions tunes [Reseal].
type ResealOptions struct {
	// BatchSize is the number of rows read and rewritten per transaction;
	// 0 means DefaultResealBatch.
	BatchSize int
	// DryRun counts what would be re-sealed without writing anything (the
	// check before removing an old key). Untagged rows are counted (in
	// Legacy) rather than refused.
	DryRun bool
	// AuthenticateLegacy tags rows that have no integrity tag, trusting
	// their contents as they are. It is for the one run after upgrading
	// from a Bulwark without record authentication, with the servers
	// stopped; without it such a row stops Reseal with an [*IntegrityError].
	AuthenticateLegacy bool
	// Progress, if set, is called after each batch.
	Progress func(ResealProgress)
}

// ResealProgress counts what [Reseal] has done so far.
type ResealProgress struct {
	// Kind is the kind being walked (the last one, when Reseal returns).
	Kind string
	// Scanned counts rows read, with or without a secret.
	Scanned int
	// Sealed counts rows that hold a secret.
	Sealed int
	// Resealed counts rows rewritten under the current key, their secret
	// re-sealed and their integrity tag remade (with DryRun: that would be).
	Resealed int
	// Legacy counts rows that had no integrity tag (included in Resealed).
	Legacy int
}

// ErrKindListing means the backend cannot enumerate its kinds (it does not
// implement [KindLister]), so it cannot be walked.
var ErrKindListing = errors.New("store: backend cannot list its kinds")

// Reseal rewrites every row in b whose secret is not sealed, or whose
// integrity tag is not made, under k's current key, so that the keys k
// holds as previous can then be removed. It is the second step of a master
// key rotation (docs/operations.md).
//
// Every row's tag is verified first: a row that fails (altered, or tagged
// under a key k does not hold) stops Reseal with an [*IntegrityError], so
// a rotation never launders a tampered row under the new key. A row with no
// tag stops it too, unless opts.AuthenticateLegacy.
//
// It is safe while servers use the database: each batch is one write
// transaction that re-reads its rows and replaces each with UpdateRow's
// version check, so a write a server commits between batches is either
// already under the current key (every server must run with k's current key
// before Reseal starts) or is rewritten by a later run. A re-sealed row keeps
// its data and its Updated time; its version goes up by one, as for any
// write, so a server's read-modify-write that raced with it retries. Run it
// again to check: an idempotent second run re-seals nothing.
//
// A secret sealed under a key k does not hold stops Reseal with an error
// naming the record and the key id: configure that key as previous and
// run again.
func Reseal(ctx context.Context, b Backend, k *seal.Keyring, opts ResealOptions) (ResealProgress, error) {
	var p ResealProgress
	kl, ok := b.(KindLister)
	if !ok {
		return p, ErrKindListing
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultResealBatch
	}
	kinds, err := kl.Kinds(ctx)
	if err != nil {
		return p, err
	}
	for _, kind := range kinds {
		p.Kind = kind
		after := ""
		for {
			var n int
			var last string
			batch := func(r BackendReader, tx BackendTx) error {
				rows, err := r.ListRows(ctx, kind, ListOptions{After: after, Limit: opts.BatchSize})
				if err != nil {
					return err
				}
				n = len(rows)
				for _, row := range rows {
					last = row.ID
					p.Scanned++
					if row.Sealed != nil {
						p.Sealed++
					}
					legacy := row.MAC == nil
					if err := verifyRow(k, row); err != nil && !(legacy && (opts.AuthenticateLegacy || opts.DryRun)) {
						var ie *IntegrityError
						if errors.As(err, &ie) && ie.Reason == ReasonUnknownKey {
							return fmt.Errorf("store: reseal %s %q: cannot open it (tagged under key id %08x; this keyring holds %08x): add the master key that tagged it as a previous key: %w", row.Kind, row.ID, ie.KeyID, k.KeyIDs(), err)
						}
						return err
					}
					if !legacy && underCurrent(k, row) {
						continue
					}
					if err := resealRow(ctx, tx, k, row); err != nil {
						return err
					}
					p.Resealed++
					if legacy {
						p.Legacy++
					}
				}
				return nil
			}
			saved := p
			if opts.DryRun {
				err = batch(b, nil)
			} else {
				err = b.WriteTx(ctx, func(tx BackendTx) error { return batch(tx, tx) })
			}
			if err != nil {
				return saved, err
			}
			if opts.Progress != nil {
				opts.Progress(p)
			}
			if n < opts.BatchSize {
				break
			}
			after = last
		}
	}
	return p, nil
}

// underCurrent reports whether row's tag and secret are both under k's
// current key.
func underCurrent(k *seal.Keyring, row *Row) bool {
	if id, ok := seal.TagKeyID(row.MAC); !ok || id != k.KeyID() {
		return false
	}
	if row.Sealed == nil {
		return true
	}
	id, ok := seal.SealedKeyID(row.Sealed)
	return ok && id == k.KeyID()
}

// resealRow opens row with any key of k and writes it back sealed and
// tagged under the current key, keeping its data and times; tx nil only
// checks that it opens. The caller has verified row's tag.
func resealRow(ctx context.Context, tx BackendTx, k *seal.Keyring, row *Row) error {
	upd := *row
	if row.Sealed != nil {
		if id, ok := seal.SealedKeyID(row.Sealed); !ok || id != k.KeyID() || tx == nil {
			pt, err := k.Open(row.Sealed, aad(row.Kind, row.ID))
			if err != nil {
				id, _ := seal.SealedKeyID(row.Sealed)
				return fmt.Errorf("store: reseal %s %q: cannot open it (sealed under key id %08x; this keyring holds %08x): add the master key that sealed it as a previous key", row.Kind, row.ID, id, k.KeyIDs())
			}
			if tx == nil {
				return nil
			}
			if upd.Sealed, err = k.Seal(pt, aad(row.Kind, row.ID)); err != nil {
				return fmt.Errorf("store: reseal %s %q: %w", row.Kind, row.ID, err)
			}
		}
	}
	if tx == nil {
		return nil
	}
	want := row.Version + 1
	upd.Version = want
	tagRow(k, &upd)
	upd.Version = row.Version // UpdateRow's input: the version replaced
	if err := tx.UpdateRow(ctx, &upd); err != nil {
		return err
	}
	if upd.Version != want || !upd.Created.Equal(row.Created) {
		return fmt.Errorf("store: reseal %s %q: backend stored version %d created %v, want %d and %v", row.Kind, row.ID, upd.Version, upd.Created, want, row.Created)
	}
	return nil
}
