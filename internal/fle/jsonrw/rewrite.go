package jsonrw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Kind is the JSON type of a scalar value.
type Kind int

// The scalar kinds Rewrite hands to callbacks. null is never selected.
const (
	String Kind = iota + 1
	Number
	Bool
)

// Value is one scalar the rewriter offers to a callback.
type Value struct {
	Path Path
	Kind Kind
	// Text is the decoded string for String values and the literal as
	// written (e.g. 1.50e3, true) for numbers and booleans.
	Text string
}

// Options configures Rewrite. Nil callbacks and an empty selector list make
// Rewrite a validating copy.
type Options struct {
	Selectors []Selector
	// Field is called for each scalar selected by Selectors[sel] (the first
	// matching selector wins) and returns the replacement, which Rewrite
	// writes as a JSON string.
	Field func(sel int, v Value) (string, error)
	// Strings is called for every string value no selector matched; ok
	// false leaves the value byte-for-byte as it was, otherwise it is
	// replaced by out (written as a JSON string). This is where detectors run.
	Strings func(v Value) (out string, ok bool, err error)
	// MaxDepth bounds nesting; 0 means 512. Deeper documents are an error,
	// not a stack overflow.
	MaxDepth int
}

// SyntaxError reports malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error implements the error interface.
func (e *SyntaxError) Error() string { return fmt.Sprintf("jsonrw: offset %d: %s", e.Offset, e.Msg) }

// ErrTooDeep is returned (wrapped in a SyntaxError message) when nesting
// exceeds Options.MaxDepth.
var ErrTooDeep = errors.New("jsonrw: nesting too deep")

type rewriter struct {
	src     []byte
	pos     int
	last    int // src[last:pos] not yet copied
	out     bytes.Buffer
	opt     *Options
	path    Path
	depth   int
	max     int
	changed int
}

// Rewrite validates src as one JSON document and returns it with selected
// values replaced, together with the number of values replaced. On any
// error (syntax, depth, callback) it returns nil output.
func Rewrite(src []byte, opt Options) ([]byte, int, error) {
	r := &rewriter{src: src, opt: &opt, max: opt.MaxDepth}
	if r.max <= 0 {
		r.max = 512
	}
	r.out.Grow(len(src) + len(src)/2)
	r.ws()
	if err := r.value(-1); err != nil {
		return nil, 0, err
	}
	r.ws()
	if r.pos != len(src) {
		return nil, 0, r.errf("unexpected data after the document")
	}
	if r.changed == 0 {
		return src, 0, nil
	}
	r.out.Write(src[r.last:])
	return r.out.Bytes(), r.changed, nil
}

func (r *rewriter) errf(format string, a ...any) error {
	return &SyntaxError{Offset: r.pos, Msg: fmt.Sprintf(format, a...)}
}

func (r *rewriter) ws() {
	for r.pos < len(r.src) {
		switch r.src[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// selected returns the index of the first selector matching the current
// path, or -1.
func (r *rewriter) selected() int {
	for i, s := range r.opt.Selectors {
		if s.Match(r.path) {
			return i
		}
	}
	return -1
}

// value parses one value at r.pos. inherited is the selector that matched
// an enclosing container, or -1.
func (r *rewriter) value(inherited int) error {
	if r.pos >= len(r.src) {
		return r.errf("unexpected end of input")
	}
	sel := inherited
	if sel < 0 {
		sel = r.selected()
	}
	start := r.pos
	switch c := r.src[r.pos]; {
	case c == '{':
		return r.object(sel)
	case c == '[':
		return r.array(sel)
	case c == '"':
		raw, err := r.str()
		if err != nil {
			return err
		}
		return r.scalar(sel, String, start, raw)
	case c == 't':
		return r.lit("true", sel, Bool, start)
	case c == 'f':
		return r.lit("false", sel, Bool, start)
	case c == 'n':
		return r.lit("null", -1, 0, start)
	case c == '-' || c >= '0' && c <= '9':
		if err := r.number(); err != nil {
			return err
		}
		return r.scalar(sel, Number, start, r.src[start:r.pos])
	default:
		return r.errf("unexpected character %q", c)
	}
}

func (r *rewriter) lit(word string, sel int, k Kind, start int) error {
	if !bytes.HasPrefix(r.src[r.pos:], []byte(word)) {
		return r.errf("invalid literal")
	}
	r.pos += len(word)
	if k == 0 {
		return nil
	}
	return r.scalar(sel, k, start, r.src[start:r.pos])
}

func (r *rewriter) scalar(sel int, k Kind, start int, raw []byte) error {
	var repl string
	switch {
	case sel >= 0 && r.opt.Field != nil:
		v := Value{Path: r.path, Kind: k, Text: decodeScalar(k, raw)}
		out, err := r.opt.Field(sel, v)
		if err != nil {
			return err
		}
		repl = out
	case sel < 0 && k == String && r.opt.Strings != nil:
		v := Value{Path: r.path, Kind: k, Text: decodeScalar(k, raw)}
		out, ok, err := r.opt.Strings(v)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		repl = out
	default:
		return nil
	}
	r.out.Write(r.src[r.last:start])
	r.out.Write(AppendString(nil, repl))
	r.last = r.pos
	r.changed++
	return nil
}

func (r *rewriter) push() error {
	r.depth++
	if r.depth > r.max {
		return &SyntaxError{Offset: r.pos, Msg: ErrTooDeep.Error()}
	}
	return nil
}

func (r *rewriter) object(sel int) error {
	if err := r.push(); err != nil {
		return err
	}
	r.pos++ // {
	r.ws()
	if r.pos < len(r.src) && r.src[r.pos] == '}' {
		r.pos++
		r.depth--
		return nil
	}
	for {
		r.ws()
		if r.pos >= len(r.src) || r.src[r.pos] != '"' {
			return r.errf("expected object key")
		}
		raw, err := r.str()
		if err != nil {
			return err
		}
		r.ws()
		if r.pos >= len(r.src) || r.src[r.pos] != ':' {
			return r.errf("expected ':'")
		}
		r.pos++
		r.ws()
		r.path = append(r.path, Elem{Name: decodeScalar(String, raw)})
		if err := r.value(sel); err != nil {
			return err
		}
		r.path = r.path[:len(r.path)-1]
		r.ws()
		if r.pos >= len(r.src) {
			return r.errf("unterminated object")
		}
		switch r.src[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			r.depth--
			return nil
		default:
			return r.errf("expected ',' or '}'")
		}
	}
}

func (r *rewriter) array(sel int) error {
	if err := r.push(); err != nil {
		return err
	}
	r.pos++ // [
	r.ws()
	if r.pos < len(r.src) && r.src[r.pos] == ']' {
		r.pos++
		r.depth--
		return nil
	}
	for i := 0; ; i++ {
		r.ws()
		r.path = append(r.path, Elem{Index: i, IsIndex: true})
		if err := r.value(sel); err != nil {
			return err
		}
		r.path = r.path[:len(r.path)-1]
		r.ws()
		if r.pos >= len(r.src) {
			return r.errf("unterminated array")
		}
		switch r.src[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			r.depth--
			return nil
		default:
			return r.errf("expected ',' or ']'")
		}
	}
}

// str scans a string starting at the opening quote and returns its raw
// bytes, quotes included, after validating escapes and control bytes.
func (r *rewriter) str() ([]byte, error) {
	start := r.pos
	r.pos++
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		switch {
		case c == '"':
			r.pos++
			return r.src[start:r.pos], nil
		case c < 0x20:
			return nil, r.errf("control character in string")
		case c == '\\':
			if r.pos+1 >= len(r.src) {
				return nil, r.errf("unterminated escape")
			}
			switch r.src[r.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.pos += 2
			case 'u':
				if r.pos+6 > len(r.src) || !isHex4(r.src[r.pos+2:r.pos+6]) {
					return nil, r.errf("bad \\u escape")
				}
				r.pos += 6
			default:
				return nil, r.errf("bad escape")
			}
		default:
			r.pos++
		}
	}
	return nil, r.errf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (r *rewriter) digits() int {
	n := 0
	for r.pos < len(r.src) && r.src[r.pos] >= '0' && r.src[r.pos] <= '9' {
		r.pos++
		n++
	}
	return n
}

func (r *rewriter) number() error {
	if r.src[r.pos] == '-' {
		r.pos++
	}
	if r.pos < len(r.src) && r.src[r.pos] == '0' {
		r.pos++
	} else if r.digits() == 0 {
		return r.errf("bad number")
	}
	if r.pos < len(r.src) && r.src[r.pos] == '.' {
		r.pos++
		if r.digits() == 0 {
			return r.errf("bad fraction")
		}
	}
	if r.pos < len(r.src) && (r.src[r.pos] == 'e' || r.src[r.pos] == 'E') {
		r.pos++
		if r.pos < len(r.src) && (r.src[r.pos] == '+' || r.src[r.pos] == '-') {
			r.pos++
		}
		if r.digits() == 0 {
			return r.errf("bad exponent")
		}
	}
	return nil
}

// decodeScalar returns the text of a validated scalar: the unescaped
// content of a string, the literal otherwise.
func decodeScalar(k Kind, raw []byte) string {
	if k != String {
		return string(raw)
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // validated by str; invalid UTF-8 becomes U+FFFD
	return s
}

// AppendString appends s as a JSON string, escaping only what JSON
// requires (quote, backslash, control characters) so that the text of
// non-ASCII values is kept as is; invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
