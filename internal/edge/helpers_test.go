package edge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// seedPeople is the seed's sample payload: a JSON array of people with
// fname, lname, email, ssn, dob and phone, plus fields that must arrive
// byte-identical (odd spacing, number spelling, null).
func seedPeople(n int) []byte {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"fname": "Alejandro%d", "lname": "Rosalez", "email": "alejandro%d@example.com", "ssn": "123-45-%04d", "dob": "1970-01-%02d", "phone": "+1 555 010 %04d", "id" : %d, "score": 1.50e2, "vip":true, "notes": null}`,
			i, i, 1000+i, 1+i%28, i, i)
	}
	b.WriteString("\n]\n")
	return []byte(b.String())
}

var seedFields = []string{"fname", "lname", "email", "ssn", "dob", "phone"}

// sensitive lists the plaintext values of the seed payload's protected
// fields, which must never reach the origin.
func sensitive(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("Alejandro%d", i), fmt.Sprintf("alejandro%d@example.com", i), fmt.Sprintf("123-45-%04d", 1000+i))
	}
	return append(out, "Rosalez", "+1 555 010")
}

// origin records every request it receives.
type origin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path, Query, Proto string
	Body                       []byte
}

func newOrigin(t testing.TB) *origin {
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.reqs = append(o.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Proto, b})
		o.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "origin ok")
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) received() []recorded {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]recorded(nil), o.reqs...)
}

// env is a real Bulwark server with keys, a recording origin and a KMS
// client for the edge and unprotect.
type env struct {
	srv    *servertest.Server
	kms    *kms.Client
	client *kmskeys.Client
	origin *origin
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	return &env{srv: srv, kms: kms.NewFromConfig(cfg), client: kmskeys.New(cfg, kmskeys.Options{Clock: srv.Clock}), origin: newOrigin(t)}
}

// key creates a KMS key of spec with alias and returns its id.
func (e *env) key(t testing.TB, spec, alias string) string {
	t.Helper()
	ctx := context.Background()
	out, err := e.kms.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatalf("CreateKey %s: %v", spec, err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if alias != "" {
		if _, err := e.kms.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &alias, TargetKeyId: &id}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// edge starts an edge (plain HTTP) in front of the origin with keys from
// KMS, and returns its URL and Proxy.
func (e *env) edge(t testing.TB, keys kmskeys.KeyMap, limit int64, rules ...fle.Rule) (*httptest.Server, *edge.Proxy) {
	t.Helper()
	return startEdge(t, e.client.KeySource(kmskeys.KeySourceOptions{Keys: keys}), e.origin.URL, limit, rules...)
}

func startEdge(t testing.TB, ks fle.KeySource, originURL string, limit int64, rules ...fle.Rule) (*httptest.Server, *edge.Proxy) {
	t.Helper()
	eng, err := fle.New(fle.Config{Rules: rules, Keys: ks, BodyLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	o, err := edge.ParseOrigin(originURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := edge.New(edge.Config{Engine: eng, Origin: o})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(p)
	t.Cleanup(s.Close)
	return s, p
}

func peopleRule(key string) fle.Rule {
	return fle.Rule{Name: "people", Methods: []string{"POST", "PUT"}, PathPrefix: "/people", ContentTypes: []string{"application/json"},
		Fields: fle.Fields(seedFields...), KeyID: key}
}

func post(t testing.TB, url, ct string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ct, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// unprotector decrypts with the given client's credentials.
func unprotector(c *kmskeys.Client, keys kmskeys.KeyMap, on fle.OnError) *fle.Unprotector {
	return fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(keys), OnError: on})
}
