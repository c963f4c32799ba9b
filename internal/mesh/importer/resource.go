package importer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Kind is an App Mesh resource type, named as in the API's operations
// (CreateVirtualNode → VirtualNode).
type Kind string

// The App Mesh resource kinds the importer knows.
const (
	KindMesh           Kind = "Mesh"
	KindVirtualNode    Kind = "VirtualNode"
	KindVirtualService Kind = "VirtualService"
	KindVirtualRouter  Kind = "VirtualRouter"
	KindRoute          Kind = "Route"
	KindVirtualGateway Kind = "VirtualGateway"
	KindGatewayRoute   Kind = "GatewayRoute"
)

// level is the creation order: a resource only refers to resources of a
// lower level (routes to nodes, services to nodes and routers, gateway
// routes to services), so creating level by level never hits a missing
// reference. Nodes may name backends that do not exist yet, which App
// Mesh allows.
func (k Kind) level() int {
	switch k {
	case KindMesh:
		return 0
	case KindVirtualNode, KindVirtualGateway, KindVirtualRouter:
		return 1
	case KindRoute:
		return 2
	case KindVirtualService:
		return 3
	case KindGatewayRoute:
		return 4
	}
	return 5
}

// parentKind is the kind a Route or GatewayRoute lives under, "" otherwise.
func (k Kind) parentKind() Kind {
	switch k {
	case KindRoute:
		return KindVirtualRouter
	case KindGatewayRoute:
		return KindVirtualGateway
	}
	return ""
}

// Tag is one resource tag, in the API's shape.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Resource is one App Mesh resource to create, in the API's terms.
type Resource struct {
	Kind Kind `json:"kind"`
	// Mesh is the mesh's name (for a mesh, its own name).
	Mesh string `json:"meshName"`
	// Parent is the virtual router of a Route or the virtual gateway of a
	// GatewayRoute; empty for every other kind.
	Parent string `json:"parent,omitempty"`
	// Name is the resource's own name (for a mesh, the same as Mesh).
	Name string `json:"name"`
	// Spec is the API's spec JSON (camelCase members), e.g. the
	// VirtualNodeSpec of CreateVirtualNode.
	Spec json.RawMessage `json:"spec"`
	// Tags are applied on creation only.
	Tags []Tag `json:"tags,omitempty"`
	// Source says where the resource came from: file and logical ID or
	// Kubernetes kind/namespace/name.
	Source string `json:"source"`
	// Notes are things the user should know, e.g. a Kubernetes field
	// that has no App Mesh counterpart and was ignored.
	Notes []string `json:"notes,omitempty"`
}

// ID names the resource uniquely within an import, e.g.
// "VirtualNode color-mesh/colorteller" or "Route color-mesh/router/route".
func (r *Resource) ID() string {
	switch {
	case r.Kind == KindMesh:
		return fmt.Sprintf("%s %s", r.Kind, r.Mesh)
	case r.Parent != "":
		return fmt.Sprintf("%s %s/%s/%s", r.Kind, r.Mesh, r.Parent, r.Name)
	}
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Mesh, r.Name)
}

// maxNameLen is App Mesh's limit on every resource name.
const maxNameLen = 255

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%s %.40q… is longer than %d characters", what, name, maxNameLen)
	}
	if strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%s %q contains '/' or NUL, which App Mesh names cannot", what, name)
	}
	return nil
}

// validate checks what the importer itself relies on: names present and
// path-safe, a parent exactly for routes and gateway routes, a spec that
// is a JSON object.
func (r *Resource) validate() error {
	if r.Kind.level() > 4 {
		return fmt.Errorf("%s: unknown kind %q", r.Source, r.Kind)
	}
	if err := checkName("mesh name", r.Mesh); err != nil {
		return fmt.Errorf("%s: %w", r.Source, err)
	}
	if err := checkName(string(r.Kind)+" name", r.Name); err != nil {
		return fmt.Errorf("%s: %w", r.Source, err)
	}
	if pk := r.Kind.parentKind(); pk != "" {
		if err := checkName(string(pk)+" name", r.Parent); err != nil {
			return fmt.Errorf("%s: %w", r.Source, err)
		}
	} else if r.Parent != "" {
		return fmt.Errorf("%s: a %s has no parent", r.Source, r.Kind)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(r.Spec, &obj); err != nil || obj == nil {
		return fmt.Errorf("%s: spec is not a JSON object", r.Source)
	}
	return nil
}

// Order validates resources, refuses two definitions of one resource, and
// returns them in creation order (by level, then mesh, parent and name, so
// the order never depends on the order of the input files).
func Order(in []Resource) ([]Resource, error) {
	out := make([]Resource, len(in))
	copy(out, in)
	seen := map[string]string{}
	for i := range out {
		r := &out[i]
		if err := r.validate(); err != nil {
			return nil, err
		}
		if prev, ok := seen[r.ID()]; ok {
			return nil, fmt.Errorf("%s is defined twice: by %s and by %s", r.ID(), prev, r.Source)
		}
		seen[r.ID()] = r.Source
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Kind.level() != b.Kind.level() {
			return a.Kind.level() < b.Kind.level()
		}
		if a.Mesh != b.Mesh {
			return a.Mesh < b.Mesh
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Parent != b.Parent {
			return a.Parent < b.Parent
		}
		return a.Name < b.Name
	})
	return out, nil
}
