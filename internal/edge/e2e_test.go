package edge_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/fle/token"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestSeedPayloadRoundTrip: the seed's payload through the edge to a
// recording origin, for each token format: the six fields arrive as
// tokens, no plaintext of them arrives, and unprotect through KMS (Decrypt
// or HPKEOpen) restores the original byte for byte — which also proves
// every other byte arrived unchanged.
func TestSeedPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.key(t, "RSA_2048", "alias/pii")
	e.key(t, "HPKE_X25519", "alias/pii-x25519")
	e.key(t, "HPKE_MLKEM768_X25519", "alias/pii-pq")
	keys := kmskeys.KeyMap{"01": "alias/pii", "02": "alias/pii-x25519", "03": "alias/pii-pq"}
	tests := []struct {
		name, marker string
		format       token.Format
	}{
		{"rsa-oaep-256", "01", token.FormatRSA},
		{"hpke-x25519", "02", token.FormatHPKE},
		{"hpke-mlkem768-x25519", "03", token.FormatHPKE},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule := peopleRule(tc.marker)
			rule.Format = tc.format
			s, _ := e.edge(t, keys, 0, rule)
			in := seedPeople(3)
			code, body := post(t, s.URL+"/people?batch=7", "application/json", in)
			if code != 200 || body != "origin ok" {
				t.Fatalf("edge answered %d %q", code, body)
			}
			got := e.origin.received()[i]
			if got.Query != "batch=7" || got.Method != "POST" || got.Path != "/people" {
				t.Errorf("origin saw %s %s?%s", got.Method, got.Path, got.Query)
			}
			for _, v := range sensitive(3) {
				if bytes.Contains(got.Body, []byte(v)) {
					t.Errorf("origin received plaintext %q", v)
				}
			}
			spans := token.Scan(string(got.Body))
			if len(spans) != 18 {
				t.Fatalf("origin body has %d tokens, want 18:\n%s", len(spans), got.Body)
			}
			for _, sp := range spans {
				if sp.KeyID != tc.marker || sp.Format != tc.format {
					t.Errorf("token %s/%s, want %s/%s", sp.KeyID, sp.Format, tc.marker, tc.format)
				}
			}
			if tc.format == token.FormatRSA && !strings.Contains(string(got.Body), `"fname": "#01#`) {
				t.Errorf("seed-compatible marker missing:\n%.200s", got.Body)
			}
			for _, mode := range []string{"text", "json"} {
				u := unprotector(e.client, keys, fle.Fail)
				var out []byte
				var err error
				if mode == "json" {
					out, _, err = u.JSON(context.Background(), got.Body)
				} else {
					out, _, err = u.Text(context.Background(), got.Body)
				}
				if err != nil {
					t.Fatalf("unprotect %s: %v", mode, err)
				}
				if !bytes.Equal(out, in) {
					t.Errorf("unprotect %s did not restore the original:\n%s\nwant\n%s", mode, out, in)
				}
			}
		})
	}
}

// TestOpenSSLInterop: a token made by openssl from the KMS public key,
// wrapped #01#...#10#, is decrypted through KMS by unprotect.
func TestOpenSSLInterop(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	e := newEnv(t)
	e.key(t, "RSA_2048", "alias/pii")
	pk, err := e.kms.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: strPtr("alias/pii")})
	if err != nil {
		t.Fatal(err)
	}
	der := filepath.Join(t.TempDir(), "pub.der")
	if err := os.WriteFile(der, pk.PublicKey, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "pkeyutl", "-encrypt", "-pubin", "-inkey", der, "-keyform", "DER",
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	cmd.Stdin = strings.NewReader("123-45-6789")
	ct, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	doc := `{"ssn": "#01#` + base64.StdEncoding.EncodeToString(ct) + `#10#", "note": "a lone #01# is not a token"}`
	out, rep, err := unprotector(e.client, kmskeys.KeyMap{"01": "alias/pii"}, fle.Fail).Text(context.Background(), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ssn": "123-45-6789", "note": "a lone #01# is not a token"}`; string(out) != want || rep.Tokens != 1 {
		t.Errorf("unprotect = %s (%d tokens), want %s", out, rep.Tokens, want)
	}
}

func strPtr(s string) *string { return &s }

// TestLeastPrivilege: a user allowed kms:Decrypt only on the e-mail key
// gets e-mails back; SSN tokens are refused per the on-error mode.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	emailKey := e.key(t, "RSA_2048", "alias/pii-email")
	e.key(t, "HPKE_X25519", "alias/pii-other")
	keys := kmskeys.KeyMap{"01": "alias/pii-email", "02": "alias/pii-other"}
	rule := fle.Rule{Name: "people", Fields: []fle.Field{{Selector: "email", KeyID: "01"}, {Selector: "ssn"}}, KeyID: "02"}
	s, _ := e.edge(t, keys, 0, rule)
	in := []byte(`[{"email": "a@example.com", "ssn": "123-45-6789"}, {"email": "b@example.com", "ssn": "234-56-7890"}]`)
	if code, body := post(t, s.URL+"/x", "application/json", in); code != 200 {
		t.Fatalf("edge: %d %s", code, body)
	}
	protected := e.origin.received()[0].Body

	ctx := context.Background()
	if _, err := e.srv.IAM().CreateUser(ctx, "mailer", "/", nil); err != nil {
		t.Fatal(err)
	}
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:` + servertest.Region + `:` + servertest.AccountID + `:key/` + emailKey + `"}]}`
	if err := e.srv.IAM().PutUserPolicy(ctx, "mailer", "email-only", pol); err != nil {
		t.Fatal(err)
	}
	ak, secret, err := e.srv.IAM().CreateAccessKey(ctx, "mailer")
	if err != nil {
		t.Fatal(err)
	}
	mailer := kmskeys.New(e.srv.AWSConfigFor(ak.AccessKeyID, secret), kmskeys.Options{Clock: e.srv.Clock})

	tests := []struct {
		name    string
		on      fle.OnError
		wantErr bool
		check   func(string) bool
	}{
		{"fail", fle.Fail, true, nil},
		{"keep", fle.Keep, false, func(s string) bool {
			return strings.Contains(s, `"email": "a@example.com"`) && strings.Contains(s, `"ssn": "#02:h1#`) && !strings.Contains(s, "123-45")
		}},
		{"redact", fle.Redact, false, func(s string) bool {
			return strings.Contains(s, `"email": "b@example.com"`) && strings.Count(s, `"ssn": "[REDACTED]"`) == 2
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, rep, err := unprotector(mailer, keys, tc.on).JSON(ctx, protected)
			if tc.wantErr {
				if err == nil || out != nil {
					t.Fatalf("fail mode: out=%q err=%v, want no output and an error", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 2 || !tc.check(string(out)) {
				t.Errorf("failed=%d out=%s", rep.Failed, out)
			}
		})
	}
}

// TestFailClosed: in every failure mode the client gets a JSON error with
// the status of the fle error kind, and the origin receives nothing.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.key(t, "RSA_2048", "alias/pii")
	good := kmskeys.KeyMap{"01": "alias/pii"}
	// A KMS that is not there: a closed port.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	dead := kmskeys.New(e.srv.AWSConfig(), kmskeys.Options{Endpoint: deadURL})
	long := []byte(`[{"fname": "` + strings.Repeat("x", 200) + `"}]`)
	tests := []struct {
		name   string
		ks     fle.KeySource
		ct     string
		body   []byte
		limit  int64
		status int
		kind   string
	}{
		{"unparseable JSON", e.client.KeySource(kmskeys.KeySourceOptions{Keys: good}), "application/json", []byte(`[{"ssn": "123-45-6789",}]`), 0, 400, "unparseable"},
		{"truncated JSON", e.client.KeySource(kmskeys.KeySourceOptions{Keys: good}), "application/json", []byte(`[{"ssn": "123-45-6789"`), 0, 400, "unparseable"},
		{"oversize body", e.client.KeySource(kmskeys.KeySourceOptions{Keys: good}), "application/json", seedPeople(50), 1024, 413, "body_too_large"},
		{"KMS unreachable", dead.KeySource(kmskeys.KeySourceOptions{Keys: good}), "application/json", seedPeople(1), 0, 503, "key_unavailable"},
		{"unknown KMS key", e.client.KeySource(kmskeys.KeySourceOptions{Keys: kmskeys.KeyMap{"01": "alias/missing"}}), "application/json", seedPeople(1), 0, 503, "key_unavailable"},
		{"marker not configured", e.client.KeySource(kmskeys.KeySourceOptions{Keys: kmskeys.KeyMap{"07": "alias/pii"}}), "application/json", seedPeople(1), 0, 503, "key_unavailable"},
		{"value too long for RSA", e.client.KeySource(kmskeys.KeySourceOptions{Keys: good}), "application/json", long, 0, 422, "plaintext_too_large"},
		{"uninspectable type", e.client.KeySource(kmskeys.KeySourceOptions{Keys: good}), "application/octet-stream", seedPeople(1), 0, 415, "unsupported_media_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t)
			rule := fle.Rule{Name: "all", Fields: fle.Fields(seedFields...), KeyID: "01"}
			s, p := startEdge(t, tc.ks, o.URL, tc.limit, rule)
			code, body := post(t, s.URL+"/people", tc.ct, tc.body)
			if code != tc.status || !strings.Contains(body, `"kind":"`+tc.kind+`"`) {
				t.Errorf("edge answered %d %s, want %d %s", code, body, tc.status, tc.kind)
			}
			if strings.Contains(body, "Alejandro") || strings.Contains(body, "123-45") {
				t.Errorf("error body echoes a value: %s", body)
			}
			if n := len(o.received()); n != 0 {
				t.Errorf("origin received %d requests", n)
			}
			if stats := adminGet(t, p, "/stats"); !strings.Contains(stats, "edge.errors."+tc.kind+": 1") {
				t.Errorf("/stats lacks the error:\n%s", stats)
			}
		})
	}
	t.Run("KMS stops after start", func(t *testing.T) {
		// Keys already fetched keep protecting (public keys are not
		// secret); what the origin gets is still only tokens.
		srv := servertest.Start(t)
		c := kmskeys.New(srv.AWSConfig(), kmskeys.Options{})
		if _, err := (&env{srv: srv, kms: kms.NewFromConfig(srv.AWSConfig())}).kmsKey(t, "alias/pii"); err != nil {
			t.Fatal(err)
		}
		ks := c.KeySource(kmskeys.KeySourceOptions{Keys: good})
		if err := ks.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		o := newOrigin(t)
		s, _ := startEdge(t, ks, o.URL, 0, peopleRule("01"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if code, _ := post(t, s.URL+"/people", "application/json", seedPeople(2)); code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, v := range sensitive(2) {
			if bytes.Contains(o.received()[0].Body, []byte(v)) {
				t.Errorf("origin received plaintext %q", v)
			}
		}
	})
}

func (e *env) kmsKey(t testing.TB, alias string) (string, error) {
	return e.key(t, "RSA_2048", alias), nil
}

func adminGet(t testing.TB, p *edge.Proxy, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", path, nil)
	rec := newRecorder()
	p.AdminHandler().ServeHTTP(rec, req)
	return rec.buf.String()
}

type respRecorder struct {
	h   http.Header
	buf bytes.Buffer
}

func newRecorder() *respRecorder                            { return &respRecorder{h: http.Header{}} }
func (r *respRecorder) Header() http.Header                 { return r.h }
func (r *respRecorder) Write(b []byte) (int, error)         { return r.buf.Write(b) }
func (r *respRecorder) WriteHeader(int)                     {}
func (r *respRecorder) String() string                      { return r.buf.String() }
func (r *respRecorder) ReadFrom(x io.Reader) (int64, error) { return r.buf.ReadFrom(x) }

// TestPassThrough: a request matching no rule reaches the origin as sent
// when it carries no protected name, and is refused (never passed on)
// when it does; a body sent to a rule's method, host and path under a
// content type the rule does not name is refused (415), not passed on.
func TestPassThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.key(t, "RSA_2048", "alias/pii")
	s, p := e.edge(t, kmskeys.KeyMap{"01": "alias/pii"}, 0, peopleRule("01"))
	in := []byte(`[{"name":"Alejandro","id":7}]`)
	if code, _ := post(t, s.URL+"/other?q=1", "application/json", in); code != 200 {
		t.Fatalf("/other: status %d", code)
	}
	if code, _ := post(t, s.URL+"/other?q=1", "application/json", seedPeople(2)); code != http.StatusBadRequest {
		t.Fatalf("/other with protected names: status %d, want 400", code)
	}
	// The rule names application/json only.
	if code, _ := post(t, s.URL+"/people?q=1", "text/csv", in); code != http.StatusUnsupportedMediaType {
		t.Fatalf("/people as text/csv: status %d, want 415", code)
	}
	got := e.origin.received()
	if len(got) != 1 || got[0].Path != "/other" || !bytes.Equal(got[0].Body, in) || got[0].Query != "q=1" {
		t.Errorf("origin received %+v", got)
	}
	stats := adminGet(t, p, "/stats")
	if !strings.Contains(stats, "edge.requests._passthrough.200: 1") || !strings.Contains(stats, "edge.requests.people.415: 1") ||
		!strings.Contains(stats, "edge.errors.protected_name_outside_rule: 1") {
		t.Errorf("stats:\n%s", stats)
	}
}

// TestHTTP2AndStats: the edge serves HTTP/2 over TLS (ALPN) and counts
// protected fields per rule.
func TestHTTP2AndStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.key(t, "HPKE_X25519", "alias/pii")
	eng, err := fle.New(fle.Config{Rules: []fle.Rule{peopleRule("01")}, Keys: e.client.KeySource(kmskeys.KeySourceOptions{Keys: kmskeys.KeyMap{"01": "alias/pii"}})})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := edge.ParseOrigin(e.origin.URL)
	p, err := edge.New(edge.Config{Engine: eng, Origin: o})
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, edge.RunConfig{Listener: ln, Admin: adm, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Post("https://"+ln.Addr().String()+"/people", "application/json", bytes.NewReader(seedPeople(2)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("proto %s status %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	if got := e.origin.received(); len(got) != 1 || len(token.Scan(string(got[0].Body))) != 12 {
		t.Fatalf("origin got %+v", got)
	}
	sr, err := http.Get("http://" + adm.Addr().String() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := io.ReadAll(sr.Body)
	sr.Body.Close()
	for _, want := range []string{"edge.fields_protected.people: 12", "edge.requests.people.200: 1", "edge.added_latency.people.count: 1"} {
		if !strings.Contains(string(stats), want) {
			t.Errorf("/stats lacks %q:\n%s", want, stats)
		}
	}
	mr, err := http.Get("http://" + adm.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	if !strings.Contains(string(metrics), `bulwark_edge_fields_protected_total{rule="people"} 12`) {
		t.Errorf("/metrics:\n%s", metrics)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: c}, pool
}
