package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/tagging"
)

// MeshSpec is the appmesh MeshSpec shape, which internal/mesh/spec does
// not model (a mesh has no data-plane settings a proxy runs).
type MeshSpec struct {
	EgressFilter     *EgressFilter         `json:"egressFilter,omitempty"`
	ServiceDiscovery *MeshServiceDiscovery `json:"serviceDiscovery,omitempty"`
}

// EgressFilter is the appmesh EgressFilter shape.
type EgressFilter struct {
	Type string `json:"type"`
}

// MeshServiceDiscovery is the appmesh MeshServiceDiscovery shape.
type MeshServiceDiscovery struct {
	IPPreference string `json:"ipPreference,omitempty"`
}

var ipPreferences = []string{"IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY"}

// checkName validates a ResourceName (1 to 255 characters). "/" is
// refused because it would make ARNs ambiguous.
func checkName(field, name string) error {
	if len(name) < 1 || len(name) > 255 {
		return fmt.Errorf("%w: %s: length must be between 1 and 255", ErrBadRequest, field)
	}
	if strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: %s: must not contain '/'", ErrBadRequest, field)
	}
	return nil
}

func checkKey(kind Kind, k Key) error {
	if err := checkName("meshName", k.Mesh); err != nil {
		return err
	}
	if kind == KindMesh {
		return nil
	}
	if info := kinds[kind]; info.hasParent {
		if err := checkName(kinds[info.parent].seg+"Name", k.Parent); err != nil {
			return err
		}
	}
	return checkName(kind.String()+"Name", k.Name)
}

// checkTags applies AWS's tag rules (internal/tagging, shared by every
// service) to a TagList; a broken rule is BadRequestException naming the
// member.
func checkTags(tags []Tag, field string) error {
	if err := tagging.Check(tags, kvTag); err != nil {
		return fmt.Errorf("%w: %s: %s", ErrBadRequest, field, err.(*tagging.Error).Message())
	}
	return nil
}

func kvTag(t Tag) tagging.Tag { return tagging.Tag(t) }

// decodeSpec decodes raw into v, naming the member of a type mismatch.
// Unknown members are ignored, as App Mesh does.
func decodeSpec(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%w: spec.%s: expected %s, found JSON %s", ErrBadRequest, te.Field, te.Type.Kind(), te.Value)
		}
		return fmt.Errorf("%w: spec: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: spec: unexpected content after the JSON document", ErrBadRequest)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// checkSpec validates a spec for kind and returns what to store (the
// compacted JSON the client sent; the mesh spec with its defaults filled
// in) and the resources it refers to, which must exist.
func (s *Service) checkSpec(kind Kind, k Key, raw json.RawMessage) (json.RawMessage, []ref, error) {
	if kind == KindMesh {
		return checkMeshSpec(raw)
	}
	if isNull(raw) {
		// Even the specs without a required member (virtual service,
		// virtual router) are themselves required.
		return nil, nil, fmt.Errorf("%w: spec: is required", ErrBadRequest)
	}
	var v interface{ Validate() error }
	switch kind {
	case KindVirtualNode:
		v = &spec.VirtualNodeSpec{}
	case KindVirtualService:
		v = &spec.VirtualServiceSpec{}
	case KindVirtualRouter:
		v = &spec.VirtualRouterSpec{}
	case KindRoute:
		v = &spec.RouteSpec{}
	case KindVirtualGateway:
		v = &spec.VirtualGatewaySpec{}
	case KindGatewayRoute:
		v = &spec.GatewayRouteSpec{}
	}
	if err := decodeSpec(raw, v); err != nil {
		return nil, nil, err
	}
	if err := v.Validate(); err != nil {
		// A *spec.ValidationError names the member: "spec.x: reason".
		return nil, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := s.checkSpecLimits(v); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, nil, fmt.Errorf("%w: spec: %v", ErrBadRequest, err)
	}
	refs, err := specRefs(kind, buf.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), refs, nil
}

func checkMeshSpec(raw json.RawMessage) (json.RawMessage, []ref, error) {
	ms := &MeshSpec{}
	if !isNull(raw) {
		if err := decodeSpec(raw, ms); err != nil {
			return nil, nil, err
		}
	}
	if ms.EgressFilter == nil {
		// App Mesh's default: only traffic to resources in the mesh.
		ms.EgressFilter = &EgressFilter{Type: "DROP_ALL"}
	}
	if t := ms.EgressFilter.Type; t != "ALLOW_ALL" && t != "DROP_ALL" {
		return nil, nil, fmt.Errorf("%w: spec.egressFilter.type: must be one of ALLOW_ALL, DROP_ALL", ErrBadRequest)
	}
	if sd := ms.ServiceDiscovery; sd != nil && sd.IPPreference != "" && !contains(ipPreferences, sd.IPPreference) {
		return nil, nil, fmt.Errorf("%w: spec.serviceDiscovery.ipPreference: must be one of %s", ErrBadRequest, strings.Join(ipPreferences, ", "))
	}
	b, err := json.Marshal(ms)
	return b, nil, err
}

// checkSpecLimits applies the quotas and constraints that need more than
// one member at a time: list sizes, duplicate listener ports, and route
// weights that send traffic nowhere.
func (s *Service) checkSpecLimits(v any) error {
	switch sp := v.(type) {
	case *spec.VirtualNodeSpec:
		if l := s.limits.BackendsPerVirtualNode; l > 0 && len(sp.Backends) > l {
			return fmt.Errorf("%w: spec.backends: at most %d backends are allowed", ErrLimitExceeded, l)
		}
		return checkListeners(sp.Listeners, s.limits.ListenersPerVirtualNode)
	case *spec.VirtualGatewaySpec:
		return checkListeners(sp.Listeners, s.limits.ListenersPerVirtualNode)
	case *spec.VirtualRouterSpec:
		seen := map[int]int{}
		for i, l := range sp.Listeners {
			if j, ok := seen[l.PortMapping.Port]; ok {
				return fmt.Errorf("%w: spec.listeners[%d].portMapping.port: port %d is already used by spec.listeners[%d]", ErrBadRequest, i, l.PortMapping.Port, j)
			}
			seen[l.PortMapping.Port] = i
		}
	case *spec.RouteSpec:
		for name, a := range map[string]*spec.RouteAction{"httpRoute": actionOf(sp.HTTPRoute), "http2Route": actionOf(sp.HTTP2Route), "grpcRoute": grpcAction(sp.GRPCRoute), "tcpRoute": tcpAction(sp.TCPRoute)} {
			if a == nil {
				continue
			}
			total := 0
			for _, t := range a.WeightedTargets {
				total += t.Weight
			}
			if total == 0 {
				return fmt.Errorf("%w: spec.%s.action.weightedTargets: the weights must not all be 0", ErrBadRequest, name)
			}
		}
	}
	return nil
}

func actionOf(r *spec.HTTPRoute) *spec.RouteAction {
	if r == nil {
		return nil
	}
	return r.Action
}

func grpcAction(r *spec.GRPCRoute) *spec.RouteAction {
	if r == nil {
		return nil
	}
	return r.Action
}

func tcpAction(r *spec.TCPRoute) *spec.RouteAction {
	if r == nil {
		return nil
	}
	return r.Action
}

func checkListeners(ls []spec.Listener, limit int) error {
	if limit > 0 && len(ls) > limit {
		return fmt.Errorf("%w: spec.listeners: at most %d listeners are allowed", ErrLimitExceeded, limit)
	}
	seen := map[int]int{}
	for i, l := range ls {
		if j, ok := seen[l.PortMapping.Port]; ok {
			return fmt.Errorf("%w: spec.listeners[%d].portMapping.port: port %d is already used by spec.listeners[%d]", ErrBadRequest, i, l.PortMapping.Port, j)
		}
		seen[l.PortMapping.Port] = i
	}
	return nil
}

// specRefs lists the resources a stored spec refers to (and that must
// exist while it does): a virtual service's provider, a route's weighted
// targets, a gateway route's target virtual service.
func specRefs(kind Kind, raw json.RawMessage) ([]ref, error) {
	var refs []ref
	switch kind {
	case KindVirtualService:
		sp := &spec.VirtualServiceSpec{}
		if err := json.Unmarshal(raw, sp); err != nil {
			return nil, fmt.Errorf("appmesh: stored virtual service spec: %w", err)
		}
		if p := sp.Provider; p != nil && p.VirtualNode != nil {
			refs = append(refs, ref{KindVirtualNode, p.VirtualNode.VirtualNodeName, "spec.provider.virtualNode.virtualNodeName"})
		}
		if p := sp.Provider; p != nil && p.VirtualRouter != nil {
			refs = append(refs, ref{KindVirtualRouter, p.VirtualRouter.VirtualRouterName, "spec.provider.virtualRouter.virtualRouterName"})
		}
	case KindRoute:
		sp := &spec.RouteSpec{}
		if err := json.Unmarshal(raw, sp); err != nil {
			return nil, fmt.Errorf("appmesh: stored route spec: %w", err)
		}
		for _, a := range []struct {
			name string
			a    *spec.RouteAction
		}{{"httpRoute", actionOf(sp.HTTPRoute)}, {"http2Route", actionOf(sp.HTTP2Route)}, {"grpcRoute", grpcAction(sp.GRPCRoute)}, {"tcpRoute", tcpAction(sp.TCPRoute)}} {
			if a.a == nil {
				continue
			}
			for i, t := range a.a.WeightedTargets {
				refs = append(refs, ref{KindVirtualNode, t.VirtualNode, fmt.Sprintf("spec.%s.action.weightedTargets[%d].virtualNode", a.name, i)})
			}
		}
	case KindGatewayRoute:
		sp := &spec.GatewayRouteSpec{}
		if err := json.Unmarshal(raw, sp); err != nil {
			return nil, fmt.Errorf("appmesh: stored gateway route spec: %w", err)
		}
		var t *spec.GatewayRouteTarget
		field := ""
		switch {
		case sp.HTTPRoute != nil && sp.HTTPRoute.Action != nil:
			t, field = sp.HTTPRoute.Action.Target, "spec.httpRoute.action.target.virtualService.virtualServiceName"
		case sp.HTTP2Route != nil && sp.HTTP2Route.Action != nil:
			t, field = sp.HTTP2Route.Action.Target, "spec.http2Route.action.target.virtualService.virtualServiceName"
		case sp.GRPCRoute != nil && sp.GRPCRoute.Action != nil:
			t, field = sp.GRPCRoute.Action.Target, "spec.grpcRoute.action.target.virtualService.virtualServiceName"
		}
		if t != nil && t.VirtualService != nil {
			refs = append(refs, ref{KindVirtualService, t.VirtualService.VirtualServiceName, field})
		}
	}
	return refs, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
