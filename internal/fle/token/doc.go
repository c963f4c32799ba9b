// Package token defines Bulwark's field-level encryption tokens: their
// versioned text markers, the public-key Encrypter used at the edge, the
// private-key Decrypter used by unprotect, and a hand-written Scanner that
// finds tokens in arbitrary text.
//
// Two formats exist. FormatRSA ("rsa-oaep-256") is byte-compatible with the
// seed's Lambda@Edge function: "#<id>#" + standard base64 of an
// RSA-OAEP-SHA256 ciphertext + "#<reversed id>#". FormatHPKE ("hpke") is
// RFC 9180 HPKE with the key id and the field path bound into info, marked
// "#<id>:h1#...#1h:<reversed id>#". In both the suffix is the prefix read
// backwards, which is what lets the scanner find the end of a token without
// knowing the key set. docs/fle.md is the normative description.
package token
