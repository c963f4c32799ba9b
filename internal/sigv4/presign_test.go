package sigv4

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// presignCase describes a request presigned with the SDK's PresignHTTP.
type presignCase struct {
	name        string
	method      string     // default GET
	query       url.Values // before presigning; X-Amz-Expires defaults to 900
	header      map[string]string
	body        string
	payloadHash string // default: hash of body
	creds       *aws.Credentials
	signAt      time.Duration // offset from testNow
	mutate      func(*http.Request)
	wantKind    Kind
	wantMsg     string
	check       func(*testing.T, *Result)
}

func editQuery(f func(url.Values)) func(*http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		f(q)
		r.URL.RawQuery = q.Encode()
	}
}

func TestVerifyPresigned(t *testing.T) {
	t.Parallel()
	gci := func(extra ...string) url.Values {
		q := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	cases := []presignCase{
		{name: "presigned GetCallerIdentity accepted", signAt: -5 * time.Minute,
			check: func(t *testing.T, r *Result) {
				if !r.Presigned || r.Scope.Service != "sts" || strings.Join(r.SignedHeaders, ";") != "host" {
					t.Errorf("result = %+v", r)
				}
			}},
		{name: "older than skew but within X-Amz-Expires", query: gci("X-Amz-Expires", "3600"), signAt: -50 * time.Minute},
		{name: "hoisted X-Amz headers and signed content-type", method: "POST", body: kmsBody,
			query:  url.Values{"X-Amz-Expires": {"60"}},
			header: map[string]string{"X-Amz-Target": "TrentService.Decrypt", "Content-Type": "application/x-amz-json-1.1"},
			check: func(t *testing.T, r *Result) {
				if strings.Join(r.SignedHeaders, ";") != "content-length;content-type;host" {
					t.Errorf("SignedHeaders = %v", r.SignedHeaders)
				}
			}},
		{name: "session token from the query", creds: &aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "sess+ion"},
			check: func(t *testing.T, r *Result) {
				if r.SecurityToken != "sess+ion" {
					t.Errorf("SecurityToken = %q", r.SecurityToken)
				}
			}},
		{name: "UNSIGNED-PAYLOAD declared in the query", method: "PUT", body: "anything at all!",
			query: gci("X-Amz-Expires", "60", "X-Amz-Content-Sha256", UnsignedPayload), payloadHash: UnsignedPayload,
			mutate: func(r *http.Request) { setBody(r, "same length, new") }},

		{name: "expired", signAt: -16 * time.Minute, wantKind: KindExpired,
			wantMsg: "Request has expired: X-Amz-Date 20260101T001400Z plus X-Amz-Expires 900 is earlier than 20260101T003000Z."},
		{name: "expires over seven days", query: gci("X-Amz-Expires", "604801"), wantKind: KindExpired,
			wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "expires overflows int64", query: gci("X-Amz-Expires", "99999999999999999999999"), wantKind: KindExpired},
		{name: "expires zero", query: gci("X-Amz-Expires", "0"), wantKind: KindIncomplete, wantMsg: "at least 1"},
		{name: "expires not a number", query: gci("X-Amz-Expires", "ten"), wantKind: KindIncomplete, wantMsg: "should be a number"},
		{name: "expires negative", query: gci("X-Amz-Expires", "-5"), wantKind: KindIncomplete, wantMsg: "at least 1"},
		// aws-sdk-go-v2's STS presigner sends no X-Amz-Expires: AWS then
		// allows 15 minutes, and so do we.
		{name: "expires absent means 15 minutes", query: gci("X-Amz-Expires", ""), signAt: -14 * time.Minute,
			mutate: editQuery(func(q url.Values) { q.Del("X-Amz-Expires") })},
		{name: "expires absent and 16 minutes old", query: gci("X-Amz-Expires", ""), signAt: -16 * time.Minute, wantKind: KindExpired,
			mutate: editQuery(func(q url.Values) { q.Del("X-Amz-Expires") })},
		{name: "signed in the future", signAt: 16 * time.Minute, wantKind: KindExpired, wantMsg: "Signature not yet current"},
		{name: "parameter tampered", wantKind: KindBadSignature, wantMsg: msgBadSignature,
			mutate: editQuery(func(q url.Values) { q.Set("Action", "GetSessionToken") })},
		{name: "expiry extended after signing", wantKind: KindBadSignature,
			mutate: editQuery(func(q url.Values) { q.Set("X-Amz-Expires", "3600") })},
		{name: "body tampered", method: "POST", body: "Action=GetCallerIdentity", query: url.Values{"X-Amz-Expires": {"60"}},
			wantKind: KindBadSignature, mutate: func(r *http.Request) { setBody(r, "Action=GetSessionToken") }},
		{name: "UNSIGNED-PAYLOAD not declared is not guessed", method: "PUT", body: "payload", payloadHash: UnsignedPayload,
			wantKind: KindBadSignature},
		{name: "declared hash does not match body", method: "PUT", body: "payload",
			query:    gci("X-Amz-Expires", "60", "X-Amz-Content-Sha256", hashHex([]byte("payload"))),
			mutate:   func(r *http.Request) { setBody(r, "other") },
			wantKind: KindBadSignature, wantMsg: "'x-amz-content-sha256' query parameter does not match"},
		{name: "signature missing", wantKind: KindIncomplete, wantMsg: "'X-Amz-Signature'",
			mutate: editQuery(func(q url.Values) { q.Del("X-Amz-Signature") })},
		{name: "signature repeated", wantKind: KindIncomplete, wantMsg: "'X-Amz-Signature'",
			mutate: editQuery(func(q url.Values) { q.Add("X-Amz-Signature", "00") })},
		{name: "unsupported algorithm", wantKind: KindIncomplete, wantMsg: "X-Amz-Algorithm only supports",
			mutate: editQuery(func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1") })},
		{name: "host not signed", wantKind: KindIncomplete, wantMsg: "'Host' must be listed",
			mutate: editQuery(func(q url.Values) { q.Set("X-Amz-SignedHeaders", "x-amz-date") })},
		{name: "unknown key", creds: &aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: testSecret},
			wantKind: KindUnknownKey, wantMsg: msgInvalidToken},
		{name: "wrong secret", creds: &aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "nope"},
			wantKind: KindBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, newTestVerifier(newKeyring()))
			res, err := srv.do(t, tc.build(t, srv.URL, gci("X-Amz-Expires", "900")))
			checkOutcome(t, res, err, tc.wantKind, tc.wantMsg)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func (tc presignCase) build(t *testing.T, base string, defQuery url.Values) *http.Request {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodGet
	}
	q := tc.query
	if q == nil {
		q = defQuery
	}
	if q.Get("X-Amz-Expires") == "" {
		q.Del("X-Amz-Expires")
	}
	creds := testCreds
	if tc.creds != nil {
		creds = *tc.creds
	}
	r, err := http.NewRequest(method, base+"/?"+q.Encode(), strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.header {
		r.Header.Set(k, v)
	}
	ph := tc.payloadHash
	if ph == "" {
		ph = hashHex([]byte(tc.body))
	}
	out := presign(t, r, creds, ph, "sts", testNow.Add(tc.signAt), []byte(tc.body))
	if tc.body == "" {
		out.Body, out.ContentLength = http.NoBody, 0
	}
	if tc.mutate != nil {
		tc.mutate(out)
	}
	return out
}
