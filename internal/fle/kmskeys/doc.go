// Package kmskeys connects field-level encryption to a KMS: the edge's
// public keys (GetPublicKey, cached and refreshed, as an fle.KeySource) and
// the unprotect side's decryption (KMS Decrypt with RSAES_OAEP_SHA_256 for
// rsa-oaep-256 tokens, Bulwark's HPKEOpen extension for hpke tokens, as a
// token.Decrypter).
//
// It works against Bulwark and, for the RSA path, AWS KMS alike. HPKEOpen
// has no AWS SDK operation, so Client.HPKEOpen signs its own JSON 1.1
// request with the SDK's SigV4 signer and the configuration's credentials.
package kmskeys
