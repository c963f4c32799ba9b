package sqlite_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/store"
)

// TestRawFileScan writes records with distinctive secrets through every
// write path, then reads every file in the data dir as raw bytes, while the
// database is open (WAL not yet checkpointed) and after Close, and requires
// that no secret appears in any common encoding. The non-secret Data must
// appear, which proves the scan can see what was written.
func TestRawFileScan(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	accessSecret := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
	fakeSecret := []byte("correct-horse-SECRET-value-4f2a9c71")

	secrets := map[string][]byte{
		"fake secret":       fakeSecret,
		"PEM private key":   pemKey,
		"DER private key":   der,
		"access key secret": accessSecret,
	}
	// What must not appear: each secret raw, base64 (std and URL) and hex,
	// plus a distinctive slice of the PEM body (one base64 line of the DER).
	needles := map[string][]byte{}
	for name, s := range secrets {
		needles[name] = s
		needles[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(s))
		needles[name+" (base64url)"] = []byte(base64.RawURLEncoding.EncodeToString(s))
		needles[name+" (hex)"] = []byte(hex.EncodeToString(s))
		needles[name+" (HEX)"] = []byte(strings.ToUpper(hex.EncodeToString(s)))
	}
	needles["PEM body line"] = bytes.Split(pemKey, []byte("\n"))[1]

	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "bulwark.db"), keyring(t, 1))
	ctx := t.Context()
	data := func(id string) []byte { return []byte(`{"marker":"NONSECRET-DATA-` + id + `"}`) }
	err = s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Create(ctx, &store.Record{Kind: "pca/ca", ID: "ca1", Data: data("ca1"), Secret: pemKey}); err != nil {
			return err
		}
		if err := tx.Create(ctx, &store.Record{Kind: "kms/key", ID: "der", Data: data("der"), Secret: der}); err != nil {
			return err
		}
		if err := tx.Put(ctx, &store.Record{Kind: "iam/accesskey", ID: "AKIDEXAMPLE", Data: data("ak"), Secret: accessSecret}); err != nil {
			return err
		}
		r := &store.Record{Kind: "secrets/secret", ID: "db", Data: data("sec"), Secret: []byte("placeholder")}
		if err := tx.Create(ctx, r); err != nil {
			return err
		}
		r.Secret = fakeSecret
		if err := tx.Update(ctx, r); err != nil {
			return err
		}
		// A deleted record's pages must not leak its secret either.
		return tx.Create(ctx, &store.Record{Kind: "secrets/secret", ID: "gone", Data: data("gone"), Secret: fakeSecret})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "secrets/secret", "gone") }); err != nil {
		t.Fatal(err)
	}
	// The secrets did reach storage: they read back.
	if got, err := s.Get(ctx, "pca/ca", "ca1"); err != nil || !bytes.Equal(got.Secret, pemKey) {
		t.Fatalf("Get = %v, %v", got, err)
	}

	scan := func(stage string, wantFiles ...string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		seen := map[string]bool{}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			seen[e.Name()] = true
			all = append(all, b...)
			for name, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s found in %s", stage, name, e.Name())
				}
			}
		}
		for _, f := range wantFiles {
			if !seen[f] {
				t.Errorf("%s: %s not scanned (files: %v)", stage, f, seen)
			}
		}
		for _, id := range []string{"ca1", "der", "ak", "sec"} {
			if !bytes.Contains(all, data(id)) {
				t.Errorf("%s: non-secret data of %s not found: the scan does not see the records", stage, id)
			}
		}
	}
	scan("while open", "bulwark.db", "bulwark.db-wal", "bulwark.db-shm")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan("after close", "bulwark.db")
}
