package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/admin"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/proxy/tlsconf"
)

// Config configures a Proxy. Snapshot is required; every other zero value
// has the documented default.
type Config struct {
	// Snapshot is the proxy's resource and what it routes to.
	Snapshot *spec.Snapshot
	// Settings are the local settings (addresses). Zero values: admin on
	// 127.0.0.1:9901, a node's first listener on 0.0.0.0:15000, app on
	// 127.0.0.1, no egress listener.
	Settings spec.ProxySettings
	// Sources resolves certificate references; nil means FileSources
	// (file only: sds and acm references are refused).
	Sources SourceFactory
	// Stats is the statistics store; nil means a new one.
	Stats *stats.Store
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
	// AccessLog receives one JSON line per request; nil means the spec's
	// logging.accessLog.file.path if set ("/dev/stdout" works), else none.
	AccessLog io.Writer
	// Now is the clock for certificate validity and drain deadlines; nil
	// means time.Now.
	Now func() time.Time
	// PollInterval is how often certificate sources are checked; zero
	// means certsource.DefaultPollInterval.
	PollInterval time.Duration
	// TicketKeyRotation is the session ticket key lifetime; zero means
	// tlsconf.DefaultTicketKeyRotation.
	TicketKeyRotation time.Duration
	// DrainWindow is how long before a connection's earliest certificate
	// NotAfter it starts draining; zero means 30s. Connections are closed
	// outright 100ms before NotAfter whatever happens.
	DrainWindow time.Duration
	// ShutdownTimeout bounds graceful drain when Run's context ends; zero
	// means 20s.
	ShutdownTimeout time.Duration
	// HandleSIGHUP makes Run reload every certificate source on SIGHUP.
	HandleSIGHUP bool
	// Version is reported by /server_info.
	Version string
}

// Proxy is one running data plane. Create it with New, serve with Run,
// change it with Update.
type Proxy struct {
	cfg    Config
	stats  *stats.Store
	log    *slog.Logger
	access *accessLog
	rp     *httputil.ReverseProxy
	start  time.Time
	reqSeq atomic.Uint64

	mu         sync.Mutex // guards everything below
	snap       *spec.Snapshot
	reloaders  map[string]*certsource.Reloader
	subscribed map[string]bool
	clusters   map[string]*cluster
	listeners  map[string]*listener
	tlsServers []*tlsconf.Server
	runCtx     context.Context
	adminLn    net.Listener
	state      atomic.Value // "PRE_INITIALIZING", "LIVE", "DRAINING"
	closers    []io.Closer
}

// New validates the snapshot, loads every certificate it references
// (failing on unusable material) and binds the listeners, so their
// addresses are known before Run.
func New(cfg Config) (*Proxy, error) {
	if cfg.Snapshot == nil {
		return nil, errors.New("proxy: Config.Snapshot is required")
	}
	if err := cfg.Snapshot.Validate(); err != nil {
		return nil, err
	}
	if cfg.Sources == nil {
		cfg.Sources = FileSources
	}
	if cfg.Stats == nil {
		cfg.Stats = stats.NewStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DrainWindow == 0 {
		cfg.DrainWindow = 30 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.Settings.AdminAddress == "" {
		cfg.Settings.AdminAddress = "127.0.0.1:9901"
	}
	if cfg.Settings.AppHost == "" {
		cfg.Settings.AppHost = "127.0.0.1"
	}
	p := &Proxy{
		cfg: cfg, stats: cfg.Stats, log: cfg.Logger,
		reloaders: map[string]*certsource.Reloader{}, subscribed: map[string]bool{},
		clusters: map[string]*cluster{}, listeners: map[string]*listener{},
	}
	p.start = p.now()
	p.state.Store("PRE_INITIALIZING")
	p.rp = p.newReverseProxy()
	p.access = &accessLog{w: cfg.AccessLog}
	if cfg.AccessLog == nil {
		if path := accessLogPath(cfg.Snapshot); path != "" {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return nil, fmt.Errorf("proxy: access log: %w", err)
			}
			p.access.w = f
			p.closers = append(p.closers, f)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.apply(cfg.Snapshot); err != nil {
		p.closeListeners()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Settings.AdminAddress)
	if err != nil {
		p.closeListeners()
		return nil, fmt.Errorf("proxy: admin listener: %w", err)
	}
	p.adminLn = ln
	return p, nil
}

func accessLogPath(s *spec.Snapshot) string {
	var l *spec.Logging
	if s.VirtualNode != nil {
		l = s.VirtualNode.Spec.Logging
	} else if s.VirtualGateway != nil {
		l = s.VirtualGateway.Spec.Logging
	}
	if l == nil || l.AccessLog == nil || l.AccessLog.File == nil {
		return ""
	}
	return l.AccessLog.File.Path
}

func (p *Proxy) now() time.Time {
	if p.cfg.Now != nil {
		return p.cfg.Now()
	}
	return time.Now()
}

func (p *Proxy) requestID() string {
	return strconv.FormatInt(p.start.UnixNano(), 36) + "-" + strconv.FormatUint(p.reqSeq.Add(1), 36)
}

func (p *Proxy) closeListeners() {
	for _, l := range p.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// apply builds everything the snapshot asks for and swaps it in; on error
// nothing in use changes (new listeners opened meanwhile are closed).
// Callers hold p.mu.
func (p *Proxy) apply(snap *spec.Snapshot) error {
	b := &builder{p: p, snap: snap, clusters: map[string]*cluster{}}
	specs, err := listenerSpecs(snap, p.cfg.Settings)
	if err != nil {
		return err
	}
	type staged struct {
		l     *listener
		fresh bool
		tls   *listenerTLS
		route router
	}
	var stage []staged
	abort := func(err error) error {
		for _, s := range stage {
			if s.fresh && s.l.ln != nil {
				s.l.ln.Close()
			}
		}
		return err
	}
	for _, ls := range specs {
		l, ok := p.listeners[ls.key]
		fresh := !ok || l.addr != ls.addr || l.protocol != ls.spec.PortMapping.Protocol
		if fresh {
			l = p.newListener(ls.key, ls.addr, ls.spec.PortMapping.Port, ls.spec.PortMapping.Protocol)
			if err := l.bind(); err != nil {
				return abort(fmt.Errorf("proxy: listener %s: %w", ls.addr, err))
			}
		}
		st := staged{l: l, fresh: fresh}
		stage = append(stage, st)
		if st.tls, err = b.listenerTLS(l, ls.spec.TLS); err != nil {
			return abort(fmt.Errorf("proxy: listener %s tls: %w", ls.addr, err))
		}
		if snap.VirtualGateway != nil {
			st.route, err = b.gatewayRouter(ls.spec.PortMapping.Port)
		} else {
			name := fmt.Sprintf("cds_ingress_%s_%s_%s_%d", snap.MeshName, snap.VirtualNode.Name, ls.spec.PortMapping.Protocol, ls.spec.PortMapping.Port)
			var c *cluster
			c, err = b.cluster(name, net.JoinHostPort(p.cfg.Settings.AppHost, strconv.Itoa(ls.spec.PortMapping.Port)), ls.spec.PortMapping.Protocol, nil)
			st.route = func(*http.Request) (routeResult, bool) { return routeResult{cluster: c}, true }
		}
		if err != nil {
			return abort(err)
		}
		stage[len(stage)-1] = st
	}
	if snap.VirtualNode != nil && p.cfg.Settings.EgressAddress != "" {
		l, ok := p.listeners["egress"]
		fresh := !ok
		if fresh {
			l = p.newListener("egress", p.cfg.Settings.EgressAddress, 0, spec.ProtocolHTTP)
			if err := l.bind(); err != nil {
				return abort(fmt.Errorf("proxy: egress listener: %w", err))
			}
		}
		r, err := b.egressRouter()
		stage = append(stage, staged{l: l, fresh: fresh, route: r})
		if err != nil {
			return abort(err)
		}
	}
	// Commit: nothing below fails.
	keep := map[string]bool{}
	for _, s := range stage {
		keep[s.l.key] = true
		if s.tls != nil {
			s.l.tls.Store(s.tls)
		} else {
			s.l.tls.Store(nil)
		}
		r := s.route
		s.l.route.Store(&r)
		if old, ok := p.listeners[s.l.key]; ok && old != s.l {
			go old.shutdown(context.Background())
		}
		p.listeners[s.l.key] = s.l
		if s.fresh && p.runCtx != nil {
			go p.serveListener(s.l)
		}
	}
	for k, l := range p.listeners {
		if !keep[k] {
			delete(p.listeners, k)
			go l.shutdown(context.Background())
		}
	}
	for name, c := range p.clusters {
		if b.clusters[name] != c {
			c.close()
		}
	}
	p.clusters = b.clusters
	p.snap = snap
	return nil
}

func (p *Proxy) serveListener(l *listener) {
	if err := l.serve(); err != nil {
		p.log.Error("listener stopped", "address", l.addr, "error", err)
	}
}

// Update applies a new snapshot (a control-plane change) without a
// restart: listeners whose address and protocol are unchanged keep their
// connections and pick up new TLS settings and routes for new requests;
// clusters whose settings are unchanged keep their pools. An invalid
// snapshot or unusable certificate is refused and the old one stays.
func (p *Proxy) Update(snap *spec.Snapshot) error {
	if snap == nil {
		return errors.New("proxy: nil snapshot")
	}
	if err := snap.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.apply(snap)
}

// Run serves until ctx ends, then drains gracefully (HTTP/2 GOAWAY,
// HTTP/1.1 connections closed when idle) for at most ShutdownTimeout.
func (p *Proxy) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	p.runCtx = runCtx
	for _, r := range p.reloaders {
		_ = r.Start(runCtx)
	}
	for _, s := range p.tlsServers {
		go s.Run(runCtx)
	}
	for _, l := range p.listeners {
		go p.serveListener(l)
	}
	adm := &http.Server{Handler: admin.Handler(p), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = adm.Serve(p.adminLn) }()
	p.mu.Unlock()
	p.state.Store("LIVE")
	if p.cfg.HandleSIGHUP {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case <-hup:
					p.ReloadCertificates()
				}
			}
		}()
	}
	<-ctx.Done()
	p.state.Store("DRAINING")
	sctx, scancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer scancel()
	p.mu.Lock()
	ls := make([]*listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
	}
	cs := p.clusters
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.shutdown(sctx) }()
	}
	wg.Wait()
	for _, c := range cs {
		c.close()
	}
	_ = adm.Shutdown(sctx)
	for _, c := range p.closers {
		c.Close()
	}
	return nil
}

// ReloadCertificates asks every certificate source to check for changes
// now (what SIGHUP does).
func (p *Proxy) ReloadCertificates() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.reloaders {
		r.Trigger()
	}
}

// Stats returns the proxy's statistics store.
func (p *Proxy) Stats() *stats.Store { return p.stats }

// AdminAddr returns the admin listener's bound address.
func (p *Proxy) AdminAddr() string { return p.adminLn.Addr().String() }

// ListenerAddr returns the bound address of the listener for a spec
// port (a node's or gateway's portMapping.port), or "" if there is none.
func (p *Proxy) ListenerAddr(port int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range []string{"ingress:", "gateway:"} {
		if l, ok := p.listeners[k+strconv.Itoa(port)]; ok {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// EgressAddr returns the egress listener's bound address, or "".
func (p *Proxy) EgressAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.listeners["egress"]; ok {
		return l.ln.Addr().String()
	}
	return ""
}
