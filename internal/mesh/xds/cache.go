package xds

import (
	"context"
	"strings"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// grpcKeySuffix ends the cache key of every gRPC-flavoured node (see
// nodeKey).
const grpcKeySuffix = "\x00flavour=" + FlavourGRPC

// flavourCache serves Envoy nodes and gRPC nodes from two snapshot
// caches. Envoy's is in ADS mode, which answers a named request only
// when it names every resource of the type in the snapshot (Envoy asks
// for all of them, and it keeps responses ordered); gRPC asks only for
// the listeners it uses (one server listener of the several a node's
// port is published under, one API listener per dial target), so its
// cache answers each name on its own.
type flavourCache struct {
	envoy, grpc cachev3.SnapshotCache
}

func newFlavourCache() *flavourCache {
	return &flavourCache{envoy: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil), grpc: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)}
}

func (c *flavourCache) pick(key string) cachev3.SnapshotCache {
	if strings.HasSuffix(key, grpcKeySuffix) {
		return c.grpc
	}
	return c.envoy
}

func (c *flavourCache) CreateWatch(r *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	return c.pick(r.GetNode().GetId()).CreateWatch(r, sub, ch)
}

func (c *flavourCache) CreateDeltaWatch(r *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	return c.pick(r.GetNode().GetId()).CreateDeltaWatch(r, sub, ch)
}

func (c *flavourCache) Fetch(ctx context.Context, r *cachev3.Request) (cachev3.Response, error) {
	return c.pick(r.GetNode().GetId()).Fetch(ctx, r)
}

func (c *flavourCache) SetSnapshot(ctx context.Context, key string, s cachev3.ResourceSnapshot) error {
	return c.pick(key).SetSnapshot(ctx, key, s)
}

func (c *flavourCache) GetSnapshot(key string) (cachev3.ResourceSnapshot, error) {
	return c.pick(key).GetSnapshot(key)
}

func (c *flavourCache) ClearSnapshot(key string) { c.pick(key).ClearSnapshot(key) }
