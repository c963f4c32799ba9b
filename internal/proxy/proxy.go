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

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/admin"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
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
	// Clock tells the time (certificate validity, drain deadlines,
	// outlier ejection, access-log timings) and makes the timers of health
	// checks, ticket key rotation and certificate polling; nil means the
	// real clock.
	Clock clock.Clock
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
	// ResolveTimeout bounds loading the certificate sources a snapshot
	// adds (ACM, Secrets Manager, files) in New and Update; zero means
	// 30s. Sources are loaded before the proxy's lock is taken, so a slow
	// service delays only the update, never traffic or the admin API.
	ResolveTimeout time.Duration
	// HandleSIGHUP makes Run reload every certificate source on SIGHUP.
	// OnSIGHUP, when set, runs first (launch expires remote caches there),
	// so one goroutine handles the signal.
	HandleSIGHUP bool
	// OnSIGHUP runs on every SIGHUP before the sources are re-checked;
	// nil means nothing extra. Only used with HandleSIGHUP.
	OnSIGHUP func()
	// SignalHUP, when set, replaces the process's SIGHUP as the reload
	// signal (tests send on it); nil means SIGHUP. Only used with
	// HandleSIGHUP.
	SignalHUP <-chan os.Signal
	// Version is reported by /server_info.
	Version string
	// NetHTTPOnly serves every HTTP connection with net/http's server and
	// ReverseProxy instead of the HTTP/1.1 forwarding path (h1serve.go):
	// for comparison in tests and benchmarks, and as a way back should
	// the forwarding path misbehave. False (the default) forwards
	// HTTP/1.1 on "http" listeners with the forwarding path.
	NetHTTPOnly bool

	// healthInterval, when set, replaces every health check's
	// intervalMillis (and caps timeoutMillis): tests only, as App Mesh
	// allows no interval under 5s.
	healthInterval time.Duration
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

	// updateMu serialises New's and Update's resolve-then-apply, so the
	// sources resolved outside mu are still the proxy's when applied.
	updateMu sync.Mutex
	drains   sync.WaitGroup // replaced listeners still draining

	mu        sync.Mutex // guards everything below
	snap      *spec.Snapshot
	sources   map[string]*sourceEntry // in use by the current generation
	gen       *generation
	clusters  map[string]*cluster
	listeners map[string]*listener
	runCtx    context.Context
	adminLn   net.Listener
	state     atomic.Value // "PRE_INITIALIZING", "LIVE", "DRAINING"
	stopped   bool         // Run has drained; Update is refused
	closers   []io.Closer
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
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.DrainWindow == 0 {
		cfg.DrainWindow = 30 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.ResolveTimeout <= 0 {
		cfg.ResolveTimeout = 30 * time.Second
	}
	if cfg.Settings.AdminAddress == "" {
		cfg.Settings.AdminAddress = "127.0.0.1:9901"
	}
	if cfg.Settings.AppHost == "" {
		cfg.Settings.AppHost = "127.0.0.1"
	}
	p := &Proxy{
		cfg: cfg, stats: cfg.Stats, log: cfg.Logger,
		sources:  map[string]*sourceEntry{},
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
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	res := p.resolveSources(context.Background(), cfg.Snapshot)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.apply(cfg.Snapshot, res); err != nil {
		p.closeAll()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Settings.AdminAddress)
	if err != nil {
		p.closeAll()
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

func (p *Proxy) now() time.Time { return p.cfg.Clock.Now() }

func (p *Proxy) requestID() string {
	return strconv.FormatInt(p.start.UnixNano(), 36) + "-" + strconv.FormatUint(p.reqSeq.Add(1), 36)
}

// closeAll releases what a failed New holds. Callers hold p.mu.
func (p *Proxy) closeAll() {
	for _, l := range p.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
	for _, c := range p.clusters {
		c.retire()
	}
	if p.gen != nil {
		p.releaseGeneration(p.gen)
		p.gen = nil
	}
	for _, c := range p.closers {
		c.Close()
	}
}

// apply builds everything the snapshot asks for from the sources res
// resolved, swaps it in and releases the previous generation; on error
// nothing in use changes (new listeners, TLS servers and sources made
// meanwhile are closed). It reports what changed. Callers hold p.mu.
func (p *Proxy) apply(snap *spec.Snapshot, res map[string]resolved) (changes, error) {
	b := &builder{p: p, snap: snap, clusters: map[string]*cluster{}, gen: newGeneration(),
		resolved: res, fresh: map[string]*sourceEntry{}}
	specs, err := listenerSpecs(snap, p.cfg.Settings)
	if err != nil {
		return changes{}, err
	}
	if err := checkEnforceable(snap); err != nil {
		return changes{}, err
	}
	type staged struct {
		l     *listener
		fresh bool
		tls   *listenerTLS
		route router
	}
	var stage []staged
	abort := func(err error) (changes, error) {
		for _, s := range stage {
			if s.fresh && s.l.ln != nil {
				s.l.ln.Close()
			}
		}
		for name, c := range b.clusters {
			if p.clusters[name] != c {
				c.retire()
			}
		}
		discardGeneration(b.gen)
		return changes{}, err
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
			hc := ls.spec.HealthCheck
			if hc != nil && hc.Port == 0 {
				h := *hc
				h.Port = ls.spec.PortMapping.Port
				hc = &h
			}
			c, err = b.cluster(name, net.JoinHostPort(p.cfg.Settings.AppHost, strconv.Itoa(ls.spec.PortMapping.Port)), ls.spec.PortMapping.Protocol, nil,
				clusterOpts{pool: ls.spec.ConnectionPool, health: hc})
			pol := listenerPolicy(ls.spec)
			st.route = func(*http.Request) (routeResult, bool) { return routeResult{cluster: c, policy: pol}, true }
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
	var ch changes
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
			p.drainListener(old)
			ch.listenersReplaced = append(ch.listenersReplaced, s.l.addr)
		} else if !ok {
			ch.listenersAdded = append(ch.listenersAdded, s.l.addr)
		}
		p.listeners[s.l.key] = s.l
		if s.fresh && p.runCtx != nil {
			go p.serveListener(s.l)
		}
	}
	for k, l := range p.listeners {
		if !keep[k] {
			delete(p.listeners, k)
			p.drainListener(l)
			ch.listenersRemoved = append(ch.listenersRemoved, l.addr)
		}
	}
	for name, c := range p.clusters {
		if b.clusters[name] != c {
			c.retire()
			if _, ok := b.clusters[name]; !ok {
				ch.clustersRemoved = append(ch.clustersRemoved, name)
			} else {
				ch.clustersChanged = append(ch.clustersChanged, name)
			}
		}
	}
	for name, c := range b.clusters {
		if _, ok := p.clusters[name]; !ok {
			ch.clustersAdded = append(ch.clustersAdded, name)
		}
		if p.runCtx != nil {
			c.prot.start(p.runCtx)
		}
	}
	before := sourceNames(p.sources)
	p.clusters = b.clusters
	p.snap = snap
	p.commitGeneration(b.gen)
	ch.sourcesAdded, ch.sourcesRemoved = diffNames(before, sourceNames(p.sources))
	return ch, nil
}

// drainListener shuts a replaced or removed listener down in the
// background, bounded by ShutdownTimeout; Run waits for it.
func (p *Proxy) drainListener(l *listener) {
	p.drains.Add(1)
	go func() {
		defer p.drains.Done()
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
		defer cancel()
		_ = l.shutdown(ctx)
	}()
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
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return errors.New("proxy: stopped; the update is not applied")
	}
	res := p.resolveSources(context.Background(), snap)
	p.mu.Lock()
	ch, err := p.apply(snap, res)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.logChanges(ch)
	return nil
}

// Run serves until ctx ends, then drains gracefully (HTTP/2 GOAWAY,
// HTTP/1.1 connections closed when idle) for at most ShutdownTimeout,
// listeners replaced by earlier updates included. When Run returns every
// goroutine it or Update started has been told to stop and the proxy
// refuses further updates.
func (p *Proxy) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	if p.runCtx != nil {
		p.mu.Unlock()
		return errors.New("proxy: Run called twice")
	}
	p.runCtx = runCtx
	for _, e := range p.sources {
		p.startSource(e)
	}
	if p.gen != nil {
		for _, s := range p.gen.tlsServers {
			go s.Run(runCtx)
		}
	}
	for _, l := range p.listeners {
		go p.serveListener(l)
	}
	for _, c := range p.clusters {
		c.prot.start(runCtx)
	}
	adm := &http.Server{Handler: admin.Handler(p), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = adm.Serve(p.adminLn) }()
	p.logStart()
	p.mu.Unlock()
	p.state.Store("LIVE")
	if p.cfg.HandleSIGHUP {
		hup := p.cfg.SignalHUP
		if hup == nil {
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGHUP)
			defer signal.Stop(c)
			hup = c
		}
		go func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case <-hup:
					p.log.Info("SIGHUP: re-checking every certificate source")
					if p.cfg.OnSIGHUP != nil {
						p.cfg.OnSIGHUP()
					}
					p.ReloadCertificates()
				}
			}
		}()
	}
	<-ctx.Done()
	p.state.Store("DRAINING")
	p.log.Info("proxy draining", "timeout", p.cfg.ShutdownTimeout)
	sctx, scancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer scancel()
	p.updateMu.Lock() // no update may start listeners behind the drain
	defer p.updateMu.Unlock()
	p.mu.Lock()
	p.stopped = true
	ls := make([]*listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.shutdown(sctx) }()
	}
	wg.Wait()
	// Listeners replaced by updates drain under their own ShutdownTimeout;
	// wait for them too, but never past this drain's deadline.
	drained := make(chan struct{})
	go func() { p.drains.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-sctx.Done():
		p.log.Warn("replaced listeners still draining at the shutdown deadline")
	}
	p.mu.Lock()
	for _, c := range p.clusters {
		c.retire()
	}
	if p.gen != nil {
		p.releaseGeneration(p.gen)
		p.gen = nil
	}
	p.mu.Unlock()
	_ = adm.Shutdown(sctx)
	for _, c := range p.closers {
		c.Close()
	}
	p.log.Info("proxy stopped")
	return nil
}

// ReloadCertificates asks every certificate source in use to check for
// changes now (what SIGHUP does).
func (p *Proxy) ReloadCertificates() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.sources {
		e.r.Trigger()
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
