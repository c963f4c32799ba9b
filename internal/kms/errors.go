package kms

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// errKind is a domain failure; errorTable maps each to its AWS __type.
// Every error this package returns to a caller is built by fail, so the
// table is the single place wire codes are chosen.
type errKind int

const (
	errNotFound errKind = iota
	errAlreadyExists
	errDisabled
	errInvalidState
	errInvalidCiphertext
	errIncorrectKey
	errInvalidKeyUsage
	errValidation
	errUnsupported
	errLimitExceeded
	errMalformedPolicy
	errInvalidAliasName
	errInvalidArn
	errInvalidSignature
	errInvalidMac
	errTag
	errInvalidMarker
)

var errorTable = map[errKind]string{
	errNotFound:          "NotFoundException",
	errAlreadyExists:     "AlreadyExistsException",
	errDisabled:          "DisabledException",
	errInvalidState:      "KMSInvalidStateException",
	errInvalidCiphertext: "InvalidCiphertextException",
	errIncorrectKey:      "IncorrectKeyException",
	errInvalidKeyUsage:   "InvalidKeyUsageException",
	errValidation:        awsproto.CodeValidation,
	errUnsupported:       "UnsupportedOperationException",
	errLimitExceeded:     "LimitExceededException",
	errMalformedPolicy:   "MalformedPolicyDocumentException",
	errInvalidAliasName:  "InvalidAliasNameException",
	errInvalidArn:        "InvalidArnException",
	errInvalidSignature:  "KMSInvalidSignatureException",
	errInvalidMac:        "KMSInvalidMacException",
	errTag:               "TagException",
	errInvalidMarker:     "InvalidMarkerException",
}

// fail builds the wire error for a domain failure. Messages must never
// contain key material or plaintext: they reach the caller and the audit log.
func fail(k errKind, format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Code: errorTable[k], Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// errCiphertext is the one message for every undecryptable blob, so a
// caller learns nothing about which check failed.
func errCiphertext() *awsproto.Error {
	return fail(errInvalidCiphertext, "The ciphertext is invalid or was not made with this key, algorithm or encryption context.")
}

// isKind reports whether err is the wire error of domain failure k.
func isKind(err error, k errKind) bool {
	var e *awsproto.Error
	return errors.As(err, &e) && e.Code == errorTable[k]
}
