package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/audit"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with the audit log"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check the audit log's hash chain and report the first broken line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := audit.VerifyFile(args[0])
			var broken *audit.BrokenError
			if errors.As(err, &broken) {
				return fmt.Errorf("%s: chain broken at line %d (%d lines before it verified): %s", args[0], broken.Line, n, broken.Reason)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d events, chain intact\n", args[0], n)
			return nil
		},
	})
	return cmd
}
