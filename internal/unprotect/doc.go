// Package unprotect is the logic of `bulwark unprotect`: it replaces the
// field tokens in documents by their plaintexts through the KMS (the
// decrypter is the caller's, so its key policies decide which fields it
// sees), for files and streams (Run) and as an authenticated HTTP service
// (Handler), the counterpart of the seed's decryption function.
package unprotect
