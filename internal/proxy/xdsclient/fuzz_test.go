package xdsclient

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// FuzzDecode feeds Decode resources a server (or anyone on its path)
// could send: the server's own translation with one listener, cluster or
// route configuration replaced by arbitrary bytes. Decode must refuse or
// accept, never panic.
func FuzzDecode(f *testing.F) {
	snap := routed()
	base := translated(f, snap)
	for _, m := range []proto.Message{base.Listeners[0], base.Clusters[0], base.Routes[0]} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		for kind := uint8(0); kind < 3; kind++ {
			f.Add(kind, b)
		}
	}
	node := nodeOf(snap)
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		r := &Resources{Listeners: append([]*listenerv3.Listener(nil), base.Listeners...), Clusters: append([]*clusterv3.Cluster(nil), base.Clusters...),
			Routes: append([]*routev3.RouteConfiguration(nil), base.Routes...), Secrets: base.Secrets}
		switch kind % 3 {
		case 0:
			m := &listenerv3.Listener{}
			if proto.Unmarshal(b, m) != nil {
				return
			}
			r.Listeners[0] = m
		case 1:
			m := &clusterv3.Cluster{}
			if proto.Unmarshal(b, m) != nil {
				return
			}
			r.Clusters[0] = m
		case 2:
			m := &routev3.RouteConfiguration{}
			if proto.Unmarshal(b, m) != nil {
				return
			}
			r.Routes[0] = m
		}
		_, _ = Decode(node, r)
	})
}
