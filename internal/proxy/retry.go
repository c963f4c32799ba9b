package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// prepareReplay makes a request with a retry policy replayable: a body of
// known length up to maxRetryBody is read into memory and GetBody set. A
// larger body, or one of unknown length (a gRPC or chunked stream, whose
// client may wait for answers before sending more), is left streaming and
// the request is sent once.
func prepareReplay(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		return
	}
	if r.ContentLength < 0 || r.ContentLength > maxRetryBody {
		return
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxRetryBody+1))
	if err != nil || len(buf) > maxRetryBody {
		// Too large (or broken): send what was read followed by the rest,
		// once.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
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
			if r.GetBody != nil {
				body, err := r.GetBody()
				if err != nil {
					return nil, err
				}
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
		if retriable && r.GetBody == nil && r.Body != nil && r.Body != http.NoBody {
			c.retryOver.Inc()
			retriable = false
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
