package seal

import (
	"bytes"
	"errors"
	"testing"
)

// TestRotation walks the keyrings of a master key rotation: old only, new
// current with old previous, new only.
func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(1), testKey(2)
	oldOnly := newTestKeyring(t, 1)
	rotating, err := NewKeyring(newKey, nil, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	newOnly := newTestKeyring(t, 2)
	aad := []byte("secrets/version\x00v1")
	underOld, _ := oldOnly.Seal([]byte("before"), aad)
	underNew, _ := rotating.Seal([]byte("during"), aad)

	tests := []struct {
		name   string
		k      *Keyring
		sealed []byte
		want   string // "" means Open must fail
	}{
		{"rotating keyring opens a blob of the previous key", rotating, underOld, "before"},
		{"rotating keyring opens its own", rotating, underNew, "during"},
		{"old servers cannot open blobs of the new key", oldOnly, underNew, ""},
		{"after rotation the new key alone opens new blobs", newOnly, underNew, "during"},
		{"after rotation old blobs are unreadable", newOnly, underOld, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.k.Open(tc.sealed, aad)
			if tc.want == "" {
				if !errors.Is(err, ErrOpen) {
					t.Fatalf("Open = %q, %v; want ErrOpen", pt, err)
				}
				return
			}
			if err != nil || string(pt) != tc.want {
				t.Fatalf("Open = %q, %v; want %q", pt, err, tc.want)
			}
		})
	}

	// The rotating keyring seals under the new key only.
	id, ok := SealedKeyID(underNew)
	newID, _ := MasterKeyID(newKey)
	oldID, _ := MasterKeyID(oldKey)
	if !ok || id != newID || rotating.KeyID() != newID {
		t.Errorf("blob key id %08x (ok %v), keyring current %08x; want the new key's %08x", id, ok, rotating.KeyID(), newID)
	}
	if got := rotating.KeyIDs(); len(got) != 2 || got[0] != newID || got[1] != oldID {
		t.Errorf("KeyIDs = %08x, want [%08x %08x]", got, newID, oldID)
	}
}

func TestNewKeyringPrevious(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		previous [][]byte
		wantErr  bool
		wantKeys int
	}{
		{"none", nil, false, 1},
		{"one", [][]byte{testKey(2)}, false, 2},
		{"two", [][]byte{testKey(2), testKey(3)}, false, 3},
		{"current repeated as previous", [][]byte{testKey(1)}, false, 1},
		{"previous repeated", [][]byte{testKey(2), testKey(2)}, false, 2},
		{"short previous key", [][]byte{bytes.Repeat([]byte{2}, 16)}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKeyring(testKey(1), nil, tc.previous...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && len(k.KeyIDs()) != tc.wantKeys {
				t.Errorf("%d keys, want %d", len(k.KeyIDs()), tc.wantKeys)
			}
		})
	}
}

func TestSealedKeyID(t *testing.T) {
	t.Parallel()
	k := newTestKeyring(t, 1)
	good, _ := k.Seal([]byte("x"), nil)
	tests := []struct {
		name   string
		sealed []byte
		ok     bool
	}{
		{"sealed blob", good, true},
		{"empty", nil, false},
		{"truncated", good[:headerSize], false},
		{"unknown format", append([]byte{0x02}, good[1:]...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := SealedKeyID(tc.sealed)
			if ok != tc.ok || (ok && id != k.KeyID()) {
				t.Errorf("SealedKeyID = %08x, %v; want ok %v (id %08x)", id, ok, tc.ok, k.KeyID())
			}
		})
	}
}
