// Package meshclient builds a proxy's spec.Snapshot from an App Mesh
// control plane (Bulwark's or AWS's) through the aws-sdk-go-v2 `appmesh`
// client, and keeps it current by polling.
//
// Specs are decoded from the wire JSON straight into internal/mesh/spec
// types (whose member names are the model's), not through the SDK's typed
// unions: those drop members they do not know as UnknownUnionMember, and
// Bulwark's extensions (acm trust on listeners, acm client certificates)
// would vanish. The SDK still signs, resolves the endpoint, retries and
// types the errors; a middleware keeps a copy of each Describe response
// body for the decoder.
//
// Change detection uses the List operations, which return every resource's
// metadata.version: a poll lists the mesh's virtual nodes, services and
// routers, the routes of the routers in use and the gateway's routes, and
// rebuilds the snapshot (Describe calls) only when a version changed. The
// proxy is updated only when the rebuilt snapshot differs.
package meshclient
