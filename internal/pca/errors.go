package pca

import (
	"errors"
	"net/http"
	"strings"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with detail (fmt.Errorf("%w: …"));
// toAWS maps them to the wire.
var (
	ErrNotFound             = errors.New("not found")
	ErrInvalidArn           = errors.New("invalid ARN")
	ErrInvalidArgs          = errors.New("invalid arguments")
	ErrInvalidState         = errors.New("invalid state")
	ErrInvalidRequest       = errors.New("invalid request")
	ErrInvalidPolicy        = errors.New("invalid policy")
	ErrInvalidTag           = errors.New("invalid tag")
	ErrTooManyTags          = errors.New("too many tags")
	ErrMalformedCSR         = errors.New("malformed CSR")
	ErrMalformedCertificate = errors.New("malformed certificate")
	ErrCertificateMismatch  = errors.New("certificate mismatch")
	ErrAlreadyProcessed     = errors.New("request already processed")
	ErrInvalidNextToken     = errors.New("invalid next token")
	ErrConcurrent           = errors.New("concurrent modification")
)

// errorTable is the one place domain errors become AWS error codes.
var errorTable = []struct {
	err  error
	code string
}{
	{ErrNotFound, "ResourceNotFoundException"},
	{ErrInvalidArn, "InvalidArnException"},
	{ErrInvalidArgs, "InvalidArgsException"},
	{ErrInvalidState, "InvalidStateException"},
	{ErrInvalidRequest, "InvalidRequestException"},
	{ErrInvalidPolicy, "InvalidPolicyException"},
	{ErrInvalidTag, "InvalidTagException"},
	{ErrTooManyTags, "TooManyTagsException"},
	{ErrMalformedCSR, "MalformedCSRException"},
	{ErrMalformedCertificate, "MalformedCertificateException"},
	{ErrCertificateMismatch, "CertificateMismatchException"},
	{ErrAlreadyProcessed, "RequestAlreadyProcessedException"},
	{ErrInvalidNextToken, "InvalidNextTokenException"},
	{ErrConcurrent, "ConcurrentModificationException"},
}

// toAWS converts a domain error to its wire form; errors it does not know
// (store failures, bugs) pass through to become InternalFailure.
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
