package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// MasterKeySize is the length in bytes of a master key.
const MasterKeySize = 32

const (
	formatV1  = 0x01
	keyIDSize = 4
	nonceSize = 12
	tagSize   = 16
	// headerSize is the part of a sealed blob before the ciphertext.
	headerSize = 1 + keyIDSize + nonceSize

	// The HKDF info strings separate the derived keys by purpose: the AES key
	// and the key-id material must never be the same bytes, and a future
	// format version must not reuse a v1 key.
	infoSealKey = "bulwark seal v1"
	infoKeyID   = "bulwark seal key id v1"
	infoTagKey  = "bulwark record tag v1"

	tagFormatV1 = 0x01
	// TagSize is the length in bytes of every tag [Keyring.Authenticate]
	// makes: format byte, key id, HMAC-SHA256.
	TagSize = 1 + keyIDSize + sha256.Size
)

// ErrOpen is returned by [Sealer.Open] for every failure: wrong key, tampered
// or truncated data, wrong additional data, unknown format. It deliberately
// carries no detail, so an attacker probing with altered blobs learns nothing
// about why one was refused.
var ErrOpen = errors.New("seal: cannot open sealed data")

// Sealer seals small secrets with authenticated encryption.
type Sealer interface {
	// Seal encrypts and authenticates plaintext, binding it to aad
	// (additional authenticated data, not stored in the result). The result
	// is safe to store where anyone may read it.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open reverses Seal. It needs the same aad; any failure is ErrOpen.
	Open(sealed, aad []byte) ([]byte, error)
}

// ErrAuthenticate is returned by [Authenticator.Verify] for every failure:
// wrong or unknown key, altered message, malformed tag. Like [ErrOpen] it
// carries no detail.
var ErrAuthenticate = errors.New("seal: authentication tag does not verify")

// Authenticator makes and checks authentication tags (MACs) over messages
// that are stored in the clear but must not be altered, such as the
// non-secret part of every stored record.
type Authenticator interface {
	// Authenticate returns a [TagSize]-byte tag over msg under the current
	// key. The tag names the key, so [Authenticator.Verify] still accepts
	// it while that key is kept as a previous key.
	Authenticate(msg []byte) []byte
	// Verify checks a tag made by Authenticate; any failure is
	// ErrAuthenticate.
	Verify(tag, msg []byte) error
}

// Keyring is a [Sealer] and an [Authenticator] using AES-256-GCM with keys derived from a master key.
// It is safe for concurrent use.
//
// A keyring has one current key, which seals, and any number of previous
// keys, which only open: that is what lets the master key be rotated
// without downtime (every server first learns the new key as current and
// keeps the old one as previous, then the stored secrets are re-sealed, then
// the old key is dropped; see docs/operations.md).
//
// Nonces are 96 random bits, so one key should seal fewer than 2^32 blobs
// (NIST SP 800-38D); far more than Bulwark's secrets will ever number.
type Keyring struct {
	rand    io.Reader
	current uint32
	// keys holds every key the keyring can open with, by key id: the
	// current one and the previous ones.
	keys map[uint32]cipher.AEAD
	// tagKeys holds the HMAC keys, derived from the same master keys under
	// another HKDF label and named by the same key ids.
	tagKeys map[uint32][]byte
}

// NewKeyring returns a Keyring whose current key is derived from master and
// which also opens blobs sealed under each of previous (retired master keys
// during a rotation). Every key must be [MasterKeySize] bytes. A previous
// key equal to master is ignored. rand supplies nonces; nil means
// crypto/rand. A rand that repeats values breaks GCM completely: inject one
// only in tests.
func NewKeyring(master []byte, rand io.Reader, previous ...[]byte) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("seal: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	id, aead, tagKey, err := deriveKey(master)
	if err != nil {
		return nil, err
	}
	if rand == nil {
		rand = cryptoRand{}
	}
	k := &Keyring{rand: rand, current: id, keys: map[uint32]cipher.AEAD{id: aead}, tagKeys: map[uint32][]byte{id: tagKey}}
	seen := map[uint32][]byte{id: master}
	for i, p := range previous {
		if len(p) != MasterKeySize {
			return nil, fmt.Errorf("seal: previous master key %d is %d bytes, want %d", i+1, len(p), MasterKeySize)
		}
		pid, paead, ptagKey, err := deriveKey(p)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[pid]; dup {
			if subtle.ConstantTimeCompare(other, p) == 1 {
				continue // the same key given twice: harmless
			}
			// Two different keys with one 4-byte id: odds of 2^-32 per pair,
			// but the blobs could not say which key sealed them.
			return nil, fmt.Errorf("seal: previous master key %d has the same key id as another key; generate a new master key", i+1)
		}
		seen[pid] = p
		k.keys[pid] = paead
		k.tagKeys[pid] = ptagKey
	}
	return k, nil
}

// KeyID returns the id of the current key: the one [Keyring.Seal] writes
// into every blob it makes.
func (k *Keyring) KeyID() uint32 { return k.current }

// KeyIDs returns the ids of every key the keyring opens with, current first.
func (k *Keyring) KeyIDs() []uint32 {
	ids := []uint32{k.current}
	for id := range k.keys {
		if id != k.current {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids[1:])
	return ids
}

// MasterKeyID returns the key id that blobs sealed under master carry, so an
// operator (or a test) can tell which stored blobs a given key sealed
// without opening them.
func MasterKeyID(master []byte) (uint32, error) {
	if len(master) != MasterKeySize {
		return 0, fmt.Errorf("seal: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	id, _, _, err := deriveKey(master)
	return id, err
}

// SealedKeyID returns the key id recorded in a sealed blob's header; ok is
// false when sealed is not a blob of a known format. The id is
// authenticated only when the blob is opened: use it to decide what to
// re-seal, never to trust a blob.
func SealedKeyID(sealed []byte) (id uint32, ok bool) {
	if len(sealed) < headerSize+tagSize || sealed[0] != formatV1 {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:]), true
}

// deriveKey derives the AES-GCM cipher, the HMAC key and the key id from a
// master key, each under its own HKDF label.
func deriveKey(master []byte) (uint32, cipher.AEAD, []byte, error) {
	aesKey, err := hkdf.Key(sha256.New, master, nil, infoSealKey, 32)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("seal: derive key: %w", err)
	}
	idMaterial, err := hkdf.Key(sha256.New, master, nil, infoKeyID, 32)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("seal: derive key id: %w", err)
	}
	tagKey, err := hkdf.Key(sha256.New, master, nil, infoTagKey, 32)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("seal: derive tag key: %w", err)
	}
	sum := sha256.Sum256(idMaterial)
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("seal: %w", err)
	}
	return binary.BigEndian.Uint32(sum[:keyIDSize]), aead, tagKey, nil
}

// Authenticate implements [Authenticator]: HMAC-SHA256 under the current
// key's tag key, over the format byte, the key id and msg.
func (k *Keyring) Authenticate(msg []byte) []byte {
	out := make([]byte, 1+keyIDSize, TagSize)
	out[0] = tagFormatV1
	binary.BigEndian.PutUint32(out[1:], k.current)
	return appendMAC(out, k.tagKeys[k.current], msg)
}

// Verify implements [Authenticator]. The comparison is constant-time.
func (k *Keyring) Verify(tag, msg []byte) error {
	if len(tag) != TagSize || tag[0] != tagFormatV1 {
		return ErrAuthenticate
	}
	key, ok := k.tagKeys[binary.BigEndian.Uint32(tag[1:])]
	if !ok {
		return ErrAuthenticate
	}
	want := appendMAC(slices.Clone(tag[:1+keyIDSize]), key, msg)
	if !hmac.Equal(want, tag) {
		return ErrAuthenticate
	}
	return nil
}

// TagKeyID returns the key id a tag names; ok is false when tag is not a
// tag of a known format. Like [SealedKeyID], the id is only trusted once
// the tag verifies: use it to decide what to re-authenticate or to say
// which key is missing.
func TagKeyID(tag []byte) (id uint32, ok bool) {
	if len(tag) != TagSize || tag[0] != tagFormatV1 {
		return 0, false
	}
	return binary.BigEndian.Uint32(tag[1:]), true
}

// appendMAC appends HMAC-SHA256(key, header || msg) to header, so the
// format and key id are authenticated with the message.
func appendMAC(header, key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(header)
	m.Write(msg)
	return m.Sum(header)
}

// Seal implements [Sealer].
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:], k.current)
	if _, err := io.ReadFull(k.rand, out[1+keyIDSize:headerSize]); err != nil {
		return nil, fmt.Errorf("seal: read nonce: %w", err)
	}
	nonce := out[1+keyIDSize : headerSize]
	return k.keys[k.current].Seal(out, nonce, plaintext, fullAAD(out[:1+keyIDSize], aad)), nil
}

// Open implements [Sealer].
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerSize+tagSize || sealed[0] != formatV1 {
		return nil, ErrOpen
	}
	aead, ok := k.keys[binary.BigEndian.Uint32(sealed[1:])]
	if !ok {
		return nil, ErrOpen
	}
	nonce := sealed[1+keyIDSize : headerSize]
	pt, err := aead.Open(nil, nonce, sealed[headerSize:], fullAAD(sealed[:1+keyIDSize], aad))
	if err != nil {
		return nil, ErrOpen
	}
	if pt == nil {
		// Keep "sealed an empty secret" distinct from "no secret" for callers.
		pt = []byte{}
	}
	return pt, nil
}

// fullAAD authenticates the format version and key id along with the
// caller's data, so a blob cannot be relabelled to another version or key.
func fullAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

// cryptoRand reads from crypto/rand.Read, which never fails on supported
// platforms (and crashes the program rather than return weak randomness).
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
