package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/unprotect"
)

type unprotectFlags struct {
	keys             []string
	onError          string
	redaction        string
	json             bool
	concurrency      int
	maxBytes         int64
	endpoint, region string
	allowAWS         bool
	serve            bool
	listen           string
	tlsCert, tlsKey  string
	clientCA         string
	allow            []string
	tokenFile        string
	logLevel         string
}

func newUnprotectCmd() *cobra.Command {
	f := &unprotectFlags{}
	cmd := &cobra.Command{
		Use:   "unprotect [FILE...]",
		Short: "Decrypt field tokens in text through KMS, with your own credentials",
		Long: `Read text (stdin or files), replace every field token (#01#...#10#,
#01:h1#...#1h:10#) by its plaintext through KMS Decrypt (RSA) or HPKEOpen,
and write the result to stdout. Key policies decide which fields you see.

  bulwark unprotect --key 01=alias/pii < protected.json
  bulwark unprotect --json --on-error redact --key 01=alias/pii people.json
  bulwark unprotect --serve --listen 127.0.0.1:8444 --tls-cert s.crt --tls-key s.key \
      --client-ca clients-ca.pem --key 01=alias/pii

A marker id with no --key uses the alias alias/fle-<id>. See docs/edge.md.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runUnprotect(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.keys, "key", nil, "MARKER=KMSKEY, e.g. 01=alias/pii (repeatable)")
	fl.StringVar(&f.onError, "on-error", "fail", "undecryptable tokens: fail (exit 1, write nothing), keep, or redact")
	fl.StringVar(&f.redaction, "redaction", fle.DefaultRedaction, "text replacing tokens with --on-error redact")
	fl.BoolVar(&f.json, "json", false, "input is JSON: search string values only, keep the output valid JSON, enforce HPKE field binding")
	fl.IntVar(&f.concurrency, "concurrency", 8, "decrypt calls in flight")
	fl.Int64Var(&f.maxBytes, "max-bytes", 64<<20, "largest input accepted per file")
	fl.StringVar(&f.endpoint, "endpoint", "", "KMS endpoint URL (default: AWS_ENDPOINT_URL; one of them is required unless --aws)")
	fl.BoolVar(&f.allowAWS, "aws", false, "allow AWS's own KMS endpoint and EC2 metadata credentials when no endpoint is configured")
	fl.StringVar(&f.region, "region", "", "AWS region (default: AWS configuration)")
	fl.BoolVar(&f.serve, "serve", false, "run as an HTTP service (POST /v1/unprotect) instead")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8444", "service address (--serve)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "service certificate (--serve, required)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "service private key (--serve, required)")
	fl.StringVar(&f.clientCA, "client-ca", "", "require client certificates from this CA (--serve)")
	fl.StringSliceVar(&f.allow, "allow-client", nil, "client certificate names (CN, DNS or URI SAN) allowed (--serve; default any from --client-ca)")
	fl.StringVar(&f.tokenFile, "token-file", "", "require one of these bearer tokens, one per line (--serve)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level (--serve)")
	return cmd
}

func runUnprotect(cmd *cobra.Command, f *unprotectFlags, args []string) error {
	onErr, err := unprotect.ParseOnError(f.onError)
	if err != nil {
		return err
	}
	keys, err := kmskeys.ParseKeyMap(f.keys)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Never AWS by accident: the tokens would go, signed, to AWS's KMS.
	awsCfg, using, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: f.endpoint, AllowAWS: f.allowAWS, Region: f.region})
	if err != nil {
		return err
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "endpoint: %s\n", using)
	client := kmskeys.New(awsCfg, kmskeys.Options{Endpoint: f.endpoint})
	u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: client.Decrypter(keys), OnError: onErr,
		Redaction: f.redaction, Concurrency: f.concurrency})
	if f.serve {
		if len(args) > 0 {
			return errors.New("--serve takes no files")
		}
		return serveUnprotect(ctx, f, u)
	}
	mode := unprotect.Text
	if f.json {
		mode = unprotect.JSON
	}
	inputs := []unprotect.Input{{Name: "-", Stdin: cmd.InOrStdin()}}
	if len(args) > 0 {
		inputs = inputs[:0]
		for _, a := range args {
			inputs = append(inputs, unprotect.Input{Name: a, Stdin: cmd.InOrStdin()})
		}
	}
	rep, err := unprotect.Run(ctx, u, mode, inputs, cmd.OutOrStdout(), f.maxBytes)
	for _, e := range rep.Errors {
		fmt.Fprintln(cmd.ErrOrStderr(), "bulwark unprotect:", e)
	}
	return err
}

func serveUnprotect(ctx context.Context, f *unprotectFlags, u *fle.Unprotector) error {
	if f.tlsCert == "" || f.tlsKey == "" {
		return errors.New("--serve needs --tls-cert and --tls-key: the service returns plaintexts")
	}
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return err
	}
	log := newLogger(level)
	tc, err := unprotect.ServerTLSConfig(f.tlsCert, f.tlsKey, f.clientCA)
	if err != nil {
		return err
	}
	opt := unprotect.ServerOptions{Unprotector: u, RequireClientCert: f.clientCA != "", AllowedClients: f.allow, Logger: log}
	if f.tokenFile != "" {
		if opt.BearerTokens, err = unprotect.ReadTokenFile(f.tokenFile); err != nil {
			return err
		}
	}
	h, err := unprotect.Handler(opt)
	if err != nil {
		return fmt.Errorf("%w (--client-ca and/or --token-file)", err)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second}
	log.Info("unprotect: serving", "url", "https://"+ln.Addr().String()+"/v1/unprotect", "mtls", f.clientCA != "", "bearer", f.tokenFile != "")
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
