// Package pkcs8 writes and reads passphrase-encrypted PKCS#8 private keys
// (RFC 5958 EncryptedPrivateKeyInfo with RFC 8018 PBES2).
//
// The writer produces exactly the layout AWS Certificate Manager's
// ExportCertificate returns — PBES2 with PBKDF2 (20-byte salt, 2048
// iterations, the PRF element omitted so it defaults to HMAC-SHA1) and
// AES-256-CBC — so every tool that decrypts ACM keys decrypts Bulwark's.
// The reader accepts any PBES2 key OpenSSL and the common libraries write:
// PRF hmacWithSHA1/SHA224/SHA256/SHA384/SHA512 and AES-128/192/256-CBC.
// Legacy PBES1 (MD5/DES, SHA1/RC2) is refused.
package pkcs8
