package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// upstream is a misbehaving app: script decides each request's fate by
// its 1-based sequence number.
type upstream struct {
	srv    *httptest.Server
	seen   atomic.Int64
	bodies chan string
}

func startUpstream(t *testing.T, script func(n int64, w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{bodies: make(chan string, 64)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := u.seen.Add(1)
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			u.bodies <- string(b)
		}
		script(n, w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func i64(v int64) *int64 { return &v }

func ms(v int64) *spec.Duration { return &spec.Duration{Unit: "ms", Value: i64(v)} }

// gatewayTo builds a gateway → router route → node snapshot; route and
// node are edited by the caller.
func gatewayTo(addr string, route func(*spec.HTTPRoute), node func(*spec.Listener)) *spec.Snapshot {
	prefix := "/"
	_, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	ln := spec.Listener{PortMapping: &spec.PortMapping{Port: port, Protocol: "http"}}
	if node != nil {
		node(&ln)
	}
	hr := &spec.HTTPRoute{Match: &spec.HTTPRouteMatch{Prefix: &prefix}, Action: &spec.RouteAction{WeightedTargets: []spec.WeightedTarget{{VirtualNode: "up", Weight: 1}}}}
	if route != nil {
		route(hr)
	}
	return &spec.Snapshot{
		MeshName:       "m",
		VirtualGateway: &spec.NamedVirtualGateway{Name: "gw", Spec: spec.VirtualGatewaySpec{Listeners: []spec.Listener{{PortMapping: &spec.PortMapping{Port: 8080, Protocol: "http"}}}}},
		GatewayRoutes: []spec.NamedGatewayRoute{{Name: "all", Spec: spec.GatewayRouteSpec{HTTPRoute: &spec.HTTPGatewayRoute{
			Match:  &spec.HTTPRouteMatch{Prefix: &prefix},
			Action: &spec.HTTPGatewayRouteAction{Target: &spec.GatewayRouteTarget{VirtualService: &spec.GatewayRouteService{VirtualServiceName: "svc"}}},
		}}}},
		VirtualServices: []spec.NamedVirtualService{{Name: "svc", Spec: spec.VirtualServiceSpec{Provider: &spec.VirtualServiceProvider{VirtualRouter: &spec.VirtualRouterProvider{VirtualRouterName: "r"}}}}},
		VirtualRouters:  []spec.NamedVirtualRouter{{Name: "r", Spec: spec.VirtualRouterSpec{Listeners: []spec.RouterListener{{PortMapping: &spec.PortMapping{Port: 80, Protocol: "http"}}}}}},
		Routes:          []spec.NamedRoute{{Name: "rt", VirtualRouterName: "r", Spec: spec.RouteSpec{HTTPRoute: hr}}},
		VirtualNodes: []spec.NamedVirtualNode{{Name: "up", Spec: spec.VirtualNodeSpec{Listeners: []spec.Listener{ln},
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: addr}}}}},
	}
}

func startGateway(t *testing.T, snap *spec.Snapshot, now func() time.Time) (*Proxy, string) {
	t.Helper()
	p, err := New(Config{Snapshot: snap, Logger: discard(), Clock: clock.WithNow(nil, now),
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: 8080, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	(&testMesh{t: t}).run(p)
	return p, "http://" + p.ListenerAddr(8080)
}

func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body == "" {
		req.Body = nil
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func clusterCounter(p *Proxy, addr, suffix string) uint64 {
	_, port, _ := net.SplitHostPort(addr)
	return p.Stats().Counter(stats.ClusterPrefix("cds_egress_m_up_http_"+port) + suffix).Value()
}

// failFirst answers code to the first n requests, then 200 "ok".
func failFirst(n int64, code int) func(int64, http.ResponseWriter, *http.Request) {
	return func(i int64, w http.ResponseWriter, r *http.Request) {
		if i <= n {
			w.WriteHeader(code)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}
}

// TestRetryPolicy: retries happen for the configured events only, at most
// maxRetries times, with the request body replayed.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		events     []string
		maxRetries int64
		failures   int64
		code       int
		wantCode   int
		wantSeen   int64
	}{
		{"server-error retries 503", []string{"server-error"}, 2, 2, 503, 200, 3},
		{"server-error retries 500", []string{"server-error"}, 3, 1, 500, 200, 2},
		{"gateway-error retries 502", []string{"gateway-error"}, 1, 1, 502, 200, 2},
		{"gateway-error does not retry 500", []string{"gateway-error"}, 3, 1, 500, 500, 1},
		{"client-error retries 409", []string{"client-error"}, 1, 1, 409, 200, 2},
		{"client-error does not retry 404", []string{"client-error"}, 3, 1, 404, 404, 1},
		{"maxRetries bounds the tries", []string{"server-error"}, 2, 5, 503, 503, 3},
		{"no events, no retry", nil, 3, 1, 503, 503, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, failFirst(tc.failures, tc.code))
			addr := u.srv.Listener.Addr().String()
			p, url := startGateway(t, gatewayTo(addr, func(r *spec.HTTPRoute) {
				r.RetryPolicy = &spec.HTTPRetryPolicy{MaxRetries: tc.maxRetries, PerRetryTimeout: ms(5000), HTTPRetryEvents: tc.events}
			}, nil), nil)
			code, _ := send(t, "POST", url+"/", "payload")
			if code != tc.wantCode || u.seen.Load() != tc.wantSeen {
				t.Fatalf("got %d after %d tries, want %d after %d", code, u.seen.Load(), tc.wantCode, tc.wantSeen)
			}
			for i := int64(0); i < tc.wantSeen; i++ {
				if b := <-u.bodies; b != "payload" {
					t.Fatalf("try %d body %q: not replayed", i+1, b)
				}
			}
			if got := clusterCounter(p, addr, stats.UpstreamRqRetry); got != uint64(tc.wantSeen-1) {
				t.Errorf("upstream_rq_retry = %d, want %d", got, tc.wantSeen-1)
			}
		})
	}
}

// hangFirst blocks the first n requests until the proxy gives up on them.
func hangFirst(n int64) func(int64, http.ResponseWriter, *http.Request) {
	return func(i int64, w http.ResponseWriter, r *http.Request) {
		if i <= n {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "ok")
	}
}

// TestPerRetryTimeoutAndPerRequestTimeout: a try that hangs is abandoned
// after perRetryTimeout and retried; a request that outlives the route's
// perRequest timeout gets 504, retries included.
func TestPerRetryTimeoutAndPerRequestTimeout(t *testing.T) {
	t.Parallel()
	t.Run("perRetryTimeout", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, hangFirst(1))
		addr := u.srv.Listener.Addr().String()
		p, url := startGateway(t, gatewayTo(addr, func(r *spec.HTTPRoute) {
			r.RetryPolicy = &spec.HTTPRetryPolicy{MaxRetries: 2, PerRetryTimeout: ms(100), HTTPRetryEvents: []string{"server-error"}}
		}, nil), nil)
		if code, body := send(t, "GET", url+"/", ""); code != 200 || body != "ok" {
			t.Fatalf("got %d %q", code, body)
		}
		if clusterCounter(p, addr, stats.UpstreamRqPerTryTimeout) != 1 || u.seen.Load() != 2 {
			t.Fatalf("per_try_timeout = %d, tries %d", clusterCounter(p, addr, stats.UpstreamRqPerTryTimeout), u.seen.Load())
		}
	})
	t.Run("perRequest", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, hangFirst(100))
		addr := u.srv.Listener.Addr().String()
		p, url := startGateway(t, gatewayTo(addr, func(r *spec.HTTPRoute) {
			r.Timeout = &spec.HTTPTimeout{PerRequest: ms(200)}
			r.RetryPolicy = &spec.HTTPRetryPolicy{MaxRetries: 10, PerRetryTimeout: ms(60), HTTPRetryEvents: []string{"server-error"}}
		}, nil), nil)
		start := time.Now()
		code, _ := send(t, "GET", url+"/", "")
		if code != http.StatusGatewayTimeout {
			t.Fatalf("got %d, want 504", code)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("answered after %s: the per-request timeout did not bound the retries", d)
		}
		if clusterCounter(p, addr, stats.UpstreamRqTimeout) != 1 {
			t.Errorf("upstream_rq_timeout = %d", clusterCounter(p, addr, stats.UpstreamRqTimeout))
		}
	})
	// Without retries the request takes the HTTP/1.1 forwarding path,
	// which bounds the upstream exchange by the same timeout.
	t.Run("perRequest without retries", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, hangFirst(1))
		addr := u.srv.Listener.Addr().String()
		p, url := startGateway(t, gatewayTo(addr, func(r *spec.HTTPRoute) {
			r.Timeout = &spec.HTTPTimeout{PerRequest: ms(150)}
		}, nil), nil)
		if code, _ := send(t, "GET", url+"/", ""); code != http.StatusGatewayTimeout {
			t.Fatalf("got %d, want 504", code)
		}
		if clusterCounter(p, addr, stats.UpstreamRqTimeout) != 1 {
			t.Errorf("upstream_rq_timeout = %d", clusterCounter(p, addr, stats.UpstreamRqTimeout))
		}
		if code, body := send(t, "GET", url+"/", ""); code != 200 || body != "ok" {
			t.Fatalf("after the timeout: %d %q", code, body)
		}
	})
}

// TestOutlierDetection: maxServerErrors 5xx in a row eject the upstream
// (requests get 503 without reaching it) for baseEjectionDuration, then
// it is back.
func TestOutlierDetection(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	u := startUpstream(t, failFirst(3, 500))
	addr := u.srv.Listener.Addr().String()
	p, url := startGateway(t, gatewayTo(addr, nil, func(l *spec.Listener) {
		l.OutlierDetection = &spec.OutlierDetection{MaxServerErrors: 3, Interval: ms(1000), BaseEjectionDuration: ms(30000), MaxEjectionPercent: 100}
	}), now)
	for i := 0; i < 3; i++ {
		if code, _ := send(t, "GET", url+"/", ""); code != 500 {
			t.Fatalf("request %d: %d, want the upstream's 500", i+1, code)
		}
	}
	code, body := send(t, "GET", url+"/", "")
	if code != 503 || !strings.Contains(body, "no healthy upstream") || u.seen.Load() != 3 {
		t.Fatalf("after 3 errors: %d %q, upstream saw %d (want 503 without reaching it)", code, body, u.seen.Load())
	}
	if clusterCounter(p, addr, stats.OutlierEjectionsTotal) != 1 {
		t.Errorf("ejections_enforced_total = %d", clusterCounter(p, addr, stats.OutlierEjectionsTotal))
	}
	clock.Add(int64(31 * time.Second))
	if code, body := send(t, "GET", url+"/", ""); code != 200 || body != "ok" {
		t.Fatalf("after the ejection: %d %q", code, body)
	}
}

// TestConnectionPoolLimit: with maxConnections 1 and maxPendingRequests
// 1, a third concurrent request is refused at once with 503 and counted.
func TestConnectionPoolLimit(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	u := startUpstream(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "ok")
	})
	addr := u.srv.Listener.Addr().String()
	snap := gatewayTo(addr, nil, nil)
	snap.VirtualGateway.Spec.Listeners[0].ConnectionPool = &spec.ConnectionPool{HTTP: &spec.HTTPPool{MaxConnections: 1, MaxPendingRequests: 1}}
	p, url := startGateway(t, snap, nil)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c, _ := send(t, "GET", url+"/", ""); codes <- c }()
	}
	// Both admitted: one at the upstream, one waiting for the connection.
	p.mu.Lock()
	var c *cluster
	for _, cl := range p.clusters {
		c = cl
	}
	p.mu.Unlock()
	testwait.For(t, 0, "the condition", func() bool { return len(c.prot.slots) == 2 && u.seen.Load() == 1 })
	code, _ := send(t, "GET", url+"/", "")
	close(release)
	wg.Wait()
	if code != 503 {
		t.Fatalf("third request: %d, want 503 overflow", code)
	}
	for i := 0; i < 2; i++ {
		if c := <-codes; c != 200 {
			t.Errorf("admitted request: %d", c)
		}
	}
	if got := clusterCounter(p, addr, stats.UpstreamRqPendingOverflow); got != 1 {
		t.Errorf("upstream_rq_pending_overflow = %d, want 1", got)
	}
	if u.seen.Load() != 2 {
		t.Errorf("upstream saw %d requests, want 2", u.seen.Load())
	}
}

// TestHealthCheck: a sidecar whose local app fails its health check
// unhealthyThreshold times answers 503 without calling it, and serves
// again after healthyThreshold passes.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	var sick atomic.Bool
	var appHits atomic.Int64
	u := startUpstream(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			appHits.Add(1)
		}
		if r.URL.Path == "/ping" && sick.Load() {
			w.WriteHeader(500)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	host, portS, _ := net.SplitHostPort(u.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portS)
	snap := &spec.Snapshot{MeshName: "m", VirtualNode: &spec.NamedVirtualNode{Name: "n", Spec: spec.VirtualNodeSpec{
		Listeners: []spec.Listener{{PortMapping: &spec.PortMapping{Port: port, Protocol: "http"},
			HealthCheck: &spec.HealthCheck{Protocol: "http", Path: "/ping", HealthyThreshold: 2, UnhealthyThreshold: 2, IntervalMillis: 5000, TimeoutMillis: 2000}}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "n.local"}},
	}}}
	p, err := New(Config{Snapshot: snap, Logger: discard(), healthInterval: 20 * time.Millisecond,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", AppHost: host, Listeners: []spec.ListenerBinding{{Port: port, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	(&testMesh{t: t}).run(p)
	url := "http://" + p.ListenerAddr(port) + "/"
	healthy := p.Stats().Gauge(stats.ClusterPrefix("cds_ingress_m_n_http_"+portS) + stats.HealthCheckHealthy)
	failures := p.Stats().Counter(stats.ClusterPrefix("cds_ingress_m_n_http_"+portS) + stats.HealthCheckFailure)
	if code, _ := send(t, "GET", url, ""); code != 200 {
		t.Fatalf("healthy app: %d", code)
	}
	sick.Store(true)
	testwait.For(t, 0, "the condition", func() bool { return healthy.Value() == 0 })
	if failures.Value() < 2 {
		t.Errorf("unhealthy after %d failures, want unhealthyThreshold 2", failures.Value())
	}
	before := appHits.Load()
	if code, body := send(t, "GET", url, ""); code != 503 || !strings.Contains(body, "no healthy upstream") {
		t.Fatalf("unhealthy app: %d %q", code, body)
	}
	if appHits.Load() != before {
		t.Errorf("the request reached the unhealthy app")
	}
	sick.Store(false)
	testwait.For(t, 0, "the condition", func() bool { return healthy.Value() == 1 })
	if code, _ := send(t, "GET", url, ""); code != 200 {
		t.Fatalf("recovered app: %d", code)
	}
}

// TestRefusesUnenforcedSettings: what the proxy does not enforce is
// refused when loaded, naming the field.
func TestRefusesUnenforcedSettings(t *testing.T) {
	t.Parallel()
	addr := "127.0.0.1:1"
	for _, tc := range []struct {
		name  string
		snap  *spec.Snapshot
		field string
	}{
		{"route idle timeout", gatewayTo(addr, func(r *spec.HTTPRoute) { r.Timeout = &spec.HTTPTimeout{Idle: ms(1000)} }, nil), "route r/rt.timeout.idle"},
		{"unknown retry event", gatewayTo(addr, func(r *spec.HTTPRoute) {
			r.RetryPolicy = &spec.HTTPRetryPolicy{MaxRetries: 1, PerRetryTimeout: ms(10), HTTPRetryEvents: []string{"everything"}}
		}, nil), "httpRetryEvents"},
		{"gateway listener timeout", func() *spec.Snapshot {
			s := gatewayTo(addr, nil, nil)
			s.VirtualGateway.Spec.Listeners[0].Timeout = &spec.ListenerTimeout{HTTP: &spec.HTTPTimeout{PerRequest: ms(10)}}
			return s
		}(), "virtualGateway.spec.listeners[0].timeout"},
		{"gateway health check", func() *spec.Snapshot {
			s := gatewayTo(addr, nil, nil)
			s.VirtualGateway.Spec.Listeners[0].HealthCheck = &spec.HealthCheck{Protocol: "http", HealthyThreshold: 2, UnhealthyThreshold: 2, IntervalMillis: 5000, TimeoutMillis: 2000}
			return s
		}(), "virtualGateway.spec.listeners[0].healthCheck"},
		{"gRPC route retry policy", func() *spec.Snapshot {
			s := gatewayTo(addr, nil, nil)
			s.Routes[0].Spec.GRPCRoute = &spec.GRPCRoute{Action: s.Routes[0].Spec.HTTPRoute.Action, Match: &spec.GRPCRouteMatch{},
				RetryPolicy: &spec.GRPCRetryPolicy{MaxRetries: 2, PerRetryTimeout: ms(100), GRPCRetryEvents: []string{"unavailable"}}}
			s.Routes[0].Spec.HTTPRoute = nil
			return s
		}(), "route r/rt.grpcRoute.retryPolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Snapshot: tc.snap, Logger: discard(),
				Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: 8080, Address: "127.0.0.1:0"}}}})
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

// TestRetryBodies: a body of unknown length is forwarded as it streams
// and replayed when it fit the record; one over 64 KiB is sent once and
// the retriable answer passed on.
func TestRetryBodies(t *testing.T) {
	t.Parallel()
	policy := func(r *spec.HTTPRoute) {
		r.RetryPolicy = &spec.HTTPRetryPolicy{MaxRetries: 3, PerRetryTimeout: ms(5000), HTTPRetryEvents: []string{"server-error"}}
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	t.Run("chunked body replayed", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, failFirst(2, 503))
		addr := u.srv.Listener.Addr().String()
		_, url := startGateway(t, gatewayTo(addr, policy, nil), nil)
		req, _ := http.NewRequest("POST", url+"/", io.MultiReader(strings.NewReader("chunk")))
		req.ContentLength = -1
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || u.seen.Load() != 3 {
			t.Fatalf("got %d after %d tries", resp.StatusCode, u.seen.Load())
		}
		for i := 0; i < 3; i++ {
			if b := <-u.bodies; b != "chunk" {
				t.Fatalf("try %d body %q", i+1, b)
			}
		}
	})
	t.Run("large body sent once", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, failFirst(5, 503))
		addr := u.srv.Listener.Addr().String()
		p, url := startGateway(t, gatewayTo(addr, policy, nil), nil)
		code, _ := send(t, "POST", url+"/", strings.Repeat("x", maxRetryBody+1))
		if code != 503 || u.seen.Load() != 1 {
			t.Fatalf("got %d after %d tries, want the 503 after one", code, u.seen.Load())
		}
		if got := clusterCounter(p, addr, stats.UpstreamRqRetryOverflow); got != 1 {
			t.Errorf("upstream_rq_retry_overflow = %d, want 1", got)
		}
	})
}
