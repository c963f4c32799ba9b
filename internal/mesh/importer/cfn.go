package importer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Options tune how templates and manifests are read. The zero value reads
// them as they are: anything that needs an outside value is an error.
type Options struct {
	// Values answers what the input cannot: for CloudFormation, a
	// Parameter's value (overriding its Default), or what !Ref NAME or
	// !GetAtt NAME.Attr of a resource outside App Mesh (a certificate, a
	// Cloud Map namespace) stands for, keyed "NAME" or "NAME.Attr".
	Values map[string]string
	// Region, AccountID and StackName are AWS::Region, AWS::AccountId and
	// AWS::StackName, and build the ARNs !Ref and !GetAtt X.Arn return.
	// Empty means a template that uses them is refused.
	Region, AccountID, StackName string
	// DefaultMesh is the mesh of Kubernetes resources without
	// spec.meshRef; empty means the input's only Mesh (and an error when
	// it holds none or several).
	DefaultMesh string
}

// cfnTypes maps the CloudFormation type to the kind, its name property
// and its parent's name property.
var cfnTypes = map[string]struct {
	kind               Kind
	nameProp, parentOf string
}{
	"AWS::AppMesh::Mesh":           {KindMesh, "MeshName", ""},
	"AWS::AppMesh::VirtualNode":    {KindVirtualNode, "VirtualNodeName", ""},
	"AWS::AppMesh::VirtualService": {KindVirtualService, "VirtualServiceName", ""},
	"AWS::AppMesh::VirtualRouter":  {KindVirtualRouter, "VirtualRouterName", ""},
	"AWS::AppMesh::Route":          {KindRoute, "RouteName", "VirtualRouterName"},
	"AWS::AppMesh::VirtualGateway": {KindVirtualGateway, "VirtualGatewayName", ""},
	"AWS::AppMesh::GatewayRoute":   {KindGatewayRoute, "GatewayRouteName", "VirtualGatewayName"},
}

// noValue is what !Ref AWS::NoValue resolves to: the member disappears.
type noValueT struct{}

var noValue = noValueT{}

type cfnNames struct{ mesh, parent, name string }

type cfnTemplate struct {
	source    string
	opt       Options
	params    map[string]any
	resources map[string]map[string]any
	names     map[string]*cfnNames
	visiting  map[string]bool
	notes     map[string][]string
}

// ParseCloudFormation reads the AWS::AppMesh::* resources of a
// CloudFormation template (JSON or YAML, short-form tags included).
// Other resources are skipped; a reference to one must be answered by
// opt.Values. source names the input in errors.
func ParseCloudFormation(source string, data []byte, opt Options) ([]Resource, error) {
	docs, err := decodeDocuments(data, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s: a CloudFormation template is one document, found %d", source, len(docs))
	}
	top, ok := docs[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a CloudFormation template (no top-level mapping)", source)
	}
	t := &cfnTemplate{source: source, opt: opt, params: map[string]any{}, resources: map[string]map[string]any{},
		names: map[string]*cfnNames{}, visiting: map[string]bool{}, notes: map[string][]string{}}
	if p, ok := top["Parameters"]; ok {
		pm, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: Parameters is not a mapping", source)
		}
		t.params = pm
	}
	rs, ok := top["Resources"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a CloudFormation template (no Resources mapping)", source)
	}
	var logicals []string
	for id, def := range rs {
		m, ok := def.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: resource %s is not a mapping", source, id)
		}
		t.resources[id] = m
		if typ, _ := m["Type"].(string); strings.HasPrefix(typ, "AWS::AppMesh::") {
			logicals = append(logicals, id)
		}
	}
	sort.Strings(logicals)
	var out []Resource
	for _, id := range logicals {
		r, err := t.resource(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

func (t *cfnTemplate) where(id, prop string) string {
	typ, _ := t.resources[id]["Type"].(string)
	if prop == "" {
		return fmt.Sprintf("%s: resource %s (%s)", t.source, id, typ)
	}
	return fmt.Sprintf("%s: resource %s (%s) property %s", t.source, id, typ, prop)
}

func (t *cfnTemplate) resource(id string) (*Resource, error) {
	def := t.resources[id]
	typ, _ := def["Type"].(string)
	info, ok := cfnTypes[typ]
	if !ok {
		return nil, fmt.Errorf("%s: unknown App Mesh type", t.where(id, ""))
	}
	if _, ok := def["Condition"]; ok {
		return nil, fmt.Errorf("%s: Condition is not supported; remove it or split the template", t.where(id, ""))
	}
	props, _ := def["Properties"].(map[string]any)
	allowed := map[string]bool{"MeshName": true, "MeshOwner": true, "Spec": true, "Tags": true, info.nameProp: true}
	if info.parentOf != "" {
		allowed[info.parentOf] = true
	}
	for k := range props {
		if !allowed[k] {
			return nil, fmt.Errorf("%s: unknown property for this type", t.where(id, k))
		}
	}
	n, err := t.namesOf(id)
	if err != nil {
		return nil, err
	}
	r := &Resource{Kind: info.kind, Mesh: n.mesh, Parent: n.parent, Name: n.name, Source: t.source + ": " + id}
	r.Notes = append(r.Notes, t.notes[id]...)
	if props["MeshOwner"] != nil {
		r.Notes = append(r.Notes, "MeshOwner ignored: Bulwark has no cross-account meshes")
	}
	spec := any(map[string]any{})
	if s, ok := props["Spec"]; ok {
		if spec, err = t.resolve(id, "Spec", s); err != nil {
			return nil, err
		}
		if _, ok := spec.(map[string]any); !ok {
			return nil, fmt.Errorf("%s: Spec is not a mapping", t.where(id, "Spec"))
		}
	} else if info.kind != KindMesh {
		return nil, fmt.Errorf("%s: Spec is required", t.where(id, ""))
	}
	api, err := camel(spec, "spec")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.where(id, "Spec"), err)
	}
	if r.Spec, err = json.Marshal(api); err != nil {
		return nil, fmt.Errorf("%s: %w", t.where(id, "Spec"), err)
	}
	if tags, ok := props["Tags"]; ok {
		if r.Tags, err = t.tags(id, tags); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (t *cfnTemplate) tags(id string, v any) ([]Tag, error) {
	v, err := t.resolve(id, "Tags", v)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: Tags is not a list", t.where(id, "Tags"))
	}
	var out []Tag
	for i, e := range list {
		m, _ := e.(map[string]any)
		k, kok := m["Key"].(string)
		val, vok := scalarString(m["Value"])
		if !kok || !vok {
			return nil, fmt.Errorf("%s: each tag needs a string Key and Value", t.where(id, fmt.Sprintf("Tags[%d]", i)))
		}
		out = append(out, Tag{Key: k, Value: val})
	}
	return out, nil
}

// namesOf resolves a resource's mesh, parent and own name, which other
// resources reach through !GetAtt X.MeshName and friends.
func (t *cfnTemplate) namesOf(id string) (*cfnNames, error) {
	if n, ok := t.names[id]; ok {
		return n, nil
	}
	if t.visiting[id] {
		return nil, fmt.Errorf("%s: its name depends on itself", t.where(id, ""))
	}
	t.visiting[id] = true
	defer delete(t.visiting, id)
	def := t.resources[id]
	typ, _ := def["Type"].(string)
	info := cfnTypes[typ]
	props, _ := def["Properties"].(map[string]any)
	str := func(prop string, required bool) (string, error) {
		v, ok := props[prop]
		if !ok || v == nil {
			if required {
				return "", fmt.Errorf("%s: required", t.where(id, prop))
			}
			return "", nil
		}
		r, err := t.resolve(id, prop, v)
		if err != nil {
			return "", err
		}
		s, ok := scalarString(r)
		if !ok {
			return "", fmt.Errorf("%s: not a string", t.where(id, prop))
		}
		if err := checkName(prop, s); err != nil {
			return "", fmt.Errorf("%s: %w", t.where(id, prop), err)
		}
		return s, nil
	}
	n := &cfnNames{}
	var err error
	if n.name, err = str(info.nameProp, info.kind == KindVirtualService); err != nil {
		return nil, err
	}
	if n.name == "" {
		n.name = id
		t.notes[id] = append(t.notes[id], fmt.Sprintf("no %s: CloudFormation would generate one; using the logical ID %q", info.nameProp, id))
	}
	if info.kind == KindMesh {
		n.mesh = n.name
	} else if n.mesh, err = str("MeshName", true); err != nil {
		return nil, err
	}
	if info.parentOf != "" {
		if n.parent, err = str(info.parentOf, true); err != nil {
			return nil, err
		}
	}
	t.names[id] = n
	return n, nil
}

// arn builds the App Mesh ARN !Ref returns.
func (t *cfnTemplate) arn(id, prop string) (string, error) {
	if t.opt.Region == "" || t.opt.AccountID == "" {
		return "", fmt.Errorf("%s: the ARN of %s needs the region and account id (--region, --account-id)", t.where(id, prop), id)
	}
	n, err := t.namesOf(id)
	if err != nil {
		return "", err
	}
	typ, _ := t.resources[id]["Type"].(string)
	path := "mesh/" + n.mesh
	switch cfnTypes[typ].kind {
	case KindVirtualNode:
		path += "/virtualNode/" + n.name
	case KindVirtualService:
		path += "/virtualService/" + n.name
	case KindVirtualRouter:
		path += "/virtualRouter/" + n.name
	case KindRoute:
		path += "/virtualRouter/" + n.parent + "/route/" + n.name
	case KindVirtualGateway:
		path += "/virtualGateway/" + n.name
	case KindGatewayRoute:
		path += "/virtualGateway/" + n.parent + "/gatewayRoute/" + n.name
	}
	return fmt.Sprintf("arn:%s:appmesh:%s:%s:%s", partition(t.opt.Region), t.opt.Region, t.opt.AccountID, path), nil
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// scalarString renders a resolved scalar as CloudFormation would when a
// string is needed.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
