package fle

import (
	"fmt"
	"net/http"
)

// ErrorKind classifies failures so the edge can answer with the right
// status and count errors by kind. The values are stable metric labels.
type ErrorKind string

// The error kinds.
const (
	KindBodyTooLarge      ErrorKind = "body_too_large"
	KindUnparseable       ErrorKind = "unparseable"
	KindUnsupported       ErrorKind = "unsupported_media_type"
	KindPlaintextTooLarge ErrorKind = "plaintext_too_large"
	KindKeyUnavailable    ErrorKind = "key_unavailable"
	KindEncrypt           ErrorKind = "encrypt_failed"
	KindDecrypt           ErrorKind = "decrypt_failed"
	KindConfig            ErrorKind = "config"
	// KindAmbiguousPath: a path origins may split differently (an encoded
	// '/' or '\', a backslash, a control character), see PathForms.
	KindAmbiguousPath ErrorKind = "ambiguous_path"
	// KindOverride: a method or URL override header (X-HTTP-Method-Override,
	// X-Original-URL, ...) that would make the origin route the request
	// somewhere the rules did not look.
	KindOverride ErrorKind = "override_header"
	// KindOutsideRule: a request no rule covers carries a name some rule
	// protects, in its query or anywhere in its body.
	KindOutsideRule ErrorKind = "protected_name_outside_rule"
	// KindProtectedHeader: a request header or cookie is named like a
	// protected field and its value is not a token.
	KindProtectedHeader ErrorKind = "protected_name_in_header"
	// KindAmbiguousHeader: a header the edge decides by (Content-Type,
	// Content-Encoding) is sent more than once, or request trailers are
	// declared, so the origin may read a different one than the edge.
	KindAmbiguousHeader ErrorKind = "ambiguous_header"
	// KindUninspectable: a stream the edge cannot read before the origin
	// does (a protocol upgrade such as WebSocket) on a path not listed as
	// uninspected.
	KindUninspectable ErrorKind = "uninspectable_stream"
)

// HTTPStatus is the status the edge answers with for this kind.
func (k ErrorKind) HTTPStatus() int {
	switch k {
	case KindBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindUnparseable, KindAmbiguousPath, KindOverride, KindOutsideRule, KindProtectedHeader, KindAmbiguousHeader, KindUninspectable:
		return http.StatusBadRequest
	case KindUnsupported:
		return http.StatusUnsupportedMediaType
	case KindPlaintextTooLarge:
		return http.StatusUnprocessableEntity
	case KindKeyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error is the only error type this package returns from Protect, Unprotect
// and New. Its message never contains a field value.
type Error struct {
	Kind ErrorKind
	// Rule is the name of the rule being applied, if any.
	Rule string
	// Field is the path of the field concerned, if any.
	Field string
	Err   error
}

// Error implements the error interface.
func (e *Error) Error() string {
	s := "fle: " + string(e.Kind)
	if e.Rule != "" {
		s += " (rule " + e.Rule + ")"
	}
	if e.Field != "" {
		s += " at " + e.Field
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// BodyTooLargeError is wrapped by a KindBodyTooLarge *Error.
type BodyTooLargeError struct{ Limit int64 }

// Error implements the error interface.
func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("body exceeds the %d-byte limit", e.Limit)
}
