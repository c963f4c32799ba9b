package awsproto

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an AWS API error as a client sees it: a code that becomes the
// JSON "__type" or the Query <Code>, a message, an HTTP status and whether
// the caller (Sender) or the service (Receiver) is at fault.
//
// Causes are deliberately not carried: whatever went wrong inside is logged
// by the server with the request id, never serialised to the caller.
type Error struct {
	Code    string
	Message string
	Status  int
	// Receiver marks a service-side fault (5xx); the zero value is a
	// sender fault, which is what almost every error is.
	Receiver bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds a sender-fault error with HTTP status 400.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Common error codes shared by the JSON services. Services define their own
// codes beside their operations; these are the ones the framework itself
// produces.
const (
	CodeValidation         = "ValidationException"
	CodeSerialization      = "SerializationException"
	CodeUnknownOperation   = "UnknownOperationException"
	CodeInternalFailure    = "InternalFailure"
	CodeAccessDenied       = "AccessDeniedException"
	CodeInvalidAction      = "InvalidAction"
	CodeServiceUnavailable = "ServiceUnavailable"
)

// Validation returns a ValidationException with the given message.
func Validation(format string, args ...any) *Error {
	return Errorf(CodeValidation, format, args...)
}

// Serialization returns a SerializationException, used when the request
// body cannot be decoded into the operation's input shape.
func Serialization(format string, args ...any) *Error {
	return Errorf(CodeSerialization, format, args...)
}

// Internal returns the error every unexpected failure becomes on the wire.
// The request id lets an operator find the logged cause.
func Internal(requestID string) *Error {
	return &Error{
		Code:     CodeInternalFailure,
		Message:  "The request processing has failed because of an unknown error, exception or failure. Request ID: " + requestID,
		Status:   http.StatusInternalServerError,
		Receiver: true,
	}
}

// AccessDenied is returned by authorization. It is a distinct type so each
// protocol can render it with its own code (AccessDeniedException for JSON
// services, AccessDenied for IAM and STS).
type AccessDenied struct {
	Principal string
	Action    string
	Resource  string
	// Reason completes the sentence "because ...", as AWS messages do.
	Reason string
}

func (e *AccessDenied) Error() string {
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", e.Principal, e.Action, e.Resource)
	if e.Reason != "" {
		msg += " because " + e.Reason
	}
	return msg
}

// As converts any error into the *Error to render: an *Error passes
// through, AccessDenied gets accessDeniedCode, and anything else becomes an
// InternalFailure (the caller is expected to have logged the cause).
func As(err error, accessDeniedCode, requestID string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ad *AccessDenied
	if errors.As(err, &ad) {
		return &Error{Code: accessDeniedCode, Message: ad.Error(), Status: http.StatusBadRequest}
	}
	return Internal(requestID)
}
