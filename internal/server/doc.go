// Package server is Bulwark's composition root and HTTP front door: it
// builds every component from a Config (store, sealing, audit log, IAM and
// the hosted services) and serves all of their APIs on one port.
//
// A request goes through one pipeline, in this order: read the body (with
// a limit), route by protocol (X-Amz-Target for JSON 1.1, the SigV4
// credential scope for Query), verify the SigV4 signature, run the
// operation (which authorizes itself against the policy engine once it
// knows the resource), render the result in the service's protocol, and
// append exactly one audit event. Metrics and logs observe every step.
package server
