package sigv4

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const kmsBody = `{"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}`

// headerCase describes a request signed with the SDK's SignHTTP, optionally
// altered after signing, and what Verify must say about it.
type headerCase struct {
	name        string
	method      string // default POST
	target      string // escaped path and query appended to the server URL; default "/"
	body        string
	headers     map[string]string
	service     string // default kms
	creds       *aws.Credentials
	signAt      time.Duration // offset from testNow
	payloadHash string        // default: hash of body
	mutate      func(*http.Request)
	wantKind    Kind
	wantMsg     string
	check       func(*testing.T, *Result)
}

func jsonHeaders(target string) map[string]string {
	return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
}

func setAuth(f func(Authorization) string) func(*http.Request) {
	return func(r *http.Request) {
		a, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil {
			panic(err)
		}
		r.Header.Set("Authorization", f(a))
	}
}

func TestVerifyHeaderForm(t *testing.T) {
	t.Parallel()
	enc := jsonHeaders("TrentService.Encrypt")
	cases := []headerCase{
		{name: "POST JSON accepted", body: kmsBody, headers: enc,
			check: func(t *testing.T, r *Result) {
				want := Scope{AccessKeyID: testAKID, Date: "20260101", Region: testRegion, Service: "kms"}
				if r.Scope != want || r.Presigned || r.SecurityToken != "" || r.UnsignedPayload || !r.SigningTime.Equal(testNow) {
					t.Errorf("result = %+v, want scope %+v at %v", r, want, testNow)
				}
				if strings.Join(r.SignedHeaders, ";") != "content-length;content-type;host;x-amz-date;x-amz-target" {
					t.Errorf("SignedHeaders = %v", r.SignedHeaders)
				}
			}},
		{name: "GET with awkward query", method: "GET", service: "iam",
			target: "/?Action=ListUsers&b=2&b=1&a%20b=x%20y&empty=&%C3%BC=%E2%98%83&star=*&tilde=a~b&plus=1%2B1&slash=%2F"},
		{name: "query reordered on the wire", method: "GET", service: "iam", target: "/?z=1&a=2&a=1",
			mutate: func(r *http.Request) { r.URL.RawQuery = "a=2&z=1&a=1" }},
		{name: "path with spaces and special characters", method: "GET", service: "appmesh",
			target: "/a%20b/c%21d%2A%28e%29%27f/%C3%BC/x%2Fy/semi;colon/at@/plus+sign/%25"},
		{name: "REST path with escaped space", method: "PUT", service: "appmesh",
			target: "/v20190125/meshes/my%20mesh/virtualNodes", body: `{"virtualNodeName":"colorteller"}`,
			headers: map[string]string{"Content-Type": "application/json"}},
		{name: "empty body GET", method: "GET", service: "appmesh", target: "/v20190125/meshes"},
		{name: "session token signed and returned", body: kmsBody, headers: enc,
			creds: &aws.Credentials{AccessKeyID: "AKIDSESS", SecretAccessKey: testSecret, SessionToken: "tok/en=="},
			check: func(t *testing.T, r *Result) {
				if r.SecurityToken != "tok/en==" {
					t.Errorf("SecurityToken = %q", r.SecurityToken)
				}
			}},
		{name: "multi-value header with extra spaces", body: kmsBody,
			headers: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt", "X-Amz-Meta-Note": "  a   b  c  "},
			mutate:  func(r *http.Request) { r.Header.Set("X-Amz-Meta-Note", "a b c") }},
		{name: "unsigned header added after signing", body: kmsBody, headers: enc,
			mutate: func(r *http.Request) { r.Header.Set("User-Agent", "changed") }},
		{name: "Authorization without spaces after commas", body: kmsBody, headers: enc,
			mutate: setAuth(func(a Authorization) string { return strings.ReplaceAll(a.String(), ", ", ",") })},
		{name: "Authorization with components reordered and padded", body: kmsBody, headers: enc,
			mutate: setAuth(func(a Authorization) string {
				return Algorithm + "   Signature=" + a.Signature + " ,  SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ",Credential=" + a.Scope.String()
			})},
		{name: "UNSIGNED-PAYLOAD accepted with any body", body: kmsBody, payloadHash: UnsignedPayload,
			headers: map[string]string{"X-Amz-Content-Sha256": UnsignedPayload},
			mutate:  func(r *http.Request) { setBody(r, strings.Repeat("x", len(kmsBody))) },
			check: func(t *testing.T, r *Result) {
				if !r.UnsignedPayload {
					t.Error("UnsignedPayload = false")
				}
			}},
		{name: "declared content hash accepted", body: kmsBody,
			headers: map[string]string{"X-Amz-Content-Sha256": hashHex([]byte(kmsBody))}},
		{name: "skew +14 min accepted", body: kmsBody, headers: enc, signAt: 14 * time.Minute},
		{name: "skew -14 min accepted", body: kmsBody, headers: enc, signAt: -14 * time.Minute},

		{name: "wrong secret", body: kmsBody, headers: enc,
			creds:    &aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "not-the-secret"},
			wantKind: KindBadSignature, wantMsg: msgBadSignature},
		{name: "unknown key", body: kmsBody, headers: enc,
			creds:    &aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: testSecret},
			wantKind: KindUnknownKey, wantMsg: msgInvalidToken},
		{name: "inactive key", body: kmsBody, headers: enc,
			creds:    &aws.Credentials{AccessKeyID: "AKIDOFF", SecretAccessKey: testSecret},
			wantKind: KindUnknownKey, wantMsg: msgInvalidToken},
		{name: "skew -16 min refused", body: kmsBody, headers: enc, signAt: -16 * time.Minute, wantKind: KindExpired,
			wantMsg: "Signature expired: 20260101T001400Z is now earlier than 20260101T001500Z (20260101T003000Z - 15 min.)"},
		{name: "skew +16 min refused", body: kmsBody, headers: enc, signAt: 16 * time.Minute, wantKind: KindExpired,
			wantMsg: "Signature not yet current: 20260101T004600Z is still later than 20260101T004500Z (20260101T003000Z + 15 min.)"},
		{name: "body tampered", body: kmsBody, headers: enc, wantKind: KindBadSignature, wantMsg: msgBadSignature,
			mutate: func(r *http.Request) { setBody(r, strings.Replace(kmsBody, "alias/app", "alias/apq", 1)) }},
		{name: "signed header tampered", body: kmsBody, headers: enc, wantKind: KindBadSignature,
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.Decrypt") }},
		{name: "method changed", method: "GET", service: "iam", target: "/?Action=ListUsers", wantKind: KindBadSignature,
			mutate: func(r *http.Request) { r.Method = "DELETE" }},
		{name: "path changed", method: "GET", service: "appmesh", target: "/v20190125/meshes/a", wantKind: KindBadSignature,
			mutate: func(r *http.Request) { r.URL.Path = "/v20190125/meshes/b" }},
		{name: "query parameter added", method: "GET", service: "iam", target: "/?Action=ListUsers", wantKind: KindBadSignature,
			mutate: func(r *http.Request) { r.URL.RawQuery += "&MaxItems=1" }},
		{name: "declared content hash does not match body", body: kmsBody,
			headers:  map[string]string{"X-Amz-Content-Sha256": hashHex([]byte(kmsBody))},
			mutate:   func(r *http.Request) { setBody(r, "{}") },
			wantKind: KindBadSignature, wantMsg: "'x-amz-content-sha256' header does not match"},
		{name: "streaming payload refused", body: kmsBody, payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
			headers:  map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
			wantKind: KindIncomplete, wantMsg: "Streaming"},
		{name: "signature in upper case hex", body: kmsBody, headers: enc, wantKind: KindBadSignature,
			mutate: setAuth(func(a Authorization) string { a.Signature = strings.ToUpper(a.Signature); return a.String() })},
		{name: "scope date differs from X-Amz-Date", body: kmsBody, headers: enc, wantKind: KindIncomplete,
			wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260101' != '20251231'",
			mutate:  func(r *http.Request) { r.Header.Set("X-Amz-Date", "20251231T235959Z") }},
		{name: "malformed X-Amz-Date", body: kmsBody, headers: enc, wantKind: KindIncomplete, wantMsg: "Date must be in ISO-8601 'basic format'",
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-01-01T00:30:00Z") }},
		{name: "no date at all", body: kmsBody, headers: enc, wantKind: KindIncomplete,
			wantMsg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
			mutate:  func(r *http.Request) { r.Header.Del("X-Amz-Date") }},
		{name: "host not signed", body: kmsBody, headers: enc, wantKind: KindIncomplete, wantMsg: "'Host' or ':authority' must be a 'SignedHeader'",
			mutate: setAuth(func(a Authorization) string {
				a.SignedHeaders = []string{"content-type", "x-amz-date"}
				return a.String()
			})},
		{name: "signed header missing from request", body: kmsBody, headers: enc, wantKind: KindIncomplete,
			wantMsg: `"x-amz-target" is listed in SignedHeaders but is not present`,
			mutate:  func(r *http.Request) { r.Header.Del("X-Amz-Target") }},
		{name: "security token not signed", body: kmsBody, headers: enc, wantKind: KindIncomplete, wantMsg: "X-Amz-Security-Token",
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "injected") }},
		{name: "missing authentication", body: kmsBody, headers: enc, wantKind: KindMissing, wantMsg: msgMissing,
			mutate: func(r *http.Request) { r.Header.Del("Authorization") }},
		{name: "two Authorization headers", body: kmsBody, headers: enc, wantKind: KindIncomplete,
			mutate: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }},
		{name: "header and query auth together", method: "GET", service: "iam", target: "/?Action=ListUsers", wantKind: KindIncomplete,
			wantMsg: "Only one auth mechanism allowed",
			mutate:  func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }},
		{name: "malformed query string", method: "GET", service: "iam", target: "/?Action=ListUsers", wantKind: KindIncomplete,
			wantMsg: "query string is malformed",
			mutate:  func(r *http.Request) { r.URL.RawQuery += "&bad=%zz" }},
	}
	for _, bad := range []struct{ name, header, msg string }{
		{"algorithm only", "AWS4-HMAC-SHA256", "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"no Credential", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00", "requires 'Credential' parameter."},
		{"no Signature", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host", "requires 'Signature' parameter."},
		{"empty SignedHeaders", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=, Signature=00", "requires 'SignedHeaders' parameter."},
		{"SigV4a", "AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20260101/kms/aws4_request, SignedHeaders=host, Signature=00", "Unsupported AWS 'algorithm'"},
		{"bearer token", "Bearer abc", "Unsupported AWS 'algorithm'"},
		{"short credential", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/aws4_request, SignedHeaders=host, Signature=00", "Credential should be of the form"},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws5_request, SignedHeaders=host, Signature=00", "valid terminator"},
		{"bad scope date", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2026-01-01/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00", "YYYYMMDD"},
		{"missing equal sign", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders, Signature=00", "missing equal-sign"},
	} {
		cases = append(cases, headerCase{name: "malformed: " + bad.name, body: kmsBody, headers: enc,
			wantKind: KindIncomplete, wantMsg: bad.msg,
			mutate: func(r *http.Request) { r.Header.Set("Authorization", bad.header) }})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, newTestVerifier(newKeyring()))
			r := tc.build(t, srv.URL)
			res, err := srv.do(t, r)
			checkOutcome(t, res, err, tc.wantKind, tc.wantMsg)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func (tc headerCase) build(t *testing.T, base string) *http.Request {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	target := tc.target
	if target == "" {
		target = "/"
	}
	service := tc.service
	if service == "" {
		service = "kms"
	}
	creds := testCreds
	if tc.creds != nil {
		creds = *tc.creds
	}
	r, err := http.NewRequest(method, base+target, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.body == "" {
		r.Body, r.ContentLength = http.NoBody, 0
	}
	for k, v := range tc.headers {
		r.Header.Set(k, v)
	}
	ph := tc.payloadHash
	if ph == "" {
		ph = hashHex([]byte(tc.body))
	}
	signHeader(t, r, creds, ph, service, testNow.Add(tc.signAt))
	if tc.mutate != nil {
		tc.mutate(r)
	}
	return r
}

func TestVerifyDateHeaderFallback(t *testing.T) {
	t.Parallel()
	// The SDK always sends X-Amz-Date, so build the canonical request by
	// hand the way the SigV4 spec describes for a Date-only request.
	r, _ := http.NewRequest("GET", "http://example.com/v20190125/meshes", nil)
	r.Header.Set("Date", testNow.Format(http.TimeFormat))
	sc := Scope{AccessKeyID: testAKID, Date: "20260101", Region: testRegion, Service: "appmesh"}
	req := &request{scope: sc, signedHeaders: []string{"date", "host"}, signedList: "date;host", amzDate: "20260101T003000Z"}
	cr, err := canonicalRequest(r, req, hashHex(nil))
	if err != nil {
		t.Fatal(err)
	}
	sts := Algorithm + "\n20260101T003000Z\n" + sc.scopeSuffix() + "\n" + hashHex(cr)
	sig := hexHMAC(deriveKey(testSecret, sc), sts)
	r.Header.Set("Authorization", Authorization{Scope: sc, SignedHeaders: req.signedHeaders, Signature: sig}.String())

	v := newTestVerifier(newKeyring())
	res, err := v.Verify(context.Background(), r, nil)
	checkOutcome(t, res, err, 0, "")
	r.Header.Set("Date", testNow.Add(time.Second).Format(http.TimeFormat))
	_, err = v.Verify(context.Background(), r, nil)
	checkOutcome(t, nil, err, KindBadSignature, msgBadSignature)
}

func TestVerifyCauses(t *testing.T) {
	t.Parallel()
	k := newKeyring()
	v := newTestVerifier(k)
	for _, tc := range []struct {
		name  string
		akid  string
		cause error
	}{
		{"unknown key", "AKIDNOBODY", ErrUnknownKey},
		{"inactive key", "AKIDOFF", ErrInactiveKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://example.com/?Action=ListUsers", nil)
			signHeader(t, r, aws.Credentials{AccessKeyID: tc.akid, SecretAccessKey: testSecret}, hashHex(nil), "iam", testNow)
			_, err := v.Verify(context.Background(), r, nil)
			if !errors.Is(err, tc.cause) {
				t.Fatalf("Verify error = %v, want cause %v", err, tc.cause)
			}
		})
	}
	t.Run("lookup failure is internal", func(t *testing.T) {
		boom := errors.New("database is down")
		v := &Verifier{Clock: v.Clock, Lookup: func(context.Context, string) (Credential, error) { return Credential{}, boom }}
		r, _ := http.NewRequest("GET", "http://example.com/?Action=ListUsers", nil)
		signHeader(t, r, testCreds, hashHex(nil), "iam", testNow)
		_, err := v.Verify(context.Background(), r, nil)
		var e *Error
		if !errors.Is(err, boom) || errors.As(err, &e) {
			t.Fatalf("Verify error = %v, want a non-*Error wrapping %v", err, boom)
		}
	})
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	want := Scope{AccessKeyID: testAKID, Date: "20260101", Region: testRegion, Service: "sts"}
	hdr, _ := http.NewRequest("POST", "http://example.com/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	signHeader(t, hdr, testCreds, hashHex([]byte("Action=GetCallerIdentity&Version=2011-06-15")), "sts", testNow)
	q := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}, "X-Amz-Expires": {"60"}}
	pre, _ := http.NewRequest("GET", "http://example.com/?"+q.Encode(), nil)
	pre = presign(t, pre, testCreds, hashHex(nil), "sts", testNow, nil)
	none, _ := http.NewRequest("GET", "http://example.com/", nil)
	bad, _ := http.NewRequest("GET", "http://example.com/", nil)
	bad.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")

	for _, tc := range []struct {
		name string
		r    *http.Request
		kind Kind
	}{
		{"authorization header", hdr, 0},
		{"presigned query", pre, 0},
		{"no authentication", none, KindMissing},
		{"malformed header", bad, KindIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := ParseScope(tc.r)
			if tc.kind == 0 {
				if err != nil || sc != want {
					t.Fatalf("ParseScope = %+v, %v; want %+v", sc, err, want)
				}
				return
			}
			checkOutcome(t, nil, err, tc.kind, "")
		})
	}
}
