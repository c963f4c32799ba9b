package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, MasterKeySize) }

func newTestKeyring(t testing.TB, b byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(testKey(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k := newTestKeyring(t, 1)
	big := make([]byte, 64<<10)
	rand.Read(big)
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty plaintext", []byte{}, []byte("kms/key\x00k1")},
		{"nil aad", []byte("secret"), nil},
		{"small", []byte("correct horse battery staple"), []byte("a\x00b")},
		{"64 KiB", big, []byte("x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := k.Seal(tc.plaintext, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if want := headerSize + len(tc.plaintext) + tagSize; len(sealed) != want {
				t.Errorf("sealed length = %d, want %d", len(sealed), want)
			}
			if sealed[0] != formatV1 {
				t.Errorf("version byte = %#x, want %#x", sealed[0], formatV1)
			}
			if len(tc.plaintext) >= 8 && bytes.Contains(sealed, tc.plaintext[:8]) {
				t.Error("sealed blob contains plaintext")
			}
			got, err := k.Open(sealed, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open = %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestOpenFailures(t *testing.T) {
	t.Parallel()
	k := newTestKeyring(t, 1)
	other := newTestKeyring(t, 2)
	aad := []byte("kms/key\x00k1")
	sealed, err := k.Seal([]byte("top secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(sealed)) }
	tests := []struct {
		name   string
		keys   *Keyring
		sealed []byte
		aad    []byte
	}{
		{"wrong aad", k, sealed, []byte("kms/key\x00k2")},
		{"aad moved between kind and id", k, sealed, []byte("kms/key\x00\x00k1")},
		{"missing aad", k, sealed, nil},
		{"wrong key", other, sealed, aad},
		{"flipped ciphertext bit", k, mutate(func(b []byte) []byte { b[headerSize] ^= 1; return b }), aad},
		{"flipped tag bit", k, mutate(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), aad},
		{"flipped nonce bit", k, mutate(func(b []byte) []byte { b[1+keyIDSize] ^= 1; return b }), aad},
		{"unknown version", k, mutate(func(b []byte) []byte { b[0] = 2; return b }), aad},
		{"unknown key id", k, mutate(func(b []byte) []byte { b[1] ^= 1; return b }), aad},
		{"truncated", k, sealed[:len(sealed)-1], aad},
		{"header only", k, sealed[:headerSize], aad},
		{"empty", k, nil, aad},
		{"appended byte", k, append(bytes.Clone(sealed), 0), aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.keys.Open(tc.sealed, tc.aad)
			if !errors.Is(err, ErrOpen) || err != ErrOpen {
				t.Fatalf("Open error = %v, want exactly ErrOpen", err)
			}
			if got != nil {
				t.Errorf("Open returned %q alongside an error", got)
			}
		})
	}
}

// TestEveryByteAuthenticated flips each byte of a sealed blob in turn: no
// position may be changeable without Open noticing.
func TestEveryByteAuthenticated(t *testing.T) {
	t.Parallel()
	k := newTestKeyring(t, 1)
	sealed, err := k.Seal([]byte("hello"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0xff
		if _, err := k.Open(b, []byte("aad")); err != ErrOpen {
			t.Errorf("byte %d flipped: Open error = %v, want ErrOpen", i, err)
		}
	}
}

func TestNonceUniqueness(t *testing.T) {
	t.Parallel()
	k := newTestKeyring(t, 1)
	const n = 10000
	seen := make(map[string]bool, n)
	for i := range n {
		sealed, err := k.Seal([]byte("same plaintext"), nil)
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(sealed[1+keyIDSize : headerSize])
		if seen[nonce] {
			t.Fatalf("nonce repeated after %d seals", i)
		}
		seen[nonce] = true
	}
}

func TestInjectedRandIsUsedForNonces(t *testing.T) {
	t.Parallel()
	fixed := bytes.Repeat([]byte{0xAB}, nonceSize)
	k, err := NewKeyring(testKey(1), bytes.NewReader(fixed))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sealed[1+keyIDSize : headerSize]; !bytes.Equal(got, fixed) {
		t.Errorf("nonce = %x, want %x from the injected reader", got, fixed)
	}
	// The reader is now exhausted: Seal must fail rather than reuse a nonce.
	if _, err := k.Seal([]byte("x"), nil); !errors.Is(err, io.EOF) {
		t.Errorf("Seal with exhausted rand: error = %v, want io.EOF", err)
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	a1, a2, b := newTestKeyring(t, 1), newTestKeyring(t, 1), newTestKeyring(t, 2)
	if a1.current != a2.current {
		t.Error("same master key gave different key ids")
	}
	if a1.current == b.current {
		t.Error("different master keys gave the same key id")
	}
	sealed, _ := a1.Seal(nil, nil)
	if got := fmt.Sprintf("%x", sealed[1:1+keyIDSize]); got != fmt.Sprintf("%08x", a1.current) {
		t.Errorf("key id in blob = %s, want %08x", got, a1.current)
	}
	// A second keyring from the same master opens the first one's blobs:
	// what a restart relies on.
	if _, err := a2.Open(sealed, nil); err != nil {
		t.Errorf("keyring from same master cannot open: %v", err)
	}
}

func TestNewKeyringLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		t.Run(fmt.Sprint(n, " bytes"), func(t *testing.T) {
			if _, err := NewKeyring(make([]byte, n), nil); err == nil {
				t.Errorf("NewKeyring accepted a %d-byte master key", n)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	k := newTestKeyring(b, 1)
	pt := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal(pt, []byte("kms/key\x00id")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := newTestKeyring(b, 1)
	sealed, _ := k.Seal(make([]byte, 256), []byte("kms/key\x00id"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(sealed, []byte("kms/key\x00id")); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleKeyring() {
	master := make([]byte, MasterKeySize) // in real use: KeyFromBase64(os.Getenv("BULWARK_MASTER_KEY"))
	k, err := NewKeyring(master, nil)
	if err != nil {
		panic(err)
	}
	aad := []byte("secrets/secret\x00prod/db")
	sealed, _ := k.Seal([]byte("hunter2"), aad)
	plain, _ := k.Open(sealed, aad)
	_, err = k.Open(sealed, []byte("secrets/secret\x00other"))
	fmt.Println(string(plain), err)
	// Output: hunter2 seal: cannot open sealed data
}
