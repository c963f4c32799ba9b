package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// Subscribe calls fn with a mesh's name after any resource of the mesh was
// created, updated or deleted through this Service, until cancel is
// called. fn runs on the writer's goroutine after the write committed, so
// it must not block (the xDS server only marks nodes for a rebuild). Writes
// by another server sharing the database are not seen: subscribers that
// need them resync periodically.
func (s *Service) Subscribe(fn func(mesh string)) (cancel func()) {
	return s.watch.Subscribe(fn)
}

func (s *Service) changed(mesh string) { s.watch.Notify(mesh) }

// ProxySnapshot returns everything the named virtual node or virtual
// gateway ("virtualNode" or "virtualGateway") needs to run, read straight
// from the store: its own spec, its backends' virtual services and what
// provides them (routers with their routes, target nodes), or a gateway's
// routes and their targets. A backend naming a virtual service that does
// not exist yet is left out, as App Mesh allows such backends.
func (s *Service) ProxySnapshot(ctx context.Context, mesh, kind, name string) (*spec.Snapshot, error) {
	b := &snapBuilder{s: s, ctx: ctx, mesh: mesh, snap: &spec.Snapshot{MeshName: mesh},
		nodes: map[string]bool{}, services: map[string]bool{}, routers: map[string]bool{}}
	m, err := get(ctx, s.cfg.Store, KindMesh, Key{Mesh: mesh})
	if err != nil {
		return nil, err
	}
	ms := &MeshSpec{}
	if len(m.Spec) == 0 {
		m.Spec = json.RawMessage("{}")
	}
	if err := json.Unmarshal(m.Spec, ms); err != nil {
		return nil, fmt.Errorf("appmesh: stored mesh %s: %w", mesh, err)
	}
	if ms.EgressFilter != nil && ms.EgressFilter.Type == spec.EgressAllowAll {
		// Only ALLOW_ALL is carried: DROP_ALL is the translation's default,
		// so snapshots (and their golden files) of DROP_ALL meshes stay as
		// they were.
		b.snap.EgressFilter = spec.EgressAllowAll
	}
	switch kind {
	case "virtualNode":
		err = b.self(name)
	case "virtualGateway":
		err = b.gateway(name)
	default:
		err = fmt.Errorf("appmesh: %q is not a proxy resource kind", kind)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(b.snap.VirtualNodes, func(i, j int) bool { return b.snap.VirtualNodes[i].Name < b.snap.VirtualNodes[j].Name })
	sort.Slice(b.snap.VirtualServices, func(i, j int) bool { return b.snap.VirtualServices[i].Name < b.snap.VirtualServices[j].Name })
	sort.Slice(b.snap.VirtualRouters, func(i, j int) bool { return b.snap.VirtualRouters[i].Name < b.snap.VirtualRouters[j].Name })
	sort.Slice(b.snap.Routes, func(i, j int) bool {
		ri, rj := b.snap.Routes[i], b.snap.Routes[j]
		return ri.VirtualRouterName+"/"+ri.Name < rj.VirtualRouterName+"/"+rj.Name
	})
	sort.Slice(b.snap.GatewayRoutes, func(i, j int) bool { return b.snap.GatewayRoutes[i].Name < b.snap.GatewayRoutes[j].Name })
	return b.snap, nil
}

type snapBuilder struct {
	s        *Service
	ctx      context.Context
	mesh     string
	snap     *spec.Snapshot
	nodes    map[string]bool
	services map[string]bool
	routers  map[string]bool
}

func (b *snapBuilder) read(kind Kind, key Key, v any) error {
	res, err := get(b.ctx, b.s.cfg.Store, kind, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.Spec, v); err != nil {
		return fmt.Errorf("appmesh: stored %s %s: %w", kind, displayName(kind, key), err)
	}
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrNotFound)
}

func (b *snapBuilder) self(name string) error {
	n := &spec.NamedVirtualNode{Name: name}
	if err := b.read(KindVirtualNode, Key{Mesh: b.mesh, Name: name}, &n.Spec); err != nil {
		return err
	}
	b.snap.VirtualNode = n
	b.nodes[name] = true
	kept := n.Spec.Backends[:0]
	for _, be := range n.Spec.Backends {
		if be.VirtualService == nil {
			continue
		}
		if err := b.service(be.VirtualService.VirtualServiceName); err != nil {
			if isNotFound(err) {
				continue
			}
			return err
		}
		kept = append(kept, be)
	}
	n.Spec.Backends = kept
	return nil
}

func (b *snapBuilder) gateway(name string) error {
	g := &spec.NamedVirtualGateway{Name: name}
	if err := b.read(KindVirtualGateway, Key{Mesh: b.mesh, Name: name}, &g.Spec); err != nil {
		return err
	}
	b.snap.VirtualGateway = g
	routes, err := listAll(b.ctx, b.s.cfg.Store, KindGatewayRoute, b.mesh+"/"+name+"/")
	if err != nil {
		return err
	}
	for _, r := range routes {
		gr := spec.NamedGatewayRoute{Name: r.Key.Name}
		if err := json.Unmarshal(r.Spec, &gr.Spec); err != nil {
			return fmt.Errorf("appmesh: stored gateway route %s: %w", r.Key.Name, err)
		}
		if t := gr.Spec.Target(); t != nil && t.VirtualService != nil {
			if err := b.service(t.VirtualService.VirtualServiceName); err != nil {
				return err
			}
		}
		b.snap.GatewayRoutes = append(b.snap.GatewayRoutes, gr)
	}
	return nil
}

func (b *snapBuilder) service(name string) error {
	if b.services[name] {
		return nil
	}
	vs := spec.NamedVirtualService{Name: name}
	if err := b.read(KindVirtualService, Key{Mesh: b.mesh, Name: name}, &vs.Spec); err != nil {
		return err
	}
	b.services[name] = true
	b.snap.VirtualServices = append(b.snap.VirtualServices, vs)
	if p := vs.Spec.Provider; p != nil {
		switch {
		case p.VirtualNode != nil:
			return b.node(p.VirtualNode.VirtualNodeName)
		case p.VirtualRouter != nil:
			return b.router(p.VirtualRouter.VirtualRouterName)
		}
	}
	return nil
}

func (b *snapBuilder) node(name string) error {
	if b.nodes[name] {
		return nil
	}
	n := spec.NamedVirtualNode{Name: name}
	if err := b.read(KindVirtualNode, Key{Mesh: b.mesh, Name: name}, &n.Spec); err != nil {
		return err
	}
	b.nodes[name] = true
	b.snap.VirtualNodes = append(b.snap.VirtualNodes, n)
	return nil
}

func (b *snapBuilder) router(name string) error {
	if b.routers[name] {
		return nil
	}
	vr := spec.NamedVirtualRouter{Name: name}
	if err := b.read(KindVirtualRouter, Key{Mesh: b.mesh, Name: name}, &vr.Spec); err != nil {
		return err
	}
	b.routers[name] = true
	b.snap.VirtualRouters = append(b.snap.VirtualRouters, vr)
	routes, err := listAll(b.ctx, b.s.cfg.Store, KindRoute, b.mesh+"/"+name+"/")
	if err != nil {
		return err
	}
	for _, r := range routes {
		nr := spec.NamedRoute{Name: r.Key.Name, VirtualRouterName: name}
		if err := json.Unmarshal(r.Spec, &nr.Spec); err != nil {
			return fmt.Errorf("appmesh: stored route %s/%s: %w", name, r.Key.Name, err)
		}
		if a := nr.Spec.RouteAction(); a != nil {
			for _, t := range a.WeightedTargets {
				if err := b.node(t.VirtualNode); err != nil {
					return err
				}
			}
		}
		b.snap.Routes = append(b.snap.Routes, nr)
	}
	return nil
}
