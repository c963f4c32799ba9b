package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Format names a token format. The zero value is invalid.
type Format string

const (
	// FormatRSA is the seed-compatible RSA-OAEP-SHA256 format (MGF1-SHA256,
	// empty label), limited by the key size (190 bytes for RSA-2048).
	FormatRSA Format = "rsa-oaep-256"
	// FormatHPKE is RFC 9180 HPKE (base mode, HKDF-SHA256) with the key id
	// and field path bound into info; it has no plaintext size limit.
	FormatHPKE Format = "hpke"
)

// hpkeTag is the version tag that follows the key id in an HPKE marker.
// A future incompatible HPKE layout gets a new tag ("h2"), so old tokens keep
// parsing and opening under their own rules.
const hpkeTag = "h1"

// MaxKeyIDLen bounds a marker key id; it keeps the scanner's look-ahead
// constant per '#'.
const MaxKeyIDLen = 16

// ValidKeyID reports whether id can appear in a marker: 1..MaxKeyIDLen
// characters from [A-Za-z0-9_-]. Anything else could collide with base64 or
// the ':' format separator.
func ValidKeyID(id string) bool {
	if len(id) == 0 || len(id) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return false
		}
	}
	return true
}

func isIDByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

func isB64Byte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '/' || c == '='
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// Prefix returns the opening marker for a key id and format, e.g. "#01#" or
// "#01:h1#".
func Prefix(keyID string, f Format) string {
	if f == FormatHPKE {
		return "#" + keyID + ":" + hpkeTag + "#"
	}
	return "#" + keyID + "#"
}

// Suffix returns the closing marker: the prefix reversed ("#10#", "#1h:10#").
func Suffix(keyID string, f Format) string { return reverse(Prefix(keyID, f)) }

// Token is a parsed token. Payload is the decoded ciphertext: the raw
// RSA-OAEP block for FormatRSA, the HPKE envelope (see HPKEEnvelope) for
// FormatHPKE.
type Token struct {
	Format  Format
	KeyID   string
	Payload []byte
}

// String renders the token in its text form.
func (t Token) String() string {
	return Prefix(t.KeyID, t.Format) + base64.StdEncoding.EncodeToString(t.Payload) + Suffix(t.KeyID, t.Format)
}

// ErrMalformed is returned (wrapped) by Parse for text that is not a token.
var ErrMalformed = errors.New("fle/token: malformed token")

// Parse parses exactly one token and nothing else.
func Parse(s string) (Token, error) {
	sp, ok := matchAt(s, 0)
	if !ok || sp.End != len(s) {
		return Token{}, fmt.Errorf("%w: %.40q", ErrMalformed, s)
	}
	return decode(s, sp)
}

func decode(s string, sp Span) (Token, error) {
	body := s[sp.bodyStart:sp.bodyEnd]
	p, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return Token{}, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	return Token{Format: sp.Format, KeyID: sp.KeyID, Payload: p}, nil
}

// Span locates one token in a text: s[Start:End] is the whole token,
// markers included.
type Span struct {
	Start, End int
	KeyID      string
	Format     Format

	bodyStart, bodyEnd int
}

// Token decodes the span's base64 body. s must be the text the span was
// found in.
func (sp Span) Token(s string) (Token, error) { return decode(s, sp) }

// Scan returns the spans of all well-formed token markers in s, left to
// right, non-overlapping. It never fails: text that only looks like the
// start of a token (a lone "#01#", a token broken by a newline) is skipped.
// The base64 body is checked for its alphabet only; decoding errors surface
// later, per token, so the caller's on-error mode decides what happens.
func Scan(s string) []Span {
	var out []Span
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '#')
		if j < 0 {
			break
		}
		i += j
		if sp, ok := matchAt(s, i); ok {
			out = append(out, sp)
			i = sp.End
			continue
		}
		i++
	}
	return out
}

// matchAt tries to match a token starting at s[i] == '#'. Each '#' is tried
// at most once and the body scan stops at the next '#', so Scan is linear.
func matchAt(s string, i int) (Span, bool) {
	if i >= len(s) || s[i] != '#' {
		return Span{}, false
	}
	p := i + 1
	for p < len(s) && p-i-1 <= MaxKeyIDLen && isIDByte(s[p]) {
		p++
	}
	id := s[i+1 : p]
	if len(id) == 0 || len(id) > MaxKeyIDLen || p >= len(s) {
		return Span{}, false
	}
	f := FormatRSA
	if s[p] == ':' {
		if !strings.HasPrefix(s[p+1:], hpkeTag+"#") {
			return Span{}, false
		}
		f = FormatHPKE
		p += 1 + len(hpkeTag)
	}
	if s[p] != '#' {
		return Span{}, false
	}
	bodyStart := p + 1
	q := bodyStart
	for q < len(s) && isB64Byte(s[q]) {
		q++
	}
	if q == bodyStart || q >= len(s) || s[q] != '#' {
		return Span{}, false
	}
	suf := Suffix(id, f)
	if !strings.HasPrefix(s[q:], suf) {
		return Span{}, false
	}
	return Span{Start: i, End: q + len(suf), KeyID: id, Format: f, bodyStart: bodyStart, bodyEnd: q}, true
}
