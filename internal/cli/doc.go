// Package cli builds the bulwark command line: one file per command group.
// Commands parse flags into configuration values and call into the
// packages that do the work; no command keeps state in globals.
package cli
