// Package kms implements the AWS Key Management Service API (JSON 1.1,
// target TrentService): symmetric AES-256-GCM keys with encryption context,
// RSA and ECC keys for encryption and signing, HMAC keys, aliases, key
// policies evaluated by internal/policy in KMS's key-policy mode, tags,
// rotation and scheduled deletion.
//
// Layout: errors.go is the one error table; store.go the typed storage
// layer over internal/store (key metadata in Record.Data, key material only
// in the sealed Record.Secret); keys.go, crypto.go and blob.go the domain
// logic, which knows nothing of HTTP; api.go the only file that knows wire
// shapes. Secrets Manager uses GenerateDataKeyFor and DecryptFor.
package kms
