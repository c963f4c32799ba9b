package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	oldK := newTestKeyring(t, 1)
	rotating, err := NewKeyring(testKey(2), nil, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	newK := newTestKeyring(t, 2)
	msg := []byte("kms/key\x00k1\x00{\"KeyState\":\"Disabled\"}")
	underOld, underNew := oldK.Authenticate(msg), rotating.Authenticate(msg)
	if len(underOld) != TagSize || len(underNew) != TagSize {
		t.Fatalf("tag sizes %d, %d; want %d", len(underOld), len(underNew), TagSize)
	}
	if id, ok := TagKeyID(underNew); !ok || id != rotating.KeyID() {
		t.Errorf("TagKeyID = %08x %v, want the current key %08x", id, ok, rotating.KeyID())
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	tests := []struct {
		name string
		k    *Keyring
		tag  []byte
		msg  []byte
		ok   bool
	}{
		{"own tag", oldK, underOld, msg, true},
		{"rotating keyring verifies the previous key's tag", rotating, underOld, msg, true},
		{"rotating keyring verifies its own", rotating, underNew, msg, true},
		{"old keyring cannot verify the new key's tag", oldK, underNew, msg, false},
		{"after rotation old tags fail", newK, underOld, msg, false},
		{"altered message", oldK, underOld, flip(msg, 10), false},
		{"truncated message", oldK, underOld, msg[:len(msg)-1], false},
		{"extended message", oldK, underOld, append(bytes.Clone(msg), 0), false},
		{"empty tag", oldK, nil, msg, false},
		{"truncated tag", oldK, underOld[:TagSize-1], msg, false},
		{"extended tag", oldK, append(bytes.Clone(underOld), 0), msg, false},
		{"unknown format", oldK, flip(underOld, 0), msg, false},
		{"relabelled key id", rotating, append(append([]byte{tagFormatV1}, underNew[1:5]...), underOld[5:]...), msg, false},
	}
	for i := range TagSize {
		tests = append(tests, struct {
			name string
			k    *Keyring
			tag  []byte
			msg  []byte
			ok   bool
		}{"flipped tag byte", oldK, flip(underOld, i), msg, false})
	}
	for _, tc := range tests {
		err := tc.k.Verify(tc.tag, tc.msg)
		if tc.ok && err != nil {
			t.Errorf("%s: Verify = %v, want nil", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrAuthenticate) {
			t.Errorf("%s: Verify = %v, want ErrAuthenticate", tc.name, err)
		}
	}
}

// TestTagKeyIndependent: the tag key is not the sealing key nor the key-id
// material, so a tag reveals nothing usable against sealed blobs.
func TestTagKeyIndependent(t *testing.T) {
	t.Parallel()
	k := newTestKeyring(t, 3)
	other := newTestKeyring(t, 4)
	msg := []byte("m")
	if bytes.Equal(k.Authenticate(msg), other.Authenticate(msg)) {
		t.Fatal("two master keys give the same tag")
	}
	if !bytes.Equal(k.Authenticate(msg), k.Authenticate(msg)) {
		t.Fatal("tags are not deterministic")
	}
	_, _, tagKey, err := deriveKey(testKey(3))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(tagKey, testKey(3)) {
		t.Fatal("the master key itself keys the MAC")
	}
}

func FuzzVerify(f *testing.F) {
	k := newTestKeyring(f, 5)
	f.Add(k.Authenticate([]byte("x")), []byte("x"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, tag, msg []byte) {
		err := k.Verify(tag, msg)
		if err == nil && !bytes.Equal(tag, k.Authenticate(msg)) {
			t.Fatalf("accepted a tag that is not the keyring's")
		}
	})
}
