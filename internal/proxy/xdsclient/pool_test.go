package xdsclient

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// A gateway listener's connection pool reaches Envoy as circuit breakers
// on the clusters the gateway sends to; the proxy reads them back into
// the gateway's pool (which it applies to the same clusters), and refuses
// limits it could not apply as sent.
func TestDecodeGatewayConnectionPool(t *testing.T) {
	t.Parallel()
	snap := colorGateway(t, "one-way")
	snap.VirtualGateway.Spec.Listeners[0].ConnectionPool = &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 12, MaxPendingRequests: 3}}
	res := translated(t, snap)
	cfg, err := Decode(nodeOf(snap), res)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Snapshot.VirtualGateway.Spec.Listeners[0].ConnectionPool
	if p == nil || p.HTTP == nil || p.HTTP.MaxConnections != 12 || p.HTTP.MaxPendingRequests != 3 {
		t.Fatalf("gateway pool = %+v", p)
	}

	// Behind a router with weighted targets the gateway has several
	// clusters; the proxy has one pool for all of them, so limits on some
	// only, or different limits, are refused rather than over-applied.
	r := routed()
	// Without the canary route, the router's first route is the weighted
	// one (white 3, black 1): two clusters.
	kept := r.Routes[:0]
	for _, rt := range r.Routes {
		if rt.Name != "canary" {
			kept = append(kept, rt)
		}
	}
	r.Routes = kept
	snap.VirtualServices, snap.VirtualRouters, snap.Routes, snap.VirtualNodes = r.VirtualServices, r.VirtualRouters, r.Routes, r.VirtualNodes
	res = translated(t, snap)
	if len(res.Clusters) < 2 {
		t.Fatalf("%d clusters behind the router, want several", len(res.Clusters))
	}
	if _, err := Decode(nodeOf(snap), res); err != nil {
		t.Fatalf("the same limits on every cluster: %v", err)
	}
	var pooled []*clusterv3.Cluster
	for _, c := range res.Clusters {
		if c.CircuitBreakers != nil {
			pooled = append(pooled, c)
		}
	}
	if len(pooled) < 2 {
		t.Fatalf("%d clusters with limits, want the two weighted targets'", len(pooled))
	}
	pooled[0].CircuitBreakers.Thresholds[0].MaxConnections = wrapperspb.UInt32(13)
	if _, err := Decode(nodeOf(snap), res); err == nil || !strings.Contains(err.Error(), "different connection limits") {
		t.Fatalf("different limits per cluster: %v", err)
	}
	pooled[0].CircuitBreakers = nil
	if _, err := Decode(nodeOf(snap), res); err == nil || !strings.Contains(err.Error(), "some of a gateway's clusters") {
		t.Fatalf("limits on some clusters only: %v", err)
	}

	// A sidecar's egress clusters carry no limits in the translation; any
	// there are refused.
	node := routed()
	nres := translated(t, node)
	for _, c := range nres.Clusters {
		if strings.HasPrefix(c.Name, "cds_egress_") {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(1)}}}
			if _, err := Decode(nodeOf(node), nres); err == nil || !strings.Contains(err.Error(), "circuit_breakers") {
				t.Fatalf("a sidecar's egress cluster with circuit breakers: %v", err)
			}
			return
		}
	}
	t.Fatal("the routed node has no egress cluster")
}
