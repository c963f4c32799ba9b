package sigv4

import (
	"net/http"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm Verify accepts (SigV4a's
// AWS4-ECDSA-P256-SHA256 is refused as KindIncomplete).
const Algorithm = "AWS4-HMAC-SHA256"

const (
	scopeTerminator = "aws4_request"
	timeFormat      = "20060102T150405Z"
	// maxEcho bounds how much of a client-supplied value an error message
	// repeats, so a hostile header cannot inflate every error response.
	maxEcho = 128
)

// Scope is the parsed credential scope of a request: the access key id and
// the date/region/service the signing key was derived for. ParseScope makes
// it available before verification so the server can route by service.
type Scope struct {
	AccessKeyID string
	Date        string // YYYYMMDD
	Region      string
	Service     string
}

// String returns the scope in the form used in Credential=
// (AKID/YYYYMMDD/region/service/aws4_request).
func (s Scope) String() string {
	return s.AccessKeyID + "/" + s.scopeSuffix()
}

// scopeSuffix is the credential scope as it appears in the string to sign.
func (s Scope) scopeSuffix() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + scopeTerminator
}

// Authorization is a parsed `Authorization: AWS4-HMAC-SHA256 ...` header.
type Authorization struct {
	Scope         Scope
	SignedHeaders []string // as listed by the client, lower-case, in order
	Signature     string   // hex, as sent
}

// String formats a the way aws-sdk-go-v2 writes the header, so that
// ParseAuthorization(a.String()) returns a again.
func (a Authorization) String() string {
	return Algorithm + " Credential=" + a.Scope.String() +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") +
		", Signature=" + a.Signature
}

// ParseScope returns the credential scope of r without verifying anything:
// from the Authorization header or, for presigned requests, from the
// X-Amz-Credential query parameter. It is cheap enough to call on every
// request for routing. Errors are *Error (KindMissing or KindIncomplete).
func ParseScope(r *http.Request) (Scope, error) {
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return Scope{}, newError(KindIncomplete, "Only one Authorization header is allowed.")
		}
		a, err := ParseAuthorization(h[0])
		if err != nil {
			return Scope{}, err
		}
		return a.Scope, nil
	}
	if strings.Contains(r.URL.RawQuery, "X-Amz-Credential") {
		if c := r.URL.Query()["X-Amz-Credential"]; len(c) > 0 {
			if len(c) > 1 {
				return Scope{}, newError(KindIncomplete, "Only one 'X-Amz-Credential' query parameter is allowed.")
			}
			return parseCredential(c[0])
		}
	}
	return Scope{}, newError(KindMissing, msgMissing)
}

// ParseAuthorization parses an Authorization header value. It tolerates
// what AWS tolerates: components separated by commas and/or blanks, in any
// order, with unknown components ignored. Errors are *Error with
// KindIncomplete naming every missing component, as AWS does.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	alg, rest := nextAuthToken(h)
	if alg == "" {
		return a, newError(KindIncomplete, "Authorization header is empty.")
	}
	if alg != Algorithm {
		if strings.Contains(alg, "=") {
			return a, newError(KindIncomplete, "Authorization header requires the algorithm '%s' before its parameters.", Algorithm)
		}
		return a, newError(KindIncomplete, "Unsupported AWS 'algorithm': %q; only '%s' is supported.", echo(alg), Algorithm)
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for tok := ""; ; {
		if tok, rest = nextAuthToken(rest); tok == "" {
			break
		}
		k, val, ok := strings.Cut(tok, "=")
		if !ok {
			return a, newError(KindIncomplete, "Invalid key=value pair (missing equal-sign) in Authorization header: %q.", echo(tok))
		}
		var dst *string
		var seen *bool
		switch k {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			continue // AWS ignores components it does not know
		}
		if *seen {
			return a, newError(KindIncomplete, "Authorization header has a duplicate '%s' parameter.", k)
		}
		*dst, *seen = val, true
	}
	var missing []string
	if cred == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if sig == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if signed == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if len(missing) > 0 {
		return a, newError(KindIncomplete, "%s", strings.Join(missing, " "))
	}
	sc, err := parseCredential(cred)
	if err != nil {
		return a, err
	}
	sh, err := parseSignedHeaders(signed)
	if err != nil {
		return a, err
	}
	return Authorization{Scope: sc, SignedHeaders: sh, Signature: sig}, nil
}

// nextAuthToken returns the next token of h delimited by runs of commas,
// spaces and tabs, and what follows it. No legal component value contains
// any of them, so this accepts ", ", "," and " " alike.
func nextAuthToken(h string) (tok, rest string) {
	isSep := func(c byte) bool { return c == ',' || c == ' ' || c == '\t' }
	i := 0
	for i < len(h) && isSep(h[i]) {
		i++
	}
	j := i
	for j < len(h) && !isSep(h[j]) {
		j++
	}
	return h[i:j], h[j:]
}

// parseCredential parses AKID/YYYYMMDD/region/service/aws4_request.
func parseCredential(c string) (Scope, error) {
	var parts [5]string
	rest, ok := c, true
	for i := range len(parts) - 1 {
		if parts[i], rest, ok = strings.Cut(rest, "/"); !ok {
			break
		}
	}
	parts[4] = rest
	if !ok || strings.Contains(rest, "/") {
		return Scope{}, newError(KindIncomplete, "Credential should be of the form 'AccessKeyId/YYYYMMDD/region/service/aws4_request', got %q.", echo(c))
	}
	sc := Scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	switch {
	case sc.AccessKeyID == "":
		return Scope{}, newError(KindIncomplete, "Credential has an empty access key id.")
	case parts[4] != scopeTerminator:
		return Scope{}, newError(KindIncomplete, "Credential should be scoped with a valid terminator: '%s', not %q.", scopeTerminator, echo(parts[4]))
	case sc.Region == "":
		return Scope{}, newError(KindIncomplete, "Credential should be scoped to a valid region.")
	case sc.Service == "":
		return Scope{}, newError(KindIncomplete, "Credential should be scoped to a valid service.")
	}
	if _, ok := parseDate(sc.Date, "000000"); !ok {
		return Scope{}, newError(KindIncomplete, "Credential date %q must be in YYYYMMDD format.", echo(sc.Date))
	}
	return sc, nil
}

// parseSignedHeaders splits the SignedHeaders list. Names keep the client's
// spelling because the canonical request must repeat the list verbatim.
func parseSignedHeaders(s string) ([]string, error) {
	names := strings.Split(s, ";")
	for i, n := range names {
		if n == "" || strings.ContainsAny(n, ":\r\n") {
			return nil, newError(KindIncomplete, "SignedHeaders contains an invalid header name %q.", echo(n))
		}
		for _, m := range names[:i] {
			if m == n {
				return nil, newError(KindIncomplete, "SignedHeaders lists %q twice.", echo(n))
			}
		}
	}
	return names, nil
}

// parseAmzDate parses an ISO-8601 basic timestamp, requiring the exact
// layout because the string to sign repeats it verbatim.
func parseAmzDate(s string) (time.Time, error) {
	var t time.Time
	ok := len(s) == len(timeFormat) && s[8] == 'T' && s[15] == 'Z'
	if ok {
		t, ok = parseDate(s[:8], s[9:15])
	}
	if !ok {
		return time.Time{}, newError(KindIncomplete, "Date must be in ISO-8601 'basic format'. Got %q. See http://en.wikipedia.org/wiki/ISO_8601", echo(s))
	}
	return t, nil
}

// parseDate parses YYYYMMDD and HHMMSS digits. It is hand-written because
// time.Parse was a tenth of Verify's cost and is more lenient than the
// string to sign allows.
func parseDate(ymd, hms string) (time.Time, bool) {
	if len(ymd) != 8 || len(hms) != 6 {
		return time.Time{}, false
	}
	num := func(s string) int {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return -1
			}
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	y, mo, d := num(ymd[:4]), num(ymd[4:6]), num(ymd[6:])
	h, mi, sec := num(hms[:2]), num(hms[2:4]), num(hms[4:])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 20260230 normalises into March
		return time.Time{}, false
	}
	return t, true
}

func echo(s string) string {
	if len(s) > maxEcho {
		return s[:maxEcho] + "..."
	}
	return s
}
