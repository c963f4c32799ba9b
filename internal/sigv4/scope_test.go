package sigv4

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedFor returns a request signed (header form, or presigned) for
// service and region, with creds.
func signedFor(t *testing.T, base string, presigned bool, creds aws.Credentials, service, region string) *http.Request {
	t.Helper()
	body := ""
	if presigned {
		r, err := http.NewRequest(http.MethodGet, base+"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=900", nil)
		if err != nil {
			t.Fatal(err)
		}
		u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hashHex(nil), service, region, testNow)
		if err != nil {
			t.Fatal(err)
		}
		out, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			if k != "Host" {
				out.Header[k] = vs
			}
		}
		return out
	}
	body = kmsBody
	r, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range jsonHeaders("TrentService.Encrypt") {
		r.Header.Set(k, v)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hashHex([]byte(body)), service, region, testNow); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestVerifyRegion: a signature scoped to any region but the verifier's is
// refused in both forms, as AWS refuses it, except us-east-1 for the
// global services.
func TestVerifyRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		region   string // the verifier's
		global   []string
		service  string
		scope    string // the request's
		wantKind Kind
	}{
		{"same region", "eu-west-1", nil, "kms", "eu-west-1", 0},
		{"garbage region", "us-east-1", nil, "kms", "x", KindBadSignature},
		{"another real region", "us-east-1", nil, "kms", "us-west-2", KindBadSignature},
		{"case differs", "us-east-1", nil, "kms", "US-EAST-1", KindBadSignature},
		{"prefix of the region", "us-east-1", nil, "kms", "us-east", KindBadSignature},
		{"region with suffix", "us-east-1", nil, "kms", "us-east-1x", KindBadSignature},
		{"us-east-1 for a regional service elsewhere", "eu-west-1", []string{"iam", "sts"}, "kms", "us-east-1", KindBadSignature},
		{"us-east-1 for a global service", "eu-west-1", []string{"iam", "sts"}, "sts", "us-east-1", 0},
		{"another region for a global service", "eu-west-1", []string{"iam", "sts"}, "sts", "us-west-2", KindBadSignature},
		{"verifier without a region", "", nil, "kms", "x", 0},
	}
	for _, tc := range tests {
		for _, presigned := range []bool{false, true} {
			name := tc.name + " header"
			if presigned {
				name = tc.name + " presigned"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				v := newTestVerifier(newKeyring())
				v.Region, v.GlobalServices = tc.region, tc.global
				srv := newServer(t, v)
				res, err := srv.do(t, signedFor(t, srv.URL, presigned, testCreds, tc.service, tc.scope))
				checkOutcome(t, res, err, tc.wantKind, "")
				if tc.wantKind != 0 {
					var e *Error
					errors.As(err, &e)
					if !strings.Contains(e.Msg, "Credential should be scoped to a valid region, not '"+tc.scope+"'") {
						t.Errorf("message %q does not say which region is wrong", e.Msg)
					}
				}
			})
		}
	}
}

// TestVerifySecurityToken: a signed X-Amz-Security-Token is accepted only
// when the verifier's SessionToken accepts it for the signing key; without
// a SessionToken every token is refused, in both forms.
func TestVerifySecurityToken(t *testing.T) {
	t.Parallel()
	accept := testSessionToken
	tests := []struct {
		name     string
		check    func(context.Context, string, string) error
		akid     string
		token    string
		wantKind Kind
	}{
		{"issued token for its key", accept, "AKIDSESS", "tok/en==", 0},
		{"garbage token", accept, "AKIDSESS", "garbage", KindUnknownKey},
		{"another key's token", accept, "AKIDSESS", "sess+ion", KindUnknownKey},
		{"no issuer: any token refused", nil, "AKIDSESS", "tok/en==", KindUnknownKey},
		{"no issuer: garbage refused", nil, testAKID, "x", KindUnknownKey},
	}
	for _, tc := range tests {
		for _, presigned := range []bool{false, true} {
			name := tc.name + " header"
			if presigned {
				name = tc.name + " presigned"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				v := newTestVerifier(newKeyring())
				v.SessionToken = tc.check
				srv := newServer(t, v)
				creds := aws.Credentials{AccessKeyID: tc.akid, SecretAccessKey: testSecret, SessionToken: tc.token}
				res, err := srv.do(t, signedFor(t, srv.URL, presigned, creds, "sts", testRegion))
				checkOutcome(t, res, err, tc.wantKind, "")
				if tc.wantKind != 0 {
					if !errors.Is(err, ErrUnknownToken) {
						t.Errorf("cause = %v, want ErrUnknownToken", err)
					}
					var e *Error
					if errors.As(err, &e) && e.Msg != msgInvalidToken {
						t.Errorf("message %q, want %q", e.Msg, msgInvalidToken)
					}
				}
			})
		}
	}
	t.Run("empty signed token header is refused", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, newTestVerifier(newKeyring()))
		r, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(kmsBody))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range jsonHeaders("TrentService.Encrypt") {
			r.Header.Set(k, v)
		}
		// The SDK signs every header already present, so an empty token
		// header ends up signed.
		r.Header["X-Amz-Security-Token"] = []string{""}
		signHeader(t, r, testCreds, hashHex([]byte(kmsBody)), "kms", testNow)
		if !strings.Contains(r.Header.Get("Authorization"), "x-amz-security-token") {
			t.Fatalf("empty token header was not signed: %s", r.Header.Get("Authorization"))
		}
		res, err := srv.do(t, r)
		checkOutcome(t, res, err, KindUnknownKey, msgInvalidToken)
	})
	t.Run("token in the query of a header-signed request is refused", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, newTestVerifier(newKeyring()))
		r, err := http.NewRequest(http.MethodPost, srv.URL+"/?X-Amz-Security-Token=garbage", strings.NewReader(kmsBody))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range jsonHeaders("TrentService.Encrypt") {
			r.Header.Set(k, v)
		}
		signHeader(t, r, testCreds, hashHex([]byte(kmsBody)), "kms", testNow)
		res, err := srv.do(t, r)
		checkOutcome(t, res, err, KindUnknownKey, msgInvalidToken)
	})
	t.Run("token repeated in the query", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, newTestVerifier(newKeyring()))
		r := signedFor(t, srv.URL, true, aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "sess+ion"}, "sts", testRegion)
		q := r.URL.Query()
		q.Add("X-Amz-Security-Token", "other")
		r.URL.RawQuery = q.Encode()
		res, err := srv.do(t, r)
		checkOutcome(t, res, err, KindIncomplete, "at most one 'X-Amz-Security-Token'")
	})
}
