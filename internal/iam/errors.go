package iam

import (
	"errors"
	"net/http"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with the message the caller reads
// (fmt.Errorf("%w: The user with name %s cannot be found.", ErrNoSuchEntity, name));
// errorTable maps them to the wire.
var (
	ErrNoSuchEntity        = errors.New("no such entity")
	ErrEntityAlreadyExists = errors.New("entity already exists")
	ErrDeleteConflict      = errors.New("delete conflict")
	ErrLimitExceeded       = errors.New("limit exceeded")
	ErrValidation          = errors.New("validation")
	ErrMalformedPolicy     = errors.New("malformed policy document")
	ErrInvalidInput        = errors.New("invalid input")
)

// errorTable is the one place domain errors meet IAM's Query codes and the
// statuses the IAM API returns them with.
var errorTable = awsproto.ErrorTable{
	{Err: ErrNoSuchEntity, Code: "NoSuchEntity", Status: http.StatusNotFound},
	{Err: ErrEntityAlreadyExists, Code: "EntityAlreadyExists", Status: http.StatusConflict},
	{Err: ErrDeleteConflict, Code: "DeleteConflict", Status: http.StatusConflict},
	{Err: ErrLimitExceeded, Code: "LimitExceeded", Status: http.StatusConflict},
	{Err: ErrValidation, Code: "ValidationError"},
	{Err: ErrMalformedPolicy, Code: "MalformedPolicyDocument"},
	{Err: ErrInvalidInput, Code: "InvalidInput"},
	// The framework's required-member check: IAM says ValidationError.
	{Err: awsproto.ErrValidation, Code: "ValidationError"},
}
