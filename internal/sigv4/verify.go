package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
)

const (
	// DefaultMaxSkew is the clock skew AWS tolerates, used when
	// Verifier.MaxSkew is zero.
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the longest X-Amz-Expires AWS accepts (7 days).
	MaxPresignExpiry = 7 * 24 * time.Hour
	// UnsignedPayload is the payload hash a client uses to leave the body
	// out of the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	headerContentSHA  = "X-Amz-Content-Sha256"
	headerDate        = "X-Amz-Date"
	headerToken       = "X-Amz-Security-Token"
	querySignature    = "X-Amz-Signature"
	queryAlgorithm    = "X-Amz-Algorithm"
	queryCredential   = "X-Amz-Credential"
	querySignedHeader = "X-Amz-SignedHeaders"
	queryExpires      = "X-Amz-Expires"
)

// Credential is what a Lookup returns for an access key id.
type Credential struct {
	SecretAccessKey string
	// Active false refuses every request signed with the key
	// (KindUnknownKey, cause ErrInactiveKey).
	Active bool
}

// Lookup returns the credential for an access key id. It returns an error
// wrapping ErrUnknownKey when the id is unknown; any other error is treated
// as an internal failure and returned by Verify wrapped.
type Lookup func(ctx context.Context, accessKeyID string) (Credential, error)

// Result is what Verify proved about a request.
type Result struct {
	Scope         Scope
	SignedHeaders []string // lower-case names covered by the signature
	Presigned     bool
	// SecurityToken is X-Amz-Security-Token from the header (header form)
	// or query (presigned), empty when absent. Verify has already had it
	// accepted by Verifier.SessionToken.
	SecurityToken string
	// SigningTime is X-Amz-Date (or the Date header) of the request.
	SigningTime time.Time
	// UnsignedPayload is true when the client signed with UNSIGNED-PAYLOAD:
	// the body is then not covered by the signature, and a server may
	// refuse such requests for APIs whose body carries the operation.
	UnsignedPayload bool
}

// Verifier authenticates SigV4-signed requests. Its zero value with Lookup
// set is ready to use; it must not be copied after first use (it holds the
// derived-key cache).
type Verifier struct {
	// Lookup resolves access key ids. Required: Verify fails with an
	// internal error when it is nil.
	Lookup Lookup
	// Clock tells the time the skew window and presigned expiry are
	// measured from; nil means clock.Real.
	Clock clock.Clock
	// MaxSkew is how far X-Amz-Date may be from the clock's time; 0 means
	// DefaultMaxSkew (15 minutes). A larger value widens the replay window.
	MaxSkew time.Duration
	// CacheSize bounds the derived signing key cache; 0 means 1024
	// entries, negative disables caching.
	CacheSize int
	// Region is the region a credential scope must name: AWS refuses a
	// signature scoped to another region ("Credential should be scoped to
	// a valid region"), and so does Verify (KindBadSignature). Empty
	// accepts every region, which only a verifier that serves every region
	// may do.
	Region string
	// GlobalServices are signing names (iam, sts) whose scope may also name
	// us-east-1, the region AWS signs its global endpoints with, whatever
	// Region is.
	GlobalServices []string
	// SessionToken checks an X-Amz-Security-Token against the access key
	// that signed the request; it returns an error wrapping ErrUnknownToken
	// (or ErrUnknownKey) for a token it did not issue; any other error is
	// an internal failure. nil refuses every request that carries
	// a token (KindUnknownKey, "The security token included in the request
	// is invalid."): only the issuer of temporary credentials can tell a
	// real token from a made-up one, and ignoring it would accept a
	// request its sender meant to be bound to a session.
	SessionToken func(ctx context.Context, accessKeyID, token string) error

	cache keyCache
}

// request is everything Verify extracted from the request before any
// cryptography.
type request struct {
	scope         Scope
	signedHeaders []string
	signedList    string // SignedHeaders verbatim
	signature     string
	amzDate       string
	t             time.Time
	presigned     bool
	expires       time.Duration
	token         string
	hasToken      bool // X-Amz-Security-Token present, even empty
	query         url.Values
}

// globalRegion is the region AWS signs its global endpoints (IAM, the
// global STS endpoint) with.
const globalRegion = "us-east-1"

// checkRegion refuses a scope for another region than the verifier's.
func (v *Verifier) checkRegion(sc Scope) error {
	if v.Region == "" || sc.Region == v.Region {
		return nil
	}
	if sc.Region == globalRegion {
		for _, g := range v.GlobalServices {
			if g == sc.Service {
				return nil
			}
		}
	}
	return newError(KindBadSignature, "Credential should be scoped to a valid region, not '%s'. This server serves region '%s': sign for it (AWS_REGION=%s).",
		echo(sc.Region), v.Region, v.Region)
}

// Verify authenticates r. body is the complete request body, already read
// by the caller (nil for none). It returns the verified scope on success,
// an *Error when the request is not authentic, and any other error when the
// Lookup failed.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (*Result, error) {
	req, err := parseRequest(r)
	if err != nil {
		return nil, err
	}
	if req.amzDate[:8] != req.scope.Date {
		return nil, newError(KindIncomplete,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			req.scope.Date, req.amzDate[:8], req.amzDate)
	}
	if err := v.checkRegion(req.scope); err != nil {
		return nil, err
	}
	if err := v.checkTime(req); err != nil {
		return nil, err
	}
	ph, err := payloadHash(r, req, body)
	if err != nil {
		return nil, err
	}
	if v.Lookup == nil {
		return nil, errors.New("sigv4: Verifier.Lookup is nil")
	}
	cred, err := v.Lookup(ctx, req.scope.AccessKeyID)
	if errors.Is(err, ErrUnknownKey) {
		return nil, &Error{Kind: KindUnknownKey, Msg: msgInvalidToken, cause: ErrUnknownKey}
	}
	if err != nil {
		return nil, fmt.Errorf("sigv4: looking up access key %q: %w", echo(req.scope.AccessKeyID), err)
	}
	if !cred.Active {
		// Same wire message as an unknown key, as AWS does, so a
		// deactivated key cannot be told from a non-existent one.
		return nil, &Error{Kind: KindUnknownKey, Msg: msgInvalidToken, cause: ErrInactiveKey}
	}
	if req.hasToken {
		if v.SessionToken == nil {
			return nil, &Error{Kind: KindUnknownKey, Msg: msgInvalidToken, cause: ErrUnknownToken}
		}
		if err := v.SessionToken(ctx, req.scope.AccessKeyID, req.token); err != nil {
			if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrUnknownToken) {
				return nil, &Error{Kind: KindUnknownKey, Msg: msgInvalidToken, cause: ErrUnknownToken}
			}
			return nil, fmt.Errorf("sigv4: checking the security token of %q: %w", echo(req.scope.AccessKeyID), err)
		}
	}

	canonical, err := canonicalRequest(r, req, ph)
	if err != nil {
		return nil, err
	}
	crHash := sha256.Sum256(canonical)
	sts := make([]byte, 0, 128)
	sts = append(sts, Algorithm+"\n"...)
	sts = append(sts, req.amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, req.scope.Date...)
	sts = append(sts, '/')
	sts = append(sts, req.scope.Region...)
	sts = append(sts, '/')
	sts = append(sts, req.scope.Service...)
	sts = append(sts, "/"+scopeTerminator+"\n"...)
	sts = hex.AppendEncode(sts, crHash[:])

	mac := hmac.New(sha256.New, v.signingKey(cred.SecretAccessKey, req.scope))
	mac.Write(sts)
	var sum [sha256.Size]byte
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], mac.Sum(sum[:0]))
	if !hmac.Equal(want[:], []byte(req.signature)) {
		return nil, newError(KindBadSignature, msgBadSignature)
	}
	return &Result{
		Scope:           req.scope,
		SignedHeaders:   req.signedHeaders,
		Presigned:       req.presigned,
		SecurityToken:   req.token,
		SigningTime:     req.t,
		UnsignedPayload: ph == UnsignedPayload,
	}, nil
}

// parseRequest extracts the authentication data of either form.
func parseRequest(r *http.Request) (*request, error) {
	var query url.Values
	presigned := false
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			// Parameters Go drops would be missing from the canonical
			// query; refuse rather than verify a different request.
			return nil, newError(KindIncomplete, "The query string is malformed: %s.", echo(err.Error()))
		}
		query = q
		for _, k := range [...]string{queryAlgorithm, queryCredential, querySignature, querySignedHeader} {
			if _, ok := q[k]; ok {
				presigned = true
				break
			}
		}
	}
	auth := r.Header.Values("Authorization")
	switch {
	case len(auth) > 0 && presigned:
		return nil, newError(KindIncomplete, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.")
	case len(auth) > 1:
		return nil, newError(KindIncomplete, "Only one Authorization header is allowed.")
	case len(auth) == 1:
		return parseHeaderForm(r, auth[0], query)
	case presigned:
		return parsePresigned(query)
	}
	return nil, newError(KindMissing, msgMissing)
}

func parseHeaderForm(r *http.Request, auth string, query url.Values) (*request, error) {
	a, err := ParseAuthorization(auth)
	if err != nil {
		return nil, err
	}
	req := &request{
		scope:         a.Scope,
		signedHeaders: a.SignedHeaders,
		signature:     a.Signature,
		query:         query,
	}
	if d := r.Header.Values(headerDate); len(d) > 0 {
		if len(d) > 1 {
			return nil, newError(KindIncomplete, "Only one 'X-Amz-Date' header is allowed.")
		}
		if req.t, err = parseAmzDate(d[0]); err != nil {
			return nil, err
		}
		req.amzDate = d[0]
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, newError(KindIncomplete, "Date header %q is not a valid HTTP date.", echo(d))
		}
		req.t = t.UTC()
		req.amzDate = req.t.Format(timeFormat)
	} else {
		return nil, newError(KindIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	hasHost, tokenSigned := false, false
	for _, h := range a.SignedHeaders {
		switch h {
		case "host":
			hasHost = true
		case "x-amz-security-token":
			tokenSigned = true
		}
	}
	if !hasHost {
		return nil, newError(KindIncomplete, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if tok := r.Header.Values(headerToken); len(tok) > 0 {
		// An unsigned token could be swapped by whoever sees the request.
		if !tokenSigned || len(tok) > 1 {
			return nil, newError(KindIncomplete, "'X-Amz-Security-Token' must be a single, signed header.")
		}
		req.token, req.hasToken = tok[0], true
	}
	if tok := query[headerToken]; len(tok) > 0 {
		// A token in the query of a header-signed request is covered by
		// the signature too; it is a token all the same, not noise.
		if req.hasToken || len(tok) > 1 {
			return nil, newError(KindIncomplete, "'X-Amz-Security-Token' must be given once, in the header or the query.")
		}
		req.token, req.hasToken = tok[0], true
	}
	req.signedList = joinNames(a.SignedHeaders)
	return req, nil
}

func parsePresigned(q url.Values) (*request, error) {
	var missing string
	get := func(k string) string {
		v := q[k]
		if len(v) != 1 || v[0] == "" {
			if missing == "" {
				missing = k
			}
			return ""
		}
		return v[0]
	}
	alg, cred, date := get(queryAlgorithm), get(queryCredential), get(headerDate)
	signed, sig := get(querySignedHeader), get(querySignature)
	// X-Amz-Expires is optional: aws-sdk-go-v2's STS presigner (the one
	// EKS-style identity tokens use) leaves it out, and AWS then allows the
	// usual 15 minutes.
	exp := strconv.Itoa(int(DefaultMaxSkew / time.Second))
	if _, present := q[queryExpires]; present {
		exp = get(queryExpires)
	}
	if missing != "" {
		return nil, newError(KindIncomplete, "AWS query-string parameters must include exactly one non-empty '%s'. Re-examine the query-string parameters.", missing)
	}
	if alg != Algorithm {
		return nil, newError(KindIncomplete, "X-Amz-Algorithm only supports '%s'.", Algorithm)
	}
	sc, err := parseCredential(cred)
	if err != nil {
		return nil, err
	}
	t, err := parseAmzDate(date)
	if err != nil {
		return nil, err
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	switch {
	case err != nil && !isDigits(exp):
		return nil, newError(KindIncomplete, "X-Amz-Expires should be a number.")
	case err != nil || secs > int64(MaxPresignExpiry/time.Second):
		return nil, newError(KindExpired, "X-Amz-Expires must be less than a week (in seconds) that is 604800.")
	case secs < 1:
		return nil, newError(KindIncomplete, "X-Amz-Expires must be at least 1.")
	}
	names, err := parseSignedHeaders(signed)
	if err != nil {
		return nil, err
	}
	hasHost := false
	for _, h := range names {
		hasHost = hasHost || h == "host"
	}
	if !hasHost {
		return nil, newError(KindIncomplete, "'Host' must be listed in X-Amz-SignedHeaders.")
	}
	req := &request{
		scope:         sc,
		signedHeaders: names,
		signedList:    signed,
		signature:     sig,
		amzDate:       date,
		t:             t,
		presigned:     true,
		expires:       time.Duration(secs) * time.Second,
		query:         q,
	}
	if tok := q[headerToken]; len(tok) > 0 {
		if len(tok) > 1 {
			return nil, newError(KindIncomplete, "AWS query-string parameters must include at most one 'X-Amz-Security-Token'.")
		}
		req.token, req.hasToken = tok[0], true
	}
	return req, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func joinNames(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	n := len(names) - 1
	for _, s := range names {
		n += len(s)
	}
	b := make([]byte, 0, n)
	for i, s := range names {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, s...)
	}
	return string(b)
}

// checkTime enforces the skew window and, for presigned URLs, expiry.
func (v *Verifier) checkTime(req *request) error {
	now := clock.OrReal(v.Clock).Now().UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if req.t.Sub(now) > skew {
		return newError(KindExpired, "Signature not yet current: %s is still later than %s (%s + %s)",
			req.amzDate, now.Add(skew).Format(timeFormat), now.Format(timeFormat), skewText(skew))
	}
	if req.presigned {
		if now.Sub(req.t) > req.expires {
			return newError(KindExpired, "Request has expired: X-Amz-Date %s plus X-Amz-Expires %d is earlier than %s.",
				req.amzDate, int64(req.expires/time.Second), now.Format(timeFormat))
		}
		return nil
	}
	if now.Sub(req.t) > skew {
		return newError(KindExpired, "Signature expired: %s is now earlier than %s (%s - %s)",
			req.amzDate, now.Add(-skew).Format(timeFormat), now.Format(timeFormat), skewText(skew))
	}
	return nil
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return d.String()
}

// payloadHash returns the hash the client signed: the declared
// X-Amz-Content-Sha256 (header, or query when presigned) after checking it
// against the body, or the body's own hash.
func payloadHash(r *http.Request, req *request, body []byte) (string, error) {
	declared, from := "", ""
	if h := r.Header.Values(headerContentSHA); len(h) > 0 {
		declared, from = h[0], "header"
	} else if req.presigned {
		if q := req.query[headerContentSHA]; len(q) > 0 {
			declared, from = q[0], "query parameter"
		}
	}
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch {
	case from == "" || declared == actual:
		return actual, nil
	case declared == UnsignedPayload:
		return declared, nil
	case len(declared) > 10 && declared[:10] == "STREAMING-":
		return "", newError(KindIncomplete, "Streaming (aws-chunked) payloads are not supported.")
	}
	return "", newError(KindBadSignature, "The provided 'x-amz-content-sha256' %s does not match what was computed.", from)
}

// canonicalRequest builds the SigV4 canonical request exactly as
// aws-sdk-go-v2's signer does.
func canonicalRequest(r *http.Request, req *request, payloadHash string) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')
	path := uriPath(r.URL)
	if req.scope.Service == "s3" {
		// S3 is the one service signed without the second escaping.
		b = append(b, path...)
	} else {
		b = appendEscapedPath(b, path)
	}
	b = append(b, '\n')
	if len(req.query) > 0 {
		skip := ""
		if req.presigned {
			skip = querySignature
		}
		b = appendCanonicalQuery(b, req.query, skip)
	}
	b = append(b, '\n')
	for _, name := range req.signedHeaders {
		b = append(b, name...)
		b = append(b, ':')
		if name == "host" {
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b = appendHeaderValue(b, host)
			b = append(b, '\n')
			continue
		}
		vals := headerValues(r.Header, name)
		if len(vals) == 0 {
			// Clients and net/http keep Content-Length out of Header on
			// the sending side; the SDK signs it from ContentLength.
			if name == "content-length" && r.ContentLength > 0 {
				b = strconv.AppendInt(b, r.ContentLength, 10)
				b = append(b, '\n')
				continue
			}
			return nil, newError(KindIncomplete, "Header %q is listed in SignedHeaders but is not present in the request.", echo(name))
		}
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendHeaderValue(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, req.signedList...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b, nil
}

// headerValues is h[textproto.CanonicalMIMEHeaderKey(name)] without the
// allocation for the usual lower-case names: indexing a map with
// string(bytes) does not copy.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h[textproto.CanonicalMIMEHeaderKey(name)]
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z':
			if upper {
				c -= 'a' - 'A'
			}
		case 'A' <= c && c <= 'Z':
			if !upper {
				c += 'a' - 'A'
			}
		case '0' <= c && c <= '9' || c == '-':
		default:
			return h[textproto.CanonicalMIMEHeaderKey(name)]
		}
		buf[i] = c
		upper = c == '-'
	}
	return h[string(buf[:len(name)])]
}

// signingKey returns the derived key for secret and scope, from the cache
// when possible.
func (v *Verifier) signingKey(secret string, sc Scope) []byte {
	size := v.CacheSize
	if size == 0 {
		size = defaultCacheSize
	}
	if size < 0 {
		return deriveKey(secret, sc)
	}
	return v.cache.get(size, secret, sc)
}
