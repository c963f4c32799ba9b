// Package x509util holds the certificate profiles Bulwark's private CA
// issues with — the AWS Private CA templates (EndEntityCertificate/V1,
// RootCACertificate/V1, SubordinateCACertificate_PathLenN/V1 and their
// APIPassthrough / CSRPassthrough variants) — and the small key and
// serial-number helpers the CA and the certificate manager share.
//
// It knows nothing of storage or the wire: callers give it a parsed CSR,
// the issuer and a validity, and get back an *x509.Certificate template
// ready for x509.CreateCertificate.
package x509util
