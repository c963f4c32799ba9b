// Package launch runs `bulwark proxy`: it turns the command's options into
// a running internal/proxy data plane — a snapshot from a local mesh file
// or from Bulwark's xDS stream (internal/proxy/xdsclient, pushed),
// certificate sources for file, sds and acm references
// (internal/proxy/awssource), AWS clients from the standard configuration
// chain, SIGHUP to re-check every certificate source and SIGTERM/SIGINT to
// drain. internal/cli only parses flags into Options.
package launch
