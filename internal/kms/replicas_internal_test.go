package kms

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

// TestKeyDisabledOnOneReplicaRefusedOnAnotherWithinTTL: two KMS services
// (two servers) share one database. A key B has cached is disabled
// through A; B must refuse it once KeyCacheTTL has passed, and a key
// deleted through A must not stay in B's cache.
func TestKeyDisabledOnOneReplicaRefusedOnAnotherWithinTTL(t *testing.T) {
	st := storetest.SQLite(t, "")
	clock := clock.NewFake(time.Unix(1_800_000_000, 0))
	const ttl = time.Second
	cfg := Config{Store: st, AccountID: "111122223333", Region: "us-east-1", Clock: clock, KeyCacheTTL: ttl}
	a, rb := New(cfg), New(cfg)
	ctx := context.Background()

	id := "1234abcd-12ab-34cd-56ef-1234567890ab"
	sec, err := newSecret(specSymmetric, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := &keyMeta{KeyID: id, ARN: a.keyARN(id), AccountID: cfg.AccountID, Created: clock.Now(), KeySpec: specSymmetric,
		KeyUsage: usageEncrypt, KeyState: stateEnabled, KeyManager: "CUSTOMER", Policy: a.defaultPolicy()}
	if err := a.putNewKey(ctx, m, sec, ""); err != nil {
		t.Fatal(err)
	}
	lk, err := rb.getKey(ctx, id) // B caches it enabled
	if err != nil || usable(lk) != nil {
		t.Fatalf("B before disable: %v / %v", err, usable(lk))
	}
	if _, err := a.updateKey(ctx, id, func(m *keyMeta, _ *keySecret) error { m.KeyState = stateDisabled; return nil }); err != nil {
		t.Fatal(err)
	}
	if lk, err := a.getKey(ctx, id); err != nil || usable(lk) == nil {
		t.Fatalf("A serves its own change at once: %v", err)
	}
	clock.Add(ttl)
	lk, err = rb.getKey(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if usable(lk) == nil {
		t.Fatal("B still uses a key disabled on A after the cache TTL")
	}
	// Deleted through A: B forgets it within the TTL too.
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, kindKey, id) }); err != nil {
		t.Fatal(err)
	}
	clock.Add(ttl)
	if _, err := rb.getKey(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("B after delete on A: %v, want NotFound", err)
	}
	if n := rb.cache.Len(); n != 0 {
		t.Fatalf("B's cache still holds %d entries of deleted keys", n)
	}
}
