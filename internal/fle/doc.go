// Package fle is Bulwark's field-level encryption library: the rules
// engine the edge proxy calls to encrypt selected request fields before
// they reach the origin (Engine.Protect), and the Unprotector that finds
// tokens in any text and has them decrypted (by KMS in production, by
// local keys in tests).
//
// The pieces live in subpackages so each stays small: token (formats,
// markers, scanner, Encrypter/Decrypter), jsonrw (streaming JSON rewriter
// and selectors), codec (form, query, multipart, XML), detect (card, SSN,
// e-mail and phone detectors). This package composes them and owns the
// failure policy: every error is an *Error with a Kind the HTTP layer maps
// to a status, and no function ever returns a partially rewritten body.
//
// docs/fle.md describes token formats, selectors, detectors and limits.
package fle
