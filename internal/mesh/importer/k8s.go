package importer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// File is one input: its name (for errors) and its bytes.
type File struct {
	Name string
	Data []byte
}

// APIVersion is the App Mesh controller's custom resource group/version
// the importer reads.
const APIVersion = "appmesh.k8s.aws/v1beta2"

// k8sObject is one appmesh.k8s.aws custom resource.
type k8sObject struct {
	kind, name, namespace, source string
	spec                          map[string]any
}

// awsName is the App Mesh name the controller gives the object: spec.awsName,
// else its own name for a mesh, "<name>.<namespace>" for a virtual
// service (a DNS-like name) and "<name>_<namespace>" for the rest
// (webhooks/appmesh/*_mutator.go, defaultingAWSName).
func (o *k8sObject) awsName() string {
	if s, ok := o.spec["awsName"].(string); ok && s != "" {
		return s
	}
	return defaultAWSName(o.kind, o.name, o.namespace)
}

func defaultAWSName(kind, name, namespace string) string {
	switch kind {
	case "Mesh":
		return name
	case "VirtualService":
		return name + "." + namespace
	}
	return name + "_" + namespace
}

type k8sSet struct {
	opt     Options
	objects []*k8sObject
	byKey   map[string]*k8sObject // kind/namespace/name
}

// ParseKubernetes reads the App Mesh controller's custom resources
// (appmesh.k8s.aws/v1beta2: Mesh, VirtualNode, VirtualService,
// VirtualRouter, VirtualGateway, GatewayRoute) from multi-document YAML
// or JSON files, including kind: List. Other objects (Deployments,
// Services, …) are skipped. References resolve across all files.
func ParseKubernetes(files []File, opt Options) ([]Resource, error) {
	s := &k8sSet{opt: opt, byKey: map[string]*k8sObject{}}
	for _, f := range files {
		docs, err := decodeDocuments(f.Data, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		for i, d := range docs {
			if err := s.add(fmt.Sprintf("%s#%d", f.Name, i+1), d, 0); err != nil {
				return nil, err
			}
		}
	}
	var out []Resource
	for _, o := range s.objects {
		rs, err := s.convert(o)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func (s *k8sSet) add(source string, d any, depth int) error {
	m, ok := d.(map[string]any)
	if !ok {
		return nil // empty documents, comments only
	}
	api, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if kind == "List" && depth == 0 {
		items, _ := m["items"].([]any)
		for i, it := range items {
			if err := s.add(fmt.Sprintf("%s items[%d]", source, i), it, 1); err != nil {
				return err
			}
		}
		return nil
	}
	group, _, _ := strings.Cut(api, "/")
	if group != "appmesh.k8s.aws" {
		return nil
	}
	if api != APIVersion {
		return fmt.Errorf("%s: %s is not supported; the importer reads %s (upgrade the controller's resources first)", source, api, APIVersion)
	}
	if kind == "BackendGroup" {
		return nil // a controller-side grouping with no App Mesh resource
	}
	switch kind {
	case "Mesh", "VirtualNode", "VirtualService", "VirtualRouter", "VirtualGateway", "GatewayRoute":
	default:
		return fmt.Errorf("%s: unknown %s kind %q", source, APIVersion, kind)
	}
	md, _ := m["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	if name == "" {
		return fmt.Errorf("%s: %s without metadata.name", source, kind)
	}
	if kind == "Mesh" {
		ns = "" // cluster-scoped
	} else if ns == "" {
		ns = "default"
	}
	spec, _ := m["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	o := &k8sObject{kind: kind, name: name, namespace: ns, spec: spec, source: fmt.Sprintf("%s: %s %s", source, kind, nsName(ns, name))}
	key := kind + "/" + ns + "/" + name
	if prev, dup := s.byKey[key]; dup {
		return fmt.Errorf("%s: defined twice (also %s)", o.source, prev.source)
	}
	s.byKey[key] = o
	s.objects = append(s.objects, o)
	return nil
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// meshOf is the App Mesh name of an object's mesh: spec.meshRef (the
// controller's webhook fills it in), else the only Mesh of the input,
// else Options.DefaultMesh.
func (s *k8sSet) meshOf(o *k8sObject) (string, error) {
	if ref, ok := o.spec["meshRef"].(map[string]any); ok {
		name, _ := ref["name"].(string)
		if name == "" {
			return "", fmt.Errorf("%s: spec.meshRef without a name", o.source)
		}
		if m, ok := s.byKey["Mesh//"+name]; ok {
			return m.awsName(), nil
		}
		return name, nil
	}
	var meshes []*k8sObject
	for _, m := range s.objects {
		if m.kind == "Mesh" {
			meshes = append(meshes, m)
		}
	}
	if s.opt.DefaultMesh != "" {
		return s.opt.DefaultMesh, nil
	}
	if len(meshes) == 1 {
		return meshes[0].awsName(), nil
	}
	return "", fmt.Errorf("%s: no spec.meshRef and the input holds %d meshes; pass --mesh NAME (the controller picks the mesh by namespace labels, which the importer cannot see)", o.source, len(meshes))
}

// ref resolves a virtualNodeRef/virtualServiceRef/... (namespace defaults
// to the referring object's) or an ARN to the App Mesh name.
func (s *k8sSet) ref(o *k8sObject, mesh, kind string, refV, arnV any, path string, notes *[]string) (string, error) {
	if arn, ok := arnV.(string); ok && arn != "" {
		return nameFromARN(arn, mesh, kind, o.source+": "+path)
	}
	ref, ok := refV.(map[string]any)
	if !ok {
		return "", fmt.Errorf("%s: %s: needs a %sRef or %sARN", o.source, path, lowerFirst(kind), lowerFirst(kind))
	}
	name, _ := ref["name"].(string)
	if name == "" {
		return "", fmt.Errorf("%s: %s: %sRef without a name", o.source, path, lowerFirst(kind))
	}
	ns, _ := ref["namespace"].(string)
	if ns == "" {
		ns = o.namespace
	}
	if t, ok := s.byKey[kind+"/"+ns+"/"+name]; ok {
		return t.awsName(), nil
	}
	n := defaultAWSName(kind, name, ns)
	*notes = append(*notes, fmt.Sprintf("%s: %s %s is not in the input; assuming its App Mesh name is %q", path, kind, nsName(ns, name), n))
	return n, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// nameFromARN takes the resource name out of an App Mesh ARN, refusing
// one of another kind or mesh.
func nameFromARN(arn, mesh, kind, where string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "appmesh" {
		return "", fmt.Errorf("%s: %q is not an App Mesh ARN", where, arn)
	}
	seg := strings.Split(parts[5], "/")
	if len(seg) != 4 || seg[0] != "mesh" || seg[2] != lowerFirst(kind) || seg[3] == "" {
		return "", fmt.Errorf("%s: %q is not the ARN of a %s", where, arn, kind)
	}
	if seg[1] != mesh {
		return "", fmt.Errorf("%s: %q is in mesh %q, not %q; references across meshes are not supported", where, arn, seg[1], mesh)
	}
	return seg[3], nil
}

// dropped removes controller-only fields, noting the ones that had a
// meaning in Kubernetes.
func dropped(spec map[string]any, notes *[]string, silent []string, noted map[string]string) {
	for _, k := range silent {
		delete(spec, k)
	}
	keys := make([]string, 0, len(noted))
	for k := range noted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := spec[k]; ok {
			*notes = append(*notes, fmt.Sprintf("spec.%s ignored: %s", k, noted[k]))
			delete(spec, k)
		}
	}
}

// convert turns one custom resource into App Mesh resources (a
// VirtualRouter into the router and one Route per spec.routes entry).
func (s *k8sSet) convert(o *k8sObject) ([]Resource, error) {
	spec := deepCopy(o.spec).(map[string]any)
	var notes []string
	r := Resource{Kind: Kind(o.kind), Name: o.awsName(), Source: o.source}
	if o.kind == "Mesh" {
		r.Mesh = r.Name
		dropped(spec, &notes, []string{"awsName"}, map[string]string{
			"namespaceSelector": "namespaces have no App Mesh counterpart",
			"meshOwner":         "Bulwark has no cross-account meshes"})
		if sd, ok := spec["meshServiceDiscovery"]; ok {
			spec["serviceDiscovery"] = sd
			delete(spec, "meshServiceDiscovery")
		}
	} else {
		mesh, err := s.meshOf(o)
		if err != nil {
			return nil, err
		}
		r.Mesh = mesh
	}
	var extra []Resource
	var err error
	switch o.kind {
	case "VirtualNode":
		dropped(spec, &notes, []string{"awsName", "meshRef"}, map[string]string{
			"podSelector":   "pods join the mesh by their proxy's configuration, see docs/migrate-from-app-mesh.md",
			"backendGroups": "list the virtual services in spec.backends instead"})
		err = s.nodeBackends(o, r.Mesh, spec, &notes)
	case "VirtualService":
		dropped(spec, &notes, []string{"awsName", "meshRef"}, nil)
		err = s.serviceProvider(o, r.Mesh, spec, &notes)
	case "VirtualRouter":
		dropped(spec, &notes, []string{"awsName", "meshRef"}, nil)
		extra, err = s.routes(o, r.Mesh, r.Name, spec, &notes)
		delete(spec, "routes")
	case "VirtualGateway":
		dropped(spec, &notes, []string{"awsName", "meshRef"}, map[string]string{
			"namespaceSelector":    "namespaces have no App Mesh counterpart",
			"podSelector":          "pods join the mesh by their proxy's configuration, see docs/migrate-from-app-mesh.md",
			"gatewayRouteSelector": "gateway routes name their gateway (spec.virtualGatewayRef)"})
	case "GatewayRoute":
		r.Parent, err = s.gatewayOf(o, r.Mesh, &notes)
		if err == nil {
			dropped(spec, &notes, []string{"awsName", "meshRef", "virtualGatewayRef"}, nil)
			err = s.gatewayRouteTargets(o, r.Mesh, spec, &notes)
		}
	}
	if err != nil {
		return nil, err
	}
	if r.Spec, err = json.Marshal(renameARNMembers(spec)); err != nil {
		return nil, fmt.Errorf("%s: %w", o.source, err)
	}
	r.Notes = notes
	return append([]Resource{r}, extra...), nil
}

func (s *k8sSet) nodeBackends(o *k8sObject, mesh string, spec map[string]any, notes *[]string) error {
	list, _ := spec["backends"].([]any)
	for i, b := range list {
		bm, _ := b.(map[string]any)
		vs, _ := bm["virtualService"].(map[string]any)
		if vs == nil {
			return fmt.Errorf("%s: spec.backends[%d]: needs virtualService", o.source, i)
		}
		path := fmt.Sprintf("spec.backends[%d].virtualService", i)
		name, err := s.ref(o, mesh, "VirtualService", vs["virtualServiceRef"], vs["virtualServiceARN"], path, notes)
		if err != nil {
			return err
		}
		delete(vs, "virtualServiceRef")
		delete(vs, "virtualServiceARN")
		vs["virtualServiceName"] = name
	}
	return nil
}

func (s *k8sSet) serviceProvider(o *k8sObject, mesh string, spec map[string]any, notes *[]string) error {
	p, _ := spec["provider"].(map[string]any)
	if p == nil {
		return nil
	}
	if vn, ok := p["virtualNode"].(map[string]any); ok {
		name, err := s.ref(o, mesh, "VirtualNode", vn["virtualNodeRef"], vn["virtualNodeARN"], "spec.provider.virtualNode", notes)
		if err != nil {
			return err
		}
		p["virtualNode"] = map[string]any{"virtualNodeName": name}
	}
	if vr, ok := p["virtualRouter"].(map[string]any); ok {
		name, err := s.ref(o, mesh, "VirtualRouter", vr["virtualRouterRef"], vr["virtualRouterARN"], "spec.provider.virtualRouter", notes)
		if err != nil {
			return err
		}
		p["virtualRouter"] = map[string]any{"virtualRouterName": name}
	}
	return nil
}

var routeTypes = []string{"httpRoute", "http2Route", "grpcRoute", "tcpRoute"}

func (s *k8sSet) routes(o *k8sObject, mesh, router string, spec map[string]any, notes *[]string) ([]Resource, error) {
	list, _ := spec["routes"].([]any)
	var out []Resource
	for i, rv := range list {
		rm, _ := rv.(map[string]any)
		name, _ := rm["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s: spec.routes[%d]: needs a name", o.source, i)
		}
		delete(rm, "name")
		var rnotes []string
		for _, rt := range routeTypes {
			route, _ := rm[rt].(map[string]any)
			action, _ := route["action"].(map[string]any)
			targets, _ := action["weightedTargets"].([]any)
			for j, tv := range targets {
				tm, _ := tv.(map[string]any)
				if tm == nil {
					return nil, fmt.Errorf("%s: spec.routes[%d].%s.action.weightedTargets[%d]: not a mapping", o.source, i, rt, j)
				}
				path := fmt.Sprintf("spec.routes[%d].%s.action.weightedTargets[%d]", i, rt, j)
				node, err := s.ref(o, mesh, "VirtualNode", tm["virtualNodeRef"], tm["virtualNodeARN"], path, &rnotes)
				if err != nil {
					return nil, err
				}
				delete(tm, "virtualNodeRef")
				delete(tm, "virtualNodeARN")
				tm["virtualNode"] = node
			}
		}
		b, err := json.Marshal(renameARNMembers(rm))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.source, err)
		}
		out = append(out, Resource{Kind: KindRoute, Mesh: mesh, Parent: router, Name: name, Spec: b,
			Source: fmt.Sprintf("%s spec.routes[%d]", o.source, i), Notes: rnotes})
	}
	return out, nil
}

func (s *k8sSet) gatewayOf(o *k8sObject, mesh string, notes *[]string) (string, error) {
	if ref, ok := o.spec["virtualGatewayRef"].(map[string]any); ok {
		return s.ref(o, mesh, "VirtualGateway", ref, nil, "spec.virtualGatewayRef", notes)
	}
	var gws []*k8sObject
	for _, g := range s.objects {
		if g.kind == "VirtualGateway" {
			gws = append(gws, g)
		}
	}
	if len(gws) == 1 {
		*notes = append(*notes, fmt.Sprintf("no spec.virtualGatewayRef: using the only VirtualGateway of the input, %s", nsName(gws[0].namespace, gws[0].name)))
		return gws[0].awsName(), nil
	}
	return "", fmt.Errorf("%s: no spec.virtualGatewayRef and the input holds %d virtual gateways; add spec.virtualGatewayRef {name, namespace}", o.source, len(gws))
}

func (s *k8sSet) gatewayRouteTargets(o *k8sObject, mesh string, spec map[string]any, notes *[]string) error {
	for _, rt := range []string{"httpRoute", "http2Route", "grpcRoute"} {
		route, _ := spec[rt].(map[string]any)
		action, _ := route["action"].(map[string]any)
		target, _ := action["target"].(map[string]any)
		vs, _ := target["virtualService"].(map[string]any)
		if vs == nil {
			continue
		}
		name, err := s.ref(o, mesh, "VirtualService", vs["virtualServiceRef"], vs["virtualServiceARN"], "spec."+rt+".action.target.virtualService", notes)
		if err != nil {
			return err
		}
		delete(vs, "virtualServiceRef")
		delete(vs, "virtualServiceARN")
		vs["virtualServiceName"] = name
	}
	return nil
}

// renameARNMembers maps the controller's spellings of ARN members to the
// API's (certificateARN → certificateArn).
func renameARNMembers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			switch k {
			case "certificateARN":
				k = "certificateArn"
			case "certificateAuthorityARNs":
				k = "certificateAuthorityArns"
			}
			out[k] = renameARNMembers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = renameARNMembers(e)
		}
		return out
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
