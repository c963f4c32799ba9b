// Package xdsclient feeds `bulwark proxy` from Bulwark's xDS management
// server (internal/mesh/xds), the same aggregated discovery stream App
// Mesh's Envoy sidecars read, instead of polling the App Mesh API.
//
// The client opens a state-of-the-world ADS stream as the proxy's virtual
// node or virtual gateway (node id = its ARN), signed with SigV4 under the
// service name "appmesh" as App Mesh's Envoy image signs it (or
// authenticated by a client certificate). It subscribes to every
// Listener, Cluster, RouteConfiguration and Secret of its node, and turns
// one complete version of them back into the proxy's own configuration
// (a spec.Snapshot plus the secrets, Decode), which the proxy applies with
// its generation/drain machinery. A version is applied only once every
// type has arrived at it, so a change is atomic; then every type is ACKed.
// What the proxy cannot enforce (a field Decode does not consume, or a
// setting the proxy refuses) is NACKed with the reason, and the running
// configuration stays.
//
// If the stream is down the proxy keeps serving the last applied version
// (fail static) while the client reconnects with backoff; its state is in
// Status and in the proxy's admin /stats (control_plane.*).
package xdsclient
