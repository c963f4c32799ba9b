package kmskeys_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/fle/token"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

var seedFields = []string{"fname", "lname", "email", "ssn", "dob", "phone"}

// people renders n people with the seed's six sensitive fields.
func people(n int) []byte {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"fname": "Alejandro%d", "lname": "Rosalez", "email": "alejandro%d@example.com", "ssn": "123-45-%04d", "dob": "1970-01-%02d", "phone": "+1 555 010 %04d", "id" : %d, "vip":true}`,
			i, i, 1000+i, 1+i%28, i, i)
	}
	b.WriteString("\n]\n")
	return []byte(b.String())
}

// kmsEnv is a real server with one key per marker id: 01 HPKE X25519,
// 02 HPKE ML-KEM-768+X25519, 03 RSA-2048, under aliases alias/fle-<id>.
type kmsEnv struct {
	srv  *servertest.Server
	kms  *kms.Client
	keys *kmskeys.KeySource
	ids  map[string]string // marker id -> key id
}

func newKMSEnv(t *testing.T) *kmsEnv {
	t.Helper()
	ctx := context.Background()
	srv := servertest.Start(t)
	e := &kmsEnv{srv: srv, kms: kms.NewFromConfig(srv.AWSConfig()), ids: map[string]string{}}
	for id, spec := range map[string]string{"01": "HPKE_X25519", "02": "HPKE_MLKEM768_X25519", "03": "RSA_2048"} {
		out, err := e.kms.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeEncryptDecrypt})
		if err != nil {
			t.Fatal(err)
		}
		e.ids[id] = aws.ToString(out.KeyMetadata.KeyId)
		if _, err := e.kms.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/fle-" + id), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	c := kmskeys.New(srv.AWSConfig(), kmskeys.Options{Clock: srv.Clock})
	e.keys = c.KeySource(kmskeys.KeySourceOptions{Keys: kmskeys.KeyMap{"01": "alias/fle-01", "02": "alias/fle-02", "03": "alias/fle-03"}})
	if err := e.keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// protect encrypts body's seed fields under marker id.
func (e *kmsEnv) protect(t *testing.T, id string, body []byte) []byte {
	t.Helper()
	eng, err := fle.New(fle.Config{Rules: []fle.Rule{{Fields: fle.Fields(seedFields...), KeyID: id}}, Keys: e.keys, BodyLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Protect(context.Background(), fle.Request{Method: "POST", Path: "/people", ContentType: "application/json", Body: strings.NewReader(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	return res.Body
}

// events counts the audit events of operation op.
func (e *kmsEnv) events(t *testing.T, op string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), `"eventName":"`+op+`"`)
}

// TestDecrypterBatchEndToEnd: a document of 600 HPKE tokens, and one
// mixing HPKE and RSA, come back byte for byte through a real KMS, the
// HPKE tokens in a few HPKEOpenBatch calls rather than 600 HPKEOpen calls.
func TestDecrypterBatchEndToEnd(t *testing.T) {
	t.Parallel()
	e := newKMSEnv(t)
	ctx := context.Background()
	c := kmskeys.New(e.srv.AWSConfig(), kmskeys.Options{Clock: e.srv.Clock})
	u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(nil)})

	orig := people(100)
	doc := e.protect(t, "01", orig)
	back, rep, err := u.JSON(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != string(orig) {
		t.Fatal("600 HPKE tokens: document not restored byte for byte")
	}
	if rep.Tokens != 600 || rep.Distinct != 600 || rep.Failed != 0 {
		t.Errorf("report = %+v", rep)
	}
	if n, single := e.events(t, "HPKEOpenBatch"), e.events(t, "HPKEOpen"); n == 0 || n > 8 || single != 0 {
		t.Errorf("%d HPKEOpenBatch and %d HPKEOpen calls for 600 tokens, want 1..8 and 0", n, single)
	}

	// Both HPKE KEMs and RSA in one document (Text, no path checks).
	mixed := string(e.protect(t, "01", people(3))) + string(e.protect(t, "02", people(40))) + string(e.protect(t, "03", people(2)))
	want := string(people(3)) + string(people(40)) + string(people(2))
	back, _, err = u.Text(ctx, []byte(mixed))
	if err != nil || string(back) != want {
		t.Fatalf("mixed document: %v", err)
	}
	if n := e.events(t, "Decrypt"); n != 12 {
		t.Errorf("%d Decrypt calls for 12 RSA tokens, want 12 (RSA is not batched)", n)
	}
}

// TestDecrypterBatchSplits: one DecryptBatch call over more tokens than an
// HPKEOpenBatch call takes, or more bytes than a request body may hold,
// is split into several calls the server accepts; a malformed envelope
// fails in its own slot.
func TestDecrypterBatchSplits(t *testing.T) {
	t.Parallel()
	e := newKMSEnv(t)
	ctx := context.Background()
	c := kmskeys.New(e.srv.AWSConfig(), kmskeys.Options{Clock: e.srv.Clock})
	bd, ok := c.Decrypter(nil).(token.BatchDecrypter)
	if !ok || !bd.Batches(token.FormatHPKE) || bd.Batches(token.FormatRSA) {
		t.Fatal("Decrypter does not batch HPKE tokens (only)")
	}
	enc, err := e.keys.Encrypter(ctx, "01")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		n, size   int
		wantCalls int
	}{
		{"more items than one call takes", 1500, 8, 2},
		{"more bytes than one request holds", 12, 100 << 10, 4}, // 3 of 137 KiB base64 per call
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.events(t, "HPKEOpenBatch")
			var toks []token.Token
			var want []string
			for i := 0; i < tc.n; i++ {
				v := fmt.Sprintf("%0*d", tc.size, i)
				s, err := enc.Encrypt([]byte(v), "$.v")
				if err != nil {
					t.Fatal(err)
				}
				tok, err := token.Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				toks, want = append(toks, tok), append(want, v)
			}
			broken := token.Token{Format: token.FormatHPKE, KeyID: "01", Payload: []byte{9}}
			toks = append(toks, broken)
			res, errs := bd.DecryptBatch(ctx, toks)
			for i := range want {
				if errs[i] != nil || string(res[i].Plaintext) != want[i] || res[i].Path != "$.v" {
					t.Fatalf("token %d: %v", i, errs[i])
				}
			}
			if !errors.Is(errs[tc.n], token.ErrMalformed) {
				t.Errorf("malformed envelope: err = %v", errs[tc.n])
			}
			if got := e.events(t, "HPKEOpenBatch") - before; got != tc.wantCalls {
				t.Errorf("%d HPKEOpenBatch calls, want %d", got, tc.wantCalls)
			}
		})
	}
}

// TestDecrypterBatchDenied: a caller denied one key gets every token of
// that key refused with AccessDeniedException (not a cancellation), and
// keeps reading the keys it may use.
func TestDecrypterBatchDenied(t *testing.T) {
	t.Parallel()
	e := newKMSEnv(t)
	ctx := context.Background()
	if _, err := e.srv.IAM().CreateUser(ctx, "reader", "/", nil); err != nil {
		t.Fatal(err)
	}
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/` + e.ids["01"] + `"}]}`
	if err := e.srv.IAM().PutUserPolicy(ctx, "reader", "p", pol); err != nil {
		t.Fatal(err)
	}
	key, secret, err := e.srv.IAM().CreateAccessKey(ctx, "reader")
	if err != nil {
		t.Fatal(err)
	}
	c := kmskeys.New(e.srv.AWSConfigFor(key.AccessKeyID, secret), kmskeys.Options{Clock: e.srv.Clock})
	doc := string(e.protect(t, "01", people(20))) + string(e.protect(t, "02", people(20)))

	_, _, err = fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(nil)}).Text(ctx, []byte(doc))
	var ae *kmskeys.APIError
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" || errors.Is(err, context.Canceled) {
		t.Fatalf("Fail mode: err = %v, want AccessDeniedException", err)
	}
	back, rep, err := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: c.Decrypter(nil), OnError: fle.Redact}).Text(ctx, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(back), string(people(20))) || strings.Count(string(back), fle.DefaultRedaction) != 120 || rep.Failed != 120 {
		t.Errorf("Redact mode: %d redactions, %d failed; want 120 and key 01 restored", strings.Count(string(back), fle.DefaultRedaction), rep.Failed)
	}
}
