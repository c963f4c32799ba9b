// Package demo runs the seed's scenarios end to end on loopback, in one
// process, through the same public APIs and components a user would run:
// an embedded server, two private CA hierarchies, least-privilege
// principals, certificates from ACM exported into Secrets Manager, the
// Color App mesh created through the appmesh API, Bulwark proxies doing
// one-way TLS and mTLS with Envoy's statistics as proof, refusals, an
// event-driven renewal with no failed request, and field-level encryption
// at the edge. Every step checks what it claims; Run fails if any check
// does.
package demo
