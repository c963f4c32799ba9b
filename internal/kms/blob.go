package kms

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Symmetric ciphertext blob, version 1 (all integers big-endian):
//
//	offset  size  field
//	0       1     format version (1)
//	1       1     n = length of the key id (1..64)
//	2       n     key id (the UUID, ASCII)
//	2+n     4     key material version (index into the key's rotations)
//	6+n     12    AES-GCM nonce
//	18+n    ≥16   AES-256-GCM ciphertext and tag
//
// The additional authenticated data is the header (bytes 0..6+n) followed
// by the canonical encoding of the encryption context, so neither the key id
// nor the material version nor the context can be changed without the tag
// failing.
const (
	blobVersion  = 1
	maxKeyIDLen  = 64
	nonceSize    = 12
	tagSize      = 16
	blobOverhead = 2 + 4 + nonceSize + tagSize // plus the key id
)

var errBadBlob = errors.New("kms: malformed ciphertext blob")

// blob is a parsed symmetric ciphertext blob. Its slices alias the input.
type blob struct {
	keyID      string
	matVersion uint32
	header     []byte // the authenticated header
	nonce      []byte
	sealed     []byte
}

// parseBlob parses untrusted bytes; it never panics and never allocates
// more than the key id.
func parseBlob(b []byte) (*blob, error) {
	if len(b) < 2 || b[0] != blobVersion {
		return nil, errBadBlob
	}
	n := int(b[1])
	if n == 0 || n > maxKeyIDLen || len(b) < blobOverhead+n {
		return nil, errBadBlob
	}
	id := b[2 : 2+n]
	for _, c := range id {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return nil, errBadBlob
		}
	}
	hdrEnd := 6 + n
	return &blob{
		keyID:      string(id),
		matVersion: binary.BigEndian.Uint32(b[2+n : hdrEnd]),
		header:     b[:hdrEnd],
		nonce:      b[hdrEnd : hdrEnd+nonceSize],
		sealed:     b[hdrEnd+nonceSize:],
	}, nil
}

// blobHeader builds the header of a new blob, with room for the rest.
func blobHeader(keyID string, matVersion uint32, extra int) []byte {
	h := make([]byte, 0, 6+len(keyID)+extra)
	h = append(h, blobVersion, byte(len(keyID)))
	h = append(h, keyID...)
	return binary.BigEndian.AppendUint32(h, matVersion)
}

// appendContext appends the canonical encoding of an encryption context:
// its pairs sorted by key, each as uvarint length + bytes for key and value.
// An empty or nil context encodes to nothing, as AWS treats them alike.
func appendContext(dst []byte, ctx map[string]string) []byte {
	if len(ctx) == 0 {
		return dst
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		v := ctx[k]
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}
