package pca

import (
	"errors"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Domain errors. The service wraps them with detail (fmt.Errorf("%w: …"));
// errorTable maps them to the wire.
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
var errorTable = awsproto.ErrorTable{
	{Err: ErrNotFound, Code: "ResourceNotFoundException"},
	{Err: ErrInvalidArn, Code: "InvalidArnException"},
	{Err: ErrInvalidArgs, Code: "InvalidArgsException"},
	{Err: ErrInvalidState, Code: "InvalidStateException"},
	{Err: ErrInvalidRequest, Code: "InvalidRequestException"},
	{Err: ErrInvalidPolicy, Code: "InvalidPolicyException"},
	{Err: ErrInvalidTag, Code: "InvalidTagException"},
	{Err: ErrTooManyTags, Code: "TooManyTagsException"},
	{Err: ErrMalformedCSR, Code: "MalformedCSRException"},
	{Err: ErrMalformedCertificate, Code: "MalformedCertificateException"},
	{Err: ErrCertificateMismatch, Code: "CertificateMismatchException"},
	{Err: ErrAlreadyProcessed, Code: "RequestAlreadyProcessedException"},
	{Err: ErrInvalidNextToken, Code: "InvalidNextTokenException"},
	{Err: ErrConcurrent, Code: "ConcurrentModificationException"},
}
