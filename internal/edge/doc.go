// Package edge is the field-level-encryption reverse proxy behind
// `bulwark edge`: it sits in front of an origin, rewrites the request
// bodies (and query strings) that match its rules so sensitive fields
// reach the origin only as tokens (fle.Engine.Protect), and streams every
// other request through untouched.
//
// It fails closed: a request that matches a rule but cannot be parsed, is
// over the body limit, or whose key or encryption fails is answered with a
// JSON error and nothing is sent to the origin. Metrics (Prometheus and
// Envoy-style /stats) and the access log never contain field values.
package edge
