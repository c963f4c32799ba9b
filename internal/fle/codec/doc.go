// Package codec walks the non-JSON request payloads that field-level
// encryption rewrites — application/x-www-form-urlencoded bodies, URL query
// strings, multipart/form-data and XML — offering each field value to a
// callback and copying every byte the callback does not replace.
//
// The codecs are selection-agnostic: the callback (fle's rules engine)
// decides what to encrypt. A field the codec cannot rewrite safely (a file
// part, a part with a transfer encoding, an XML element with child
// elements) is still offered, marked Opaque, so the caller can fail closed
// when it was asked to protect it instead of silently forwarding it.
package codec
