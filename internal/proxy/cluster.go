package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/proxy/tlsconf"
)

// cluster is one upstream: an address, a protocol, optional TLS, a pooled
// transport and its cluster.<name>.* stats.
type cluster struct {
	name     string
	addr     string
	protocol string
	key      string // identity of the settings; equal keys are reused on Update
	tls      *tlsconf.Client
	tr       *http.Transport
	dialer   net.Dialer
	p        *Proxy

	// prefix is the cluster's stat prefix ("cluster.NAME."), computed once.
	prefix                          string
	cxTotal, cxConnectFail, rqTotal *stats.Counter
	cxActive                        *stats.Gauge
	ssl                             *stats.SSL
	prot                            *protection
	rqTimeout, perTryTimeout        *stats.Counter
	retry, retrySuccess, retryOver  *stats.Counter
	cxOverflow                      *stats.Counter

	// h1 pools the forwarding path's upstream connections (h1serve.go);
	// codes caches the upstream_rq_<code> counters.
	h1        *h1Pool
	codes     codeSlots
	connLimit bool // a connection pool caps connections: forwarding path off
}

func newCluster(p *Proxy, name, addr, protocol, key string, tc *tlsconf.Client, ssl *stats.SSL, opts clusterOpts) *cluster {
	s := p.stats
	pre := stats.ClusterPrefix(name)
	c := &cluster{
		prefix: pre,
		name:   name, addr: addr, protocol: protocol, key: key, tls: tc, p: p, ssl: ssl,
		dialer:        net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		cxTotal:       s.Counter(pre + stats.UpstreamCxTotal),
		cxConnectFail: s.Counter(pre + stats.UpstreamCxConnectFail),
		rqTotal:       s.Counter(pre + stats.UpstreamRqTotal),
		cxActive:      s.Gauge(pre + stats.UpstreamCxActive),
		rqTimeout:     s.Counter(pre + stats.UpstreamRqTimeout),
		perTryTimeout: s.Counter(pre + stats.UpstreamRqPerTryTimeout),
		retry:         s.Counter(pre + stats.UpstreamRqRetry),
		retrySuccess:  s.Counter(pre + stats.UpstreamRqRetrySuccess),
		retryOver:     s.Counter(pre + stats.UpstreamRqRetryOverflow),
		cxOverflow:    s.Counter(pre + stats.UpstreamCxOverflow),
	}
	c.prot = newProtection(c, opts)
	c.h1 = &h1Pool{c: c}
	tr := &http.Transport{
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 0,
		ForceAttemptHTTP2:     protocol != "http",
		DisableCompression:    true,
	}
	protos := new(http.Protocols)
	if tc != nil {
		tr.DialTLSContext = c.dialTLS
		protos.SetHTTP1(true)
		protos.SetHTTP2(protocol != "http")
	} else {
		tr.DialContext = c.dial
		if protocol == "http2" || protocol == "grpc" {
			protos.SetUnencryptedHTTP2(true)
		} else {
			protos.SetHTTP1(true)
		}
	}
	tr.Protocols = protos
	if opts.pool != nil && opts.pool.HTTP != nil {
		tr.MaxConnsPerHost = opts.pool.HTTP.MaxConnections
		c.connLimit = tr.MaxConnsPerHost > 0
	}
	c.tr = tr
	return c
}

func (c *cluster) dialRaw(ctx context.Context) (*trackedConn, error) {
	raw, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		c.cxConnectFail.Inc()
		return nil, err
	}
	c.cxTotal.Inc()
	c.cxActive.Inc()
	return newTrackedConn(raw, func() { c.cxActive.Dec() }), nil
}

func (c *cluster) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	tc, err := c.dialRaw(ctx)
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// dialTLS dials and handshakes with the cluster's shared client config,
// then bounds the connection's life by the certificates it used.
func (c *cluster) dialTLS(ctx context.Context, _, _ string) (net.Conn, error) {
	raw, err := c.dialRaw(ctx)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, c.tls.Config())
	if err := conn.HandshakeContext(ctx); err != nil {
		if !tlsconf.IsVerifyError(err) {
			c.ssl.ConnectionError.Inc()
		}
		raw.Close()
		return nil, err
	}
	deadline := earliest(c.tls.Material().NotAfter(), peerNotAfter(conn.ConnectionState()))
	c.p.expireUpstream(raw, deadline, c)
	return conn, nil
}

// dialTCP opens a TCP stream to the cluster, with TLS when configured.
func (c *cluster) dialTCP(ctx context.Context) (net.Conn, error) {
	if c.tls != nil {
		return c.dialTLS(ctx, "tcp", c.addr)
	}
	return c.dial(ctx, "tcp", c.addr)
}

// close closes the cluster's idle pooled connections (a drain); the
// cluster stays usable.
func (c *cluster) close() {
	c.tr.CloseIdleConnections()
	c.h1.closeIdle(false)
}

// retire ends a cluster no longer in the configuration: idle connections
// close, its TLS client detaches from its sources. Requests in flight
// finish on their connections.
func (c *cluster) retire() {
	c.prot.stop()
	c.tr.CloseIdleConnections()
	c.h1.closeIdle(true)
	if c.tls != nil {
		c.tls.Close()
	}
}

func peerNotAfter(cs tls.ConnectionState) time.Time {
	var t time.Time
	for _, c := range cs.PeerCertificates {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// earliest returns the earliest non-zero time.
func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}
