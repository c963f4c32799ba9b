// Package pca is Bulwark's private certificate authority: the AWS Private
// CA API (JSON 1.1, target ACMPrivateCA) over the record store.
//
// A CA is created PENDING_CERTIFICATE with a freshly generated key (sealed
// at rest) and a CSR; it becomes ACTIVE when a certificate for that key is
// imported — a root by issuing its own CSR with RootCACertificate/V1, a
// subordinate by having a parent (in Bulwark or outside) sign its CSR with
// a SubordinateCACertificate_PathLenN/V1 template. Active CAs issue
// certificates from the AWS templates (see internal/x509util), revoke
// them, and publish a signed DER CRL per CA at Config.CRLBaseURL +
// "/<ca-id>.crl" over plain HTTP (api.Service.Routes "/crl/").
//
// The CRL is built from a per-CA index of revoked, unexpired certificates:
// an entry leaves the index (and the CRL) once its certificate expires, so
// nothing grows without bound. The CRL is regenerated on every revocation,
// when half its validity has passed, and whenever an entry has expired.
//
// A CA whose OcspConfiguration is enabled also answers OCSP (RFC 6960)
// at "/ocsp/<ca-id>" (api.Service.Routes "/ocsp/"; POST and the GET form),
// with responses signed by the CA itself and valid for OCSPValidity; its
// issued certificates name the responder in their authority information
// access. Signed good and revoked responses are reused for a few minutes,
// and a revocation drops them at once.
//
// ACM uses the CA through IssueFor, RevokeFor and KeyAlgorithmOf, which
// skip authorization (ACM authorizes its own caller).
package pca
