// Package kmskeys connects field-level encryption to a KMS: the edge's
// public keys (GetPublicKey, cached and refreshed, as an fle.KeySource) and
// the unprotect side's decryption (KMS Decrypt with RSAES_OAEP_SHA_256 for
// rsa-oaep-256 tokens, Bulwark's HPKEOpenBatch extension for hpke tokens,
// as a token.BatchDecrypter).
//
// It works against Bulwark and, for the RSA path, AWS KMS alike. HPKEOpen
// and HPKEOpenBatch have no AWS SDK operation, so Client.HPKEOpen and
// Client.HPKEOpenBatch sign their own JSON 1.1 requests with the SDK's
// SigV4 signer and the configuration's credentials.
package kmskeys
