//go:build !unix

package certsync

import "os/exec"

func signalNumber(*exec.ExitError) int { return 0 }
