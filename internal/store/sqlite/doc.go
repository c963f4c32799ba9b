// Package sqlite is the embedded [store.Backend]: one SQLite database file in
// the data dir, using the pure-Go modernc.org/sqlite driver (no cgo).
//
// Connections are split in two pools. All writes go through a pool of one
// connection whose transactions begin IMMEDIATE, so writers queue in Go
// (honouring their contexts) instead of racing for SQLite's write lock and
// failing with SQLITE_BUSY when a read lock cannot be upgraded. Reads outside
// a transaction use a separate read-only pool and, thanks to WAL mode, run
// concurrently with each other and with the writer.
//
// Every acknowledged write is durable: see the pragmas in Open.
//
// Use it through store.New, which seals secrets:
//
//	b, err := sqlite.Open(filepath.Join(dataDir, "bulwark.db"))
//	...
//	st := store.New(b, keyring)
package sqlite
