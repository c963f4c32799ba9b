package cli

import "github.com/spf13/cobra"

// newMeshCmd is the `bulwark mesh` command group. (Minimal parent for
// `mesh bootstrap`; the `mesh import` work defines the same group in
// mesh.go, and the two are reconciled at merge.)
func newMeshCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mesh", Short: "App Mesh data-plane tools"}
	cmd.AddCommand(newMeshBootstrapCmd())
	return cmd
}
