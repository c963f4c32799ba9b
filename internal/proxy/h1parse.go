package proxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// The HTTP/1.1 parser of the forwarding path (h1serve.go). It reads input
// from untrusted clients and semi-trusted upstreams, so it is deliberately
// stricter than RFC 9112 requires and than net/http: whatever it accepts,
// net/http parses the same way (FuzzParseRequestHead checks that), and
// every ambiguity a request-smuggling attack needs is refused rather than
// resolved:
//   - lines end in CRLF; a bare CR or LF anywhere is refused;
//   - obs-fold (a header line starting with SP or HTAB) is refused;
//   - a field name is a token, with no whitespace before the colon;
//   - field values hold no control characters but HTAB;
//   - Content-Length is one run of digits, sent once;
//   - Transfer-Encoding is exactly "chunked", sent once, never together
//     with Content-Length and never on HTTP/1.0;
//   - an HTTP/1.1 request has exactly one valid Host;
//   - chunk sizes are hex digits only (no whitespace, no sign), chunk data
//     ends in CRLF, trailers follow the field rules.
// Limits: a head of maxHeadBytes, maxHeaderFields fields.

const (
	// maxHeadBytes bounds a request or response head (Envoy: 60 KiB,
	// nginx: 4 x 8 KiB); larger heads are answered 431.
	maxHeadBytes = 64 << 10
	// maxHeaderFields bounds the number of header fields (Envoy's
	// default max_headers_count).
	maxHeaderFields = 100
	// maxChunkLine bounds a chunk-size line with its extensions.
	maxChunkLine = 4 << 10
)

// h1Error is a refused head: the status to answer and why.
type h1Error struct {
	status int
	msg    string
}

func (e *h1Error) Error() string { return e.msg }

func badRequest(msg string) error { return &h1Error{status: 400, msg: msg} }

var (
	errHeadTooLarge = &h1Error{status: 431, msg: "request header fields too large"}
	errBareLF       = badRequest("line not ended by CRLF")
)

// headerField is one header line as received: a validated token name and
// its value without surrounding whitespace.
type headerField struct{ name, value string }

// h1Head is a parsed request or response head. Strings point into the
// head read by readHead (one allocation per head).
type h1Head struct {
	method, target string // request
	status         int    // response
	reason         string // response
	minor          int    // HTTP/1.minor

	fields        []headerField
	contentLength int64 // -1: none
	chunked       bool
	host          string
	hasHost       bool
	connClose     bool     // Connection: close, or HTTP/1.0 without keep-alive
	connTokens    []string // other Connection options: hop-by-hop fields
	expect        bool     // Expect: 100-continue
	upgrade       bool     // Upgrade present
}

func (h *h1Head) reset() {
	fields, tokens := h.fields[:0], h.connTokens[:0]
	*h = h1Head{fields: fields, connTokens: tokens, contentLength: -1}
}

// hasBody reports whether a request head announces a body.
func (h *h1Head) hasBody() bool { return h.chunked || h.contentLength > 0 }

// readHead reads one head (up to and including the empty line) from br,
// using buf as scratch, and returns it as one string. Lines must end in
// CRLF; the head may not exceed maxHeadBytes. io.EOF means the peer
// closed cleanly before sending anything.
func readHead(br *bufio.Reader, buf []byte) (string, []byte, error) {
	buf = buf[:0]
	lineStart := 0
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > maxHeadBytes {
			return "", buf, errHeadTooLarge
		}
		buf = append(buf, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", buf, err
		}
		n := len(buf)
		if n-lineStart < 2 || buf[n-2] != '\r' {
			return "", buf, errBareLF
		}
		if n-lineStart == 2 { // the empty line
			return string(buf), buf, nil
		}
		lineStart = n
	}
}

// nextLine splits s at the first CRLF (readHead guarantees every line has
// one); a CR or LF inside the line is left for the validators to refuse.
func nextLine(s string) (line, rest string) {
	i := strings.Index(s, "\r\n")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+2:]
}

// parseRequestHead parses a request head read by readHead into h.
func parseRequestHead(s string, h *h1Head) error {
	h.reset()
	line, rest := nextLine(s)
	m, after, ok := strings.Cut(line, " ")
	if !ok || !isToken(m) {
		return badRequest("malformed request line")
	}
	target, proto, ok := strings.Cut(after, " ")
	if !ok || target == "" || !isTarget(target) {
		return badRequest("malformed request line")
	}
	minor, err := parseVersion(proto)
	if err != nil {
		return err
	}
	h.method, h.target, h.minor = m, target, minor
	if err := parseFields(rest, h, true); err != nil {
		return err
	}
	if minor == 1 && !h.hasHost {
		return badRequest("missing required Host header")
	}
	if minor == 0 && h.chunked {
		return badRequest("Transfer-Encoding on HTTP/1.0")
	}
	return nil
}

// parseResponseHead parses a response head read by readHead into h.
func parseResponseHead(s string, h *h1Head) error {
	h.reset()
	line, rest := nextLine(s)
	proto, after, ok := strings.Cut(line, " ")
	if !ok {
		return badRequest("malformed status line")
	}
	minor, err := parseVersion(proto)
	if err != nil {
		return err
	}
	code, reason, _ := strings.Cut(after, " ")
	if len(code) != 3 || !isDigits(code) || code[0] == '0' {
		return badRequest("malformed status code")
	}
	for i := 0; i < len(reason); i++ {
		if c := reason[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return badRequest("malformed reason phrase")
		}
	}
	h.minor, h.reason = minor, reason
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return parseFields(rest, h, false)
}

func parseVersion(p string) (int, error) {
	switch p {
	case "HTTP/1.1":
		return 1, nil
	case "HTTP/1.0":
		return 0, nil
	}
	if len(p) == 8 && strings.HasPrefix(p, "HTTP/") && isDigit(p[5]) && p[6] == '.' && isDigit(p[7]) {
		return 0, &h1Error{status: 505, msg: "HTTP version not supported"}
	}
	return 0, badRequest("malformed HTTP version")
}

// parseFields parses the header lines after the start line.
func parseFields(s string, h *h1Head, request bool) error {
	connKeepAlive := false
	sawCL, sawTE := false, false
	for {
		var line string
		line, s = nextLine(s)
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete line folding")
		}
		if len(h.fields) == maxHeaderFields {
			return errHeadTooLarge
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return badRequest("malformed header field")
		}
		value = trimOWS(value)
		if !validFieldValue(value) {
			return badRequest("invalid header field value")
		}
		switch {
		case strings.EqualFold(name, "Content-Length"):
			if sawCL {
				return badRequest("repeated Content-Length")
			}
			sawCL = true
			if value == "" || len(value) > 18 || !isDigits(value) {
				return badRequest("invalid Content-Length")
			}
			var n int64
			for i := 0; i < len(value); i++ {
				n = n*10 + int64(value[i]-'0')
			}
			h.contentLength = n
		case strings.EqualFold(name, "Transfer-Encoding"):
			if sawTE {
				return badRequest("repeated Transfer-Encoding")
			}
			sawTE = true
			if !strings.EqualFold(value, "chunked") {
				return &h1Error{status: 501, msg: "unsupported Transfer-Encoding"}
			}
			h.chunked = true
		case strings.EqualFold(name, "Host"):
			if !request {
				break
			}
			if h.hasHost {
				return badRequest("repeated Host header")
			}
			if !validHost(value) {
				return badRequest("invalid Host header")
			}
			h.host, h.hasHost = value, true
		case strings.EqualFold(name, "Connection"):
			for _, t := range strings.Split(value, ",") {
				t = trimOWS(t)
				switch {
				case t == "":
				case strings.EqualFold(t, "close"):
					h.connClose = true
				case strings.EqualFold(t, "keep-alive"):
					connKeepAlive = true
				default:
					h.connTokens = append(h.connTokens, t)
				}
			}
		case strings.EqualFold(name, "Expect") && request:
			if !strings.EqualFold(value, "100-continue") {
				return &h1Error{status: 417, msg: "unsupported Expect"}
			}
			h.expect = true
		case strings.EqualFold(name, "Upgrade"):
			h.upgrade = true
		}
		h.fields = append(h.fields, headerField{name, value})
	}
	if sawCL && sawTE {
		return badRequest("both Content-Length and Transfer-Encoding")
	}
	if h.minor == 0 && !connKeepAlive {
		h.connClose = true
	}
	return nil
}

// hopByHop reports whether a field is hop-by-hop (RFC 9110 7.6.1, plus
// the legacy ones ReverseProxy drops) or named in Connection.
func (h *h1Head) hopByHop(name string) bool {
	switch len(name) {
	case 2:
		return strings.EqualFold(name, "Te")
	case 7:
		return strings.EqualFold(name, "Trailer") || strings.EqualFold(name, "Upgrade")
	case 10:
		if strings.EqualFold(name, "Connection") || strings.EqualFold(name, "Keep-Alive") {
			return true
		}
	case 16:
		if strings.EqualFold(name, "Proxy-Connection") {
			return true
		}
	case 17:
		if strings.EqualFold(name, "Transfer-Encoding") {
			return true
		}
	case 18:
		if strings.EqualFold(name, "Proxy-Authenticate") {
			return true
		}
	case 19:
		if strings.EqualFold(name, "Proxy-Authorization") {
			return true
		}
	}
	for _, t := range h.connTokens {
		if strings.EqualFold(name, t) {
			return true
		}
	}
	return false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// tchar (RFC 9110 5.6.2).
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenTable[s[i]] {
			return false
		}
	}
	return true
}

// isTarget accepts visible ASCII only (no whitespace, controls or
// non-ASCII bytes, which net/http would also refuse or rewrite).
func isTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validFieldValue refuses control characters but HTAB (a CR, LF or NUL
// in a value is a smuggling attempt); obs-text bytes pass, as in net/http.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// hostTable is the bytes net/http allows in a Host header (httpguts'
// validHostByte): a reg-name, an IP literal and a port.
var hostTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostTable[s[i]] {
			return false
		}
	}
	return true
}

var errChunk = errors.New("malformed chunked encoding")

// chunkSize reads one chunk-size line ("1a;ext=v\r\n") strictly.
func chunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull || err == io.EOF {
			return 0, errChunk
		}
		return 0, err
	}
	if len(line) > maxChunkLine || len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, errChunk
	}
	line = line[:len(line)-2]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i == 15 {
			return 0, errChunk // more than 15 hex digits: too large
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, errChunk
	}
	if i < len(line) {
		// Chunk extensions: ";name[=value]"; ignored, but no controls.
		if line[i] != ';' || !validFieldValue(string(line[i:])) {
			return 0, errChunk
		}
	}
	return n, nil
}

// copyChunked decodes a chunked body from src and writes it to dst,
// re-encoded as chunked when rechunk is set (else as the bare bytes).
// Trailer fields are validated and dropped. It flushes dst whenever src
// has nothing buffered, so streaming bodies are not held back.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, rechunk bool) (int64, error) {
	var total int64
	for {
		n, err := chunkSize(src)
		if err != nil {
			return total, &readError{err}
		}
		if n == 0 {
			break
		}
		if rechunk {
			writeHex(dst, n)
			_, _ = dst.WriteString("\r\n")
		}
		w, err := copyN(dst, src, n)
		total += w
		if err != nil {
			return total, err
		}
		if b, err := src.Peek(2); err != nil || b[0] != '\r' || b[1] != '\n' {
			return total, &readError{errChunk}
		}
		_, _ = src.Discard(2)
		if rechunk {
			_, _ = dst.WriteString("\r\n")
		}
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return total, err
			}
		}
	}
	// Trailer section: fields until the empty line.
	size := 0
	for {
		line, err := src.ReadSlice('\n')
		if err != nil {
			return total, &readError{errChunk}
		}
		size += len(line)
		if size > maxHeadBytes || len(line) < 2 || line[len(line)-2] != '\r' {
			return total, &readError{errChunk}
		}
		if len(line) == 2 {
			break
		}
		name, value, ok := strings.Cut(string(line[:len(line)-2]), ":")
		if !ok || !isToken(name) || !validFieldValue(trimOWS(value)) {
			return total, &readError{errChunk}
		}
	}
	if rechunk {
		_, _ = dst.WriteString("0\r\n\r\n")
	}
	return total, nil
}

func writeHex(w *bufio.Writer, n int64) {
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = "0123456789abcdef"[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	_, _ = w.Write(b[i:])
}

// errShortBody is a body that ended before its announced length.
var errShortBody = errors.New("body shorter than its length")

// copyN copies n bytes from src to dst through src's buffer (one copy),
// flushing dst whenever src has nothing more buffered.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return done, err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					err = errShortBody
				}
				return done, &readError{err}
			}
		}
		k := int64(src.Buffered())
		if k > n-done {
			k = n - done
		}
		b, _ := src.Peek(int(k))
		if _, err := dst.Write(b); err != nil {
			return done, err
		}
		_, _ = src.Discard(int(k))
		done += k
	}
	return done, nil
}

// copyUntilEOF copies a close-delimited body, chunked when rechunk.
func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader, rechunk bool) (int64, error) {
	var total int64
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return total, err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					if rechunk {
						_, _ = dst.WriteString("0\r\n\r\n")
					}
					return total, nil
				}
				return total, &readError{err}
			}
		}
		k := src.Buffered()
		b, _ := src.Peek(k)
		if rechunk {
			writeHex(dst, int64(k))
			_, _ = dst.WriteString("\r\n")
		}
		if _, err := dst.Write(b); err != nil {
			return total, err
		}
		if rechunk {
			_, _ = dst.WriteString("\r\n")
		}
		_, _ = src.Discard(k)
		total += int64(k)
	}
}
