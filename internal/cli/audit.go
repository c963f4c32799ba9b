package cli

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/seal"
)

// auditKeyFlags are the ways of giving `audit verify` and `audit
// public-key` the keys of a log.
type auditKeyFlags struct {
	config         string
	masterKeyFiles []string
	publicKeyFiles []string
}

func (f *auditKeyFlags) add(cmd *cobra.Command, public bool) {
	cmd.Flags().StringVar(&f.config, "config", "", "the server's YAML configuration: its master key (and masterKey.previousFiles) give the audit keys")
	cmd.Flags().StringArrayVar(&f.masterKeyFiles, "master-key-file", nil, "a base64 master key file (repeat for retired master keys the log was written under)")
	if public {
		cmd.Flags().StringArrayVar(&f.publicKeyFiles, "public-key", nil, "a PEM Ed25519 public key from \"bulwark audit public-key\" (checks checkpoint signatures only; repeatable)")
	}
}

// keys returns the audit keys of the master keys given, and the public
// keys.
func (f *auditKeyFlags) keys() ([]*audit.Keys, []ed25519.PublicKey, error) {
	var masters [][]byte
	if f.config != "" {
		fc, err := loadFileConfig(f.config)
		if err != nil {
			return nil, nil, err
		}
		k, err := fc.masterKey()
		if err != nil {
			return nil, nil, err
		}
		prev, err := fc.previousMasterKeys()
		if err != nil {
			return nil, nil, err
		}
		masters = append(append(masters, k), prev...)
	}
	for _, p := range f.masterKeyFiles {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("master key file: %w", err)
		}
		k, err := seal.KeyFromBase64(string(bytes.TrimSpace(raw)))
		if err != nil {
			return nil, nil, fmt.Errorf("%w (in master key file %s)", err, p)
		}
		masters = append(masters, k)
	}
	var keys []*audit.Keys
	for _, m := range masters {
		k, err := audit.DeriveKeys(m)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	var pubs []ed25519.PublicKey
	for _, p := range f.publicKeyFiles {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("public key: %w", err)
		}
		ks, err := audit.ParsePublicKeyPEM(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		pubs = append(pubs, ks...)
	}
	return keys, pubs, nil
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with the audit log"}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditPublicKeyCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var kf auditKeyFlags
	var sequence, allowUnkeyed, allowPartial bool
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check audit logs' chains, eventHmacs and signed checkpoints, and report the first broken line of each",
		Long: `Check audit logs. Each FILE is a separate log (replicas sharing one
database each write their own), unless --sequence says the files are one
rotated log in order, oldest first (a missing or misplaced file is then
reported).

Without keys only the unkeyed hash chain is checked, which anyone able to
write the file can recompute. With --config or --master-key-file every
eventHmac and checkpoint signature is checked; with --public-key only the
signatures (lines after the last signed checkpoint are then reported as
not covered). With a key, unkeyed lines (written before keyed logs) fail
the check unless --allow-unkeyed. The command fails if any log is broken
or unreadable.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, pubs, err := kf.keys()
			if err != nil {
				return err
			}
			opts := audit.VerifyOptions{Keys: keys, PublicKeys: pubs, AllowPartialStart: allowPartial}
			keyed := len(keys)+len(pubs) > 0
			out := cmd.OutOrStdout()
			logs := make([][]string, 0, len(args))
			if sequence {
				logs = append(logs, args)
			} else {
				for _, a := range args {
					logs = append(logs, []string{a})
				}
			}
			bad, total := 0, 0
			for _, files := range logs {
				name := files[0]
				if len(files) > 1 {
					name = fmt.Sprintf("%s … %s (%d files)", files[0], files[len(files)-1], len(files))
				}
				rep, err := audit.VerifyFiles(files, opts)
				if !reportAudit(out, name, files, rep, err, keyed, allowUnkeyed) {
					bad++
				} else {
					total += rep.Lines
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d audit logs failed verification", bad, len(logs))
			}
			if len(logs) > 1 {
				fmt.Fprintf(out, "all %d logs intact: %d events\n", len(logs), total)
			}
			return nil
		},
	}
	kf.add(cmd, true)
	cmd.Flags().BoolVar(&sequence, "sequence", false, "the files are one rotated log, oldest first (e.g. audit.log.2026* audit.log)")
	cmd.Flags().BoolVar(&allowUnkeyed, "allow-unkeyed", false, "with a key, accept unkeyed lines at the start of the log (written before keyed audit logs)")
	cmd.Flags().BoolVar(&allowPartial, "allow-partial-start", false, "accept a log whose first file is not the chain's first (earlier rotated files deleted)")
	return cmd
}

// reportAudit prints what was established about one log and reports
// whether it passes.
func reportAudit(out io.Writer, name string, files []string, rep *audit.Report, err error, keyed, allowUnkeyed bool) bool {
	var broken *audit.BrokenError
	switch {
	case errors.As(err, &broken):
		where := ""
		if len(files) > 1 {
			where = " of " + broken.File
		}
		fmt.Fprintf(out, "%s: chain BROKEN at line %d%s (%d lines before it verified): %s\n", name, broken.Line, where, rep.Lines, broken.Reason)
		return false
	case err != nil:
		fmt.Fprintf(out, "%s: cannot verify: %v\n", name, err)
		return false
	}
	fmt.Fprintf(out, "%s: %d events, chain intact\n", name, rep.Lines)
	ok := true
	if rep.MACVerified > 0 {
		fmt.Fprintf(out, "  %d lines authenticated by eventHmac\n", rep.MACVerified)
	}
	if rep.MACUnchecked > 0 {
		fmt.Fprintf(out, "  %d lines carry an eventHmac that was not checked (give --config or --master-key-file)\n", rep.MACUnchecked)
	}
	if rep.Unkeyed > 0 {
		fmt.Fprintf(out, "  %d lines are UNKEYED: only the unkeyed chain protects them, which anyone able to write the file can recompute\n", rep.Unkeyed)
		if keyed && !allowUnkeyed {
			fmt.Fprintln(out, "  refusing unkeyed lines although a key was given (--allow-unkeyed accepts a log begun before keyed audit logs)")
			ok = false
		}
	}
	if rep.Checkpoints > 0 {
		fmt.Fprintf(out, "  %d checkpoints: %d signatures verified, %d not checked (no key), %d unsigned\n", rep.Checkpoints, rep.Signed, rep.Unverified, rep.Unsigned)
	}
	if rep.Signed > 0 {
		fmt.Fprintf(out, "  signed through line %d; %d lines after it are not covered by a signature\n", rep.SignedThrough, rep.UnsignedTail())
	} else if keyed && rep.MACVerified == 0 && rep.Lines > 0 && rep.Unkeyed < rep.Lines {
		fmt.Fprintln(out, "  nothing was authenticated: no checkpoint signature verified")
		ok = false
	}
	switch rep.LastReason {
	case audit.CheckpointClose:
		fmt.Fprintln(out, "  ends with a close checkpoint (the server closed it cleanly)")
	case "":
		if rep.Lines > 0 {
			fmt.Fprintln(out, "  does not end with a checkpoint: the server is still writing it, crashed, or its tail was cut off")
		}
	default:
		fmt.Fprintf(out, "  ends with a %q checkpoint\n", rep.LastReason)
	}
	return ok
}

func newAuditPublicKeyCmd() *cobra.Command {
	var kf auditKeyFlags
	cmd := &cobra.Command{
		Use:   "public-key",
		Short: "Print the Ed25519 public key that verifies the audit log's checkpoint signatures",
		Long: `Print, as PEM, the public key derived from the master key that checks
the signed checkpoints of the audit log. Give it to whoever verifies logs
(` + "`bulwark audit verify --public-key`" + `): it can check but not forge them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, _, err := kf.keys()
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				return errors.New("give the master key: --config or --master-key-file")
			}
			for _, k := range keys {
				p, err := audit.MarshalPublicKeyPEM(k.PublicKey())
				if err != nil {
					return err
				}
				if _, err := cmd.OutOrStdout().Write(p); err != nil {
					return err
				}
			}
			return nil
		},
	}
	kf.add(cmd, false)
	return cmd
}
