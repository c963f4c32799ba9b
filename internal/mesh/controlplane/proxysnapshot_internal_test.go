package controlplane

import (
	"context"
	"testing"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

// TestProxySnapshotCarriesEgressFilter: a virtual node's snapshot says
// ALLOW_ALL when its mesh's spec does (and follows an update of it), and
// nothing for DROP_ALL or the default, which the translation treats alike.
func TestProxySnapshotCarriesEgressFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(Config{Store: storetest.SQLite(t, ""), AccountID: "111122223333", Region: "eu-west-1"})
	node := []byte(`{"listeners":[{"portMapping":{"port":9080,"protocol":"http"}}],"serviceDiscovery":{"dns":{"hostname":"n.mesh.local"}}}`)
	for _, tc := range []struct {
		mesh string
		spec string
		want string
	}{
		{"default", "", ""},
		{"drop", `{"egressFilter":{"type":"DROP_ALL"}}`, ""},
		{"allow", `{"egressFilter":{"type":"ALLOW_ALL"}}`, spec.EgressAllowAll},
	} {
		w := WriteRequest{Kind: KindMesh, Key: Key{Mesh: tc.mesh}}
		if tc.spec != "" {
			w.Spec = []byte(tc.spec)
		}
		if _, err := s.Create(ctx, w); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, WriteRequest{Kind: KindVirtualNode, Key: Key{Mesh: tc.mesh, Name: "n"}, Spec: node}); err != nil {
			t.Fatal(err)
		}
		snap, err := s.ProxySnapshot(ctx, tc.mesh, "virtualNode", "n")
		if err != nil {
			t.Fatal(err)
		}
		if snap.EgressFilter != tc.want {
			t.Errorf("mesh %s: EgressFilter = %q, want %q", tc.mesh, snap.EgressFilter, tc.want)
		}
	}
	if _, err := s.Update(ctx, WriteRequest{Kind: KindMesh, Key: Key{Mesh: "drop"}, Spec: []byte(`{"egressFilter":{"type":"ALLOW_ALL"}}`)}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.ProxySnapshot(ctx, "drop", "virtualNode", "n")
	if err != nil {
		t.Fatal(err)
	}
	if snap.EgressFilter != spec.EgressAllowAll {
		t.Errorf("after UpdateMesh to ALLOW_ALL: EgressFilter = %q", snap.EgressFilter)
	}
}
