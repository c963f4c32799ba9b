package acm

import (
	"errors"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors, wrapped with detail
// (fmt.Errorf("%w: …")); errorTable maps them to the wire.
var (
	ErrNotFound         = errors.New("not found")
	ErrInvalidArn       = errors.New("invalid ARN")
	ErrInvalidParameter = errors.New("invalid parameter")
	ErrInvalidArgs      = errors.New("invalid arguments")
	ErrValidation       = errors.New("validation")
	ErrInvalidTag       = errors.New("invalid tag")
	ErrTooManyTags      = errors.New("too many tags")
	ErrInProgress       = errors.New("request in progress")
	ErrInvalidState     = errors.New("invalid state")
	ErrConflict         = errors.New("conflict")
	ErrInvalidDomain    = errors.New("invalid domain validation options")
)

// errorTable is the one place domain errors become AWS error codes.
var errorTable = awsproto.ErrorTable{
	{Err: ErrNotFound, Code: "ResourceNotFoundException"},
	{Err: ErrInvalidArn, Code: "InvalidArnException"},
	{Err: ErrInvalidParameter, Code: "InvalidParameterException"},
	{Err: ErrInvalidArgs, Code: "InvalidArgsException"},
	{Err: ErrValidation, Code: "ValidationException"},
	{Err: ErrInvalidTag, Code: "InvalidTagException"},
	{Err: ErrTooManyTags, Code: "TooManyTagsException"},
	{Err: ErrInProgress, Code: "RequestInProgressException"},
	{Err: ErrInvalidState, Code: "InvalidStateException"},
	{Err: ErrConflict, Code: "ConflictException"},
	{Err: ErrInvalidDomain, Code: "InvalidDomainValidationOptionsException"},
}
