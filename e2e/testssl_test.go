package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/testwait"
)

// testsslNotApplicable lists testssl finding ids of severity MEDIUM or
// higher that do not apply to a mesh listener, with the reason; the same
// list as bench/testssl.sh and docs/testssl/README.md.
var testsslNotApplicable = map[string]string{
	// Browser headers (X-Frame-Options, CSP, ...) are the application's;
	// the sidecar passes the app's answer through unchanged.
	"security_headers": "HTTP headers are the application's, not TLS",
}

// testsslFinding is one entry of testssl's flat JSON output (--jsonfile).
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestTestsslScanOfStrictListener scans a `bulwark proxy --config`
// sidecar's one-way STRICT TLS listener with testssl.sh, once with an
// ECDSA P-256 and once with an RSA-2048 certificate, and fails on any
// finding of severity MEDIUM or higher (bench/testssl.sh writes the
// reports in docs/testssl/).
func TestTestsslScanOfStrictListener(t *testing.T) {
	if os.Getenv("BULWARK_SLOW_TESTS") != "1" {
		t.Skip("a testssl scan takes about a minute per key type: set BULWARK_SLOW_TESTS=1 to run it")
	}
	scanner, err := exec.LookPath("testssl")
	if err != nil {
		if scanner, err = exec.LookPath("testssl.sh"); err != nil {
			t.Skip("testssl is not installed (Debian package testssl.sh): skipping the scan")
		}
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("yellow"))
	}))
	defer app.Close()
	_, appPort, _ := net.SplitHostPort(app.Listener.Addr().String())

	for _, tc := range []struct {
		name string
		key  func() (crypto.Signer, error)
	}{
		{"ecdsa-p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"rsa-2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			roots := writeScanCerts(t, dir, tc.key)
			addr := freePort(t)
			cfg := fmt.Sprintf(`proxy:
  adminAddress: %s
  listeners:
    - {port: %s, address: "%s"}
  appHost: 127.0.0.1
meshName: color-mesh
virtualNode:
  virtualNodeName: colorteller
  spec:
    listeners:
      - portMapping: {port: %s, protocol: http}
        tls:
          mode: STRICT
          certificate:
            file: {certificateChain: %s, privateKey: %s}
    serviceDiscovery:
      dns: {hostname: colorteller.mesh.local}
`, freePort(t), appPort, addr, appPort, filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem"))
			cfgPath := filepath.Join(dir, "sidecar.yaml")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			logFile, err := os.Create(filepath.Join(dir, "proxy.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer logFile.Close()
			proxy := exec.Command(binary, "proxy", "--config", cfgPath, "--log-level", "error")
			proxy.Stdout, proxy.Stderr = logFile, logFile
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = proxy.Process.Kill()
				_ = proxy.Wait()
			})
			waitTLS(t, addr, roots, logFile.Name())

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			jsonPath := filepath.Join(dir, "testssl.json")
			// Loopback only: --ip pins the address. --add-ca judges the
			// chain against the mesh CA, as a mesh client does.
			scan := exec.CommandContext(ctx, scanner, "--quiet", "--color", "0", "--warnings", "off",
				"--ip", "127.0.0.1", "--add-ca", filepath.Join(dir, "ca.pem"), "--jsonfile", jsonPath, addr)
			report, _ := scan.CombinedOutput() // non-zero exits are normal; the JSON file is the verdict
			findings := readFindings(t, jsonPath, report)

			byID := map[string]testsslFinding{}
			for _, f := range findings {
				byID[f.ID] = f
				switch f.Severity {
				case "MEDIUM", "HIGH", "CRITICAL":
					if why, ok := testsslNotApplicable[f.ID]; ok {
						t.Logf("not applicable: %s %s: %s (%s)", f.Severity, f.ID, f.Finding, why)
						continue
					}
					t.Errorf("testssl: %s %s: %s", f.Severity, f.ID, f.Finding)
				case "FATAL":
					t.Errorf("testssl could not scan: %s: %s", f.ID, f.Finding)
				}
			}
			// The scan really reached the listener: the protocol verdicts are there.
			for id, want := range map[string]string{"SSLv3": "not offered", "TLS1": "not offered", "TLS1_1": "not offered", "TLS1_2": "offered", "TLS1_3": "offered"} {
				if got := byID[id].Finding; !strings.HasPrefix(got, want) {
					t.Errorf("testssl %s = %q, want %q…", id, got, want)
				}
			}
			if t.Failed() {
				t.Logf("testssl report:\n%s", report)
			}
		})
	}
}

// writeScanCerts writes ca.pem, chain.pem (leaf + CA) and key.pem into dir:
// a CA and a leaf for colorteller.mesh.local, localhost and 127.0.0.1,
// both with keys from newKey. The leaf lives 395 days (ACM's validity for
// private certificates) and names a CRL distribution point, as ACM PCA
// writes for a CA with a CRL: both are certificate properties testssl
// grades (expiry < 60 days, no revocation info), not the proxy's.
func writeScanCerts(t *testing.T, dir string, newKey func() (crypto.Signer, error)) *x509.CertPool {
	t.Helper()
	caKey, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: randomSerial(t), Subject: pkix.Name{CommonName: "colorteller CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := leafKey.(*rsa.PrivateKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	leaf := &x509.Certificate{
		SerialNumber: randomSerial(t), Subject: pkix.Name{CommonName: "colorteller.mesh.local"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, 395),
		DNSNames: []string{"colorteller.mesh.local", "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: usage, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, CRLDistributionPoints: []string{"http://crl.mesh.local/colorteller.crl"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pemEncode("CERTIFICATE", caDER)
	for name, data := range map[string][]byte{
		"ca.pem":    caPEM,
		"chain.pem": append(pemEncode("CERTIFICATE", leafDER), caPEM...),
		"key.pem":   pemEncode("PRIVATE KEY", keyDER),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitTLS waits until the proxy completes a verified TLS handshake on addr.
// logPath holds the proxy's output, shown if it never gets ready.
func waitTLS(t *testing.T, addr string, roots *x509.CertPool, logPath string) {
	t.Helper()
	var err error
	if !testwait.Until(20*time.Second, func() bool {
		var conn *tls.Conn
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr,
			&tls.Config{RootCAs: roots, ServerName: "colorteller.mesh.local"})
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}) {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("proxy listener %s not ready: %v; output:\n%s", addr, err, log)
	}
}

// readFindings parses testssl's flat JSON file.
func readFindings(t *testing.T, path string, report []byte) []testsslFinding {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testssl wrote no JSON (%v); output:\n%s", err, report)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatalf("testssl JSON: %v; output:\n%s", err, report)
	}
	return findings
}
