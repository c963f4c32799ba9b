package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/postgres"
	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
	"github.com/bulwarkd/bulwark/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func masterKey(b byte) []byte { return bytes.Repeat([]byte{b}, seal.MasterKeySize) }

func keyring(t testing.TB, current byte, previous ...byte) *seal.Keyring {
	t.Helper()
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, masterKey(p))
	}
	k, err := seal.NewKeyring(masterKey(current), nil, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// backends opens a fresh backend of each engine; the store does not own
// them (New would close them), the test does.
var backends = []struct {
	name string
	open func(t *testing.T) store.Backend
}{
	{"sqlite", func(t *testing.T) store.Backend {
		b, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}},
	{"postgres", func(t *testing.T) store.Backend {
		b, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}},
}

// noClose lets several Stores share one backend in a test.
type noClose struct{ store.Backend }

func (noClose) Close() error { return nil }

// sealedUnder counts the rows holding a secret by the key id in its header,
// read from the raw rows as an operator inspecting the database would.
func sealedUnder(t *testing.T, b store.Backend) map[uint32]int {
	t.Helper()
	ctx := context.Background()
	kinds, err := b.(store.KindLister).Kinds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]int{}
	for _, k := range kinds {
		rows, err := b.ListRows(ctx, k, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Sealed != nil {
				id, _ := seal.SealedKeyID(r.Sealed)
				out[id]++
			}
		}
	}
	return out
}

// taggedUnder counts the rows by the key id of their integrity tag; rows
// without one count under 0.
func taggedUnder(t *testing.T, b store.Backend) map[uint32]int {
	t.Helper()
	ctx := context.Background()
	kinds, err := b.(store.KindLister).Kinds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]int{}
	for _, k := range kinds {
		rows, err := b.ListRows(ctx, k, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			id, _ := seal.TagKeyID(r.MAC)
			out[id]++
		}
	}
	return out
}

func put(t *testing.T, s store.Store, kind, id, data string, secret []byte) {
	t.Helper()
	err := s.Tx(context.Background(), func(tx store.Tx) error {
		return tx.Put(context.Background(), &store.Record{Kind: kind, ID: id, Data: []byte(data), Secret: secret})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReseal(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			oldK, rotating, newK := keyring(t, 1), keyring(t, 2, 1), keyring(t, 2)
			before := store.New(noClose{b}, oldK)
			// 250 secrets in three kinds (batches of 20 cross kind and
			// page boundaries), plus rows without a secret.
			for i := range 250 {
				put(t, before, fmt.Sprintf("svc%d/thing", i%3), fmt.Sprintf("id-%03d", i), `{"n":1}`, fmt.Appendf(nil, "secret-%d", i))
			}
			put(t, before, "plain/doc", "p1", `{}`, nil)
			if got := sealedUnder(t, b); got[oldK.KeyID()] != 250 {
				t.Fatalf("before rotation: %v, want 250 under the old key", got)
			}
			origUpdated, _ := before.Get(ctx, "svc0/thing", "id-000")

			// Step (a): servers run with the new key current and the old
			// previous: old secrets still read.
			during := store.New(noClose{b}, rotating)
			if r, err := during.Get(ctx, "svc1/thing", "id-001"); err != nil || string(r.Secret) != "secret-1" {
				t.Fatalf("old secret through the rotating keyring: %v %v", r, err)
			}
			// Step (b).
			var calls int
			p, err := store.Reseal(ctx, b, rotating, store.ResealOptions{BatchSize: 20, Progress: func(store.ResealProgress) { calls++ }})
			if err != nil {
				t.Fatal(err)
			}
			// Every row is rewritten: 250 secrets re-sealed, and all 251
			// integrity tags (the plain row's too) remade.
			if p.Resealed != 251 || p.Sealed != 250 || p.Scanned != 251 || p.Legacy != 0 || calls < 13 {
				t.Errorf("progress %+v after %d calls; want 251 rewritten, 250 with secrets, of 251 rows in batches", p, calls)
			}
			if got := sealedUnder(t, b); len(got) != 1 || got[newK.KeyID()] != 250 {
				t.Fatalf("after reseal: %v, want all 250 under the new key %08x", got, newK.KeyID())
			}
			if got := taggedUnder(t, b); len(got) != 1 || got[newK.KeyID()] != 251 {
				t.Fatalf("after reseal: tags %v, want all 251 under the new key %08x", got, newK.KeyID())
			}
			// Idempotent, and the dry run agrees nothing is left.
			for _, dry := range []bool{false, true} {
				if p, err := store.Reseal(ctx, b, rotating, store.ResealOptions{DryRun: dry}); err != nil || p.Resealed != 0 {
					t.Errorf("second run (dry %v): %+v %v; want nothing to do", dry, p, err)
				}
			}
			// Step (c): the old key removed, every secret still reads, and
			// data and Updated are untouched.
			after := store.New(noClose{b}, newK)
			for i := range 250 {
				r, err := after.Get(ctx, fmt.Sprintf("svc%d/thing", i%3), fmt.Sprintf("id-%03d", i))
				if err != nil || string(r.Secret) != fmt.Sprintf("secret-%d", i) || string(r.Data) != `{"n":1}` {
					t.Fatalf("record %d after rotation: %+v %v", i, r, err)
				}
			}
			r, _ := after.Get(ctx, "svc0/thing", "id-000")
			if !r.Updated.Equal(origUpdated.Updated) || r.Version != origUpdated.Version+1 {
				t.Errorf("resealed record updated %v version %d; want updated kept (%v) and version +1", r.Updated, r.Version, origUpdated.Updated)
			}
		})
	}
}

func TestResealUnknownKey(t *testing.T) {
	b := backends[0].open(t)
	put(t, store.New(noClose{b}, keyring(t, 1)), "a/b", "x", `{}`, []byte("s"))
	// The keyring forgot key 1: Reseal must stop, naming the record,
	// rather than skip a secret it cannot re-seal.
	for _, dry := range []bool{false, true} {
		_, err := store.Reseal(context.Background(), b, keyring(t, 2, 3), store.ResealOptions{DryRun: dry})
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`a/b "x"`)) {
			t.Errorf("dry %v: err = %v, want one naming the record", dry, err)
		}
	}
	if _, err := store.Reseal(context.Background(), struct{ store.Backend }{b}, keyring(t, 2, 1), store.ResealOptions{}); !errors.Is(err, store.ErrKindListing) {
		t.Errorf("backend without Kinds: %v", err)
	}
}

// TestResealConcurrentWrites: servers keep writing (through the rotating
// keyring) while Reseal runs in small batches; no write is lost and nothing
// is left under the old key.
func TestResealConcurrentWrites(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			oldK, rotating, newK := keyring(t, 1), keyring(t, 2, 1), keyring(t, 2)
			before := store.New(noClose{b}, oldK)
			const n = 200
			for i := range n {
				put(t, before, "k/v", fmt.Sprintf("%03d", i), `{}`, []byte("v0"))
			}
			server := store.New(noClose{b}, rotating)
			var wg sync.WaitGroup
			final := make([]string, n)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := 1; round <= 3; round++ {
						for i := w; i < n; i += 4 {
							val := fmt.Sprintf("v%d-%d", round, i)
							// A service's read-modify-write with the
							// version check, retried on conflict.
							for {
								err := server.Tx(ctx, func(tx store.Tx) error {
									r, err := tx.Get(ctx, "k/v", fmt.Sprintf("%03d", i))
									if err != nil {
										return err
									}
									r.Secret = []byte(val)
									return tx.Update(ctx, r)
								})
								if errors.Is(err, store.ErrConflict) {
									continue
								}
								if err != nil {
									t.Error(err)
									return
								}
								break
							}
							final[i] = val
						}
					}
				}()
			}
			if _, err := store.Reseal(ctx, b, rotating, store.ResealOptions{BatchSize: 7}); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if got := sealedUnder(t, b); len(got) != 1 || got[newK.KeyID()] != n {
				t.Fatalf("after reseal and writes: %v, want all %d under the new key", got, n)
			}
			if got := taggedUnder(t, b); len(got) != 1 || got[newK.KeyID()] != n {
				t.Fatalf("after reseal and writes: tags %v, want all %d under the new key", got, n)
			}
			after := store.New(noClose{b}, newK)
			for i := range n {
				r, err := after.Get(ctx, "k/v", fmt.Sprintf("%03d", i))
				if err != nil || string(r.Secret) != final[i] {
					t.Fatalf("record %d: %v %v; want the last acknowledged write %q", i, r, err, final[i])
				}
			}
		})
	}
}

// legacyRow writes a row as a Bulwark before record authentication did:
// secret sealed under k, no integrity tag.
func legacyRow(t *testing.T, b store.Backend, k *seal.Keyring, kind, id, data string, secret []byte) {
	t.Helper()
	row := &store.Row{Kind: kind, ID: id, Data: []byte(data), Updated: time.Unix(1700000000, 0).UTC()}
	if secret != nil {
		var err error
		if row.Sealed, err = k.Seal(secret, []byte(kind+"\x00"+id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WriteTx(context.Background(), func(tx store.BackendTx) error { return tx.CreateRow(context.Background(), row) }); err != nil {
		t.Fatal(err)
	}
}

// TestResealLegacy: rows from before record authentication are refused by
// the store and by a plain reseal, counted by a dry run, and authenticated
// only by an explicit AuthenticateLegacy run (also across a key rotation).
func TestResealLegacy(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			oldK, rotating := keyring(t, 1), keyring(t, 2, 1)
			for i := range 5 {
				legacyRow(t, b, oldK, "iam/access-key", fmt.Sprintf("AKIA%d", i), `{"UserName":"u"}`, fmt.Appendf(nil, "s%d", i))
			}
			legacyRow(t, b, oldK, "kms/key", "k1", `{"KeyState":"Disabled"}`, nil)
			put(t, store.New(noClose{b}, rotating), "kms/key", "k2", `{}`, []byte("tagged"))

			s := store.New(noClose{b}, rotating)
			if _, err := s.Get(ctx, "kms/key", "k1"); !errors.Is(err, store.ErrIntegrity) {
				t.Fatalf("Get of a legacy row: %v, want ErrIntegrity", err)
			}
			if err := store.CheckAuthenticated(ctx, b); !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), "6 stored records") {
				t.Fatalf("CheckAuthenticated: %v", err)
			}
			var ie *store.IntegrityError
			if _, err := store.Reseal(ctx, b, rotating, store.ResealOptions{}); !errors.As(err, &ie) || ie.Reason != store.ReasonUntagged {
				t.Fatalf("Reseal without AuthenticateLegacy: %v, want an untagged IntegrityError", err)
			}
			p, err := store.Reseal(ctx, b, rotating, store.ResealOptions{DryRun: true})
			if err != nil || p.Legacy != 6 || p.Resealed != 6 {
				t.Fatalf("dry run: %+v %v; want 6 legacy rows to rewrite", p, err)
			}
			p, err = store.Reseal(ctx, b, rotating, store.ResealOptions{AuthenticateLegacy: true})
			if err != nil || p.Legacy != 6 || p.Resealed != 6 || p.Scanned != 7 {
				t.Fatalf("AuthenticateLegacy: %+v %v; want 6 legacy of 7 rows rewritten", p, err)
			}
			if err := store.CheckAuthenticated(ctx, b); err != nil {
				t.Fatalf("CheckAuthenticated after: %v", err)
			}
			if got := taggedUnder(t, b); len(got) != 1 || got[rotating.KeyID()] != 7 {
				t.Fatalf("tags %v, want all 7 under the current key", got)
			}
			after := store.New(noClose{b}, keyring(t, 2))
			if r, err := after.Get(ctx, "iam/access-key", "AKIA3"); err != nil || string(r.Secret) != "s3" {
				t.Fatalf("legacy row after authentication: %v %v", r, err)
			}
		})
	}
}

// TestResealRefusesAlteredRows: a row that fails its tag stops Reseal in
// every mode, so a rotation (or the legacy upgrade) never re-tags an
// altered row under the new key.
func TestResealRefusesAlteredRows(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			oldK, rotating := keyring(t, 1), keyring(t, 2, 1)
			put(t, store.New(noClose{b}, oldK), "iam/access-key", "AKIA1", `{"UserName":"alice"}`, []byte("s"))
			// The attacker rewrites the data, keeping the row's tag.
			if err := b.WriteTx(ctx, func(tx store.BackendTx) error {
				row, err := tx.GetRow(ctx, "iam/access-key", "AKIA1")
				if err != nil {
					return err
				}
				row.Data = []byte(`{"UserName":""}`)
				return tx.UpdateRow(ctx, row)
			}); err != nil {
				t.Fatal(err)
			}
			for _, opts := range []store.ResealOptions{{}, {DryRun: true}, {AuthenticateLegacy: true}} {
				var ie *store.IntegrityError
				if _, err := store.Reseal(ctx, b, rotating, opts); !errors.As(err, &ie) || ie.ID != "AKIA1" || ie.Reason != store.ReasonMismatch {
					t.Errorf("Reseal %+v: %v, want a mismatch IntegrityError naming AKIA1", opts, err)
				}
			}
			if got := taggedUnder(t, b); got[rotating.KeyID()] != 0 {
				t.Fatalf("an altered row was re-tagged under the new key: %v", got)
			}
		})
	}
}
