package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP/1.1 forwarding path. A downstream HTTP/1.1 connection (ALPN
// http/1.1 or none, on an "http" listener) is served by one goroutine that
// reads a request, writes it to a pooled upstream connection, reads the
// response and writes it back, with no other goroutine involved: no
// hand-off per request between net/http's connection reader, the
// Transport's read and write loops and the handler, which is where the
// time went (see docs/proxy.md, "HTTP/1.1 forwarding path"). Buffers come
// from pools and go back while a connection waits: for the upstream
// (every connection) or for its next request (TLS ones).
//
// Requests this path does not forward itself (an upstream speaking
// HTTP/2 or gRPC, a route with a retry policy, a connection pool limit,
// Upgrade, a request-target not in origin form) hand the connection, with
// the bytes already read, to the listener's net/http server and
// ReverseProxy for the rest of its life.

const (
	// h1IdleTimeout and h1HeaderTimeout are net/http's IdleTimeout and
	// ReadHeaderTimeout of the listener's server.
	h1IdleTimeout   = 5 * time.Minute
	h1HeaderTimeout = 30 * time.Second
	// upstreamIdleTimeout closes pooled upstream connections unused this
	// long (the Transport's IdleConnTimeout).
	upstreamIdleTimeout = 60 * time.Second
	// maxIdleUpstream is the pooled connections kept per cluster (the
	// Transport's MaxIdleConnsPerHost).
	maxIdleUpstream = 256
	// replayBodyMax: request bodies up to this size are read before the
	// upstream connection is picked, so a pooled connection the upstream
	// closed meanwhile can be retried on a new one.
	replayBodyMax = 16 << 10
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
	bodyPool   = sync.Pool{New: func() any { b := make([]byte, replayBodyMax); return &b }}
)

// bufsOut counts the pooled readers and writers taken and not yet
// returned, so tests can check what idle and waiting connections hold.
var bufsOut atomic.Int64

func getReader(r io.Reader) *bufio.Reader {
	bufsOut.Add(1)
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) { br.Reset(nil); readerPool.Put(br); bufsOut.Add(-1) }

func getWriter(w io.Writer) *bufio.Writer {
	bufsOut.Add(1)
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func putWriter(bw *bufio.Writer) { bw.Reset(nil); writerPool.Put(bw); bufsOut.Add(-1) }

// readError marks a failure reading the source of a copy (a client's
// request body, an upstream's response), as opposed to writing it on.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// h1conn is one downstream connection on the forwarding path.
type h1conn struct {
	l        *listener
	conn     net.Conn // *tls.Conn, *trackedConn or *peekedConn
	tc       *trackedConn
	info     *connInfo
	tls      *tls.ConnectionState
	remote   string
	clientIP string
	br       *bufio.Reader // nil while an idle TLS connection waits and while the upstream answers
	pre      prefixReader
	buf      []byte // head scratch
	head     h1Head
	uhead    h1Head
	// cur is the upstream connection of the exchange in flight, closed
	// with the downstream one (shutdown, certificate expiry) so a slow
	// upstream cannot hold the goroutine.
	cur atomic.Pointer[upConn]
}

// fastH1 reports whether a connection is served by the forwarding path.
func (l *listener) fastH1(cs *tls.ConnectionState) bool {
	return !l.p.cfg.NetHTTPOnly && l.protocol == "http" && (cs == nil || cs.NegotiatedProtocol != "h2")
}

// trackH1 registers a forwarding-path connection so shutdown can drain
// it; false when the listener is already shutting down.
func (l *listener) trackH1(ci *connInfo) bool {
	l.h1mu.Lock()
	defer l.h1mu.Unlock()
	select {
	case <-l.done:
		return false
	default:
	}
	if l.h1conns == nil {
		l.h1conns = map[*connInfo]struct{}{}
	}
	l.h1conns[ci] = struct{}{}
	l.h1wg.Add(1)
	return true
}

func (l *listener) untrackH1(ci *connInfo) {
	l.h1mu.Lock()
	delete(l.h1conns, ci)
	l.h1mu.Unlock()
	l.h1wg.Done()
}

// shutdownH1 drains the forwarding-path connections: idle ones close now,
// busy ones after their response; whatever is left when ctx ends closes.
func (l *listener) shutdownH1(ctx context.Context) {
	l.h1mu.Lock()
	for ci := range l.h1conns {
		ci.drain()
	}
	l.h1mu.Unlock()
	waited := make(chan struct{})
	go func() { l.h1wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		l.h1mu.Lock()
		for ci := range l.h1conns {
			ci.close()
		}
		l.h1mu.Unlock()
		<-waited
	}
}

// serveH1 serves a downstream connection until it closes, drains, fails
// or is handed to net/http. It runs on the goroutine that accepted it.
func (l *listener) serveH1(conn net.Conn, tc *trackedConn, cs *tls.ConnectionState) {
	c := &h1conn{l: l, conn: conn, tc: tc, info: tc.info, tls: cs, remote: conn.RemoteAddr().String()}
	c.clientIP, _ = hostPort(c.remote)
	if !l.trackH1(c.info) {
		tc.Close()
		return
	}
	defer l.untrackH1(c.info)
	tc.addOnClose(func() {
		if u := c.cur.Load(); u != nil {
			u.conn.Close()
		}
	})
	c.br = getReader(conn)
	handedOff := false
	defer func() {
		if !handedOff {
			tc.Close()
			if c.br != nil {
				putReader(c.br)
			}
		}
	}()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(h1IdleTimeout))
		if c.br == nil && c.tls == nil {
			c.br = getReader(conn)
		}
		if c.tls != nil && (c.br == nil || c.br.Buffered() == 0) {
			// An idle TLS connection waits on a one-byte read without a
			// read buffer (crypto/tls buffers the record), so a thousand
			// idle clients do not hold a thousand buffers. Plaintext
			// connections keep theirs: the extra read would be a syscall.
			c.releaseReader()
			n, err := conn.Read(c.pre.b[:])
			if n == 0 || (err != nil && err != io.EOF) {
				return
			}
			c.pre.conn, c.pre.has = conn, true
			c.br = getReader(&c.pre)
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(h1HeaderTimeout))
		s, buf, err := readHead(c.br, c.buf)
		c.buf = buf
		if err == nil {
			err = parseRequestHead(s, &c.head)
		}
		if err != nil {
			var he *h1Error
			if errors.As(err, &he) {
				c.local(he.status, he.msg+"\n", nil, true)
			}
			return
		}
		_ = conn.SetReadDeadline(time.Time{})
		r, err := c.request()
		if err != nil {
			c.local(http.StatusBadRequest, "malformed request target\n", nil, true)
			return
		}
		var res routeResult
		routed := false
		if r != nil {
			if rf := l.route.Load(); rf != nil {
				res, routed = (*rf)(r)
			}
		}
		if r == nil || (routed && res.cluster != nil && !res.cluster.forwardsH1(res.policy)) {
			handedOff = c.handoff(s)
			return
		}
		if !c.serve(r, &res, routed) {
			return
		}
	}
}

// releaseReader returns the connection's read buffer to the pool when
// nothing is buffered in it (no pipelined request): while the upstream
// answers, and while a TLS connection is idle, the connection holds none.
func (c *h1conn) releaseReader() {
	if c.br != nil && c.br.Buffered() == 0 {
		putReader(c.br)
		c.br = nil
	}
}

// request builds the *http.Request routers and the access log read; nil
// when the request is for net/http (not origin-form, Upgrade).
func (c *h1conn) request() (*http.Request, error) {
	h := &c.head
	if h.target[0] != '/' || h.upgrade {
		return nil, nil
	}
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(h.fields))
	for _, f := range h.fields {
		k := textproto.CanonicalMIMEHeaderKey(f.name)
		hdr[k] = append(hdr[k], f.value)
	}
	r := &http.Request{
		Method: h.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: h.minor,
		Header: hdr, Host: h.host, RemoteAddr: c.remote, RequestURI: h.target, TLS: c.tls,
		Body: http.NoBody, Close: h.connClose,
	}
	if h.minor == 0 {
		r.Proto = "HTTP/1.0"
	}
	switch {
	case h.chunked:
		r.ContentLength = -1
	case h.contentLength > 0:
		r.ContentLength = h.contentLength
	}
	return r, nil
}

// prefixReader returns one byte already read, then reads on.
type prefixReader struct {
	conn net.Conn
	b    [1]byte
	has  bool
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.has && len(b) > 0 {
		b[0], p.has = p.b[0], false
		return 1, nil
	}
	return p.conn.Read(b)
}

// replayConn gives net/http a connection whose first bytes were already
// read by the forwarding path.
type replayConn struct {
	net.Conn
	r    io.Reader
	info *connInfo
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// handoff passes the connection, the head just read and whatever is
// buffered behind it, to the listener's net/http server.
func (c *h1conn) handoff(head string) bool {
	c.info.tls = c.tls
	rc := &replayConn{Conn: c.conn, r: io.MultiReader(strings.NewReader(head), c.br), info: c.info}
	select {
	case c.l.conns <- rc:
		return true
	case <-c.l.done:
		return false
	}
}

// serve answers one request; false closes the connection.
func (c *h1conn) serve(r *http.Request, res *routeResult, routed bool) bool {
	l, p, h := c.l, c.l.p, &c.head
	start := p.now()
	l.rqTotal.Inc()
	draining, done := c.info.requestStart()
	defer done()
	closeAfter := h.connClose || draining
	var status int
	var sent int64
	keep := false
	switch {
	case !routed:
		status, keep = http.StatusNotFound, c.local(http.StatusNotFound, "no route\n", nil, closeAfter || h.hasBody())
	case res.cluster == nil || !res.cluster.prot.available():
		status, keep = http.StatusServiceUnavailable, c.local(http.StatusServiceUnavailable, "no healthy upstream\n", nil, closeAfter || h.hasBody())
	default:
		release, admitted := res.cluster.prot.admit()
		if !admitted {
			status = http.StatusServiceUnavailable
			keep = c.local(status, "upstream connect error or disconnect/reset before headers. reset reason: overflow\n",
				[]string{"X-Envoy-Overflow: true"}, closeAfter || h.hasBody())
			break
		}
		res.cluster.rqTotal.Inc()
		status, sent, keep = c.forward(r, res, closeAfter)
		release()
	}
	if p.access.w != nil {
		p.access.log(l, r, &recorder{code: status, bytes: sent}, res, start, p.now())
	}
	return keep
}

// local writes a response of the proxy's own (as http.Error does);
// closing says the connection closes after it. It returns whether the
// connection stays open.
func (c *h1conn) local(code int, body string, extra []string, closing bool) bool {
	return c.writeLocal(code, "text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff", body, extra, closing)
}

// writeLocal writes a locally generated answer; contentType may carry
// further header lines after the type, joined by CRLF.
func (c *h1conn) writeLocal(code int, contentType, body string, extra []string, closing bool) bool {
	bw := getWriter(c.conn)
	defer putWriter(bw)
	writeStatusLine(bw, code, "")
	_, _ = bw.WriteString("Content-Type: ")
	_, _ = bw.WriteString(contentType)
	_, _ = bw.WriteString("\r\nContent-Length: ")
	_, _ = bw.WriteString(strconv.Itoa(len(body)))
	_, _ = bw.WriteString("\r\n")
	for _, e := range extra {
		_, _ = bw.WriteString(e)
		_, _ = bw.WriteString("\r\n")
	}
	switch {
	case closing:
		_, _ = bw.WriteString("Connection: close\r\n")
	case c.head.minor == 0:
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if c.head.method != http.MethodHead {
		_, _ = bw.WriteString(body)
	}
	return bw.Flush() == nil && !closing
}

func writeStatusLine(bw *bufio.Writer, code int, reason string) {
	_, _ = bw.WriteString("HTTP/1.1 ")
	var b [3]byte
	b[0], b[1], b[2] = byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10)
	_, _ = bw.Write(b[:])
	_ = bw.WriteByte(' ')
	if reason == "" {
		reason = http.StatusText(code)
	}
	_, _ = bw.WriteString(reason)
	_, _ = bw.WriteString("\r\n")
}

// forward sends the request upstream and the response back. It returns
// the status for the log, the response body bytes and whether the
// downstream connection stays open.
func (c *h1conn) forward(r *http.Request, res *routeResult, closeAfter bool) (int, int64, bool) {
	cl, h := res.cluster, &c.head
	var deadline time.Time
	if res.policy != nil && res.policy.timeout > 0 {
		deadline = time.Now().Add(res.policy.timeout)
	}
	if h.expect && h.hasBody() {
		// Answered here, so the upstream never waits on the client.
		if _, err := io.WriteString(c.conn, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return 0, 0, false
		}
	}
	var body []byte
	replayable := !h.hasBody()
	if !h.chunked && h.contentLength > 0 && h.contentLength <= replayBodyMax {
		bp := bodyPool.Get().(*[]byte)
		defer bodyPool.Put(bp)
		body = (*bp)[:h.contentLength]
		if _, err := io.ReadFull(c.br, body); err != nil {
			return 0, 0, false
		}
		replayable = true
	}
	var up *upConn
	for attempt := 0; ; attempt++ {
		u, reused, err := cl.h1.get(deadline)
		if err != nil {
			return c.upstreamError(cl, err, deadline, !replayable || closeAfter)
		}
		up = u
		c.cur.Store(up)
		if !deadline.IsZero() {
			_ = up.conn.SetDeadline(deadline)
			up.deadline = true
		}
		err = c.writeRequest(up, r, res, body)
		if err == nil {
			c.releaseReader()
			err = c.readResponseHead(up)
		}
		if err == nil {
			break
		}
		c.cur.Store(nil)
		up.close()
		var re *readError
		if errors.As(err, &re) && re.err != nil && up.fromClient {
			// The client's body was malformed or cut short.
			if errors.Is(re.err, errChunk) {
				c.local(http.StatusBadRequest, "malformed chunked encoding\n", nil, true)
				return http.StatusBadRequest, 0, false
			}
			return 0, 0, false
		}
		if reused && replayable && attempt == 0 && !up.gotBytes && (deadline.IsZero() || time.Now().Before(deadline)) {
			continue // a pooled connection the upstream had closed
		}
		return c.upstreamError(cl, err, deadline, !replayable || closeAfter)
	}
	uh := &c.uhead
	cl.prot.observe(uh.status, false)
	cl.countCode(uh.status)
	bw := getWriter(c.conn)
	defer putWriter(bw)
	writeStatusLine(bw, uh.status, uh.reason)
	for _, f := range uh.fields {
		if uh.hopByHop(f.name) || strings.EqualFold(f.name, "Content-Length") {
			continue
		}
		writeField(bw, f.name, f.value)
	}
	noBody := r.Method == http.MethodHead || uh.status == http.StatusNoContent || uh.status == http.StatusNotModified
	rechunk := false
	switch {
	case uh.status == http.StatusNoContent:
	case uh.contentLength >= 0 && !uh.chunked:
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.WriteString(strconv.FormatInt(uh.contentLength, 10))
		_, _ = bw.WriteString("\r\n")
	case noBody:
	case h.minor == 1:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
		rechunk = true
	default:
		closeAfter = true // HTTP/1.0: the end of the body is the close
	}
	upKeep := !uh.connClose && (noBody || uh.chunked || uh.contentLength >= 0)
	switch {
	case closeAfter:
		_, _ = bw.WriteString("Connection: close\r\n")
	case h.minor == 0:
		_, _ = bw.WriteString("Connection: keep-alive\r\n") // the client asked for it
	}
	_, _ = bw.WriteString("\r\n")
	var sent int64
	var err error
	if !noBody {
		switch {
		case uh.chunked:
			sent, err = copyChunked(bw, up.br, rechunk)
		case uh.contentLength >= 0:
			sent, err = copyN(bw, up.br, uh.contentLength)
		default:
			sent, err = copyUntilEOF(bw, up.br, rechunk)
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	c.cur.Store(nil)
	if err != nil || !upKeep {
		up.close()
		if err != nil {
			c.l.p.log.Debug("response forwarding ended early", "cluster", cl.name, "error", err)
			return uh.status, sent, false
		}
	} else {
		cl.h1.put(up)
	}
	return uh.status, sent, !closeAfter
}

func writeField(bw *bufio.Writer, name, value string) {
	_, _ = bw.WriteString(name)
	_, _ = bw.WriteString(": ")
	_, _ = bw.WriteString(value)
	_, _ = bw.WriteString("\r\n")
}

// writeRequest writes the request head and body to the upstream: the
// client's fields without hop-by-hop ones, Host as routed, X-Forwarded-*
// set as ReverseProxy's SetXForwarded does (the client's are replaced),
// an X-Request-Id when the client sent none.
func (c *h1conn) writeRequest(up *upConn, r *http.Request, res *routeResult, body []byte) error {
	h := &c.head
	bw := getWriter(up.conn)
	defer putWriter(bw)
	_, _ = bw.WriteString(h.method)
	_ = bw.WriteByte(' ')
	if res.path != "" {
		u := url.URL{Path: res.path, RawQuery: r.URL.RawQuery}
		_, _ = bw.WriteString(u.RequestURI())
	} else {
		_, _ = bw.WriteString(h.target)
	}
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	switch {
	case res.host != "":
		_, _ = bw.WriteString(res.host)
	case h.host != "":
		_, _ = bw.WriteString(h.host)
	default:
		// An HTTP/1.0 request without Host: the upstream's address, as
		// Go's Transport sends for an empty Request.Host.
		_, _ = bw.WriteString(res.cluster.addr)
	}
	_, _ = bw.WriteString("\r\n")
	hasID := false
	for _, f := range h.fields {
		n := f.name
		if h.hopByHop(n) || strings.EqualFold(n, "Host") || strings.EqualFold(n, "Content-Length") || strings.EqualFold(n, "Expect") ||
			(len(n) > 12 && strings.EqualFold(n[:12], "X-Forwarded-") &&
				(strings.EqualFold(n[12:], "For") || strings.EqualFold(n[12:], "Host") || strings.EqualFold(n[12:], "Proto"))) {
			continue
		}
		if strings.EqualFold(n, "X-Request-Id") && f.value != "" {
			hasID = true
		}
		writeField(bw, n, f.value)
	}
	if c.clientIP != "" {
		writeField(bw, "X-Forwarded-For", c.clientIP)
	}
	writeField(bw, "X-Forwarded-Host", h.host)
	if c.tls != nil {
		_, _ = bw.WriteString("X-Forwarded-Proto: https\r\n")
	} else {
		_, _ = bw.WriteString("X-Forwarded-Proto: http\r\n")
	}
	if !hasID {
		writeField(bw, "X-Request-Id", c.l.p.requestID())
	}
	switch {
	case h.chunked:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	case h.contentLength > 0 || (h.contentLength == 0 && (h.method == "POST" || h.method == "PUT" || h.method == "PATCH")):
		// A zero length only where a body is expected, as Go's Transport.
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.WriteString(strconv.FormatInt(h.contentLength, 10))
		_, _ = bw.WriteString("\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	var err error
	switch {
	case body != nil:
		_, err = bw.Write(body)
	case h.chunked:
		_, err = copyChunked(bw, c.br, true)
	case h.contentLength > 0:
		_, err = copyN(bw, c.br, h.contentLength)
	}
	if err == nil {
		err = bw.Flush()
	}
	if re := (*readError)(nil); errors.As(err, &re) {
		up.fromClient = true
	}
	return err
}

// readResponseHead reads the upstream's response head into c.uhead,
// skipping interim (1xx) responses.
func (c *h1conn) readResponseHead(up *upConn) error {
	for i := 0; i < 8; i++ {
		br, err := up.reader()
		if err != nil {
			return err
		}
		if _, err := br.Peek(1); err != nil {
			return err
		}
		up.gotBytes = true
		// The request's head scratch is free again: its fields were
		// copied into one string.
		s, buf, err := readHead(br, c.buf)
		c.buf = buf
		if err != nil {
			return err
		}
		if err := parseResponseHead(s, &c.uhead); err != nil {
			return err
		}
		if c.uhead.status >= 200 {
			return nil
		}
		if c.uhead.status == http.StatusSwitchingProtocols {
			return errors.New("upstream switched protocols unasked")
		}
	}
	return errors.New("too many interim responses")
}

// upstreamError answers a failed exchange as the ReverseProxy path does:
// 504 after the route's timeout, else 503.
func (c *h1conn) upstreamError(cl *cluster, err error, deadline time.Time, closing bool) (int, int64, bool) {
	if !deadline.IsZero() && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || !time.Now().Before(deadline)) {
		cl.rqTimeout.Inc()
		return http.StatusGatewayTimeout, 0, c.localPlain(http.StatusGatewayTimeout, "upstream request timeout\n", closing)
	}
	cl.prot.observe(0, true)
	c.l.p.log.Debug("upstream error", "cluster", cl.name, "error", err)
	return http.StatusServiceUnavailable, 0, c.localPlain(http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers\n", closing)
}

// localPlain is local with ReverseProxy's ErrorHandler's Content-Type.
func (c *h1conn) localPlain(code int, body string, closing bool) bool {
	return c.writeLocal(code, "text/plain", body, nil, closing)
}
