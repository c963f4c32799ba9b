package xds

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// ADSMethod is the gRPC method of the state-of-the-world aggregated
// stream, the :path App Mesh's Envoy signs.
const (
	ADSMethod      = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
	DeltaADSMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
)

// Mesh is what the server needs from the App Mesh control plane.
type Mesh interface {
	// ProxySnapshot returns everything the named virtual node or virtual
	// gateway needs; a resource that does not exist is an error.
	ProxySnapshot(ctx context.Context, mesh, kind, name string) (*spec.Snapshot, error)
	// Subscribe calls fn with a mesh's name after any of its resources
	// changed, until cancel is called. fn must not block.
	Subscribe(fn func(mesh string)) (cancel func())
}

// Certificates is what the server needs from ACM and ACM PCA to serve SDS.
type Certificates interface {
	// KeyPair returns an ACM certificate's chain (leaf first) and its
	// private key, both PEM. It is for delivery to an authorized data
	// plane only; it needs no export right and marks nothing exported.
	KeyPair(ctx context.Context, arn string) (chainPEM, keyPEM []byte, err error)
	// CACertificate returns a private CA's certificate and chain (PEM),
	// the bundle a data plane trusts.
	CACertificate(ctx context.Context, arn string) ([]byte, error)
	// Subscribe calls fn with a certificate's or CA's ARN after it
	// changed (issued, renewed, imported, revoked, deleted), until cancel
	// is called. fn must not block.
	Subscribe(fn func(arn string)) (cancel func())
}

// StreamRequest is what an Authorizer decides on: who opened the stream
// (its signed headers and peer) and which resource it streams.
type StreamRequest struct {
	// Node is the resource the data plane identified itself as.
	Node NodeRef
	// Request is the stream's HTTP/2 request as SigV4 signs it: POST, the
	// gRPC method as path (ADSMethod, DeltaADSMethod, or MetricsMethod for
	// the node's stats sink, which is authorized as its ADS stream), the :authority as Host, and the metadata as
	// headers.
	Request *http.Request
	// SourceIP is the peer's address; TLS whether the stream is on TLS.
	SourceIP string
	TLS      bool
	// ClientURIs are the URI SANs of the client certificate, when the
	// peer presented one that the listener verified against its client
	// CAs (mTLS); empty otherwise.
	ClientURIs []string

	// Principal is set by AuthorizeStream when it allows the stream: who
	// the stream acts as for the rest of its life. Every configuration
	// built for the stream asks it, per ACM certificate, whether the
	// principal may have the certificate's private key. Left nil, the
	// stream receives no ACM private key at all (fail closed).
	Principal StreamPrincipal
}

// StreamPrincipal is the identity an allowed stream acts as.
type StreamPrincipal interface {
	// Key identifies the principal and everything its permissions depend
	// on (for a signed stream, the principal ARN and access key): streams
	// of one node whose principals have equal keys share one
	// configuration, streams with different keys get their own, so one
	// principal's certificates never reach another's stream. "" is the
	// key of a nil principal.
	Key() string
	// AuthorizeCertificate returns nil when the principal may receive the
	// ACM certificate arn with its private key on node's stream: App
	// Mesh required acm:ExportCertificate on the certificate of the
	// Envoy's role, and so does Bulwark. A refusal wraps
	// ErrCertificateDenied; any other error (the policy or the audit log
	// could not be reached) fails the rebuild, so the data plane keeps its
	// last configuration. record asks for the decision to be written to
	// the audit log: the server asks when a decision is new or changed for
	// the node, not on every rebuild. A decision that cannot be recorded
	// must not be an allow.
	AuthorizeCertificate(ctx context.Context, node NodeRef, arn string, record bool) error
}

// StreamReauthorizer is implemented by a StreamPrincipal whose right to
// stream can be withdrawn while the stream is open (an IAM principal: its
// policy changes, its access key is deactivated or deleted). The server
// asks it on every rebuild of the node (PoliciesChanged causes one).
type StreamReauthorizer interface {
	// Reauthorize returns nil while the principal may still stream node,
	// an error wrapping ErrStreamRevoked when it may not (it records that
	// decision itself), and any other error when it cannot tell (the
	// rebuild fails; the stream keeps its configuration).
	Reauthorize(ctx context.Context, node NodeRef) error
}

// ErrStreamRevoked is what StreamReauthorizer.Reauthorize wraps when the
// principal may no longer stream the node: every certificate is withdrawn
// from the node's configuration, and its streams end (PermissionDenied)
// once they have acknowledged that configuration (AuthTimeout later if
// they never do).
var ErrStreamRevoked = errors.New("xds: the stream's principal may no longer stream this resource")

// ErrCertificateDenied is what StreamPrincipal.AuthorizeCertificate wraps
// when the principal may not have a certificate: the certificate, and the
// listeners and clusters using it, are left out of the configuration.
var ErrCertificateDenied = errors.New("xds: the stream's principal may not receive the certificate")

// ErrCertificateUnavailable is what a Certificates implementation wraps
// when a certificate cannot be delivered for good (deleted, revoked, not
// issued, no private key): the secret is withdrawn from the data plane's
// configuration. Any other error is taken as transient: the rebuild fails
// and the data plane keeps its last configuration.
var ErrCertificateUnavailable = errors.New("xds: the certificate cannot be delivered")

// Authorizer authenticates and authorizes a stream: it verifies the
// request's signature, allows or refuses appmesh:StreamAggregatedResources
// on Node.ARN and records the decision (one audit event per stream). A nil
// error allows the stream.
type Authorizer interface {
	AuthorizeStream(ctx context.Context, r *StreamRequest) error
}

// Config builds a Server.
type Config struct {
	Mesh         Mesh
	Certificates Certificates
	// Authorizer decides every stream; nil refuses every stream (fail
	// closed).
	Authorizer Authorizer
	// Region and AccountID are the server's: node ids name resources in
	// them.
	Region, AccountID string
	// Logger receives NACKs, refusals and build failures; nil discards.
	Logger *slog.Logger
	// Registerer receives the xDS metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// ResyncInterval, when positive, rebuilds every connected node's
	// snapshot that often, for changes this process was not told about
	// (another replica's writes to a shared PostgreSQL database). Zero
	// means no periodic resync.
	ResyncInterval time.Duration
	// AuthTimeout ends a stream that is not authorized this long after it
	// opened (its first request is missing, unsigned or late); zero means
	// DefaultAuthTimeout. The handshake of a new connection is bounded by
	// it too, and a connection without streams for this long is closed.
	AuthTimeout time.Duration
	// MaxStreams caps the streams this server holds at once, authorized
	// or not; more are refused (ResourceExhausted). Zero means
	// DefaultMaxStreams.
	MaxStreams int

	// afterFunc replaces time.AfterFunc for the authentication deadline
	// (tests fire it by hand).
	afterFunc func(time.Duration, func()) (stop func() bool)
	// Clock makes the resync timer and dates reported counters; nil
	// means the real clock.
	Clock clock.Clock
	// CountersRetention is how long a node's reported TLS counters stay
	// after its last metrics stream closed; zero means
	// DefaultCountersRetention.
	CountersRetention time.Duration
}

// Server is the xDS management server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cache   *flavourCache
	ads     serverv3.Server
	metrics *xdsMetrics
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	unsub   []func()

	mu      sync.Mutex
	streams map[int64]*stream
	nodes   map[string]*node
	dirty   map[string]bool // node ids waiting for a rebuild
	kick    chan struct{}

	authTimeout time.Duration
	maxStreams  int
	openStreams atomic.Int64

	pendingMu         sync.Mutex
	pending           map[string]int // unauthenticated streams per peer address
	maxPendingPerPeer int

	// counters are the TLS counters data planes report on the metrics
	// service (metricsink.go).
	counters counterStore
}

// stream is one open ADS stream.
type stream struct {
	ctx        context.Context
	delta      bool
	nodeID     string
	authorized bool
	// key is the node's entry in nodes and the snapshot cache: the node
	// id, and the principal's key when it has one.
	key string
	// cacheNode is the client's node with key as its id, handed to the
	// snapshot cache so the stream watches its principal's snapshot.
	cacheNode *corev3.Node
	// guard is the interceptor's admission state (nil without it).
	guard *guard
	// sent maps a type URL's last response nonce to the version it
	// carried, so a NACK names the version it refused.
	sent map[string]nonceVersion
	// nacked is, per type URL, the last response nonce NACKed: a NACK
	// repeated for the same response is not counted or logged again.
	nacked map[string]string
	// subs bounds a delta stream's subscriptions (nil for SotW).
	subs deltaSubscription
}

type nonceVersion struct{ nonce, version string }

// node is one data plane identity with at least one open stream.
type node struct {
	id      string
	ref     NodeRef
	streams int
	// flavour is FlavourEnvoy or FlavourGRPC: which translation the
	// node's configuration comes from.
	flavour string
	// principal decides which ACM certificates the node's configuration
	// may carry (nil: none).
	principal StreamPrincipal
	// certs is the last outcome per ACM certificate (certSent,
	// certDenied, certUnavailable), so a decision is audited and counted
	// when it is new or changes, not on every rebuild.
	certs   map[string]string
	version string
	// deps are the certificate and CA ARNs its secrets come from.
	deps map[string]bool
	// acked is the last version acknowledged per type URL.
	acked map[string]string
	// lastNACK is the last refusal, for Status.
	lastNACK *NACK
	// revoked is set (wrapping ErrStreamRevoked) when the principal lost
	// the right to stream: the streams end after acknowledging the
	// configuration without certificates.
	revoked error
}

// NACK is a configuration a data plane refused.
type NACK struct {
	TypeURL string
	Version string
	Message string
	Time    time.Time
}

// NodeStatus is what Status reports about one connected data plane.
type NodeStatus struct {
	NodeID   string
	ARN      string
	Streams  int
	Version  string
	Acked    map[string]string
	LastNACK *NACK
}

// New returns a Server; Close stops its background work.
func New(cfg Config) (*Server, error) {
	if cfg.Mesh == nil {
		return nil, errors.New("xds: Config.Mesh is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger,
		streams: map[int64]*stream{}, nodes: map[string]*node{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1),
	}
	s.authTimeout, s.maxStreams = cfg.AuthTimeout, cfg.MaxStreams
	s.pending, s.maxPendingPerPeer = map[string]int{}, DefaultMaxPendingPerPeer
	s.counters.nodes = map[string]*nodeCounters{}
	s.counters.streams = map[int64]metricStream{}
	s.counters.maxClosed = DefaultMaxClosedCounterNodes
	s.counters.maxSeries = DefaultMaxTotalSeries
	if s.authTimeout <= 0 {
		s.authTimeout = DefaultAuthTimeout
	}
	if s.maxStreams <= 0 {
		s.maxStreams = DefaultMaxStreams
	}
	s.metrics = newXDSMetrics(cfg.Registerer)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cache = newFlavourCache()
	s.ads = serverv3.NewServer(s.ctx, s.cache, s)
	s.unsub = append(s.unsub, cfg.Mesh.Subscribe(s.meshChanged))
	if cfg.Certificates != nil {
		s.unsub = append(s.unsub, cfg.Certificates.Subscribe(s.certChanged))
	}
	s.wg.Add(1)
	go s.rebuildLoop()
	return s, nil
}

// Register adds the aggregated discovery service and Envoy's metrics
// service (the stats sink data planes report their TLS counters to) to g.
// g must have been built with s.StreamInterceptor (NewGRPCServer does):
// without it, streams have no authentication deadline and no cap.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.ads)
	metricsv3.RegisterMetricsServiceServer(g, metricsService{s: s})
}

// StreamInterceptor returns the interceptor that enforces AuthTimeout and
// MaxStreams, for callers that build their own gRPC server.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor { return s.streamGuard }

// maxStreamsPerConn bounds the HTTP/2 streams of one connection: Envoy and
// gRPC clients hold one ADS stream per connection, so a few suffice, and
// one connection cannot take a large share of MaxStreams by itself.
const maxStreamsPerConn = 16

// NewGRPCServer returns a gRPC server with the aggregated discovery
// service registered. creds nil means plaintext HTTP/2 (callers allow that
// on loopback only).
func (s *Server) NewGRPCServer(creds credentials.TransportCredentials) *grpc.Server {
	opts := []grpc.ServerOption{grpc.MaxConcurrentStreams(maxStreamsPerConn), grpc.MaxRecvMsgSize(4 << 20),
		grpc.StreamInterceptor(s.streamGuard),
		grpc.ConnectionTimeout(s.authTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.authTimeout}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	g := grpc.NewServer(opts...)
	s.Register(g)
	return g
}

// Close stops the rebuild loop and the change subscriptions; open streams
// end when their gRPC server stops.
func (s *Server) Close() {
	for _, u := range s.unsub {
		u()
	}
	s.cancel()
	s.wg.Wait()
}

// Status reports every connected data plane.
func (s *Server) Status() []NodeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NodeStatus, 0, len(s.nodes))
	for _, n := range s.nodes {
		acked := make(map[string]string, len(n.acked))
		for k, v := range n.acked {
			acked[k] = v
		}
		out = append(out, NodeStatus{NodeID: n.id, ARN: n.ref.ARN, Streams: n.streams, Version: n.version, Acked: acked, LastNACK: n.lastNACK})
	}
	return out
}

// ---- go-control-plane callbacks ----

// OnStreamOpen keeps the stream's context: authorization needs the node
// id, which only its first request carries.
func (s *Server) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, id, false)
}

// OnDeltaStreamOpen is OnStreamOpen for incremental streams.
func (s *Server) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, id, true)
}

func (s *Server) open(ctx context.Context, id int64, delta bool) error {
	s.mu.Lock()
	st := &stream{ctx: ctx, delta: delta, sent: map[string]nonceVersion{}, nacked: map[string]string{}, guard: guardFrom(ctx)}
	if delta {
		st.subs = deltaSubscription{}
	}
	s.streams[id] = st
	s.mu.Unlock()
	return nil
}

// OnStreamClosed forgets the stream and, with its last stream, the node.
func (s *Server) OnStreamClosed(id int64, _ *corev3.Node) { s.closeStream(id) }

// OnDeltaStreamClosed is OnStreamClosed for incremental streams.
func (s *Server) OnDeltaStreamClosed(id int64, _ *corev3.Node) { s.closeStream(id) }

func (s *Server) closeStream(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	delete(s.streams, id)
	if st == nil || !st.authorized {
		return
	}
	s.metrics.streams.Dec()
	if n := s.nodes[st.key]; n != nil {
		n.streams--
		if n.streams <= 0 {
			delete(s.nodes, st.key)
			delete(s.dirty, st.key)
			s.cache.ClearSnapshot(st.key)
		}
	}
}

// OnStreamRequest authorizes a stream's first request and watches every
// later one for a changed node id and for NACKs.
func (s *Server) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	if err := s.checkRequest(req.GetNode(), req.GetTypeUrl(), req.GetResourceNames()); err != nil {
		return err
	}
	st, err := s.admit(id, req.GetNode())
	if err != nil {
		return err
	}
	req.Node = st.cacheNode
	if req.GetErrorDetail() != nil {
		if v := s.nack(st, req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage()); v != "" {
			// Answer the NACK with nothing until the configuration
			// changes: the cache resends whenever the request's version
			// differs from the snapshot's, which would loop on a
			// configuration the data plane refuses. It keeps the last one
			// it accepted.
			req.VersionInfo = v
		}
		return nil
	}
	s.ack(st, req.GetTypeUrl(), req.GetResponseNonce())
	return s.checkRevoked(st)
}

// OnStreamDeltaRequest is OnStreamRequest for incremental streams.
func (s *Server) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := s.checkRequest(req.GetNode(), req.GetTypeUrl(), req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), initialNames(req.GetInitialResourceVersions())); err != nil {
		return err
	}
	st, err := s.admit(id, req.GetNode())
	if err != nil {
		return err
	}
	req.Node = st.cacheNode
	// One goroutine reads a stream's requests, so subs needs no lock.
	if err := st.subs.apply(req.GetTypeUrl(), req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), req.GetInitialResourceVersions()); err != nil {
		s.metrics.refused.WithLabelValues("bad_request").Inc()
		return err
	}
	if req.GetErrorDetail() != nil {
		s.nack(st, req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage())
		return nil
	}
	s.ack(st, req.GetTypeUrl(), req.GetResponseNonce())
	return s.checkRevoked(st)
}

// checkRequest refuses, before anything else is done with it, a request
// for a type no cache serves, or whose node or names pass the bounds
// (requestlimits.go); the stream ends with InvalidArgument.
func (s *Server) checkRequest(n *corev3.Node, typeURL string, names ...[]string) error {
	err := checkType(typeURL)
	if err == nil {
		err = checkNode(n)
	}
	if err == nil {
		err = checkNames(names...)
	}
	if err != nil {
		s.metrics.refused.WithLabelValues("bad_request").Inc()
	}
	return err
}

// checkRevoked ends a stream whose principal lost the right to stream,
// once it has acknowledged the configuration without certificates.
func (s *Server) checkRevoked(st *stream) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[st.key]; n != nil {
		if err := n.revokedFor(st); err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
	}
	return nil
}

// OnStreamResponse remembers which version a nonce carried.
func (s *Server) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	s.sent(id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

// OnStreamDeltaResponse remembers which version a nonce carried.
func (s *Server) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	s.sent(id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// OnFetchRequest refuses the unary REST/gRPC fetch path: configuration
// flows only over authorized streams.
func (s *Server) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "fetch is not served; open an aggregated discovery stream")
}

// OnFetchResponse is unused (fetch is refused).
func (s *Server) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

func (s *Server) sent(id int64, typeURL, nonce, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		st.sent[typeURL] = nonceVersion{nonce, version}
	}
	s.metrics.pushes.Inc()
}

// admit authorizes the stream on its first request and refuses any later
// request that names another node: the snapshot served is the node id's,
// so a stream allowed for one resource must not switch to another.
func (s *Server) admit(id int64, n *corev3.Node) (*stream, error) {
	s.mu.Lock()
	st := s.streams[id]
	s.mu.Unlock()
	if st == nil {
		return nil, status.Error(codes.Internal, "unknown stream")
	}
	if st.authorized {
		if n != nil && n.GetId() != st.nodeID {
			s.metrics.refused.WithLabelValues("node_changed").Inc()
			return nil, status.Errorf(codes.PermissionDenied, "the stream was authorized for node %q and cannot switch to %q", st.nodeID, n.GetId())
		}
		return st, nil
	}
	if n == nil || n.GetId() == "" {
		s.metrics.refused.WithLabelValues("no_node").Inc()
		return nil, status.Error(codes.InvalidArgument, "the first request must carry the node, whose id is the virtual node or virtual gateway ARN")
	}
	ref, err := ParseNodeID(n.GetId(), s.cfg.Region, s.cfg.AccountID)
	if err != nil {
		s.metrics.refused.WithLabelValues("bad_node_id").Inc()
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	principal, err := s.authorize(st, ref)
	if err != nil {
		s.metrics.refused.WithLabelValues("denied").Inc()
		s.log.Warn("xds stream refused", "node", n.GetId(), "err", err)
		return nil, err
	}
	if err := s.attach(st, n, ref, principal, flavourOf(n)); err != nil {
		s.metrics.refused.WithLabelValues("no_configuration").Inc()
		return nil, err
	}
	s.metrics.streams.Inc()
	if st.guard != nil && !st.guard.authorize() {
		// Authorized too late: the stream is ending; closeStream undoes
		// the attachment (and the gauge).
		return nil, status.Error(codes.Unauthenticated, "the stream was not authorized in time")
	}
	return st, nil
}

func (s *Server) authorize(st *stream, ref NodeRef) (StreamPrincipal, error) {
	if s.cfg.Authorizer == nil {
		return nil, status.Error(codes.PermissionDenied, "no authorizer is configured, so every stream is refused")
	}
	r, ip, isTLS, uris := streamHTTPRequest(st.ctx, st.delta)
	sr := &StreamRequest{Node: ref, Request: r, SourceIP: ip, TLS: isTLS, ClientURIs: uris}
	err := s.cfg.Authorizer.AuthorizeStream(st.ctx, sr)
	if err == nil {
		return sr.Principal, nil
	}
	if _, ok := status.FromError(err); ok {
		return nil, err
	}
	return nil, status.Error(codes.PermissionDenied, err.Error())
}

// nodeKey is a node's key in nodes and in the snapshot cache: the node id
// alone for an Envoy with a nil principal, else the id, the principal's
// key and the flavour (NUL cannot occur in a node id that ParseNodeID
// accepted).
func nodeKey(nodeID string, p StreamPrincipal, flavour string) string {
	key := nodeID
	if p != nil && p.Key() != "" {
		key += "\x00" + p.Key()
	}
	if flavour != FlavourEnvoy {
		key += "\x00flavour=" + flavour // grpcKeySuffix for FlavourGRPC
	}
	return key
}

// streamHTTPRequest rebuilds the HTTP/2 request of a stream from its
// gRPC metadata, for SigV4 verification.
func streamHTTPRequest(ctx context.Context, delta bool) (*http.Request, string, bool, []string) {
	path := ADSMethod
	if delta {
		path = DeltaADSMethod
	}
	if m, ok := grpc.Method(ctx); ok {
		path = m
	}
	md, _ := metadata.FromIncomingContext(ctx)
	h := http.Header{}
	authority := ""
	for k, vs := range md {
		if k == ":authority" {
			if len(vs) > 0 {
				authority = vs[0]
			}
			continue
		}
		if strings.HasPrefix(k, ":") {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	// gRPC clients sign the authority without the default TLS port (the
	// service URL gRPC hands to credential plugins drops ":443").
	authority = strings.TrimSuffix(authority, ":443")
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: path}, Host: authority, Header: h, Proto: "HTTP/2.0", ProtoMajor: 2}
	ip, isTLS := "", false
	var uris []string
	if p, ok := peer.FromContext(ctx); ok {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			ip = host
		}
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			isTLS = true
			// Only a chain the listener verified names anyone; a
			// certificate merely presented proves nothing.
			if len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
				for _, u := range ti.State.VerifiedChains[0][0].URIs {
					uris = append(uris, u.String())
				}
			}
		}
	}
	return r, ip, isTLS, uris
}

// attach registers the stream with its node entry (node id and
// principal), building the entry's first snapshot if it is its first
// stream.
func (s *Server) attach(st *stream, cn *corev3.Node, ref NodeRef, p StreamPrincipal, flavour string) error {
	nodeID := cn.GetId()
	key := nodeKey(nodeID, p, flavour)
	cacheNode := cn
	if key != nodeID {
		cacheNode = proto.Clone(cn).(*corev3.Node)
		cacheNode.Id = key
	}
	join := func(n *node) {
		n.streams++
		st.authorized, st.nodeID, st.key, st.cacheNode = true, nodeID, key, cacheNode
	}
	s.mu.Lock()
	if n := s.nodes[key]; n != nil {
		join(n)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	n := &node{id: nodeID, ref: ref, principal: p, flavour: flavour, acked: map[string]string{}, certs: map[string]string{}}
	tr, err := s.translate(ref, flavour)
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "no configuration for %s: %v", ref.ARN, err)
	}
	snap, version, certs, err := s.assemble(tr, n, nil, nil)
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "no configuration for %s: %v", ref.ARN, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other := s.nodes[key]; other != nil {
		// Another stream of the node got here first.
		join(other)
		return nil
	}
	if err := s.cache.SetSnapshot(s.ctx, key, snap); err != nil {
		return status.Errorf(codes.Internal, "snapshot: %v", err)
	}
	n.version, n.deps, n.certs = version, tr.deps, certs
	s.nodes[key] = n
	join(n)
	return nil
}

// nack records a data plane's refusal of the last response of a type
// and returns the version last sent for the type ("" if none was), which
// the caller announces as the data plane's so that nothing is resent
// until the configuration changes. A NACK is one refusal of one
// response: one naming a nonce that is not the type's last response
// (stale, or never sent) refuses nothing and is not recorded, and one
// repeating a response already NACKed is not counted or logged again,
// so a data plane cannot inflate the count, the log or the status.
// (go-control-plane forgets a type's nonce once it has handled a request
// for it, so it does not drop those stale requests itself.)
func (s *Server) nack(st *stream, typeURL, nonce, msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv, ok := st.sent[typeURL]
	if !ok {
		return ""
	}
	if nonce == "" || nv.nonce != nonce || st.nacked[typeURL] == nonce {
		return nv.version
	}
	st.nacked[typeURL] = nonce
	msg = truncate(msg, maxNACKMessage)
	s.metrics.nacks.WithLabelValues(shortType(typeURL)).Inc()
	if n := s.nodes[st.key]; n != nil {
		n.lastNACK = &NACK{TypeURL: typeURL, Version: nv.version, Message: msg, Time: s.now()}
	}
	s.log.Warn("xds configuration refused by data plane (NACK); it keeps its last accepted configuration",
		"node", st.nodeID, "type", typeURL, "version", nv.version, "envoyError", msg)
	return nv.version
}

func (s *Server) ack(st *stream, typeURL, nonce string) {
	if nonce == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nv, ok := st.sent[typeURL]
	if !ok || nv.nonce != nonce {
		return
	}
	if n := s.nodes[st.key]; n != nil {
		n.acked[typeURL] = nv.version
	}
}

func shortType(typeURL string) string {
	if i := strings.LastIndexByte(typeURL, '.'); i >= 0 {
		return typeURL[i+1:]
	}
	return "unknown"
}
