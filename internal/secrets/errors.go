package secrets

import (
	"errors"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with the message the caller reads
// (fmt.Errorf("%w: …", ErrInvalidParameter)); errorTable maps them to the
// wire. Messages never carry a secret value.
var (
	ErrNotFound         = errors.New("not found")
	ErrInvalidParameter = errors.New("invalid parameter")
	ErrInvalidRequest   = errors.New("invalid request")
	ErrExists           = errors.New("resource exists")
	ErrMalformedPolicy  = errors.New("malformed policy document")
	ErrPublicPolicy     = errors.New("public policy")
	ErrInvalidNextToken = errors.New("invalid next token")
	ErrLimitExceeded    = errors.New("limit exceeded")
	ErrEncryption       = errors.New("encryption failure")
	ErrDecryption       = errors.New("decryption failure")
)

// errorTable is the one place domain errors meet the secretsmanager
// model's codes.
var errorTable = awsproto.ErrorTable{
	{Err: ErrNotFound, Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."},
	{Err: ErrInvalidParameter, Code: "InvalidParameterException"},
	{Err: ErrInvalidRequest, Code: "InvalidRequestException"},
	{Err: ErrExists, Code: "ResourceExistsException"},
	{Err: ErrMalformedPolicy, Code: "MalformedPolicyDocumentException"},
	{Err: ErrPublicPolicy, Code: "PublicPolicyException"},
	{Err: ErrInvalidNextToken, Code: "InvalidNextTokenException"},
	{Err: ErrLimitExceeded, Code: "LimitExceededException"},
	{Err: ErrEncryption, Code: "EncryptionFailure"},
	{Err: ErrDecryption, Code: "DecryptionFailure"},
}

func markedForDeletion() error {
	return fmt.Errorf("%w: You can't perform this operation on the secret because it was marked for deletion.", ErrInvalidRequest)
}

// kmsError maps a KMS failure: access denials pass through (the caller
// must see that KMS refused), other KMS API errors become sentinel
// (EncryptionFailure or DecryptionFailure) with KMS's message, and
// unexpected errors stay internal.
func kmsError(err error, sentinel error) error {
	var ad *awsproto.AccessDenied
	if errors.As(err, &ad) {
		return err
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		if ae.Code == awsproto.CodeAccessDenied || ae.Status >= 500 {
			return err
		}
		return fmt.Errorf("%w: KMS: %s: %s", sentinel, ae.Code, ae.Message)
	}
	return fmt.Errorf("secretsmanager: kms: %w", err)
}
