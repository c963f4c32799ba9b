package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/bulwarkd/bulwark/internal/seal"
)

// Keys is what [New] needs of the master key: sealing every secret and
// authenticating every row. *seal.Keyring implements it.
type Keys interface {
	seal.Sealer
	seal.Authenticator
}

// ErrIntegrity means a stored row failed its integrity check: it was
// altered outside Bulwark (someone with write access to the database file
// or the PostgreSQL database), copied from another record or version, is
// tagged under a master key the server does not hold, or predates record
// authentication. Such a row is never used, nor treated as absent: every
// read of it fails with an error wrapping ErrIntegrity (an [*IntegrityError]).
var ErrIntegrity = errors.New("store: record failed its integrity check")

// IntegrityError says which row failed its integrity check and why. It
// names the row but never includes its contents.
type IntegrityError struct {
	Kind, ID string
	// Reason is one of the Reason* constants.
	Reason string
	// KeyID is the key id the row's tag names, when it has a tag of a
	// known format.
	KeyID uint32
}

// Reasons for an [IntegrityError].
const (
	// ReasonUntagged: the row has no tag. Either it was written before
	// record authentication (run `bulwark admin reseal
	// --authenticate-legacy` once after upgrading) or someone removed it.
	ReasonUntagged = "untagged"
	// ReasonMismatch: the tag does not verify. The row was altered, or a
	// row (or an older tag) was copied in from another record.
	ReasonMismatch = "mismatch"
	// ReasonUnknownKey: the tag names a master key this server does not
	// hold: a previous key left out during a rotation, or a forged tag.
	ReasonUnknownKey = "unknown-key"
)

func (e *IntegrityError) Error() string {
	switch e.Reason {
	case ReasonUntagged:
		return fmt.Sprintf("store: record %s %q has no integrity tag: it predates record authentication (run `bulwark admin reseal --authenticate-legacy` once after upgrading) or its tag was removed; refusing to use it", e.Kind, e.ID)
	case ReasonUnknownKey:
		return fmt.Sprintf("store: record %s %q is tagged under master key id %08x, which is not configured: add that master key as a previous key (or the database was altered); refusing to use it", e.Kind, e.ID, e.KeyID)
	default:
		return fmt.Sprintf("store: record %s %q failed its integrity check (tag under key id %08x): the database was altered outside Bulwark, or that master key is not configured; refusing to use it", e.Kind, e.ID, e.KeyID)
	}
}

// Unwrap makes errors.Is(err, ErrIntegrity) hold.
func (e *IntegrityError) Unwrap() error { return ErrIntegrity }

// OnIntegrityFailure sets a function New's store calls for every row that
// fails its integrity check, before the read fails: where a server logs
// and counts the failure. It must be safe for concurrent use and quick.
func OnIntegrityFailure(fn func(*IntegrityError)) Option {
	return func(s *sealedStore) { s.onIntegrity = fn }
}

// recordTagMessage is what a row's tag authenticates: every column but the
// tag itself, each length-prefixed so no two rows share a message. Binding
// kind and id stops a row (or its tag) being moved to another record;
// binding the version stops an older tag being reused for newer contents.
// The sealed secret is authenticated as stored, including its key id, so
// removing or swapping it is detected before it is opened.
func recordTagMessage(row *Row) []byte {
	b := make([]byte, 0, 64+len(row.Kind)+len(row.ID)+len(row.Data)+len(row.Sealed))
	b = append(b, "bulwark record v1\x00"...)
	b = appendBytes(b, []byte(row.Kind))
	b = appendBytes(b, []byte(row.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(row.Version))
	b = binary.BigEndian.AppendUint64(b, uint64(row.Created.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(row.Updated.UnixNano()))
	b = appendBytes(b, row.Data)
	if row.Sealed == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendBytes(b, row.Sealed)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(v)))
	return append(b, v...)
}

// tagRow sets row.MAC for the row as it will be stored.
func tagRow(a seal.Authenticator, row *Row) {
	row.MAC = a.Authenticate(recordTagMessage(row))
}

// verifyRow checks row's tag, returning an [*IntegrityError] if it fails.
func verifyRow(a seal.Authenticator, row *Row) error {
	if row.MAC == nil {
		return &IntegrityError{Kind: row.Kind, ID: row.ID, Reason: ReasonUntagged}
	}
	if err := a.Verify(row.MAC, recordTagMessage(row)); err != nil {
		id, ok := seal.TagKeyID(row.MAC)
		reason := ReasonMismatch
		if k, held := a.(keyIDer); ok && held && !slices.Contains(k.KeyIDs(), id) {
			reason = ReasonUnknownKey
		}
		return &IntegrityError{Kind: row.Kind, ID: row.ID, Reason: reason, KeyID: id}
	}
	return nil
}

// keyIDer is implemented by keyrings that can say which keys they hold
// (*seal.Keyring), so a failure can name a missing key apart from an
// altered row.
type keyIDer interface{ KeyIDs() []uint32 }

// CheckAuthenticated returns an error wrapping [ErrIntegrity] if b holds
// rows without an integrity tag: a database last written by a Bulwark
// before record authentication, or one whose tags were removed. A server
// calls it at start so it refuses to run (fail closed, with what to do)
// instead of failing every request. It returns nil when b cannot count
// (it does not implement [UnauthenticatedCounter]); reads still refuse
// such rows one by one.
func CheckAuthenticated(ctx context.Context, b Backend) error {
	c, ok := b.(UnauthenticatedCounter)
	if !ok {
		return nil
	}
	n, err := c.CountUnauthenticated(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %d stored records have no integrity tag. If this database was last used by a Bulwark without record authentication, "+
			"authenticate them once with `bulwark admin reseal --authenticate-legacy` (stop the servers first; see \"Record integrity\" in docs/operations.md). "+
			"If it was not, someone with write access to the database removed the tags: do not authenticate them; restore the database from a backup", ErrIntegrity, n)
	}
	return nil
}
