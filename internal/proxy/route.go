package proxy

import (
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// routeResult is where one request goes.
type routeResult struct {
	cluster *cluster
	policy  *reqPolicy  // timeout and retries; nil: none
	replay  *replayBody // the request body, recorded for retries
	host    string      // Host header to send; empty keeps the client's
	path    string      // rewritten path; empty keeps the client's
}

// gwRoute is a compiled gateway route.
type gwRoute struct {
	name     string
	priority int
	match    *spec.HTTPRouteMatch
	rewrite  *spec.HTTPGatewayRouteRewrite
	service  string
	port     *int
	grpc     *spec.GRPCRouteMatch
}

// compileGatewayRoutes orders routes as App Mesh does: by priority (lower
// first, unset last), then by the specificity of the path match.
func compileGatewayRoutes(rs []spec.NamedGatewayRoute) []gwRoute {
	out := make([]gwRoute, 0, len(rs))
	for _, r := range rs {
		g := gwRoute{name: r.Name, priority: 1001}
		if r.Spec.Priority != nil {
			g.priority = *r.Spec.Priority
		}
		switch {
		case r.Spec.HTTPRoute != nil:
			g.match, g.rewrite = r.Spec.HTTPRoute.Match, r.Spec.HTTPRoute.Action.Rewrite
		case r.Spec.HTTP2Route != nil:
			g.match, g.rewrite = r.Spec.HTTP2Route.Match, r.Spec.HTTP2Route.Action.Rewrite
		case r.Spec.GRPCRoute != nil:
			g.grpc = r.Spec.GRPCRoute.Match
		}
		t := r.Spec.Target()
		g.service, g.port = t.VirtualService.VirtualServiceName, t.Port
		out = append(out, g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].priority != out[j].priority {
			return out[i].priority < out[j].priority
		}
		return specificity(out[i].match) > specificity(out[j].match)
	})
	return out
}

func specificity(m *spec.HTTPRouteMatch) int {
	switch {
	case m == nil:
		return 0
	case m.Path != nil:
		return 1 << 20
	case m.Prefix != nil:
		return len(*m.Prefix)
	}
	return 0
}

// matchHTTP reports whether r matches m. listenerPort is the port the
// request arrived on (for match.port).
func matchHTTP(m *spec.HTTPRouteMatch, r *http.Request, listenerPort int) bool {
	if m == nil {
		return false
	}
	if m.Prefix != nil && !strings.HasPrefix(r.URL.Path, *m.Prefix) {
		return false
	}
	if m.Path != nil {
		if m.Path.Exact != "" && r.URL.Path != m.Path.Exact {
			return false
		}
		if m.Path.Regex != "" && !fullMatch(m.Path.Regex, r.URL.Path) {
			return false
		}
	}
	if m.Method != "" && r.Method != m.Method {
		return false
	}
	if m.Port != nil && *m.Port != listenerPort {
		return false
	}
	if h := m.Hostname; h != nil {
		host := hostOnly(r.Host)
		if (h.Exact != "" && host != h.Exact) || (h.Suffix != "" && !strings.HasSuffix(host, h.Suffix)) {
			return false
		}
	}
	return matchHeaders(m.Headers, r.Header)
}

func matchGRPC(m *spec.GRPCRouteMatch, r *http.Request) bool {
	if m == nil {
		return true
	}
	svc, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if m.ServiceName != "" && svc != m.ServiceName {
		return false
	}
	if m.MethodName != "" && method != m.MethodName {
		return false
	}
	return matchHeaders(m.Metadata, r.Header)
}

func matchHeaders(rules []spec.HeaderMatchRule, h http.Header) bool {
	for _, rule := range rules {
		vals, present := h[http.CanonicalHeaderKey(rule.Name)]
		ok := present
		if ok && rule.Match != nil {
			v := strings.Join(vals, ",")
			m := rule.Match
			switch {
			case m.Exact != "":
				ok = v == m.Exact
			case m.Prefix != "":
				ok = strings.HasPrefix(v, m.Prefix)
			case m.Suffix != "":
				ok = strings.HasSuffix(v, m.Suffix)
			case m.Regex != "":
				ok = fullMatch(m.Regex, v)
			case m.Range != nil:
				n, err := strconv.ParseInt(v, 10, 64)
				ok = err == nil && n >= m.Range.Start && n < m.Range.End
			}
		}
		if rule.Invert != nil && *rule.Invert {
			ok = !ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// fullMatch matches the whole string, as Envoy's safe_regex does. An
// invalid pattern matches nothing.
func fullMatch(pattern, s string) bool {
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(s)
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// rewrite applies a gateway route's rewrite to the request path and host.
func (g *gwRoute) rewritePath(path string) string {
	m := g.match
	if m == nil {
		return ""
	}
	if rw := g.rewrite; rw != nil && rw.Path != nil && rw.Path.Exact != "" {
		return rw.Path.Exact
	}
	if m.Prefix == nil || *m.Prefix == "/" {
		return ""
	}
	if rw := g.rewrite; rw != nil && rw.Prefix != nil {
		if rw.Prefix.Value != "" {
			return rw.Prefix.Value + strings.TrimPrefix(path, *m.Prefix)
		}
		if rw.Prefix.DefaultPrefix == "DISABLED" {
			return ""
		}
	}
	// App Mesh's default: the matched prefix becomes "/".
	rest := strings.TrimPrefix(path, *m.Prefix)
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	return rest
}

func (g *gwRoute) hostRewrite() bool {
	rw := g.rewrite
	return rw == nil || rw.Hostname == nil || rw.Hostname.DefaultTargetHostname != "DISABLED"
}

// pickWeighted chooses a target in proportion to its weight; zero total
// weight means no target.
func pickWeighted(ts []spec.WeightedTarget, rnd func(int) int) *spec.WeightedTarget {
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	if total == 0 {
		return nil
	}
	if rnd == nil {
		rnd = rand.IntN
	}
	n := rnd(total)
	for i := range ts {
		if n < ts[i].Weight {
			return &ts[i]
		}
		n -= ts[i].Weight
	}
	return nil
}
