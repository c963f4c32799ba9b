package sigv4

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// bench200 is a ~200-byte KMS Encrypt body, the size of a typical JSON call.
var bench200 = `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"c2Vuc2l0aXZlIGZpZWxkIHZhbHVlIDAxMjM0NTY3ODk=","EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}`

func benchVerify(b *testing.B, r *http.Request, body []byte, cacheSize int) {
	v := newTestVerifier(newKeyring())
	v.CacheSize = cacheSize
	ctx := context.Background()
	if _, err := v.Verify(ctx, r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(ctx, r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is a signed JSON POST with a warm derived-key cache.
func BenchmarkVerify(b *testing.B) {
	body := []byte(bench200)
	r, _ := http.NewRequest("POST", "https://kms.example.com/", strings.NewReader(bench200))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0")
	signHeader(b, r, testCreds, hashHex(body), "kms", testNow)
	b.Run("warm cache", func(b *testing.B) { benchVerify(b, r, body, 0) })
	b.Run("no cache", func(b *testing.B) { benchVerify(b, r, body, -1) })
}

// BenchmarkVerifyPresigned is a presigned STS GetCallerIdentity URL.
func BenchmarkVerifyPresigned(b *testing.B) {
	q := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}, "X-Amz-Expires": {"900"}}
	r, _ := http.NewRequest("GET", "https://sts.example.com/?"+q.Encode(), nil)
	r = presign(b, r, testCreds, hashHex(nil), "sts", testNow, nil)
	benchVerify(b, r, nil, 0)
}
