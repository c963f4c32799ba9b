// Package controlplane is Bulwark's App Mesh control plane: the `appmesh`
// API (REST-JSON, the botocore 2019-01-25 model) for meshes, virtual
// nodes, virtual services, virtual routers and routes, virtual gateways and
// gateway routes, with tags.
//
// Specs are the shapes of internal/mesh/spec and are checked by its
// validators; what those types do not model (mesh specs, resource names,
// tags, limits, references between resources) is checked here. A spec is
// stored as the client sent it (compacted JSON) once it has validated, so
// members the spec package does not model yet (queryParameters, gRPC retry
// policies) round-trip instead of being silently dropped.
//
// Every resource carries metadata.version, 1 at creation and one more per
// update. API clients follow changes by polling: the List* operations
// return every resource's version in one call, and Describe* the resource
// itself. Inside the server, Subscribe tells the xDS server
// (internal/mesh/xds) which mesh changed and ProxySnapshot reads
// everything one proxy needs, so data planes get pushes instead of
// polling.
//
// Referential integrity follows App Mesh: a mesh cannot be deleted while it
// holds resources, a virtual router while it has routes or provides a
// virtual service, a virtual gateway while it has gateway routes, a virtual
// node while it provides a virtual service or is a route target, a virtual
// service while a gateway route targets it (ResourceInUseException). A
// virtual service's provider, a route's targets and a gateway route's
// target must exist when written (NotFoundException); a virtual node's
// backends may name services that do not exist yet.
//
// The package knows nothing of the proxy (internal/proxy): the data plane
// talks to it over the wire like any App Mesh client.
package controlplane
