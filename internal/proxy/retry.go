package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// replayBody forwards a request body as it streams (a gRPC or chunked
// client may wait for answers before sending more, so nothing is held
// back) while recording up to maxRetryBody of it, so a retry can send it
// again once it was read to the end. A longer body is sent once.
type replayBody struct {
	rc io.ReadCloser

	mu   sync.Mutex
	buf  []byte
	eof  bool
	over bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	if !b.over {
		if len(b.buf)+n > maxRetryBody {
			b.over, b.buf = true, nil
		} else {
			b.buf = append(b.buf, p[:n]...)
		}
	}
	if err == io.EOF {
		b.eof = true
	}
	b.mu.Unlock()
	return n, err
}

func (b *replayBody) Close() error { return b.rc.Close() }

// replay returns the whole body again, or false when it was longer than
// maxRetryBody or not read to its end.
func (b *replayBody) replay() (io.ReadCloser, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.eof || b.over {
		return nil, false
	}
	return io.NopCloser(bytes.NewReader(b.buf)), true
}

// recordBody wraps a request's body for replay when its route retries.
func recordBody(r *http.Request) *replayBody {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	rb := &replayBody{rc: r.Body}
	r.Body = rb
	return rb
}

// retryBackoff is Envoy's default base interval between retries (25ms,
// doubling, jitter left out so tests stay deterministic).
const retryBackoff = 25 * time.Millisecond

// clusterTransport sends a request through its cluster's pooled
// transport, applying the route's retry policy: retriable outcomes are
// tried again up to maxRetries times, each try bounded by perRetryTimeout,
// all of them by the route's per-request timeout (the request context).
type clusterTransport struct{}

func (clusterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res := r.Context().Value(routeKey{}).(*routeResult)
	c := res.cluster
	var rp *retryPolicy
	if res.policy != nil {
		rp = res.policy.retry
	}
	if rp == nil {
		resp, err := c.tr.RoundTrip(r)
		if err == nil {
			c.prot.observe(resp.StatusCode, false)
		} else if r.Context().Err() == nil {
			c.prot.observe(0, true)
		}
		return resp, err
	}
	for attempt := 0; ; attempt++ {
		req := r
		if attempt > 0 {
			req = r.Clone(r.Context())
			if res.replay != nil {
				body, _ := res.replay.replay() // checked before retrying
				req.Body = body
			}
		}
		ctx, cancel := r.Context(), context.CancelFunc(func() {})
		if rp.perTry > 0 {
			ctx, cancel = context.WithTimeout(r.Context(), rp.perTry)
			req = req.WithContext(ctx)
		}
		resp, err := c.tr.RoundTrip(req)
		perTryExpired := err != nil && ctx.Err() != nil && r.Context().Err() == nil
		if perTryExpired {
			c.perTryTimeout.Inc()
		}
		if err == nil {
			c.prot.observe(resp.StatusCode, false)
		} else if r.Context().Err() == nil {
			c.prot.observe(0, true)
		}
		retriable := r.Context().Err() == nil && attempt < rp.max && c.prot.available() &&
			((err == nil && rp.status(resp.StatusCode)) || (err != nil && rp.retriableError(err, perTryExpired)))
		if retriable && res.replay != nil {
			if _, ok := res.replay.replay(); !ok {
				c.retryOver.Inc()
				retriable = false
			}
		}
		if !retriable {
			if err != nil {
				cancel()
				return nil, err
			}
			if attempt > 0 && resp.StatusCode < 500 {
				c.retrySuccess.Inc()
			}
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		cancel()
		c.retry.Inc()
		t := time.NewTimer(retryBackoff << min(attempt, 4))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
	}
}

// retriableError says whether a failed try may be retried: a connect
// failure under connection-error, a reset or a per-try timeout after the
// request was sent under stream-error (and gateway-error, as Envoy treats
// a reset before headers as a gateway error).
func (rp *retryPolicy) retriableError(err error, perTryExpired bool) bool {
	var op *net.OpError
	connect := errors.As(err, &op) && op.Op == "dial"
	if connect {
		return rp.connect || rp.status(http.StatusServiceUnavailable)
	}
	if perTryExpired {
		return true // Envoy retries per-try timeouts whatever the events
	}
	return rp.stream || rp.status(http.StatusBadGateway)
}

// cancelBody ends a try's context once the response body is done.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
