package token

import (
	"context"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Encrypter turns one field value into one token. It holds only public
// material, so the edge can run it without access to the KMS private keys.
// Implementations must be safe for concurrent use.
type Encrypter interface {
	// KeyID is the marker id written into every token.
	KeyID() string
	// Format is the token format produced.
	Format() Format
	// MaxPlaintext is the largest plaintext accepted, 0 meaning unlimited.
	MaxPlaintext() int
	// Encrypt returns the token text. path names the field the value came
	// from; formats that bind it (HPKE) make the token fail to open anywhere
	// else, formats that cannot (RSA) ignore it.
	Encrypt(plaintext []byte, path string) (string, error)
}

// Opened is the result of decrypting a token.
type Opened struct {
	Plaintext []byte
	// Path is the field path the token was bound to (HPKE); empty for RSA.
	Path string
}

// Decrypter opens tokens. The KMS-backed implementation lives with the
// unprotect command (see Funcs); LocalKeys serves tests and offline use.
// Implementations must be safe for concurrent use.
type Decrypter interface {
	Decrypt(ctx context.Context, t Token) (Opened, error)
}

// BatchDecrypter is a Decrypter that can also open many tokens in one
// call, for decrypters whose cost is per call rather than per token (a
// KMS round trip: signing, authorisation, audit). Unprotector uses it,
// when its Decrypter has it, for every format Batches accepts, and
// Decrypt for the others. Implementations must be safe for concurrent use.
type BatchDecrypter interface {
	Decrypter
	// Batches reports whether tokens of format f are worth batching; a
	// format whose cipher dominates the call (RSA) is better opened one
	// token per call, many calls in flight.
	Batches(f Format) bool
	// DecryptBatch opens toks (Unprotector passes tokens of one key id and
	// one batched format) and returns one Opened and one error per token,
	// in order: errs[i] non-nil means toks[i] did not open. A failure of
	// the whole call (access denied, say) is that error in every slot.
	DecryptBatch(ctx context.Context, toks []Token) (res []Opened, errs []error)
}

// ErrUnknownKey is returned (wrapped) when a Decrypter has no key for a
// token's key id and format.
var ErrUnknownKey = errors.New("fle/token: unknown key id")

// PlaintextTooLargeError reports a value longer than the format allows. The
// value is never truncated.
type PlaintextTooLargeError struct {
	KeyID    string
	Len, Max int
}

// Error implements the error interface.
func (e *PlaintextTooLargeError) Error() string {
	return fmt.Sprintf("fle/token: plaintext of %d bytes exceeds the %d-byte limit of key %q", e.Len, e.Max, e.KeyID)
}

// RSAEncrypter produces FormatRSA tokens, compatible with the seed's
// Lambda@Edge code and with KMS Decrypt (RSAES_OAEP_SHA_256).
type RSAEncrypter struct {
	id   string
	pub  *rsa.PublicKey
	rand io.Reader
}

// NewRSAEncrypter returns an Encrypter for pub under marker id keyID. rnd
// nil means crypto/rand.Reader.
func NewRSAEncrypter(keyID string, pub *rsa.PublicKey, rnd io.Reader) (*RSAEncrypter, error) {
	if !ValidKeyID(keyID) {
		return nil, fmt.Errorf("fle/token: invalid key id %q", keyID)
	}
	if pub == nil || pub.Size() < 2*sha256.Size+2+1 {
		return nil, errors.New("fle/token: RSA key too small for OAEP-SHA256")
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return &RSAEncrypter{id: keyID, pub: pub, rand: rnd}, nil
}

// KeyID implements Encrypter.
func (e *RSAEncrypter) KeyID() string { return e.id }

// Format implements Encrypter.
func (e *RSAEncrypter) Format() Format { return FormatRSA }

// MaxPlaintext implements Encrypter: k - 2*32 - 2, 190 bytes for RSA-2048.
func (e *RSAEncrypter) MaxPlaintext() int { return e.pub.Size() - 2*sha256.Size - 2 }

// Encrypt implements Encrypter; path is not bound (the seed's format has
// nowhere to carry it).
func (e *RSAEncrypter) Encrypt(plaintext []byte, _ string) (string, error) {
	if max := e.MaxPlaintext(); len(plaintext) > max {
		return "", &PlaintextTooLargeError{KeyID: e.id, Len: len(plaintext), Max: max}
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), e.rand, e.pub, plaintext, nil)
	if err != nil {
		return "", fmt.Errorf("fle/token: rsa encrypt: %w", err)
	}
	return Token{Format: FormatRSA, KeyID: e.id, Payload: ct}.String(), nil
}

// hpkeVersion is the first byte of every HPKE envelope.
const hpkeVersion = 1

// infoLabel starts every HPKE info string, separating our use of a key from
// any other protocol that might share it.
const infoLabel = "bulwark-fle-hpke-v1"

// HPKEEnvelope is the decoded payload of a FormatHPKE token:
//
//	version(1)=1 | kem(2) | kdf(2) | aead(2) | pathLen(2) | path | enc || ct
//
// Header (everything before enc) is bound into info with the key id, so
// changing the path, the suite or the key id makes Open fail.
type HPKEEnvelope struct {
	KEM, KDF, AEAD uint16
	Path           string
	Header         []byte
	// Sealed is the encapsulated key followed by the AEAD ciphertext, the
	// form crypto/hpke.Open takes.
	Sealed []byte
}

// ParseHPKEEnvelope splits a FormatHPKE payload.
func ParseHPKEEnvelope(p []byte) (HPKEEnvelope, error) {
	if len(p) < 9 || p[0] != hpkeVersion {
		return HPKEEnvelope{}, fmt.Errorf("%w: bad HPKE envelope header", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(p[7:9]))
	if len(p) < 9+n {
		return HPKEEnvelope{}, fmt.Errorf("%w: truncated HPKE envelope", ErrMalformed)
	}
	return HPKEEnvelope{
		KEM:    binary.BigEndian.Uint16(p[1:3]),
		KDF:    binary.BigEndian.Uint16(p[3:5]),
		AEAD:   binary.BigEndian.Uint16(p[5:7]),
		Path:   string(p[9 : 9+n]),
		Header: p[:9+n],
		Sealed: p[9+n:],
	}, nil
}

// Info returns the HPKE info for this envelope under marker id keyID:
// label | 0 | len(keyID) | keyID | header.
func (e HPKEEnvelope) Info(keyID string) []byte {
	return hpkeInfo(keyID, e.Header)
}

func hpkeInfo(keyID string, header []byte) []byte {
	b := make([]byte, 0, len(infoLabel)+2+len(keyID)+len(header))
	b = append(b, infoLabel...)
	b = append(b, 0, byte(len(keyID)))
	b = append(b, keyID...)
	return append(b, header...)
}

// HPKEEncrypter produces FormatHPKE tokens for one recipient public key.
type HPKEEncrypter struct {
	id   string
	pub  hpke.PublicKey
	aead hpke.AEAD
}

// NewHPKEEncrypter returns an Encrypter for pub (DHKEM(X25519) or
// MLKEM768-X25519, or any KEM crypto/hpke supports) with HKDF-SHA256 and
// aead; nil aead means AES-256-GCM.
func NewHPKEEncrypter(keyID string, pub hpke.PublicKey, aead hpke.AEAD) (*HPKEEncrypter, error) {
	if !ValidKeyID(keyID) {
		return nil, fmt.Errorf("fle/token: invalid key id %q", keyID)
	}
	if pub == nil {
		return nil, errors.New("fle/token: nil HPKE public key")
	}
	if aead == nil {
		aead = hpke.AES256GCM()
	}
	return &HPKEEncrypter{id: keyID, pub: pub, aead: aead}, nil
}

// KeyID implements Encrypter.
func (e *HPKEEncrypter) KeyID() string { return e.id }

// Format implements Encrypter.
func (e *HPKEEncrypter) Format() Format { return FormatHPKE }

// MaxPlaintext implements Encrypter: HPKE has no practical limit.
func (e *HPKEEncrypter) MaxPlaintext() int { return 0 }

// Encrypt implements Encrypter, binding path and key id into info.
func (e *HPKEEncrypter) Encrypt(plaintext []byte, path string) (string, error) {
	if len(path) > 0xffff {
		return "", fmt.Errorf("fle/token: path of %d bytes too long", len(path))
	}
	kdf := hpke.HKDFSHA256()
	hdr := make([]byte, 9, 9+len(path))
	hdr[0] = hpkeVersion
	binary.BigEndian.PutUint16(hdr[1:3], e.pub.KEM().ID())
	binary.BigEndian.PutUint16(hdr[3:5], kdf.ID())
	binary.BigEndian.PutUint16(hdr[5:7], e.aead.ID())
	binary.BigEndian.PutUint16(hdr[7:9], uint16(len(path)))
	hdr = append(hdr, path...)
	sealed, err := hpke.Seal(e.pub, kdf, e.aead, hpkeInfo(e.id, hdr), plaintext)
	if err != nil {
		return "", fmt.Errorf("fle/token: hpke seal: %w", err)
	}
	p := prefixLen(e.id)
	out := make([]byte, 0, 2*p+base64.StdEncoding.EncodedLen(len(hdr)+len(sealed)))
	out = append(out, Prefix(e.id, FormatHPKE)...)
	out = base64.StdEncoding.AppendEncode(out, append(hdr, sealed...))
	out = append(out, Suffix(e.id, FormatHPKE)...)
	return string(out), nil
}

func prefixLen(id string) int { return len(id) + len(hpkeTag) + 3 }

// OpenHPKE opens a FormatHPKE payload with a local private key. It is the
// whole of what a KMS-side "open" operation has to do once it has found
// the private key for keyID.
func OpenHPKE(priv hpke.PrivateKey, keyID string, payload []byte) (Opened, error) {
	env, err := ParseHPKEEnvelope(payload)
	if err != nil {
		return Opened{}, err
	}
	if env.KEM != priv.KEM().ID() {
		return Opened{}, fmt.Errorf("fle/token: token KEM %#04x does not match key %q", env.KEM, keyID)
	}
	kdf, err := hpke.NewKDF(env.KDF)
	if err != nil {
		return Opened{}, fmt.Errorf("fle/token: %w", err)
	}
	aead, err := hpke.NewAEAD(env.AEAD)
	if err != nil {
		return Opened{}, fmt.Errorf("fle/token: %w", err)
	}
	pt, err := hpke.Open(priv, kdf, aead, env.Info(keyID), env.Sealed)
	if err != nil {
		return Opened{}, fmt.Errorf("fle/token: hpke open: %w", err)
	}
	return Opened{Plaintext: pt, Path: env.Path}, nil
}

// LocalKeys is a Decrypter over private keys held in memory, by marker id.
type LocalKeys struct {
	RSA  map[string]*rsa.PrivateKey
	HPKE map[string]hpke.PrivateKey
}

// Decrypt implements Decrypter.
func (k LocalKeys) Decrypt(_ context.Context, t Token) (Opened, error) {
	switch t.Format {
	case FormatRSA:
		priv := k.RSA[t.KeyID]
		if priv == nil {
			return Opened{}, fmt.Errorf("%w: %q (%s)", ErrUnknownKey, t.KeyID, t.Format)
		}
		pt, err := rsa.DecryptOAEP(sha256.New(), nil, priv, t.Payload, nil)
		if err != nil {
			return Opened{}, fmt.Errorf("fle/token: rsa decrypt: %w", err)
		}
		return Opened{Plaintext: pt}, nil
	case FormatHPKE:
		priv := k.HPKE[t.KeyID]
		if priv == nil {
			return Opened{}, fmt.Errorf("%w: %q (%s)", ErrUnknownKey, t.KeyID, t.Format)
		}
		return OpenHPKE(priv, t.KeyID, t.Payload)
	}
	return Opened{}, fmt.Errorf("%w: format %q", ErrMalformed, t.Format)
}

// Funcs adapts two remote operations into a Decrypter; it is how unprotect
// plugs in KMS. RSA receives the raw OAEP block (KMS Decrypt with
// RSAES_OAEP_SHA_256). HPKE receives the parsed envelope and the info to
// use (a KMS "open" call: key, env.KDF, env.AEAD, info, env.Sealed); the
// AEAD authenticates info, so a wrong info only makes the call fail. A nil
// function refuses that format with ErrUnknownKey.
type Funcs struct {
	RSA  func(ctx context.Context, keyID string, ciphertext []byte) ([]byte, error)
	HPKE func(ctx context.Context, keyID string, env HPKEEnvelope, info []byte) ([]byte, error)
}

// Decrypt implements Decrypter.
func (f Funcs) Decrypt(ctx context.Context, t Token) (Opened, error) {
	switch t.Format {
	case FormatRSA:
		if f.RSA == nil {
			return Opened{}, fmt.Errorf("%w: %q (%s)", ErrUnknownKey, t.KeyID, t.Format)
		}
		pt, err := f.RSA(ctx, t.KeyID, t.Payload)
		return Opened{Plaintext: pt}, err
	case FormatHPKE:
		if f.HPKE == nil {
			return Opened{}, fmt.Errorf("%w: %q (%s)", ErrUnknownKey, t.KeyID, t.Format)
		}
		env, err := ParseHPKEEnvelope(t.Payload)
		if err != nil {
			return Opened{}, err
		}
		pt, err := f.HPKE(ctx, t.KeyID, env, env.Info(t.KeyID))
		return Opened{Plaintext: pt, Path: env.Path}, err
	}
	return Opened{}, fmt.Errorf("%w: format %q", ErrMalformed, t.Format)
}
