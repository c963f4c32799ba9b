package sigv4

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary method, request target, Authorization,
// X-Amz-Date and body to Verify: it must never panic, and every refusal must
// be an *Error (the Lookup here never fails for other reasons).
func FuzzVerify(f *testing.F) {
	// Seed with genuinely valid requests so the fuzzer starts on the
	// success path and mutates from there.
	hdr, body := signedKMS(f, testCreds)
	f.Add("POST", "/", hdr.Header.Get("Authorization"), hdr.Header.Get("X-Amz-Date"), body)
	get, _ := http.NewRequest("GET", "https://kms.example.com/v20190125/meshes/my%20mesh?b=2&a=1&a=%E2%98%83", nil)
	signHeader(f, get, testCreds, hashHex(nil), "appmesh", testNow)
	f.Add("GET", get.URL.RequestURI(), get.Header.Get("Authorization"), get.Header.Get("X-Amz-Date"), []byte(nil))
	q := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}, "X-Amz-Expires": {"900"}}
	pre, _ := http.NewRequest("GET", "https://kms.example.com/?"+q.Encode(), nil)
	pre = presign(f, pre, testCreds, hashHex(nil), "sts", testNow, nil)
	f.Add("GET", pre.URL.RequestURI(), "", "", []byte(nil))
	f.Add("POST", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=9999999999999", "", "", []byte("x"))
	f.Add("PUT", "/%zz?;", "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=0", "2026", []byte("{}"))

	v := newTestVerifier(newKeyring())
	f.Fuzz(func(t *testing.T, method, target, auth, date string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{
			Method: method,
			URL:    u,
			Host:   "kms.example.com",
			Header: http.Header{
				"Content-Type": {"application/x-amz-json-1.1"},
				"X-Amz-Target": {"TrentService.Encrypt"},
			},
			ContentLength: int64(len(body)),
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		res, err := v.Verify(context.Background(), r, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify returned a non-*Error: %v", err)
			}
			if strings.Contains(e.Msg, testSecret) {
				t.Fatalf("message leaks the secret: %q", e.Msg)
			}
			return
		}
		if res == nil || res.Scope.AccessKeyID == "" {
			t.Fatalf("Verify accepted with result %+v", res)
		}
	})
}
