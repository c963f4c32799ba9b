// Package store is the small record store every Bulwark service builds its
// own typed storage on.
//
// A [Record] is a (Kind, ID) pair with a non-secret JSON document, an
// optional secret, and a version for optimistic concurrency. Services keep
// their own indexes as separate records; the store searches nothing but IDs
// within one kind.
//
// Layers:
//
//   - [Backend] is the raw storage of one database engine (package
//     store/sqlite today, PostgreSQL later). It stores bytes verbatim and
//     knows nothing of sealing; its method names differ from [Store]'s so a
//     Backend can never be used where a Store is expected.
//   - [New] wraps a Backend into a [Store] that seals every Record.Secret
//     with a [seal.Sealer] before it reaches the Backend, and opens it on the
//     way back, so no backend can forget to seal. It also tags every row
//     it writes with a MAC ([seal.Authenticator]) over all its columns and
//     refuses every row it reads whose tag is missing or wrong
//     ([ErrIntegrity], [IntegrityError]), so the clear Data cannot be
//     altered by whoever can write the database.
//
// [Reseal] walks every row (through the optional [KindLister]) to re-seal
// secrets and re-tag rows under the current master key after a rotation,
// and, once, to tag rows written before record authentication.
//
// The one-table schema shared by all backends, with its migration numbers, is
// in schema.go ([Migrations]). Package store/storetest holds the conformance
// suite every implementation runs.
package store
