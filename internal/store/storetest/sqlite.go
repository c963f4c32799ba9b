package storetest

import (
	"path/filepath"
	"testing"

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/sqlite"
)

// SQLite opens a sealed store on a SQLite database at path ("" means a
// new file in t's temporary directory) and closes it when the test ends:
// the store a service's unit tests run on. Every call seals with the same
// all-zero master key, so a test that reopens path (a restart) reads what
// it wrote; that key is for tests only.
func SQLite(t testing.TB, path string, opts ...store.Option) store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "db")
	}
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.NewKeyring(make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(b, kr, opts...)
	t.Cleanup(func() { _ = st.Close() })
	return st
}
