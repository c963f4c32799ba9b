// Package admin serves the proxy's Envoy-compatible admin endpoints:
// /stats (text, ?filter=RE, ?usedonly, ?format=json, ?format=prometheus),
// /stats/prometheus, /certs, /ready, /server_info and /config_dump.
//
// The admin listener has no authentication; bind it to loopback. Nothing
// it serves holds key material: /config_dump shows file paths and secret
// names, and redacts anything that looks like a private key.
package admin
