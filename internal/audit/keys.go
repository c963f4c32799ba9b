package audit

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"time"
)

// HKDF info strings: each derived key has its own, so no key is ever used
// for two purposes, and a key derived here is useless for sealing.
const (
	macInfo    = "bulwark audit chain HMAC-SHA256 v1"
	signerInfo = "bulwark audit checkpoint Ed25519 v1"
)

// Keys authenticate a log. They are derived from the server's master key, so
// whoever can read the log file but not the master key cannot forge a line
// that verifies.
type Keys struct {
	// MAC keys each line's eventHmac (HMAC-SHA256).
	MAC []byte
	// Signer signs checkpoint lines (Ed25519); its public half lets
	// anyone check them without being able to forge them.
	Signer ed25519.PrivateKey
}

// DeriveKeys derives a log's keys from a 32-byte master key with HKDF-SHA256.
func DeriveKeys(master []byte) (*Keys, error) {
	if len(master) != 32 {
		return nil, errors.New("audit: the master key must be 32 bytes")
	}
	mac, err := hkdf.Key(sha256.New, master, nil, macInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("audit: derive keys: %w", err)
	}
	seed, err := hkdf.Key(sha256.New, master, nil, signerInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("audit: derive keys: %w", err)
	}
	return &Keys{MAC: mac, Signer: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey returns the key that verifies checkpoint signatures.
func (k *Keys) PublicKey() ed25519.PublicKey {
	return k.Signer.Public().(ed25519.PublicKey)
}

// MarshalPublicKeyPEM encodes a checkpoint public key as a PEM "PUBLIC KEY"
// (PKIX), the form `bulwark audit public-key` prints and `audit verify
// --public-key` reads.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM reads every PEM "PUBLIC KEY" block of b, each of which
// must be an Ed25519 key.
func ParsePublicKeyPEM(b []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("audit: public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("audit: public key: not an Ed25519 key")
		}
		keys = append(keys, ek)
	}
	if len(keys) == 0 {
		return nil, errors.New("audit: no PEM PUBLIC KEY block found")
	}
	return keys, nil
}

// Checkpoint reasons.
const (
	// CheckpointStart is written when a log is opened, signing whatever the
	// file held (including lines a crash left unsigned).
	CheckpointStart = "start"
	// CheckpointInterval is written every Options.CheckpointInterval while
	// lines were added.
	CheckpointInterval = "interval"
	// CheckpointRotate ends a file that is rotated away; the next file
	// begins with a CheckpointStart chained to it.
	CheckpointRotate = "rotate"
	// CheckpointClose ends a log closed cleanly.
	CheckpointClose = "close"
	// CheckpointRequested is written by Log.Checkpoint.
	CheckpointRequested = "requested"
)

// EventTypeCheckpoint is the eventType of checkpoint lines, which the log
// writes itself: they are not API calls.
const EventTypeCheckpoint = "BulwarkAuditCheckpoint"

// Checkpoint is the checkpoint member of a checkpoint line: a signature over
// the chain head before it, in the manner of CloudTrail's digest files but
// inside the log, so it travels with the lines it covers.
type Checkpoint struct {
	// Reason is one of the Checkpoint* reasons.
	Reason string `json:"reason"`
	// PublicKey is the base64 Ed25519 key that made Signature. A verifier
	// never trusts it: it only names which of the keys it was given to use.
	PublicKey string `json:"publicKey,omitempty"`
	// Signature is the base64 Ed25519 signature of checkpointMessage; empty
	// in a log written without keys.
	Signature string `json:"signature,omitempty"`
}

// checkpointMessage is what a checkpoint signs: the eventHash of the line
// before it (which covers every earlier line), its time and its reason.
func checkpointMessage(prev []byte, t time.Time, reason string) []byte {
	m := make([]byte, 0, 128)
	m = append(m, "bulwark audit checkpoint v1\x00"...)
	m = append(m, prev...)
	m = append(m, 0)
	m = t.UTC().AppendFormat(m, time.RFC3339)
	m = append(m, 0)
	m = append(m, reason...)
	return m
}

// newMAC returns the line MAC hasher for key.
func newMAC(key []byte) hash.Hash { return hmac.New(sha256.New, key) }

// verifyCheckpoint checks cp against the chain head before it and the
// given public keys; it returns a reason when it fails.
func verifyCheckpoint(cp *Checkpoint, prev []byte, t time.Time, pubs []ed25519.PublicKey) string {
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "checkpoint signature is not a base64 Ed25519 signature"
	}
	msg := checkpointMessage(prev, t, cp.Reason)
	for _, p := range pubs {
		if ed25519.Verify(p, msg, sig) {
			return ""
		}
	}
	return "checkpoint signature does not verify with the given keys (forged or rewritten log, or the wrong key)"
}
