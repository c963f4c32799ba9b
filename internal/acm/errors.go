package acm

import (
	"errors"
	"net/http"
	"strings"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors, wrapped with detail; toAWS maps them to the wire.
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

var errorTable = []struct {
	err  error
	code string
}{
	{ErrNotFound, "ResourceNotFoundException"},
	{ErrInvalidArn, "InvalidArnException"},
	{ErrInvalidParameter, "InvalidParameterException"},
	{ErrInvalidArgs, "InvalidArgsException"},
	{ErrValidation, "ValidationException"},
	{ErrInvalidTag, "InvalidTagException"},
	{ErrTooManyTags, "TooManyTagsException"},
	{ErrInProgress, "RequestInProgressException"},
	{ErrInvalidState, "InvalidStateException"},
	{ErrConflict, "ConflictException"},
	{ErrInvalidDomain, "InvalidDomainValidationOptionsException"},
}

// toAWS converts a domain error to its wire form; unknown errors pass
// through to become InternalFailure.
func toAWS(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsproto.Error
	var ad *awsproto.AccessDenied
	if errors.As(err, &ae) || errors.As(err, &ad) {
		return err
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			msg := err.Error()
			if i := strings.Index(msg, e.err.Error()+": "); i >= 0 {
				msg = msg[i+len(e.err.Error())+2:]
			}
			return &awsproto.Error{Code: e.code, Message: msg, Status: http.StatusBadRequest}
		}
	}
	return err
}
