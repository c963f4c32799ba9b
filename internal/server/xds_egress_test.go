package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	meshtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestXDSEgressFilterAllowAllIsPushed: UpdateMesh to egressFilter
// ALLOW_ALL reaches a connected Envoy as a push carrying the ORIGINAL_DST
// passthrough cluster, and going back to DROP_ALL removes it.
func TestXDSEgressFilterAllowAllIsPushed(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	envoy := e.user(t, "colorteller-envoy", streamExportPolicy(e.nodeARN, e.certARN))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.dial(t, envoy, "").StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: e.nodeARN, Cluster: e.nodeARN}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	passthrough := func(r *discoveryv3.DiscoveryResponse) bool {
		for _, a := range r.Resources {
			c := &clusterv3.Cluster{}
			if err := a.UnmarshalTo(c); err != nil {
				t.Fatal(err)
			}
			if c.Name == "cds_egress_color-mesh_passthrough" {
				if c.GetType() != clusterv3.Cluster_ORIGINAL_DST {
					t.Fatalf("passthrough cluster type %v, want ORIGINAL_DST", c.GetType())
				}
				return true
			}
		}
		return false
	}
	// nextClusters ACKs r and returns the next cluster push.
	nextClusters := func(r *discoveryv3.DiscoveryResponse) *discoveryv3.DiscoveryResponse {
		t.Helper()
		if r != nil {
			if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
				t.Fatal(err)
			}
		}
		for {
			got, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if got.TypeUrl == resourcev3.ClusterType {
				return got
			}
		}
	}
	setFilter := func(f meshtypes.EgressFilterType) {
		t.Helper()
		if _, err := e.mesh.UpdateMesh(ctx, &appmesh.UpdateMeshInput{MeshName: aws.String("color-mesh"),
			Spec: &meshtypes.MeshSpec{EgressFilter: &meshtypes.EgressFilter{Type: f}}}); err != nil {
			t.Fatal(err)
		}
	}
	r := nextClusters(nil)
	if passthrough(r) {
		t.Fatal("DROP_ALL mesh: passthrough cluster sent")
	}
	setFilter(meshtypes.EgressFilterTypeAllowAll)
	r = nextClusters(r)
	if !passthrough(r) {
		t.Fatal("after UpdateMesh ALLOW_ALL: no passthrough cluster pushed")
	}
	setFilter(meshtypes.EgressFilterTypeDropAll)
	if r = nextClusters(r); passthrough(r) {
		t.Fatal("after UpdateMesh DROP_ALL: passthrough cluster still sent")
	}
}
