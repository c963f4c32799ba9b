// Package ids makes the random identifiers AWS APIs use: version-4 UUIDs
// for key ids, certificate and CA ids, secret version ids, event ids and
// request ids, drawn from an injected source so tests can fix them.
package ids

import (
	"encoding/hex"
	"fmt"
	"io"
)

// UUID returns a random version-4 UUID read from r.
func UUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("ids: random source: %w", err)
	}
	return FormatUUID(b), nil
}

// FormatUUID sets the version-4 and variant bits of 16 random bytes and
// writes them in the 8-4-4-4-12 form.
func FormatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
