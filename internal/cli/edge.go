package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
)

// edgeFlags are the flags of `bulwark edge`; flags given explicitly
// override the --config file.
type edgeFlags struct {
	configPath            string
	listen, origin, admin string
	keys, fields, detect  []string
	format                string
	tlsCert, tlsKey       string
	originCA, originCert  string
	originKey, originName string
	bodyLimit             int64
	endpoint, region      string
	allowAWS              bool
	refresh               time.Duration
	logLevel              string
	shutdownMax           time.Duration
}

func newEdgeCmd() *cobra.Command {
	f := &edgeFlags{}
	cmd := &cobra.Command{
		Use:   "edge",
		Short: "Run the field-level-encryption reverse proxy in front of an origin",
		Long: `Run the edge proxy: request bodies matching a rule have their sensitive
fields replaced by tokens (public keys from KMS GetPublicKey) before they
reach the origin; anything that cannot be protected is refused, never
forwarded. See docs/edge.md.

  bulwark edge --listen 127.0.0.1:8443 --origin http://127.0.0.1:9000 \
      --key 01=alias/pii --fields fname,lname,email,ssn,dob,phone
  bulwark edge --config edge.yaml

KMS endpoint and credentials come from the standard AWS configuration
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
profiles) or --endpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEdge(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configPath, "config", "", "rules file (YAML, see docs/edge.md)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8443", "proxy address")
	fl.StringVar(&f.origin, "origin", "", "origin URL (http:// or https://)")
	fl.StringVar(&f.admin, "admin", "127.0.0.1:9902", "admin address for /stats and /metrics (\"\" disables)")
	fl.StringArrayVar(&f.keys, "key", nil, "MARKER=KMSKEY, e.g. 01=alias/pii (repeatable)")
	fl.StringSliceVar(&f.fields, "fields", nil, "flags-only rule: fields to protect (names or $.paths)")
	fl.StringSliceVar(&f.detect, "detectors", nil, "flags-only rule: detectors (card, ssn, email, phone)")
	fl.StringVar(&f.format, "format", "", "flags-only rule: required token format, rsa-oaep-256 or hpke (default: the key's)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "listener certificate (PEM); enables TLS and HTTP/2")
	fl.StringVar(&f.tlsKey, "tls-key", "", "listener private key (PEM)")
	fl.StringVar(&f.originCA, "origin-ca", "", "CA bundle for an https origin (default: system roots)")
	fl.StringVar(&f.originCert, "origin-cert", "", "client certificate for mTLS to the origin")
	fl.StringVar(&f.originKey, "origin-key", "", "client key for mTLS to the origin")
	fl.StringVar(&f.originName, "origin-server-name", "", "name to verify in the origin's certificate")
	fl.Int64Var(&f.bodyLimit, "body-limit", 0, "body limit in bytes (default 1 MiB; -1 none)")
	fl.StringVar(&f.endpoint, "endpoint", "", "KMS endpoint URL (default: AWS_ENDPOINT_URL; one of them is required unless --aws)")
	fl.BoolVar(&f.allowAWS, "aws", false, "allow AWS's own KMS endpoint and EC2 metadata credentials when no endpoint is configured")
	fl.StringVar(&f.region, "region", "", "AWS region (default: AWS configuration)")
	fl.DurationVar(&f.refresh, "key-refresh", kmskeys.DefaultRefresh, "how often public keys are fetched again")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.DurationVar(&f.shutdownMax, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	return cmd
}

// edgeSettings merges the file and the flags.
func edgeSettings(cmd *cobra.Command, f *edgeFlags) (*edge.FileConfig, []fle.Rule, error) {
	fc := &edge.FileConfig{}
	if f.configPath != "" {
		b, err := os.ReadFile(f.configPath)
		if err != nil {
			return nil, nil, err
		}
		if fc, err = edge.ParseConfig(b); err != nil {
			return nil, nil, err
		}
	}
	set := cmd.Flags().Changed
	if set("listen") || fc.Listen == "" {
		fc.Listen = f.listen
	}
	if set("origin") {
		fc.Origin = f.origin
	}
	if set("admin") || (f.configPath == "") {
		fc.Admin = f.admin
	}
	if set("body-limit") {
		fc.BodyLimit = f.bodyLimit
	}
	if f.tlsCert != "" || f.tlsKey != "" {
		fc.TLS = &edge.TLSFiles{Cert: f.tlsCert, Key: f.tlsKey}
	}
	if f.originCA != "" || f.originCert != "" || f.originKey != "" || f.originName != "" {
		fc.OriginTLS = &edge.OriginTLSFiles{CA: f.originCA, Cert: f.originCert, Key: f.originKey, ServerName: f.originName}
	}
	flagKeys, err := kmskeys.ParseKeyMap(f.keys)
	if err != nil {
		return nil, nil, err
	}
	if fc.Keys == nil {
		fc.Keys = map[string]string{}
	}
	for id, k := range flagKeys {
		fc.Keys[id] = k
	}
	if fc.Origin == "" {
		return nil, nil, fmt.Errorf("no origin: give --origin or origin: in the config file")
	}
	if _, err := edge.ParseOrigin(fc.Origin); err != nil {
		return nil, nil, err
	}
	var rules []fle.Rule
	if len(f.fields) > 0 || len(f.detect) > 0 {
		if len(flagKeys) != 1 {
			return nil, nil, fmt.Errorf("the flags-only rule needs exactly one --key MARKER=KMSKEY")
		}
		r, err := edge.FlagRule(f.fields, flagKeys.Markers()[0], f.format, f.detect)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, r)
	}
	if f.configPath != "" {
		fr, err := fc.FLERules()
		if err != nil {
			return nil, nil, err
		}
		// File rules first: they are the specific ones; the flags-only
		// rule matches everything.
		rules = append(fr, rules...)
	}
	if len(rules) == 0 {
		return nil, nil, fmt.Errorf("nothing to protect: give --config or --fields/--detectors with --key")
	}
	return fc, rules, nil
}

func runEdge(cmd *cobra.Command, f *edgeFlags) error {
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return err
	}
	log := newLogger(level)
	fc, rules, err := edgeSettings(cmd, f)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	awsCfg, using, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: f.endpoint, AllowAWS: f.allowAWS, Region: f.region})
	if err != nil {
		return err
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	log.Info("edge: KMS endpoint", "endpoint", using)
	client := kmskeys.New(awsCfg, kmskeys.Options{Endpoint: f.endpoint})
	keys := client.KeySource(kmskeys.KeySourceOptions{Keys: fc.Keys, Refresh: f.refresh, Logger: log})
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = keys.Load(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("fetching public keys: %w", err)
	}
	engine, err := fle.New(fle.Config{Rules: rules, Keys: keys, BodyLimit: fc.BodyLimit})
	if err != nil {
		return err
	}
	origin, _ := edge.ParseOrigin(fc.Origin)
	otc, err := edge.OriginTLSConfig(fc.OriginTLS)
	if err != nil {
		return err
	}
	p, err := edge.New(edge.Config{Engine: engine, Origin: origin, Transport: edge.OriginTransport(otc),
		AccessLog: log.With("log", "access"), Logger: log, PassUninspectedUnder: fc.PassUninspectedUnder})
	if err != nil {
		return err
	}
	var stc *tls.Config
	if fc.TLS != nil {
		if stc, err = edge.ServerTLSConfig(fc.TLS); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		return err
	}
	rc := edge.RunConfig{Listener: ln, TLS: stc, ShutdownTimeout: f.shutdownMax}
	if fc.Admin != "" {
		if rc.Admin, err = net.Listen("tcp", fc.Admin); err != nil {
			ln.Close()
			return err
		}
	}
	scheme := "http"
	if stc != nil {
		scheme = "https"
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	log.Info("edge: listening", "url", scheme+"://"+ln.Addr().String(), "origin", fc.Origin, "rules", strings.Join(names, ","),
		"keys", strings.Join(kmskeys.KeyMap(fc.Keys).Markers(), ","), "admin", fc.Admin)
	return p.Run(ctx, rc)
}
