package unprotect_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/unprotect"
)

// fixture protects a document with a real KMS key ("01", HPKE X25519, by
// the default alias convention alias/fle-01) and returns the client,
// the original and the protected text.
func fixture(t *testing.T) (*kmskeys.Client, []byte, []byte) {
	t.Helper()
	srv := servertest.Start(t)
	ctx := context.Background()
	kc := kms.NewFromConfig(srv.AWSConfig())
	out, err := kc.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: "HPKE_X25519", KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/fle-01"), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	c := kmskeys.New(srv.AWSConfig(), kmskeys.Options{Clock: srv.Clock})
	ks := c.KeySource(kmskeys.KeySourceOptions{Keys: kmskeys.KeyMap{"01": "alias/fle-01"}})
	eng, err := fle.New(fle.Config{Rules: []fle.Rule{{Fields: fle.Fields("ssn", "email"), KeyID: "01"}}, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	orig := []byte(`{"email": "a@example.com", "ssn": "123-45-6789", "n": 1}`)
	res, err := eng.Protect(ctx, fle.Request{Method: "POST", Path: "/", ContentType: "application/json", Body: bytes.NewReader(orig)})
	if err != nil {
		t.Fatal(err)
	}
	return c, orig, res.Body
}

func TestRun(t *testing.T) {
	t.Parallel()
	c, orig, prot := fixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, prot, 0o600)
	// A token moved to another field: HPKE binding refuses it in JSON mode.
	moved := filepath.Join(dir, "moved.json")
	i, j := bytes.Index(prot, []byte(`"#01:h1#`)), bytes.Index(prot, []byte(`#1h:10#"`))
	os.WriteFile(moved, []byte(`{"notes": `+string(prot[i:j+8])+`}`), 0o600)

	tests := []struct {
		name    string
		mode    unprotect.Mode
		on      fle.OnError
		files   []string
		want    string
		wantErr bool
	}{
		{"text restores", unprotect.Text, fle.Fail, []string{good}, string(orig), false},
		{"json restores", unprotect.JSON, fle.Fail, []string{good}, string(orig), false},
		{"two files", unprotect.JSON, fle.Fail, []string{good, good}, string(orig) + string(orig), false},
		{"moved token fails, nothing written", unprotect.JSON, fle.Fail, []string{good, moved}, "", true},
		{"moved token redacted", unprotect.JSON, fle.Redact, []string{moved}, `{"notes": "[REDACTED]"}`, false},
		{"text mode cannot see locations", unprotect.Text, fle.Fail, []string{moved}, `{"notes": "a@example.com"}`, false},
		{"missing file", unprotect.Text, fle.Fail, []string{filepath.Join(dir, "nope")}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(nil), OnError: tc.on})
			var in []unprotect.Input
			for _, f := range tc.files {
				in = append(in, unprotect.Input{Name: f})
			}
			var out bytes.Buffer
			_, err := unprotect.Run(ctx, u, tc.mode, in, &out, 0)
			if (err != nil) != tc.wantErr || out.String() != tc.want {
				t.Errorf("out=%q err=%v, want %q (error %v)", out.String(), err, tc.want, tc.wantErr)
			}
		})
	}
	t.Run("stdin", func(t *testing.T) {
		u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(kmskeys.KeyMap{"01": "alias/fle-01"})})
		var out bytes.Buffer
		if _, err := unprotect.Run(ctx, u, unprotect.Text, []unprotect.Input{{Name: "-", Stdin: bytes.NewReader(prot)}}, &out, 0); err != nil || out.String() != string(orig) {
			t.Errorf("out=%q err=%v", out.String(), err)
		}
	})
}

func TestParseOnError(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]fle.OnError{"": fle.Fail, "fail": fle.Fail, "keep": fle.Keep, "REDACT": fle.Redact} {
		if got, err := unprotect.ParseOnError(in); err != nil || got != want {
			t.Errorf("%q = %v, %v", in, got, err)
		}
	}
	if _, err := unprotect.ParseOnError("ignore"); err == nil {
		t.Error("accepted ignore")
	}
}

// TestServer: the service answers only authenticated callers: mTLS with
// an allowed name, and a bearer token.
func TestServer(t *testing.T) {
	t.Parallel()
	c, orig, prot := fixture(t)
	u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(nil)})
	if _, err := unprotect.Handler(unprotect.ServerOptions{Unprotector: u}); err == nil {
		t.Fatal("a service without authentication was built")
	}
	caCert, caKey, caPool := newCA(t)
	alice := leaf(t, caCert, caKey, "alice")
	mallory := leaf(t, caCert, caKey, "mallory")
	h, err := unprotect.Handler(unprotect.ServerOptions{Unprotector: u, RequireClientCert: true, AllowedClients: []string{"alice"},
		BearerTokens: []string{"0123456789abcdef-token"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientCAs: caPool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	call := func(cert *tls.Certificate, bearer string) (int, string) {
		tc := &tls.Config{RootCAs: x509.NewCertPool()}
		tc.RootCAs.AddCert(srv.Certificate())
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		req, _ := http.NewRequest("POST", srv.URL+"/v1/unprotect", bytes.NewReader(prot))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name   string
		cert   *tls.Certificate
		bearer string
		status int
	}{
		{"no credentials", nil, "", 401},
		{"token only", nil, "0123456789abcdef-token", 401},
		{"cert only", &alice, "", 401},
		{"wrong token", &alice, "0123456789abcdef-tokeX", 401},
		{"name not allowed", &mallory, "0123456789abcdef-token", 403},
		{"both", &alice, "0123456789abcdef-token", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(tc.cert, tc.bearer)
			if code != tc.status {
				t.Fatalf("status %d %s, want %d", code, body, tc.status)
			}
			if code == 200 && body != string(orig) {
				t.Errorf("body %s, want %s", body, orig)
			}
			if code != 200 && strings.Contains(body, "123-45") {
				t.Errorf("refusal leaks plaintext: %s", body)
			}
		})
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, *x509.CertPool) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "clients CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return c, k, pool
}

func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string) tls.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}
