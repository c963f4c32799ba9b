package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
)

func newPKICmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pki", Short: "Set up private CA hierarchies"}
	cmd.AddCommand(newPKIInitCmd())
	return cmd
}

// pkiInitOptions are the inputs of pkiInit; the zero values of the
// numbers mean the defaults the flags show.
type pkiInitOptions struct {
	Name         string
	RootARN      string // attach the subordinate to this CA instead of creating a root
	KeyAlgorithm string
	Organization string
	RootDays     int64
	SubDays      int64
	PathLen      int
	BundlePath   string
	ChainPath    string
	Reuse        bool
	CRL, OCSP    bool
}

// pkiInitResult is what pkiInit did; it is also the -o json document.
type pkiInitResult struct {
	Endpoint           string `json:"endpoint"`
	RootARN            string `json:"rootCertificateAuthorityArn"`
	RootAction         string `json:"rootAction"` // created, reused, attached
	SubordinateARN     string `json:"subordinateCertificateAuthorityArn"`
	SubordinateAction  string `json:"subordinateAction"` // created, reused
	TrustBundle        string `json:"trustBundle"`
	Chain              string `json:"chain,omitempty"`
	RootSubject        string `json:"rootSubject"`
	SubordinateSubject string `json:"subordinateSubject"`
}

// signingFor is the signing algorithm pki init uses for each key
// algorithm it offers: the hash sized to the key.
var signingFor = map[string]pcatypes.SigningAlgorithm{
	"EC_prime256v1": pcatypes.SigningAlgorithmSha256withecdsa,
	"EC_secp384r1":  pcatypes.SigningAlgorithmSha384withecdsa,
	"EC_secp521r1":  pcatypes.SigningAlgorithmSha512withecdsa,
	"RSA_2048":      pcatypes.SigningAlgorithmSha256withrsa,
	"RSA_3072":      pcatypes.SigningAlgorithmSha384withrsa,
	"RSA_4096":      pcatypes.SigningAlgorithmSha512withrsa,
}

const (
	templateRoot      = "arn:aws:acm-pca:::template/RootCACertificate/V1"
	templateSubPrefix = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen"
)

func newPKIInitCmd() *cobra.Command {
	o := pkiInitOptions{}
	var endpoint, output string
	var allowAWS bool
	cmd := &cobra.Command{
		Use:   "init --name NAME [--root-arn ARN] [--bundle FILE]",
		Short: "Create a root and a subordinate CA (or attach one to an existing root) and write the trust bundle",
		Long: `Creates, through the ACM Private CA API, a root CA "NAME Root CA" that signs
only a subordinate "NAME Issuing CA" (path length 0 by default), activates
both, prints their ARNs and writes the trust bundle (the root certificate)
to --bundle. These are the same twelve calls as the AWS CLI walkthrough in
docs/pki.md; it works against Bulwark and, with --aws, against AWS.

--root-arn ARN attaches the new subordinate to an ACTIVE CA you already
have (its own root becomes the bundle). A CA with the name NAME already
there (any status but DELETED) stops the command before it creates
anything, unless --reuse: then ACTIVE ones are used as they are and one
left PENDING_CERTIFICATE by an interrupted run is activated.

  bulwark pki init --name Example --bundle example-root.pem
  bulwark pki init --name Payments --root-arn arn:aws:acm-pca:…:certificate-authority/… -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: use text or json", output)
			}
			ctx := cmd.Context()
			cfg, using, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: endpoint, AllowAWS: allowAWS})
			if err != nil {
				return err
			}
			errw := cmd.ErrOrStderr()
			fmt.Fprintf(errw, "endpoint: %s\n", using)
			res, err := pkiInit(ctx, acmpca.NewFromConfig(cfg), o, errw)
			if err != nil {
				return err
			}
			res.Endpoint = using
			return writePKIInitResult(cmd.OutOrStdout(), output, res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "name of the hierarchy: the CAs are \"NAME Root CA\" and \"NAME Issuing CA\" (required)")
	f.StringVar(&o.RootARN, "root-arn", "", "attach the subordinate to this existing ACTIVE CA instead of creating a root")
	f.StringVar(&o.KeyAlgorithm, "key-algorithm", "EC_prime256v1", "key of the new CAs: EC_prime256v1, EC_secp384r1, EC_secp521r1, RSA_2048, RSA_3072, RSA_4096")
	f.StringVar(&o.Organization, "organization", "", "O= of the CAs' subjects")
	f.Int64Var(&o.RootDays, "root-validity-days", 3650, "lifetime of the root CA certificate")
	f.Int64Var(&o.SubDays, "subordinate-validity-days", 1825, "lifetime of the subordinate CA certificate (within the root's)")
	f.IntVar(&o.PathLen, "path-len", 0, "path length of the subordinate, 0-3 (0: it issues end-entity certificates only)")
	f.StringVar(&o.BundlePath, "bundle", "ca-bundle.pem", "file to write the trust bundle (root certificate, PEM) to")
	f.StringVar(&o.ChainPath, "chain", "", "also write the subordinate's chain (subordinate then root, PEM) to this file")
	f.BoolVar(&o.Reuse, "reuse", false, "use CAs with these names that exist already instead of refusing")
	f.BoolVar(&o.CRL, "crl", true, "publish a CRL for each new CA (the server's /crl/<id>.crl)")
	f.BoolVar(&o.OCSP, "ocsp", false, "answer OCSP for each new CA (the server's /ocsp/<id>)")
	f.StringVarP(&output, "output", "o", "text", "output: text or json")
	f.StringVar(&endpoint, "endpoint", "", "API endpoint (default: AWS_ENDPOINT_URL; one of them is required unless --aws)")
	f.BoolVar(&allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func writePKIInitResult(w io.Writer, output string, r *pkiInitResult) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "root CA:         %s (%s)\n", r.RootARN, r.RootAction)
	fmt.Fprintf(w, "subordinate CA:  %s (%s)\n", r.SubordinateARN, r.SubordinateAction)
	fmt.Fprintf(w, "trust bundle:    %s\n", r.TrustBundle)
	if r.Chain != "" {
		fmt.Fprintf(w, "chain:           %s\n", r.Chain)
	}
	fmt.Fprintf(w, "\nissue a certificate:\n  aws acm request-certificate --domain-name svc.example.internal --certificate-authority-arn %s\n", r.SubordinateARN)
	return nil
}

// errPKIExists is returned when a CA of the requested name exists and
// --reuse was not given.
var errPKIExists = errors.New("a CA with this name exists")

// pkiInit creates (or reuses, or attaches to) the hierarchy o describes,
// writing progress lines to progress.
func pkiInit(ctx context.Context, c *acmpca.Client, o pkiInitOptions, progress io.Writer) (*pkiInitResult, error) {
	name := strings.TrimSpace(o.Name)
	if name == "" || len(name) > 50 {
		return nil, errors.New("--name: give 1 to 50 characters (the CAs' common names are built from it)")
	}
	sigAlg, ok := signingFor[o.KeyAlgorithm]
	if !ok {
		return nil, fmt.Errorf("--key-algorithm %q: use one of EC_prime256v1, EC_secp384r1, EC_secp521r1, RSA_2048, RSA_3072, RSA_4096", o.KeyAlgorithm)
	}
	if o.PathLen < 0 || o.PathLen > 3 {
		return nil, fmt.Errorf("--path-len %d: use 0 to 3", o.PathLen)
	}
	if o.RootDays <= 0 || o.SubDays <= 0 || o.SubDays >= o.RootDays && o.RootARN == "" {
		return nil, errors.New("validity: both must be positive and the subordinate's shorter than the root's")
	}
	if o.BundlePath == "" {
		return nil, errors.New("--bundle: give a file name")
	}
	// Fail before creating CAs, not after, when a file cannot be written.
	for flag, p := range map[string]string{"--bundle": o.BundlePath, "--chain": o.ChainPath} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s %s: its directory does not exist", flag, p)
		}
	}
	h := &pkiHierarchy{c: c, o: o, progress: progress}
	res := &pkiInitResult{RootSubject: name + " Root CA", SubordinateSubject: name + " Issuing CA"}

	// Look before creating anything: a refusal must leave nothing behind.
	var existingRoot, existingSub *pcatypes.CertificateAuthority
	var err error
	if o.RootARN == "" {
		if existingRoot, err = h.findByName(ctx, res.RootSubject); err != nil {
			return nil, err
		}
	}
	if existingSub, err = h.findByName(ctx, res.SubordinateSubject); err != nil {
		return nil, err
	}

	// The root (or the CA the subordinate attaches to).
	var parent *pkiCA
	switch {
	case o.RootARN != "":
		if parent, err = h.attach(ctx, o.RootARN); err != nil {
			return nil, err
		}
		res.RootAction = "attached"
	case existingRoot != nil:
		if parent, err = h.reuse(ctx, existingRoot, nil); err != nil {
			return nil, err
		}
		res.RootAction = "reused"
	default:
		if parent, err = h.createRoot(ctx, res.RootSubject, sigAlg); err != nil {
			return nil, err
		}
		res.RootAction = "created"
	}
	res.RootARN = parent.arn

	var sub *pkiCA
	if existingSub != nil {
		if sub, err = h.reuse(ctx, existingSub, parent); err != nil {
			return nil, err
		}
		res.SubordinateAction = "reused"
	} else {
		if sub, err = h.createSub(ctx, res.SubordinateSubject, sigAlg, parent); err != nil {
			return nil, err
		}
		res.SubordinateAction = "created"
	}
	res.SubordinateARN = sub.arn

	// The trust bundle is the self-signed top of the chain: what clients
	// pin. Certificates are public; 0644 like any CA bundle.
	anchor := parent.chain[len(parent.chain)-1]
	if err := writeFileAtomic(o.BundlePath, pemCert(anchor), 0o644); err != nil {
		return nil, fmt.Errorf("--bundle: %w", err)
	}
	res.TrustBundle = o.BundlePath
	fmt.Fprintf(progress, "wrote trust bundle %s (%s)\n", o.BundlePath, anchor.Subject)
	if o.ChainPath != "" {
		var chain []byte
		for _, c := range sub.chain {
			chain = append(chain, pemCert(c)...)
		}
		if err := writeFileAtomic(o.ChainPath, chain, 0o644); err != nil {
			return nil, fmt.Errorf("--chain: %w", err)
		}
		res.Chain = o.ChainPath
		fmt.Fprintf(progress, "wrote chain %s\n", o.ChainPath)
	}
	return res, nil
}

// pkiCA is an ACTIVE CA: its ARN, signing algorithm and chain, its own
// certificate first and a self-signed root last.
type pkiCA struct {
	arn    string
	sigAlg pcatypes.SigningAlgorithm
	chain  []*x509.Certificate
}

type pkiHierarchy struct {
	c        *acmpca.Client
	o        pkiInitOptions
	progress io.Writer
}

// findByName returns the CA (not DELETED) whose subject common name is
// cn, nil when there is none. Two of them is an error even with --reuse:
// which one is meant cannot be guessed.
func (h *pkiHierarchy) findByName(ctx context.Context, cn string) (*pcatypes.CertificateAuthority, error) {
	var found []pcatypes.CertificateAuthority
	p := acmpca.NewListCertificateAuthoritiesPaginator(h.c, &acmpca.ListCertificateAuthoritiesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing CAs: %w", err)
		}
		for _, ca := range page.CertificateAuthorities {
			if ca.Status == pcatypes.CertificateAuthorityStatusDeleted || ca.CertificateAuthorityConfiguration == nil ||
				ca.CertificateAuthorityConfiguration.Subject == nil {
				continue
			}
			if aws.ToString(ca.CertificateAuthorityConfiguration.Subject.CommonName) == cn {
				found = append(found, ca)
			}
		}
	}
	switch {
	case len(found) == 0:
		return nil, nil
	case len(found) > 1:
		return nil, fmt.Errorf("%d CAs are named %q (%s, %s, …): pass another --name, or --root-arn", len(found), cn,
			aws.ToString(found[0].Arn), aws.ToString(found[1].Arn))
	case !h.o.Reuse:
		return nil, fmt.Errorf("%w: %q is %s (%s); nothing was created. Pass --reuse to use it, or another --name",
			errPKIExists, cn, aws.ToString(found[0].Arn), found[0].Status)
	}
	return &found[0], nil
}

// attach loads an existing ACTIVE CA the subordinate will be signed by.
func (h *pkiHierarchy) attach(ctx context.Context, arn string) (*pkiCA, error) {
	d, err := h.c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("--root-arn: %w", err)
	}
	ca := d.CertificateAuthority
	if ca == nil || ca.CertificateAuthorityConfiguration == nil {
		return nil, fmt.Errorf("--root-arn %s: the server described no CA configuration", arn)
	}
	if ca.Status != pcatypes.CertificateAuthorityStatusActive {
		return nil, fmt.Errorf("--root-arn %s is %s: the parent must be ACTIVE", arn, ca.Status)
	}
	fmt.Fprintf(h.progress, "attaching to %s\n", arn)
	return h.load(ctx, arn, ca.CertificateAuthorityConfiguration.SigningAlgorithm)
}

// load fetches an ACTIVE CA's certificate and chain.
func (h *pkiHierarchy) load(ctx context.Context, arn string, sigAlg pcatypes.SigningAlgorithm) (*pkiCA, error) {
	out, err := h.c.GetCertificateAuthorityCertificate(ctx, &acmpca.GetCertificateAuthorityCertificateInput{CertificateAuthorityArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("certificate of %s: %w", arn, err)
	}
	chain, err := parseCertsPEM(aws.ToString(out.Certificate) + "\n" + aws.ToString(out.CertificateChain))
	if err != nil {
		return nil, fmt.Errorf("certificate of %s: %w", arn, err)
	}
	top := chain[len(chain)-1]
	if err := top.CheckSignatureFrom(top); err != nil {
		return nil, fmt.Errorf("the chain of %s does not end in a self-signed root", arn)
	}
	return &pkiCA{arn: arn, sigAlg: sigAlg, chain: chain}, nil
}

// reuse takes an existing CA of the requested name: ACTIVE as it is,
// PENDING_CERTIFICATE activated now (signed by parent, or by itself when
// parent is nil). An ACTIVE subordinate must chain to parent.
func (h *pkiHierarchy) reuse(ctx context.Context, ca *pcatypes.CertificateAuthority, parent *pkiCA) (*pkiCA, error) {
	arn := aws.ToString(ca.Arn)
	sigAlg := ca.CertificateAuthorityConfiguration.SigningAlgorithm
	switch ca.Status {
	case pcatypes.CertificateAuthorityStatusActive:
		fmt.Fprintf(h.progress, "reusing %s (ACTIVE)\n", arn)
		got, err := h.load(ctx, arn, sigAlg)
		if err != nil {
			return nil, err
		}
		if parent != nil && (len(got.chain) < 2 || !got.chain[1].Equal(parent.chain[0])) {
			return nil, fmt.Errorf("%s exists but is not signed by %s: pass another --name", arn, parent.arn)
		}
		return got, nil
	case pcatypes.CertificateAuthorityStatusPendingCertificate:
		fmt.Fprintf(h.progress, "reusing %s (PENDING_CERTIFICATE): activating it\n", arn)
		if parent == nil {
			return h.activateRoot(ctx, arn, sigAlg)
		}
		return h.activateSub(ctx, arn, sigAlg, parent)
	default:
		return nil, fmt.Errorf("%s is %s: only ACTIVE or PENDING_CERTIFICATE CAs can be reused", arn, ca.Status)
	}
}

func (h *pkiHierarchy) createCA(ctx context.Context, typ pcatypes.CertificateAuthorityType, cn string, sigAlg pcatypes.SigningAlgorithm) (string, error) {
	subject := &pcatypes.ASN1Subject{CommonName: aws.String(cn)}
	if h.o.Organization != "" {
		subject.Organization = aws.String(h.o.Organization)
	}
	rc := &pcatypes.RevocationConfiguration{}
	if h.o.CRL {
		rc.CrlConfiguration = &pcatypes.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)}
	}
	if h.o.OCSP {
		rc.OcspConfiguration = &pcatypes.OcspConfiguration{Enabled: aws.Bool(true)}
	}
	fmt.Fprintf(h.progress, "creating %s CA %q (%s)\n", strings.ToLower(string(typ)), cn, h.o.KeyAlgorithm)
	out, err := h.c.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: typ,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
			KeyAlgorithm: pcatypes.KeyAlgorithm(h.o.KeyAlgorithm), SigningAlgorithm: sigAlg, Subject: subject,
		},
		RevocationConfiguration: rc,
		Tags:                    []pcatypes.Tag{{Key: aws.String("bulwark:pki-init"), Value: aws.String(h.o.Name)}},
	})
	if err != nil {
		return "", fmt.Errorf("creating %q: %w", cn, err)
	}
	return aws.ToString(out.CertificateAuthorityArn), nil
}

func (h *pkiHierarchy) createRoot(ctx context.Context, cn string, sigAlg pcatypes.SigningAlgorithm) (*pkiCA, error) {
	arn, err := h.createCA(ctx, pcatypes.CertificateAuthorityTypeRoot, cn, sigAlg)
	if err != nil {
		return nil, err
	}
	return h.activateRoot(ctx, arn, sigAlg)
}

func (h *pkiHierarchy) createSub(ctx context.Context, cn string, sigAlg pcatypes.SigningAlgorithm, parent *pkiCA) (*pkiCA, error) {
	arn, err := h.createCA(ctx, pcatypes.CertificateAuthorityTypeSubordinate, cn, sigAlg)
	if err != nil {
		return nil, err
	}
	return h.activateSub(ctx, arn, sigAlg, parent)
}

// activateRoot has a root sign its own CSR and imports the result.
func (h *pkiHierarchy) activateRoot(ctx context.Context, arn string, sigAlg pcatypes.SigningAlgorithm) (*pkiCA, error) {
	certPEM, err := h.sign(ctx, arn, arn, sigAlg, templateRoot, h.o.RootDays)
	if err != nil {
		return nil, err
	}
	if _, err := h.c.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: &arn, Certificate: []byte(certPEM)}); err != nil {
		return nil, fmt.Errorf("activating %s: %w", arn, err)
	}
	fmt.Fprintf(h.progress, "activated root %s\n", arn)
	return h.load(ctx, arn, sigAlg)
}

// activateSub has parent sign the subordinate's CSR and imports the
// result with parent's chain.
func (h *pkiHierarchy) activateSub(ctx context.Context, arn string, sigAlg pcatypes.SigningAlgorithm, parent *pkiCA) (*pkiCA, error) {
	tmpl := fmt.Sprintf("%s%d/V1", templateSubPrefix, h.o.PathLen)
	certPEM, err := h.sign(ctx, arn, parent.arn, parent.sigAlg, tmpl, h.o.SubDays)
	if err != nil {
		return nil, err
	}
	var chain []byte
	for _, c := range parent.chain {
		chain = append(chain, pemCert(c)...)
	}
	if _, err := h.c.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{
		CertificateAuthorityArn: &arn, Certificate: []byte(certPEM), CertificateChain: chain}); err != nil {
		return nil, fmt.Errorf("activating %s: %w", arn, err)
	}
	fmt.Fprintf(h.progress, "activated subordinate %s (signed by %s)\n", arn, parent.arn)
	return h.load(ctx, arn, sigAlg)
}

// sign has issuer sign the CSR of ca with template and returns the PEM
// certificate. AWS issues asynchronously (RequestInProgressException
// until the certificate is ready), Bulwark at once; both are handled.
func (h *pkiHierarchy) sign(ctx context.Context, ca, issuer string, sigAlg pcatypes.SigningAlgorithm, template string, days int64) (string, error) {
	csr, err := h.c.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &ca})
	if err != nil {
		return "", fmt.Errorf("CSR of %s: %w", ca, err)
	}
	out, err := h.c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &issuer, Csr: []byte(aws.ToString(csr.Csr)), TemplateArn: aws.String(template),
		SigningAlgorithm: sigAlg, Validity: &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeDays, Value: aws.Int64(days)},
	})
	if err != nil {
		return "", fmt.Errorf("signing the certificate of %s: %w", ca, err)
	}
	delay := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		got, err := h.c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &issuer, CertificateArn: out.CertificateArn})
		if err == nil {
			return aws.ToString(got.Certificate), nil
		}
		var busy *pcatypes.RequestInProgressException
		if !errors.As(err, &busy) || attempt == 20 {
			return "", fmt.Errorf("fetching the certificate of %s: %w", ca, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 3*time.Second)
	}
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// parseCertsPEM parses every CERTIFICATE block of s, in order.
func parseCertsPEM(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// writeFileAtomic writes data to path through a temporary file in the
// same directory and a rename, so a reader never sees half a bundle.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
