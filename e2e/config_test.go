package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// selfSigned writes a loopback TLS certificate and key and returns a pool
// that trusts it.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bulwark test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	_ = os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestConfiguredServerWithTLSAndPassphrase(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, pool := selfSigned(t, dir)
	addr := freePort(t)
	cfg := `listen: ` + addr + `
tls:
  cert: ` + certPath + `
  key: ` + keyPath + `
dataDir: ` + filepath.Join(dir, "data") + `
masterKey:
  passphraseEnv: TEST_BULWARK_PASSPHRASE
accountId: "123456789012"
region: eu-west-1
rootCredentials:
  accessKeyIdEnv: TEST_ROOT_ID
  secretAccessKeyEnv: TEST_ROOT_SECRET
`
	cfgPath := filepath.Join(dir, "bulwark.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "server", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "TEST_BULWARK_PASSPHRASE=correct horse battery staple", "TEST_ROOT_ID="+devKeyID, "TEST_ROOT_SECRET="+devSecret)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "https://") {
		t.Fatalf("start-up line: %q %v", line, err)
	}
	client := sts.NewFromConfig(aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider(devKeyID, devSecret, ""),
		BaseEndpoint: aws.String("https://" + addr),
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	who, err := client.GetCallerIdentity(ctxT(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(who.Arn) != "arn:aws:iam::123456789012:root" {
		t.Errorf("account from config not used: %s", aws.ToString(who.Arn))
	}
	// Plain HTTP on that port does not work.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("the TLS listener answered plain HTTP")
	}
}

func TestConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	_ = os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600)
	tests := []struct {
		name, cfg, want string
	}{
		{"plain HTTP off loopback", "listen: 0.0.0.0:0\ndataDir: " + dir + "\nmasterKey:\n  file: " + keyFile + "\n", "refusing plain HTTP"},
		{"no master key", "listen: 127.0.0.1:0\ndataDir: " + dir + "\n", "masterKey"},
		{"unknown field", "listen: 127.0.0.1:0\ndataDir: " + dir + "\nmasterKey:\n  file: " + keyFile + "\ntypo: 1\n", "field typo not found"},
		{"short passphrase", "listen: 127.0.0.1:0\ndataDir: " + dir + "\nmasterKey:\n  passphraseEnv: SHORT_PASS\n", "passphrase"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			_ = os.WriteFile(path, []byte(tc.cfg), 0o600)
			cmd := exec.Command(binary, "server", "--config", path)
			cmd.Env = append(os.Environ(), "SHORT_PASS=short")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("want refusal mentioning %q, got %v: %s", tc.want, err, out)
			}
		})
	}
}
