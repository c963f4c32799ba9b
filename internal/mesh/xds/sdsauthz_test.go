package xds

import (
	"context"
	"errors"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/metadata"
)

// TestCertificateDecisionsPerPrincipal: two principals streaming the same
// node get their own configurations (one with the key, one without), and a
// decision is recorded and counted once, not on every rebuild.
func TestCertificateDecisionsPerPrincipal(t *testing.T) {
	t.Parallel()
	denied := &certPrincipal{key: "denied", allowed: map[string]bool{}}
	allowed := &certPrincipal{key: "allowed"}
	f := newFixtureWith(t, principalsByHeader{"denied": denied, "allowed": allowed})
	listeners := func(who string) (discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, int) {
		st, err := f.ads.StreamAggregatedResources(metadata.AppendToOutgoingContext(testCtx(t), "x-test-principal", who))
		if err != nil {
			t.Fatal(err)
		}
		n := tellerNode()
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: n, TypeUrl: resourcev3.ListenerType}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		validateAll(t, r.Resources)
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
		return st, len(r.Resources)
	}
	ds, nd := listeners("denied")
	_, na := listeners("allowed")
	if nd != 0 || na != 1 {
		t.Fatalf("listeners: denied principal %d (want 0), allowed principal %d (want 1)", nd, na)
	}
	if got := len(f.srv.Status()); got != 2 {
		t.Fatalf("%d node entries, want one per principal", got)
	}
	// A renewal rebuilds both; the denied one hears nothing new and its
	// decision is not recorded again.
	f.certs.issue(t, tellerCert, "colorteller.mesh.local")
	f.setPort(t, 9090)
	r, err := ds.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r.TypeUrl != resourcev3.ListenerType || len(r.Resources) != 0 {
		t.Fatalf("denied principal got %s with %d resources", r.TypeUrl, len(r.Resources))
	}
	denied.mu.Lock()
	defer denied.mu.Unlock()
	if denied.records != 1 {
		t.Errorf("denied decision recorded %d times, want once", denied.records)
	}
	if got := testutil.ToFloat64(f.srv.metrics.withheld.WithLabelValues(certDenied)); got != 1 {
		t.Errorf("withheld{denied} = %v, want 1", got)
	}
}

// principalsByHeader allows every stream and gives it the principal its
// x-test-principal header names (test only: a real Authorizer derives it
// from the signature).
type principalsByHeader map[string]*certPrincipal

func (p principalsByHeader) AuthorizeStream(_ context.Context, r *StreamRequest) error {
	cp := p[r.Request.Header.Get("x-test-principal")]
	if cp == nil {
		return errors.New("AccessDeniedException: unknown test principal")
	}
	r.Principal = cp
	return nil
}
