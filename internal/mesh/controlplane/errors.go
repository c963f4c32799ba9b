package controlplane

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// kind classifies a domain error; errorTable turns it into the wire error.
// Domain code never builds *awsproto.Error itself.
type errKind int

const (
	errBadRequest errKind = iota + 1
	errNotFound
	errConflict
	errInUse
	errLimitExceeded
	errTooManyTags
)

// errorTable is the one place domain errors meet the appmesh model's codes
// and HTTP statuses.
var errorTable = map[errKind]struct {
	code   string
	status int
}{
	errBadRequest:    {"BadRequestException", http.StatusBadRequest},
	errNotFound:      {"NotFoundException", http.StatusNotFound},
	errConflict:      {"ConflictException", http.StatusConflict},
	errInUse:         {"ResourceInUseException", http.StatusConflict},
	errLimitExceeded: {"LimitExceededException", http.StatusBadRequest},
	errTooManyTags:   {"TooManyTagsException", http.StatusBadRequest},
}

// Error is a domain error whose message is safe to show the caller.
type Error struct {
	Kind errKind
	Msg  string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Msg }

// Code returns the appmesh error code ("NotFoundException").
func (e *Error) Code() string { return errorTable[e.Kind].code }

func fail(k errKind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error { return fail(errBadRequest, format, args...) }

// wireError renders err for the caller: domain errors through the table,
// spec validation errors as BadRequestException naming the member, the
// framework's decode and required-member errors re-coded as App Mesh
// answers them (it has no ValidationException or SerializationException),
// and a policy refusal as AccessDeniedException with 403, the status AWS
// uses for it on REST services. Anything else passes through for the
// server to turn into InternalFailure.
func wireError(err error) error {
	var de *Error
	if errors.As(err, &de) {
		t := errorTable[de.Kind]
		return &awsproto.Error{Code: t.code, Message: de.Msg, Status: t.status}
	}
	var ve *spec.ValidationError
	if errors.As(err, &ve) {
		return &awsproto.Error{Code: errorTable[errBadRequest].code, Message: ve.Error(), Status: http.StatusBadRequest}
	}
	var ad *awsproto.AccessDenied
	if errors.As(err, &ad) {
		return &awsproto.Error{Code: awsproto.CodeAccessDenied, Message: ad.Error(), Status: http.StatusForbidden}
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) && (ae.Code == awsproto.CodeValidation || ae.Code == awsproto.CodeSerialization) {
		return &awsproto.Error{Code: errorTable[errBadRequest].code, Message: ae.Message, Status: http.StatusBadRequest}
	}
	return err
}
