package codec

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Field is one value offered to a Func.
type Field struct {
	// Path identifies the field for key binding and errors: "form:name",
	// "query:name", "multipart:name", "/root/elem" or "/root/elem/@attr".
	Path string
	// Name is the field, element or attribute name.
	Name string
	// Value is the decoded value.
	Value string
	// Opaque marks a value the codec cannot replace; returning changed for
	// it is an error.
	Opaque bool
	// ContentType is a multipart part's Content-Type header ("" when
	// absent or for other codecs), so the Func can look inside JSON, form,
	// XML or multipart content.
	ContentType string
	// File is set for a multipart part with a filename.
	File bool
}

// Func decides the fate of one field: changed false keeps its bytes, else
// out replaces the decoded value (the codec re-encodes it). An error aborts
// the whole rewrite.
type Func func(f Field) (out string, changed bool, err error)

// ErrSyntax is returned (wrapped) for payloads that do not parse.
var ErrSyntax = errors.New("codec: malformed payload")

// ErrUnsupported is returned (wrapped) for payloads in an encoding the
// codec cannot see into, such as a multipart part with a base64 or
// quoted-printable Content-Transfer-Encoding.
var ErrUnsupported = errors.New("codec: unsupported encoding")

var errOpaque = errors.New("codec: cannot rewrite an opaque field")

func call(fn Func, f Field) (string, bool, error) {
	out, changed, err := fn(f)
	if err != nil {
		return "", false, err
	}
	if changed && f.Opaque {
		return "", false, fmt.Errorf("%w: %s", errOpaque, f.Path)
	}
	return out, changed, nil
}

// RewriteForm rewrites an application/x-www-form-urlencoded body (or, with
// prefix "query", a raw query string). Pairs are separated by '&' and by
// ';' (Rack before 3, Python's cgi, Go before 1.17 and many others split
// there too, so "a=1;ssn=..." carries a field "ssn" for them); untouched
// pairs, their separators and their original escaping are kept. It
// returns the number of fields replaced.
func RewriteForm(body []byte, prefix string, fn Func) ([]byte, int, error) {
	var out bytes.Buffer
	n := 0
	rest := string(body)
	for {
		end := strings.IndexAny(rest, "&;")
		pair, sep := rest, ""
		if end >= 0 {
			pair, sep = rest[:end], rest[end:end+1]
		}
		if pair != "" {
			rawK, rawV, _ := strings.Cut(pair, "=")
			k, err := url.QueryUnescape(rawK)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %s key: %v", ErrSyntax, prefix, err)
			}
			v, err := url.QueryUnescape(rawV)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %s value of %q: %v", ErrSyntax, prefix, k, err)
			}
			repl, changed, err := call(fn, Field{Path: prefix + ":" + k, Name: k, Value: v})
			if err != nil {
				return nil, 0, err
			}
			if changed {
				out.WriteString(rawK)
				out.WriteByte('=')
				out.WriteString(url.QueryEscape(repl))
				n++
			} else {
				out.WriteString(pair)
			}
		}
		out.WriteString(sep)
		if end < 0 {
			break
		}
		rest = rest[end+1:]
	}
	if n == 0 {
		return body, 0, nil
	}
	return out.Bytes(), n, nil
}
