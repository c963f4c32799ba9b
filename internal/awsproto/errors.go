package awsproto

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// Error implements the error interface.
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

// Error implements the error interface.
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

// ErrorMapping maps a service's domain sentinel error to its AWS code.
type ErrorMapping struct {
	Err  error
	Code string
	// Status is the HTTP status; 0 means 400.
	Status int
}

// ErrorTable is a service's one table of domain errors and wire codes.
type ErrorTable []ErrorMapping

// Convert turns a domain error into its wire form: *Error and
// *AccessDenied pass through, an error wrapping a sentinel of the table
// becomes that code with the detail after the sentinel's own text as the
// message ("not found: certificate X" → "certificate X"), and anything
// else passes through unchanged to become InternalFailure.
func (t ErrorTable) Convert(err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	var ad *AccessDenied
	if errors.As(err, &ae) || errors.As(err, &ad) {
		return err
	}
	for _, m := range t {
		if !errors.Is(err, m.Err) {
			continue
		}
		msg := err.Error()
		if i := strings.Index(msg, m.Err.Error()+": "); i >= 0 {
			msg = msg[i+len(m.Err.Error())+2:]
		}
		status := m.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return &Error{Code: m.Code, Message: msg, Status: status}
	}
	return err
}
