package xds

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// fleet is the benchmark's mesh: virtualNodes virtual nodes (each run by
// nodes/virtualNodes Envoys, as App Mesh tasks share their node's ARN),
// all terminating TLS with one ACM certificate.
const (
	fleetNodes        = 1000
	fleetVirtualNodes = 100
	// fleetConns client connections carry the simulated Envoys' streams:
	// fleetNodes/fleetConns per connection, within the server's
	// maxStreamsPerConn (a real Envoy holds one ADS stream per connection).
	fleetConns = 100
	fleetCert  = "arn:aws:acm:us-east-1:111122223333:certificate/fleet"
)

func fleetARN(i int) string {
	return fmt.Sprintf("arn:aws:appmesh:us-east-1:111122223333:mesh/fleet/virtualNode/vn-%d", i%fleetVirtualNodes)
}

func fleetSnapshot(i, port int) *spec.Snapshot {
	s := &spec.Snapshot{MeshName: "fleet", VirtualNode: &spec.NamedVirtualNode{Name: fmt.Sprintf("vn-%d", i)}}
	s.VirtualNode.Spec = spec.VirtualNodeSpec{
		Listeners: []spec.Listener{{
			PortMapping: &spec.PortMapping{Port: port, Protocol: "http"},
			TLS:         &spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: fleetCert}}},
		}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: fmt.Sprintf("vn-%d.fleet.local", i)}},
		Logging:          &spec.Logging{AccessLog: &spec.AccessLog{File: &spec.FileAccessLog{Path: "/dev/stdout"}}},
	}
	return s
}

// simEnvoy is one simulated Envoy: it subscribes to clusters, listeners
// and its certificate, ACKs everything, and reports when it holds a full
// configuration and when it has acknowledged a given certificate version.
type simEnvoy struct {
	configured chan struct{}
	ended      chan struct{} // closed when run returns; err says why
	once       sync.Once
	// versions holds the last version received and acknowledged per type
	// URL (map[string]string, replaced whole).
	versions atomic.Value
	err      atomic.Value // why run ended
}

func (e *simEnvoy) version(typeURL string) string {
	m, _ := e.versions.Load().(map[string]string)
	return m[typeURL]
}

func (e *simEnvoy) run(ctx context.Context, ads discoveryv3.AggregatedDiscoveryServiceClient, id string) error {
	st, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	node := &corev3.Node{Id: id, Cluster: id}
	reqs := []*discoveryv3.DiscoveryRequest{
		{Node: node, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.SecretType, ResourceNames: []string{fleetCert}},
	}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}
		if r.TypeUrl == resourcev3.SecretType {
			ack.ResourceNames = []string{fleetCert}
		}
		if err := st.Send(ack); err != nil {
			return err
		}
		seen[r.TypeUrl] = true
		m, _ := e.versions.Load().(map[string]string)
		next := make(map[string]string, 3)
		for k, v := range m {
			next[k] = v
		}
		next[r.TypeUrl] = r.VersionInfo
		e.versions.Store(next)
		if len(seen) == 3 {
			e.once.Do(func() { close(e.configured) })
		}
	}
}

// BenchmarkFleet1000 is the scale scenario of docs/benchmarks.md: 1,000
// simulated Envoys on one ADS server. It reports the time until every
// Envoy holds a full configuration, heap per connected Envoy (server and
// the simulated clients' streams together: an upper bound for the
// server), and the time from a certificate renewal, then from an
// UpdateVirtualNode, until every affected Envoy acknowledged the change.
// Run: go test ./internal/mesh/xds -run '^$' -bench Fleet1000 -benchtime 1x
func BenchmarkFleet1000(b *testing.B) {
	for range b.N {
		runFleet(b)
	}
}

func runFleet(b *testing.B) {
	mesh, certs := newMemMesh(), newMemCerts(b)
	certs.issue(b, fleetCert, "fleet.local")
	for i := range fleetVirtualNodes {
		mesh.put("fleet", KindVirtualNode, fmt.Sprintf("vn-%d", i), fleetSnapshot(i, 9080))
	}
	authz := &allowAll{}
	srv, err := New(Config{Mesh: mesh, Certificates: certs, Authorizer: authz, Region: "us-east-1", AccountID: "111122223333"})
	if err != nil {
		b.Fatal(err)
	}
	// The simulated Envoys all dial from 127.0.0.1; a real fleet comes
	// from many addresses, each far below the per-address cap on streams
	// not yet authorized, which would otherwise refuse most of this burst.
	srv.maxPendingPerPeer = fleetNodes
	conn0 := startXDS(b, srv)
	conns := []*grpc.ClientConn{conn0}
	for len(conns) < fleetConns {
		c, err := grpc.NewClient(conn0.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	envoys := make([]*simEnvoy, fleetNodes)
	start := time.Now()
	for i := range envoys {
		e := &simEnvoy{configured: make(chan struct{}), ended: make(chan struct{})}
		envoys[i] = e
		ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conns[i%len(conns)])
		go func() {
			e.err.Store(fmt.Sprint(e.run(ctx, ads, fleetARN(i))))
			close(e.ended)
		}()
	}
	for i, e := range envoys {
		// A refused or broken stream ends the run with its reason instead
		// of a wait that never ends.
		select {
		case <-e.configured:
		case <-e.ended:
			b.Fatalf("Envoy %d's stream ended before it was configured: %v", i, e.err.Load())
		case <-time.After(60 * time.Second):
			b.Fatalf("Envoy %d was not configured within 60 s", i)
		}
	}
	configured := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perNode := float64(after.HeapAlloc-before.HeapAlloc) / fleetNodes

	// A renewal of the certificate every Envoy serves.
	old := versionsOf(envoys, resourcev3.SecretType)
	start = time.Now()
	certs.issue(b, fleetCert, "fleet.local")
	waitAllChanged(b, srv, envoys, resourcev3.SecretType, old)
	renewal := time.Since(start)

	// UpdateVirtualNode on every virtual node (a mesh-wide change: a new
	// listener port), acknowledged by every Envoy.
	old = versionsOf(envoys, resourcev3.ClusterType)
	start = time.Now()
	for i := range fleetVirtualNodes {
		mesh.put("fleet", KindVirtualNode, fmt.Sprintf("vn-%d", i), fleetSnapshot(i, 9081))
	}
	waitAllChanged(b, srv, envoys, resourcev3.ClusterType, old)
	update := time.Since(start)

	b.ReportMetric(configured.Seconds(), "s-to-configure-all")
	b.ReportMetric(perNode/1024, "KiB-heap/node")
	b.ReportMetric(renewal.Seconds(), "s-renewal-acked-by-all")
	b.ReportMetric(update.Seconds(), "s-update-acked-by-all")
}

// versionsOf is every Envoy's current version of typeURL. It must be
// taken before the change: taken after, a fast Envoy may already hold the
// new version, and the wait would never end.
func versionsOf(envoys []*simEnvoy, typeURL string) []string {
	old := make([]string, len(envoys))
	for i, e := range envoys {
		old[i] = e.version(typeURL)
	}
	return old
}

// waitAllChanged waits until every Envoy received and acknowledged a
// version of typeURL other than old.
func waitAllChanged(b *testing.B, srv *Server, envoys []*simEnvoy, typeURL string, old []string) {
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < len(envoys); {
		if envoys[i].version(typeURL) != old[i] {
			i++
			continue
		}
		if time.Now().After(deadline) {
			srv.mu.Lock()
			n := srv.nodes[fleetARN(i)+"\x00fleet"]
			snap, _ := srv.cache.GetSnapshot(fleetARN(i) + "\x00fleet")
			b.Logf("server: node version %s, cache version %s, dirty %v, build failures %v", n.version, snap.GetVersion(typeURL), srv.dirty, testutil.ToFloat64(srv.metrics.buildFailures))
			ps, err := srv.cfg.Mesh.ProxySnapshot(context.Background(), "fleet", KindVirtualNode, fmt.Sprintf("vn-%d", i%fleetVirtualNodes))
			b.Logf("mesh now: port %d %v", ps.VirtualNode.Spec.Listeners[0].PortMapping.Port, err)
			for id, st := range srv.streams {
				if st.nodeID == fleetARN(i) {
					b.Logf("stream %d sent %v", id, st.sent)
				}
			}
			srv.mu.Unlock()
			b.Fatalf("Envoy %d (%s) did not receive a new %s in 60 s (holds %v; stream ended: %v)", i, fleetARN(i), typeURL, envoys[i].versions.Load(), envoys[i].err.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

type allowAll struct{}

func (allowAll) AuthorizeStream(_ context.Context, r *StreamRequest) error {
	r.Principal = &certPrincipal{key: "fleet"}
	return nil
}
