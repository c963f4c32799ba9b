package x509util

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Key algorithm names as AWS spells them.
const (
	RSA2048      = "RSA_2048"
	RSA3072      = "RSA_3072"
	RSA4096      = "RSA_4096"
	ECPrime256v1 = "EC_prime256v1"
	ECSecp384r1  = "EC_secp384r1"
	ECSecp521r1  = "EC_secp521r1"
)

// ErrUnsupportedKey means a key algorithm or key type we do not issue for.
var ErrUnsupportedKey = errors.New("x509util: unsupported key algorithm")

// GenerateKey makes a key pair of the named algorithm from rand.
func GenerateKey(rand io.Reader, alg string) (crypto.Signer, error) {
	switch alg {
	case RSA2048:
		return rsa.GenerateKey(rand, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand, 4096)
	case ECPrime256v1:
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	case ECSecp384r1:
		return ecdsa.GenerateKey(elliptic.P384(), rand)
	case ECSecp521r1:
		return ecdsa.GenerateKey(elliptic.P521(), rand)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedKey, alg)
}

// KeyAlgorithm names a public key the way AWS does ("RSA_2048",
// "EC_prime256v1"); "" for anything else.
func KeyAlgorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048
		case 3072:
			return RSA3072
		case 4096:
			return RSA4096
		case 1024:
			return "RSA_1024"
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECPrime256v1
		case elliptic.P384():
			return ECSecp384r1
		case elliptic.P521():
			return ECSecp521r1
		}
	}
	return ""
}

// KeyFamily is "RSA" or "EC" for an AWS key algorithm name.
func KeyFamily(alg string) string {
	if len(alg) >= 3 && alg[:3] == "RSA" {
		return "RSA"
	}
	if len(alg) >= 2 && alg[:2] == "EC" {
		return "EC"
	}
	return ""
}

// SignatureAlgorithm maps an AWS SigningAlgorithm to Go's, with the key
// family it needs.
func SignatureAlgorithm(name string) (x509.SignatureAlgorithm, string, error) {
	switch name {
	case "SHA256WITHRSA":
		return x509.SHA256WithRSA, "RSA", nil
	case "SHA384WITHRSA":
		return x509.SHA384WithRSA, "RSA", nil
	case "SHA512WITHRSA":
		return x509.SHA512WithRSA, "RSA", nil
	case "SHA256WITHECDSA":
		return x509.ECDSAWithSHA256, "EC", nil
	case "SHA384WITHECDSA":
		return x509.ECDSAWithSHA384, "EC", nil
	case "SHA512WITHECDSA":
		return x509.ECDSAWithSHA512, "EC", nil
	}
	return 0, "", fmt.Errorf("%w: signing algorithm %q", ErrUnsupportedKey, name)
}

// SubjectKeyID is RFC 5280 section 4.2.1.2 method 1: the SHA-1 of the
// subjectPublicKey bit string.
func SubjectKeyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	var spki struct {
		Algorithm asn1.RawValue
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil
	}
	sum := sha1.Sum(spki.Key.Bytes)
	return sum[:]
}

// NewSerial returns a random positive 159-bit serial number: unguessable
// (CA/B Forum asks for 64 bits of entropy) and always encoded in at most
// 20 octets as RFC 5280 requires.
func NewSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("x509util: serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep the length fixed so serials sort and print evenly
	return new(big.Int).SetBytes(b), nil
}

// SerialHex is the canonical form serials take in ARNs and storage:
// lower-case hex without separators or leading zeros.
func SerialHex(n *big.Int) string { return n.Text(16) }

// ParseSerial accepts a serial in hex, with or without colons (the form
// `openssl x509 -text` and ACM print), and returns it canonical.
func ParseSerial(s string) (string, error) {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			clean = append(clean, s[i])
		}
	}
	n, ok := new(big.Int).SetString(string(clean), 16)
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("x509util: serial %q is not positive hex", s)
	}
	return SerialHex(n), nil
}

// ColonSerial prints a serial as ACM's DescribeCertificate does:
// lower-case hex byte pairs joined by colons.
func ColonSerial(n *big.Int) string {
	b := n.Bytes()
	out := make([]byte, 0, len(b)*3)
	const hexdigits = "0123456789abcdef"
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

// CertPEM encodes DER certificates as concatenated PEM blocks.
func CertPEM(ders ...[]byte) string {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return string(out)
}

// ParseCertsPEM reads every CERTIFICATE block of b, in order.
func ParseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("x509util: no CERTIFICATE PEM block")
	}
	return out, nil
}

// SamePublicKey reports whether two public keys are equal.
func SamePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
