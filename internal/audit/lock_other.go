//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package audit

import "os"

// lockFile does nothing where flock is unavailable: one writer per file is
// then the operator's responsibility.
func lockFile(*os.File) error { return nil }
