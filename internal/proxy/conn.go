package proxy

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackedConn runs onClose exactly once when closed (stat gauges, drain
// timers) and carries the downstream connection's drain state.
type trackedConn struct {
	net.Conn
	once    sync.Once
	mu      sync.Mutex
	onClose []func()
	info    *connInfo
}

func newTrackedConn(c net.Conn, onClose func()) *trackedConn {
	t := &trackedConn{Conn: c, info: &connInfo{}}
	t.info.close = func() { t.Close() }
	t.addOnClose(onClose)
	return t
}

func (t *trackedConn) addOnClose(fn func()) {
	t.mu.Lock()
	t.onClose = append(t.onClose, fn)
	t.mu.Unlock()
}

// Close closes the connection and runs the close hooks once.
func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(func() {
		t.mu.Lock()
		fns := t.onClose
		t.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	})
	return err
}

// connInfo is the drain state of one downstream connection, reachable
// from its requests through the request context.
type connInfo struct {
	draining atomic.Bool
	active   atomic.Int32
	close    func()
	// tls is the handshake's state when the forwarding path handed the
	// connection to net/http, which then sees no *tls.Conn.
	tls *tls.ConnectionState
}

// requestStart marks a request in flight; done must be called when its
// response is written. A draining connection is closed once idle.
func (ci *connInfo) requestStart() (draining bool, done func()) {
	ci.active.Add(1)
	return ci.draining.Load(), func() {
		if ci.active.Add(-1) == 0 && ci.draining.Load() {
			// Give the server a moment to flush the response it just
			// finished; the Connection: close header already told the
			// client not to reuse it.
			time.AfterFunc(50*time.Millisecond, ci.close)
		}
	}
}

// drain starts draining: idle connections close now, busy ones after their
// in-flight requests (responses carry Connection: close, which HTTP/2
// turns into GOAWAY).
func (ci *connInfo) drain() {
	ci.draining.Store(true)
	if ci.active.Load() == 0 {
		ci.close()
	}
}

// peekedConn replays bytes read while sniffing the protocol.
type peekedConn struct {
	*trackedConn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// hardCloseMargin is how long before NotAfter a connection is closed
// outright if draining did not finish, so none outlives its certificates.
const hardCloseMargin = 100 * time.Millisecond

// schedule arranges drain at deadline-window and a hard close at
// deadline-hardCloseMargin, both cancelled when the connection closes.
func (p *Proxy) schedule(t *trackedConn, deadline time.Time, drain func()) {
	if deadline.IsZero() {
		return
	}
	now := p.now()
	drainIn := deadline.Add(-p.cfg.DrainWindow).Sub(now)
	closeIn := deadline.Add(-hardCloseMargin).Sub(now)
	if drainIn < 0 {
		drainIn = 0
	}
	if closeIn < 0 {
		closeIn = 0
	}
	d := time.AfterFunc(drainIn, drain)
	c := time.AfterFunc(closeIn, func() { t.Close() })
	t.addOnClose(func() { d.Stop(); c.Stop() })
}

// expireUpstream bounds an upstream connection by its certificates: idle
// pooled connections of the cluster are closed when draining starts, and
// this one is closed outright before deadline. The server side (a Bulwark
// sidecar computing the same deadline from the same two certificates)
// answers Connection: close / GOAWAY in between, so requests move to fresh
// connections.
func (p *Proxy) expireUpstream(t *trackedConn, deadline time.Time, c *cluster) {
	p.schedule(t, deadline, c.close)
}

// CloseWrite half-closes the connection when the underlying one can (TCP,
// TLS), so a spliced TCP stream passes the end of one direction on.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
