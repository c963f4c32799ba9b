package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Version is the release version, set at link time with
// -ldflags "-X github.com/bulwarkd/bulwark/internal/cli.Version=v1.2.3".
var Version = "dev"

// NewRoot returns the bulwark command with every subcommand attached.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "bulwark",
		Short: "Self-hosted private CA, KMS, secrets, service-mesh mTLS and edge field encryption, on the AWS wire APIs",
		Long: `Bulwark replaces AWS ACM Private CA, ACM, KMS, Secrets Manager, IAM, CloudTrail
and App Mesh with one binary that speaks the same wire APIs: point the AWS CLI or
any AWS SDK at it by changing the endpoint.

Start here:  bulwark server --dev`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newServerCmd(), newAuditCmd())
	root.AddCommand(newAdminCmd())
	root.AddCommand(newCertsCmd(), newRenewerCmd())
	root.AddCommand(newEdgeCmd(), newUnprotectCmd())
	root.AddCommand(newProxyCmd())
	root.AddCommand(newMeshCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newProbeCmd())
	root.AddCommand(newPKICmd(), newCheckCmd())
	return root
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "bulwark:", err)
		return 1
	}
	return 0
}

// newLogger returns the structured logger commands use: text on stderr
// for people, JSON when BULWARK_LOG_FORMAT=json for collectors.
func newLogger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("BULWARK_LOG_FORMAT") == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
