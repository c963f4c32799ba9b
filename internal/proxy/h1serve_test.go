package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// seenRequest is what the app behind the proxy received.
type seenRequest struct {
	method, uri, host, body string
	header                  http.Header
}

// h1Sidecar runs a plaintext sidecar (protocol http) in front of an app
// that records every request and answers with handler; it returns the
// listener address and the recorded requests.
func h1Sidecar(t *testing.T, netHTTPOnly bool, handler http.HandlerFunc) (string, func() []seenRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []seenRequest
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone()})
		mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		w.Header().Set("Connection", "X-Hop-Resp")
		w.Header().Set("X-Hop-Resp", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		_, _ = io.WriteString(w, "ok:"+string(b))
	}))
	t.Cleanup(app.Close)
	_, portS, _ := net.SplitHostPort(app.Listener.Addr().String())
	port, _ := strconv.Atoi(portS)
	snap := &spec.Snapshot{MeshName: "m", VirtualNode: &spec.NamedVirtualNode{Name: "n", Spec: spec.VirtualNodeSpec{
		Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: port, Protocol: "http"}}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "n.local"}},
	}}}
	p, err := New(Config{Snapshot: snap, Logger: discard(), NetHTTPOnly: netHTTPOnly, ShutdownTimeout: time.Second,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: port, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = p.Run(ctx); close(ran) }()
	t.Cleanup(func() { cancel(); <-ran })
	testwait.For(t, 0, "the proxy to go live", func() bool { return p.State() == "LIVE" })
	return p.ListenerAddr(port), func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenRequest(nil), seen...)
	}
}

// exchange writes raw on a new connection and reads every response until
// the proxy closes it (or wantResponses arrived).
func exchange(t *testing.T, addr, raw string, wantResponses int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for len(out) < wantResponses {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
	}
	return out
}

// TestForwardingRefusesSmuggling: ambiguous requests are answered 400
// (or 501) and closed, and nothing reaches the app, not even the request
// a smuggler hides behind the first.
func TestForwardingRefusesSmuggling(t *testing.T) {
	t.Parallel()
	addr, seen := h1Sidecar(t, false, nil)
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"TE.TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", 400},
		{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 45\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
		{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk overrun", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400},
		{"huge head", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n", 431},
	} {
		resps := exchange(t, addr, tc.raw, 2)
		if len(resps) != 1 || resps[0].StatusCode != tc.status || !resps[0].Close {
			codes := []int{}
			for _, r := range resps {
				codes = append(codes, r.StatusCode)
			}
			t.Errorf("%s: responses %v, want one %d and a close", tc.name, codes, tc.status)
		}
	}
	for _, r := range seen() {
		if r.uri == "/smuggled" || r.method == "POST" && r.body != "" {
			t.Errorf("the app received %s %s %q", r.method, r.uri, r.body)
		}
	}
}

// TestForwardingHeadersMatchReverseProxy: the forwarding path sends the
// app what the net/http path sends it (hop-by-hop fields removed, the
// client's X-Forwarded-* replaced, Host kept) and returns the same.
func TestForwardingHeadersMatchReverseProxy(t *testing.T) {
	t.Parallel()
	raw := "POST /p?q=1 HTTP/1.1\r\nHost: svc.local\r\nConnection: X-Hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=1\r\n" +
		"Proxy-Authorization: secret\r\nTe: gzip\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Request-Id: rid\r\n" +
		"X-Keep: a\r\nX-Keep: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
		"GET /second HTTP/1.1\r\nHost: svc.local\r\nContent-Length: 0\r\n\r\n" +
		"GET /third HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	type result struct {
		seen  []seenRequest
		resps []*http.Response
	}
	run := func(netHTTPOnly bool) result {
		addr, seen := h1Sidecar(t, netHTTPOnly, nil)
		resps := exchange(t, addr, raw, 3)
		return result{seen(), resps}
	}
	fast, std := run(false), run(true)
	for _, r := range []result{fast, std} {
		if len(r.seen) != 3 || len(r.resps) != 3 {
			t.Fatalf("%d requests seen, %d responses, want 3 and 3", len(r.seen), len(r.resps))
		}
	}
	norm := func(h http.Header) string {
		var keys []string
		for k, v := range h {
			if k == "Accept-Encoding" || k == "User-Agent" {
				continue // Go's Transport adds; nothing a client sent
			}
			keys = append(keys, k+"="+strings.Join(v, ","))
		}
		sort.Strings(keys)
		return strings.Join(keys, " ")
	}
	for i := range fast.seen {
		f, s := fast.seen[i], std.seen[i]
		sameHost := f.host == s.host ||
			// no Host (HTTP/1.0): each run's own app address
			(i == 2 && strings.HasPrefix(f.host, "127.0.0.1:") && strings.HasPrefix(s.host, "127.0.0.1:"))
		if f.method != s.method || f.uri != s.uri || !sameHost || f.body != s.body {
			t.Errorf("request %d: forwarding path %s %s %s %q, net/http %s %s %s %q", i, f.method, f.uri, f.host, f.body, s.method, s.uri, s.host, s.body)
		}
		fh, sh := f.header.Clone(), s.header.Clone()
		if i > 0 { // generated ids differ
			fh.Del("X-Request-Id")
			sh.Del("X-Request-Id")
		}
		if norm(fh) != norm(sh) {
			t.Errorf("request %d headers:\n forwarding %s\n net/http   %s", i, norm(fh), norm(sh))
		}
	}
	first := fast.seen[0].header
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Connection"} {
		if first.Get(k) != "" {
			t.Errorf("hop-by-hop %s reached the app", k)
		}
	}
	if first.Get("X-Forwarded-For") != "127.0.0.1" || first.Get("X-Forwarded-Proto") != "http" || first.Get("X-Forwarded-Host") != "svc.local" {
		t.Errorf("X-Forwarded-*: %q %q %q", first.Get("X-Forwarded-For"), first.Get("X-Forwarded-Proto"), first.Get("X-Forwarded-Host"))
	}
	if fast.seen[1].header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id generated")
	}
	for i := range fast.resps {
		f, s := fast.resps[i], std.resps[i]
		fb, _ := io.ReadAll(f.Body)
		sb, _ := io.ReadAll(s.Body)
		if f.StatusCode != s.StatusCode || string(fb) != string(sb) || f.Header.Get("X-Hop-Resp") != "" || f.Header.Get("Keep-Alive") != "" {
			t.Errorf("response %d: forwarding %d %q %v, net/http %d %q", i, f.StatusCode, fb, f.Header, s.StatusCode, sb)
		}
	}
}

// TestForwardingUpstreamErrors: an app that is gone answers 503 as the
// ReverseProxy path did, and a streamed (unknown length) response reaches
// an HTTP/1.1 client chunked and an HTTP/1.0 client delimited by close.
func TestForwardingUpstreamErrors(t *testing.T) {
	t.Parallel()
	addr, _ := h1Sidecar(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang-up" {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		_, _ = io.WriteString(w, "part1,")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part2")
	})
	resps := exchange(t, addr, "GET /hang-up HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	if len(resps) != 1 || resps[0].StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("hang-up: %v", resps)
	}
	// An HTTP/1.0 client that asks for keep-alive gets it, and is told so.
	resps = exchange(t, addr, "GET /hang-up HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hang-up HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 2)
	if len(resps) != 2 || resps[0].Close || resps[0].Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: %d responses", len(resps))
	}
	resps = exchange(t, addr, "GET /s HTTP/1.1\r\nHost: a\r\n\r\nGET /s HTTP/1.0\r\n\r\n", 2)
	if len(resps) != 2 {
		t.Fatalf("%d responses, want 2", len(resps))
	}
	b0, _ := io.ReadAll(resps[0].Body)
	b1, _ := io.ReadAll(resps[1].Body)
	if string(b0) != "part1,part2" || len(resps[0].TransferEncoding) != 1 || string(b1) != "part1,part2" || !resps[1].Close {
		t.Fatalf("streamed: %q %v / %q close=%v", b0, resps[0].TransferEncoding, b1, resps[1].Close)
	}
}

// TestForwardingHandsOffToNetHTTP: a request the forwarding path leaves
// to net/http (here an Upgrade) is served there from the bytes already
// read, and so is the rest of the connection.
func TestForwardingHandsOffToNetHTTP(t *testing.T) {
	t.Parallel()
	addr, seen := h1Sidecar(t, false, nil)
	resps := exchange(t, addr, "GET /up HTTP/1.1\r\nHost: a\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"+
		"POST /after HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 2)
	if len(resps) != 2 {
		t.Fatalf("%d responses, want 2", len(resps))
	}
	b, _ := io.ReadAll(resps[1].Body)
	if resps[0].StatusCode != 200 || resps[1].StatusCode != 200 || string(b) != "ok:hi" {
		t.Fatalf("responses %d, %d %q", resps[0].StatusCode, resps[1].StatusCode, b)
	}
	s := seen()
	if len(s) != 2 || s[0].header.Get("Upgrade") != "foo" || s[1].uri != "/after" {
		t.Fatalf("the app saw %+v", s)
	}
}

// TestForwardingBuffersWhileWaiting checks what N keep-alive connections
// hold of the pooled 4 KiB buffers, through a plaintext gateway listener,
// a TLS hop and a TLS sidecar listener to a plaintext app (both proxies
// in this process count in bufsOut). While the app holds all N requests,
// only the sidecar's plaintext upstream connections hold a reader (N):
// the client connections (plaintext and TLS) returned theirs once the
// request was written, the TLS upstream connections wait for the first
// response byte without one, and request writers went back after their
// flush. Idle, only the plaintext gateway connections keep one (N). Before
// the buffers were released while waiting, the same state held 4N.
func TestForwardingBuffersWhileWaiting(t *testing.T) {
	const n = 8
	release := make(chan struct{})
	var arrived atomic.Int32
	m := startMesh(t, meshOpts{mode: "STRICT", clientTLS: true, app: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			arrived.Add(1)
			<-release
		}
		_, _ = io.WriteString(w, "yellow")
	})})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the app server's Close, which waits for its handlers
	base := bufsOut.Load()
	addr := strings.TrimPrefix(m.gwURL, "http://")
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i], readers[i] = c, bufio.NewReader(c)
		if _, err := io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: colorteller.mesh.local\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 0, "every request to reach the app", func() bool { return arrived.Load() == n })
	testwait.For(t, 0, "the proxies to hold one reader per request", func() bool { return bufsOut.Load()-base == n })
	unblock()
	for i, br := range readers {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "yellow" {
			t.Fatalf("connection %d: %d %q", i, resp.StatusCode, b)
		}
	}
	testwait.For(t, 0, "idle connections to hold only the plaintext listener's readers", func() bool { return bufsOut.Load()-base == n })
	for _, c := range conns {
		c.Close()
	}
	testwait.For(t, 0, "closed connections to return every buffer", func() bool { return bufsOut.Load() == base })
}
