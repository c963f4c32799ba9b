package secrets

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Error codes of the secretsmanager model.
const (
	codeNotFound         = "ResourceNotFoundException"
	codeInvalidParameter = "InvalidParameterException"
	codeInvalidRequest   = "InvalidRequestException"
	codeExists           = "ResourceExistsException"
	codeMalformedPolicy  = "MalformedPolicyDocumentException"
	codePublicPolicy     = "PublicPolicyException"
	codeInvalidNextToken = "InvalidNextTokenException"
	codeLimitExceeded    = "LimitExceededException"
	codeEncryption       = "EncryptionFailure"
	codeDecryption       = "DecryptionFailure"
)

// kind classifies a domain error; the table below turns it into the wire
// error. Domain code never builds *awsproto.Error itself.
type kind int

const (
	errNotFound kind = iota + 1
	errInvalidParameter
	errInvalidRequest
	errExists
	errMalformedPolicy
	errPublicPolicy
	errInvalidNextToken
	errLimitExceeded
	errEncryption
	errDecryption
)

// errorTable is the one place domain errors meet AWS codes.
var errorTable = map[kind]struct {
	code   string
	status int
}{
	errNotFound:         {codeNotFound, http.StatusBadRequest},
	errInvalidParameter: {codeInvalidParameter, http.StatusBadRequest},
	errInvalidRequest:   {codeInvalidRequest, http.StatusBadRequest},
	errExists:           {codeExists, http.StatusBadRequest},
	errMalformedPolicy:  {codeMalformedPolicy, http.StatusBadRequest},
	errPublicPolicy:     {codePublicPolicy, http.StatusBadRequest},
	errInvalidNextToken: {codeInvalidNextToken, http.StatusBadRequest},
	errLimitExceeded:    {codeLimitExceeded, http.StatusBadRequest},
	errEncryption:       {codeEncryption, http.StatusBadRequest},
	errDecryption:       {codeDecryption, http.StatusBadRequest},
}

// Error is a domain error with a message that is safe to show the caller.
type Error struct {
	Kind kind
	Msg  string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Msg }

// Code returns the AWS error code ("ResourceNotFoundException").
func (e *Error) Code() string { return errorTable[e.Kind].code }

func fail(k kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

func notFound() error {
	return fail(errNotFound, "Secrets Manager can't find the specified secret.")
}

func markedForDeletion() error {
	return fail(errInvalidRequest, "You can't perform this operation on the secret because it was marked for deletion.")
}

// toWire renders a domain error for the server. AWS errors (including
// *awsproto.AccessDenied from authorization or KMS) pass through; anything
// else is returned as is and becomes InternalFailure, logged by the server.
func toWire(err error) error {
	var e *Error
	if errors.As(err, &e) {
		t := errorTable[e.Kind]
		return &awsproto.Error{Code: t.code, Message: e.Msg, Status: t.status}
	}
	return err
}

// kmsError maps a KMS failure: access denials pass through (the caller
// must see that KMS refused), other KMS API errors become EncryptionFailure
// or DecryptionFailure with KMS's message, and unexpected errors stay
// internal.
func kmsError(err error, k kind) error {
	var ad *awsproto.AccessDenied
	if errors.As(err, &ad) {
		return err
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		if ae.Code == awsproto.CodeAccessDenied || ae.Status >= 500 {
			return err
		}
		return fail(k, "KMS: %s: %s", ae.Code, ae.Message)
	}
	return fmt.Errorf("secretsmanager: kms: %w", err)
}
