package xds

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// A virtual node listener's connection pool limits the connections (or
// requests) Envoy opens to the local application, as App Mesh documents:
// circuit breaker thresholds on the ingress cluster.
func TestConnectionPoolsBecomeCircuitBreakers(t *testing.T) {
	t.Parallel()
	type limits struct{ conns, pending, requests uint32 }
	cases := []struct {
		name  string
		proto string
		pool  *spec.ConnectionPool
		want  *limits
	}{
		{"http", spec.ProtocolHTTP, &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 100, MaxPendingRequests: 10}}, &limits{conns: 100, pending: 10}},
		{"http without pending", spec.ProtocolHTTP, &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 7}}, &limits{conns: 7}},
		{"http2", spec.ProtocolHTTP2, &spec.ConnectionPool{HTTP2: &spec.PoolMaxRequests{MaxRequests: 250}}, &limits{requests: 250}},
		{"grpc", spec.ProtocolGRPC, &spec.ConnectionPool{GRPC: &spec.PoolMaxRequests{MaxRequests: 40}}, &limits{requests: 40}},
		{"tcp", spec.ProtocolTCP, &spec.ConnectionPool{TCP: &spec.TCPPool{MaxConnections: 3}}, &limits{conns: 3}},
		{"none", spec.ProtocolHTTP, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := colorTellerSnapshot(t, "one-way")
			l := &s.VirtualNode.Spec.Listeners[0]
			l.PortMapping.Protocol, l.ConnectionPool = tc.proto, tc.pool
			if tc.proto != spec.ProtocolHTTP {
				l.HealthCheck, l.Timeout = nil, nil
			}
			res, err := Translate(s)
			if err != nil {
				t.Fatal(err)
			}
			var c *clusterv3.Cluster
			for _, x := range res.Clusters {
				if x.Name == "cds_ingress_color-mesh_colorteller_"+tc.proto+"_9080" {
					c = x
				}
			}
			if c == nil {
				t.Fatalf("no ingress cluster among %d", len(res.Clusters))
			}
			if tc.want == nil {
				if c.CircuitBreakers != nil {
					t.Fatalf("circuit breakers without a connection pool: %v", c.CircuitBreakers)
				}
				return
			}
			th := c.GetCircuitBreakers().GetThresholds()
			if len(th) != 1 {
				t.Fatalf("thresholds %v", th)
			}
			got := limits{th[0].GetMaxConnections().GetValue(), th[0].GetMaxPendingRequests().GetValue(), th[0].GetMaxRequests().GetValue()}
			if got != *tc.want {
				t.Fatalf("thresholds %+v, want %+v", got, *tc.want)
			}
			if err := c.ValidateAll(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A virtual gateway listener's connection pool limits the connections the
// gateway opens to its upstream hosts (App Mesh's
// VirtualGatewayConnectionPool): circuit breakers on the clusters its
// gateway routes lead to.
func TestGatewayConnectionPool(t *testing.T) {
	t.Parallel()
	s := colorGatewaySnapshot(t, "one-way")
	s.VirtualGateway.Spec.Listeners[0].ConnectionPool = &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 12, MaxPendingRequests: 3}}
	res, err := Translate(s)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range res.Clusters {
		th := c.GetCircuitBreakers().GetThresholds()
		if len(th) != 1 || th[0].GetMaxConnections().GetValue() != 12 || th[0].GetMaxPendingRequests().GetValue() != 3 {
			t.Errorf("cluster %s: circuit breakers %v, want 12 connections and 3 pending", c.Name, c.GetCircuitBreakers())
		}
		n++
	}
	if n == 0 {
		t.Fatal("the gateway has no upstream cluster")
	}
	plain, err := Translate(colorGatewaySnapshot(t, "one-way"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plain.Clusters {
		if c.CircuitBreakers != nil {
			t.Errorf("cluster %s has circuit breakers without a connection pool", c.Name)
		}
	}
}
