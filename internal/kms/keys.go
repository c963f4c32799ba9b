package kms

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hpke"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Key specs, usages and algorithms, spelled as on the wire.
const (
	specSymmetric = "SYMMETRIC_DEFAULT"

	usageEncrypt = "ENCRYPT_DECRYPT"
	usageSign    = "SIGN_VERIFY"
	usageMAC     = "GENERATE_VERIFY_MAC"

	algSymmetric  = "SYMMETRIC_DEFAULT"
	algOAEPSHA1   = "RSAES_OAEP_SHA_1"
	algOAEPSHA256 = "RSAES_OAEP_SHA_256"
)

// specInfo describes one KeySpec: which usages it allows and the
// algorithms each usage offers.
type specInfo struct {
	usages   []string // valid KeyUsage values
	rsaBits  int
	curve    elliptic.Curve
	hmacSize int    // key bytes for HMAC specs
	hpkeKEM  uint16 // RFC 9180 KEM id for HPKE specs (see hpke.go)
	encAlgs  []string
	signAlgs []string
	macAlgs  []string
}

var rsaSignAlgs = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}
var rsaEncAlgs = []string{algOAEPSHA1, algOAEPSHA256}

var specs = map[string]specInfo{
	specSymmetric:   {usages: []string{usageEncrypt}, encAlgs: []string{algSymmetric}},
	"RSA_2048":      {usages: []string{usageEncrypt, usageSign}, rsaBits: 2048, encAlgs: rsaEncAlgs, signAlgs: rsaSignAlgs},
	"RSA_3072":      {usages: []string{usageEncrypt, usageSign}, rsaBits: 3072, encAlgs: rsaEncAlgs, signAlgs: rsaSignAlgs},
	"RSA_4096":      {usages: []string{usageEncrypt, usageSign}, rsaBits: 4096, encAlgs: rsaEncAlgs, signAlgs: rsaSignAlgs},
	"ECC_NIST_P256": {usages: []string{usageSign}, curve: elliptic.P256(), signAlgs: []string{"ECDSA_SHA_256"}},
	"ECC_NIST_P384": {usages: []string{usageSign}, curve: elliptic.P384(), signAlgs: []string{"ECDSA_SHA_384"}},
	"ECC_NIST_P521": {usages: []string{usageSign}, curve: elliptic.P521(), signAlgs: []string{"ECDSA_SHA_512"}},
	"HMAC_224":      {usages: []string{usageMAC}, hmacSize: 28, macAlgs: []string{"HMAC_SHA_224"}},
	"HMAC_256":      {usages: []string{usageMAC}, hmacSize: 32, macAlgs: []string{"HMAC_SHA_256"}},
	"HMAC_384":      {usages: []string{usageMAC}, hmacSize: 48, macAlgs: []string{"HMAC_SHA_384"}},
	"HMAC_512":      {usages: []string{usageMAC}, hmacSize: 64, macAlgs: []string{"HMAC_SHA_512"}},
	specHPKEX25519:  {usages: []string{usageEncrypt}, hpkeKEM: kemX25519, encAlgs: []string{algHPKE}},
	specHPKEXWing:   {usages: []string{usageEncrypt}, hpkeKEM: kemXWing, encAlgs: []string{algHPKE}},
}

// algorithms returns the algorithms a key of this spec offers for usage,
// in the three lists DescribeKey and GetPublicKey report.
func (si specInfo) algorithms(usage string) (enc, sign, mac []string) {
	switch usage {
	case usageEncrypt:
		return si.encAlgs, nil, nil
	case usageSign:
		return nil, si.signAlgs, nil
	case usageMAC:
		return nil, nil, si.macAlgs
	}
	return nil, nil, nil
}

// checkSpecUsage validates a CreateKey KeySpec/KeyUsage pair; empty values
// take AWS's defaults (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).
func checkSpecUsage(spec, usage string) (string, string, error) {
	if spec == "" {
		spec = specSymmetric
	}
	si, ok := specs[spec]
	if !ok {
		return "", "", fmt.Errorf("%w: KeySpec %q is not supported.", ErrValidation, spec)
	}
	if usage == "" {
		// AWS defaults to ENCRYPT_DECRYPT; for specs that cannot encrypt we
		// take their only usage rather than fail a request whose intent is clear.
		usage = usageEncrypt
		if !slices.Contains(si.usages, usage) {
			usage = si.usages[0]
		}
	}
	if !slices.Contains(si.usages, usage) {
		return "", "", fmt.Errorf("%w: KeyUsage %s is not compatible with KeySpec %s.", ErrValidation, usage, spec)
	}
	return spec, usage, nil
}

// keySecret is what a key's sealed Record.Secret holds. Sym lists the
// symmetric (AES or HMAC) material versions, oldest first, so ciphertexts
// naming an old version still decrypt after rotation; PKCS8 holds an
// asymmetric private key; HPKE holds an HPKE private key (RFC 9180
// SerializePrivateKey) for the KEM named by KEM.
type keySecret struct {
	Sym   [][]byte `json:"Sym,omitempty"`
	PKCS8 []byte   `json:"PKCS8,omitempty"`
	HPKE  []byte   `json:"HPKE,omitempty"`
	KEM   uint16   `json:"KEM,omitempty"`
}

func (k *keySecret) marshal() []byte {
	b, err := json.Marshal(k)
	if err != nil {
		panic(err) // only []byte members: cannot fail
	}
	return b
}

// material is a key's parsed secret, cached per record version so the hot
// paths never parse a private key.
type material struct {
	sym    [][]byte
	aeads  []cipher.AEAD // one per sym version, for symmetric encryption keys
	priv   crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
	hpke   hpke.PrivateKey
	pubDER []byte // GetPublicKey's PublicKey: DER SubjectPublicKeyInfo
}

func parseMaterial(secret []byte) (*material, error) {
	var ks keySecret
	if err := json.Unmarshal(secret, &ks); err != nil {
		return nil, fmt.Errorf("kms: decode key secret: %w", err)
	}
	m := &material{sym: ks.Sym}
	if len(ks.HPKE) > 0 {
		return parseHPKEMaterial(m, &ks)
	}
	if len(ks.PKCS8) == 0 {
		for _, k := range ks.Sym {
			if len(k) != 32 {
				return m, nil // HMAC material
			}
			blk, err := aes.NewCipher(k)
			if err != nil {
				return nil, err
			}
			g, err := cipher.NewGCM(blk)
			if err != nil {
				return nil, err
			}
			m.aeads = append(m.aeads, g)
		}
		return m, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(ks.PKCS8)
	if err != nil {
		return nil, fmt.Errorf("kms: parse private key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("kms: unexpected private key type %T", k)
	}
	m.priv = signer
	if m.pubDER, err = x509.MarshalPKIXPublicKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("kms: marshal public key: %w", err)
	}
	return m, nil
}

// newSecret generates fresh key material for spec.
func newSecret(spec string, rnd io.Reader) (*keySecret, error) {
	si := specs[spec]
	switch {
	case spec == specSymmetric:
		k := make([]byte, 32)
		if _, err := io.ReadFull(rnd, k); err != nil {
			return nil, err
		}
		return &keySecret{Sym: [][]byte{k}}, nil
	case si.hmacSize > 0:
		k := make([]byte, si.hmacSize)
		if _, err := io.ReadFull(rnd, k); err != nil {
			return nil, err
		}
		return &keySecret{Sym: [][]byte{k}}, nil
	case si.hpkeKEM != 0:
		return newHPKESecret(si.hpkeKEM, rnd)
	}
	der, err := generatePrivateKey(spec, rnd)
	if err != nil {
		return nil, err
	}
	return &keySecret{PKCS8: der}, nil
}

// generatePrivateKey makes an RSA or ECC private key and returns it as
// PKCS#8 DER.
func generatePrivateKey(spec string, rnd io.Reader) ([]byte, error) {
	si, ok := specs[spec]
	var priv any
	var err error
	switch {
	case ok && si.rsaBits > 0:
		priv, err = rsa.GenerateKey(rnd, si.rsaBits)
	case ok && si.curve != nil:
		priv, err = ecdsa.GenerateKey(si.curve, rnd)
	default:
		return nil, fmt.Errorf("kms: %s has no private key", spec)
	}
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKCS8PrivateKey(priv)
}

// dataKeyPairSpecs are GenerateDataKeyPair's KeyPairSpec values.
var dataKeyPairSpecs = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"}
