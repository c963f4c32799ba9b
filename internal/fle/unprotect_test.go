package fle

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// countingDecrypter records calls and the peak number in flight.
type countingDecrypter struct {
	inner         token.Decrypter
	calls, flight atomic.Int32
	mu            sync.Mutex
	peak          int32
	gate          chan struct{}
}

func (c *countingDecrypter) Decrypt(ctx context.Context, t token.Token) (token.Opened, error) {
	c.calls.Add(1)
	n := c.flight.Add(1)
	defer c.flight.Add(-1)
	c.mu.Lock()
	if n > c.peak {
		c.peak = n
	}
	c.mu.Unlock()
	if c.gate != nil {
		<-c.gate
	}
	return c.inner.Decrypt(ctx, t)
}

func TestUnprotectDedupAndBound(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	e := newEngine(t, Rule{Fields: Fields("v"), KeyID: "03"})
	var docs []string
	for i := 0; i < 20; i++ {
		docs = append(docs, string(protect(t, e, "application/json", []byte(`{"v":"x`+strings.Repeat("y", i)+`"}`)).Body))
	}
	doc := strings.Join(docs, "\n") + "\n" + docs[0] + "\n" + docs[1]
	cd := &countingDecrypter{inner: k.local, gate: make(chan struct{})}
	go func() {
		for i := 0; i < 20; i++ {
			cd.gate <- struct{}{}
		}
	}()
	u := NewUnprotector(UnprotectOptions{Decrypter: cd, Concurrency: 3})
	out, rep, err := u.Text(context.Background(), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if cd.calls.Load() != 20 || rep.Tokens != 22 || rep.Distinct != 20 {
		t.Fatalf("calls=%d report=%+v", cd.calls.Load(), rep)
	}
	if cd.peak > 3 {
		t.Fatalf("peak concurrency %d > 3", cd.peak)
	}
	if !strings.HasSuffix(string(out), `{"v":"x"}`+"\n"+`{"v":"xy"}`) {
		t.Fatalf("out tail: %q", out[len(out)-30:])
	}
}

func TestUnprotectBrokenInput(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	u := NewUnprotector(UnprotectOptions{Decrypter: k.local})
	good, _ := k.keys["01"].Encrypt([]byte("Alejandro"), "")
	half := len(good) / 2
	tests := []struct{ name, in, want string }{
		{"lone prefix", "x #01# y", "x #01# y"},
		{"split by newline", good[:half] + "\n" + good[half:], good[:half] + "\n" + good[half:]},
		{"lone prefix then token", "#01# " + good, "#01# Alejandro"},
		{"no tokens", "plain", "plain"},
	}
	for _, tc := range tests {
		out, _, err := u.Text(context.Background(), []byte(tc.in))
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: %q, %v", tc.name, out, err)
		}
	}
	// A well-formed marker around garbage fails in Fail mode, is kept in Keep mode.
	bad := "#01#QUJD#10#"
	if _, _, err := u.Text(context.Background(), []byte(bad)); err == nil {
		t.Fatal("garbage token decrypted")
	}
	keep := NewUnprotector(UnprotectOptions{Decrypter: k.local, OnError: Keep})
	if out, rep, err := keep.Text(context.Background(), []byte("a "+bad)); err != nil || string(out) != "a "+bad || rep.Failed != 1 {
		t.Fatalf("keep: %q %+v %v", out, rep, err)
	}
}

// TestHPKEPathBinding: an HPKE token moved to another field is refused by
// the JSON-aware unprotect; an RSA token cannot carry the binding.
func TestHPKEPathBinding(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	for _, key := range []string{"03", "04"} {
		e := newEngine(t, Rule{Fields: Fields("ssn", "email"), KeyID: key})
		out := string(protect(t, e, "application/json", []byte(`[{"ssn":"123-45-6789","email":"a@b.io"}]`)).Body)
		sp := token.Scan(out)
		ssnTok, emailTok := out[sp[0].Start:sp[0].End], out[sp[1].Start:sp[1].End]
		swapped := strings.NewReplacer(ssnTok, emailTok, emailTok, ssnTok).Replace(out)
		u := NewUnprotector(UnprotectOptions{Decrypter: k.local})
		if back, _, err := u.JSON(context.Background(), []byte(out)); err != nil || string(back) != `[{"ssn":"123-45-6789","email":"a@b.io"}]` {
			t.Fatalf("%s: in-place tokens: %s %v", key, back, err)
		}
		_, _, err := u.JSON(context.Background(), []byte(swapped))
		if !errors.Is(err, ErrPathMismatch) {
			t.Fatalf("%s: moved token err = %v", key, err)
		}
		red := NewUnprotector(UnprotectOptions{Decrypter: k.local, OnError: Redact})
		back, rep, err := red.JSON(context.Background(), []byte(swapped))
		if err != nil || string(back) != `[{"ssn":"[REDACTED]","email":"[REDACTED]"}]` || rep.Failed != 2 {
			t.Fatalf("%s: redact: %s %+v %v", key, back, rep, err)
		}
	}
}

func opensslOAEP(t *testing.T, args ...string) []byte {
	t.Helper()
	full := append([]string{"pkeyutl"}, args...)
	full = append(full, "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	out, err := exec.Command("openssl", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", full, err, out)
	}
	return out
}

// TestOpenSSLInterop: a token made by openssl with the KMS public key is
// decrypted by Unprotect, and our token is decrypted by openssl.
func TestOpenSSLInterop(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	t.Parallel()
	k := testKeys(t)
	dir := t.TempDir()
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.rsa)
	pub, priv := filepath.Join(dir, "pub.pem"), filepath.Join(dir, "priv.pem")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)

	pt, ct := filepath.Join(dir, "pt"), filepath.Join(dir, "ct")
	os.WriteFile(pt, []byte("alejandro@example.com"), 0o600)
	opensslOAEP(t, "-encrypt", "-pubin", "-inkey", pub, "-in", pt, "-out", ct)
	raw, _ := os.ReadFile(ct)
	doc := `{"email":"#01#` + base64.StdEncoding.EncodeToString(raw) + `#10#"}`
	u := NewUnprotector(UnprotectOptions{Decrypter: k.local})
	out, _, err := u.Text(context.Background(), []byte(doc))
	if err != nil || string(out) != `{"email":"alejandro@example.com"}` {
		t.Fatalf("openssl token: %s %v", out, err)
	}

	ours, _ := k.keys["01"].Encrypt([]byte("123-45-6789"), "")
	tok, _ := token.Parse(ours)
	os.WriteFile(ct, tok.Payload, 0o600)
	got := opensslOAEP(t, "-decrypt", "-inkey", priv, "-in", ct)
	if string(got) != "123-45-6789" {
		t.Fatalf("openssl decrypted %q", got)
	}
}
