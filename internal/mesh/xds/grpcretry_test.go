package xds

import (
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// A gRPC route's retry policy is Envoy's retry policy with its gRPC status
// events (named alike in retry_on) after the HTTP and TCP ones, for Envoy
// and for proxyless gRPC.
func TestGRPCRouteRetryPolicy(t *testing.T) {
	t.Parallel()
	ms := func(v int64) *spec.Duration { return &spec.Duration{Unit: "ms", Value: &v} }
	snap := routedSnapshot()
	for i := range snap.Routes {
		if gr := snap.Routes[i].Spec.GRPCRoute; gr != nil {
			gr.RetryPolicy = &spec.GRPCRetryPolicy{MaxRetries: 2, PerRetryTimeout: ms(100),
				GRPCRetryEvents: []string{"unavailable", "deadline-exceeded"}, HTTPRetryEvents: []string{"server-error"}, TCPRetryEvents: []string{"connection-error"}}
		}
	}
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, translate := range map[string]func(*spec.Snapshot) (*Resources, error){"envoy": Translate, "grpc": TranslateGRPC} {
		res, err := translate(snap)
		if err != nil {
			t.Fatal(err)
		}
		var rp *routev3.RetryPolicy
		for _, rc := range res.Routes {
			if err := rc.ValidateAll(); err != nil {
				t.Fatal(err)
			}
			for _, vh := range rc.VirtualHosts {
				for _, r := range vh.Routes {
					if r.Name == "grpc" {
						rp = r.GetRoute().GetRetryPolicy()
					}
				}
			}
		}
		if rp == nil {
			t.Fatalf("%s: the gRPC route has no retry policy", name)
		}
		if rp.RetryOn != "5xx,connect-failure,unavailable,deadline-exceeded" || rp.GetNumRetries().GetValue() != 2 || rp.GetPerTryTimeout().AsDuration() != 100*time.Millisecond {
			t.Fatalf("%s: retry policy %v", name, rp)
		}
	}
}
