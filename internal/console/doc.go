// Package console serves Bulwark's web console: static files embedded in
// the binary, under /console/, with a strict Content-Security-Policy.
//
// The handler is deliberately dumb. It holds no session and reads no
// credential: the browser signs every API call itself with SigV4 (see
// static/sigv4.js) and sends it to the same public APIs the CLI uses, so
// authorization and the audit trail are exactly those of the CLI. What
// this package serves is the same for every visitor, signed in or not.
package console
