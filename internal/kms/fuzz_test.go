package kms

import (
	"bytes"
	"testing"
)

// FuzzParseBlob feeds arbitrary bytes to the ciphertext-blob parser: it
// must never panic, and whatever it accepts must re-encode to the same
// header and keep every part inside the input.
func FuzzParseBlob(f *testing.F) {
	good := append(blobHeader("1234abcd-12ab-34cd-56ef-1234567890ab", 3, 0), make([]byte, nonceSize+tagSize+5)...)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 255, 'a'})
	f.Add(good[:len(good)-6])
	f.Add(append([]byte{2}, good[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseBlob(b)
		if err != nil {
			return
		}
		if got := blobHeader(p.keyID, p.matVersion, 0); !bytes.Equal(got, p.header) {
			t.Fatalf("header %x re-encodes to %x", p.header, got)
		}
		if len(p.nonce) != nonceSize || len(p.sealed) < tagSize {
			t.Fatalf("nonce %d bytes, sealed %d bytes", len(p.nonce), len(p.sealed))
		}
		if len(p.header)+len(p.nonce)+len(p.sealed) != len(b) {
			t.Fatal("parts do not cover the input")
		}
	})
}

func TestParseBlob(t *testing.T) {
	t.Parallel()
	id := "1234abcd-12ab-34cd-56ef-1234567890ab"
	good := append(blobHeader(id, 7, 0), make([]byte, nonceSize+tagSize)...)
	tests := []struct {
		name    string
		blob    []byte
		wantErr bool
	}{
		{"minimal valid", good, false},
		{"empty", nil, true},
		{"wrong version", append([]byte{9}, good[1:]...), true},
		{"zero-length id", append([]byte{1, 0}, good[2:]...), true},
		{"id longer than the limit", append([]byte{1, 65}, bytes.Repeat([]byte{'a'}, 100)...), true},
		{"truncated tag", good[:len(good)-1], true},
		{"id with a slash", append(blobHeader("ab/cd", 0, 0), make([]byte, nonceSize+tagSize)...), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseBlob(tc.blob)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseBlob err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (p.keyID != id || p.matVersion != 7) {
				t.Errorf("parsed %q v%d", p.keyID, p.matVersion)
			}
		})
	}
}

func TestAppendContextCanonical(t *testing.T) {
	t.Parallel()
	a := appendContext(nil, map[string]string{"b": "2", "a": "1"})
	b := appendContext(nil, map[string]string{"a": "1", "b": "2"})
	if !bytes.Equal(a, b) {
		t.Error("encoding depends on map order")
	}
	// Length prefixes keep ("ab","c") and ("a","bc") apart.
	if bytes.Equal(appendContext(nil, map[string]string{"ab": "c"}), appendContext(nil, map[string]string{"a": "bc"})) {
		t.Error("ambiguous encoding")
	}
	if len(appendContext(nil, nil)) != 0 || len(appendContext(nil, map[string]string{})) != 0 {
		t.Error("empty context must encode to nothing")
	}
}
