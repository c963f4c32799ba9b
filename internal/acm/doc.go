// Package acm is Bulwark's certificate manager for private certificates:
// the AWS Certificate Manager API (JSON 1.1, target CertificateManager).
//
// RequestCertificate with a CertificateAuthorityArn generates the key pair
// in Bulwark (sealed at rest), has the private CA sign it and returns an
// ISSUED certificate at once. ExportCertificate hands out the certificate,
// its chain and the key encrypted exactly as ACM does (see
// internal/pkcs8). RenewCertificate keeps the ARN and replaces serial, key
// and validity. Tick (run every minute by the server) emits the ACM
// expiry events through the event bus and renews exported private
// certificates that enter their renewal window.
//
// Validity: AWS fixes private certificates at 395 days. Bulwark keeps that
// default (Config.DefaultValidity) and lets a certificate ask for another
// one with the tag "bulwark:validity" (a Go duration such as "24h" or
// "15m"), so meshes can run short-lived certificates.
package acm
