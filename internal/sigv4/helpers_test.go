package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/bulwarkd/bulwark/internal/clock"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
)

// testNow is the fake clock every test verifies at.
var testNow = time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)

var testCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}

// keyring is a Lookup over a map; safe for concurrent use.
type keyring struct {
	mu   sync.Mutex
	keys map[string]Credential
}

func newKeyring() *keyring {
	return &keyring{keys: map[string]Credential{
		testAKID:   {SecretAccessKey: testSecret, Active: true},
		"AKIDOFF":  {SecretAccessKey: testSecret, Active: false},
		"AKIDSESS": {SecretAccessKey: testSecret, Active: true},
	}}
}

func (k *keyring) set(id string, c Credential) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[id] = c
}

func (k *keyring) lookup(_ context.Context, id string) (Credential, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.keys[id]
	if !ok {
		return Credential{}, fmt.Errorf("access key %q: %w", id, ErrUnknownKey)
	}
	return c, nil
}

// testTokens are the session tokens the test verifier issued, by key.
var testTokens = map[string]string{"AKIDSESS": "tok/en==", testAKID: "sess+ion"}

func testSessionToken(_ context.Context, akid, token string) error {
	if want, ok := testTokens[akid]; ok && token == want {
		return nil
	}
	return ErrUnknownToken
}

func newTestVerifier(k *keyring) *Verifier {
	return &Verifier{Lookup: k.lookup, Clock: clock.NewFake(testNow), Region: testRegion, SessionToken: testSessionToken}
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signHeader signs r with a fresh SDK signer. A fresh one matters: the SDK's
// own derived-key cache is keyed by access key id alone and would keep using
// an old secret after rotation.
func signHeader(t testing.TB, r *http.Request, creds aws.Credentials, payloadHash, service string, at time.Time) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payloadHash, service, testRegion, at); err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
}

// presign returns a request for the SDK's presigned URL of r.
func presign(t testing.TB, r *http.Request, creds aws.Credentials, payloadHash, service string, at time.Time, body []byte) *http.Request {
	t.Helper()
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, payloadHash, service, testRegion, at)
	if err != nil {
		t.Fatalf("PresignHTTP: %v", err)
	}
	out, err := http.NewRequest(r.Method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if k == "Host" {
			continue
		}
		out.Header[k] = vs
	}
	return out
}

func setBody(r *http.Request, body string) {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
}

// server is a loopback HTTP server that runs Verify on what arrives, so
// tests cover the request exactly as net/http parses it off the wire.
type server struct {
	*httptest.Server
	results chan verifyOutcome
}

type verifyOutcome struct {
	res *Result
	err error
}

func newServer(t testing.TB, v *Verifier) *server {
	s := &server{results: make(chan verifyOutcome, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.results <- verifyOutcome{err: err}
			return
		}
		res, err := v.Verify(r.Context(), r, body)
		s.results <- verifyOutcome{res, err}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) do(t testing.TB, r *http.Request) (*Result, error) {
	t.Helper()
	resp, err := s.Client().Do(r)
	if err != nil {
		t.Fatalf("sending request: %v", err)
	}
	resp.Body.Close()
	out := <-s.results
	return out.res, out.err
}

// checkOutcome fails t unless err has kind want (0 = success) and its
// message contains msg.
func checkOutcome(t testing.TB, res *Result, err error, want Kind, msg string) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("Verify: %v, want success", err)
		}
		if res == nil {
			t.Fatal("Verify returned nil result and nil error")
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify error = %v (%T), want *Error of kind %v", err, err, want)
	}
	if e.Kind != want {
		t.Fatalf("Verify kind = %v (%s), want %v", e.Kind, e.Msg, want)
	}
	if !strings.Contains(e.Msg, msg) {
		t.Fatalf("Verify message = %q, want it to contain %q", e.Msg, msg)
	}
	if strings.Contains(e.Error(), testSecret) {
		t.Fatalf("error message leaks the secret: %q", e.Error())
	}
}

func hexHMAC(key []byte, data string) string {
	return hex.EncodeToString(hmacSHA256(key, data))
}
