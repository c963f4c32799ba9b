package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// meshOpts describes one gateway → sidecar → app set-up.
type meshOpts struct {
	alg         string // "ecdsa" (default) or "rsa"
	mode        string // sidecar listener TLS mode; "" means no TLS
	mtls        bool   // sidecar requires client certificates
	clientTLS   bool   // gateway originates TLS
	clientCert  bool   // gateway presents its certificate
	serverSANs  []string
	clientSANs  []string
	gatewayNow  func() time.Time
	drainWindow time.Duration
	app         http.Handler // the app behind the sidecar; default startApp's

	// Material; defaults are generated.
	serverCA, clientCA *testCA
	server, client     *leaf
	serverTrustExtra   []byte // appended to the gateway's trust file
	clientTrustExtra   []byte // appended to the sidecar's trust file
}

type testMesh struct {
	t                      testing.TB
	dir                    string
	sidecar, gateway       *Proxy
	appAddr, gwURL, scAddr string
	statAddr               string
	opts                   meshOpts
	files                  map[string]string
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startApp(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/host" {
			_, _ = io.WriteString(w, r.Host)
			return
		}
		_, _ = io.WriteString(w, "yellow")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func startMesh(t testing.TB, o meshOpts) *testMesh { return startMeshOn(t, o, "127.0.0.1:0") }

// startMeshAt starts a one-way TLS mesh whose sidecar listens on addr.
func startMeshAt(t testing.TB, addr string) *testMesh {
	return startMeshOn(t, meshOpts{mode: "STRICT", clientTLS: true}, addr)
}

func startMeshOn(t testing.TB, o meshOpts, sidecarAddr string) *testMesh {
	t.Helper()
	if o.alg == "" {
		o.alg = "ecdsa"
	}
	m := &testMesh{t: t, dir: t.TempDir(), opts: o, files: map[string]string{}}
	if o.serverCA == nil {
		o.serverCA = newCA(t, "colorteller-ca", o.alg)
	}
	if o.clientCA == nil {
		o.clientCA = newCA(t, "colorgateway-ca", o.alg)
	}
	if o.server == nil {
		l := o.serverCA.issue(t, o.alg, time.Now().Add(12*time.Hour), "colorteller.mesh.local")
		o.server = &l
	}
	if o.client == nil {
		l := o.clientCA.issue(t, o.alg, time.Now().Add(12*time.Hour), "colorgateway.mesh.local")
		o.client = &l
	}
	m.opts = o
	for name, data := range map[string][]byte{
		"server.pem": o.server.certPEM, "server.key": o.server.keyPEM,
		"client.pem": o.client.certPEM, "client.key": o.client.keyPEM,
		"server-trust.pem": cat(o.serverCA.pem, o.serverTrustExtra),
		"client-trust.pem": cat(o.clientCA.pem, o.clientTrustExtra),
	} {
		m.files[name] = filepath.Join(m.dir, name)
		writeAtomic(t, m.files[name], data)
	}
	if o.app != nil {
		srv := httptest.NewServer(o.app)
		t.Cleanup(srv.Close)
		m.appAddr = srv.Listener.Addr().String()
	} else {
		m.appAddr = startApp(t)
	}
	_, appPortS, _ := net.SplitHostPort(m.appAddr)
	appPort, _ := strconv.Atoi(appPortS)

	node := spec.VirtualNodeSpec{
		Listeners:        []spec.Listener{{PortMapping: &spec.PortMapping{Port: appPort, Protocol: "http"}}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "colorteller.mesh.local"}},
	}
	if o.mode != "" {
		lt := &spec.ListenerTLS{Mode: o.mode, Certificate: &spec.ListenerTLSCertificate{File: &spec.FileCertificate{CertificateChain: m.files["server.pem"], PrivateKey: m.files["server.key"]}}}
		if o.mtls {
			lt.Validation = &spec.ListenerTLSValidationContext{Trust: &spec.TrustContext{File: &spec.FileTrust{CertificateChain: m.files["client-trust.pem"]}}}
			if len(o.clientSANs) > 0 {
				lt.Validation.SubjectAlternativeNames = &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: o.clientSANs}}
			}
		}
		node.Listeners[0].TLS = lt
	}
	scSnap := &spec.Snapshot{MeshName: "color-mesh", VirtualNode: &spec.NamedVirtualNode{Name: "colorteller", Spec: node}}
	sc, err := New(Config{
		Snapshot: scSnap, Logger: discard(), PollInterval: 20 * time.Millisecond, DrainWindow: o.drainWindow,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: appPort, Address: sidecarAddr}}},
	})
	if err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	m.sidecar = sc
	m.scAddr = sc.ListenerAddr(appPort)
	m.statAddr = strings.Replace(m.scAddr, "127.0.0.1:", strings.Split(sidecarAddr, ":")[0]+":", 1)
	if strings.HasPrefix(sidecarAddr, "0.0.0.0:") {
		m.scAddr = strings.Replace(m.scAddr, "[::]", "127.0.0.1", 1)
		m.scAddr = strings.Replace(m.scAddr, "0.0.0.0", "127.0.0.1", 1)
	}
	m.run(sc)

	// The gateway dials the sidecar's bound address (host:port discovery).
	node.ServiceDiscovery.DNS.Hostname = m.scAddr
	node.Listeners[0].TLS = nil
	gw := spec.VirtualGatewaySpec{Listeners: []spec.Listener{{PortMapping: &spec.PortMapping{Port: 8080, Protocol: "http"}}}}
	if o.clientTLS {
		ct := &spec.ClientPolicyTLS{Validation: &spec.TLSValidationContext{Trust: &spec.TrustContext{File: &spec.FileTrust{CertificateChain: m.files["server-trust.pem"]}}}}
		if len(o.serverSANs) > 0 {
			ct.Validation.SubjectAlternativeNames = &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: o.serverSANs}}
		}
		if o.clientCert {
			ct.Certificate = &spec.ClientTLSCertificate{File: &spec.FileCertificate{CertificateChain: m.files["client.pem"], PrivateKey: m.files["client.key"]}}
		}
		gw.BackendDefaults = &spec.BackendDefaults{ClientPolicy: &spec.ClientPolicy{TLS: ct}}
	}
	prefix := "/"
	gwSnap := &spec.Snapshot{
		MeshName:       "color-mesh",
		VirtualGateway: &spec.NamedVirtualGateway{Name: "colorgateway", Spec: gw},
		GatewayRoutes: []spec.NamedGatewayRoute{{Name: "to-colorteller", Spec: spec.GatewayRouteSpec{HTTPRoute: &spec.HTTPGatewayRoute{
			Match:  &spec.HTTPRouteMatch{Prefix: &prefix},
			Action: &spec.HTTPGatewayRouteAction{Target: &spec.GatewayRouteTarget{VirtualService: &spec.GatewayRouteService{VirtualServiceName: "colorteller.mesh.local"}}},
		}}}},
		VirtualServices: []spec.NamedVirtualService{{Name: "colorteller.mesh.local", Spec: spec.VirtualServiceSpec{Provider: &spec.VirtualServiceProvider{VirtualNode: &spec.VirtualNodeProvider{VirtualNodeName: "colorteller"}}}}},
		VirtualNodes:    []spec.NamedVirtualNode{{Name: "colorteller", Spec: node}},
	}
	g, err := New(Config{
		Snapshot: gwSnap, Logger: discard(), PollInterval: 20 * time.Millisecond, Clock: clock.WithNow(nil, o.gatewayNow),
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: 8080, Address: "127.0.0.1:0"}}},
	})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	m.gateway = g
	m.gwURL = "http://" + g.ListenerAddr(8080)
	m.run(g)
	return m
}

func (m *testMesh) run(p *Proxy) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	m.t.Cleanup(func() { cancel(); <-done })
	testwait.For(m.t, 0, "the condition", func() bool { return p.State() == "LIVE" })
}

// get sends one request through the gateway on a fresh client.
func (m *testMesh) get(path string) (int, string) {
	m.t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(m.gwURL + path)
	if err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminGet fetches an admin path from p.
func adminGet(t testing.TB, p *Proxy, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.AdminAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grepStats mimics `curl /stats | grep -E re` on a proxy.
func grepStats(t testing.TB, p *Proxy, substrs ...string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(adminGet(t, p, "/stats")))
	for sc.Scan() {
		for _, s := range substrs {
			if strings.Contains(sc.Text(), s) {
				out = append(out, sc.Text())
				break
			}
		}
	}
	return out
}

// stat reads one stat's value from /stats.
func stat(t testing.TB, p *Proxy, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(adminGet(t, p, "/stats"), "\n") {
		if n, v, ok := strings.Cut(line, ": "); ok && n == name {
			x, _ := strconv.ParseInt(v, 10, 64)
			return x
		}
	}
	return -1
}

// listenerStat names a stat of the sidecar's ingress listener.
func (m *testMesh) listenerStat(suffix string) string {
	return "listener." + strings.Replace(m.statAddr, ":", "_", 1) + "." + suffix
}

func (m *testMesh) clusterStat(suffix string) string {
	_, port, _ := net.SplitHostPort(m.appAddr)
	return "cluster.cds_egress_color-mesh_colorteller_http_" + port + "." + suffix
}
