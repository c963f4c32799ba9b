package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// protection is a cluster's runtime state for its clusterOpts.
type protection struct {
	c    *cluster
	opts clusterOpts

	slots chan struct{} // admission: nil means unlimited

	mu          sync.Mutex // guards the outlier and health state
	consecutive int64      // consecutive 5xx / connect failures
	ejections   int        // times ejected (ejection time grows with it)
	ejectedTill time.Time
	healthy     bool
	hcOK, hcBad int // consecutive health check outcomes

	cancel context.CancelFunc // stops the health checker

	overflow, ejectTotal, noneHealthy *stats.Counter
	hcAttempt, hcSuccess, hcFailure   *stats.Counter
	ejectActive, hcHealthy            *stats.Gauge
}

func newProtection(c *cluster, o clusterOpts) *protection {
	s, pre := c.p.stats, c.prefix
	pr := &protection{c: c, opts: o, healthy: true,
		overflow:    s.Counter(pre + stats.UpstreamRqPendingOverflow),
		ejectTotal:  s.Counter(pre + stats.OutlierEjectionsTotal),
		ejectActive: s.Gauge(pre + stats.OutlierEjectionsActive),
		noneHealthy: s.Counter(pre + stats.UpstreamCxNoneHealthy),
	}
	if n := o.limit(); n > 0 {
		pr.slots = make(chan struct{}, n)
	}
	if o.health != nil {
		pr.hcAttempt = s.Counter(pre + stats.HealthCheckAttempt)
		pr.hcSuccess = s.Counter(pre + stats.HealthCheckSuccess)
		pr.hcFailure = s.Counter(pre + stats.HealthCheckFailure)
		pr.hcHealthy = s.Gauge(pre + stats.HealthCheckHealthy)
		pr.hcHealthy.Set(1)
	}
	return pr
}

// limit is how many requests (or TCP streams) may be in flight at once:
// HTTP/1.1 maxConnections plus maxPendingRequests (those wait for a
// connection), HTTP/2 and gRPC maxRequests, TCP maxConnections. Zero
// means no limit.
func (o clusterOpts) limit() int {
	p := o.pool
	switch {
	case p == nil:
		return 0
	case p.HTTP != nil:
		if p.HTTP.MaxPendingRequests == 0 {
			return 0 // connections are capped by the transport; waiting is unbounded
		}
		return p.HTTP.MaxConnections + p.HTTP.MaxPendingRequests
	case p.HTTP2 != nil:
		return p.HTTP2.MaxRequests
	case p.GRPC != nil:
		return p.GRPC.MaxRequests
	case p.TCP != nil:
		return p.TCP.MaxConnections
	}
	return 0
}

// admit takes an in-flight slot, or reports overflow (the caller answers
// 503 at once, as Envoy's circuit breaker does).
func (pr *protection) admit() (release func(), ok bool) {
	if pr.slots == nil {
		return func() {}, true
	}
	select {
	case pr.slots <- struct{}{}:
		return func() { <-pr.slots }, true
	default:
		pr.overflow.Inc()
		return nil, false
	}
}

// available reports whether the cluster's endpoint may take traffic: not
// ejected by outlier detection and not failing its health check.
func (pr *protection) available() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !pr.healthy {
		pr.noneHealthy.Inc()
		return false
	}
	if !pr.ejectedTill.IsZero() {
		if pr.c.p.now().Before(pr.ejectedTill) {
			pr.noneHealthy.Inc()
			return false
		}
		// Ejection over: back in, with a clean count.
		pr.ejectedTill, pr.consecutive = time.Time{}, 0
		pr.ejectActive.Set(0)
	}
	return true
}

// observe feeds outlier detection one outcome: a 5xx response or a
// failure to reach the upstream counts against it, anything else resets
// the count. maxServerErrors in a row eject the endpoint for
// baseEjectionDuration times the number of ejections so far.
func (pr *protection) observe(code int, failed bool) {
	od := pr.opts.outlier
	if od == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !failed && code < 500 {
		pr.consecutive = 0
		return
	}
	pr.consecutive++
	// A cluster has one endpoint, so ejecting it ejects 100%:
	// maxEjectionPercent 0 forbids that, anything else allows it.
	if pr.consecutive < od.MaxServerErrors || !pr.ejectedTill.IsZero() || od.MaxEjectionPercent == 0 {
		return
	}
	pr.ejections++
	d := durationOf(od.BaseEjectionDuration) * time.Duration(pr.ejections)
	d = min(d, max(durationOf(od.BaseEjectionDuration), 300*time.Second)) // Envoy's max_ejection_time
	pr.ejectedTill = pr.c.p.now().Add(d)
	pr.ejectTotal.Inc()
	pr.ejectActive.Set(1)
	pr.c.p.log.Warn("outlier detection ejected an upstream", "cluster", pr.c.name, "address", pr.c.addr,
		"consecutive_errors", pr.consecutive, "for", d)
}

// start runs the health checker until ctx ends or the cluster retires.
func (pr *protection) start(ctx context.Context) {
	h := pr.opts.health
	if h == nil || pr.cancel != nil {
		return
	}
	ctx, pr.cancel = context.WithCancel(ctx)
	interval := time.Duration(h.IntervalMillis) * time.Millisecond
	if pr.c.p.cfg.healthInterval > 0 {
		interval = pr.c.p.cfg.healthInterval
	}
	go clock.Every(ctx, pr.c.p.cfg.Clock, interval, pr.check)
}

func (pr *protection) stop() {
	if pr.cancel != nil {
		pr.cancel()
	}
}

// check runs one health check and applies the thresholds.
func (pr *protection) check(ctx context.Context) {
	h := pr.opts.health
	timeout := time.Duration(h.TimeoutMillis) * time.Millisecond
	if pr.c.p.cfg.healthInterval > 0 {
		timeout = min(timeout, pr.c.p.cfg.healthInterval)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pr.hcAttempt.Inc()
	err := pr.probe(cctx)
	if ctx.Err() != nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if err == nil {
		pr.hcSuccess.Inc()
		pr.hcOK, pr.hcBad = pr.hcOK+1, 0
		if !pr.healthy && pr.hcOK >= h.HealthyThreshold {
			pr.healthy = true
			pr.hcHealthy.Set(1)
			pr.c.p.log.Info("health check passing; upstream back in service", "cluster", pr.c.name, "address", pr.hcAddr())
		}
		return
	}
	pr.hcFailure.Inc()
	pr.hcOK, pr.hcBad = 0, pr.hcBad+1
	if pr.healthy && pr.hcBad >= h.UnhealthyThreshold {
		pr.healthy = false
		pr.hcHealthy.Set(0)
		pr.c.p.log.Warn("health check failing; upstream taken out of service", "cluster", pr.c.name, "address", pr.hcAddr(), "error", err)
	}
}

func (pr *protection) hcAddr() string {
	if p := pr.opts.health.Port; p != 0 {
		host, _ := hostPort(pr.c.addr)
		return net.JoinHostPort(host, strconv.Itoa(p))
	}
	return pr.c.addr
}

// errHealth is a failed probe's reason.
type errHealth string

func (e errHealth) Error() string { return string(e) }

// probe checks the upstream once: tcp connects, http and http2 expect a
// 2xx for GET path, grpc calls grpc.health.v1.Health/Check and expects
// SERVING. Probes use their own connections, never the request pool.
func (pr *protection) probe(ctx context.Context) error {
	h := pr.opts.health
	addr := pr.hcAddr()
	if h.Protocol == spec.ProtocolTCP {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	protos := new(http.Protocols)
	if h.Protocol == spec.ProtocolHTTP {
		protos.SetHTTP1(true)
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	tr := &http.Transport{Protocols: protos, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	var req *http.Request
	var err error
	if h.Protocol == spec.ProtocolGRPC {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
		if err == nil {
			req.Header.Set("Content-Type", "application/grpc")
			req.Header.Set("TE", "trailers")
		}
	} else {
		path := h.Path
		if path == "" {
			path = "/"
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	}
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "bulwark-proxy-health-check")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errHealth("status " + strconv.Itoa(resp.StatusCode))
	}
	if h.Protocol == spec.ProtocolGRPC {
		st := resp.Trailer.Get("Grpc-Status")
		if st == "" {
			st = resp.Header.Get("Grpc-Status")
		}
		if st != "0" {
			return errHealth("grpc-status " + st)
		}
		// One message: 5-byte prefix, then HealthCheckResponse whose
		// field 1 (status) must be SERVING (1): bytes 0x08 0x01.
		if len(body) < 5 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 || !bytes.Equal(body[5:], []byte{0x08, 0x01}) {
			return errHealth("not SERVING")
		}
	}
	return nil
}
