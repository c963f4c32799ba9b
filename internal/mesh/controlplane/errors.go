package controlplane

import (
	"errors"
	"net/http"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with the message the caller reads
// (fmt.Errorf("%w: Mesh %s does not exist.", ErrNotFound, name));
// errorTable maps them to the wire.
var (
	ErrBadRequest    = errors.New("bad request")
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")
	ErrInUse         = errors.New("resource in use")
	ErrLimitExceeded = errors.New("limit exceeded")
	ErrTooManyTags   = errors.New("too many tags")
)

// errorTable is the one place domain errors meet the appmesh model's codes
// and HTTP statuses. App Mesh has no ValidationException or
// SerializationException: the framework's decode and required-member
// errors are BadRequestException, and a policy refusal is
// AccessDeniedException with 403, the status AWS uses for it on REST
// services.
var errorTable = awsproto.ErrorTable{
	{Err: ErrBadRequest, Code: "BadRequestException"},
	{Err: ErrNotFound, Code: "NotFoundException", Status: http.StatusNotFound},
	{Err: ErrConflict, Code: "ConflictException", Status: http.StatusConflict},
	{Err: ErrInUse, Code: "ResourceInUseException", Status: http.StatusConflict},
	{Err: ErrLimitExceeded, Code: "LimitExceededException"},
	{Err: ErrTooManyTags, Code: "TooManyTagsException"},
	{Err: awsproto.ErrValidation, Code: "BadRequestException"},
	{Err: awsproto.ErrSerialization, Code: "BadRequestException"},
	{Err: awsproto.ErrAccessDenied, Code: awsproto.CodeAccessDenied, Status: http.StatusForbidden},
}
