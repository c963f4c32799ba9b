// Package postgres is the PostgreSQL store.Backend (pgx), for several
// Bulwark servers sharing one state. It uses the same one-table schema and
// migrations as the SQLite backend (see store.Migrations).
//
// Concurrency: every write transaction first takes one transaction-scoped
// advisory lock, so writers are serialised across all replicas exactly as
// SQLite serialises them within one process. Bulwark's writes are control
// operations (create a key, put a secret version, issue a certificate) and
// its hot paths are reads, so one writer at a time costs little and buys
// the simple, strong semantics every service's read-modify-write relies
// on. Reads run concurrently outside transactions.
package postgres
