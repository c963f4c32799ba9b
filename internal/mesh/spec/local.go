package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"gopkg.in/yaml.v3"
)

// MaxLocalFileSize bounds a local mesh file; larger input is refused before
// it is parsed.
const MaxLocalFileSize = 1 << 20

// Snapshot is everything one proxy needs to run: its own resource (exactly
// one of VirtualNode or VirtualGateway) and the resources it reaches through
// (gateway routes, virtual services, routers and routes, and the other
// virtual nodes whose listeners and service discovery it dials). The control
// plane builds one per proxy; a local file holds one written by hand.
type Snapshot struct {
	MeshName string `json:"meshName"`
	// EgressFilter is the mesh's egress filter type (MeshSpec.egressFilter):
	// EgressDropAll (or empty) lets a virtual node reach only its backends;
	// EgressAllowAll also passes every other outbound connection through to
	// its original destination. Virtual gateways have no egress and ignore it.
	EgressFilter    string                `json:"egressFilter,omitempty"`
	VirtualNode     *NamedVirtualNode     `json:"virtualNode,omitempty"`
	VirtualGateway  *NamedVirtualGateway  `json:"virtualGateway,omitempty"`
	GatewayRoutes   []NamedGatewayRoute   `json:"gatewayRoutes,omitempty"`
	VirtualServices []NamedVirtualService `json:"virtualServices,omitempty"`
	VirtualRouters  []NamedVirtualRouter  `json:"virtualRouters,omitempty"`
	Routes          []NamedRoute          `json:"routes,omitempty"`
	VirtualNodes    []NamedVirtualNode    `json:"virtualNodes,omitempty"`
}

// The mesh egress filter types App Mesh defines.
const (
	EgressDropAll  = "DROP_ALL"
	EgressAllowAll = "ALLOW_ALL"
)

// NamedVirtualNode is a virtual node with its name.
type NamedVirtualNode struct {
	Name string          `json:"virtualNodeName"`
	Spec VirtualNodeSpec `json:"spec"`
}

// NamedVirtualGateway is a virtual gateway with its name.
type NamedVirtualGateway struct {
	Name string             `json:"virtualGatewayName"`
	Spec VirtualGatewaySpec `json:"spec"`
}

// NamedGatewayRoute is a gateway route with its name.
type NamedGatewayRoute struct {
	Name string           `json:"gatewayRouteName"`
	Spec GatewayRouteSpec `json:"spec"`
}

// NamedVirtualService is a virtual service with its name (usually a DNS
// name such as colorteller.default.svc.cluster.local).
type NamedVirtualService struct {
	Name string             `json:"virtualServiceName"`
	Spec VirtualServiceSpec `json:"spec"`
}

// NamedVirtualRouter is a virtual router with its name.
type NamedVirtualRouter struct {
	Name string            `json:"virtualRouterName"`
	Spec VirtualRouterSpec `json:"spec"`
}

// NamedRoute is a route with its name and the router it belongs to.
type NamedRoute struct {
	Name              string    `json:"routeName"`
	VirtualRouterName string    `json:"virtualRouterName"`
	Spec              RouteSpec `json:"spec"`
}

// LocalFile is the `bulwark proxy --config FILE` format: a Snapshot plus
// the proxy's own settings, which have no App Mesh equivalent.
type LocalFile struct {
	Proxy ProxySettings `json:"proxy"`
	Snapshot
}

// ProxySettings are the local settings of one proxy process.
type ProxySettings struct {
	// AdminAddress is where /stats, /certs and friends are served. Empty
	// means "127.0.0.1:9901"; the admin listener has no authentication, so
	// keep it on loopback.
	AdminAddress string `json:"adminAddress,omitempty"`
	// Listeners binds spec listeners (by portMapping.port) to local
	// addresses. A virtual node's first listener without a binding listens
	// on "0.0.0.0:15000" (Envoy's App Mesh ingress port) and forwards to
	// AppHost:portMapping.port; a virtual gateway listener without one
	// listens on "0.0.0.0:<port>".
	Listeners []ListenerBinding `json:"listeners,omitempty"`
	// AppHost is the local application's host for a virtual node. Empty
	// means "127.0.0.1".
	AppHost string `json:"appHost,omitempty"`
	// EgressAddress, when set on a virtual node, opens a plaintext HTTP
	// listener for the application's outbound calls; requests are routed by
	// Host header to the node's backends. Empty means no egress listener.
	EgressAddress string `json:"egressAddress,omitempty"`
}

// ListenerBinding binds the spec listener with portMapping.port Port to a
// local address.
type ListenerBinding struct {
	Port    int    `json:"port"`
	Address string `json:"address"`
}

// ParseLocal decodes a local mesh file, YAML or JSON (the same member
// names), refusing unknown members, and validates it.
func ParseLocal(data []byte) (*LocalFile, error) {
	if len(data) > MaxLocalFileSize {
		return nil, fmt.Errorf("local mesh file: larger than %d bytes", MaxLocalFileSize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] != '{' {
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("local mesh file: %w", err)
		}
		norm, err := jsonCompatible(doc)
		if err != nil {
			return nil, fmt.Errorf("local mesh file: %w", err)
		}
		if trimmed, err = json.Marshal(norm); err != nil {
			return nil, fmt.Errorf("local mesh file: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var f LocalFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("local mesh file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("local mesh file: trailing data after the document")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// jsonCompatible turns YAML's decoded tree into one encoding/json accepts,
// refusing non-string keys rather than guessing their spelling.
func jsonCompatible(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			n, err := jsonCompatible(e)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("non-string key %v", k)
			}
			n, err := jsonCompatible(e)
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		for i, e := range t {
			n, err := jsonCompatible(e)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
		return t, nil
	default:
		return v, nil
	}
}

// Validate checks the proxy settings and the snapshot.
func (f *LocalFile) Validate() error {
	c := &checker{}
	for _, a := range []struct{ field, addr string }{{"proxy.adminAddress", f.Proxy.AdminAddress}, {"proxy.egressAddress", f.Proxy.EgressAddress}} {
		if a.addr != "" {
			if _, _, err := net.SplitHostPort(a.addr); err != nil {
				c.fail(a.field, "must be host:port")
			}
		}
	}
	for i, b := range f.Proxy.Listeners {
		c.port(fmt.Sprintf("proxy.listeners[%d].port", i), b.Port)
		if _, _, err := net.SplitHostPort(b.Address); err != nil {
			c.fail(fmt.Sprintf("proxy.listeners[%d].address", i), "must be host:port")
		}
	}
	if f.EgressFilter == EgressAllowAll {
		// bulwark proxy's egress routes by Host header to backends only;
		// passing unknown destinations through is not implemented, and a
		// setting that would be silently ignored is refused instead.
		c.fail("egressFilter", "ALLOW_ALL is not implemented by bulwark proxy (unknown destinations would be dropped); use DROP_ALL")
	}
	if err := c.result(); err != nil {
		return err
	}
	return f.Snapshot.Validate()
}

// Validate checks every spec in the snapshot and that every name it
// references resolves inside it.
func (s *Snapshot) Validate() error {
	c := &checker{}
	if (s.VirtualNode == nil) == (s.VirtualGateway == nil) {
		c.fail("virtualNode", "exactly one of virtualNode, virtualGateway must be set")
		return c.result()
	}
	prefix := func(p string, err error) {
		var ve *ValidationError
		if errors.As(err, &ve) {
			c.fail(p+"."+ve.Field, "%s", ve.Reason)
		}
	}
	if e := s.EgressFilter; e != "" && e != EgressDropAll && e != EgressAllowAll {
		c.fail("egressFilter", "must be one of %s, %s", EgressAllowAll, EgressDropAll)
	}
	nodes := map[string]bool{}
	if n := s.VirtualNode; n != nil {
		c.strLen("virtualNode.virtualNodeName", n.Name, 1, 255)
		prefix("virtualNode", n.Spec.Validate())
		nodes[n.Name] = true
	}
	if g := s.VirtualGateway; g != nil {
		c.strLen("virtualGateway.virtualGatewayName", g.Name, 1, 255)
		prefix("virtualGateway", g.Spec.Validate())
	}
	for i, n := range s.VirtualNodes {
		f := fmt.Sprintf("virtualNodes[%d]", i)
		c.strLen(f+".virtualNodeName", n.Name, 1, 255)
		if nodes[n.Name] {
			c.fail(f+".virtualNodeName", "duplicate name %q", n.Name)
		}
		nodes[n.Name] = true
		prefix(f, n.Spec.Validate())
	}
	routers := map[string]bool{}
	for i, r := range s.VirtualRouters {
		f := fmt.Sprintf("virtualRouters[%d]", i)
		c.strLen(f+".virtualRouterName", r.Name, 1, 255)
		if routers[r.Name] {
			c.fail(f+".virtualRouterName", "duplicate name %q", r.Name)
		}
		routers[r.Name] = true
		prefix(f, r.Spec.Validate())
	}
	for i, r := range s.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		c.strLen(f+".routeName", r.Name, 1, 255)
		if !routers[r.VirtualRouterName] {
			c.fail(f+".virtualRouterName", "virtual router %q is not in the snapshot", r.VirtualRouterName)
		}
		prefix(f, r.Spec.Validate())
		for _, a := range []*RouteAction{actionOf(r.Spec)} {
			if a == nil {
				continue
			}
			for j, t := range a.WeightedTargets {
				if !nodes[t.VirtualNode] {
					c.fail(fmt.Sprintf("%s.spec.action.weightedTargets[%d].virtualNode", f, j), "virtual node %q is not in the snapshot", t.VirtualNode)
				}
			}
		}
	}
	services := map[string]bool{}
	for i, v := range s.VirtualServices {
		f := fmt.Sprintf("virtualServices[%d]", i)
		c.strLen(f+".virtualServiceName", v.Name, 1, 255)
		if services[v.Name] {
			c.fail(f+".virtualServiceName", "duplicate name %q", v.Name)
		}
		services[v.Name] = true
		prefix(f, v.Spec.Validate())
		if p := v.Spec.Provider; p != nil {
			if p.VirtualNode != nil && !nodes[p.VirtualNode.VirtualNodeName] {
				c.fail(f+".spec.provider.virtualNode.virtualNodeName", "virtual node %q is not in the snapshot", p.VirtualNode.VirtualNodeName)
			}
			if p.VirtualRouter != nil && !routers[p.VirtualRouter.VirtualRouterName] {
				c.fail(f+".spec.provider.virtualRouter.virtualRouterName", "virtual router %q is not in the snapshot", p.VirtualRouter.VirtualRouterName)
			}
		}
	}
	for i, g := range s.GatewayRoutes {
		f := fmt.Sprintf("gatewayRoutes[%d]", i)
		c.strLen(f+".gatewayRouteName", g.Name, 1, 255)
		prefix(f, g.Spec.Validate())
		if t := gatewayTarget(g.Spec); t != nil && t.VirtualService != nil && !services[t.VirtualService.VirtualServiceName] {
			c.fail(f+".spec.action.target.virtualService.virtualServiceName", "virtual service %q is not in the snapshot", t.VirtualService.VirtualServiceName)
		}
	}
	return c.result()
}

func actionOf(r RouteSpec) *RouteAction {
	switch {
	case r.HTTPRoute != nil:
		return r.HTTPRoute.Action
	case r.HTTP2Route != nil:
		return r.HTTP2Route.Action
	case r.GRPCRoute != nil:
		return r.GRPCRoute.Action
	case r.TCPRoute != nil:
		return r.TCPRoute.Action
	}
	return nil
}

func gatewayTarget(g GatewayRouteSpec) *GatewayRouteTarget {
	switch {
	case g.HTTPRoute != nil && g.HTTPRoute.Action != nil:
		return g.HTTPRoute.Action.Target
	case g.HTTP2Route != nil && g.HTTP2Route.Action != nil:
		return g.HTTP2Route.Action.Target
	case g.GRPCRoute != nil && g.GRPCRoute.Action != nil:
		return g.GRPCRoute.Action.Target
	}
	return nil
}

// Node returns the named virtual node (the proxy's own or another), or nil.
func (s *Snapshot) Node(name string) *NamedVirtualNode {
	if s.VirtualNode != nil && s.VirtualNode.Name == name {
		return s.VirtualNode
	}
	for i := range s.VirtualNodes {
		if s.VirtualNodes[i].Name == name {
			return &s.VirtualNodes[i]
		}
	}
	return nil
}

// Service returns the named virtual service, or nil.
func (s *Snapshot) Service(name string) *NamedVirtualService {
	for i := range s.VirtualServices {
		if s.VirtualServices[i].Name == name {
			return &s.VirtualServices[i]
		}
	}
	return nil
}

// RoutesOf returns the routes of the named virtual router.
func (s *Snapshot) RoutesOf(router string) []NamedRoute {
	var out []NamedRoute
	for _, r := range s.Routes {
		if r.VirtualRouterName == router {
			out = append(out, r)
		}
	}
	return out
}

// RouteAction returns the action of whichever route kind r holds, or nil.
func (r *RouteSpec) RouteAction() *RouteAction { return actionOf(*r) }

// Target returns the target of whichever route kind g holds, or nil.
func (g *GatewayRouteSpec) Target() *GatewayRouteTarget { return gatewayTarget(*g) }
