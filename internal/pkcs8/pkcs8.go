package pkcs8

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
)

// PEMType is the PEM block type of an encrypted PKCS#8 key.
const PEMType = "ENCRYPTED PRIVATE KEY"

// ACM's layout, which Encrypt reproduces.
const (
	SaltSize   = 20
	Iterations = 2048
)

// MaxIterations bounds the PBKDF2 iteration count the reader accepts, so
// a hostile file cannot pin a CPU for minutes. OWASP's 2023 advice for
// PBKDF2-HMAC-SHA1 is 1.3 million; this leaves room above it.
const MaxIterations = 10_000_000

// Errors returned by the reader. Test with errors.Is.
var (
	// ErrIncorrectPassphrase means decryption produced garbage: almost
	// always a wrong passphrase (CBC padding cannot tell the two apart).
	ErrIncorrectPassphrase = errors.New("pkcs8: incorrect passphrase or corrupt key")
	// ErrUnsupported means a well-formed key uses a scheme this package
	// does not implement (PBES1, scrypt, DES, ...).
	ErrUnsupported = errors.New("pkcs8: unsupported encryption scheme")
	// ErrMalformed means the input is not an EncryptedPrivateKeyInfo.
	ErrMalformed = errors.New("pkcs8: malformed encrypted private key")
)

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}

	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}

	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// encryptedPrivateKeyInfo is RFC 5958 section 3.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

// pbes2Params is RFC 8018 appendix A.4.
type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

// pbkdf2Params is RFC 8018 appendix A.2. The writer leaves KeyLength and
// PRF out (zero values of optional members are not encoded), as ACM does.
type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// Encrypt marshals key (*rsa.PrivateKey, *ecdsa.PrivateKey, ed25519 key)
// as PKCS#8 and encrypts it under passphrase with ACM's layout, returning
// the DER EncryptedPrivateKeyInfo. rand supplies the salt and IV.
func Encrypt(rand io.Reader, key any, passphrase []byte) ([]byte, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pkcs8: %w", err)
	}
	return EncryptDER(rand, plain, passphrase)
}

// EncryptDER encrypts an already marshalled PrivateKeyInfo; see Encrypt.
func EncryptDER(rand io.Reader, privateKeyInfo, passphrase []byte) ([]byte, error) {
	salt := make([]byte, SaltSize)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, fmt.Errorf("pkcs8: salt: %w", err)
	}
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, fmt.Errorf("pkcs8: iv: %w", err)
	}
	key, err := pbkdf2.Key(sha1.New, string(passphrase), salt, Iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("pkcs8: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	padLen := aes.BlockSize - len(privateKeyInfo)%aes.BlockSize
	ct := make([]byte, len(privateKeyInfo)+padLen)
	copy(ct, privateKeyInfo)
	for i := len(privateKeyInfo); i < len(ct); i++ {
		ct[i] = byte(padLen)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)

	kdf, err := asn1.Marshal(pbkdf2Params{Salt: salt, IterationCount: Iterations})
	if err != nil {
		return nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: ct,
	})
}

// EncryptPEM is Encrypt with the result PEM-encoded as
// "ENCRYPTED PRIVATE KEY".
func EncryptPEM(rand io.Reader, key any, passphrase []byte) ([]byte, error) {
	der, err := Encrypt(rand, key, passphrase)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: der}), nil
}

// DecryptPEM reads the first "ENCRYPTED PRIVATE KEY" block of pemBytes
// and returns the private key; see Decrypt.
func DecryptPEM(pemBytes, passphrase []byte) (any, error) {
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return nil, fmt.Errorf("%w: no %q PEM block", ErrMalformed, PEMType)
		}
		if b.Type == PEMType {
			return Decrypt(b.Bytes, passphrase)
		}
	}
}

// Decrypt decrypts a DER EncryptedPrivateKeyInfo and parses the PKCS#8
// key inside (*rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey).
func Decrypt(der, passphrase []byte) (any, error) {
	plain, err := DecryptDER(der, passphrase)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		// Padding matched by chance (about 1 in 256 with a wrong
		// passphrase) but the contents are garbage.
		return nil, ErrIncorrectPassphrase
	}
	return key, nil
}

// DecryptDER decrypts a DER EncryptedPrivateKeyInfo and returns the DER
// PrivateKeyInfo inside, unparsed.
func DecryptDER(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: algorithm %v is not PBES2", ErrUnsupported, info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	if !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("%w: key derivation %v is not PBKDF2", ErrUnsupported, params.KeyDerivationFunc.Algorithm)
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	prf, err := prfHash(kdf.PRF.Algorithm)
	if err != nil {
		return nil, err
	}
	keyLen, err := aesKeyLen(params.EncryptionScheme.Algorithm)
	if err != nil {
		return nil, err
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != keyLen {
		return nil, fmt.Errorf("%w: PBKDF2 key length %d does not fit the cipher", ErrMalformed, kdf.KeyLength)
	}
	if kdf.IterationCount < 1 || kdf.IterationCount > MaxIterations {
		return nil, fmt.Errorf("%w: PBKDF2 iteration count %d out of range", ErrMalformed, kdf.IterationCount)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("%w: bad CBC IV", ErrMalformed)
	}
	ct := info.EncryptedData
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext is not whole AES blocks", ErrMalformed)
	}
	key, err := pbkdf2.Key(prf, string(passphrase), kdf.Salt, kdf.IterationCount, keyLen)
	if err != nil {
		return nil, fmt.Errorf("pkcs8: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	n := int(plain[len(plain)-1])
	if n == 0 || n > aes.BlockSize || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, ErrIncorrectPassphrase
	}
	return plain[:len(plain)-n], nil
}

// prfHash maps a PBKDF2 PRF OID to its hash; an absent PRF is HMAC-SHA1
// (RFC 8018's DEFAULT), which is what ACM writes.
func prfHash(oid asn1.ObjectIdentifier) (func() hash.Hash, error) {
	switch {
	case len(oid) == 0, oid.Equal(oidHMACSHA1):
		return sha1.New, nil
	case oid.Equal(oidHMACSHA224):
		return sha256.New224, nil
	case oid.Equal(oidHMACSHA256):
		return sha256.New, nil
	case oid.Equal(oidHMACSHA384):
		return sha512.New384, nil
	case oid.Equal(oidHMACSHA512):
		return sha512.New, nil
	}
	return nil, fmt.Errorf("%w: PBKDF2 PRF %v", ErrUnsupported, oid)
}

func aesKeyLen(oid asn1.ObjectIdentifier) (int, error) {
	switch {
	case oid.Equal(oidAES128CBC):
		return 16, nil
	case oid.Equal(oidAES192CBC):
		return 24, nil
	case oid.Equal(oidAES256CBC):
		return 32, nil
	}
	return 0, fmt.Errorf("%w: cipher %v", ErrUnsupported, oid)
}
