package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/renewer"
)

// Environment variables holding the renewer's delivery credentials, so
// they are not visible in the process list.
const (
	envRenewerAPIKey   = "BULWARK_RENEWER_API_KEY"
	envRenewerPassword = "BULWARK_RENEWER_PASSWORD"
)

func newRenewerCmd() *cobra.Command {
	var (
		listen, endpoint, bindingsPath, kmsKey, apiKeyHeader, basicUser string
		binds                                                           []string
		interval, renewBefore                                           time.Duration
		allowAWS                                                        bool
		maxPerMinute                                                    int
	)
	cmd := &cobra.Command{
		Use:   "renewer --listen ADDR (--bindings FILE | --bind CERT_ARN=SECRET_PREFIX ...)",
		Short: "Renew certificates on ACM expiry events and export them into the secret store",
		Long: `Receives EventBridge deliveries of ACM certificate events (POST, the event
envelope as body), renews each bound certificate inside its renewal window,
waits for the new serial and exports it into every bound secret prefix. Also
reconciles every bound certificate on a timer. Deliveries must carry the API
key (header --api-key-header, value from $` + envRenewerAPIKey + `) or basic
auth (--basic-auth-user, password from $` + envRenewerPassword + `).
GET /status reports what it did (same credentials). See docs/lifecycle.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bindings, err := renewerBindings(bindingsPath, binds)
			if err != nil {
				return err
			}
			auth := renewer.Auth{Username: basicUser, Password: os.Getenv(envRenewerPassword)}
			if basicUser == "" {
				auth = renewer.Auth{HeaderName: apiKeyHeader, HeaderValue: os.Getenv(envRenewerAPIKey)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, using, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: endpoint, AllowAWS: allowAWS})
			if err != nil {
				return err
			}
			log := newLogger(0)
			r, err := renewer.New(renewer.Config{
				ACM: acm.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg), Bindings: bindings,
				KMSKeyID: kmsKey, RenewBefore: renewBefore, ReconcileInterval: interval, Auth: auth, Logger: log,
				MaxRenewalsPerMinute: maxPerMinute,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
			log.Info("renewer listening", "addr", ln.Addr().String(), "certificates", len(bindings), "endpoint", using)
			go func() { _ = r.Run(ctx) }()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9443", "address for event deliveries and /status")
	f.StringVar(&bindingsPath, "bindings", "", "YAML file: bindings: [{certificateArn: ARN, secretPrefixes: [NAME]}]")
	f.StringArrayVar(&binds, "bind", nil, "CERT_ARN=SECRET_PREFIX (repeatable)")
	f.DurationVar(&interval, "reconcile-interval", renewer.DefaultReconcileInterval, "period of the reconciliation pass")
	f.DurationVar(&renewBefore, "renew-before", renewer.DefaultRenewBefore, "renewal window (capped at half a certificate's lifetime, from its IssuedAt)")
	f.StringVar(&kmsKey, "kms-key-id", "", "KMS key for secrets the export creates (default aws/secretsmanager)")
	f.StringVar(&apiKeyHeader, "api-key-header", "x-api-key", "header carrying the API key (value from $"+envRenewerAPIKey+")")
	f.StringVar(&basicUser, "basic-auth-user", "", "require basic auth with this user instead (password from $"+envRenewerPassword+")")
	f.IntVar(&maxPerMinute, "max-renewals-per-minute", renewer.DefaultMaxRenewalsPerMinute, "global rate limit of renewals; over it renewals are deferred")
	f.StringVar(&endpoint, "endpoint", "", "API endpoint (default: AWS_ENDPOINT_URL; one of them is required unless --aws)")
	f.BoolVar(&allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	return cmd
}

func renewerBindings(path string, binds []string) ([]renewer.Binding, error) {
	var out []renewer.Binding
	if path != "" {
		b, err := renewer.LoadBindings(path)
		if err != nil {
			return nil, fmt.Errorf("--bindings: %w", err)
		}
		out = append(out, b...)
	}
	for _, s := range binds {
		// The prefix follows the last '=': ARNs contain no '='.
		i := strings.LastIndex(s, "=")
		if i <= 0 || i == len(s)-1 {
			return nil, fmt.Errorf("--bind %q: want CERT_ARN=SECRET_PREFIX", s)
		}
		out = append(out, renewer.Binding{CertificateARN: s[:i], SecretPrefixes: []string{s[i+1:]}})
	}
	if len(out) == 0 {
		return nil, errors.New("no certificates bound: give --bindings FILE or --bind CERT_ARN=SECRET_PREFIX")
	}
	return out, nil
}
