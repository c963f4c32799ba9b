// Package edge is the field-level-encryption reverse proxy behind
// `bulwark edge`: it sits in front of an origin, rewrites the request
// bodies (and query strings) that match its rules so sensitive fields
// reach the origin only as tokens (fle.Engine.Protect). A request no rule
// covers is refused if it carries a protected name (query, body, header,
// cookie) or a body the edge cannot read, and otherwise forwarded
// unchanged (streamed when it has no body, or under
// Config.PassUninspectedUnder).
//
// It fails closed: a request that matches a rule but cannot be parsed, is
// over the body limit, or whose key or encryption fails is answered with a
// JSON error and nothing is sent to the origin. Metrics (Prometheus and
// Envoy-style /stats) and the access log never contain field values.
package edge
