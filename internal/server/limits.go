package server

import (
	"container/list"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Unauthenticated clients cost memory before anything about them is known:
// a connection (goroutine, buffers, headers) and the body read before its
// signature can be checked. Two bounds keep that cost fixed however many
// clients come:
//
//   - connLimiter caps open connections. At the cap a new connection does
//     not wait in the kernel's queue behind an attacker's: the connection
//     that has waited longest without a verified signature (idle, reading
//     headers or a body) is closed to make room. A connection whose request
//     has been authenticated is never closed for this, so a signed caller
//     is served while a flood of slow connections churns around it.
//   - bodyBudget caps the bytes of request bodies held, server-wide, before
//     their signature is verified. Each request reads its first
//     freeBodyBytes (enough for most calls, ListKeys's "{}" among them)
//     outside the budget, so small signed calls never wait on it; beyond
//     that a request that finds the budget spent is refused with a
//     retryable 503 instead of waiting for memory.
//
// Worst case: MaxConnections × (per-connection overhead + headers +
// freeBodyBytes) + MaxUnauthenticatedBodyBytes.

// freeBodyBytes of each body are read without touching the shared budget.
const freeBodyBytes = 4 << 10

// firstBodyChunk is the first buffer a body is read into; it doubles as
// bytes arrive, so a client that declares a large Content-Length and sends
// nothing costs this much and no more.
const firstBodyChunk = 512

// connLimiter is the http.Server's ConnState hook that enforces
// MaxConnections by closing the oldest connection not serving an
// authenticated request.
type connLimiter struct {
	max int // <= 0: no limit
	m   *metrics

	mu    sync.Mutex
	conns map[net.Conn]*connEntry
	// idle holds the connections that may be closed to make room (no
	// authenticated request in progress), oldest first.
	idle list.List
}

type connEntry struct {
	c    net.Conn
	elem *list.Element // in idle; nil while authenticated work runs
}

func newConnLimiter(max int, m *metrics) *connLimiter {
	return &connLimiter{max: max, m: m, conns: map[net.Conn]*connEntry{}}
}

type connKey struct{}

// connContext records the connection in its requests' context, so a
// handler can tell the limiter its request is authenticated.
func (l *connLimiter) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connState tracks every connection from accept to close.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		var victim net.Conn
		l.mu.Lock()
		e := &connEntry{c: c}
		l.conns[c] = e
		e.elem = l.idle.PushBack(e)
		if l.max > 0 && len(l.conns) > l.max {
			// The list holds at least e, which is closed itself when every
			// other connection is busy with authenticated work.
			v := l.idle.Front().Value.(*connEntry)
			l.removeLocked(v)
			victim = v.c
		}
		open := len(l.conns)
		l.mu.Unlock()
		l.m.connsOpen.Set(float64(open))
		if victim != nil {
			l.m.connsShed.Inc()
			_ = victim.Close()
		}
	case http.StateIdle:
		l.mu.Lock()
		if e := l.conns[c]; e != nil && e.elem == nil {
			e.elem = l.idle.PushBack(e)
		}
		l.mu.Unlock()
	case http.StateClosed, http.StateHijacked:
		l.mu.Lock()
		if e := l.conns[c]; e != nil {
			l.removeLocked(e)
		}
		open := len(l.conns)
		l.mu.Unlock()
		l.m.connsOpen.Set(float64(open))
	}
}

func (l *connLimiter) removeLocked(e *connEntry) {
	delete(l.conns, e.c)
	if e.elem != nil {
		l.idle.Remove(e.elem)
		e.elem = nil
	}
}

// authenticated marks the connection of ctx as serving a verified request,
// so it is not closed to make room until it is idle again.
func (l *connLimiter) authenticated(ctx context.Context) {
	c, ok := ctx.Value(connKey{}).(net.Conn)
	if !ok {
		return
	}
	l.mu.Lock()
	if e := l.conns[c]; e != nil && e.elem != nil {
		l.idle.Remove(e.elem)
		e.elem = nil
	}
	l.mu.Unlock()
}

// bodyBudget is the server-wide allowance of unauthenticated body bytes.
type bodyBudget struct {
	limit int64 // <= 0: no limit
	used  atomic.Int64
	gauge prometheus.Gauge // optional
}

func (b *bodyBudget) add(n int64) int64 {
	v := b.used.Add(n)
	if b.gauge != nil {
		b.gauge.Set(float64(v))
	}
	return v
}

// bodyLease is one request's share of the budget, returned once its
// signature is checked (or the request ends).
type bodyLease struct {
	b *bodyBudget
	n int64
}

func (l *bodyLease) take(n int64) bool {
	if l.b == nil || l.b.limit <= 0 {
		return true
	}
	if l.b.add(n) > l.b.limit {
		l.b.add(-n)
		return false
	}
	l.n += n
	return true
}

// release returns the lease; it is idempotent.
func (l *bodyLease) release() {
	if l.n != 0 {
		l.b.add(-l.n)
		l.n = 0
	}
}

// errBusy refuses a request whose body does not fit the unauthenticated
// budget; SDKs retry 503s with backoff.
var errBusy = &awsproto.Error{Code: awsproto.CodeServiceUnavailable, Message: "Bulwark is receiving too many request bodies from unauthenticated connections to read this one now; retry shortly.", Status: http.StatusServiceUnavailable, Receiver: true}

// readBody reads at most limit bytes of body into memory that grows with
// the bytes received, never with the declared Content-Length, taking
// from lease whatever goes beyond freeBodyBytes.
func readBody(body io.Reader, declared, limit int64, lease *bodyLease) ([]byte, error) {
	if declared > limit {
		return nil, bodyTooLarge(limit)
	}
	buf := make([]byte, 0, min(firstBodyChunk, limit+1))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, bodyTooLarge(limit)
			}
			if int64(len(buf)) == declared {
				// All that was declared is here: look for the end without
				// doubling the buffer for it.
				var probe [1]byte
				n, err := io.ReadFull(body, probe[:])
				if n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
					return buf, nil
				}
				if n == 0 {
					return nil, awsproto.Serialization("Could not read the request body: %v", err)
				}
				return nil, awsproto.Serialization("The request body is longer than its Content-Length")
			}
			next := min(2*int64(cap(buf)), limit+1)
			if need := beyondFree(next) - beyondFree(int64(cap(buf))); need > 0 && !lease.take(need) {
				return nil, errBusy
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, bodyTooLarge(limit)
			}
			return nil, awsproto.Serialization("Could not read the request body: %v", err)
		}
	}
	if int64(len(buf)) > limit {
		return nil, bodyTooLarge(limit)
	}
	return buf, nil
}

func beyondFree(n int64) int64 { return max(0, n-freeBodyBytes) }
