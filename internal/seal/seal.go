package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// Keyring is a [Sealer] using AES-256-GCM with keys derived from a master key.
// It is safe for concurrent use.
//
// Nonces are 96 random bits, so one key should seal fewer than 2^32 blobs
// (NIST SP 800-38D); far more than Bulwark's secrets will ever number.
type Keyring struct {
	rand    io.Reader
	current uint32
	// keys holds every key the keyring can open with, by key id. Today it
	// has one; a rotation adds the new key as current and keeps old ones.
	keys map[uint32]cipher.AEAD
}

// NewKeyring returns a Keyring whose only key is derived from master, which
// must be [MasterKeySize] bytes. rand supplies nonces; nil means crypto/rand.
// A rand that repeats values breaks GCM completely: inject one only in tests.
func NewKeyring(master []byte, rand io.Reader) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("seal: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	id, aead, err := deriveKey(master)
	if err != nil {
		return nil, err
	}
	if rand == nil {
		rand = cryptoRand{}
	}
	return &Keyring{rand: rand, current: id, keys: map[uint32]cipher.AEAD{id: aead}}, nil
}

// deriveKey derives the AES-GCM cipher and the key id from a master key.
func deriveKey(master []byte) (uint32, cipher.AEAD, error) {
	aesKey, err := hkdf.Key(sha256.New, master, nil, infoSealKey, 32)
	if err != nil {
		return 0, nil, fmt.Errorf("seal: derive key: %w", err)
	}
	idMaterial, err := hkdf.Key(sha256.New, master, nil, infoKeyID, 32)
	if err != nil {
		return 0, nil, fmt.Errorf("seal: derive key id: %w", err)
	}
	sum := sha256.Sum256(idMaterial)
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return 0, nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return 0, nil, fmt.Errorf("seal: %w", err)
	}
	return binary.BigEndian.Uint32(sum[:keyIDSize]), aead, nil
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
