package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/server"
)

// fileConfig is the YAML configuration of `bulwark server --config`.
type fileConfig struct {
	// Listen is the API address, e.g. "0.0.0.0:8443".
	Listen string `yaml:"listen"`
	TLS    struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// AllowPlainHTTP must be true to serve without TLS on a non-loopback
	// address; the zero value refuses, because SigV4 protects integrity
	// but not the confidentiality of secrets in responses.
	AllowPlainHTTP bool `yaml:"allowPlainHTTP"`
	// XDS serves Envoy's configuration protocol (docs/xds.md). An empty
	// Listen leaves it off; it uses tls.cert/tls.key and refuses to serve
	// plaintext on a non-loopback address.
	XDS struct {
		Listen string `yaml:"listen"`
		// AllowUnsigned accepts streams without a SigV4 signature; the
		// zero value refuses them.
		AllowUnsigned bool `yaml:"allowUnsigned"`
		// ClientCAFile authenticates data planes by client certificate:
		// an unsigned stream is accepted for the node whose ARN is a URI
		// SAN of a certificate these CAs verify. Empty: no client
		// certificates are asked for.
		ClientCAFile string `yaml:"clientCAFile"`
		// AuthTimeout ends a stream not authorized this long after it
		// opened (a Go duration, "15s"); empty means 15 s.
		AuthTimeout string `yaml:"authTimeout"`
		// MaxStreams caps the streams the server holds; 0 means 10,000.
		MaxStreams int `yaml:"maxStreams"`
	} `yaml:"xds"`
	DataDir string `yaml:"dataDir"`
	// Storage is "" / "sqlite" (DataDir/bulwark.db), a DSN, or
	// {postgres: {dsn: …}} / {postgres: {dsnEnv: NAME}}.
	Storage   storageConfig `yaml:"storage"`
	MasterKey struct {
		// File holds the base64 master key (mode 0600).
		File string `yaml:"file"`
		// PassphraseEnv names an environment variable holding a passphrase
		// that is stretched with Argon2id (salt kept in the data dir).
		PassphraseEnv string `yaml:"passphraseEnv"`
		// PreviousFiles hold retired master keys (base64, mode 0600) that
		// still open secrets sealed before a rotation; see "Master key
		// rotation" in docs/operations.md.
		PreviousFiles []string `yaml:"previousFiles"`
	} `yaml:"masterKey"`
	AccountID string   `yaml:"accountId"`
	Region    string   `yaml:"region"`
	Regions   []string `yaml:"regions"`
	AuditLog  string   `yaml:"auditLog"`
	// AuditRotate rotates the audit log by size and/or age; the zero value
	// never rotates (use logrotate and SIGHUP, or nothing).
	AuditRotate struct {
		MaxBytes int64         `yaml:"maxBytes"`
		Interval time.Duration `yaml:"interval"`
	} `yaml:"auditRotate"`
	// AuditReadSyncDelay bounds how long a read-only call's audit event may
	// be written but not yet fsynced (server.Config.AuditReadSyncDelay);
	// 0 means the default (100ms), a negative value makes reads wait for
	// their fsync like changes.
	AuditReadSyncDelay time.Duration `yaml:"auditReadSyncDelay"`
	// RootCredentialsEnv names two environment variables holding a root
	// access key to install at start (bootstrap; create IAM users, then
	// remove it).
	RootCredentials struct {
		AccessKeyIDEnv     string `yaml:"accessKeyIdEnv"`
		SecretAccessKeyEnv string `yaml:"secretAccessKeyEnv"`
	} `yaml:"rootCredentials"`
	LogLevel string `yaml:"logLevel"`
	// PublicURL is the base URL clients reach the server at (through any
	// load balancer), put into issued certificates' CRL distribution
	// points and OCSP URLs; "" means scheme://listen.
	PublicURL string `yaml:"publicURL"`
	// Limits bound what clients can make the server hold; zero values
	// take the server's defaults (docs/operations.md, "Limits").
	Limits struct {
		MaxBodyBytes                int64 `yaml:"maxBodyBytes"`
		MaxConnections              int   `yaml:"maxConnections"`
		MaxUnauthenticatedBodyBytes int64 `yaml:"maxUnauthenticatedBodyBytes"`
	} `yaml:"limits"`
}

func loadFileConfig(path string) (*fileConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fc.Listen == "" {
		return nil, fmt.Errorf("%s: listen is required (e.g. listen: 0.0.0.0:8443)", path)
	}
	if fc.DataDir == "" {
		return nil, fmt.Errorf("%s: dataDir is required", path)
	}
	if (fc.TLS.Cert == "") != (fc.TLS.Key == "") {
		return nil, fmt.Errorf("%s: tls.cert and tls.key go together", path)
	}
	if fc.TLS.Cert == "" && !fc.AllowPlainHTTP {
		host, _, err := net.SplitHostPort(fc.Listen)
		if err != nil {
			return nil, fmt.Errorf("%s: listen %q: %w", path, fc.Listen, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%s: refusing plain HTTP on %s: set tls.cert and tls.key, or allowPlainHTTP: true behind a TLS-terminating proxy", path, fc.Listen)
		}
	}
	if (fc.MasterKey.File == "") == (fc.MasterKey.PassphraseEnv == "") {
		return nil, fmt.Errorf("%s: set exactly one of masterKey.file and masterKey.passphraseEnv", path)
	}
	if len(fc.Regions) > 0 && fc.Region == "" {
		fc.Region = fc.Regions[0]
	}
	return &fc, nil
}

func (fc *fileConfig) masterKey() ([]byte, error) {
	for _, path := range append([]string{fc.MasterKey.File}, fc.MasterKey.PreviousFiles...) {
		if mode, open := keyFileTooOpen(path); path != "" && open {
			return nil, fmt.Errorf("master key file %s has mode %s, readable by group or others: chmod 600 it (and consider it exposed)", path, mode)
		}
	}
	if fc.MasterKey.File != "" {
		raw, err := os.ReadFile(fc.MasterKey.File)
		if err != nil {
			return nil, fmt.Errorf("master key file: %w", err)
		}
		return seal.KeyFromBase64(string(bytes.TrimSpace(raw)))
	}
	pass := os.Getenv(fc.MasterKey.PassphraseEnv)
	if pass == "" {
		return nil, fmt.Errorf("master key passphrase: environment variable %s is empty", fc.MasterKey.PassphraseEnv)
	}
	if err := os.MkdirAll(fc.DataDir, 0o700); err != nil {
		return nil, err
	}
	return seal.KeyFromPassphrase([]byte(pass), filepath.Join(fc.DataDir, "master.salt"))
}

// storageConfig is the `storage:` setting: either a string (what
// `--storage` takes) or a mapping naming the engine, whose dsnEnv form keeps
// the database password out of the file (a Kubernetes Secret in an
// environment variable, say).
type storageConfig struct {
	DSN, DSNEnv string
}

// UnmarshalYAML accepts `storage: DSN` and
// `storage: {postgres: {dsn: DSN}}` or `{postgres: {dsnEnv: NAME}}`,
// refusing unknown keys as the rest of the file does.
func (s *storageConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&s.DSN)
	}
	var m struct {
		Postgres struct {
			DSN    string `yaml:"dsn"`
			DSNEnv string `yaml:"dsnEnv"`
		} `yaml:"postgres"`
	}
	if err := strictDecode(n, &m); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if (m.Postgres.DSN == "") == (m.Postgres.DSNEnv == "") {
		return errors.New("storage.postgres: set exactly one of dsn and dsnEnv")
	}
	s.DSN, s.DSNEnv = m.Postgres.DSN, m.Postgres.DSNEnv
	return nil
}

// strictDecode decodes n into v refusing unknown fields: yaml.v3's
// Node.Decode does not inherit the outer decoder's KnownFields.
func strictDecode(n *yaml.Node, v any) error {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// resolve returns the storage string server.Config takes.
func (s storageConfig) resolve() (string, error) {
	if s.DSNEnv == "" {
		return s.DSN, nil
	}
	v := os.Getenv(s.DSNEnv)
	if v == "" {
		return "", fmt.Errorf("storage.postgres.dsnEnv: environment variable %s is empty", s.DSNEnv)
	}
	if !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
		// The value is secret (a password): do not echo it.
		return "", fmt.Errorf("storage.postgres.dsnEnv: %s must hold a postgres:// URL", s.DSNEnv)
	}
	return v, nil
}

// previousMasterKeys reads masterKey.previousFiles.
func (fc *fileConfig) previousMasterKeys() ([][]byte, error) {
	var keys [][]byte
	for _, path := range fc.MasterKey.PreviousFiles {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("previous master key file: %w", err)
		}
		k, err := seal.KeyFromBase64(string(bytes.TrimSpace(raw)))
		if err != nil {
			return nil, fmt.Errorf("%w (in previous master key file %s)", err, path)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// serverConfig is the part of server.Config that the file and the keys it
// names decide; runConfiguredServer and `admin reseal` share it.
func (fc *fileConfig) serverConfig() (server.Config, error) {
	key, err := fc.masterKey()
	if err != nil {
		return server.Config{}, err
	}
	prev, err := fc.previousMasterKeys()
	if err != nil {
		return server.Config{}, err
	}
	storage, err := fc.Storage.resolve()
	if err != nil {
		return server.Config{}, err
	}
	return server.Config{
		AccountID:           fc.AccountID,
		Region:              fc.Region,
		DataDir:             fc.DataDir,
		Storage:             storage,
		MasterKey:           key,
		PreviousMasterKeys:  prev,
		AuditLogPath:        fc.AuditLog,
		AuditRotateBytes:    fc.AuditRotate.MaxBytes,
		AuditRotateInterval: fc.AuditRotate.Interval,
		AuditReadSyncDelay:  fc.AuditReadSyncDelay,

		MaxBodyBytes:                fc.Limits.MaxBodyBytes,
		MaxConnections:              fc.Limits.MaxConnections,
		MaxUnauthenticatedBodyBytes: fc.Limits.MaxUnauthenticatedBodyBytes,
	}, nil
}

func runConfiguredServer(ctx context.Context, out io.Writer, f *serverFlags) error {
	fc, err := loadFileConfig(f.configPath)
	if err != nil {
		return err
	}
	levelName := fc.LogLevel
	if levelName == "" {
		levelName = f.logLevel
	}
	level, err := parseLevel(levelName)
	if err != nil {
		return err
	}
	cfg, err := fc.serverConfig()
	if err != nil {
		return err
	}
	cfg.Logger = newLogger(level)
	if fc.RootCredentials.AccessKeyIDEnv == "" {
		cfg.Logger.Warn("no rootCredentials in the configuration: only IAM users already in the data dir can call the API " +
			"(on a new data dir, nobody can); see docs/operations.md")
	}
	cfg.XDSAllowUnsigned = fc.XDS.AllowUnsigned
	if fc.XDS.AuthTimeout != "" {
		d, err := time.ParseDuration(fc.XDS.AuthTimeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("xds.authTimeout %q: want a positive duration such as 15s", fc.XDS.AuthTimeout)
		}
		cfg.XDSAuthTimeout = d
	}
	if fc.XDS.MaxStreams < 0 {
		return fmt.Errorf("xds.maxStreams %d: want a positive number (0 means 10000)", fc.XDS.MaxStreams)
	}
	cfg.XDSMaxStreams = fc.XDS.MaxStreams
	if env := fc.RootCredentials; env.AccessKeyIDEnv != "" {
		cfg.RootAccessKeyID, cfg.RootSecretAccessKey = os.Getenv(env.AccessKeyIDEnv), os.Getenv(env.SecretAccessKeyEnv)
		if cfg.RootAccessKeyID == "" || cfg.RootSecretAccessKey == "" {
			return fmt.Errorf("rootCredentials: %s and %s must both be set", env.AccessKeyIDEnv, env.SecretAccessKeyEnv)
		}
	}
	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", fc.Listen, err)
	}
	scheme := "http"
	if fc.TLS.Cert != "" {
		if ln, err = tlsListener(ln, fc.TLS.Cert, fc.TLS.Key); err != nil {
			ln.Close()
			return err
		}
		scheme = "https"
	}
	public := f.publicURL
	if public == "" {
		public = fc.PublicURL
	}
	if cfg.PublicURL, err = checkPublicURL(public, scheme+"://"+ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	if public == "" {
		if host, _, _ := net.SplitHostPort(ln.Addr().String()); net.ParseIP(host).IsUnspecified() {
			cfg.Logger.Warn("publicURL not set and the server listens on all addresses: issued certificates name "+cfg.PublicURL+
				" for CRLs and OCSP, which clients cannot reach; set publicURL", "publicURL", cfg.PublicURL)
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	if fc.XDS.Listen != "" {
		xaddr, err := startXDS(srv, fc.XDS.Listen, fc.TLS.Cert, fc.TLS.Key, fc.XDS.ClientCAFile, cfg.Logger)
		if err != nil {
			_ = ln.Close()
			_ = srv.Close()
			return err
		}
		fmt.Fprintf(out, "xDS on %s\n", xaddr)
	}
	fmt.Fprintf(out, "Bulwark server on %s://%s (data %s, public URL %s)\n", scheme, ln.Addr(), fc.DataDir, cfg.PublicURL)
	return serve(ctx, srv, ln, f.shutdownMax, cfg.Logger)
}

// certReloader serves the certificate in certFile/keyFile and reloads it
// when either file's modification time changes; a failed reload keeps the
// previous certificate.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	mtime             time.Time
	checked           time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	r.cert = &cert
	r.mtime = r.latestMtime()
	return nil
}

func (r *certReloader) latestMtime() time.Time {
	var latest time.Time
	for _, p := range []string{r.certFile, r.keyFile} {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	return latest
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Stat at most once a second: handshakes are far more frequent than
	// certificate renewals.
	if now := time.Now(); now.Sub(r.checked) > time.Second {
		r.checked = now
		if r.latestMtime().After(r.mtime) {
			_ = r.reload()
		}
	}
	return r.cert, nil
}
