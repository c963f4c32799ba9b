// Package certsync moves an exported certificate between the certificate
// manager, the secret store and a proxy's file system, through the public
// AWS APIs only (so it works against Bulwark and AWS alike):
//
//   - Export is the seed's export Lambda: a random passphrase from
//     secretsmanager:GetRandomPassword, acm:ExportCertificate with it, and
//     four secrets PREFIX/certificate, PREFIX/certificate-chain,
//     PREFIX/private-key (encrypted PKCS#8 PEM) and PREFIX/passphrase. All
//     four versions of one export share one version id derived from the
//     certificate ARN and serial, so re-running is a no-op and a renewed
//     certificate gets new versions.
//   - Fetch is the seed's proxy start-up script: it reads the four secrets
//     at one version id, decrypts the key (internal/pkcs8 reads ACM's
//     layout) and checks that it matches the certificate.
//   - Writer places the result on disk as a set that is swapped atomically
//     (one symlink rename), never a mix of an old key and a new
//     certificate; Watcher polls for a new version and rewrites the set.
//   - ChildEnv and RunChild start the proxy with an environment that holds
//     neither the passphrase nor the key.
//
// Nothing here logs, prints or puts into an error a passphrase or a key.
// docs/lifecycle.md describes the layouts and the IAM policies.
package certsync
