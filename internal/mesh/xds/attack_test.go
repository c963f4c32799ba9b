package xds

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The tests in this file are an attacker's: a data plane (authorized, or
// not yet) sending what Envoy never sends, to make the server hold
// memory, inflate its metrics and logs, or hand over another node's
// configuration.

// shortCtx bounds a test whose failure mode is a server that never
// answers: it fails in seconds instead of at the package timeout.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// adsStream is one SotW or delta ADS stream, driven alike.
type adsStream struct {
	sotw  discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	delta discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
}

func openADS(t *testing.T, f *fixture, ctx context.Context, delta bool) *adsStream {
	t.Helper()
	var err error
	s := &adsStream{}
	if delta {
		s.delta, err = f.ads.DeltaAggregatedResources(ctx)
	} else {
		s.sotw, err = f.ads.StreamAggregatedResources(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send asks for typeURL with names (delta: subscribes to them).
func (s *adsStream) send(first bool, typeURL string, names []string) error {
	var n = tellerNode()
	if !first {
		n = nil
	}
	if s.delta != nil {
		return s.delta.Send(&discoveryv3.DeltaDiscoveryRequest{Node: n, TypeUrl: typeURL, ResourceNamesSubscribe: names})
	}
	return s.sotw.Send(&discoveryv3.DiscoveryRequest{Node: n, TypeUrl: typeURL, ResourceNames: names})
}

// recv returns the next response's type URL and resource names.
func (s *adsStream) recv() (string, []string, error) {
	if s.delta != nil {
		r, err := s.delta.Recv()
		if err != nil {
			return "", nil, err
		}
		var names []string
		for _, res := range r.Resources {
			names = append(names, res.Name)
		}
		return r.TypeUrl, names, nil
	}
	r, err := s.sotw.Recv()
	if err != nil {
		return "", nil, err
	}
	var names []string
	for _, a := range r.Resources {
		m, err := a.UnmarshalNew()
		if err != nil {
			return "", nil, err
		}
		if n, ok := m.(interface{ GetName() string }); ok {
			names = append(names, n.GetName())
		}
	}
	return r.TypeUrl, names, nil
}

// recvErr reads until the stream ends and returns why.
func (s *adsStream) recvErr() error {
	for {
		if _, _, err := s.recv(); err != nil {
			return err
		}
	}
}

func bothVariants(t *testing.T, fn func(t *testing.T, delta bool)) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			t.Parallel()
			fn(t, delta)
		})
	}
}

// A type URL the server cannot serve would open a watch that is never
// answered and never freed while the stream lives (go-control-plane keeps
// one per type URL): an authorized stream naming new types without end
// grows the server's memory without bound, and a NACK of such a type
// would add a metric series per name. Both are refused.
func TestADSRefusesUnknownTypeURLs(t *testing.T) {
	t.Parallel()
	bothVariants(t, func(t *testing.T, delta bool) {
		f := newFixture(t)
		for _, first := range []bool{true, false} {
			st := openADS(t, f, shortCtx(t), delta)
			if !first {
				if err := st.send(true, resourcev3.ClusterType, nil); err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.recv(); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.send(first, "type.googleapis.com/bulwark.test.NotAnXDSType", nil); err != nil {
				t.Fatal(err)
			}
			if err := st.recvErr(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "NotAnXDSType") {
				t.Fatalf("first=%v: got %v, want InvalidArgument naming the type", first, err)
			}
		}
		if n := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("bad_request")); n != 2 {
			t.Fatalf("refused{bad_request} = %v, want 2", n)
		}
	})
}

// One request naming a huge number of resources, or a delta stream
// subscribing a few thousand more on every request, would make the
// server hold them for the life of the stream.
func TestADSBoundsResourceNames(t *testing.T) {
	t.Parallel()
	names := func(n, from int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("arn:aws:acm:us-east-1:111122223333:certificate/%08d", from+i)
		}
		return out
	}
	bothVariants(t, func(t *testing.T, delta bool) {
		f := newFixture(t)
		t.Run("one request", func(t *testing.T) {
			st := openADS(t, f, shortCtx(t), delta)
			if err := st.send(true, resourcev3.SecretType, names(MaxResourceNames+1, 0)); err != nil {
				t.Fatal(err)
			}
			if err := st.recvErr(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
		t.Run("long names", func(t *testing.T) {
			st := openADS(t, f, shortCtx(t), delta)
			long := []string{strings.Repeat("n", MaxResourceNameBytes/2), strings.Repeat("m", MaxResourceNameBytes/2+1)}
			if err := st.send(true, resourcev3.SecretType, long); err != nil {
				t.Fatal(err)
			}
			if err := st.recvErr(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
		t.Run("huge node", func(t *testing.T) {
			// A node whose metadata fills the message: kept for the life of
			// the stream, so bounded.
			n := tellerNode()
			n.UserAgentName = strings.Repeat("u", MaxNodeBytes)
			var err error
			if delta {
				st := openADS(t, f, shortCtx(t), true)
				err = st.delta.Send(&discoveryv3.DeltaDiscoveryRequest{Node: n, TypeUrl: resourcev3.ClusterType})
				if err == nil {
					err = st.recvErr()
				}
			} else {
				st := openADS(t, f, shortCtx(t), false)
				err = st.sotw.Send(&discoveryv3.DiscoveryRequest{Node: n, TypeUrl: resourcev3.ClusterType})
				if err == nil {
					err = st.recvErr()
				}
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "node") {
				t.Fatalf("got %v, want InvalidArgument about the node", err)
			}
		})
		if !delta {
			return
		}
		t.Run("accumulated subscriptions", func(t *testing.T) {
			st := openADS(t, f, shortCtx(t), delta)
			half := MaxResourceNames/2 + 1
			if err := st.send(true, resourcev3.SecretType, names(half, 0)); err != nil {
				t.Fatal(err)
			}
			// Subscribing the same names again adds nothing...
			if err := st.send(false, resourcev3.SecretType, names(half, 0)); err != nil {
				t.Fatal(err)
			}
			// ... and unsubscribing makes room (for another type too).
			if err := st.delta.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNamesUnsubscribe: names(half, 0)}); err != nil {
				t.Fatal(err)
			}
			if err := st.send(false, resourcev3.SecretType, names(half, half)); err != nil {
				t.Fatal(err)
			}
			// The stream is alive: an answer for clusters comes.
			if err := st.send(false, resourcev3.ClusterType, []string{"*"}); err != nil {
				t.Fatal(err)
			}
			for {
				typ, _, err := st.recv()
				if err != nil {
					t.Fatalf("stream within the bound ended: %v", err)
				}
				if typ == resourcev3.ClusterType {
					break
				}
			}
			if err := st.send(false, resourcev3.SecretType, names(half, 2*half)); err != nil {
				t.Fatal(err)
			}
			if err := st.recvErr(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument once the stream's subscriptions pass %d", err, MaxResourceNames)
			}
		})
		t.Run("accumulated name bytes", func(t *testing.T) {
			// Few names, each as long as one request allows: their sum is
			// bounded too.
			st := openADS(t, f, shortCtx(t), delta)
			for i := range 4 {
				name := fmt.Sprintf("%d%s", i, strings.Repeat("n", MaxResourceNameBytes/3))
				if err := st.send(i == 0, resourcev3.SecretType, []string{name}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.recvErr(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument once the subscribed names pass %d bytes", err, MaxResourceNameBytes)
			}
		})
	})
}

// A data plane repeating a NACK (or NACKing nonces it never got) must
// not inflate the NACK count, the log, or the message the status API
// serves: a NACK is one refusal of one response.
func TestADSNACKFloodCountedOnce(t *testing.T) {
	t.Parallel()
	logs := &recordLog{}
	f := &fixture{mesh: newMemMesh(), certs: newMemCerts(t), authz: &allowList{allowed: map[string]bool{tellerARN: true}}, reg: prometheus.NewRegistry()}
	f.certs.issue(t, tellerCert, "colorteller.mesh.local")
	f.setPort(t, 9080)
	srv, err := New(Config{Mesh: f.mesh, Certificates: f.certs, Authorizer: f.authz, Region: testRegion, AccountID: testAccount, Registerer: f.reg, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.ads = discoveryv3.NewAggregatedDiscoveryServiceClient(startXDS(t, srv))
	st, err := f.ads.StreamAggregatedResources(shortCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 1<<20)
	nack := func(nonce string) {
		t.Helper()
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: nonce,
			ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: huge}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		nack(r1.Nonce)
	}
	for i := range 20 {
		nack(fmt.Sprintf("never-sent-%d", i))
	}
	nack("")
	// Requests are handled in order: once the listeners are answered, every
	// NACK before them has been seen.
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.TypeUrl == resourcev3.ListenerType {
			break
		}
		if r.TypeUrl == resourcev3.ClusterType {
			t.Fatalf("the refused clusters were sent again (version %s)", r.VersionInfo)
		}
	}
	if n := testutil.ToFloat64(f.srv.metrics.nacks.WithLabelValues("Cluster")); n != 1 {
		t.Fatalf("%s = %v after one NACK repeated and 21 NACKs of unknown nonces, want 1", MetricNACKs, n)
	}
	s := f.srv.Status()
	if len(s) != 1 || s[0].LastNACK == nil {
		t.Fatalf("status %+v", s)
	}
	if got := len(s[0].LastNACK.Message); got > maxNACKMessage+len("…") {
		t.Fatalf("the status keeps a %d-byte NACK message, want at most %d", got, maxNACKMessage)
	}
	if s[0].LastNACK.Version != r1.VersionInfo {
		t.Fatalf("last NACK names version %q, want %q", s[0].LastNACK.Version, r1.VersionInfo)
	}
	// Logged once, with Envoy's message (cut), the node and the version.
	nacks := logs.matching("NACK")
	if len(nacks) != 1 {
		t.Fatalf("%d NACK log records, want 1", len(nacks))
	}
	a := nacks[0]
	if a["node"] != tellerARN || a["version"] != r1.VersionInfo || a["type"] != resourcev3.ClusterType ||
		!strings.HasPrefix(a["envoyError"], "xxxx") || len(a["envoyError"]) > maxNACKMessage+len("…") {
		t.Fatalf("NACK logged as %v", trimmed(a))
	}
}

// recordLog keeps every log record's message and attributes.
type recordLog struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordLog) WithGroup(string) slog.Handler            { return h }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *recordLog) matching(sub string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.recs {
		if strings.Contains(r["msg"], sub) {
			out = append(out, r)
		}
	}
	return out
}

func trimmed(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = truncate(v, 80)
	}
	return out
}

// A node's stream carries its own configuration only: naming another
// node's certificate (SotW), or subscribing to it or to everything
// (delta's "*"), never yields another node's secret.
func TestADSOtherNodesSecretsUnreachable(t *testing.T) {
	t.Parallel()
	const otherARN = "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/other"
	const otherCert = "arn:aws:acm:us-east-1:111122223333:certificate/other"
	bothVariants(t, func(t *testing.T, delta bool) {
		f := newFixture(t)
		f.certs.issue(t, otherCert, "other.mesh.local")
		other := colorTellerSnapshot(t, "one-way")
		other.VirtualNode.Name = "other"
		other.VirtualNode.Spec.Listeners[0].TLS.Certificate.ACM.CertificateArn = otherCert
		f.mesh.put("color-mesh", KindVirtualNode, "other", other)
		f.authz.mu.Lock()
		f.authz.allowed[otherARN] = true
		f.authz.mu.Unlock()

		// The other node is connected, so its secret is in the cache.
		ctx := shortCtx(t)
		ost, err := f.ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := ost.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: otherARN}, TypeUrl: resourcev3.SecretType, ResourceNames: []string{otherCert}}); err != nil {
			t.Fatal(err)
		}
		r, err := ost.Recv()
		if err != nil || len(r.Resources) != 1 {
			t.Fatalf("the other node's own secret: %v %v", r, err)
		}

		st := openADS(t, f, ctx, delta)
		want := []string{tellerCert, otherCert}
		if delta {
			want = []string{otherCert, "*"}
		}
		if err := st.send(true, resourcev3.SecretType, want); err != nil {
			t.Fatal(err)
		}
		typ, got, err := st.recv()
		if err != nil {
			t.Fatal(err)
		}
		if typ != resourcev3.SecretType {
			t.Fatalf("type %s", typ)
		}
		for _, n := range got {
			if n == otherCert {
				t.Fatalf("the ColorTeller's stream received the other node's secret (%v)", got)
			}
		}
		if !slices.Contains(got, tellerCert) {
			t.Fatalf("secrets %v, want the ColorTeller's own", got)
		}
	})
}

// Streams on one HTTP/2 connection are authorized one by one: a
// connection whose first stream was allowed for one node gets nothing
// for another node its principal may not stream, and the refusal does
// not touch the allowed stream.
func TestADSStreamsOfOneConnectionAuthorizedApart(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // every stream of the fixture shares one connection
	ctx := shortCtx(t)
	a, err := f.ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	r1, err := a.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r1.VersionInfo, ResponseNonce: r1.Nonce}); err != nil {
		t.Fatal(err)
	}
	for _, spoof := range []string{
		"arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualGateway/colorgateway",
		"mesh/color-mesh/virtualNode/colorgateway",
	} {
		b, err := f.ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: spoof}, TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Recv(); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s on the allowed stream's connection: got %v, want PermissionDenied", spoof, err)
		}
	}
	f.authz.mu.Lock()
	decisions := len(f.authz.seen)
	f.authz.mu.Unlock()
	if decisions != 3 {
		t.Fatalf("%d authorization decisions for 3 streams", decisions)
	}
	f.setPort(t, 9081)
	r2, err := a.Recv()
	if err != nil {
		t.Fatalf("the allowed stream: %v", err)
	}
	if clusterNames(t, r2.Resources)[0] != "cds_ingress_color-mesh_colorteller_http_9081" {
		t.Fatalf("the allowed stream got %v", clusterNames(t, r2.Resources))
	}
}

// rawCodec sends bytes as they are, so a test can put a malformed
// message on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// A message that is not a DiscoveryRequest ends that stream (gRPC cannot
// decode it) and nothing else: the server keeps serving.
func TestADSMalformedRequestEndsOnlyItsStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := shortCtx(t)
	conn := startXDS(t, f.srv)
	desc := &grpc.StreamDesc{StreamName: "StreamAggregatedResources", ServerStreams: true, ClientStreams: true}
	for _, junk := range [][]byte{
		{0xff, 0xff, 0xff, 0xff},                              // a truncated varint tag
		{0x0a, 0x80, 0x80, 0x80, 0x80, 0x08},                  // a length far past the message
		{0x12, 0x03, 0xff, 0xfe, 0xfd},                        // node: not a Node message
		append([]byte{0x0a, 0x05}, "\xff\xfe\xfd\xfc\xfb"...), // version_info: invalid UTF-8
	} {
		cs, err := conn.NewStream(ctx, desc, ADSMethod, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(junk); err != nil {
			t.Fatal(err)
		}
		var out []byte
		if err := cs.RecvMsg(&out); err == nil {
			t.Fatalf("junk % x got an answer", junk)
		}
	}
	st := openADS(t, f, ctx, false)
	if err := st.send(true, resourcev3.ClusterType, nil); err != nil {
		t.Fatal(err)
	}
	if _, names, err := st.recv(); err != nil || len(names) != 1 {
		t.Fatalf("a well-formed stream after the junk: %v %v", names, err)
	}
}

// FuzzDiscoveryRequest feeds arbitrary DiscoveryRequests (and delta
// requests) through the server's stream callbacks, authorized and not:
// whatever a data plane sends, the server answers with an error or
// carries on, and never panics.
func FuzzDiscoveryRequest(f *testing.F) {
	seed := func(m proto.Message) { b, _ := proto.Marshal(m); f.Add(b, false); f.Add(b, true) }
	seed(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.ClusterType})
	seed(&discoveryv3.DiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.SecretType, ResourceNames: []string{tellerCert}, ResponseNonce: "1",
		ErrorDetail: &statuspb.Status{Message: "bad"}})
	seed(&discoveryv3.DeltaDiscoveryRequest{Node: tellerNode(), TypeUrl: resourcev3.SecretType, ResourceNamesSubscribe: []string{"*"},
		InitialResourceVersions: map[string]string{tellerCert: "1"}})
	seed(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "mesh/color-mesh/virtualNode/x"}, TypeUrl: "t"})
	mesh, certs := newMemMesh(), newMemCerts(f)
	certs.issue(f, tellerCert, "colorteller.mesh.local")
	mesh.put("color-mesh", KindVirtualNode, "colorteller", colorTellerSnapshot(f, "one-way"))
	srv, err := New(Config{Mesh: mesh, Certificates: certs, Authorizer: &allowList{allowed: map[string]bool{tellerARN: true}}, Region: testRegion, AccountID: testAccount})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Close)
	var id int64
	f.Fuzz(func(t *testing.T, b []byte, delta bool) {
		id++
		if delta {
			req := &discoveryv3.DeltaDiscoveryRequest{}
			if proto.Unmarshal(b, req) != nil {
				return
			}
			_ = srv.OnDeltaStreamOpen(context.Background(), id, resourcev3.AnyType)
			for range 2 {
				_ = srv.OnStreamDeltaRequest(id, proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest))
			}
			srv.OnDeltaStreamClosed(id, nil)
			return
		}
		req := &discoveryv3.DiscoveryRequest{}
		if proto.Unmarshal(b, req) != nil {
			return
		}
		_ = srv.OnStreamOpen(context.Background(), id, resourcev3.AnyType)
		for range 2 {
			_ = srv.OnStreamRequest(id, proto.Clone(req).(*discoveryv3.DiscoveryRequest))
		}
		srv.OnStreamClosed(id, nil)
	})
}
