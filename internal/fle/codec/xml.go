package codec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

type xmlElem struct {
	name     string
	path     string
	textFrom int // offset just after the start tag
	leaf     bool
	hasText  bool
	text     strings.Builder
}

// RewriteXML offers every attribute and the text of every element to fn.
// Element text is offered only for elements whose content is character
// data alone (CDATA included); an element with child elements, comments
// or processing instructions is offered Opaque. Everything not replaced is
// copied byte for byte. Paths are "/a/b" and "/a/b/@attr", using names as
// written (prefix:local).
func RewriteXML(body []byte, fn Func) ([]byte, int, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var (
		out   bytes.Buffer
		last  int
		n     int
		stack []*xmlElem
		root  bool
	)
	replace := func(from, to int, text string) {
		out.Write(body[last:from])
		xml.EscapeText(&out, []byte(text))
		last = to
		n++
	}
	for {
		start := int(d.InputOffset())
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: xml: %v", ErrSyntax, err)
		}
		end := int(d.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if root {
					return nil, 0, fmt.Errorf("%w: xml: more than one root element", ErrSyntax)
				}
				root = true
			}
			if len(stack) > 0 {
				stack[len(stack)-1].leaf = false
			}
			name := qname(t.Name)
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1].path
			}
			e := &xmlElem{name: name, path: parent + "/" + name, textFrom: end, leaf: true}
			stack = append(stack, e)
			spans := attrSpans(body[start:end])
			for _, a := range t.Attr {
				an := qname(a.Name)
				repl, changed, err := call(fn, Field{Path: e.path + "/@" + an, Name: "@" + an, Value: a.Value})
				if err != nil {
					return nil, 0, err
				}
				if !changed {
					continue
				}
				sp, ok := spans[an]
				if !ok || start+sp[0] < last {
					return nil, 0, fmt.Errorf("%w: xml: cannot locate attribute %s", ErrSyntax, an)
				}
				replace(start+sp[0], start+sp[1], repl)
			}
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1].name != qname(t.Name) {
				return nil, 0, fmt.Errorf("%w: xml: mismatched end tag %s", ErrSyntax, qname(t.Name))
			}
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !e.hasText && e.leaf {
				continue // <a/> or <a></a>: nothing to protect
			}
			f := Field{Path: e.path, Name: e.name, Value: e.text.String(), Opaque: !e.leaf}
			if !e.leaf {
				f.Value = ""
			}
			repl, changed, err := call(fn, f)
			if err != nil {
				return nil, 0, err
			}
			if changed {
				replace(e.textFrom, start, repl)
			}
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, 0, fmt.Errorf("%w: xml: text outside the root element", ErrSyntax)
				}
				continue
			}
			e := stack[len(stack)-1]
			e.hasText = true
			e.text.Write(t)
		case xml.Comment, xml.ProcInst, xml.Directive:
			if len(stack) > 0 {
				stack[len(stack)-1].leaf = false
			}
		}
	}
	if len(stack) != 0 || !root {
		return nil, 0, fmt.Errorf("%w: xml: unterminated document", ErrSyntax)
	}
	if n == 0 {
		return body, 0, nil
	}
	out.Write(body[last:])
	return out.Bytes(), n, nil
}

func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// attrSpans finds the value span (inside the quotes) of each attribute in a
// raw start tag. The decoder already validated the tag, so this only has
// to follow the grammar, not police it.
func attrSpans(tag []byte) map[string][2]int {
	out := map[string][2]int{}
	i := 1
	for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++
	}
	for i < len(tag) {
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		ns := i
		for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '=' && tag[i] != '>' && tag[i] != '/' {
			i++
		}
		name := string(tag[ns:i])
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			break
		}
		i++
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			break
		}
		q := tag[i]
		vs := i + 1
		ve := bytes.IndexByte(tag[vs:], q)
		if ve < 0 {
			break
		}
		out[name] = [2]int{vs, vs + ve}
		i = vs + ve + 1
	}
	return out
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
