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

// Framework errors. The framework's own failures (a body that does not
// decode, a missing required member, a policy refusal) match these with
// errors.Is, so a service whose API answers them with other codes re-codes
// them in its ErrorTable (App Mesh answers BadRequestException where the
// JSON services answer ValidationException).
var (
	// ErrValidation matches every *Error with CodeValidation.
	ErrValidation error = codeSentinel(CodeValidation)
	// ErrSerialization matches every *Error with CodeSerialization.
	ErrSerialization error = codeSentinel(CodeSerialization)
	// ErrAccessDenied matches every *AccessDenied.
	ErrAccessDenied error = codeSentinel("AccessDenied")
)

type codeSentinel string

func (c codeSentinel) Error() string { return string(c) }

// Is lets errors.Is(err, ErrValidation) find a ValidationException.
func (e *Error) Is(target error) bool {
	c, ok := target.(codeSentinel)
	return ok && string(c) == e.Code
}

// Is lets errors.Is(err, ErrAccessDenied) find a refusal.
func (e *AccessDenied) Is(target error) bool { return target == ErrAccessDenied }

// ErrorMapping maps one domain error of a service to its AWS error shape.
type ErrorMapping struct {
	// Err is the service's sentinel error (matched with errors.Is), or one
	// of the framework's (ErrValidation, ErrSerialization, ErrAccessDenied).
	Err error
	// Code is the wire code: the JSON "__type", the Query <Code>.
	Code string
	// Status is the HTTP status; 0 means 400.
	Status int
	// Message is the message of a bare sentinel, returned without detail;
	// "" means the sentinel's own text.
	Message string
}

// ErrorTable is a service's one table of domain errors and wire shapes.
// The service's domain code returns its sentinels wrapped with the
// message the caller should read,
//
//	fmt.Errorf("%w: Key '%s' does not exist", ErrNotFound, arn)
//
// and the typed adapters of package api convert every handler error through
// the table of the service (api.Service.Errors) at one exit point.
type ErrorTable []ErrorMapping

// Convert turns a domain error into its wire form. The first mapping whose
// Err the error matches decides the code and status; the message is the
// detail that follows the sentinel ("not found: Key 'x' does not exist"
// gives "Key 'x' does not exist", whatever context was wrapped around it),
// the mapping's Message for a bare sentinel, or the framework error's own
// message. An error the table does not know passes through unchanged: an
// *Error or *AccessDenied reaches the caller as is, anything else becomes
// InternalFailure (the cause is logged, never serialised).
func (t ErrorTable) Convert(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range t {
		if !errors.Is(err, m.Err) {
			continue
		}
		msg, ok := detail(err, m.Err)
		if !ok {
			msg = m.Message
			if msg == "" {
				msg = m.Err.Error()
			}
		}
		status := m.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return &Error{Code: m.Code, Message: msg, Status: status, Receiver: status >= 500}
	}
	return err
}

// Lookup returns the mapping err converts through, if any.
func (t ErrorTable) Lookup(err error) (ErrorMapping, bool) {
	for _, m := range t {
		if errors.Is(err, m.Err) {
			return m, true
		}
	}
	return ErrorMapping{}, false
}

// detail finds the message err carries for sentinel: the text after
// "<sentinel>: " of the error that wraps the sentinel directly, or the
// message of a framework error that matches it. ok is false for a bare
// sentinel.
func detail(err, sentinel error) (msg string, ok bool) {
	if err == nil || err == sentinel {
		return "", false
	}
	switch e := err.(type) {
	case *Error:
		if e.Is(sentinel) {
			return e.Message, true
		}
	case *AccessDenied:
		if e.Is(sentinel) {
			return e.Error(), true
		}
	}
	var next []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		next = []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		next = u.Unwrap()
	}
	for _, n := range next {
		if n == sentinel {
			return strings.TrimPrefix(err.Error(), sentinel.Error()+": "), true
		}
	}
	for _, n := range next {
		if errors.Is(n, sentinel) {
			return detail(n, sentinel)
		}
	}
	return "", false
}
