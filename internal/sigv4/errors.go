package sigv4

import (
	"errors"
	"fmt"
)

// Kind classifies a verification failure. The server maps each Kind to the
// AWS error code of its protocol; this package does not know those codes.
type Kind int

const (
	// KindMissing means the request carries neither an Authorization header
	// nor presigned query parameters (MissingAuthenticationToken).
	KindMissing Kind = iota + 1
	// KindIncomplete means the authentication data is present but malformed:
	// missing components, a bad date format, a bad credential scope, an
	// unsupported algorithm, a signed header absent from the request
	// (IncompleteSignature).
	KindIncomplete
	// KindUnknownKey means the access key id is unknown or the key is not
	// active (InvalidClientTokenId / UnrecognizedClientException).
	KindUnknownKey
	// KindBadSignature means the signature, or the declared payload hash,
	// does not match the request (SignatureDoesNotMatch /
	// InvalidSignatureException).
	KindBadSignature
	// KindExpired means the request date is too far from the server clock,
	// a presigned URL is past its X-Amz-Expires, or X-Amz-Expires exceeds
	// seven days (RequestExpired / InvalidSignatureException).
	KindExpired
)

// String returns the Kind's name, for logs.
func (k Kind) String() string {
	switch k {
	case KindMissing:
		return "missing"
	case KindIncomplete:
		return "incomplete"
	case KindUnknownKey:
		return "unknown key"
	case KindBadSignature:
		return "bad signature"
	case KindExpired:
		return "expired"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a verification failure. Msg is modelled on AWS's own messages and
// is safe to send to the client: it never contains a secret, a derived key
// or the signature the server computed.
type Error struct {
	Kind Kind
	Msg  string
	// cause lets callers tell, for audit, why a key was refused (ErrUnknownKey
	// or ErrInactiveKey) without putting that difference on the wire.
	cause error
}

// Error returns the kind and the message.
func (e *Error) Error() string { return "sigv4: " + e.Kind.String() + ": " + e.Msg }

// Unwrap returns ErrUnknownKey, ErrInactiveKey or ErrUnknownToken for
// KindUnknownKey failures, nil otherwise.
func (e *Error) Unwrap() error { return e.cause }

// ErrUnknownKey is what a Lookup wraps when the access key id does not exist.
var ErrUnknownKey = errors.New("sigv4: unknown access key id")

// ErrInactiveKey is the cause (see Error.Unwrap) of a KindUnknownKey failure
// for a key whose Credential.Active is false.
var ErrInactiveKey = errors.New("sigv4: access key is not active")

// ErrUnknownToken is the cause of a KindUnknownKey failure for a request
// whose X-Amz-Security-Token the verifier did not accept.
var ErrUnknownToken = errors.New("sigv4: security token not issued by this server")

// Messages AWS uses verbatim; clients and tests match on them.
const (
	msgMissing      = "Missing Authentication Token"
	msgInvalidToken = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

func newError(k Kind, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Kind: k, Msg: format}
	}
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
