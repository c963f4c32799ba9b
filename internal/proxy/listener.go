package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/proxy/tlsconf"
)

// handshakeTimeout bounds protocol sniffing and the TLS handshake.
const handshakeTimeout = 10 * time.Second

// listenerTLS is a listener's TLS settings, swapped whole on Update.
type listenerTLS struct {
	mode string // STRICT, PERMISSIVE or DISABLED
	srv  *tlsconf.Server
	cert *certsource.Reloader
	ssl  *stats.SSL
}

// router picks where a request goes; ok=false answers 404.
type router func(r *http.Request) (routeResult, bool)

// listener is one downstream listener.
type listener struct {
	p        *Proxy
	key      string // "ingress:<port>", "gateway:<port>" or "egress"
	addr     string // configured address
	port     int    // spec port (the app's port for a sidecar)
	protocol string

	ln    net.Listener
	tls   atomic.Pointer[listenerTLS] // nil: plaintext
	route atomic.Pointer[router]
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	tcp   sync.WaitGroup

	// The forwarding path's connections (h1serve.go), drained by shutdown.
	h1mu    sync.Mutex
	h1conns map[*connInfo]struct{}
	h1wg    sync.WaitGroup

	cxTotal, cxDestroy *stats.Counter
	cxActive           *stats.Gauge
	rqTotal            *stats.Counter
}

func (p *Proxy) newListener(key, addr string, port int, protocol string) *listener {
	l := &listener{p: p, key: key, addr: addr, port: port, protocol: protocol, conns: make(chan net.Conn), done: make(chan struct{})}
	if protocol == spec.ProtocolTCP {
		return l
	}
	// Built here, not in serve, so shutdown may run before serve starts.
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	if protocol == spec.ProtocolHTTP2 || protocol == spec.ProtocolGRPC {
		protos.SetUnencryptedHTTP2(true)
	}
	l.srv = &http.Server{
		Handler:           l,
		Protocols:         protos,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connInfoKey{}, infoOf(c))
		},
	}
	return l
}

// bind opens the socket and registers the stats under the bound address
// (so "0.0.0.0:15000" gives listener.0.0.0.0_15000.*).
func (l *listener) bind() error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.ln = ln
	pre := l.prefix()
	s := l.p.stats
	l.cxTotal = s.Counter(pre + stats.DownstreamCxTotal)
	l.cxActive = s.Gauge(pre + stats.DownstreamCxActive)
	l.cxDestroy = s.Counter(pre + stats.DownstreamCxDestroy)
	l.rqTotal = s.Counter(pre + stats.DownstreamRqTotal)
	return nil
}

// prefix is the listener's stat prefix from its bound address.
func (l *listener) prefix() string {
	if l.ln != nil {
		host, _, _ := net.SplitHostPort(l.addr)
		_, port, _ := net.SplitHostPort(l.ln.Addr().String())
		return stats.ListenerPrefix(net.JoinHostPort(host, port))
	}
	return stats.ListenerPrefix(l.addr)
}

func (l *listener) serve() error {
	go l.acceptLoop()
	if l.protocol == spec.ProtocolTCP {
		<-l.done
		return nil
	}
	err := l.srv.Serve(chanListener{l})
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

type connInfoKey struct{}

func infoOf(c net.Conn) *connInfo {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	switch t := c.(type) {
	case *trackedConn:
		return t.info
	case *peekedConn:
		return t.info
	case *replayConn:
		return t.info
	}
	return &connInfo{close: func() { c.Close() }}
}

// chanListener hands http.Server connections that are already past the
// TLS handshake (or sniffed as plaintext), so handshakes run in parallel
// and their failures are counted here.
type chanListener struct{ l *listener }

func (c chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.l.conns:
		return conn, nil
	case <-c.l.done:
		return nil, net.ErrClosed
	}
}
func (c chanListener) Close() error   { return nil }
func (c chanListener) Addr() net.Addr { return c.l.ln.Addr() }

func (l *listener) acceptLoop() {
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.cxTotal.Inc()
		l.cxActive.Inc()
		tc := newTrackedConn(raw, func() { l.cxActive.Dec(); l.cxDestroy.Inc() })
		go l.setup(tc)
	}
}

// setup sniffs the protocol, runs the handshake and hands the connection
// on, scheduling its drain by the certificates the handshake used.
func (l *listener) setup(tc *trackedConn) {
	st := l.tls.Load()
	_ = tc.SetDeadline(l.p.now().Add(handshakeTimeout))
	useTLS := st != nil && st.mode != spec.ModeDisabled
	var conn net.Conn = tc
	if st != nil && st.mode == spec.ModePermissive {
		br := bufio.NewReader(tc)
		b, err := br.Peek(1)
		if err != nil {
			tc.Close()
			return
		}
		useTLS = b[0] == 0x16 // TLS handshake record
		conn = &peekedConn{trackedConn: tc, r: br}
	}
	var deadline time.Time
	var cs *tls.ConnectionState
	if useTLS {
		t := tls.Server(conn, st.srv.Config())
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := t.HandshakeContext(ctx)
		cancel()
		if err != nil {
			if !tlsconf.IsVerifyError(err) {
				st.ssl.ConnectionError.Inc()
			}
			tc.Close()
			return
		}
		state := t.ConnectionState()
		cs = &state
		deadline = earliest(st.cert.Current().NotAfter(), peerNotAfter(state))
		conn = t
	}
	_ = tc.SetDeadline(time.Time{})
	drain := tc.info.drain
	if l.protocol == spec.ProtocolTCP {
		drain = func() { tc.Close() }
	}
	l.p.schedule(tc, deadline, drain)
	if l.protocol == spec.ProtocolTCP {
		l.tcp.Add(1)
		go l.serveTCP(conn)
		return
	}
	if l.fastH1(cs) {
		go l.serveH1(conn, tc, cs)
		return
	}
	select {
	case l.conns <- conn:
	case <-l.done:
		tc.Close()
	}
}

// serveTCP splices a downstream connection to the upstream cluster.
func (l *listener) serveTCP(down net.Conn) {
	defer l.tcp.Done()
	defer down.Close()
	rf := l.route.Load()
	if rf == nil {
		return
	}
	res, ok := (*rf)(nil)
	if !ok || res.cluster == nil || !res.cluster.prot.available() {
		return
	}
	release, admitted := res.cluster.prot.admit()
	if !admitted {
		res.cluster.cxOverflow.Inc()
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	up, err := res.cluster.dialTCP(ctx)
	cancel()
	if err != nil {
		res.cluster.prot.observe(0, true)
		return
	}
	res.cluster.prot.observe(0, false)
	defer up.Close()
	res.cluster.rqTotal.Inc()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, down)
	go pipe(down, up)
	// Both directions end (each half-closes the other side), or the
	// listener shuts down; either way the deferred closes end the copies.
	for finished := 0; finished < 2; finished++ {
		select {
		case <-done:
		case <-l.done:
			return
		}
	}
}

// shutdown stops accepting and drains: HTTP connections finish their
// requests (h2 gets GOAWAY) until ctx ends; TCP streams are closed then.
func (l *listener) shutdown(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		if l.ln != nil {
			l.ln.Close()
		}
		close(l.done)
		h1done := make(chan struct{})
		go func() { l.shutdownH1(ctx); close(h1done) }()
		if l.srv != nil {
			err = l.srv.Shutdown(ctx)
		}
		<-h1done
		waited := make(chan struct{})
		go func() { l.tcp.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
		}
		if l.srv != nil && err != nil {
			l.srv.Close()
		}
	})
	return err
}
