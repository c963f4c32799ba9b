package events

import (
	"errors"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with the message the caller reads
// (fmt.Errorf("%w: Rule %s does not exist.", ErrNotFound, name));
// errorTable maps them to the wire.
var (
	ErrNotFound      = errors.New("not found")
	ErrExists        = errors.New("already exists")
	ErrValidation    = errors.New("validation")
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrInvalidPattern marks every pattern compilation failure.
	ErrInvalidPattern = errors.New("invalid event pattern")
)

// errorTable is the one place domain errors meet EventBridge's wire
// errors. Everything else (store failures, bugs) is left to the server,
// which logs it and answers InternalFailure.
var errorTable = awsproto.ErrorTable{
	{Err: ErrNotFound, Code: "ResourceNotFoundException"},
	{Err: ErrExists, Code: "ResourceAlreadyExistsException"},
	{Err: ErrValidation, Code: awsproto.CodeValidation},
	{Err: ErrLimitExceeded, Code: "LimitExceededException"},
	{Err: ErrInvalidPattern, Code: "InvalidEventPatternException"},
}
