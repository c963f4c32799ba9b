package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// TestReplacedListenerDrainIsBounded: a listener replaced by an update
// drains under ShutdownTimeout and Run's shutdown waits for it. A request
// that never ends on the replaced listener is cut once Run returns; it
// used to drain under context.Background(), holding its connection and
// goroutines after the proxy had stopped.
func TestReplacedListenerDrainIsBounded(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	}))
	defer app.Close()
	_, portS, _ := net.SplitHostPort(app.Listener.Addr().String())
	port, _ := strconv.Atoi(portS)
	snap := func(protocol string) *spec.Snapshot {
		return &spec.Snapshot{MeshName: "m", VirtualNode: &spec.NamedVirtualNode{Name: "n", Spec: spec.VirtualNodeSpec{
			Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: port, Protocol: protocol}}},
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "n.local"}},
		}}}
	}
	p, err := New(Config{Snapshot: snap("http"), Logger: discard(), ShutdownTimeout: 300 * time.Millisecond,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: port, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = p.Run(ctx); close(ran) }()
	testwait.For(t, 0, "the condition", func() bool { return p.State() == "LIVE" })
	oldAddr := p.ListenerAddr(port)
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + oldAddr + "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		answered <- err
	}()
	<-entered
	if err := p.Update(snap("http2")); err != nil { // protocol change: a new listener
		t.Fatal(err)
	}
	if p.ListenerAddr(port) == oldAddr {
		t.Fatal("the listener was not replaced")
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	select {
	case <-answered: // cut by the bounded drain
	case <-time.After(5 * time.Second):
		t.Fatal("a request on the replaced listener outlived Run: its drain is unbounded")
	}
}
