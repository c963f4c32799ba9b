package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// checkDuplicateKeys refuses a document in which any object, at any depth,
// names the same member twice. encoding/json keeps the last of duplicate
// members, so {"Effect":"Deny", …, "Effect":"Allow"} would silently grant;
// AWS refuses such documents as malformed, and so do we. Names are compared
// after unescaping, so "Eff\u0065ct" and "Effect" are the same member.
// doc must already be valid JSON.
func checkDuplicateKeys(doc []byte) error {
	type frame struct {
		object bool
		keys   map[string]struct{}
		name   string // path element of this container, for the message
		index  int    // next array index
		key    string // last member name read (objects)
		expect bool   // objects: the next token is a member name
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			b.WriteString(f.name)
		}
		return b.String()
	}
	// childName is the path element of a value that starts now inside the
	// innermost container.
	childName := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if top.object {
			if len(stack) == 1 {
				return top.key
			}
			return "." + top.key
		}
		n := "[" + strconv.Itoa(top.index) + "]"
		top.index++
		return n
	}
	// valueDone marks the end of a member value in an object.
	valueDone := func() {
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			// io.EOF at the end; anything else cannot happen on valid JSON
			// but must not pass silently.
			if errors.Is(err, io.EOF) {
				return nil
			}
			return perr("policy document is not valid JSON")
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				name := childName()
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expect = false
				}
				f := &frame{object: t == '{', name: name, expect: t == '{'}
				if f.object {
					f.keys = map[string]struct{}{}
				}
				stack = append(stack, f)
			case '}', ']':
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if top := len(stack) - 1; top >= 0 && stack[top].object && stack[top].expect {
				f := stack[top]
				if _, dup := f.keys[t]; dup {
					where := path()
					if where == "" {
						return perr("policy document has the element %q twice; each element may appear only once", t)
					}
					return perr("policy document has the element %q twice in %s; each element may appear only once", t, where)
				}
				f.keys[t] = struct{}{}
				f.key = t
				f.expect = false
				continue
			}
			if len(stack) > 0 && !stack[len(stack)-1].object {
				stack[len(stack)-1].index++
			}
			valueDone()
		default:
			if len(stack) > 0 && !stack[len(stack)-1].object {
				stack[len(stack)-1].index++
			}
			valueDone()
		}
	}
}
