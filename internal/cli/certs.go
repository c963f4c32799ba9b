package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Move certificates between ACM, the secret store and the file system"}
	cmd.AddCommand(newCertsExportCmd(), newCertsFetchCmd())
	return cmd
}

func newCertsExportCmd() *cobra.Command {
	var in certsync.ExportInput
	var endpoint string
	var allowAWS bool
	cmd := &cobra.Command{
		Use:   "export-to-secrets --certificate-arn ARN --secret-prefix NAME",
		Short: "Export a certificate under a random passphrase into PREFIX/{certificate,certificate-chain,private-key,passphrase}",
		Long: `Exports an ACM private certificate with a passphrase from GetRandomPassword and
stores certificate, chain, encrypted private key and passphrase as four secrets
(created, or given a new version). Re-running for the same certificate serial
writes nothing; after a renewal it writes new versions. See docs/lifecycle.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, using, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: endpoint, AllowAWS: allowAWS})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "endpoint: %s\n", using)
			res, err := certsync.Export(ctx, acm.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), in)
			if err != nil {
				return err
			}
			state := "unchanged (already current)"
			if res.Written {
				state = "written"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/*: serial %s, version %s, %s\n", in.SecretPrefix, res.Serial, res.VersionID, state)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.CertificateARN, "certificate-arn", "", "ACM certificate to export (required)")
	f.StringVar(&in.SecretPrefix, "secret-prefix", "", "prefix of the four secret names (required)")
	f.StringVar(&in.KMSKeyID, "kms-key-id", "", "KMS key for secrets this creates (default aws/secretsmanager)")
	f.StringVar(&endpoint, "endpoint", "", "API endpoint (default: AWS_ENDPOINT_URL; one of them is required unless --aws)")
	f.BoolVar(&allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	_ = cmd.MarkFlagRequired("certificate-arn")
	_ = cmd.MarkFlagRequired("secret-prefix")
	return cmd
}

type fetchFlags struct {
	prefix, out, endpoint, reloadSignal string
	watch, exec, dropAWS, allowAWS      bool
	interval                            time.Duration
}

func newCertsFetchCmd() *cobra.Command {
	var ff fetchFlags
	cmd := &cobra.Command{
		Use:   "fetch --secret-prefix NAME --out DIR [--watch] [--exec -- CMD ARGS...]",
		Short: "Write cert.pem, chain.pem and key.pem from the secret store, atomically as a set",
		Long: `Reads PREFIX/{certificate,certificate-chain,private-key,passphrase} at one
version, decrypts the key, checks it matches the certificate and writes
DIR/cert.pem, DIR/chain.pem, DIR/key.pem (0600) as symlinks into DIR/current,
which is swapped in one rename. Neither the passphrase nor the key is printed
or passed to the command run with --exec. --watch keeps polling and rewrites
the set when a new version appears. See docs/lifecycle.md.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFetch(cmd, &ff, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&ff.prefix, "secret-prefix", "", "prefix of the four secret names (required)")
	f.StringVar(&ff.out, "out", "", "output directory (required)")
	f.BoolVar(&ff.watch, "watch", false, "keep running and rewrite the files when a new version appears")
	f.DurationVar(&ff.interval, "interval", certsync.DefaultWatchInterval, "poll interval of --watch")
	f.BoolVar(&ff.exec, "exec", false, "run the command after -- once the files are written (and wait for it)")
	f.StringVar(&ff.reloadSignal, "reload-signal", "", "with --watch and --exec, signal sent to the command after a rewrite (HUP, USR1, …)")
	f.BoolVar(&ff.dropAWS, "exec-drop-aws-credentials", false, "remove AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN from the command's environment")
	f.StringVar(&ff.endpoint, "endpoint", "", "API endpoint (default: AWS_ENDPOINT_URL; one of them is required unless --aws)")
	f.BoolVar(&ff.allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	_ = cmd.MarkFlagRequired("secret-prefix")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

var reloadSignals = map[string]os.Signal{"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM}

func runFetch(cmd *cobra.Command, ff *fetchFlags, args []string) error {
	var argv []string
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		argv = args[dash:]
	}
	if ff.exec != (len(argv) > 0) {
		return errors.New("--exec needs a command after --, and a command needs --exec")
	}
	var reloadSig os.Signal
	if ff.reloadSignal != "" {
		var ok bool
		if reloadSig, ok = reloadSignals[ff.reloadSignal]; !ok {
			return fmt.Errorf("--reload-signal: unknown signal %q", ff.reloadSignal)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, using, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: ff.endpoint, AllowAWS: ff.allowAWS})
	if err != nil {
		return err
	}
	log := newLogger(0)
	log.Info("certs fetch: using endpoint", "endpoint", using)
	w := &certsync.Watcher{Secrets: secretsmanager.NewFromConfig(cfg), Prefix: ff.prefix,
		Writer: &certsync.Writer{Dir: ff.out}, Interval: ff.interval, Logger: log}
	if _, err := w.Sync(ctx); err != nil {
		return err
	}
	if !ff.exec {
		if ff.watch {
			if err := w.Run(ctx); !errors.Is(err, context.Canceled) {
				return err
			}
		}
		return nil
	}
	env := certsync.ChildEnv(os.Environ(), certsync.EnvOptions{DropAWSCredentials: ff.dropAWS})
	child, err := certsync.StartChild(argv, env, os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	// Forward the signals a supervisor sends, so the command shuts down
	// as if it had been exec'd.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			_ = child.Signal(s)
		}
	}()
	if ff.watch {
		if reloadSig != nil {
			w.OnChange = func(*certsync.Bundle) { _ = child.Signal(reloadSig) }
		}
		go func() { _ = w.Run(context.WithoutCancel(ctx)) }()
	}
	code, err := child.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("command exited with status %d", code)
	}
	return nil
}
