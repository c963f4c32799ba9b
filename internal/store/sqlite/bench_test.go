package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/bulwarkd/bulwark/internal/store"
)

// BenchmarkGet reads one record with a 1 KiB document and a sealed 256-byte
// secret from a table of 1000: the per-request cost of a service lookup,
// including unsealing.
func BenchmarkGet(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "bench.db"), keyring(b, 1))
	defer s.Close()
	ctx := context.Background()
	doc, secret := make([]byte, 1024), make([]byte, 256)
	err := s.Tx(ctx, func(tx store.Tx) error {
		for i := range 1000 {
			if err := tx.Put(ctx, &store.Record{Kind: "kms/key", ID: fmt.Sprintf("key-%04d", i), Data: doc, Secret: secret}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, "kms/key", fmt.Sprintf("key-%04d", i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetParallel is BenchmarkGet from GOMAXPROCS goroutines, showing
// that reads share the read pool rather than queue behind one connection.
func BenchmarkGetParallel(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "bench.db"), keyring(b, 1))
	defer s.Close()
	ctx := context.Background()
	put(b, s, &store.Record{Kind: "kms/key", ID: "k", Data: make([]byte, 1024), Secret: make([]byte, 256)})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, "kms/key", "k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTxPut commits one Put per transaction: dominated by the fsync
// that synchronous=FULL does at every commit, i.e. by the disk.
func BenchmarkTxPut(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "bench.db"), keyring(b, 1))
	defer s.Close()
	ctx := context.Background()
	doc, secret := make([]byte, 1024), make([]byte, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := &store.Record{Kind: "kms/key", ID: fmt.Sprintf("key-%04d", i%1000), Data: doc, Secret: secret}
		if err := s.Tx(ctx, func(tx store.Tx) error { return tx.Put(ctx, r) }); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
