// Package tlsconf builds the proxy's TLS configurations: one long-lived
// server config per listener and one client config per upstream cluster.
//
// Every authorisation decision — peer certificate present when required,
// chain to the current trust bundle, validity at the injected clock, CRL
// revocation, SAN exact match — runs in tls.Config.VerifyConnection, which
// crypto/tls calls for full handshakes and for resumed sessions alike. So a
// SAN removed from the allowed list, or a CA dropped from the trust bundle,
// is refused on a resumed session too (ghostunnel's cloned-per-connection
// configs broke resumption; doing checks only in VerifyPeerCertificate
// would skip them on resumption).
//
// Configs are shared, never cloned per connection, so session tickets work;
// ticket keys rotate on a timer and immediately when the trust changes.
package tlsconf
