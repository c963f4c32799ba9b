package meshclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// Fingerprint lists the name and metadata.version of every resource a
// snapshot may draw on — the mesh's virtual nodes, services and routers,
// every router's routes and, for a gateway, the gateway and its routes —
// with List calls only. It changes whenever one is created, updated or
// deleted.
func (c *Client) Fingerprint(ctx context.Context) (string, error) {
	api, mesh, owner := c.cfg.API, &c.cfg.Mesh, c.owner()
	var parts []string
	add := func(kind, name string, v *int64) {
		parts = append(parts, fmt.Sprintf("%s/%s@%d", kind, name, aws.ToInt64(v)))
	}
	nodes := appmesh.NewListVirtualNodesPaginator(api, &appmesh.ListVirtualNodesInput{MeshName: mesh, MeshOwner: owner})
	for nodes.HasMorePages() {
		page, err := nodes.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list virtual nodes: %w", err)
		}
		for _, r := range page.VirtualNodes {
			add("vn", aws.ToString(r.VirtualNodeName), r.Version)
		}
	}
	svcs := appmesh.NewListVirtualServicesPaginator(api, &appmesh.ListVirtualServicesInput{MeshName: mesh, MeshOwner: owner})
	for svcs.HasMorePages() {
		page, err := svcs.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list virtual services: %w", err)
		}
		for _, r := range page.VirtualServices {
			add("vs", aws.ToString(r.VirtualServiceName), r.Version)
		}
	}
	var routers []string
	vrs := appmesh.NewListVirtualRoutersPaginator(api, &appmesh.ListVirtualRoutersInput{MeshName: mesh, MeshOwner: owner})
	for vrs.HasMorePages() {
		page, err := vrs.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list virtual routers: %w", err)
		}
		for _, r := range page.VirtualRouters {
			add("vr", aws.ToString(r.VirtualRouterName), r.Version)
			routers = append(routers, aws.ToString(r.VirtualRouterName))
		}
	}
	for _, vr := range routers {
		rs := appmesh.NewListRoutesPaginator(api, &appmesh.ListRoutesInput{MeshName: mesh, MeshOwner: owner, VirtualRouterName: aws.String(vr)})
		for rs.HasMorePages() {
			page, err := rs.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("list routes of %s: %w", vr, err)
			}
			for _, r := range page.Routes {
				add("route", vr+"/"+aws.ToString(r.RouteName), r.Version)
			}
		}
	}
	if gw := c.cfg.VirtualGateway; gw != "" {
		gws := appmesh.NewListVirtualGatewaysPaginator(api, &appmesh.ListVirtualGatewaysInput{MeshName: mesh, MeshOwner: owner})
		for gws.HasMorePages() {
			page, err := gws.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("list virtual gateways: %w", err)
			}
			for _, r := range page.VirtualGateways {
				if aws.ToString(r.VirtualGatewayName) == gw {
					add("vg", gw, r.Version)
				}
			}
		}
		grs := appmesh.NewListGatewayRoutesPaginator(api, &appmesh.ListGatewayRoutesInput{MeshName: mesh, MeshOwner: owner, VirtualGatewayName: aws.String(gw)})
		for grs.HasMorePages() {
			page, err := grs.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("list gateway routes of %s: %w", gw, err)
			}
			for _, r := range page.GatewayRoutes {
				add("gr", aws.ToString(r.GatewayRouteName), r.Version)
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ";"), nil
}

// Poll checks for changes: when the fingerprint moved since the last
// successful Poll (or there was none), it rebuilds the snapshot and
// returns it with changed=true if it differs from the last one returned.
// The first successful Poll always returns changed=true.
func (c *Client) Poll(ctx context.Context) (snap *spec.Snapshot, changed bool, err error) {
	fp, err := c.Fingerprint(ctx)
	if err != nil {
		return nil, false, err
	}
	if c.last != nil && fp == c.lastFP {
		return c.last, false, nil
	}
	s, err := c.Build(ctx)
	if err != nil {
		return nil, false, err
	}
	c.lastFP = fp
	if c.last != nil && sameSnapshot(c.last, s) {
		return c.last, false, nil
	}
	c.last = s
	return s, true, nil
}

// Watch polls every interval until ctx ends, calling apply with every
// changed snapshot. Poll and apply errors are logged and retried on the
// next tick; a refused snapshot is retried only once the mesh changes
// again. Watch returns ctx's error.
func (c *Client) Watch(ctx context.Context, interval time.Duration, apply func(*spec.Snapshot) error) error {
	clock.EveryAfter(ctx, c.cfg.Clock, interval, func(ctx context.Context) {
		err := c.cycle(ctx, apply)
		if ctx.Err() == nil && c.cfg.Polled != nil {
			c.cfg.Polled(err)
		}
	})
	return ctx.Err()
}

// cycle runs one poll and apply, logging transitions: the control plane
// lost (no answer) and back, a mesh that cannot be read (an API error),
// a change applied or refused.
func (c *Client) cycle(ctx context.Context, apply func(*spec.Snapshot) error) error {
	log := c.cfg.Logger
	s, changed, err := c.Poll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		c.failures++
		var api smithy.APIError
		switch {
		case !errors.As(err, &api) && c.lostAt.IsZero():
			c.lostAt = time.Now()
			log.Warn("control plane lost; keeping the configuration in use and retrying", "mesh", c.cfg.Mesh, "error", err)
		case errors.As(err, &api) && err.Error() != c.lastReadErr:
			c.lastReadErr = err.Error()
			log.Warn("mesh cannot be read; keeping the configuration in use", "mesh", c.cfg.Mesh, "error", err)
		default:
			log.Debug("mesh poll still failing", "mesh", c.cfg.Mesh, "failures", c.failures, "error", err)
		}
		return err
	}
	if !c.lostAt.IsZero() {
		log.Info("control plane back", "mesh", c.cfg.Mesh, "down_for", time.Since(c.lostAt).Round(time.Millisecond), "failed_polls", c.failures)
	}
	c.lostAt, c.failures, c.lastReadErr = time.Time{}, 0, ""
	if !changed {
		return nil
	}
	if err := apply(s); err != nil {
		log.Error("mesh change refused by the proxy; keeping the configuration in use", "mesh", c.cfg.Mesh, "error", err)
		return err
	}
	log.Info("mesh configuration applied", "mesh", c.cfg.Mesh, "fingerprint_resources", strings.Count(c.lastFP, ";")+1)
	return nil
}

func sameSnapshot(a, b *spec.Snapshot) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
