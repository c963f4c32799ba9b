package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// The types the client subscribes to, in the order Envoy asks for them.
var subscribed = []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.SecretType}

// Backoff bounds: 1 s doubling to 30 s between reconnection attempts.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// maxResponseSize bounds one response: a proxy's configuration is a few
// hundred kilobytes at most.
const maxResponseSize = 16 << 20

// ClientConfig configures a Client.
type ClientConfig struct {
	// Target is the management server, host:port.
	Target string
	// Node is the resource the proxy runs as.
	Node Node
	// DialOptions carry the transport (TLS) and per-call credentials
	// (SigV4); they are required, as plaintext must be chosen explicitly.
	DialOptions []grpc.DialOption
	// Apply applies one decoded version; an error NACKs it (the message
	// is the NACK's detail) and the running configuration stays.
	Apply func(*Config) error
	// Logger receives state changes; nil means slog.Default().
	Logger *slog.Logger
	// Stats receives control_plane.* stats; nil means a private store.
	Stats *stats.Store
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; zero means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Clock tells the time of stats and makes the reconnection and stats
	// flush timers; nil means clock.Real.
	Clock clock.Clock
	// StatsFlushInterval is how often Stats are reported to the server's
	// metrics service over the stream's connection (the console shows
	// the listeners' TLS handshake counts); zero means
	// DefaultStatsFlushInterval, negative reports nothing.
	StatsFlushInterval time.Duration
}

// Status is the stream's state, for the admin API and tests.
type Status struct {
	Connected bool
	// Applied is the version in use ("" before the first).
	Applied string
	// LastRejected is the last refused version and why.
	LastRejected, LastRejectReason string
	// LastError is why the stream last ended.
	LastError string
	// Reconnects counts streams lost after having been open.
	Reconnects int
}

// Client is one proxy's ADS client.
type Client struct {
	cfg ClientConfig
	log *slog.Logger

	connected         *stats.Gauge
	updateTime        *stats.Gauge
	success, rejected *stats.Counter
	reconnect         *stats.Counter
	mu                sync.Mutex
	status            Status
	refused           map[string]string // version -> reason
	statusChanged     chan struct{}
	applied           string
	appliedOnce       bool
}

// NewClient checks the configuration.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Target == "" || cfg.Node.ID == "" || cfg.Apply == nil {
		return nil, errors.New("xdsclient: Target, Node and Apply are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Stats == nil {
		cfg.Stats = stats.NewStore()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.StatsFlushInterval == 0 {
		cfg.StatsFlushInterval = DefaultStatsFlushInterval
	}
	c := &Client{cfg: cfg, log: cfg.Logger, refused: map[string]string{}, statusChanged: make(chan struct{})}
	c.connected = cfg.Stats.Gauge(stats.ControlPlaneConnected)
	c.connected.Set(0)
	c.updateTime = cfg.Stats.Gauge(stats.XDSUpdateTime)
	c.success = cfg.Stats.Counter(stats.XDSUpdateSuccess)
	c.rejected = cfg.Stats.Counter(stats.XDSUpdateRejected)
	c.reconnect = cfg.Stats.Counter(stats.XDSStreamReconnect)
	return c, nil
}

// Status returns the stream's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Changed returns a channel closed at the next status change (tests wait
// on it instead of sleeping).
func (c *Client) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusChanged
}

func (c *Client) setStatus(f func(*Status)) {
	c.mu.Lock()
	f(&c.status)
	close(c.statusChanged)
	c.statusChanged = make(chan struct{})
	c.mu.Unlock()
}

// Run keeps a stream open until ctx ends: on any failure it waits (1 s
// doubling to MaxBackoff, reset after a stream that delivered a version)
// and reconnects; the proxy meanwhile serves what it has (fail static).
func (c *Client) Run(ctx context.Context) error {
	wait := c.cfg.MinBackoff
	for {
		progressed, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.connected.Set(0)
		msg := "stream ended"
		if err != nil {
			msg = err.Error()
		}
		c.setStatus(func(s *Status) {
			if s.Connected {
				s.Reconnects++
			}
			s.Connected, s.LastError = false, msg
		})
		if progressed {
			wait = c.cfg.MinBackoff
			c.reconnect.Inc()
			c.log.Warn("xDS stream lost; serving the last applied configuration while reconnecting", "server", c.cfg.Target, "error", msg, "retry_in", wait)
		} else {
			c.log.Warn("xDS stream failed; serving the last applied configuration (if any) while reconnecting", "server", c.cfg.Target, "error", msg, "retry_in", wait)
		}
		t := c.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		wait = min(wait*2, c.cfg.MaxBackoff)
	}
}

// pending is a response received but not yet answered: its version is
// applied (and ACKed) only when every type has arrived at it.
type pending struct {
	version, nonce string
	resources      []proto.Message
}

// session runs one stream; progressed reports whether it got as far as a
// response.
func (c *Client) session(ctx context.Context) (progressed bool, err error) {
	opts := append([]grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseSize))}, c.cfg.DialOptions...)
	conn, err := grpc.NewClient(c.cfg.Target, opts...)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return false, err
	}
	node := &corev3.Node{Id: c.cfg.Node.ID, Cluster: c.cfg.Node.Name, UserAgentName: "bulwark-proxy"}
	if c.cfg.StatsFlushInterval > 0 {
		// Stats go to the same server on the same connection, as the
		// same node; they end with the session.
		done := make(chan struct{})
		go func() { defer close(done); c.reportStats(sctx, conn, node) }()
		defer func() { cancel(); <-done }()
	}
	applied := c.appliedVersion()
	for i, t := range subscribed {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t, VersionInfo: applied}
		if i == 0 {
			req.Node = node
		}
		if err := stream.Send(req); err != nil {
			return false, err
		}
	}
	pend := map[string]*pending{}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		if !progressed {
			progressed = true
			c.connected.Set(1)
			c.setStatus(func(s *Status) { s.Connected, s.LastError = true, "" })
			c.log.Info("xDS stream open", "server", c.cfg.Target, "node", c.cfg.Node.ID)
		}
		if err := c.handle(stream, resp, pend); err != nil {
			return progressed, err
		}
	}
}

func (c *Client) appliedVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

type sender interface {
	Send(*discoveryv3.DiscoveryRequest) error
}

// handle answers or stages one response.
func (c *Client) handle(stream sender, resp *discoveryv3.DiscoveryResponse, pend map[string]*pending) error {
	t, v, nonce := resp.GetTypeUrl(), resp.GetVersionInfo(), resp.GetNonce()
	known := false
	for _, s := range subscribed {
		known = known || s == t
	}
	if !known {
		return fmt.Errorf("the server sent type %q, which was not requested", t)
	}
	applied := c.appliedVersion()
	ack := func(typ string, p *pending, version string, reason string) error {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: version, ResponseNonce: p.nonce}
		if reason != "" {
			req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: reason}
		}
		return stream.Send(req)
	}
	// Any other type still waiting at an older version will never be
	// completed: the server has moved on. Answer it without applying, so
	// the server sends the new version for it too.
	for typ, p := range pend {
		if typ != t && p.version != v {
			delete(pend, typ)
			if err := ack(typ, p, applied, ""); err != nil {
				return err
			}
		}
	}
	p := &pending{version: v, nonce: nonce}
	if v == applied && c.hasApplied() {
		// The version in use (a reconnection resends it): nothing to do.
		delete(pend, t)
		return ack(t, p, v, "")
	}
	if reason, ok := c.refusedReason(v); ok {
		delete(pend, t)
		return ack(t, p, applied, reason)
	}
	for _, a := range resp.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil || a.GetTypeUrl() != t {
			return c.reject(v, fmt.Sprintf("a %s resource does not decode", t), pend, t, p, ack, applied)
		}
		p.resources = append(p.resources, m)
	}
	pend[t] = p
	if len(pend) < len(subscribed) {
		return nil
	}
	res := &Resources{}
	for _, typ := range subscribed {
		for _, m := range pend[typ].resources {
			switch r := m.(type) {
			case *clusterv3.Cluster:
				res.Clusters = append(res.Clusters, r)
			case *listenerv3.Listener:
				res.Listeners = append(res.Listeners, r)
			case *routev3.RouteConfiguration:
				res.Routes = append(res.Routes, r)
			case *tlsv3.Secret:
				res.Secrets = append(res.Secrets, r)
			}
		}
	}
	cfg, err := Decode(c.cfg.Node, res)
	if err == nil {
		err = c.cfg.Apply(cfg)
	}
	if err != nil {
		return c.reject(v, err.Error(), pend, "", nil, ack, applied)
	}
	c.mu.Lock()
	c.applied, c.appliedOnce = v, true
	c.mu.Unlock()
	c.success.Inc()
	c.updateTime.Set(c.cfg.Clock.Now().Unix())
	c.setStatus(func(s *Status) { s.Applied = v })
	c.log.Info("xDS configuration applied", "version", v)
	for _, typ := range subscribed {
		if err := ack(typ, pend[typ], v, ""); err != nil {
			return err
		}
		delete(pend, typ)
	}
	return nil
}

// reject NACKs version v on every type waiting at it (and on the
// response at hand), remembers why so later types of the same version
// are refused at once, and keeps the applied configuration.
func (c *Client) reject(v, reason string, pend map[string]*pending, t string, p *pending,
	ack func(string, *pending, string, string) error, applied string) error {
	if len(reason) > 4096 {
		reason = reason[:4096] + "…"
	}
	c.mu.Lock()
	if len(c.refused) > 16 {
		clear(c.refused)
	}
	c.refused[v] = reason
	c.mu.Unlock()
	c.rejected.Inc()
	c.setStatus(func(s *Status) { s.LastRejected, s.LastRejectReason = v, reason })
	c.log.Error("xDS configuration refused (NACK); the running configuration stays", "version", v, "reason", reason)
	if p != nil {
		delete(pend, t)
		if err := ack(t, p, applied, reason); err != nil {
			return err
		}
	}
	for typ, q := range pend {
		if q.version == v {
			delete(pend, typ)
			if err := ack(typ, q, applied, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Client) hasApplied() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appliedOnce
}

func (c *Client) refusedReason(v string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.refused[v]
	return r, ok
}
