package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/renewer"
)

// Severities of check findings. An error fails the check (exit 1).
const (
	sevError   = "error"
	sevWarning = "warning"
)

// finding is one thing `bulwark check` found; the JSON field names are
// the -o json format, a stable API for CI.
type finding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`   // unenforced, key-permissions, expiry, unresolved-arn, clock-skew, revocation-url, permission, config
	Subject  string `json:"subject"` // file, ARN, field or principal concerned
	Message  string `json:"message"` // what is wrong and what to do
}

// checkOptions say what `bulwark check` looks at.
type checkOptions struct {
	MeshFile     string
	ServerConfig string
	Live         bool
	RenewBefore  time.Duration
	Principals   []string // ROLE=USER
	Renewed      []string // certificate ARNs a renewer is bound to
	Mesh         string   // live mesh to check
}

// checker runs the checks. now is injected so tests pin the clock.
type checker struct {
	o        checkOptions
	now      func() time.Time
	findings []finding
	// Live mode.
	endpoint string
	cfg      aws.Config
	http     *http.Client
}

func (c *checker) add(sev, check, subject, format string, args ...any) {
	c.findings = append(c.findings, finding{Severity: sev, Check: check, Subject: subject, Message: fmt.Sprintf(format, args...)})
}

func newCheckCmd() *cobra.Command {
	o := checkOptions{}
	var endpoint, output string
	var allowAWS, offline bool
	cmd := &cobra.Command{
		Use:   "check [--mesh-file FILE | --mesh NAME] [--server-config FILE] [--principal ROLE=USER ...]",
		Short: "Diagnose a mesh file, a server configuration and a live server (a.k.a. doctor)",
		Long: `Looks for what would fail later, and says what to do:

  mesh       (--mesh-file FILE, or --mesh NAME on the server) settings
             bulwark proxy does not enforce; ARNs that do not resolve
  files      key files readable by group or others; certificates that expire
             inside the renewal window (--renew-before) with no renewer bound
             to them (--renewed ARN); mesh settings bulwark proxy does not
             enforce (it refuses to start on them)
  live       clock skew against the server; ARNs in the mesh file that do not
             resolve; ACM certificates inside their renewal window with no
             renewer; CRL and OCSP URLs in certificates that do not point at
             the server; principals missing a permission their role needs
             (--principal proxy=USER, renewer=USER, edge=USER), from their
             policies evaluated as the server does

Live checks run against --endpoint or AWS_ENDPOINT_URL (printed; never AWS
unless --aws); --offline skips them. Exit status 1 when there is an error
finding, 0 otherwise (warnings included). -o json for CI.

  bulwark check --mesh-file examples/colorapp/local/colorteller.yaml --offline
  bulwark check --server-config /etc/bulwark/bulwark.yaml --principal renewer=cert-renewer -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: use text or json", output)
			}
			c := &checker{o: o, now: time.Now}
			c.o.Live = !offline
			if c.o.Live {
				cfg, using, err := certsync.LoadAWSConfig(cmd.Context(), certsync.AWSOptions{Endpoint: endpoint, AllowAWS: allowAWS})
				if err != nil {
					return fmt.Errorf("%w (or pass --offline to check files only)", err)
				}
				if cfg.Region == "" {
					cfg.Region = "us-east-1"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "endpoint: %s\n", using)
				c.endpoint, c.cfg = using, cfg
				c.http = &http.Client{Timeout: 10 * time.Second}
			}
			if err := c.run(cmd.Context()); err != nil {
				return err
			}
			return c.report(cmd.OutOrStdout(), output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.MeshFile, "mesh-file", "", "a bulwark proxy --config file to check")
	f.StringVar(&o.ServerConfig, "server-config", "", "a bulwark server --config file to check")
	f.DurationVar(&o.RenewBefore, "renew-before", renewer.DefaultRenewBefore, "renewal window: a certificate expiring sooner needs a renewer")
	f.StringArrayVar(&o.Principals, "principal", nil, "ROLE=USER: check USER has what ROLE (proxy, renewer, edge) needs (repeatable; live)")
	f.StringVar(&o.Mesh, "mesh", "", "live mesh: check its virtual nodes and gateways on the server (unenforced settings, unresolved ARNs)")
	f.StringArrayVar(&o.Renewed, "renewed", nil, "certificate ARN a bulwark renewer is bound to (repeatable)")
	f.BoolVar(&offline, "offline", false, "check files only; make no API call")
	f.StringVarP(&output, "output", "o", "text", "output: text or json")
	f.StringVar(&endpoint, "endpoint", "", "API endpoint (default: AWS_ENDPOINT_URL; one of them is required unless --aws or --offline)")
	f.BoolVar(&allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	return cmd
}

// errCheckFailed makes the exit status 1 once the report is printed.
var errCheckFailed = errors.New("check found errors")

func (c *checker) report(w io.Writer, output string) error {
	// Errors first, then a fixed order: the same input gives the same report.
	sort.Slice(c.findings, func(i, j int) bool {
		a, b := c.findings[i], c.findings[j]
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		if a.Check != b.Check {
			return a.Check < b.Check
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		return a.Message < b.Message
	})
	errs := 0
	for _, f := range c.findings {
		if f.Severity == sevError {
			errs++
		}
	}
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		fs := c.findings
		if fs == nil {
			fs = []finding{}
		}
		if err := enc.Encode(struct {
			OK       bool      `json:"ok"`
			Findings []finding `json:"findings"`
		}{errs == 0, fs}); err != nil {
			return err
		}
	} else {
		for _, f := range c.findings {
			fmt.Fprintf(w, "%-7s %-15s %s: %s\n", f.Severity, f.Check, f.Subject, f.Message)
		}
		fmt.Fprintf(w, "%d error(s), %d warning(s)\n", errs, len(c.findings)-errs)
	}
	if errs > 0 {
		return errCheckFailed
	}
	return nil
}

func (c *checker) run(ctx context.Context) error {
	if c.o.MeshFile == "" && c.o.ServerConfig == "" && !c.o.Live {
		return errors.New("nothing to check: give --mesh-file, --server-config, or a live endpoint")
	}
	var arns []string
	if c.o.MeshFile != "" {
		arns = c.checkMeshFile(c.o.MeshFile)
	}
	if c.o.ServerConfig != "" {
		c.checkServerConfig(c.o.ServerConfig)
	}
	if !c.o.Live {
		return nil
	}
	c.checkClock(ctx)
	c.checkARNs(ctx, arns)
	if c.o.Mesh != "" {
		c.checkLiveMesh(ctx, c.o.Mesh)
	}
	c.checkACM(ctx)
	for _, p := range c.o.Principals {
		role, user, ok := strings.Cut(p, "=")
		if !ok || user == "" {
			return fmt.Errorf("--principal %q: use ROLE=USER", p)
		}
		if err := c.checkPrincipal(ctx, role, user); err != nil {
			return err
		}
	}
	return nil
}

// checkMeshFile checks a local mesh file and returns the ARNs it names.
func (c *checker) checkMeshFile(path string) []string {
	data, err := readBounded(path)
	if err != nil {
		c.add(sevError, "config", path, "cannot read: %v", err)
		return nil
	}
	lf, err := spec.ParseLocal(data)
	if err == nil {
		err = lf.Validate()
	}
	if err != nil {
		c.add(sevError, "config", path, "%v", err)
		return nil
	}
	if err := proxy.CheckEnforceable(&lf.Snapshot); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			c.add(sevError, "unenforced", path, "%s", strings.TrimPrefix(line, "proxy: "))
		}
	}
	// Certificate references sit at many depths of the spec; the JSON
	// form names them the same way everywhere.
	raw, err := json.Marshal(lf.Snapshot)
	if err != nil {
		return nil
	}
	var tree any
	_ = json.Unmarshal(raw, &tree)
	var arns []string
	walkJSON(tree, func(key string, v any) {
		s, _ := v.(string)
		switch key {
		case "privateKey":
			c.checkKeyFile(s)
		case "certificateChain":
			c.checkCertFile(s)
		case "certificateArn":
			arns = append(arns, s)
		case "certificateAuthorityArns":
			arns = append(arns, asStrings(v)...)
		}
	})
	return arns
}

func walkJSON(v any, fn func(key string, v any)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			fn(k, x)
			walkJSON(x, fn)
		}
	case []any:
		for _, x := range t {
			walkJSON(x, fn)
		}
	}
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// checkKeyFile reports a private key (or master key) file that is
// missing or readable by anyone but its owner.
func (c *checker) checkKeyFile(path string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		c.add(sevError, "key-permissions", path, "cannot stat: %v", err)
		return
	}
	if st.Mode().Perm()&0o077 != 0 {
		c.add(sevError, "key-permissions", path, "mode %04o lets group or others read a private key: chmod 600 %s", st.Mode().Perm(), path)
	}
}

// checkCertFile reports a certificate file whose first certificate
// expires inside the renewal window: files are not renewed by a renewer.
func (c *checker) checkCertFile(path string) {
	if path == "" {
		return
	}
	data, err := readBounded(path)
	if err != nil {
		c.add(sevError, "config", path, "cannot read: %v", err)
		return
	}
	certs, err := parseCertsPEM(string(data))
	if err != nil {
		c.add(sevError, "config", path, "%v", err)
		return
	}
	c.checkExpiry(path, certs[0], false)
}

func (c *checker) checkExpiry(subject string, cert *x509.Certificate, renewed bool) {
	left := cert.NotAfter.Sub(c.now())
	switch {
	case left <= 0:
		c.add(sevError, "expiry", subject, "expired %s ago (%s)", (-left).Round(time.Minute), cert.NotAfter.UTC().Format(time.RFC3339))
	case left < c.o.RenewBefore && !renewed:
		c.add(sevError, "expiry", subject, "expires in %s, inside the %s renewal window, and no renewer is bound to it (bulwark renewer --bind; or replace the file)",
			left.Round(time.Minute), c.o.RenewBefore)
	}
}

// serverConfigFiles is the part of the server's configuration file
// check reads; unknown fields are ignored here (the server refuses them).
type serverConfigFiles struct {
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	MasterKey struct {
		File          string   `yaml:"file"`
		PreviousFiles []string `yaml:"previousFiles"`
	} `yaml:"masterKey"`
	PublicURL string `yaml:"publicURL"`
}

func (c *checker) checkServerConfig(path string) {
	data, err := readBounded(path)
	if err != nil {
		c.add(sevError, "config", path, "cannot read: %v", err)
		return
	}
	var sc serverConfigFiles
	if err := yaml.Unmarshal(data, &sc); err != nil {
		c.add(sevError, "config", path, "not YAML: %v", err)
		return
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	c.checkKeyFile(rel(sc.TLS.Key))
	c.checkKeyFile(rel(sc.MasterKey.File))
	for _, p := range sc.MasterKey.PreviousFiles {
		c.checkKeyFile(rel(p))
	}
	c.checkCertFile(rel(sc.TLS.Cert))
}

// Clock skew thresholds: SigV4 refuses requests beyond 15 minutes;
// certificates issued by a skewed server are not yet or no longer valid.
const (
	skewWarn  = time.Minute
	skewError = 5 * time.Minute
)

func (c *checker) checkClock(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.endpoint, "/")+"/healthz", nil)
	if err != nil {
		c.add(sevError, "clock-skew", c.endpoint, "bad endpoint: %v", err)
		return
	}
	before := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.add(sevError, "clock-skew", c.endpoint, "server unreachable: %v", err)
		return
	}
	resp.Body.Close()
	after := c.now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		c.add(sevWarning, "clock-skew", c.endpoint, "the server sent no Date header; skew not measured")
		return
	}
	mid := before.Add(after.Sub(before) / 2)
	skew := date.Sub(mid)
	if skew < 0 {
		skew = -skew
	}
	// Date has a resolution of one second.
	switch {
	case skew > skewError:
		c.add(sevError, "clock-skew", c.endpoint, "this machine's clock is %s off the server's: signed requests fail past 15m and certificates look not yet valid; fix NTP", skew.Round(time.Second))
	case skew > skewWarn:
		c.add(sevWarning, "clock-skew", c.endpoint, "this machine's clock is %s off the server's; check NTP", skew.Round(time.Second))
	}
}

// checkARNs resolves the ACM and ACM PCA ARNs a mesh file names.
func (c *checker) checkARNs(ctx context.Context, arns []string) {
	acmc, pca := acm.NewFromConfig(c.cfg), acmpca.NewFromConfig(c.cfg)
	for _, a := range arns {
		var err error
		switch {
		case strings.Contains(a, ":acm-pca:"):
			_, err = pca.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: aws.String(a)})
		case strings.Contains(a, ":acm:"):
			_, err = acmc.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(a)})
		default:
			c.add(sevError, "unresolved-arn", a, "not an ACM or ACM PCA ARN")
			continue
		}
		if err != nil {
			c.add(sevError, "unresolved-arn", a, "does not resolve on %s: %v", c.endpoint, err)
		}
	}
}

// checkACM looks at every ACM certificate: expiry inside the renewal
// window without a renewer, and revocation URLs that lead elsewhere.
func (c *checker) checkACM(ctx context.Context) {
	client := acm.NewFromConfig(c.cfg)
	renewed := map[string]bool{}
	for _, a := range c.o.Renewed {
		renewed[a] = true
	}
	// Every key type: the default filter hides EC certificates.
	in := &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: []acmtypes.KeyAlgorithm{
		acmtypes.KeyAlgorithmRsa1024, acmtypes.KeyAlgorithmRsa2048, acmtypes.KeyAlgorithmRsa3072, acmtypes.KeyAlgorithmRsa4096,
		acmtypes.KeyAlgorithmEcPrime256v1, acmtypes.KeyAlgorithmEcSecp384r1, acmtypes.KeyAlgorithmEcSecp521r1}}}
	p := acm.NewListCertificatesPaginator(client, in)
	server, _ := url.Parse(c.endpoint)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			c.add(sevError, "config", c.endpoint, "listing ACM certificates: %v", err)
			return
		}
		for _, s := range page.CertificateSummaryList {
			arn := aws.ToString(s.CertificateArn)
			got, err := client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: s.CertificateArn})
			if err != nil {
				continue // not issued (yet); nothing to look at
			}
			certs, err := parseCertsPEM(aws.ToString(got.Certificate))
			if err != nil {
				c.add(sevError, "config", arn, "certificate does not parse: %v", err)
				continue
			}
			c.checkExpiry(arn, certs[0], renewed[arn])
			c.checkRevocationURLs(arn, certs[0], server)
		}
	}
}

// checkRevocationURLs reports CRL and OCSP URLs whose host is not the
// server's: clients would ask someone else whether a certificate is
// revoked (or nobody, and fail).
func (c *checker) checkRevocationURLs(subject string, cert *x509.Certificate, server *url.URL) {
	if server == nil || server.Host == "" {
		return
	}
	check := func(kind, raw string) {
		u, err := url.Parse(raw)
		if err != nil || !strings.EqualFold(u.Hostname(), server.Hostname()) {
			c.add(sevWarning, "revocation-url", subject, "%s URL %s does not point at the server %s: set the server's publicURL (or the CA's CustomCname) to the name clients reach it by",
				kind, raw, server.Host)
		}
	}
	for _, u := range cert.CRLDistributionPoints {
		check("CRL", u)
	}
	for _, u := range cert.OCSPServer {
		check("OCSP", u)
	}
}

// rolePermissions are the actions each client role needs (docs/lifecycle.md,
// "Least-privilege IAM policies"; docs/edge.md).
var rolePermissions = map[string][]string{
	"proxy":   {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
	"renewer": {"acm:DescribeCertificate", "acm:RenewCertificate", "acm:ExportCertificate", "secretsmanager:GetRandomPassword", "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"},
	"edge":    {"kms:GetPublicKey", "kms:DescribeKey"},
}

// checkPrincipal evaluates USER's inline policies for the actions ROLE
// needs, on any resource ("*"): a statement limited to some resources
// counts as granting, since which ones the role uses is not known here.
func (c *checker) checkPrincipal(ctx context.Context, role, user string) error {
	actions, ok := rolePermissions[role]
	if !ok {
		return fmt.Errorf("--principal %s=%s: unknown role (use proxy, renewer or edge)", role, user)
	}
	client := iam.NewFromConfig(c.cfg)
	u, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	if err != nil {
		c.add(sevError, "permission", user, "cannot read the user: %v", err)
		return nil
	}
	names, err := client.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(user)})
	if err != nil {
		c.add(sevError, "permission", user, "cannot list its policies: %v", err)
		return nil
	}
	var pols []*policy.Policy
	for _, n := range names.PolicyNames {
		got, err := client.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(n)})
		if err != nil {
			c.add(sevError, "permission", user, "cannot read policy %s: %v", n, err)
			continue
		}
		doc, err := url.QueryUnescape(aws.ToString(got.PolicyDocument))
		if err != nil {
			doc = aws.ToString(got.PolicyDocument)
		}
		p, err := policy.ParseIdentity([]byte(doc))
		if err != nil {
			c.add(sevError, "permission", user, "policy %s does not parse: %v", n, err)
			continue
		}
		pols = append(pols, p)
	}
	principal := policy.Principal{ARN: aws.ToString(u.User.Arn)}
	for _, a := range actions {
		allowed := false
		for _, p := range pols {
			if grantsSomewhere(p, principal, a) {
				allowed = true
			}
		}
		if !allowed {
			c.add(sevError, "permission", user, "as %s it needs %s, which none of its policies allows", role, a)
		}
	}
	return nil
}

// grantsSomewhere reports whether p allows action on some resource: the
// statement's own resource patterns are tried as the resource.
func grantsSomewhere(p *policy.Policy, principal policy.Principal, action string) bool {
	for _, st := range p.Statements {
		for _, r := range append([]string{"*"}, st.Resource...) {
			if p.Evaluate(&policy.Request{Principal: principal, Action: action, Resource: r}) == policy.Allow {
				return true
			}
		}
	}
	return false
}

// maxCheckedFile bounds what check reads of one file: configurations and
// certificates are kilobytes; a path naming a device or a huge file must
// not hang or exhaust the check.
const maxCheckedFile = 8 << 20

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCheckedFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCheckedFile {
		return nil, fmt.Errorf("larger than %d bytes", maxCheckedFile)
	}
	return b, nil
}
