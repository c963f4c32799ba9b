// Package e2e drives the real bulwark binary: it builds it once, starts it
// as a process, and checks what only a process shows — printed
// credentials, signals, crash safety, the CLI tools.
package e2e
