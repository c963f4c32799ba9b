// Package xds serves App Mesh configuration to Envoy over the xDS v3
// protocol: it translates a proxy's App Mesh resources (internal/mesh/spec)
// into Envoy listeners, routes, clusters and secrets, validates every
// resource with go-control-plane's generated validators, keeps one
// snapshot per connected node in go-control-plane's snapshot cache, and
// serves the aggregated discovery service (state-of-the-world and delta)
// over gRPC.
//
// Identity follows App Mesh's Envoy image: the node id is the virtual node
// or virtual gateway ARN (APPMESH_RESOURCE_ARN) or the older
// "mesh/<mesh>/virtualNode/<name>" form, and the stream is SigV4-signed
// under the signing name "appmesh". The package does not verify signatures
// or evaluate policies itself: it hands the stream's headers and the ARN to
// an Authorizer, which the server implements with its SigV4 verifier, the
// policy engine and the audit log.
//
// Certificates named by ACM ARN and trust bundles named by ACM PCA ARN are
// delivered as SDS secrets on the same stream, so a data plane needs
// neither export rights nor a private key on disk. The package learns of
// changes through the Mesh and Certificates interfaces' Subscribe hooks and
// rebuilds only the snapshots of affected nodes.
//
// The same gRPC server takes data planes' statistics: Envoy's stats sink
// service (envoy.service.metrics.v3.MetricsService, metricsink.go),
// authorized through the same Authorizer as the node's ADS stream. Only
// the listeners' TLS handshake counters are kept, bounded, in memory
// (Counters), for the console's view of connected proxies.
package xds
