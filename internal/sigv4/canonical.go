package sigv4

import (
	"net/url"
	"slices"
	"strings"
)

// The functions here mirror aws-sdk-go-v2/aws/signer/internal/v4 and
// smithy-go's httpbinding.EscapePath. They must stay byte-for-byte equal to
// them: any divergence shows up as SignatureDoesNotMatch for real clients.

const hexUpper = "0123456789ABCDEF"

// uriPath is the SDK's GetURIPath: the escaped path, "/" when empty.
func uriPath(u *url.URL) string {
	var p string
	if u.Opaque != "" {
		// The SDK supports a full URL smuggled in Opaque; mirror it.
		opaque := u.Opaque
		if i := strings.IndexByte(opaque, '?'); i >= 0 {
			opaque = opaque[:i]
		}
		opaque = strings.TrimPrefix(opaque, "//")
		if i := strings.IndexByte(opaque, '/'); i >= 0 {
			p = opaque[i:]
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		p = "/"
	}
	return p
}

// unreservedByte reports whether c is RFC 3986 unreserved, the only bytes
// AWS leaves unescaped in a canonical URI.
func unreservedByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendEscapedPath escapes path once more, keeping '/' — the "double
// encoding" every service but S3 expects.
func appendEscapedPath(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		c := path[i]
		if unreservedByte(c) || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return b
}

// encodeQueryComponent is the SDK's: url.QueryEscape with %20 for spaces.
func encodeQueryComponent(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// appendCanonicalQuery writes the query sorted by encoded key then encoded
// value, leaving out the key named skip (X-Amz-Signature when presigned).
func appendCanonicalQuery(b []byte, q url.Values, skip string) []byte {
	type param struct{ k, v string }
	params := make([]param, 0, len(q))
	for k, vs := range q {
		if k == skip {
			continue
		}
		ek := encodeQueryComponent(k)
		for _, v := range vs {
			params = append(params, param{ek, encodeQueryComponent(v)})
		}
	}
	slices.SortFunc(params, func(a, b param) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range params {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

// appendHeaderValue writes v with leading/trailing blanks removed and runs
// of spaces collapsed, as the SDK does (TrimSpace(StripExcessSpaces(v))).
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}
