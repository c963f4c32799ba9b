package cli

import (
	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/demo"
)

func newDemoCmd() *cobra.Command {
	o := demo.Options{Edge: true}
	noEdge := false
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole seed scenario on loopback: CA hierarchies, mesh mTLS, renewal, edge encryption",
		Long: `Runs everything in one process on loopback and checks every step: a server with
embedded storage, the ColorGateway and ColorTeller CA hierarchies, least-privilege
principals, certificates exported into Secrets Manager, the Color App mesh through the
App Mesh API with Bulwark proxies doing one-way TLS and mTLS (proved with Envoy's
statistics), refusals, an event-driven renewal with zero failed requests, and
field-level encryption at the edge. Exits non-zero if any check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Edge = !noEdge
			o.Out = cmd.OutOrStdout()
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Mode, "mode", "both", "TLS mode of the mesh scenario: one-way, mtls or both")
	cmd.Flags().BoolVar(&o.KeepRunning, "keep-running", false, "leave everything running after the checks, with commands to try")
	cmd.Flags().BoolVar(&noEdge, "no-edge", false, "skip the field-level encryption scenario")
	return cmd
}
