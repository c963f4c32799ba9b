// Package storetest is the conformance suite every [store.Store]
// implementation runs, so that SQLite and PostgreSQL behave the same to the
// services built on them. Call [Run] from the implementation's tests.
package storetest
