// Package awssource provides the proxy's remote certificate sources, the
// `sds` and `acm` members of App Mesh TLS specs, over the public AWS APIs
// (so they work against Bulwark and AWS alike):
//
//   - sds certificate (secretName NAME): the four secrets that
//     `bulwark certs export-to-secrets` writes (internal/certsync layout:
//     NAME/certificate, NAME/certificate-chain, NAME/private-key as
//     encrypted PKCS#8 and NAME/passphrase), read at one version and
//     decrypted in memory. Changes are seen through DescribeSecret (the
//     certificate secret's AWSCURRENT version id), which never returns a
//     secret value.
//   - sds trust (secretName NAME): one secret holding a PEM bundle (CA
//     certificates, optionally CRLs). NAME/certificate-chain of an export
//     is such a bundle.
//   - acm certificate (certificateArn): as App Mesh's Envoy does it,
//     acm:ExportCertificate with a passphrase generated here; the key is
//     decrypted in memory and never written to disk. Renewals are seen
//     through DescribeCertificate (serial and NotAfter).
//   - acm trust (certificateAuthorityArns): acm-pca
//     GetCertificateAuthorityCertificate for each CA (certificate and
//     chain) as the trust bundle; changes are seen by hashing the result.
//
// Every source asks its service at most once per Config.Interval however
// often the proxy polls (remote APIs are rate limited; a fleet of proxies
// polling every second would be throttled). Factory.Expire makes the next
// poll ask again (SIGHUP). The clients are passed in, never globals, and
// are the narrow interfaces below, so a proxy's principal needs only the
// actions those interfaces call (docs/proxy.md lists the IAM policies).
package awssource
