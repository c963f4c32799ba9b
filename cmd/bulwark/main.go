// Command bulwark is the single Bulwark binary: the API server, the mesh
// proxy, the edge proxy and the operator tools. See `bulwark --help`.
package main

import (
	"os"

	"github.com/bulwarkd/bulwark/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
