package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// newProbeCmd is a health check a container runtime can run inside the
// image (which has no curl or shell): GET a URL, succeed on 2xx.
func newProbeCmd() *cobra.Command {
	var (
		caFile   string
		insecure bool
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "Health check: GET URL and exit 0 on a 2xx answer (for container HEALTHCHECKs)",
		Long: `Sends GET URL and exits 0 when the answer is 2xx, 1 otherwise. The image's
HEALTHCHECK runs "bulwark probe --insecure-loopback https://127.0.0.1:8443/healthz".

The server's certificate is verified (against --ca, else the system roots).
--insecure-loopback skips that check, and is refused for any host other than
a loopback address: the certificate names the service, not 127.0.0.1, and a
probe of the process's own port over loopback carries nothing secret.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbe(cmd.OutOrStdout(), args[0], caFile, insecure, timeout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&caFile, "ca", "", "PEM file of the CA that signed the server's certificate (default: the system roots)")
	fl.BoolVar(&insecure, "insecure-loopback", false, "do not verify the certificate; only allowed for 127.0.0.0/8, ::1 and localhost")
	fl.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runProbe(out io.Writer, raw, caFile string, insecure bool, timeout time.Duration) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("probe: %q is not an http(s) URL", raw)
	}
	if insecure && !isLoopback(u.Hostname()) {
		return fmt.Errorf("probe: --insecure-loopback is only for loopback addresses, not %q: pass --ca instead", u.Hostname())
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // loopback only, checked above
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("probe: %s holds no PEM certificate", caFile)
		}
	}
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil},
		// A health endpoint does not redirect; following one could take
		// the unverified connection off loopback.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(u.String())
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probe: %s answered %s", u.Redacted(), resp.Status)
	}
	fmt.Fprintf(out, "%s %s\n", u.Redacted(), resp.Status)
	return nil
}
