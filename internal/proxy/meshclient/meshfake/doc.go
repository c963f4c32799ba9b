// Package meshfake is an in-memory appmesh REST-JSON endpoint for tests of
// the data plane's control-plane client, for use where the real control
// plane (internal/mesh/controlplane) is not needed or not wired in.
package meshfake
