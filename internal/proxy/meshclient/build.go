package meshclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// Config says which resource a proxy runs.
type Config struct {
	// API is the appmesh client (required).
	API API
	// Mesh is the mesh name (required).
	Mesh string
	// MeshOwner is the mesh owner's account id for a shared mesh; empty
	// means the caller's account.
	MeshOwner string
	// VirtualNode or VirtualGateway (exactly one) names the proxy's own
	// resource.
	VirtualNode, VirtualGateway string
	// Logger receives notes about references that do not resolve; nil
	// means slog.Default().
	Logger *slog.Logger
	// Polled, when set, is called after every Watch cycle with its
	// outcome: nil (no change, or a change applied), the poll's error or
	// the apply's. Tests wait on it instead of sleeping.
	Polled func(err error)
	// Clock makes Watch's poll timer; nil means the real clock.
	Clock clock.Clock
}

// Client builds and follows one proxy's snapshot. It is not safe for
// concurrent use: one goroutine polls.
type Client struct {
	cfg    Config
	lastFP string
	last   *spec.Snapshot

	// Watch's view of the control plane, for logging transitions once.
	lostAt      time.Time
	failures    int
	lastReadErr string
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.API == nil || cfg.Mesh == "" {
		return nil, errors.New("meshclient: API and Mesh are required")
	}
	if (cfg.VirtualNode == "") == (cfg.VirtualGateway == "") {
		return nil, errors.New("meshclient: exactly one of a virtual node and a virtual gateway must be named")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{cfg: cfg}, nil
}

func (c *Client) owner() *string {
	if c.cfg.MeshOwner == "" {
		return nil
	}
	return aws.String(c.cfg.MeshOwner)
}

// builder holds one Build's progress.
type builder struct {
	c        *Client
	ctx      context.Context
	snap     *spec.Snapshot
	nodes    map[string]bool
	services map[string]bool
	routers  map[string]bool
}

// Build reads the proxy's resource and everything it reaches (gateway
// routes, virtual services, routers and routes, target nodes) and returns
// them as a snapshot. A node backend naming a virtual service that does
// not exist yet is left out (App Mesh allows such backends).
func (c *Client) Build(ctx context.Context) (*spec.Snapshot, error) {
	b := &builder{c: c, ctx: ctx, snap: &spec.Snapshot{MeshName: c.cfg.Mesh},
		nodes: map[string]bool{}, services: map[string]bool{}, routers: map[string]bool{}}
	if _, err := c.cfg.API.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: &c.cfg.Mesh, MeshOwner: c.owner()}); err != nil {
		return nil, fmt.Errorf("mesh %s: %w", c.cfg.Mesh, err)
	}
	var err error
	if c.cfg.VirtualNode != "" {
		err = b.self()
	} else {
		err = b.gateway()
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

func (b *builder) describeNode(name string) (*spec.NamedVirtualNode, error) {
	out, err := b.c.cfg.API.DescribeVirtualNode(b.ctx, &appmesh.DescribeVirtualNodeInput{MeshName: &b.c.cfg.Mesh, MeshOwner: b.c.owner(), VirtualNodeName: &name}, keepBody)
	if err != nil {
		return nil, fmt.Errorf("virtual node %s: %w", name, err)
	}
	n := &spec.NamedVirtualNode{Name: name}
	if _, err := decodeRaw(out.ResultMetadata, &n.Spec); err != nil {
		return nil, fmt.Errorf("virtual node %s: %w", name, err)
	}
	return n, nil
}

func (b *builder) self() error {
	n, err := b.describeNode(b.c.cfg.VirtualNode)
	if err != nil {
		return err
	}
	b.snap.VirtualNode = n
	b.nodes[n.Name] = true
	kept := n.Spec.Backends[:0]
	for _, be := range n.Spec.Backends {
		if be.VirtualService == nil {
			continue
		}
		name := be.VirtualService.VirtualServiceName
		if err := b.service(name); err != nil {
			var nf *types.NotFoundException
			if errors.As(err, &nf) {
				b.c.cfg.Logger.Info("backend virtual service does not exist yet; left out", "virtualService", name)
				continue
			}
			return err
		}
		kept = append(kept, be)
	}
	n.Spec.Backends = kept
	return nil
}

func (b *builder) gateway() error {
	name := b.c.cfg.VirtualGateway
	out, err := b.c.cfg.API.DescribeVirtualGateway(b.ctx, &appmesh.DescribeVirtualGatewayInput{MeshName: &b.c.cfg.Mesh, MeshOwner: b.c.owner(), VirtualGatewayName: &name}, keepBody)
	if err != nil {
		return fmt.Errorf("virtual gateway %s: %w", name, err)
	}
	g := &spec.NamedVirtualGateway{Name: name}
	if _, err := decodeRaw(out.ResultMetadata, &g.Spec); err != nil {
		return fmt.Errorf("virtual gateway %s: %w", name, err)
	}
	b.snap.VirtualGateway = g
	p := appmesh.NewListGatewayRoutesPaginator(b.c.cfg.API, &appmesh.ListGatewayRoutesInput{MeshName: &b.c.cfg.Mesh, MeshOwner: b.c.owner(), VirtualGatewayName: &name})
	for p.HasMorePages() {
		page, err := p.NextPage(b.ctx)
		if err != nil {
			return fmt.Errorf("gateway routes of %s: %w", name, err)
		}
		for _, ref := range page.GatewayRoutes {
			rn := aws.ToString(ref.GatewayRouteName)
			out, err := b.c.cfg.API.DescribeGatewayRoute(b.ctx, &appmesh.DescribeGatewayRouteInput{MeshName: &b.c.cfg.Mesh, MeshOwner: b.c.owner(), VirtualGatewayName: &name, GatewayRouteName: &rn}, keepBody)
			if err != nil {
				return fmt.Errorf("gateway route %s: %w", rn, err)
			}
			gr := spec.NamedGatewayRoute{Name: rn}
			if _, err := decodeRaw(out.ResultMetadata, &gr.Spec); err != nil {
				return fmt.Errorf("gateway route %s: %w", rn, err)
			}
			if t := gr.Spec.Target(); t != nil && t.VirtualService != nil {
				if err := b.service(t.VirtualService.VirtualServiceName); err != nil {
					return fmt.Errorf("gateway route %s: %w", rn, err)
				}
			}
			b.snap.GatewayRoutes = append(b.snap.GatewayRoutes, gr)
		}
	}
	return nil
}

// service adds a virtual service and what provides it.
func (b *builder) service(name string) error {
	if b.services[name] {
		return nil
	}
	out, err := b.c.cfg.API.DescribeVirtualService(b.ctx, &appmesh.DescribeVirtualServiceInput{MeshName: &b.c.cfg.Mesh, MeshOwner: b.c.owner(), VirtualServiceName: &name}, keepBody)
	if err != nil {
		return fmt.Errorf("virtual service %s: %w", name, err)
	}
	vs := spec.NamedVirtualService{Name: name}
	if _, err := decodeRaw(out.ResultMetadata, &vs.Spec); err != nil {
		return fmt.Errorf("virtual service %s: %w", name, err)
	}
	b.services[name] = true
	b.snap.VirtualServices = append(b.snap.VirtualServices, vs)
	if pr := vs.Spec.Provider; pr != nil {
		switch {
		case pr.VirtualNode != nil:
			return b.node(pr.VirtualNode.VirtualNodeName)
		case pr.VirtualRouter != nil:
			return b.router(pr.VirtualRouter.VirtualRouterName)
		}
	}
	return nil
}

// node adds a virtual node other than the proxy's own.
func (b *builder) node(name string) error {
	if b.nodes[name] {
		return nil
	}
	n, err := b.describeNode(name)
	if err != nil {
		return err
	}
	b.nodes[name] = true
	b.snap.VirtualNodes = append(b.snap.VirtualNodes, *n)
	return nil
}

// router adds a virtual router, its routes and their target nodes.
func (b *builder) router(name string) error {
	if b.routers[name] {
		return nil
	}
	mesh, owner := &b.c.cfg.Mesh, b.c.owner()
	out, err := b.c.cfg.API.DescribeVirtualRouter(b.ctx, &appmesh.DescribeVirtualRouterInput{MeshName: mesh, MeshOwner: owner, VirtualRouterName: &name}, keepBody)
	if err != nil {
		return fmt.Errorf("virtual router %s: %w", name, err)
	}
	vr := spec.NamedVirtualRouter{Name: name}
	if _, err := decodeRaw(out.ResultMetadata, &vr.Spec); err != nil {
		return fmt.Errorf("virtual router %s: %w", name, err)
	}
	b.routers[name] = true
	b.snap.VirtualRouters = append(b.snap.VirtualRouters, vr)
	p := appmesh.NewListRoutesPaginator(b.c.cfg.API, &appmesh.ListRoutesInput{MeshName: mesh, MeshOwner: owner, VirtualRouterName: &name})
	for p.HasMorePages() {
		page, err := p.NextPage(b.ctx)
		if err != nil {
			return fmt.Errorf("routes of %s: %w", name, err)
		}
		for _, ref := range page.Routes {
			rn := aws.ToString(ref.RouteName)
			out, err := b.c.cfg.API.DescribeRoute(b.ctx, &appmesh.DescribeRouteInput{MeshName: mesh, MeshOwner: owner, VirtualRouterName: &name, RouteName: &rn}, keepBody)
			if err != nil {
				return fmt.Errorf("route %s/%s: %w", name, rn, err)
			}
			r := spec.NamedRoute{Name: rn, VirtualRouterName: name}
			if _, err := decodeRaw(out.ResultMetadata, &r.Spec); err != nil {
				return fmt.Errorf("route %s/%s: %w", name, rn, err)
			}
			if a := r.Spec.RouteAction(); a != nil {
				for _, t := range a.WeightedTargets {
					if err := b.node(t.VirtualNode); err != nil {
						return fmt.Errorf("route %s/%s: %w", name, rn, err)
					}
				}
			}
			b.snap.Routes = append(b.snap.Routes, r)
		}
	}
	return nil
}
