// Package proxystatus is Bulwark's read-only API over the data planes
// connected to its xDS management server (signing name "bulwark", JSON 1.1
// target prefix "BulwarkMesh"): ListConnectedProxies answers, per virtual
// node or virtual gateway of one mesh, how many streams are open, the
// configuration version served, the last version each resource type
// acknowledged, and the last configuration refused (NACK) with its error.
//
// It reports what the management server knows, including the listeners'
// TLS handshake counters the data planes push to its stats sink
// (xds.Server.Counters); this server never fetches a proxy admin URL a
// caller names to read them (docs/console.md says why).
//
// Every call is authorized (bulwark:ListConnectedProxies on the mesh ARN)
// and audited as a read. The web console's Mesh view is built on it.
package proxystatus
