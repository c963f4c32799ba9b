package events

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// errKind classifies the domain's errors; toAPI is the one table mapping
// them to EventBridge's wire errors.
type errKind int

const (
	kindNotFound errKind = iota + 1
	kindExists
	kindInvalid
	kindLimit
	kindPattern
)

// Error is a domain error with the message a caller may see.
type Error struct {
	kind errKind
	msg  string
}

// Error implements the error interface.
func (e *Error) Error() string { return "events: " + e.msg }

func notFound(format string, args ...any) error {
	return &Error{kindNotFound, fmt.Sprintf(format, args...)}
}

func exists(format string, args ...any) error {
	return &Error{kindExists, fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &Error{kindInvalid, fmt.Sprintf(format, args...)}
}

func limit(format string, args ...any) error {
	return &Error{kindLimit, fmt.Sprintf(format, args...)}
}

// codes maps each kind to EventBridge's error shape. Everything else
// (store failures, bugs) is left to the server, which logs it and answers
// InternalFailure.
var codes = map[errKind]struct {
	code   string
	status int
}{
	kindNotFound: {"ResourceNotFoundException", http.StatusBadRequest},
	kindExists:   {"ResourceAlreadyExistsException", http.StatusBadRequest},
	kindInvalid:  {awsproto.CodeValidation, http.StatusBadRequest},
	kindLimit:    {"LimitExceededException", http.StatusBadRequest},
	kindPattern:  {"InvalidEventPatternException", http.StatusBadRequest},
}

// toAPI converts a domain error into its wire form; other errors pass
// through unchanged.
func toAPI(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errPattern) {
		return &awsproto.Error{Code: codes[kindPattern].code, Message: "Event pattern is not valid. Reason: " + err.Error(), Status: codes[kindPattern].status}
	}
	var e *Error
	if errors.As(err, &e) {
		c := codes[e.kind]
		return &awsproto.Error{Code: c.code, Message: e.msg, Status: c.status}
	}
	return err
}
