package importer

import (
	"fmt"
	"sort"
	"strings"
)

// resolve replaces every intrinsic function in v with its value. prop is
// the property path so far, for errors that say exactly where.
func (t *cfnTemplate) resolve(id, prop string, v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if fn == "Ref" || strings.HasPrefix(fn, "Fn::") || fn == "Condition" {
					return t.call(id, prop, fn, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r, err := t.resolve(id, prop+"."+k, x[k])
			if err != nil {
				return nil, err
			}
			if r != noValue {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			r, err := t.resolve(id, fmt.Sprintf("%s[%d]", prop, i), e)
			if err != nil {
				return nil, err
			}
			if r != noValue {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (t *cfnTemplate) call(id, prop, fn string, arg any) (any, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s: %s", t.where(id, prop), fn, fmt.Sprintf(format, a...))
	}
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, bad("the argument must be a name")
		}
		return t.ref(id, prop, name)
	case "Fn::GetAtt":
		list, ok := arg.([]any)
		if !ok || len(list) != 2 {
			return nil, bad("the argument must be [LogicalId, Attribute]")
		}
		logical, ok1 := list[0].(string)
		attrV, err := t.resolve(id, prop, list[1])
		if err != nil {
			return nil, err
		}
		attr, ok2 := attrV.(string)
		if !ok1 || !ok2 {
			return nil, bad("the argument must be [LogicalId, Attribute]")
		}
		return t.getAtt(id, prop, logical, attr)
	case "Fn::Sub":
		return t.sub(id, prop, arg)
	case "Fn::Join":
		list, ok := arg.([]any)
		if !ok || len(list) != 2 {
			return nil, bad("the argument must be [delimiter, [values]]")
		}
		delim, ok := list[0].(string)
		if !ok {
			return nil, bad("the delimiter must be a string")
		}
		vals, err := t.resolve(id, prop, list[1])
		if err != nil {
			return nil, err
		}
		items, ok := vals.([]any)
		if !ok {
			return nil, bad("the values must be a list")
		}
		parts := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := scalarString(it)
			if !ok {
				return nil, bad("every value must be a string")
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, delim), nil
	case "Fn::Select":
		list, ok := arg.([]any)
		if !ok || len(list) != 2 {
			return nil, bad("the argument must be [index, [values]]")
		}
		idxV, err := t.resolve(id, prop, list[0])
		if err != nil {
			return nil, err
		}
		var idx int64
		switch n := idxV.(type) {
		case int64:
			idx = n
		case string:
			if _, err := fmt.Sscan(n, &idx); err != nil {
				return nil, bad("the index must be a number")
			}
		default:
			return nil, bad("the index must be a number")
		}
		vals, err := t.resolve(id, prop, list[1])
		if err != nil {
			return nil, err
		}
		items, ok := vals.([]any)
		if !ok || idx < 0 || idx >= int64(len(items)) {
			return nil, bad("index %d out of range", idx)
		}
		return items[idx], nil
	}
	return nil, bad("not supported by the importer (supported: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select); replace it with its value")
}

func (t *cfnTemplate) ref(id, prop, name string) (any, error) {
	switch name {
	case "AWS::NoValue":
		return noValue, nil
	case "AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::Partition":
		v := map[string]string{"AWS::Region": t.opt.Region, "AWS::AccountId": t.opt.AccountID,
			"AWS::StackName": t.opt.StackName, "AWS::Partition": partition(t.opt.Region)}[name]
		if v == "" || (name == "AWS::Partition" && t.opt.Region == "") {
			return nil, fmt.Errorf("%s: Ref %s: unknown here; pass --%s", t.where(id, prop), name,
				map[string]string{"AWS::Region": "region", "AWS::AccountId": "account-id", "AWS::StackName": "stack-name", "AWS::Partition": "region"}[name])
		}
		return v, nil
	}
	if v, ok := t.opt.Values[name]; ok {
		return v, nil
	}
	if p, ok := t.params[name]; ok {
		pm, _ := p.(map[string]any)
		if d, ok := pm["Default"]; ok {
			if s, ok := scalarString(d); ok {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%s: Ref %s: the parameter has no Default; pass --parameter %s=VALUE", t.where(id, prop), name, name)
	}
	if def, ok := t.resources[name]; ok {
		if typ, _ := def["Type"].(string); strings.HasPrefix(typ, "AWS::AppMesh::") {
			if _, known := cfnTypes[typ]; known {
				return t.arn(name, prop)
			}
		}
		return nil, fmt.Errorf("%s: Ref %s: a resource outside App Mesh; pass --parameter %s=VALUE with what it stands for", t.where(id, prop), name, name)
	}
	return nil, fmt.Errorf("%s: Ref %s: no such parameter or resource in the template", t.where(id, prop), name)
}

func (t *cfnTemplate) getAtt(id, prop, logical, attr string) (any, error) {
	if v, ok := t.opt.Values[logical+"."+attr]; ok {
		return v, nil
	}
	def, ok := t.resources[logical]
	if !ok {
		return nil, fmt.Errorf("%s: GetAtt %s.%s: no such resource in the template", t.where(id, prop), logical, attr)
	}
	typ, _ := def["Type"].(string)
	info, isMesh := cfnTypes[typ]
	if !isMesh {
		return nil, fmt.Errorf("%s: GetAtt %s.%s: a resource outside App Mesh; pass --parameter %s.%s=VALUE", t.where(id, prop), logical, attr, logical, attr)
	}
	if attr == "Arn" {
		return t.arn(logical, prop)
	}
	n, err := t.namesOf(logical)
	if err != nil {
		return nil, err
	}
	switch {
	case attr == "MeshName":
		return n.mesh, nil
	case attr == info.nameProp:
		return n.name, nil
	case info.parentOf != "" && attr == info.parentOf:
		return n.parent, nil
	case attr == "MeshOwner" || attr == "ResourceOwner":
		if t.opt.AccountID == "" {
			return nil, fmt.Errorf("%s: GetAtt %s.%s needs the account id (--account-id)", t.where(id, prop), logical, attr)
		}
		return t.opt.AccountID, nil
	}
	return nil, fmt.Errorf("%s: GetAtt %s.%s: no such attribute, or one only known once AWS has created the resource", t.where(id, prop), logical, attr)
}

// sub implements Fn::Sub: "${Name}", "${Logical.Attr}", "${!Literal}",
// with an optional map of variables.
func (t *cfnTemplate) sub(id, prop string, arg any) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch x := arg.(type) {
	case string:
		tmpl = x
	case []any:
		if len(x) != 2 {
			return nil, fmt.Errorf("%s: Fn::Sub: the argument must be a string or [string, {variables}]", t.where(id, prop))
		}
		s, ok1 := x[0].(string)
		m, ok2 := x[1].(map[string]any)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: Fn::Sub: the argument must be a string or [string, {variables}]", t.where(id, prop))
		}
		tmpl = s
		for k, v := range m {
			r, err := t.resolve(id, prop, v)
			if err != nil {
				return nil, err
			}
			vars[k] = r
		}
	default:
		return nil, fmt.Errorf("%s: Fn::Sub: the argument must be a string or [string, {variables}]", t.where(id, prop))
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%s: Fn::Sub: unterminated ${ in %q", t.where(id, prop), tmpl)
		}
		name := tmpl[i+2 : i+j]
		tmpl = tmpl[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if logical, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			v, err = t.getAtt(id, prop, logical, attr)
		} else {
			v, err = t.ref(id, prop, name)
		}
		if err != nil {
			return nil, err
		}
		s, ok := scalarString(v)
		if !ok {
			return nil, fmt.Errorf("%s: Fn::Sub: ${%s} is not a string", t.where(id, prop), name)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
