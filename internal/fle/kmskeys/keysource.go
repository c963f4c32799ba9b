package kmskeys

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// Defaults of KeySourceOptions.
const (
	DefaultRefresh  = 5 * time.Minute
	DefaultMaxStale = time.Hour
	fetchTimeout    = 30 * time.Second
)

// KeySourceOptions configures a KeySource.
type KeySourceOptions struct {
	// Keys maps marker ids to KMS keys. Only these ids are served.
	Keys KeyMap
	// Refresh is how old a public key may get before it is fetched again in
	// the background (the old one keeps serving meanwhile); 0 means
	// DefaultRefresh.
	Refresh time.Duration
	// MaxStale is how long a key whose refreshes keep failing for network
	// reasons is still used; past it requests fail with key_unavailable. 0
	// means DefaultMaxStale. A refresh the KMS answers with an error
	// (disabled, deleted, access denied) drops the key at once.
	MaxStale time.Duration
	// AEAD for hpke tokens; nil means AES-256-GCM.
	AEAD hpke.AEAD
	// Rand feeds RSA-OAEP; nil means crypto/rand.
	Rand io.Reader
	// Clock tells the time of refresh decisions; nil means the client's
	// (Options.Clock).
	Clock clock.Clock
	// Logger receives refresh failures; nil discards them.
	Logger *slog.Logger
}

// KeySource serves token.Encrypters built from the KMS public keys named in
// its KeyMap. It implements fle.KeySource and is safe for concurrent use.
type KeySource struct {
	c   *Client
	opt KeySourceOptions

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	fetchMu    sync.Mutex // serialises synchronous fetches of this key
	enc        token.Encrypter
	fetched    time.Time
	refreshing bool
}

// KeySource returns a KeySource over this client. Call Load at start-up
// to fetch every key (and fail early on a wrong id); keys not loaded are
// fetched on first use.
func (c *Client) KeySource(opt KeySourceOptions) *KeySource {
	if opt.Refresh <= 0 {
		opt.Refresh = DefaultRefresh
	}
	if opt.MaxStale <= 0 {
		opt.MaxStale = DefaultMaxStale
	}
	if opt.Clock == nil {
		opt.Clock = c.clock
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ks := &KeySource{c: c, opt: opt, keys: map[string]*entry{}}
	for id := range opt.Keys {
		ks.keys[id] = &entry{}
	}
	return ks
}

// Load fetches every configured key now, returning the first failure.
func (k *KeySource) Load(ctx context.Context) error {
	var errs []error
	for _, id := range k.opt.Keys.Markers() {
		if _, err := k.fetchNow(ctx, id, k.keys[id]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Encrypter implements fle.KeySource.
func (k *KeySource) Encrypter(ctx context.Context, id string) (token.Encrypter, error) {
	e := k.keys[id] // the map's key set never changes after construction
	if e == nil {
		return nil, fmt.Errorf("%w: marker %q is not configured", token.ErrUnknownKey, id)
	}
	now := k.opt.Clock.Now()
	k.mu.Lock()
	enc, age := e.enc, now.Sub(e.fetched)
	if enc != nil && age >= k.opt.Refresh && age < k.opt.MaxStale && !e.refreshing {
		e.refreshing = true
		go k.refresh(id, e)
	}
	k.mu.Unlock()
	if enc != nil && age < k.opt.MaxStale {
		return enc, nil
	}
	return k.fetchNow(ctx, id, e)
}

// fetchNow fetches a key synchronously; concurrent callers wait for one
// fetch and share its result.
func (k *KeySource) fetchNow(ctx context.Context, id string, e *entry) (token.Encrypter, error) {
	e.fetchMu.Lock()
	defer e.fetchMu.Unlock()
	k.mu.Lock()
	enc, fetched := e.enc, e.fetched
	k.mu.Unlock()
	if enc != nil && k.opt.Clock.Now().Sub(fetched) < k.opt.Refresh {
		return enc, nil // another caller just fetched it
	}
	enc, err := k.fetch(ctx, id)
	k.store(id, e, enc, err)
	if err != nil {
		return nil, err
	}
	return enc, nil
}

func (k *KeySource) refresh(id string, e *entry) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	enc, err := k.fetch(ctx, id)
	k.store(id, e, enc, err)
	k.mu.Lock()
	e.refreshing = false
	k.mu.Unlock()
}

// store records a fetch result. A KMS answer that refuses the key drops
// the cached one; a transport failure keeps it until MaxStale.
func (k *KeySource) store(id string, e *entry, enc token.Encrypter, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		e.enc, e.fetched = enc, k.opt.Clock.Now()
		return
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.enc = nil
	}
	k.opt.Logger.Warn("fle: public key fetch failed", "marker", id, "key", k.opt.Keys[id], "err", err)
}

// fetch calls GetPublicKey and builds the Encrypter its KeySpec calls for.
func (k *KeySource) fetch(ctx context.Context, id string) (token.Encrypter, error) {
	keyID := k.opt.Keys[id]
	out, err := k.c.kms.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("GetPublicKey %s (marker %s): %w", keyID, id, err)
	}
	enc, err := EncrypterFor(id, out, k.opt.AEAD, k.opt.Rand)
	if err != nil {
		return nil, fmt.Errorf("key %s (marker %s): %w", keyID, id, err)
	}
	return enc, nil
}

// EncrypterFor builds the Encrypter for a GetPublicKey answer: RSA keys
// (ENCRYPT_DECRYPT with RSAES_OAEP_SHA_256) make rsa-oaep-256 tokens,
// HPKE_X25519 and HPKE_MLKEM768_X25519 keys make hpke tokens.
func EncrypterFor(marker string, out *kms.GetPublicKeyOutput, aead hpke.AEAD, rnd io.Reader) (token.Encrypter, error) {
	if out.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, fmt.Errorf("key usage %s cannot encrypt", out.KeyUsage)
	}
	spec := string(out.KeySpec)
	switch spec {
	case "RSA_2048", "RSA_3072", "RSA_4096":
		if !slices.Contains(out.EncryptionAlgorithms, "RSAES_OAEP_SHA_256") {
			return nil, errors.New("key does not offer RSAES_OAEP_SHA_256")
		}
		pk, err := x509.ParsePKIXPublicKey(out.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		rpk, ok := pk.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, not RSA", pk)
		}
		return token.NewRSAEncrypter(marker, rpk, rnd)
	case "HPKE_X25519", "HPKE_MLKEM768_X25519":
		pub, err := ParseHPKEPublicKey(spec, out.PublicKey)
		if err != nil {
			return nil, err
		}
		return token.NewHPKEEncrypter(marker, pub, aead)
	}
	return nil, fmt.Errorf("key spec %s cannot make field tokens", spec)
}

var (
	oidX25519 = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidXWing  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 62253, 25722}
)

// ParseHPKEPublicKey decodes GetPublicKey's PublicKey for an HPKE key
// spec: a SubjectPublicKeyInfo (id-X25519, or X-Wing's OID for the hybrid)
// whose BIT STRING is the RFC 9180 serialised public key.
func ParseHPKEPublicKey(spec string, der []byte) (hpke.PublicKey, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &spki)
	if err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("HPKE public key: not a SubjectPublicKeyInfo")
	}
	var kem hpke.KEM
	var oid asn1.ObjectIdentifier
	switch spec {
	case "HPKE_X25519":
		kem, oid = hpke.DHKEM(ecdh.X25519()), oidX25519
	case "HPKE_MLKEM768_X25519":
		kem, oid = hpke.MLKEM768X25519(), oidXWing
	default:
		return nil, fmt.Errorf("HPKE public key: unknown key spec %s", spec)
	}
	if !spki.Algorithm.Algorithm.Equal(oid) {
		return nil, fmt.Errorf("HPKE public key: algorithm %v does not match %s", spki.Algorithm.Algorithm, spec)
	}
	pub, err := kem.NewPublicKey(spki.PublicKey.RightAlign())
	if err != nil {
		return nil, fmt.Errorf("HPKE public key: %w", err)
	}
	return pub, nil
}
