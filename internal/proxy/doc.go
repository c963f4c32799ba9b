// Package proxy is Bulwark's mesh data plane: the process `bulwark proxy`
// runs for one App Mesh virtual node (a sidecar in front of a local
// application) or virtual gateway (a proxy alone, routing into the mesh).
//
// A Proxy is built from a spec.Snapshot (from a local file or, later, the
// control plane) with New, served with Run, and follows changes with Update
// without dropping connections. Listeners speak HTTP/1.1, HTTP/2 (h2 over
// TLS by ALPN, h2c for http2/grpc listeners), gRPC (trailers pass through)
// or raw TCP; TLS comes from the spec (STRICT, PERMISSIVE with plaintext
// detected from the first byte, DISABLED; mTLS when validation is set) and
// client policies originate TLS or mTLS to upstream nodes.
//
// Certificates come from certsource Reloaders (hot reload, validated before
// use); authorisation runs in tlsconf's VerifyConnection; no connection
// outlives the earliest NotAfter of the certificates it was made with (it
// is drained gracefully DrainWindow before); statistics use Envoy's names
// (package stats) and are served with /certs, /ready, /server_info and
// /config_dump by the admin listener (package admin).
//
// HTTP/1.1 on "http" listeners is forwarded by a purpose-built path
// (h1serve.go, h1parse.go, h1pool.go): one goroutine per downstream
// connection, a strict parser, pooled buffers and upstream connections.
// HTTP/2, h2c, and requests it does not handle (HTTP/2 or gRPC upstreams,
// retries, connection limits, Upgrade) go through net/http's server and
// httputil.ReverseProxy.
package proxy
