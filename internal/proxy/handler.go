package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

type routeKey struct{}

// ServeHTTP routes one downstream request and forwards it.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := l.p.now()
	l.rqTotal.Inc()
	if ci, _ := r.Context().Value(connInfoKey{}).(*connInfo); ci != nil {
		if r.TLS == nil && ci.tls != nil {
			r.TLS = ci.tls // a connection handed over by the forwarding path
		}
		draining, done := ci.requestStart()
		defer done()
		if draining {
			w.Header().Set("Connection", "close")
		}
	}
	rec := &recorder{ResponseWriter: w}
	var res routeResult
	ok := false
	if rf := l.route.Load(); rf != nil {
		res, ok = (*rf)(r)
	}
	switch {
	case !ok:
		http.Error(rec, "no route", http.StatusNotFound)
	case res.cluster == nil:
		http.Error(rec, "no healthy upstream", http.StatusServiceUnavailable)
	case !res.cluster.prot.available():
		http.Error(rec, "no healthy upstream", http.StatusServiceUnavailable)
	default:
		release, admitted := res.cluster.prot.admit()
		if !admitted {
			rec.Header().Set("X-Envoy-Overflow", "true")
			http.Error(rec, "upstream connect error or disconnect/reset before headers. reset reason: overflow", http.StatusServiceUnavailable)
			break
		}
		defer release()
		res.cluster.rqTotal.Inc()
		ctx := context.WithValue(r.Context(), routeKey{}, &res)
		if res.policy != nil && res.policy.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, res.policy.timeout)
			defer cancel()
		}
		if res.policy != nil && res.policy.retry != nil {
			res.replay = recordBody(r)
		}
		l.p.rp.ServeHTTP(rec, r.WithContext(ctx))
	}
	l.p.access.log(l, r, rec, &res, start, l.p.now())
}

// newReverseProxy builds the one ReverseProxy all listeners share; the
// destination travels in the request context.
func (p *Proxy) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			res := pr.In.Context().Value(routeKey{}).(*routeResult)
			pr.Out.URL.Scheme = "http"
			if res.cluster.tls != nil {
				pr.Out.URL.Scheme = "https"
			}
			pr.Out.URL.Host = res.cluster.addr
			pr.Out.Host = pr.In.Host
			if res.host != "" {
				pr.Out.Host = res.host
			}
			if res.path != "" {
				pr.Out.URL.Path, pr.Out.URL.RawPath = res.path, ""
			}
			pr.SetXForwarded()
			if pr.Out.Header.Get("X-Request-Id") == "" {
				pr.Out.Header.Set("X-Request-Id", p.requestID())
			}
		},
		Transport: clusterTransport{},
		// 0, not -1: ReverseProxy already flushes streaming responses
		// (unknown length, as gRPC's, or text/event-stream) at every
		// write; flushing every write of ordinary responses cost a TLS
		// record and a syscall each.
		FlushInterval: 0,
		ErrorLog:      nil,
		ModifyResponse: func(resp *http.Response) error {
			res := resp.Request.Context().Value(routeKey{}).(*routeResult)
			res.cluster.countCode(resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			res := r.Context().Value(routeKey{}).(*routeResult)
			if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil {
				// The route's per-request timeout (Envoy answers 504).
				res.cluster.rqTimeout.Inc()
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusGatewayTimeout)
				_, _ = io.WriteString(w, "upstream request timeout\n")
				return
			}
			if errors.Is(err, context.Canceled) {
				return
			}
			p.log.Debug("upstream error", "error", err)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "upstream connect error or disconnect/reset before headers\n")
		},
	}
}

// recorder captures status and size for the access log while keeping
// flushing and trailers working.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLog writes one JSON object per request.
type accessLog struct {
	mu sync.Mutex
	w  io.Writer
}

type accessEntry struct {
	StartTime       string `json:"start_time"`
	Method          string `json:"method"`
	Path            string `json:"path"`
	Protocol        string `json:"protocol"`
	ResponseCode    int    `json:"response_code"`
	BytesReceived   int64  `json:"bytes_received"`
	BytesSent       int64  `json:"bytes_sent"`
	DurationMS      int64  `json:"duration"`
	Authority       string `json:"authority"`
	Downstream      string `json:"downstream_remote_address"`
	Listener        string `json:"listener"`
	UpstreamCluster string `json:"upstream_cluster,omitempty"`
	UpstreamHost    string `json:"upstream_host,omitempty"`
	RequestID       string `json:"x_request_id,omitempty"`
	UserAgent       string `json:"user_agent,omitempty"`
	TLS             bool   `json:"downstream_tls"`
}

func (a *accessLog) log(l *listener, r *http.Request, rec *recorder, res *routeResult, start, end time.Time) {
	if a == nil || a.w == nil {
		return
	}
	e := accessEntry{
		StartTime: start.UTC().Format(time.RFC3339Nano), Method: r.Method, Path: r.URL.RequestURI(),
		Protocol: r.Proto, ResponseCode: rec.code, BytesReceived: max(r.ContentLength, 0), BytesSent: rec.bytes,
		DurationMS: end.Sub(start).Milliseconds(), Authority: r.Host, Downstream: r.RemoteAddr,
		Listener: strings.TrimSuffix(l.prefix(), "."), RequestID: r.Header.Get("X-Request-Id"),
		UserAgent: r.UserAgent(), TLS: r.TLS != nil,
	}
	if res.cluster != nil {
		e.UpstreamCluster, e.UpstreamHost = res.cluster.name, res.cluster.addr
	}
	b, _ := json.Marshal(e)
	b = append(b, '\n')
	a.mu.Lock()
	_, _ = a.w.Write(b)
	a.mu.Unlock()
}

// hostPort splits an address, tolerating a missing port.
func hostPort(addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	return h, p
}
