package xds

import (
	"context"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/testwait"
)

// manualTimers records the authentication deadlines the server arms, so a
// test fires them instead of waiting.
type manualTimers struct {
	mu  sync.Mutex
	fns []func()
	arm chan struct{}
}

func newManualTimers() *manualTimers { return &manualTimers{arm: make(chan struct{}, 64)} }

func (m *manualTimers) afterFunc(_ time.Duration, f func()) func() bool {
	m.mu.Lock()
	m.fns = append(m.fns, f)
	m.mu.Unlock()
	m.arm <- struct{}{}
	return func() bool { return true }
}

// fire waits for the n-th armed deadline (0-based) and fires it.
func (m *manualTimers) fire(t *testing.T, n int) {
	t.Helper()
	for {
		m.mu.Lock()
		if len(m.fns) > n {
			f := m.fns[n]
			m.mu.Unlock()
			f()
			return
		}
		m.mu.Unlock()
		select {
		case <-m.arm:
		case <-time.After(10 * time.Second):
			t.Fatal("no deadline armed")
		}
	}
}

// blockingAuthz holds every authorization until its context ends: a
// first request whose authentication never completes.
type blockingAuthz struct{}

func (blockingAuthz) AuthorizeStream(ctx context.Context, _ *StreamRequest) error {
	<-ctx.Done()
	return context.Cause(ctx)
}

func guardServer(t *testing.T, a Authorizer, maxStreams int) (*fixture, *manualTimers) {
	t.Helper()
	f := &fixture{mesh: newMemMesh(), certs: newMemCerts(t), authz: &allowList{allowed: map[string]bool{tellerARN: true}}, reg: prometheus.NewRegistry()}
	if a == nil {
		a = f.authz
	}
	f.certs.issue(t, tellerCert, "colorteller.mesh.local")
	f.setPort(t, 9080)
	timers := newManualTimers()
	srv, err := New(Config{Mesh: f.mesh, Certificates: f.certs, Authorizer: a, Region: testRegion, AccountID: testAccount, Registerer: f.reg,
		MaxStreams: maxStreams, afterFunc: timers.afterFunc})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.ads = discoveryv3.NewAggregatedDiscoveryServiceClient(startXDS(t, srv))
	return f, timers
}

// TestStreamAuthenticationDeadline is the attack class "hold streams
// without authenticating": a stream that sends nothing, or whose first
// request's authorization does not complete, is ended when its deadline
// passes; an authorized stream outlives it.
func TestStreamAuthenticationDeadline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		authz Authorizer
		send  bool
	}{
		{"opens and sends nothing", nil, false},
		{"first request never authorized", blockingAuthz{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, timers := guardServer(t, tc.authz, 0)
			for _, delta := range []bool{false, true} {
				ctx := testCtx(t)
				var recv func() error
				if delta {
					st, err := f.ads.DeltaAggregatedResources(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if tc.send {
						if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
							t.Fatal(err)
						}
					}
					recv = func() error { _, err := st.Recv(); return err }
				} else {
					st, err := f.ads.StreamAggregatedResources(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if tc.send {
						if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
							t.Fatal(err)
						}
					}
					recv = func() error { _, err := st.Recv(); return err }
				}
				n := 0
				if delta {
					n = 1
				}
				timers.fire(t, n)
				if err := recv(); status.Code(err) != codes.Unauthenticated {
					t.Fatalf("delta=%v: got %v, want Unauthenticated", delta, err)
				}
			}
			if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("auth_timeout")); got != 2 {
				t.Fatalf("auth_timeout refusals = %v, want 2", got)
			}
		})
	}
	t.Run("authorized stream outlives the deadline", func(t *testing.T) {
		t.Parallel()
		f, timers := guardServer(t, nil, 0)
		ctx := testCtx(t)
		st, err := f.ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
		timers.fire(t, 0)
		f.setPort(t, 9091)
		if r2, err := st.Recv(); err != nil || r2.VersionInfo == r.VersionInfo {
			t.Fatalf("after the deadline: %v (same version: %v)", err, r2 != nil && r2.VersionInfo == r.VersionInfo)
		}
	})
}

// TestStreamCap: the server holds at most MaxStreams streams, counted
// before authentication; a closed one frees its place.
func TestStreamCap(t *testing.T) {
	t.Parallel()
	f, _ := guardServer(t, nil, 2)
	open := func(ctx context.Context) (discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
		st, err := f.ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
			return st, err
		}
		_, err = st.Recv()
		return st, err
	}
	ctx1, cancel1 := context.WithCancel(testCtx(t))
	if _, err := open(ctx1); err != nil {
		t.Fatal(err)
	}
	// An unauthenticated stream holds a place too.
	silent, err := f.ads.StreamAggregatedResources(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = silent
	testwait.For(t, 10*time.Second, "the stream count", func() bool { return f.srv.openStreams.Load() == 2 })
	if _, err := open(testCtx(t)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream: got %v, want ResourceExhausted", err)
	}
	cancel1()
	testwait.For(t, 10*time.Second, "the stream count", func() bool { return f.srv.openStreams.Load() == 1 })
	if _, err := open(testCtx(t)); err != nil {
		t.Fatalf("after a stream closed: %v", err)
	}
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("too_many_streams")); got != 1 {
		t.Fatalf("too_many_streams = %v, want 1", got)
	}
}

// TestPendingStreamsPerPeer is the attack class "fill the stream cap with
// streams that never authenticate": one address may hold only so many
// streams before they are authorized, an authorized stream gives its
// place back, and the refusal is counted.
func TestPendingStreamsPerPeer(t *testing.T) {
	t.Parallel()
	f, _ := guardServer(t, nil, 100)
	f.srv.pendingMu.Lock()
	f.srv.maxPendingPerPeer = 2
	f.srv.pendingMu.Unlock()
	pending := func() int {
		f.srv.pendingMu.Lock()
		defer f.srv.pendingMu.Unlock()
		return f.srv.pending["127.0.0.1"]
	}
	// Authorized streams do not hold a place.
	for i := 0; i < 3; i++ {
		st, err := f.ads.StreamAggregatedResources(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("authorized stream %d: %v", i, err)
		}
	}
	if n := pending(); n != 0 {
		t.Fatalf("%d pending after authorization, want 0", n)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	for i := 0; i < 2; i++ {
		if _, err := f.ads.StreamAggregatedResources(ctx); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 10*time.Second, "two pending streams", func() bool { return pending() == 2 })
	st, err := f.ads.StreamAggregatedResources(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third unauthenticated stream: %v, want ResourceExhausted", err)
	}
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("too_many_unauthenticated")); got != 1 {
		t.Fatalf("too_many_unauthenticated = %v, want 1", got)
	}
	cancel()
	testwait.For(t, 10*time.Second, "the pending streams to end", func() bool { return pending() == 0 })
}
