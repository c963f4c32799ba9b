package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// upConn is one pooled HTTP/1.1 upstream connection.
type upConn struct {
	conn net.Conn // *tls.Conn or *trackedConn: closing it runs the cluster's hooks
	// br is taken from the pool when the response's first byte has
	// arrived (TLS) or when the exchange starts (plaintext) and returned
	// with the connection: a pooled connection, and a TLS one waiting for
	// its response, hold no buffer. The request is written through a
	// pooled writer returned as soon as it is flushed.
	br   *bufio.Reader
	pre  prefixReader
	tls  bool
	idle time.Time

	deadline   bool // a route timeout set a deadline on conn
	gotBytes   bool // the current exchange read response bytes
	fromClient bool // the current exchange failed reading the client's body
}

func (u *upConn) close() {
	u.conn.Close()
	u.release()
}

func (u *upConn) release() {
	if u.br != nil {
		putReader(u.br)
		u.br = nil
	}
}

// take readies the connection for an exchange.
func (u *upConn) take() *upConn {
	u.gotBytes, u.fromClient = false, false
	return u
}

// reader returns the connection's read buffer, taking one from the pool
// when it has none. A TLS connection first waits for the response's
// first byte without a buffer (crypto/tls holds the record it decrypted,
// so this costs no system call); a plaintext one takes the buffer now,
// since the extra one-byte read would be a system call per response.
func (u *upConn) reader() (*bufio.Reader, error) {
	if u.br != nil {
		return u.br, nil
	}
	if !u.tls {
		u.br = getReader(u.conn)
		return u.br, nil
	}
	n, err := u.conn.Read(u.pre.b[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	u.pre.conn, u.pre.has = u.conn, true
	u.br = getReader(&u.pre)
	return u.br, nil
}

// h1Pool is a cluster's pool of idle HTTP/1.1 upstream connections, most
// recently used first; it dials with the cluster's dialers, so stats,
// TLS verification and certificate-bound expiry are the Transport's.
type h1Pool struct {
	c      *cluster
	mu     sync.Mutex
	idle   []*upConn
	closed bool
	reaper *time.Timer
}

// get returns an idle connection (reused) or dials one, bounded by the
// dialer's timeout and deadline when set.
func (p *h1Pool) get(deadline time.Time) (*upConn, bool, error) {
	p.mu.Lock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		u := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if time.Since(u.idle) < upstreamIdleTimeout {
			p.mu.Unlock()
			return u.take(), true, nil
		}
		p.mu.Unlock()
		u.close()
		p.mu.Lock()
	}
	p.mu.Unlock()
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	_, isTLS := conn.(*tls.Conn)
	return (&upConn{conn: conn, tls: isTLS}).take(), false, nil
}

// dial opens a new upstream connection. A TLS handshake runs on a
// goroutine of its own that ends with it: certificate verification and
// key exchange grow a goroutine's stack to tens of KiB, which the
// connection's long-lived goroutine would otherwise keep (the runtime
// shrinks a stack only by half per collection), and a thousand
// connections carried a thousand such stacks. One hand-off per new
// connection, none per request.
func (p *h1Pool) dial(ctx context.Context) (net.Conn, error) {
	if p.c.tls == nil {
		return p.c.dial(ctx, "tcp", p.c.addr)
	}
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := p.c.dialTLS(ctx, "tcp", p.c.addr)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// put returns a connection whose exchange completed cleanly.
func (p *h1Pool) put(u *upConn) {
	if u.pre.has || (u.br != nil && u.br.Buffered() > 0) { // bytes past the response: not reusable
		u.close()
		return
	}
	u.release()
	if u.deadline {
		if u.conn.SetDeadline(time.Time{}) != nil {
			u.close()
			return
		}
		u.deadline = false
	}
	u.idle = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleUpstream || p.c.tr.DisableKeepAlives {
		p.mu.Unlock()
		u.close()
		return
	}
	p.idle = append(p.idle, u)
	if p.reaper == nil {
		p.reaper = time.AfterFunc(upstreamIdleTimeout, p.reap)
	}
	p.mu.Unlock()
}

// reap closes connections idle for upstreamIdleTimeout and re-arms while
// any remain.
func (p *h1Pool) reap() {
	p.mu.Lock()
	var old []*upConn
	keep := p.idle[:0]
	for _, u := range p.idle {
		if time.Since(u.idle) >= upstreamIdleTimeout {
			old = append(old, u)
		} else {
			keep = append(keep, u)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.reaper = nil
	if len(keep) > 0 && !p.closed {
		p.reaper = time.AfterFunc(upstreamIdleTimeout, p.reap)
	}
	p.mu.Unlock()
	for _, u := range old {
		u.close()
	}
}

// closeIdle closes the idle connections (a drain); with retire set the
// pool also stops keeping any.
func (p *h1Pool) closeIdle(retire bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if retire {
		p.closed = true
		if p.reaper != nil {
			p.reaper.Stop()
			p.reaper = nil
		}
	}
	p.mu.Unlock()
	for _, u := range idle {
		u.close()
	}
}

// codeStats are a cluster's counters for one response status.
type codeStats struct{ exact, class *stats.Counter }

// countCode counts an upstream response status (upstream_rq_200,
// upstream_rq_2xx) without building the names per request.
func (c *cluster) countCode(code int) {
	if code < 100 || code > 599 {
		exact, class := stats.UpstreamRqCode(code)
		c.p.stats.Counter(c.prefix + exact).Inc()
		c.p.stats.Counter(c.prefix + class).Inc()
		return
	}
	slot := &c.codes[code-100]
	cs := slot.Load()
	if cs == nil {
		exact, class := stats.UpstreamRqCode(code)
		cs = &codeStats{c.p.stats.Counter(c.prefix + exact), c.p.stats.Counter(c.prefix + class)}
		slot.Store(cs)
	}
	cs.exact.Inc()
	cs.class.Inc()
}

// codeSlots is one atomic slot per status 100..599.
type codeSlots [500]atomic.Pointer[codeStats]

// forwardsH1 reports whether the forwarding path can send a request to
// this cluster under policy: an HTTP/1.1 upstream, no retries (their
// replay and per-try logic live in clusterTransport) and no connection
// limit (the Transport's MaxConnsPerHost enforces it).
func (c *cluster) forwardsH1(policy *reqPolicy) bool {
	return c.protocol == "http" && !c.connLimit && (policy == nil || policy.retry == nil)
}
