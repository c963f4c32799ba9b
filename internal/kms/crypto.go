package kms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
)

// Limits from the AWS KMS API reference.
const (
	maxSymPlaintext = 4096
	maxMessage      = 4096
	maxRandomBytes  = 1024
)

// cryptRequest is one encrypting or decrypting call on a key.
type cryptRequest struct {
	// Action is the IAM action authorized on the key (kms:Encrypt,
	// kms:GenerateDataKey, kms:Decrypt, kms:ReEncryptFrom, ...).
	Action string
	// KeyID names the key. Decrypting a symmetric ciphertext may leave it
	// empty: the blob names its key.
	KeyID string
	// Data is the plaintext to encrypt or the ciphertext to decrypt.
	Data []byte
	// Context is the encryption context, bound into symmetric ciphertexts
	// and refused with asymmetric keys.
	Context map[string]string
	// Algorithm is the encryption algorithm; empty means SYMMETRIC_DEFAULT.
	Algorithm string
	// Conditions holds extra policy condition keys (kms:ViaService); nil
	// means none. The encryption context and algorithm keys are added to it.
	Conditions map[string][]string
}

// cryptResult is what every encrypting or decrypting operation returns.
type cryptResult struct {
	key *loadedKey
	// data is the ciphertext (encrypt) or the plaintext (decrypt).
	data      []byte
	algorithm string
}

// encrypt authorizes r.Action on the key and encrypts r.Data under it.
func (s *Service) encrypt(ctx context.Context, c *api.Call, r cryptRequest) (*cryptResult, error) {
	keyID, plaintext, encCtx, alg := r.KeyID, r.Data, r.Context, r.Algorithm
	if alg == "" {
		alg = algSymmetric
	}
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	extra := contextKeys(r.Conditions, encCtx)
	extra["kms:encryptionalgorithm"] = []string{alg}
	if err := s.authorize(ctx, c, r.Action, lk, extra); err != nil {
		return nil, err
	}
	if err := s.checkCrypto(lk, usageEncrypt, "Encrypt"); err != nil {
		return nil, err
	}
	if !slices.Contains(specs[lk.meta.KeySpec].encAlgs, alg) {
		return nil, fmt.Errorf("%w: Encryption algorithm %s is not supported by %s.", ErrInvalidKeyUsage, alg, lk.meta.ARN)
	}
	if alg == algHPKE {
		return nil, errHPKEOnly(lk)
	}
	if alg == algSymmetric {
		ct, err := s.sealSym(lk, plaintext, encCtx)
		if err != nil {
			return nil, err
		}
		return &cryptResult{lk, ct, alg}, nil
	}
	if len(encCtx) > 0 {
		return nil, fmt.Errorf("%w: EncryptionContext is not supported with asymmetric keys.", ErrValidation)
	}
	pub := lk.mat.priv.Public().(*rsa.PublicKey)
	h := oaepHash(alg)
	if max := pub.Size() - 2*h.Size() - 2; len(plaintext) > max {
		return nil, fmt.Errorf("%w: Plaintext is too long for %s with %s: at most %d bytes.", ErrValidation, lk.meta.KeySpec, alg, max)
	}
	ct, err := rsa.EncryptOAEP(h, s.cfg.Rand, pub, plaintext, nil)
	if err != nil {
		return nil, err
	}
	return &cryptResult{lk, ct, alg}, nil
}

// checkCrypto refuses keys that are not usable now or not for usage.
func (s *Service) checkCrypto(lk *loadedKey, usage, op string) error {
	if err := usable(lk); err != nil {
		return err
	}
	return requireUsage(lk, usage, op)
}

func oaepHash(alg string) hash.Hash {
	if alg == algOAEPSHA1 {
		return sha1.New()
	}
	return sha256.New()
}

// sealSym encrypts under the key's current material version.
func (s *Service) sealSym(lk *loadedKey, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	ver := len(lk.mat.aeads) - 1
	if ver < 0 {
		return nil, fmt.Errorf("%w: %s cannot encrypt.", ErrInvalidKeyUsage, lk.meta.ARN)
	}
	out := blobHeader(lk.meta.KeyID, uint32(ver), nonceSize+len(plaintext)+tagSize)
	hdrLen := len(out)
	out = out[:hdrLen+nonceSize]
	if _, err := io.ReadFull(s.cfg.Rand, out[hdrLen:]); err != nil {
		return nil, err
	}
	aad := appendContext(append(make([]byte, 0, 128), out[:hdrLen]...), encCtx)
	return lk.mat.aeads[ver].Seal(out, out[hdrLen:], plaintext, aad), nil
}

// openSym decrypts a parsed blob with the material version it names.
func openSym(lk *loadedKey, b *blob, encCtx map[string]string) ([]byte, error) {
	if int(b.matVersion) >= len(lk.mat.aeads) {
		return nil, ErrInvalidCiphertext
	}
	aad := appendContext(append(make([]byte, 0, 128), b.header...), encCtx)
	pt, err := lk.mat.aeads[b.matVersion].Open(nil, b.nonce, b.sealed, aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}

// decrypt authorizes r.Action (kms:Decrypt, kms:ReEncryptFrom) and decrypts
// r.Data. r.KeyID may be empty for symmetric ciphertexts, whose blob names
// their key; asymmetric ones need r.KeyID and r.Algorithm.
func (s *Service) decrypt(ctx context.Context, c *api.Call, r cryptRequest) (*cryptResult, error) {
	keyID, ciphertext, encCtx, alg := r.KeyID, r.Data, r.Context, r.Algorithm
	if alg == "" {
		alg = algSymmetric
	}
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("%w: CiphertextBlob must not be empty.", ErrValidation)
	}
	var lk *loadedKey
	var b *blob
	var err error
	if keyID != "" {
		if lk, err = s.loadKey(ctx, keyID); err != nil {
			return nil, err
		}
	}
	if alg == algSymmetric && (lk == nil || lk.meta.KeySpec == specSymmetric) {
		if b, err = parseBlob(ciphertext); err != nil {
			return nil, ErrInvalidCiphertext
		}
		if lk == nil {
			if lk, err = s.loadKey(ctx, b.keyID); err != nil {
				return nil, err
			}
		} else if lk.meta.KeyID != b.keyID {
			return nil, fmt.Errorf("%w: The key ID in the request does not identify the KMS key that encrypted the ciphertext.", ErrIncorrectKey)
		}
	} else if lk == nil {
		return nil, fmt.Errorf("%w: KeyId is required to decrypt with %s.", ErrValidation, alg)
	}
	extra := contextKeys(r.Conditions, encCtx)
	extra["kms:encryptionalgorithm"] = []string{alg}
	if err := s.authorize(ctx, c, r.Action, lk, extra); err != nil {
		return nil, err
	}
	if err := s.checkCrypto(lk, usageEncrypt, "Decrypt"); err != nil {
		return nil, err
	}
	if !slices.Contains(specs[lk.meta.KeySpec].encAlgs, alg) {
		return nil, fmt.Errorf("%w: Encryption algorithm %s is not supported by %s.", ErrInvalidKeyUsage, alg, lk.meta.ARN)
	}
	if alg == algHPKE {
		return nil, errHPKEOnly(lk)
	}
	if b != nil {
		pt, err := openSym(lk, b, encCtx)
		if err != nil {
			return nil, err
		}
		return &cryptResult{lk, pt, alg}, nil
	}
	if len(encCtx) > 0 {
		return nil, fmt.Errorf("%w: EncryptionContext is not supported with asymmetric keys.", ErrValidation)
	}
	priv := lk.mat.priv.(*rsa.PrivateKey)
	pt, err := rsa.DecryptOAEP(oaepHash(alg), nil, priv, ciphertext, nil)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return &cryptResult{lk, pt, alg}, nil
}

// dataKey makes a random data key and its ciphertext under keyID.
func (s *Service) dataKey(ctx context.Context, c *api.Call, action, keyID string, n int, encCtx map[string]string, extra map[string][]string) ([]byte, *cryptResult, error) {
	pt := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, pt); err != nil {
		return nil, nil, err
	}
	res, err := s.encrypt(ctx, c, cryptRequest{Action: action, KeyID: keyID, Data: pt, Context: encCtx, Algorithm: algSymmetric, Conditions: extra})
	if err != nil {
		return nil, nil, err
	}
	if res.key.meta.KeySpec != specSymmetric {
		return nil, nil, fmt.Errorf("%w: %s is not a symmetric encryption key.", ErrInvalidKeyUsage, res.key.meta.ARN)
	}
	return pt, res, nil
}

// dataKeyPair makes a key pair whose private key is returned encrypted
// under keyID (and in plaintext for GenerateDataKeyPair).
func (s *Service) dataKeyPair(ctx context.Context, c *api.Call, action, keyID, pairSpec string, encCtx map[string]string) (privDER, pubDER []byte, res *cryptResult, err error) {
	if !slices.Contains(dataKeyPairSpecs, pairSpec) {
		return nil, nil, nil, fmt.Errorf("%w: KeyPairSpec %q is not supported.", ErrValidation, pairSpec)
	}
	// Authorize before the (slow) key generation.
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, nil, nil, err
	}
	ck := contextKeys(nil, encCtx)
	ck["kms:datakeypairspec"] = []string{pairSpec}
	if err := s.authorize(ctx, c, action, lk, ck); err != nil {
		return nil, nil, nil, err
	}
	if err := s.checkCrypto(lk, usageEncrypt, action); err != nil {
		return nil, nil, nil, err
	}
	if lk.meta.KeySpec != specSymmetric {
		return nil, nil, nil, fmt.Errorf("%w: %s is not a symmetric encryption key.", ErrInvalidKeyUsage, lk.meta.ARN)
	}
	if privDER, err = generatePrivateKey(pairSpec, s.cfg.Rand); err != nil {
		return nil, nil, nil, err
	}
	m, err := parseMaterial((&keySecret{PKCS8: privDER}).marshal())
	if err != nil {
		return nil, nil, nil, err
	}
	ct, err := s.sealSym(lk, privDER, encCtx)
	if err != nil {
		return nil, nil, nil, err
	}
	return privDER, m.pubDER, &cryptResult{lk, ct, algSymmetric}, nil
}

// signHash maps a signing or MAC algorithm to its hash.
func signHash(alg string) crypto.Hash {
	switch {
	case strings.HasSuffix(alg, "_224"):
		return crypto.SHA224
	case strings.HasSuffix(alg, "_384"):
		return crypto.SHA384
	case strings.HasSuffix(alg, "_512"):
		return crypto.SHA512
	}
	return crypto.SHA256
}

// digestFor hashes a RAW message, or checks that a DIGEST has the length
// of the algorithm's hash.
func digestFor(alg, msgType string, msg []byte) ([]byte, error) {
	h := signHash(alg)
	switch msgType {
	case "", "RAW":
		if len(msg) == 0 || len(msg) > maxMessage {
			return nil, fmt.Errorf("%w: Message must be 1 to %d bytes.", ErrValidation, maxMessage)
		}
		hh := h.New()
		hh.Write(msg)
		return hh.Sum(nil), nil
	case "DIGEST":
		if len(msg) != h.Size() {
			return nil, fmt.Errorf("%w: Digest is invalid length for algorithm %s.", ErrValidation, alg)
		}
		return msg, nil
	}
	return nil, fmt.Errorf("%w: MessageType %q is not RAW or DIGEST.", ErrValidation, msgType)
}

// signingKey loads, authorizes and checks a key for Sign or Verify.
func (s *Service) signingKey(ctx context.Context, c *api.Call, action, keyID, alg, msgType string) (*loadedKey, error) {
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if msgType == "" {
		msgType = "RAW"
	}
	cond := map[string][]string{"kms:signingalgorithm": {alg}, "kms:messagetype": {msgType}}
	if err := s.authorize(ctx, c, action, lk, cond); err != nil {
		return nil, err
	}
	if err := s.checkCrypto(lk, usageSign, strings.TrimPrefix(action, "kms:")); err != nil {
		return nil, err
	}
	if !slices.Contains(specs[lk.meta.KeySpec].signAlgs, alg) {
		return nil, fmt.Errorf("%w: Signing algorithm %s is not supported by %s.", ErrInvalidKeyUsage, alg, lk.meta.ARN)
	}
	return lk, nil
}

func (s *Service) sign(ctx context.Context, c *api.Call, keyID string, msg []byte, msgType, alg string) (*loadedKey, []byte, error) {
	lk, err := s.signingKey(ctx, c, "kms:Sign", keyID, alg, msgType)
	if err != nil {
		return nil, nil, err
	}
	digest, err := digestFor(alg, msgType, msg)
	if err != nil {
		return nil, nil, err
	}
	sig, err := signDigest(s.cfg.Rand, lk.mat.priv, alg, digest)
	if err != nil {
		return nil, nil, err
	}
	return lk, sig, nil
}

// signDigest signs digest with priv under alg. It fails closed: a key type
// or algorithm family it does not know, a mismatch between them, or a
// signer that returns nothing is an error (InternalFailure on the wire,
// since signingKey already checked the key spec), never an empty
// signature reported as success.
func signDigest(rnd io.Reader, priv crypto.Signer, alg string, digest []byte) ([]byte, error) {
	h := signHash(alg)
	var sig []byte
	var err error
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		switch {
		case strings.HasPrefix(alg, "RSASSA_PSS_"):
			sig, err = rsa.SignPSS(rnd, k, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		case strings.HasPrefix(alg, "RSASSA_PKCS1_V1_5_"):
			sig, err = rsa.SignPKCS1v15(rnd, k, h, digest)
		default:
			return nil, fmt.Errorf("kms: signing algorithm %s does not apply to an RSA key", alg)
		}
	case *ecdsa.PrivateKey:
		if !strings.HasPrefix(alg, "ECDSA_") {
			return nil, fmt.Errorf("kms: signing algorithm %s does not apply to an ECC key", alg)
		}
		sig, err = ecdsa.SignASN1(rnd, k, digest)
	default:
		return nil, fmt.Errorf("kms: cannot sign with a key of type %T", priv)
	}
	if err != nil {
		return nil, fmt.Errorf("kms: sign: %w", err)
	}
	if len(sig) == 0 {
		return nil, errors.New("kms: signer returned an empty signature")
	}
	return sig, nil
}

// verifyDigest reports whether sig is priv's signature of digest under
// alg; like signDigest it refuses what it does not know rather than
// answering.
func verifyDigest(priv crypto.Signer, alg string, digest, sig []byte) (bool, error) {
	if priv == nil {
		return false, errors.New("kms: key has no private key to verify with")
	}
	h := signHash(alg)
	switch k := priv.Public().(type) {
	case *rsa.PublicKey:
		switch {
		case strings.HasPrefix(alg, "RSASSA_PSS_"):
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil, nil
		case strings.HasPrefix(alg, "RSASSA_PKCS1_V1_5_"):
			return rsa.VerifyPKCS1v15(k, h, digest, sig) == nil, nil
		}
		return false, fmt.Errorf("kms: signing algorithm %s does not apply to an RSA key", alg)
	case *ecdsa.PublicKey:
		if !strings.HasPrefix(alg, "ECDSA_") {
			return false, fmt.Errorf("kms: signing algorithm %s does not apply to an ECC key", alg)
		}
		return ecdsa.VerifyASN1(k, digest, sig), nil
	}
	return false, fmt.Errorf("kms: cannot verify with a key of type %T", priv)
}

func (s *Service) verify(ctx context.Context, c *api.Call, keyID string, msg []byte, msgType, alg string, sig []byte) (*loadedKey, error) {
	lk, err := s.signingKey(ctx, c, "kms:Verify", keyID, alg, msgType)
	if err != nil {
		return nil, err
	}
	digest, err := digestFor(alg, msgType, msg)
	if err != nil {
		return nil, err
	}
	ok, err := verifyDigest(lk.mat.priv, alg, digest, sig)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: The signature is not valid for this key, message and algorithm.", ErrInvalidSignature)
	}
	return lk, nil
}

// mac computes an HMAC after authorizing action (GenerateMac, VerifyMac).
func (s *Service) mac(ctx context.Context, c *api.Call, action, keyID string, msg []byte, alg string) (*loadedKey, []byte, error) {
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.authorize(ctx, c, action, lk, map[string][]string{"kms:macalgorithm": {alg}}); err != nil {
		return nil, nil, err
	}
	if err := s.checkCrypto(lk, usageMAC, strings.TrimPrefix(action, "kms:")); err != nil {
		return nil, nil, err
	}
	if !slices.Contains(specs[lk.meta.KeySpec].macAlgs, alg) {
		return nil, nil, fmt.Errorf("%w: MAC algorithm %s is not supported by %s.", ErrInvalidKeyUsage, alg, lk.meta.ARN)
	}
	if len(msg) == 0 || len(msg) > maxMessage {
		return nil, nil, fmt.Errorf("%w: Message must be 1 to %d bytes.", ErrValidation, maxMessage)
	}
	var newHash func() hash.Hash
	switch signHash(alg) {
	case crypto.SHA224:
		newHash = sha256.New224
	case crypto.SHA384:
		newHash = sha512.New384
	case crypto.SHA512:
		newHash = sha512.New
	default:
		newHash = sha256.New
	}
	m := hmac.New(newHash, lk.mat.sym[len(lk.mat.sym)-1])
	m.Write(msg)
	return lk, m.Sum(nil), nil
}

// publicKey returns the DER SubjectPublicKeyInfo of an asymmetric key.
func (s *Service) publicKey(ctx context.Context, c *api.Call, keyID string) (*loadedKey, error) {
	lk, err := s.loadKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:GetPublicKey", lk, nil); err != nil {
		return nil, err
	}
	if err := usable(lk); err != nil {
		return nil, err
	}
	if lk.mat.pubDER == nil {
		return nil, fmt.Errorf("%w: %s is not an asymmetric key.", ErrUnsupported, lk.meta.ARN)
	}
	return lk, nil
}

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
