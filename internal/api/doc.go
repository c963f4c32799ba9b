// Package api is the contract between the server and the services it hosts:
// what a service registers (its name, protocol and operations) and what an
// operation handler sees of a call (the authenticated caller, an
// authorizer bound to that caller, and the audit record it fills in).
//
// Services import this package and awsproto; they never import the server
// or each other, so each one can be read, tested and replaced alone.
package api
