package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// This file turns the App Mesh traffic settings into what the data plane
// enforces — per-request timeouts, retry policies, outlier detection,
// connection pools and active health checks — and refuses, when a
// snapshot is loaded, the settings it does not enforce, so a migrating
// user learns at once instead of finding a policy silently ignored.

// refusal names a setting bulwark proxy does not enforce and what to do.
func refusal(field, what string) error {
	return fmt.Errorf("proxy: %s: %s is not enforced by bulwark proxy; remove it (or see docs/proxy.md, \"App Mesh settings\")", field, what)
}

// checkEnforceable refuses settings the data plane does not enforce.
func checkEnforceable(snap *spec.Snapshot) error {
	var errs []error
	idle := func(f string, d *spec.Duration) {
		if d != nil && durationOf(d) > 0 {
			errs = append(errs, refusal(f, "an idle timeout"))
		}
	}
	httpTimeout := func(f string, t *spec.HTTPTimeout) {
		if t != nil {
			idle(f+".idle", t.Idle)
		}
	}
	listeners := func(f string, ls []spec.Listener, gateway bool) {
		for i, l := range ls {
			lf := fmt.Sprintf("%s.listeners[%d]", f, i)
			if t := l.Timeout; t != nil {
				if gateway {
					errs = append(errs, refusal(lf+".timeout", "a timeout on a virtual gateway listener"))
				}
				httpTimeout(lf+".timeout.http", t.HTTP)
				httpTimeout(lf+".timeout.http2", t.HTTP2)
				httpTimeout(lf+".timeout.grpc", t.GRPC)
				if t.TCP != nil {
					idle(lf+".timeout.tcp.idle", t.TCP.Idle)
				}
			}
			if gateway && l.HealthCheck != nil {
				errs = append(errs, refusal(lf+".healthCheck", "a health check on a virtual gateway listener (use the admin /ready endpoint)"))
			}
		}
	}
	if n := snap.VirtualNode; n != nil {
		listeners("virtualNode.spec", n.Spec.Listeners, false)
	}
	if g := snap.VirtualGateway; g != nil {
		listeners("virtualGateway.spec", g.Spec.Listeners, true)
		if len(g.Spec.Listeners) > 1 {
			for _, l := range g.Spec.Listeners {
				if l.ConnectionPool != nil {
					errs = append(errs, refusal("virtualGateway.spec.listeners.connectionPool", "a connection pool on a gateway with several listeners"))
					break
				}
			}
		}
	}
	for _, r := range snap.Routes {
		f := "route " + r.VirtualRouterName + "/" + r.Name
		if gr := r.Spec.GRPCRoute; gr != nil && gr.RetryPolicy != nil {
			// Retries of gRPC status events need trailers the forwarding
			// path does not inspect: refuse rather than accept and not retry.
			errs = append(errs, refusal(f+".grpcRoute.retryPolicy", "a retry policy on a gRPC route"))
		}
		for _, hr := range []*spec.HTTPRoute{r.Spec.HTTPRoute, r.Spec.HTTP2Route} {
			if hr == nil {
				continue
			}
			httpTimeout(f+".timeout", hr.Timeout)
			if rp := hr.RetryPolicy; rp != nil {
				for _, e := range rp.HTTPRetryEvents {
					if !knownHTTPRetryEvent[e] {
						errs = append(errs, fmt.Errorf("proxy: %s.retryPolicy.httpRetryEvents: %q is not one of server-error, gateway-error, client-error, stream-error", f, e))
					}
				}
				for _, e := range rp.TCPRetryEvents {
					if e != "connection-error" {
						errs = append(errs, fmt.Errorf("proxy: %s.retryPolicy.tcpRetryEvents: %q is not connection-error", f, e))
					}
				}
			}
		}
		if g := r.Spec.GRPCRoute; g != nil {
			httpTimeout(f+".timeout", g.Timeout)
		}
		if t := r.Spec.TCPRoute; t != nil && t.Timeout != nil {
			idle(f+".timeout.idle", t.Timeout.Idle)
		}
	}
	return errors.Join(errs...)
}

var knownHTTPRetryEvent = map[string]bool{"server-error": true, "gateway-error": true, "client-error": true, "stream-error": true}

// durationOf converts an App Mesh duration; a missing value is zero.
func durationOf(d *spec.Duration) time.Duration {
	if d == nil || d.Value == nil {
		return 0
	}
	if d.Unit == "ms" {
		return time.Duration(*d.Value) * time.Millisecond
	}
	return time.Duration(*d.Value) * time.Second
}

// reqPolicy is what a route asks of each request: a deadline for the
// whole exchange (retries included, as Envoy's route timeout) and a
// retry policy.
type reqPolicy struct {
	timeout time.Duration
	retry   *retryPolicy
}

// retryPolicy is a compiled App Mesh HttpRetryPolicy.
type retryPolicy struct {
	max     int
	perTry  time.Duration
	status  func(code int) bool // retriable response codes
	stream  bool                // stream-error: reset after the request was sent
	connect bool                // connection-error: the upstream could not be reached
}

// maxRetryBody is how much of a request body is recorded to replay it on
// a retry; a larger body is sent once (Envoy's per-request buffer limit
// plays this part).
const maxRetryBody = 64 << 10

func compilePolicy(timeout *spec.HTTPTimeout, rp *spec.HTTPRetryPolicy) *reqPolicy {
	p := &reqPolicy{}
	if timeout != nil {
		p.timeout = durationOf(timeout.PerRequest)
	}
	if rp != nil && rp.MaxRetries > 0 {
		r := &retryPolicy{max: int(min(rp.MaxRetries, 100)), perTry: durationOf(rp.PerRetryTimeout)}
		var server, gateway, client bool
		for _, e := range rp.HTTPRetryEvents {
			switch e {
			case "server-error":
				server = true
			case "gateway-error":
				gateway = true
			case "client-error":
				client = true
			case "stream-error":
				r.stream = true
			}
		}
		for _, e := range rp.TCPRetryEvents {
			r.connect = r.connect || e == "connection-error"
		}
		r.status = func(code int) bool {
			return (server && code >= 500) ||
				(gateway && (code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout)) ||
				(client && code == http.StatusConflict) // Envoy's retriable-4xx
		}
		p.retry = r
	}
	if p.timeout == 0 && p.retry == nil {
		return nil
	}
	return p
}

// listenerPolicy is a node listener's inbound timeout.
func listenerPolicy(l spec.Listener) *reqPolicy {
	t := l.Timeout
	if t == nil {
		return nil
	}
	for _, h := range []*spec.HTTPTimeout{t.HTTP, t.HTTP2, t.GRPC} {
		if h != nil {
			return compilePolicy(h, nil)
		}
	}
	return nil
}

// routePolicy is a router route's timeout and retry policy.
func routePolicy(r spec.RouteSpec) *reqPolicy {
	switch {
	case r.HTTPRoute != nil:
		return compilePolicy(r.HTTPRoute.Timeout, r.HTTPRoute.RetryPolicy)
	case r.HTTP2Route != nil:
		return compilePolicy(r.HTTP2Route.Timeout, r.HTTP2Route.RetryPolicy)
	case r.GRPCRoute != nil:
		return compilePolicy(r.GRPCRoute.Timeout, nil)
	}
	return nil
}

// clusterOpts are the per-cluster protections: outlier detection (from
// the target node's listener), a connection pool and an active health
// check. Their key joins the cluster's identity, so a change rebuilds it.
type clusterOpts struct {
	outlier *spec.OutlierDetection
	pool    *spec.ConnectionPool
	health  *spec.HealthCheck
}

func (o clusterOpts) key() string {
	var b strings.Builder
	if d := o.outlier; d != nil {
		fmt.Fprintf(&b, "|od=%d,%s,%s,%d", d.MaxServerErrors, durationOf(d.Interval), durationOf(d.BaseEjectionDuration), d.MaxEjectionPercent)
	}
	if p := o.pool; p != nil {
		switch {
		case p.HTTP != nil:
			fmt.Fprintf(&b, "|pool=http,%d,%d", p.HTTP.MaxConnections, p.HTTP.MaxPendingRequests)
		case p.HTTP2 != nil:
			fmt.Fprintf(&b, "|pool=http2,%d", p.HTTP2.MaxRequests)
		case p.GRPC != nil:
			fmt.Fprintf(&b, "|pool=grpc,%d", p.GRPC.MaxRequests)
		case p.TCP != nil:
			fmt.Fprintf(&b, "|pool=tcp,%d", p.TCP.MaxConnections)
		}
	}
	if h := o.health; h != nil {
		fmt.Fprintf(&b, "|hc=%s,%s,%d,%d,%d,%d,%d", h.Protocol, h.Path, h.Port, h.IntervalMillis, h.TimeoutMillis, h.HealthyThreshold, h.UnhealthyThreshold)
	}
	return b.String()
}

// CheckEnforceable returns, joined, an error for each setting of snap that
// bulwark proxy does not enforce (nil when there is none): what the proxy
// refuses at start-up, for `bulwark check` to report before deploying.
func CheckEnforceable(snap *spec.Snapshot) error { return checkEnforceable(snap) }
