package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits of the YAML walk: input is untrusted (a template from anywhere),
// and aliases can make a small document expand enormously.
const (
	maxYAMLNodes = 1 << 20
	maxYAMLDepth = 128
)

var errTooBig = errors.New("document too large or too deeply nested (aliases included)")

// walker turns yaml.v3 nodes into plain Go values (map[string]any, []any,
// string, int64, float64, bool, nil). With cfn set, CloudFormation's
// short-form tags become their long form (!Ref X → {"Ref": "X"},
// !GetAtt A.B → {"Fn::GetAtt": ["A", "B"]}, !Sub … → {"Fn::Sub": …});
// without it any local tag is refused.
type walker struct {
	cfn   bool
	nodes int
}

func (w *walker) value(n *yaml.Node, depth int) (any, error) {
	w.nodes++
	if w.nodes > maxYAMLNodes || depth > maxYAMLDepth {
		return nil, errTooBig
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return w.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: alias to nothing", n.Line)
		}
		return w.value(n.Alias, depth+1)
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		return w.intrinsic(n, depth)
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a plain string", k.Line)
			}
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported; write the members out", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := w.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := w.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: integer %q out of range", n.Line, n.Value)
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("line %d: number %q is not finite", n.Line, n.Value)
		}
		return f, nil
	}
	// Strings, and timestamps and binary, which App Mesh specs only hold
	// as strings anyway.
	return n.Value, nil
}

// intrinsic is a node with a local tag: only CloudFormation's short
// forms are known.
func (w *walker) intrinsic(n *yaml.Node, depth int) (any, error) {
	if !w.cfn {
		return nil, fmt.Errorf("line %d: unknown YAML tag %s", n.Line, n.Tag)
	}
	name := strings.TrimPrefix(n.Tag, "!")
	if name == "" || strings.ContainsAny(name, ":!") {
		return nil, fmt.Errorf("line %d: unknown YAML tag %s", n.Line, n.Tag)
	}
	inner := *n
	inner.Tag = ""
	if inner.Kind == yaml.ScalarNode && inner.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		inner.Tag = "!!str"
	}
	v, err := w.value(&inner, depth+1)
	if err != nil {
		return nil, err
	}
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			logical, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q needs the form LogicalId.Attribute", n.Line, s)
			}
			v = []any{logical, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// decodeDocuments parses every document of a (multi-document) YAML or
// JSON stream into plain values.
func decodeDocuments(data []byte, cfn bool) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	w := &walker{cfn: cfn}
	var docs []any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		v, err := w.value(&n, 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}
