package codec

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net/textproto"
	"strings"
)

// RewriteMultipart rewrites the text fields of a multipart/form-data body
// whose boundary is given (from the Content-Type parameter). Each part's
// headers, the preamble, the epilogue and every file part are copied as
// they are; a rewritten text part keeps its headers and gets the new value
// as its body. A body other parsers could split into different parts
// (delimiters after a bare LF, in the preamble, epilogue, headers or a
// part, LF-terminated headers) is refused with ErrSyntax.
func RewriteMultipart(body []byte, boundary string, fn Func) ([]byte, int, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, 0, fmt.Errorf("%w: bad multipart boundary", ErrSyntax)
	}
	delim := []byte("--" + boundary)
	// The first delimiter may start the body; later ones follow CRLF.
	var pos int
	if bytes.HasPrefix(body, delim) {
		pos = 0
	} else if i := bytes.Index(body, append([]byte("\r\n"), delim...)); i >= 0 {
		pos = i + 2
	} else {
		return nil, 0, fmt.Errorf("%w: no multipart delimiter", ErrSyntax)
	}
	// Go's mime/multipart (and other parsers) see a delimiter at the start
	// of any line, after a bare LF too, and accept LF-only bodies. A body
	// whose parts another parser could split differently from ours is
	// refused rather than guessed at: no delimiter may hide in the
	// preamble, and every delimiter must follow CRLF.
	if bytes.Contains(body[:pos], delim) {
		return nil, 0, fmt.Errorf("%w: multipart delimiter in the preamble", ErrSyntax)
	}
	lfDelim := append([]byte("\n"), delim...)
	for i := 0; ; {
		j := bytes.Index(body[i:], lfDelim)
		if j < 0 {
			break
		}
		if i+j == 0 || body[i+j-1] != '\r' {
			return nil, 0, fmt.Errorf("%w: multipart delimiter after a bare LF", ErrSyntax)
		}
		i += j + 1
	}
	next := append([]byte("\r\n"), delim...)
	var out bytes.Buffer
	out.Write(body[:pos])
	n := 0
	for {
		// body[pos:] starts with delim.
		p := pos + len(delim)
		if bytes.HasPrefix(body[p:], []byte("--")) {
			if bytes.Contains(body[p+2:], delim) {
				return nil, 0, fmt.Errorf("%w: multipart delimiter in the epilogue", ErrSyntax)
			}
			out.Write(body[pos:]) // close delimiter and epilogue
			break
		}
		eol := bytes.Index(body[p:], []byte("\r\n"))
		if eol < 0 || strings.TrimLeft(string(body[p:p+eol]), " \t") != "" {
			return nil, 0, fmt.Errorf("%w: bad delimiter line", ErrSyntax)
		}
		hstart := p + eol + 2
		hend := bytes.Index(body[hstart:], []byte("\r\n\r\n"))
		var bstart int
		if bytes.HasPrefix(body[hstart:], []byte("\r\n")) {
			hend, bstart = hstart, hstart+2 // no headers
		} else if hend < 0 {
			return nil, 0, fmt.Errorf("%w: unterminated part headers", ErrSyntax)
		} else {
			hend += hstart
			bstart = hend + 4
		}
		// Headers end at the first empty line for every parser only if
		// they hold no bare LF (Go's textproto ends lines at LF) and no
		// delimiter.
		if bytes.Contains(body[hstart:hend], next) || bareLF(body[hstart:hend]) {
			return nil, 0, fmt.Errorf("%w: malformed part headers", ErrSyntax)
		}
		bend := bytes.Index(body[bstart:], next)
		if bend < 0 {
			return nil, 0, fmt.Errorf("%w: unterminated part", ErrSyntax)
		}
		bend += bstart
		// Go's part reader also ends a part at a delimiter that starts its
		// body (an empty part), so the bytes we would copy as one part's
		// value could be more parts to the origin.
		if bytes.Contains(body[bstart:bend], delim) {
			return nil, 0, fmt.Errorf("%w: multipart delimiter inside a part", ErrSyntax)
		}
		hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(body[hstart:hend:hend], "\r\n\r\n"...)))).ReadMIMEHeader()
		if err != nil && hend > hstart {
			return nil, 0, fmt.Errorf("%w: part headers: %v", ErrSyntax, err)
		}
		f, ok, err := partField(hdr, string(body[bstart:bend]))
		if err != nil {
			return nil, 0, err
		}
		out.Write(body[pos:bstart])
		if ok {
			repl, changed, err := call(fn, f)
			if err != nil {
				return nil, 0, err
			}
			if changed {
				out.WriteString(repl)
				n++
			} else {
				out.Write(body[bstart:bend])
			}
		} else {
			out.Write(body[bstart:bend])
		}
		out.WriteString("\r\n")
		pos = bend + 2
	}
	if n == 0 {
		return body, 0, nil
	}
	return out.Bytes(), n, nil
}

// bareLF reports whether b holds a LF not preceded by CR.
func bareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// partField describes a form-data part; ok is false for parts without a
// Content-Disposition, which Go's and most parsers skip (their content is
// still offered, by the caller, nameless). A Content-Disposition that does
// not parse or names a part twice ("name=x; name=ssn": the first wins in
// some parsers, the last in others) is refused, as is a
// Content-Transfer-Encoding the edge would have to decode (Go's reader
// decodes quoted-printable itself).
func partField(h textproto.MIMEHeader, value string) (Field, bool, error) {
	if len(h.Values("Content-Disposition")) > 1 || len(h.Values("Content-Type")) > 1 {
		return Field{}, false, fmt.Errorf("%w: repeated part header", ErrSyntax)
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "", "7bit", "8bit", "binary":
	default:
		return Field{}, false, fmt.Errorf("%w: part with Content-Transfer-Encoding %q", ErrUnsupported, h.Get("Content-Transfer-Encoding"))
	}
	f := Field{Value: value, ContentType: h.Get("Content-Type")}
	cd := h.Get("Content-Disposition")
	if cd == "" {
		f.Path = "multipart:"
		return f, true, nil
	}
	// mime.ParseMediaType refuses a repeated parameter, so "name" and
	// "filename" are each given at most once (name*= decodes to name).
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return Field{}, false, fmt.Errorf("%w: part Content-Disposition: %v", ErrSyntax, err)
	}
	if names := paramNames(cd); names["name"] && (names["name*"] || names["name*0"] || names["name*0*"]) ||
		names["filename"] && (names["filename*"] || names["filename*0"] || names["filename*0*"]) {
		// Go takes the RFC 2231 form, others the plain one.
		return Field{}, false, fmt.Errorf("%w: part named twice (plain and RFC 2231)", ErrSyntax)
	}
	f.Name = params["name"]
	f.Path = "multipart:" + f.Name
	_, f.File = params["filename"]
	return f, true, nil
}

// paramNames returns the lower-cased parameter names of a header value
// such as a Content-Disposition, skipping quoted strings.
func paramNames(v string) map[string]bool {
	out := map[string]bool{}
	inQuote, esc, start := false, false, -1
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case esc:
			esc = false
		case inQuote && c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == ';':
			start = i + 1
		case c == '=' && start >= 0:
			out[strings.ToLower(strings.TrimSpace(v[start:i]))] = true
			start = -1
		}
	}
	return out
}
