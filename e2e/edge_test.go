package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// TestEdgeAndUnprotectCommands runs `bulwark edge` with the flags-only rule
// from the README against a dev server's KMS, sends the seed's payload to
// a recording origin through it, and restores the origin's copy with
// `bulwark unprotect` reading stdin — the two commands as users run them.
func TestEdgeAndUnprotectCommands(t *testing.T) {
	p := startDev(t, t.TempDir())
	ctx := ctxT(t)
	km := kms.NewFromConfig(p.awsConfig())
	key, err := km.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := km.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/pii"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var received []byte
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = b
		mu.Unlock()
	})}
	go origin.Serve(oln)
	t.Cleanup(func() { origin.Close() })

	env := append(os.Environ(), "AWS_ENDPOINT_URL="+p.endpoint, "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	listen := freePort(t)
	edge := exec.Command(binary, "edge", "--listen", listen, "--origin", "http://"+oln.Addr().String(),
		"--key", "01=alias/pii", "--fields", "fname,lname,email,ssn,dob,phone", "--admin", "")
	edge.Env = env
	var edgeLog bytes.Buffer
	edge.Stderr = &edgeLog
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = edge.Process.Signal(syscall.SIGTERM); _ = edge.Wait() })
	waitListening(t, listen, edgeLog.String)

	payload := `[{"fname": "Alejandro", "lname": "Rosalez", "email": "alejandro@example.com", "ssn": "123-45-6789", "dob": "1980-01-01", "phone": "+1-555-0100", "id": 7}]`
	resp, err := http.Post("http://"+listen+"/people", "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	got := append([]byte(nil), received...)
	mu.Unlock()
	if resp.StatusCode != 200 || bytes.Contains(got, []byte("123-45-6789")) || bytes.Contains(got, []byte("Rosalez")) {
		t.Fatalf("edge answered %d and the origin got %s", resp.StatusCode, got)
	}
	if n := len(regexp.MustCompile(`#01#[A-Za-z0-9+/=]+#10#`).FindAll(got, -1)); n != 6 {
		t.Fatalf("%d seed-format tokens at the origin, want 6: %s", n, got)
	}

	un := exec.Command(binary, "unprotect", "--key", "01=alias/pii")
	un.Env = env
	un.Stdin = bytes.NewReader(got)
	out, err := un.Output()
	if err != nil {
		t.Fatalf("bulwark unprotect: %v", err)
	}
	if string(out) != payload {
		t.Errorf("unprotect did not restore the payload byte for byte:\n got %s\nwant %s", out, payload)
	}

	// Without kms:Decrypt nothing is written and the exit code says so.
	un = exec.Command(binary, "unprotect", "--key", "01=alias/pii")
	un.Env = append(env, "AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000")
	un.Stdin = bytes.NewReader(got)
	out, err = un.Output()
	if err == nil || len(out) != 0 {
		t.Errorf("unprotect with unknown credentials: err %v, wrote %q", err, out)
	}
}

// rawRecorder is an origin that keeps every byte it reads (request lines,
// headers, bodies).
type rawRecorder struct {
	mu   sync.Mutex
	raw  bytes.Buffer
	reqs int
}

type rawConn struct {
	net.Conn
	r *rawRecorder
}

func (c rawConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.r.mu.Lock()
	c.r.raw.Write(b[:n])
	c.r.mu.Unlock()
	return n, err
}

type rawListener struct {
	net.Listener
	r *rawRecorder
}

func (l rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return rawConn{c, l.r}, nil
}

// reset returns what was recorded since the last reset.
func (r *rawRecorder) reset() ([]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, n := append([]byte(nil), r.raw.Bytes()...), r.reqs
	r.raw.Reset()
	r.reqs = 0
	return b, n
}

// startEdgeBinary runs `bulwark edge` with args and waits for its port.
func startEdgeBinary(t *testing.T, env []string, listen string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"edge", "--listen", listen, "--admin", ""}, args...)...)
	cmd.Env = env
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	waitListening(t, listen, log.String)
}

// waitListening waits until the edge at addr accepts connections, failing
// the test with its output if it has not within 20 seconds.
func waitListening(t *testing.T, addr string, output func() string) {
	t.Helper()
	if !testwait.Until(20*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}) {
		t.Fatalf("edge did not start: %s", output())
	}
}

// TestEdgeFailsClosedOnNormalisedRequests runs the real `bulwark edge`
// with the review's rule file over TLS (HTTP/1.1 and HTTP/2 by ALPN), and
// a flags-only edge, in front of an origin recording raw bytes, and sends
// representative requests of each class the review found: paths a
// normalising origin routes to /people, other methods, override headers,
// query spellings, form and multipart spellings. The marker must never
// reach the origin; refusals have the documented status.
func TestEdgeFailsClosedOnNormalisedRequests(t *testing.T) {
	const marker = "Mk7Qz9Xv4Lp"
	p := startDev(t, t.TempDir())
	ctx := ctxT(t)
	km := kms.NewFromConfig(p.awsConfig())
	key, err := km.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := km.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/pii"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	rec := &rawRecorder{}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rec.mu.Lock()
		rec.reqs++
		rec.mu.Unlock()
	})}
	go origin.Serve(rawListener{oln, rec})
	t.Cleanup(func() { origin.Close() })

	dir := t.TempDir()
	certPEM, keyPEM, pool := e2eSelfSigned(t)
	certFile, keyFile, cfgFile := filepath.Join(dir, "edge.crt"), filepath.Join(dir, "edge.key"), filepath.Join(dir, "edge.yaml")
	cfg := `keys: {"01": alias/pii}
rules:
  - name: people
    methods: [POST, PUT]
    path_prefix: /people
    content_types: [application/json]
    key: "01"
    fields: [ssn]
    query: [ssn]
`
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, cfgFile: []byte(cfg)} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+p.endpoint, "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	originURL := "http://" + oln.Addr().String()
	rulesEdge, flagsEdge, rulesAdmin, flagsAdmin := freePort(t), freePort(t), freePort(t), freePort(t)
	startEdgeBinary(t, env, rulesEdge, "--config", cfgFile, "--origin", originURL, "--tls-cert", certFile, "--tls-key", keyFile, "--admin", rulesAdmin)
	startEdgeBinary(t, env, flagsEdge, "--origin", originURL, "--key", "01=alias/pii", "--fields", "ssn,email", "--admin", flagsAdmin)
	refused := map[string]int{} // admin address -> refusals expected

	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	js := `{"ssn":"` + marker + `"}`
	mp := "--B\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"variables\":{\"ssn\":\"" + marker + "\"}}\r\n--B--\r\n"
	tests := []struct {
		name, method, target, ct, header, body string
		flags                                  bool
		want                                   int
	}{
		{"dot-segment path", "POST", "/api/v1/../../people", "application/json", "", js, false, 200},
		{"double slash and case", "POST", "//PEOPLE", "application/json", "", js, false, 200},
		{"encoded dot", "PUT", "/%2e/people", "application/json", "", js, false, 200},
		{"method outside the rule", "PATCH", "/people", "application/json", "", js, false, 200},
		{"GET with a protected query", "GET", "/people?SSN[]=" + marker, "", "", "", false, 200},
		{"encoded slash", "POST", "/x%2F..%2Fpeople", "application/json", "", js, false, 400},
		{"URL override header", "POST", "/other", "application/json", "X-Original-URL", js, false, 400},
		{"protected query outside rules", "GET", "/other?ssn=" + marker, "", "", "", false, 400},
		{"flags: nested form name", "POST", "/f", "application/x-www-form-urlencoded", "", "user[ssn]=" + marker, true, 200},
		{"flags: query", "GET", "/q?Email=" + marker, "", "", "", true, 200},
		{"flags: graphql operations part", "POST", "/graphql", "multipart/form-data; boundary=B", "", mp, true, 200},
		{"flags: xml attribute", "POST", "/x", "application/xml", "", `<r ssn="` + marker + `"/>`, true, 200},
		{"body outside rules: json", "DELETE", "/other", "application/json", "", js, false, 400},
		{"body outside rules: graphql part", "POST", "/other", "multipart/form-data; boundary=B", "", mp, false, 400},
		{"body outside rules: text", "PUT", "/other", "text/plain", "", "SSN: " + marker, false, 400},
		{"body outside rules: binary", "PUT", "/other", "application/octet-stream", "", "\x00\x01" + marker, false, 415},
		{"body outside rules: harmless", "POST", "/other", "application/json", "", `{"name":"ann"}`, false, 200},
		{"header named like a field", "GET", "/people", "", "X-Ssn", "", false, 400},
		{"cookie named like a field", "GET", "/other", "", "Cookie", "", false, 400},
		{"flags: cookie named like a field", "GET", "/q", "", "Cookie", "", true, 400},
		{"repeated content type", "POST", "/people", "application/json", "Content-Type", `{"a":"&ssn=` + marker + `"}`, false, 400},
	}
	for _, tc := range tests {
		clients := map[string]*http.Client{"h1": h1, "h2": h2}
		base := "https://" + rulesEdge
		if tc.flags {
			clients = map[string]*http.Client{"h1": http.DefaultClient}
			base = "http://" + flagsEdge
		}
		admin := rulesAdmin
		if tc.flags {
			admin = flagsAdmin
		}
		for proto, c := range clients {
			u, err := url.ParseRequestURI(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, base+"/", body)
			req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			switch tc.header {
			case "":
			case "X-Ssn":
				req.Header.Set(tc.header, marker)
			case "Cookie":
				req.Header.Set(tc.header, "sid=1; SSN="+marker)
			case "Content-Type":
				req.Header.Add(tc.header, "application/x-www-form-urlencoded")
			default:
				req.Header.Set(tc.header, "/people")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, proto, err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			raw, n := rec.reset()
			dec, _ := url.QueryUnescape(strings.ReplaceAll(string(raw), "%%", ""))
			if bytes.Contains(raw, []byte(marker)) || strings.Contains(dec, marker) {
				t.Errorf("%s over %s: the origin received the marker:\n%s", tc.name, proto, raw)
			}
			if proto == "h2" && resp.ProtoMajor != 2 {
				t.Errorf("%s: answered over %s, want HTTP/2", tc.name, resp.Proto)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("%s over %s: status %d (%s), want %d", tc.name, proto, resp.StatusCode, rb, tc.want)
				continue
			}
			harmless := !strings.Contains(tc.body+tc.target, marker)
			if tc.want == 200 && (n != 1 || strings.Contains(dec+string(raw), "#01#") == harmless) {
				t.Errorf("%s over %s: origin got %d requests without a token:\n%s", tc.name, proto, n, raw)
			}
			if tc.want != 200 {
				refused[admin]++
				if n != 0 {
					t.Errorf("%s over %s: a refused request reached the origin", tc.name, proto)
				}
			}
		}
	}

	// Every refusal is counted by kind.
	for admin, want := range map[string]int{rulesAdmin: refused[rulesAdmin], flagsAdmin: refused[flagsAdmin]} {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := 0
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "bulwark_edge_errors_total{"); ok {
				var v int
				if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
					got += v
				}
			}
		}
		if got != want {
			t.Errorf("edge %s counted %d refusals, want %d:\n%s", admin, got, want, b)
		}
	}
}

// e2eSelfSigned returns a PEM certificate and key for 127.0.0.1 and a pool
// trusting it.
func e2eSelfSigned(t *testing.T) ([]byte, []byte, *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pemEncode("CERTIFICATE", der), pemEncode("PRIVATE KEY", kd), pool
}
