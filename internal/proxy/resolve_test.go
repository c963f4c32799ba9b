package proxy

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// hangingSource stands in for an ACM or Secrets Manager that accepts the
// connection and never answers.
type hangingSource struct{ entered chan struct{} }

func (h hangingSource) Load(ctx context.Context) (*certsource.Material, error) {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestUpdateResolvesSourcesOutsideTheLock: an update whose certificate
// source hangs neither blocks the admin API and traffic (the proxy's lock
// is not held while sources load) nor hangs forever (ResolveTimeout), and
// the configuration in use keeps serving.
func TestUpdateResolvesSourcesOutsideTheLock(t *testing.T) {
	t.Parallel()
	app := startApp(t)
	_, portS, _ := net.SplitHostPort(app)
	port, _ := strconv.Atoi(portS)
	hang := hangingSource{entered: make(chan struct{}, 1)}
	sources := func(ref CertRef) (string, certsource.Source, error) {
		if ref.Certificate != nil && ref.Certificate.SDS != nil {
			return "sds:" + ref.Certificate.SDS.SecretName, hang, nil
		}
		return FileSources(ref)
	}
	snap := func(tls *spec.ListenerTLS) *spec.Snapshot {
		return &spec.Snapshot{MeshName: "m", VirtualNode: &spec.NamedVirtualNode{Name: "n", Spec: spec.VirtualNodeSpec{
			Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: port, Protocol: "http"}, TLS: tls}},
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "n.local"}},
		}}}
	}
	p, err := New(Config{Snapshot: snap(nil), Sources: sources, Logger: discard(), ResolveTimeout: 300 * time.Millisecond,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: port, Address: "127.0.0.1:0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := &testMesh{t: t}
	m.run(p)

	updated := make(chan error, 1)
	go func() {
		updated <- p.Update(snap(&spec.ListenerTLS{Mode: spec.ModeStrict, Certificate: &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "slow"}}}))
	}()
	select {
	case <-hang.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the update never asked the source")
	}
	// The source is hanging now: everything that takes the proxy's lock
	// must still answer.
	answered := make(chan string, 1)
	go func() { answered <- adminGet(t, p, "/config_dump") + adminGet(t, p, "/certs") + p.ListenerAddr(port) }()
	select {
	case <-answered:
	case err := <-updated:
		t.Fatalf("update finished (%v) before the admin API answered: the check proves nothing", err)
	case <-time.After(5 * time.Second):
		t.Fatal("admin API blocked while a certificate source loads")
	}
	select {
	case err := <-updated:
		if err == nil || !strings.Contains(err.Error(), "ResolveTimeout") || !strings.Contains(err.Error(), "sds:slow") {
			t.Fatalf("update error %v, want one naming the source and ResolveTimeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("update hung past ResolveTimeout")
	}
	m.gwURL = "http://" + p.ListenerAddr(port)
	if code, body := m.get("/"); code != 200 || body != "yellow" {
		t.Fatalf("old configuration no longer serves: %d %q", code, body)
	}
}
