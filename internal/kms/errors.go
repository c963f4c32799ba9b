package kms

import (
	"errors"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with the message the caller reads
// (fmt.Errorf("%w: Key '%s' does not exist", ErrNotFound, arn));
// errorTable maps them to the wire. Messages must never contain key
// material or plaintext: they reach the caller and the audit log.
var (
	ErrNotFound          = errors.New("not found")
	ErrAlreadyExists     = errors.New("already exists")
	ErrDisabled          = errors.New("disabled")
	ErrInvalidState      = errors.New("invalid state")
	ErrInvalidCiphertext = errors.New("invalid ciphertext")
	ErrIncorrectKey      = errors.New("incorrect key")
	ErrInvalidKeyUsage   = errors.New("invalid key usage")
	ErrValidation        = errors.New("validation")
	ErrUnsupported       = errors.New("unsupported operation")
	ErrLimitExceeded     = errors.New("limit exceeded")
	ErrMalformedPolicy   = errors.New("malformed policy document")
	ErrInvalidAliasName  = errors.New("invalid alias name")
	ErrInvalidArn        = errors.New("invalid ARN")
	ErrInvalidSignature  = errors.New("invalid signature")
	ErrInvalidMac        = errors.New("invalid MAC")
	ErrTag               = errors.New("tag")
	ErrInvalidMarker     = errors.New("invalid marker")
)

// errorTable is the one place domain errors become AWS error codes.
var errorTable = awsproto.ErrorTable{
	{Err: ErrNotFound, Code: "NotFoundException"},
	{Err: ErrAlreadyExists, Code: "AlreadyExistsException"},
	{Err: ErrDisabled, Code: "DisabledException"},
	{Err: ErrInvalidState, Code: "KMSInvalidStateException"},
	// Returned bare for every undecryptable blob, so a caller learns
	// nothing about which check failed.
	{Err: ErrInvalidCiphertext, Code: "InvalidCiphertextException",
		Message: "The ciphertext is invalid or was not made with this key, algorithm or encryption context."},
	{Err: ErrIncorrectKey, Code: "IncorrectKeyException"},
	{Err: ErrInvalidKeyUsage, Code: "InvalidKeyUsageException"},
	{Err: ErrValidation, Code: awsproto.CodeValidation},
	{Err: ErrUnsupported, Code: "UnsupportedOperationException"},
	{Err: ErrLimitExceeded, Code: "LimitExceededException"},
	{Err: ErrMalformedPolicy, Code: "MalformedPolicyDocumentException"},
	{Err: ErrInvalidAliasName, Code: "InvalidAliasNameException"},
	{Err: ErrInvalidArn, Code: "InvalidArnException"},
	{Err: ErrInvalidSignature, Code: "KMSInvalidSignatureException"},
	{Err: ErrInvalidMac, Code: "KMSInvalidMacException"},
	{Err: ErrTag, Code: "TagException"},
	{Err: ErrInvalidMarker, Code: "InvalidMarkerException"},
}
