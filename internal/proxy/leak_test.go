package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// openFDs counts the process's open file descriptors, or -1 where
// /proc/self/fd does not exist.
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// settle waits until f() is at most limit, returning the last value; the
// goroutines of a cancelled watch or a closed listener end asynchronously.
func settle(f func() int, limit int) int {
	deadline := time.Now().Add(10 * time.Second)
	v := f()
	for v > limit && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		v = f()
	}
	return v
}

// stable returns f() once it has not changed for a few reads.
func stable(f func() int) int {
	v, same := f(), 0
	for i := 0; i < 200 && same < 5; i++ {
		time.Sleep(10 * time.Millisecond)
		if n := f(); n == v {
			same++
		} else {
			v, same = n, 0
		}
	}
	return v
}

// TestUpdatesDoNotLeak applies 1,000 updates to a running sidecar —
// identical ones, and ones alternating protocol (the listener is
// replaced and drains), certificate and mTLS trust (sources come and go)
// — and checks that goroutines and file descriptors return to their
// baseline and that only the current generation's TLS server and sources
// are held. Before generations owned their TLS servers and source
// references, every update left a ticket-key goroutine behind and dropped
// sources kept polling.
func TestUpdatesDoNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 updates")
	}
	dir := t.TempDir()
	ca := newCA(t, "leak-ca", "ecdsa")
	files := map[string]string{}
	for _, n := range []string{"a", "b"} {
		l := ca.issue(t, "ecdsa", time.Now().Add(time.Hour), "colorteller.mesh.local")
		files[n+".pem"], files[n+".key"] = filepath.Join(dir, n+".pem"), filepath.Join(dir, n+".key")
		writeAtomic(t, files[n+".pem"], l.certPEM)
		writeAtomic(t, files[n+".key"], l.keyPEM)
	}
	files["trust.pem"] = filepath.Join(dir, "trust.pem")
	writeAtomic(t, files["trust.pem"], ca.pem)
	app := startApp(t)
	_, portS, _ := net.SplitHostPort(app)
	port, _ := strconv.Atoi(portS)
	snap := func(set, protocol string, mtls bool) *spec.Snapshot {
		lt := &spec.ListenerTLS{Mode: spec.ModePermissive, Certificate: &spec.ListenerTLSCertificate{File: &spec.FileCertificate{CertificateChain: files[set+".pem"], PrivateKey: files[set+".key"]}}}
		if mtls {
			lt.Validation = &spec.ListenerTLSValidationContext{Trust: &spec.TrustContext{File: &spec.FileTrust{CertificateChain: files["trust.pem"]}}}
		}
		return &spec.Snapshot{MeshName: "m", VirtualNode: &spec.NamedVirtualNode{Name: "n", Spec: spec.VirtualNodeSpec{
			Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: port, Protocol: protocol}, TLS: lt}},
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "n.local"}},
		}}}
	}
	p, err := New(Config{
		Snapshot: snap("a", "http", false), Logger: discard(), PollInterval: 10 * time.Millisecond,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: port, Address: "127.0.0.1:0"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testwait.For(t, 0, "the condition", func() bool { return p.State() == "LIVE" })
	get := func() {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + p.ListenerAddr(port) + "/") // PERMISSIVE: plaintext works
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "yellow" {
			t.Fatalf("got %q", b)
		}
	}
	update := func(s *spec.Snapshot) {
		t.Helper()
		if err := p.Update(s); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: one round of every shape, so lazily started runtime and
	// net/http goroutines count in the baseline.
	update(snap("b", "http2", true))
	update(snap("a", "http", false))
	get()
	baseG := stable(runtime.NumGoroutine)
	baseFD := stable(openFDs)

	for i := 0; i < 1000; i++ {
		switch {
		case i < 200: // identical updates
			update(snap("a", "http", false))
		case i%2 == 0:
			update(snap("b", "http2", true))
		default:
			update(snap("a", "http", false))
		}
		if i%250 == 1 { // an "a"/http generation: the app speaks HTTP/1.1
			get()
		}
	}
	get()

	const slack = 5
	if g := settle(runtime.NumGoroutine, baseG+slack); g > baseG+slack {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d after 1,000 updates, baseline %d\n%s", g, baseG, buf[:n])
	}
	if baseFD >= 0 {
		if fd := settle(openFDs, baseFD+slack); fd > baseFD+slack {
			t.Errorf("file descriptors: %d after 1,000 updates, baseline %d", fd, baseFD)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.gen.tlsServers); n != 1 {
		t.Errorf("current generation holds %d TLS servers, want 1", n)
	}
	if len(p.sources) != 1 {
		t.Errorf("sources held: %v, want only %s", sourceNames(p.sources), "file:"+files["a.pem"])
	}
	for name, e := range p.sources {
		if e.refs != 1 {
			t.Errorf("source %s has %d references, want 1", name, e.refs)
		}
	}
}
