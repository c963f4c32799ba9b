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
		Use:   "verify FILE...",
		Short: "Check audit logs' hash chains (one file per replica) and report the first broken line of each",
		Long: `Check the hash chain of each audit log given. Replicas sharing one
database each write their own chained log: pass them all. Every file is
checked and reported; the command fails if any is broken or unreadable.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			bad, total := 0, 0
			for _, path := range args {
				n, err := audit.VerifyFile(path)
				var broken *audit.BrokenError
				switch {
				case errors.As(err, &broken):
					bad++
					fmt.Fprintf(out, "%s: chain BROKEN at line %d (%d lines before it verified): %s\n", path, broken.Line, n, broken.Reason)
				case err != nil:
					bad++
					fmt.Fprintf(out, "%s: cannot verify: %v\n", path, err)
				default:
					total += n
					fmt.Fprintf(out, "%s: %d events, chain intact\n", path, n)
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d audit logs failed verification", bad, len(args))
			}
			if len(args) > 1 {
				fmt.Fprintf(out, "all %d logs intact: %d events\n", len(args), total)
			}
			return nil
		},
	})
	return cmd
}
