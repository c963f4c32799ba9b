package xds

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc/peer"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Defaults of the stream limits (Config.AuthTimeout, Config.MaxStreams).
const (
	// DefaultAuthTimeout bounds how long a stream may stay open without
	// being authorized. Envoy sends its first request as soon as the
	// stream opens, so this only ends streams held open by something that
	// is not a data plane.
	DefaultAuthTimeout = 15 * time.Second
	// DefaultMaxStreams caps the streams one server holds, authorized or
	// not: ten times the 1,000-node fleet the benchmark runs.
	DefaultMaxStreams = 10000
)

// errAuthTimeout is the cause of a stream ended for not authenticating.
var errAuthTimeout = errors.New("xds: no authorized request in time")

// guard is one stream's admission state, shared by the interceptor and the
// callbacks through the stream's context.
type guard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	// state moves once, from pending to authorized (the first request was
	// allowed) or to timedOut (the deadline passed first).
	state atomic.Int32
	// leavePending gives back the stream's place among its peer's
	// unauthenticated streams; it runs once, on authorization or at the
	// end of the stream.
	leavePending func()
}

const (
	guardPending int32 = iota
	guardAuthorized
	guardTimedOut
)

// authorize marks the stream authorized; false if its deadline passed.
func (g *guard) authorize() bool {
	if g.state.CompareAndSwap(guardPending, guardAuthorized) {
		if g.leavePending != nil {
			g.leavePending()
		}
		return true
	}
	return g.state.Load() == guardAuthorized
}

// DefaultMaxPendingPerPeer bounds the streams one source address may hold
// before they are authorized. A data plane opens one ADS stream and
// authorizes it at once, so a peer (or a NAT in front of a few hundred
// Envoys reconnecting together) stays well below it; an attacker filling
// the server-wide cap with streams that never authenticate is refused at
// this many per address.
const DefaultMaxPendingPerPeer = 64

// enterPending takes a place among peer's unauthenticated streams; false
// when it holds DefaultMaxPendingPerPeer already. leave gives it back
// (idempotent).
func (s *Server) enterPending(peerIP string) (leave func(), ok bool) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if s.pending[peerIP] >= s.maxPendingPerPeer {
		return nil, false
	}
	s.pending[peerIP]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.pendingMu.Lock()
			defer s.pendingMu.Unlock()
			if s.pending[peerIP]--; s.pending[peerIP] <= 0 {
				delete(s.pending, peerIP)
			}
		})
	}, true
}

// peerIP is the stream's source address without the port ("" if unknown).
func peerIP(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}

type guardKey struct{}

// guardFrom returns the guard the interceptor put in a stream's context
// (nil for a stream that did not pass through it).
func guardFrom(ctx context.Context) *guard {
	g, _ := ctx.Value(guardKey{}).(*guard)
	return g
}

// guardedStream gives the handler the guard's context and makes its
// reads end when the guard's context does, which the real stream's reads
// do not: gRPC ends a stream's Recv only when the client or the transport
// does.
type guardedStream struct {
	grpc.ServerStream
	g *guard
}

func (s *guardedStream) Context() context.Context { return s.g.ctx }

// RecvMsg reads the next message, waiting at most until the guard's
// context ends: before authorization that is the authentication deadline,
// after it a revocation (the principal lost the right to stream). Reads
// are sequential (one goroutine of the handler), so at most one real read
// is in flight.
func (s *guardedStream) RecvMsg(m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return s.ServerStream.RecvMsg(m)
	}
	tmp := pm.ProtoReflect().New().Interface()
	done := make(chan error, 1)
	go func() { done <- s.ServerStream.RecvMsg(tmp) }()
	select {
	case err := <-done:
		if err == nil {
			proto.Merge(pm, tmp)
		}
		return err
	case <-s.g.ctx.Done():
		// The read still in flight ends when gRPC finishes the stream,
		// right after the handler returns.
		return context.Cause(s.g.ctx)
	}
}

// streamGuard is the gRPC stream interceptor that enforces the per-server
// stream cap and the authentication deadline: a stream not authorized
// within AuthTimeout of opening is ended (Unauthenticated), whatever it
// sends or does not send meanwhile.
func (s *Server) streamGuard(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if n := s.openStreams.Add(1); n > int64(s.maxStreams) {
		s.openStreams.Add(-1)
		s.metrics.refused.WithLabelValues("too_many_streams").Inc()
		return status.Errorf(codes.ResourceExhausted, "this server holds its maximum of %d xDS streams; retry later or against another server", s.maxStreams)
	}
	defer s.openStreams.Add(-1)
	leave, ok := s.enterPending(peerIP(ss.Context()))
	if !ok {
		s.metrics.refused.WithLabelValues("too_many_unauthenticated").Inc()
		return status.Errorf(codes.ResourceExhausted, "this address holds its maximum of %d xDS streams not yet authorized; authorize (send a signed first request) before opening more", s.maxPendingPerPeer)
	}
	defer leave()
	g := &guard{leavePending: leave}
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	g.ctx, g.cancel = context.WithValue(ctx, guardKey{}, g), cancel
	afterFunc := s.cfg.afterFunc
	if afterFunc == nil {
		afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	stop := afterFunc(s.authTimeout, func() {
		if g.state.CompareAndSwap(guardPending, guardTimedOut) {
			cancel(errAuthTimeout)
		}
	})
	defer stop()
	err := handler(srv, &guardedStream{ServerStream: ss, g: g})
	if cause := context.Cause(g.ctx); errors.Is(cause, ErrStreamRevoked) {
		return status.Error(codes.PermissionDenied, cause.Error())
	}
	if g.state.Load() == guardTimedOut {
		s.metrics.refused.WithLabelValues("auth_timeout").Inc()
		s.log.Warn("xds stream ended: no authorized request in time", "timeout", s.authTimeout)
		return status.Error(codes.Unauthenticated, fmt.Sprintf("no authorized discovery request within %s of opening the stream", s.authTimeout))
	}
	return err
}
