// Package spec holds the App Mesh 2019-01-25 resource spec shapes that
// Bulwark's control plane stores and its data plane (internal/proxy) runs:
// virtual nodes, virtual gateways, gateway routes, virtual services, virtual
// routers and routes.
//
// JSON member names are exactly those of the botocore appmesh model
// (lowerCamelCase), so a spec written for `aws appmesh create-virtual-node
// --spec file://spec.json` decodes unchanged. Optional members are pointers
// or omitempty slices so that "absent" and "zero" stay distinct, as the wire
// protocol needs.
//
// Two extensions App Mesh never had are accepted and marked as such:
// `acm` trust (certificateAuthorityArns) on listener validation, and an
// `acm` client certificate in client policies; service discovery
// dns.hostname may carry an explicit port ("host:port") for a mesh that
// runs on one machine.
//
// Validate methods return a *ValidationError naming the offending member by
// its wire path (e.g. "spec.listeners[0].tls.mode"), which the control plane
// maps to BadRequestException. The "local mesh" file (LocalFile, ParseLocal)
// lets a proxy run from a file with no control plane.
package spec
