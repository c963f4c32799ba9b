package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/server"
)

// serverFlags are the flags of `bulwark server`.
type serverFlags struct {
	dev         bool
	configPath  string
	listen      string
	dataDir     string
	storage     string
	accountID   string
	region      string
	devKeyID    string
	devSecret   string
	logLevel    string
	publicURL   string
	shutdownMax time.Duration
	maxConns    int
	maxUnauth   int64
	xdsListen   string
	xdsUnsigned bool
}

// devOnlyFlags are the flags a configuration file replaces: given with
// --config they would be silently ignored, so they are refused.
var devOnlyFlags = []struct{ flag, setting string }{
	{"listen", "listen"}, {"data-dir", "dataDir"}, {"storage", "storage"}, {"account-id", "accountId"},
	{"region", "region"}, {"dev-access-key-id", "rootCredentials"}, {"dev-secret-access-key", "rootCredentials"},
	{"max-connections", "limits.maxConnections"}, {"max-unauthenticated-body-bytes", "limits.maxUnauthenticatedBodyBytes"},
	{"xds-listen", "xds.listen"}, {"xds-allow-unsigned", "xds.allowUnsigned"},
}

func newServerCmd() *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server (KMS, ACM PCA, ACM, Secrets Manager, EventBridge, App Mesh, IAM, STS on one port)",
		Long: `Run the Bulwark API server.

  bulwark server --dev                 everything in a temporary directory, printed root credentials
  bulwark server --config bulwark.yaml for real use: TLS, a master key source, a data dir`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.dev == (f.configPath != "") {
				return errors.New("choose one: --dev for a throw-away dev server, or --config FILE")
			}
			if f.dev {
				return runDevServer(cmd.Context(), cmd.OutOrStdout(), f)
			}
			for _, d := range devOnlyFlags {
				if cmd.Flags().Changed(d.flag) {
					return fmt.Errorf("--%s is not used with --config: set %s in %s instead", d.flag, d.setting, f.configPath)
				}
			}
			return runConfiguredServer(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.dev, "dev", false, "dev mode: embedded storage, generated master key, printed root credentials, plain HTTP on loopback")
	fl.StringVar(&f.configPath, "config", "", "configuration file (YAML); see docs/operations.md")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:4566", "address to listen on (dev mode)")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (dev mode; default: a new temporary directory)")
	fl.StringVar(&f.storage, "storage", "", "storage backend: sqlite (default, in the data dir), sqlite:///path/file.db, or postgres://user@host/db to share state between servers")
	fl.StringVar(&f.accountID, "account-id", "000000000000", "account id in every ARN (dev mode)")
	fl.StringVar(&f.region, "region", "us-east-1", "region in every ARN (dev mode)")
	fl.StringVar(&f.devKeyID, "dev-access-key-id", "", "root access key id (dev mode; default $BULWARK_DEV_ACCESS_KEY_ID or generated)")
	fl.StringVar(&f.devSecret, "dev-secret-access-key", "", "root secret access key (dev mode; default $BULWARK_DEV_SECRET_ACCESS_KEY or generated)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error (a config file's logLevel wins)")
	fl.StringVar(&f.publicURL, "public-url", "", "base URL clients reach the server at, put into issued certificates' CRL distribution points and OCSP URLs (overrides the config file's publicURL; dev default: http://LISTEN)")
	fl.DurationVar(&f.shutdownMax, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fl.IntVar(&f.maxConns, "max-connections", 0, fmt.Sprintf("open client connections at most; at the cap the oldest without an authenticated request in progress is closed (dev mode; 0: %d; --config: limits.maxConnections)", server.DefaultMaxConnections))
	fl.Int64Var(&f.maxUnauth, "max-unauthenticated-body-bytes", 0, fmt.Sprintf("request-body bytes held server-wide before signatures are verified; beyond it a body gets a retryable 503 (dev mode; 0: %d; --config: limits.maxUnauthenticatedBodyBytes)", server.DefaultMaxUnauthenticatedBodyBytes))
	fl.StringVar(&f.xdsListen, "xds-listen", "", "serve xDS (Envoy's configuration protocol) on this loopback address in dev mode, e.g. 127.0.0.1:15010 (plaintext HTTP/2); empty: off")
	fl.BoolVar(&f.xdsUnsigned, "xds-allow-unsigned", false, "dev mode: accept xDS streams without a SigV4 signature (ENVOY_ENABLE_IAM_AUTH_FOR_XDS=0)")
	return cmd
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func runDevServer(ctx context.Context, out io.Writer, f *serverFlags) error {
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", f.listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--dev serves plain HTTP and listens on loopback only; %q is not a loopback address (use --config with TLS to serve a network)", f.listen)
	}
	dir := f.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bulwark-dev-"); err != nil {
			return err
		}
	}
	masterKey, err := devMasterKey(dir)
	if err != nil {
		return err
	}
	previousKeys, err := envPreviousMasterKeys()
	if err != nil {
		return err
	}
	keyID, secret, err := devCredentials(f)
	if err != nil {
		return err
	}
	log := newLogger(level)
	warnKeyFileMode(log, filepath.Join(dir, "master.key"))
	// Listen first: the public URL is the address actually bound (a
	// --listen port of 0 picks one).
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running? pick another --listen)", f.listen, err)
	}
	endpoint := "http://" + ln.Addr().String()
	publicURL, err := checkPublicURL(f.publicURL, endpoint)
	if err != nil {
		ln.Close()
		return err
	}
	cfg := server.Config{
		AccountID:           f.accountID,
		Region:              f.region,
		DataDir:             dir,
		Storage:             f.storage,
		MasterKey:           masterKey,
		PreviousMasterKeys:  previousKeys,
		RootAccessKeyID:     keyID,
		RootSecretAccessKey: secret,
		PublicURL:           publicURL,
		Logger:              log,

		MaxConnections:              f.maxConns,
		MaxUnauthenticatedBodyBytes: f.maxUnauth,
		XDSAllowUnsigned:            f.xdsUnsigned,
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	if f.xdsListen != "" {
		xaddr, err := startXDS(srv, f.xdsListen, "", "", "", cfg.Logger)
		if err != nil {
			_ = ln.Close()
			_ = srv.Close()
			return err
		}
		fmt.Fprintf(out, "xDS (plaintext HTTP/2): APPMESH_XDS_ENDPOINT=%s\n", xaddr)
	}
	eff := srv.Config()
	fmt.Fprintf(out, `Bulwark dev server (NOT for production: plain HTTP, credentials printed)

  endpoint   %s
  public URL %s (in certificates' CRL and OCSP URLs)
  data dir   %s
  audit log  %s
  account    %s   region %s

Root credentials:
  export AWS_ACCESS_KEY_ID=%s
  export AWS_SECRET_ACCESS_KEY=%s
  export AWS_REGION=%s
  export AWS_ENDPOINT_URL=%s

Try:
  aws --endpoint-url %s sts get-caller-identity

`, endpoint, publicURL, dir, filepath.Join(dir, "audit.log"), eff.AccountID, eff.Region, keyID, secret, eff.Region, endpoint, endpoint)
	return serve(ctx, srv, ln, f.shutdownMax, cfg.Logger)
}

// devMasterKey takes BULWARK_MASTER_KEY when set, else a key file kept in
// the data dir so a restarted dev server can read its own data.
func devMasterKey(dir string) ([]byte, error) {
	if v := os.Getenv("BULWARK_MASTER_KEY"); v != "" {
		k, err := seal.KeyFromBase64(v)
		if err != nil {
			return nil, fmt.Errorf("BULWARK_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k, _, err := seal.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"))
	return k, err
}

// envPreviousMasterKeys reads BULWARK_PREVIOUS_MASTER_KEYS: retired master
// keys, comma-separated base64, that still open what they sealed (a
// rotation in progress). Empty means none.
func envPreviousMasterKeys() ([][]byte, error) {
	v := strings.TrimSpace(os.Getenv("BULWARK_PREVIOUS_MASTER_KEYS"))
	if v == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, part := range strings.Split(v, ",") {
		k, err := seal.KeyFromBase64(part)
		if err != nil {
			return nil, fmt.Errorf("BULWARK_PREVIOUS_MASTER_KEYS, key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func devCredentials(f *serverFlags) (string, string, error) {
	id, secret := f.devKeyID, f.devSecret
	if id == "" {
		id = os.Getenv("BULWARK_DEV_ACCESS_KEY_ID")
	}
	if secret == "" {
		secret = os.Getenv("BULWARK_DEV_SECRET_ACCESS_KEY")
	}
	if (id == "") != (secret == "") {
		return "", "", errors.New("give both the dev access key id and secret, or neither (to have them generated)")
	}
	if id != "" {
		return id, secret, nil
	}
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	return "AKIA" + base32.StdEncoding.EncodeToString(b[:10]), base64.StdEncoding.EncodeToString(b[10:]), nil
}

// serve runs srv on ln until SIGINT/SIGTERM (or ctx ends), then shuts down
// gracefully: in-flight requests finish, new ones are refused.
func serve(ctx context.Context, srv *server.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP: an external tool rotated the audit log; continue its chain
	// in the new file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	// Deferred in this order so that Stop runs before close.
	defer close(hup)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := srv.ReopenAuditLog(); err != nil {
				log.Error("audit log reopen on SIGHUP failed", "err", err)
			} else {
				log.Info("audit log reopened on SIGHUP")
			}
		}
	}()
	setGCFloor()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight requests", "grace", grace)
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Error("graceful shutdown incomplete", "err", err)
		}
		serveErr = <-errc
	}
	if err := srv.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	log.Info("stopped")
	return serveErr
}

// tlsListener wraps ln with TLS 1.2+ using a certificate that is reloaded
// from disk when the files change, so a renewed API certificate needs no
// restart.
func tlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	r, err := newCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}), nil
}

// checkPublicURL returns the public URL (def when flag is empty), refusing
// what cannot be put in a certificate's CRL distribution point: anything
// but an absolute http(s) URL with a host and no query or fragment.
func checkPublicURL(flag, def string) (string, error) {
	v := flag
	if v == "" {
		v = def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("public URL %q: want an http:// or https:// URL with a host and no query, like https://bulwark.example.com:4641", v)
	}
	return strings.TrimSuffix(v, "/"), nil
}

// keyFileTooOpen reports whether a key file can be read by group or
// others (always false where permissions mean nothing).
func keyFileTooOpen(path string) (os.FileMode, bool) {
	st, err := os.Stat(path)
	if err != nil || runtime.GOOS == "windows" {
		return 0, false
	}
	return st.Mode().Perm(), st.Mode().Perm()&0o077 != 0
}

// warnKeyFileMode warns (dev mode) about a master key file others can read.
func warnKeyFileMode(log *slog.Logger, path string) {
	if mode, open := keyFileTooOpen(path); open {
		log.Warn("master key file is readable by group or others; chmod 600 it", "file", path, "mode", mode.String())
	}
}
