package xds

import (
	"context"
	"errors"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	promgo "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// MetricsMethod is the gRPC method of Envoy's metrics service stats sink
// (envoy.stat_sinks.metrics_service), the :path a signed stream signs.
const MetricsMethod = "/envoy.service.metrics.v3.MetricsService/StreamMetrics"

// Bounds of what the stats sink keeps. A data plane reports every stat it
// has (hundreds to thousands per flush); the server keeps only the TLS
// handshake counters of its listeners, and at most this many of them.
const (
	// MaxCounterSeries caps the kept counters of one reporting stream
	// (each listener has at most len(tlsCounterNames) of them).
	MaxCounterSeries = 256
	// MaxMetricFamilies caps the metric families read from one message;
	// the rest of the message is dropped.
	MaxMetricFamilies = 20000
	// maxStatName bounds a kept stat's name: listener addresses are
	// short, so a longer name is not one of ours.
	maxStatName = 256
	// DefaultMaxTotalSeries caps the counters kept over all streams and
	// nodes: MaxCounterSeries bounds one stream, but a node allowed to
	// stream may open up to the server's stream cap of them.
	DefaultMaxTotalSeries = 100000
	// DefaultMaxClosedCounterNodes caps the nodes whose counters are
	// kept after their last metrics stream closed: the retention alone
	// would let a principal allowed many node ids (a wildcard policy)
	// grow them by a node per short stream. The oldest closed node is
	// forgotten first.
	DefaultMaxClosedCounterNodes = 10000
	// DefaultCountersRetention is how long a node's last reported
	// counters stay visible after its last metrics stream closed (a
	// reconnection within it continues where it left off).
	DefaultCountersRetention = 5 * time.Minute
)

// The TLS counters kept, by Envoy's stat suffix under listener.<addr>.ssl.
// (bulwark proxy emits the same names).
const (
	tlsHandshake = iota
	tlsNoCertificate
	tlsVerifyFailed
)

var tlsCounterNames = map[string]int{
	"handshake":             tlsHandshake,
	"no_certificate":        tlsNoCertificate,
	"fail_verify_error":     tlsVerifyFailed,
	"fail_verify_no_cert":   tlsVerifyFailed,
	"fail_verify_san":       tlsVerifyFailed,
	"fail_verify_cert_hash": tlsVerifyFailed,
}

// TLSCounters are one listener's TLS handshake counters, summed over the
// data planes of a node that report them.
type TLSCounters struct {
	// Handshake is Envoy's ssl.handshake: completed handshakes.
	Handshake uint64
	// NoCertificate is ssl.no_certificate: completed handshakes where the
	// peer sent no certificate (one-way TLS seen by the listener).
	NoCertificate uint64
	// VerifyFailed sums ssl.fail_verify_error, ssl.fail_verify_no_cert,
	// ssl.fail_verify_san and ssl.fail_verify_cert_hash: handshakes
	// refused because the peer's certificate was missing or did not
	// verify.
	VerifyFailed uint64
}

// NodeCounters is what Counters reports about one node's data planes.
type NodeCounters struct {
	NodeID string
	ARN    string
	// Reporters is the number of metrics streams open now; 0 means the
	// counters are the last ones reported before they closed.
	Reporters int
	// Listeners maps a listener's stat name ("0.0.0.0_15000") to its
	// counters.
	Listeners map[string]TLSCounters
	// UpdatedAt is when the last report arrived.
	UpdatedAt time.Time
	// Dropped counts counters not kept because of the bounds (name too
	// long, too many series, too many families in a message).
	Dropped uint64
}

// reporter is one metrics stream's latest values.
type reporter struct {
	// values maps listener + "\x00" + ssl suffix to the last cumulative
	// value reported.
	values  map[string]uint64
	updated time.Time
}

// nodeCounters is everything kept about one node id.
type nodeCounters struct {
	ref  NodeRef
	live map[int64]*reporter
	// stale is the last stream's values after it closed, kept until a
	// new stream reports or the retention passes.
	stale   *reporter
	goneAt  time.Time
	dropped uint64
}

// counterStore holds the nodes' reported counters.
type counterStore struct {
	mu     sync.Mutex
	nodes  map[string]*nodeCounters
	nextID atomic.Int64
	// streams are the open metrics streams whose principal can be
	// re-authorized (IAM), by stream id.
	streams map[int64]metricStream
	// recheck is set by PoliciesChanged: the rebuild loop re-authorizes
	// streams next.
	recheck bool
	// series counts the values held by every reporter, live or stale;
	// maxSeries caps it (DefaultMaxTotalSeries).
	series, maxSeries int
	// maxClosed is the cap of nodes kept without a live stream
	// (DefaultMaxClosedCounterNodes).
	maxClosed int
	// policyGen counts PoliciesChanged calls: a stream authorized while
	// one came (before it was in streams) asks for a recheck itself.
	policyGen uint64
}

// metricStream is what re-authorizing an open metrics stream needs.
type metricStream struct {
	ref NodeRef
	ra  StreamReauthorizer
	g   *guard
}

func (s *Server) now() time.Time { return clock.OrReal(s.cfg.Clock).Now() }

func (s *Server) retention() time.Duration {
	if s.cfg.CountersRetention > 0 {
		return s.cfg.CountersRetention
	}
	return DefaultCountersRetention
}

// metricsService serves StreamMetrics for a Server.
type metricsService struct {
	metricsv3.UnimplementedMetricsServiceServer
	s *Server
}

// StreamMetrics receives a data plane's stats: its first message names
// the node, which is authenticated and authorized exactly as an ADS
// stream of that node (appmesh:StreamAggregatedResources on its ARN, one
// audit event for the stream); then every message updates the node's
// kept counters. Nothing is sent back until the data plane ends the
// stream.
func (m metricsService) StreamMetrics(ss metricsv3.MetricsService_StreamMetricsServer) error {
	s := m.s
	ctx := ss.Context()
	msg, err := ss.Recv()
	if err != nil {
		return err
	}
	n := msg.GetIdentifier().GetNode()
	if n.GetId() == "" {
		s.metrics.refused.WithLabelValues("no_node").Inc()
		return status.Error(codes.InvalidArgument, "the first metrics message must carry the identifier's node, whose id is the virtual node or virtual gateway ARN")
	}
	nodeID := n.GetId()
	ref, err := ParseNodeID(nodeID, s.cfg.Region, s.cfg.AccountID)
	if err != nil {
		s.metrics.refused.WithLabelValues("bad_node_id").Inc()
		return status.Error(codes.InvalidArgument, err.Error())
	}
	s.counters.mu.Lock()
	gen := s.counters.policyGen
	s.counters.mu.Unlock()
	principal, err := s.authorize(&stream{ctx: ctx}, ref)
	if err != nil {
		s.metrics.refused.WithLabelValues("denied").Inc()
		s.log.Warn("metrics stream refused", "node", nodeID, "err", err)
		return err
	}
	if g := guardFrom(ctx); g != nil && !g.authorize() {
		return status.Error(codes.Unauthenticated, "the stream was not authorized in time")
	}
	id := s.counters.nextID.Add(1)
	s.counterStreamOpen(id, nodeID, ref)
	defer s.counterStreamClosed(id, nodeID)
	if ra, ok := principal.(StreamReauthorizer); ok {
		// Like the node's ADS streams, the stats stream lasts only as
		// long as its principal may stream the node: an IAM change
		// re-authorizes it (recheckMetricStreams).
		if g := guardFrom(ctx); g != nil {
			s.counters.mu.Lock()
			s.counters.streams[id] = metricStream{ref: ref, ra: ra, g: g}
			// An IAM change between the authorization and now found
			// no stream to recheck: ask for one.
			missed := s.counters.policyGen != gen
			if missed {
				s.counters.recheck = true
			}
			s.counters.mu.Unlock()
			if missed {
				s.wake()
			}
			defer func() {
				s.counters.mu.Lock()
				delete(s.counters.streams, id)
				s.counters.mu.Unlock()
			}()
		}
	}
	s.metrics.metricStreams.Inc()
	defer s.metrics.metricStreams.Dec()
	for {
		if other := msg.GetIdentifier().GetNode().GetId(); other != "" && other != nodeID {
			s.metrics.refused.WithLabelValues("node_changed").Inc()
			return status.Errorf(codes.PermissionDenied, "the stream was authorized for node %q and cannot report for %q", nodeID, other)
		}
		s.ingest(id, nodeID, msg)
		msg, err = ss.Recv()
		if errors.Is(err, io.EOF) {
			return ss.SendAndClose(&metricsv3.StreamMetricsResponse{})
		}
		if err != nil {
			return err
		}
	}
}

func (s *Server) counterStreamOpen(id int64, nodeID string, ref NodeRef) {
	c := &s.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	s.sweepCountersLocked()
	nc := c.nodes[nodeID]
	if nc == nil {
		nc = &nodeCounters{ref: ref, live: map[int64]*reporter{}}
		c.nodes[nodeID] = nc
	}
	nc.live[id] = &reporter{values: map[string]uint64{}}
}

// recheckMetricStreams re-authorizes the open metrics streams after
// PoliciesChanged, on the rebuild loop, and ends (PermissionDenied) those
// whose principal may no longer stream their node. A stream whose
// re-authorization cannot be decided now (the store is unavailable) is
// kept, as an ADS stream keeps its configuration.
func (s *Server) recheckMetricStreams() {
	c := &s.counters
	c.mu.Lock()
	if !c.recheck {
		c.mu.Unlock()
		return
	}
	c.recheck = false
	open := make([]metricStream, 0, len(c.streams))
	for _, ms := range c.streams {
		open = append(open, ms)
	}
	c.mu.Unlock()
	for _, ms := range open {
		ctx, cancel := context.WithTimeout(s.ctx, buildTimeout)
		err := ms.ra.Reauthorize(ctx, ms.ref)
		cancel()
		switch {
		case errors.Is(err, ErrStreamRevoked):
			s.metrics.refused.WithLabelValues("revoked").Inc()
			s.log.Warn("xds: a metrics stream's principal may no longer stream its node; the stream ends", "node", ms.ref.ARN, "err", err)
			ms.g.cancel(err)
		case err != nil:
			s.log.Error("xds: re-authorizing a metrics stream failed; it stays open", "node", ms.ref.ARN, "err", err)
		}
	}
}

// counterStreamClosed forgets a stream's values while other streams of
// the node report (a reconnecting data plane reports its cumulative
// counters again, which must not count twice), and keeps the last
// stream's values for the retention.
func (s *Server) counterStreamClosed(id int64, nodeID string) {
	c := &s.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	nc := c.nodes[nodeID]
	if nc == nil {
		return
	}
	r := nc.live[id]
	delete(nc.live, id)
	if len(nc.live) == 0 && r != nil && !r.updated.IsZero() {
		c.release(nc.stale)
		nc.stale, nc.goneAt = r, s.now()
	} else {
		c.release(r)
		if len(nc.live) == 0 && nc.stale != nil {
			nc.goneAt = s.now()
		} else if len(nc.live) == 0 {
			delete(c.nodes, nodeID)
			return
		}
	}
	if len(nc.live) == 0 {
		s.boundClosedLocked()
	}
}

// boundClosedLocked forgets the oldest closed nodes beyond maxClosed
// (c.mu held). It runs when a node's last stream closes, so the set never
// exceeds the bound by more than that node.
func (s *Server) boundClosedLocked() {
	c := &s.counters
	closed := 0
	for _, nc := range c.nodes {
		if len(nc.live) == 0 {
			closed++
		}
	}
	for ; closed > c.maxClosed; closed-- {
		oldest := ""
		var at time.Time
		for id, nc := range c.nodes {
			if len(nc.live) == 0 && (oldest == "" || nc.goneAt.Before(at) || nc.goneAt.Equal(at) && id < oldest) {
				oldest, at = id, nc.goneAt
			}
		}
		c.release(c.nodes[oldest].stale)
		delete(c.nodes, oldest)
		s.metrics.metricsDropped.WithLabelValues("too_many_nodes").Inc()
	}
}

// release gives back the series a reporter no longer kept held (c.mu
// held; nil is nothing).
func (c *counterStore) release(r *reporter) {
	if r != nil {
		c.series -= len(r.values)
	}
}

// sweepCountersLocked forgets nodes whose streams have been gone longer
// than the retention.
func (s *Server) sweepCountersLocked() {
	now, keep := s.now(), s.retention()
	for id, nc := range s.counters.nodes {
		if len(nc.live) == 0 && now.Sub(nc.goneAt) > keep {
			s.counters.release(nc.stale)
			delete(s.counters.nodes, id)
		}
	}
}

// ingest keeps the TLS counters of one message.
func (s *Server) ingest(id int64, nodeID string, msg *metricsv3.StreamMetricsMessage) {
	fams := msg.GetEnvoyMetrics()
	type kv struct {
		key string
		v   uint64
	}
	var kept []kv
	var ignored, tooLong, tooManyFamilies float64
	if len(fams) > MaxMetricFamilies {
		tooManyFamilies = float64(len(fams) - MaxMetricFamilies)
		fams = fams[:MaxMetricFamilies]
	}
	for _, f := range fams {
		name := f.GetName()
		if len(name) > maxStatName {
			if strings.HasPrefix(name, "listener.") && strings.Contains(name, ".ssl.") {
				tooLong++
			} else {
				ignored++
			}
			continue
		}
		for _, m := range f.GetMetric() {
			listener, suffix, ok := tlsStat(name, m)
			if !ok {
				ignored++
				continue
			}
			v, ok := counterValue(f.GetType(), m)
			if !ok {
				ignored++
				continue
			}
			kept = append(kept, kv{listener + "\x00" + suffix, v})
		}
	}
	c := &s.counters
	c.mu.Lock()
	nc := c.nodes[nodeID]
	var r *reporter
	if nc != nil {
		r = nc.live[id]
	}
	tooMany := 0.0
	if r != nil {
		for _, x := range kept {
			if _, ok := r.values[x.key]; !ok {
				if len(r.values) >= MaxCounterSeries || c.series >= c.maxSeries {
					tooMany++
					continue
				}
				c.series++
			}
			r.values[x.key] = x.v
		}
		r.updated = s.now()
		// A live stream reports for the node now: the last closed
		// stream's values are superseded.
		c.release(nc.stale)
		nc.stale = nil
		nc.dropped += uint64(tooLong + tooMany + tooManyFamilies)
	}
	c.mu.Unlock()
	for reason, n := range map[string]float64{"not_kept": ignored, "name_too_long": tooLong, "too_many_series": tooMany, "too_many_families": tooManyFamilies} {
		if n > 0 {
			s.metrics.metricsDropped.WithLabelValues(reason).Add(n)
		}
	}
	s.metrics.metricReports.Inc()
}

// tlsStat recognises a listener TLS counter by Envoy's name,
// "listener.<address>.ssl.<suffix>", or with emit_tags_as_labels as
// "listener.ssl.<suffix>" labelled envoy_listener_address.
func tlsStat(name string, m *promgo.Metric) (listener, suffix string, ok bool) {
	rest, ok := strings.CutPrefix(name, "listener.")
	if !ok {
		return "", "", false
	}
	if tagged, isTagged := strings.CutPrefix(rest, "ssl."); isTagged {
		for _, l := range m.GetLabel() {
			if l.GetName() == "envoy_listener_address" {
				listener = l.GetValue()
			}
		}
		suffix = tagged
	} else {
		i := strings.LastIndex(rest, ".ssl.")
		if i <= 0 {
			return "", "", false
		}
		listener, suffix = rest[:i], rest[i+len(".ssl."):]
	}
	if _, known := tlsCounterNames[suffix]; !known || !validListener(listener) {
		return "", "", false
	}
	return listener, suffix, true
}

// validListener accepts the characters Envoy's listener stat names use
// (an address with '_' before the port, or a stat_prefix).
func validListener(l string) bool {
	if l == "" || len(l) > 128 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// counterValue reads a counter's cumulative value (the sink is configured
// with report_counters_as_deltas false; a negative, fractional or huge
// value is not a counter).
func counterValue(t promgo.MetricType, m *promgo.Metric) (uint64, bool) {
	if t != promgo.MetricType_COUNTER || m.GetCounter() == nil {
		return 0, false
	}
	v := m.GetCounter().GetValue()
	if math.IsNaN(v) || v < 0 || v > 1<<53 || v != math.Trunc(v) {
		return 0, false
	}
	return uint64(v), true
}

// Counters reports the TLS counters of every node that reports them now
// or did within the retention, sorted by node id.
func (s *Server) Counters() []NodeCounters {
	c := &s.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	s.sweepCountersLocked()
	out := make([]NodeCounters, 0, len(c.nodes))
	for id, nc := range c.nodes {
		rs := make([]*reporter, 0, len(nc.live)+1)
		for _, r := range nc.live {
			rs = append(rs, r)
		}
		if nc.stale != nil {
			rs = append(rs, nc.stale)
		}
		o := NodeCounters{NodeID: id, ARN: nc.ref.ARN, Reporters: len(nc.live), Listeners: map[string]TLSCounters{}, Dropped: nc.dropped}
		for _, r := range rs {
			if r.updated.After(o.UpdatedAt) {
				o.UpdatedAt = r.updated
			}
			for k, v := range r.values {
				listener, suffix, _ := strings.Cut(k, "\x00")
				t := o.Listeners[listener]
				switch tlsCounterNames[suffix] {
				case tlsHandshake:
					t.Handshake += v
				case tlsNoCertificate:
					t.NoCertificate += v
				case tlsVerifyFailed:
					t.VerifyFailed += v
				}
				o.Listeners[listener] = t
			}
		}
		if o.UpdatedAt.IsZero() {
			continue // open, nothing reported yet
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}
