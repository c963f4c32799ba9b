// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests.
//
// It is the server-side half of what aws-sdk-go-v2's aws/signer/v4 does on
// the client: it rebuilds the canonical request byte for byte the way the SDK
// built it, derives the signing key from the secret returned by a Lookup,
// and compares signatures in constant time. Both forms are accepted: the
// Authorization header and presigned query parameters (X-Amz-Algorithm,
// X-Amz-Credential, ...).
//
// The package knows nothing about storage or services. A server calls
// ParseScope first when it needs to route by credential scope (for example to
// tell IAM and STS Query requests apart), then Verifier.Verify. Failures are
// *Error values carrying a Kind; turning a Kind into the protocol's AWS error
// code is the server's job. Any other error from Verify is an internal
// failure (typically the Lookup could not reach storage).
//
// The canonical URI is built from r.URL.EscapedPath(), escaped a second
// time for every service except "s3", as the SDK does; a proxy in front of
// the server that rewrites paths or query strings breaks signatures.
//
// Verifier keeps a bounded cache of derived signing keys so the four HMACs of
// key derivation run once per (key id, secret, date, region, service) rather
// than on every request. The cache compares a SHA-256 of the secret, so a
// rotated secret never reuses a key derived from the old one.
package sigv4
