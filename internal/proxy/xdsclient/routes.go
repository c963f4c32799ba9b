package xdsclient

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// action is a decoded route action.
type action struct {
	targets   []spec.WeightedTarget
	timeout   *spec.HTTPTimeout
	retry     *spec.HTTPRetryPolicy
	host      string  // host_rewrite_literal
	prefix    *string // prefix_rewrite
	exactPath string  // regex_rewrite ^.*$ -> this
}

// retryOn maps Envoy's retry_on values back to App Mesh's events.
var retryOn = map[string][2]string{
	"5xx":             {"http", "server-error"},
	"gateway-error":   {"http", "gateway-error"},
	"retriable-4xx":   {"http", "client-error"},
	"refused-stream":  {"http", "stream-error"},
	"connect-failure": {"tcp", "connection-error"},
}

func (d *decoder) routeAction(path string, ra *routev3.RouteAction, gateway bool) (*action, error) {
	allowed := []string{"cluster", "weighted_clusters", "timeout", "idle_timeout", "retry_policy"}
	if gateway {
		allowed = append(allowed, "host_rewrite_literal", "prefix_rewrite", "regex_rewrite")
	}
	if err := onlyFields(path, ra, allowed...); err != nil {
		return nil, err
	}
	a := &action{}
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		wt, err := d.egressCluster(cs.Cluster)
		if err != nil {
			return nil, err
		}
		wt.Weight = 1
		a.targets = append(a.targets, wt)
	case *routev3.RouteAction_WeightedClusters:
		wc := cs.WeightedClusters
		if err := onlyFields(path+".weighted_clusters", wc, "clusters"); err != nil {
			return nil, err
		}
		for i, c := range wc.GetClusters() {
			if err := onlyFields(fmt.Sprintf("%s.weighted_clusters.clusters[%d]", path, i), c, "name", "weight"); err != nil {
				return nil, err
			}
			wt, err := d.egressCluster(c.GetName())
			if err != nil {
				return nil, err
			}
			wt.Weight = int(c.GetWeight().GetValue())
			a.targets = append(a.targets, wt)
		}
	default:
		return nil, refuse(path, "a route that sends to no cluster")
	}
	if err := durationOK(path+".timeout", ra.GetTimeout()); err != nil {
		return nil, err
	}
	if err := durationOK(path+".idle_timeout", ra.GetIdleTimeout()); err != nil {
		return nil, err
	}
	if ra.GetTimeout() != nil || ra.GetIdleTimeout() != nil {
		a.timeout = &spec.HTTPTimeout{PerRequest: durationSpec(ra.GetTimeout()), Idle: durationSpec(ra.GetIdleTimeout())}
	}
	if rp := ra.GetRetryPolicy(); rp != nil {
		p := path + ".retry_policy"
		if err := onlyFields(p, rp, "retry_on", "num_retries", "per_try_timeout"); err != nil {
			return nil, err
		}
		if err := durationOK(p+".per_try_timeout", rp.GetPerTryTimeout()); err != nil {
			return nil, err
		}
		a.retry = &spec.HTTPRetryPolicy{MaxRetries: int64(rp.GetNumRetries().GetValue()), PerRetryTimeout: durationSpec(rp.GetPerTryTimeout())}
		if rp.GetRetryOn() != "" {
			for _, ev := range strings.Split(rp.GetRetryOn(), ",") {
				m, ok := retryOn[strings.TrimSpace(ev)]
				if !ok {
					return nil, refuse(p+".retry_on", "retry condition %q", ev)
				}
				if m[0] == "tcp" {
					a.retry.TCPRetryEvents = append(a.retry.TCPRetryEvents, m[1])
				} else {
					a.retry.HTTPRetryEvents = append(a.retry.HTTPRetryEvents, m[1])
				}
			}
		}
	}
	if h, ok := ra.GetHostRewriteSpecifier().(*routev3.RouteAction_HostRewriteLiteral); ok {
		a.host = h.HostRewriteLiteral
	}
	if ra.GetPrefixRewrite() != "" {
		v := ra.GetPrefixRewrite()
		a.prefix = &v
	}
	if rr := ra.GetRegexRewrite(); rr != nil {
		if err := onlyFields(path+".regex_rewrite", rr, "pattern", "substitution"); err != nil {
			return nil, err
		}
		if rr.GetPattern().GetRegex() != "^.*$" || rr.GetSubstitution() == "" {
			return nil, refuse(path+".regex_rewrite", "a regex rewrite other than replacing the whole path")
		}
		a.exactPath = rr.GetSubstitution()
	}
	return a, nil
}

// ingressRoute reads a sidecar's inbound route: everything to the app.
func (d *decoder) ingressRoute(name string, rc *routev3.RouteConfiguration) (string, *spec.HTTPTimeout, error) {
	path := "route configuration " + name
	vh, err := oneHost(path, rc)
	if err != nil {
		return "", nil, err
	}
	if len(vh.GetRoutes()) != 1 {
		return "", nil, refuse(path, "an inbound route configuration with %d routes", len(vh.GetRoutes()))
	}
	r := vh.GetRoutes()[0]
	p := path + ".routes[0]"
	if err := onlyFields(p, r, "name", "match", "route"); err != nil {
		return "", nil, err
	}
	if err := onlyFields(p+".match", r.GetMatch(), "prefix"); err != nil || r.GetMatch().GetPrefix() != "/" {
		return "", nil, refuse(p+".match", "an inbound match other than every path")
	}
	ra := r.GetRoute()
	if err := onlyFields(p+".route", ra, "cluster", "timeout", "idle_timeout"); err != nil {
		return "", nil, err
	}
	if err := durationOK(p+".route.timeout", ra.GetTimeout()); err != nil {
		return "", nil, err
	}
	if err := durationOK(p+".route.idle_timeout", ra.GetIdleTimeout()); err != nil {
		return "", nil, err
	}
	var t *spec.HTTPTimeout
	if ra.GetTimeout() != nil || ra.GetIdleTimeout() != nil {
		t = &spec.HTTPTimeout{PerRequest: durationSpec(ra.GetTimeout()), Idle: durationSpec(ra.GetIdleTimeout())}
	}
	return ra.GetCluster(), t, nil
}

func oneHost(path string, rc *routev3.RouteConfiguration) (*routev3.VirtualHost, error) {
	if err := onlyFields(path, rc, "name", "virtual_hosts"); err != nil {
		return nil, err
	}
	if len(rc.GetVirtualHosts()) != 1 {
		return nil, refuse(path, "%d virtual hosts where one is expected", len(rc.GetVirtualHosts()))
	}
	vh := rc.GetVirtualHosts()[0]
	if err := onlyFields(path+".virtual_hosts[0]", vh, "name", "domains", "routes"); err != nil {
		return nil, err
	}
	if len(vh.GetDomains()) != 1 || vh.GetDomains()[0] != "*" {
		return nil, refuse(path+".virtual_hosts[0].domains", "domains other than *")
	}
	return vh, nil
}

// egressRoutes turns an egress route configuration's virtual hosts (one
// per virtual service and port) into services and their routes.
func (d *decoder) egressRoutes(name string, rc *routev3.RouteConfiguration, proto string, port int) ([]string, error) {
	path := "route configuration " + name
	if err := onlyFields(path, rc, "name", "virtual_hosts"); err != nil {
		return nil, err
	}
	var out []string
	for i, vh := range rc.GetVirtualHosts() {
		p := fmt.Sprintf("%s.virtual_hosts[%d]", path, i)
		if err := onlyFields(p, vh, "name", "domains", "routes"); err != nil {
			return nil, err
		}
		doms := vh.GetDomains()
		if slices.Contains(doms, "*") {
			return nil, refuse(p+".domains", "%s", allowAllWhat)
		}
		if len(doms) != 2 || doms[1] != fmt.Sprintf("%s:%d", doms[0], port) {
			return nil, refuse(p+".domains", "domains other than <service> and <service>:<port>")
		}
		svc := doms[0]
		r := d.router(svc, proto, port)
		for j, rt := range vh.GetRoutes() {
			rp := fmt.Sprintf("%s.routes[%d]", p, j)
			if err := onlyFields(rp, rt, "name", "match", "route", "direct_response"); err != nil {
				return nil, err
			}
			if dr := rt.GetDirectResponse(); dr != nil {
				// A route whose targets do not exist yet: the server answers
				// 503; the proxy leaves the route out (requests it would
				// match fall through to later routes or get 404).
				if err := onlyFields(rp+".direct_response", dr, "status"); err != nil {
					return nil, err
				}
				continue
			}
			a, err := d.routeAction(rp+".route", rt.GetRoute(), false)
			if err != nil {
				return nil, err
			}
			rs, err := d.routeSpec(rp+".match", rt.GetMatch(), proto, a)
			if err != nil {
				return nil, err
			}
			if err := d.addRoute(r.Name, rt.GetName(), rs); err != nil {
				return nil, err
			}
		}
		out = append(out, svc)
	}
	return out, nil
}

// addRoute adds a route to a synthetic router in the order received.
func (d *decoder) addRoute(router, name string, rs spec.RouteSpec) error {
	n := 0
	for _, r := range d.snap.Routes {
		if r.VirtualRouterName == router {
			n++
		}
	}
	if n > 1000 {
		return refuse("router routes", "more than 1001 routes for one service")
	}
	prio := n
	rs.Priority = &prio
	if name == "" {
		name = fmt.Sprintf("route-%d", n)
	}
	for _, r := range d.snap.Routes {
		if r.VirtualRouterName == router && r.Name == name {
			name = fmt.Sprintf("%s-%d", name, n)
		}
	}
	d.snap.Routes = append(d.snap.Routes, spec.NamedRoute{Name: name, VirtualRouterName: router, Spec: rs})
	return nil
}

// routeSpec builds a router route of the listener's protocol.
func (d *decoder) routeSpec(path string, m *routev3.RouteMatch, proto string, a *action) (spec.RouteSpec, error) {
	act := &spec.RouteAction{WeightedTargets: a.targets}
	if proto == spec.ProtocolGRPC {
		gm, err := grpcMatch(path, m)
		if err != nil {
			return spec.RouteSpec{}, err
		}
		if a.retry != nil {
			return spec.RouteSpec{}, refuse(path, "a retry policy on a gRPC route")
		}
		return spec.RouteSpec{GRPCRoute: &spec.GRPCRoute{Action: act, Match: gm, Timeout: a.timeout}}, nil
	}
	hm, err := httpMatch(path, m)
	if err != nil {
		return spec.RouteSpec{}, err
	}
	hr := &spec.HTTPRoute{Action: act, Match: hm, RetryPolicy: a.retry, Timeout: a.timeout}
	if proto == spec.ProtocolHTTP2 {
		return spec.RouteSpec{HTTP2Route: hr}, nil
	}
	return spec.RouteSpec{HTTPRoute: hr}, nil
}

// gatewayRoutes turns a gateway listener's routes into gateway routes,
// each to a virtual service whose one route carries the action.
func (d *decoder) gatewayRoutes(name string, rc *routev3.RouteConfiguration, proto string, port int, multi bool) ([]spec.WeightedTarget, error) {
	path := "route configuration " + name
	vh, err := oneHost(path, rc)
	if err != nil {
		return nil, err
	}
	var all []spec.WeightedTarget
	for i, rt := range vh.GetRoutes() {
		rp := fmt.Sprintf("%s.routes[%d]", path, i)
		if err := onlyFields(rp, rt, "name", "match", "route"); err != nil {
			return nil, err
		}
		if rt.GetRoute() == nil {
			return nil, refuse(rp, "a gateway route without a route action")
		}
		a, err := d.routeAction(rp+".route", rt.GetRoute(), true)
		if err != nil {
			return nil, err
		}
		all = append(all, a.targets...)
		var mp *int
		if multi {
			p := port
			mp = &p
		}
		svc := a.host
		var rw *spec.HTTPGatewayRouteRewrite
		if svc == "" {
			svc = "xds-gateway-route-" + rt.GetName() + ".invalid"
			rw = &spec.HTTPGatewayRouteRewrite{Hostname: &spec.HostnameRewrite{DefaultTargetHostname: "DISABLED"}}
		}
		// The service's one route carries the gateway route's action; a
		// second gateway route to the same service must agree with it.
		inner := spec.HTTPRoute{Action: &spec.RouteAction{WeightedTargets: a.targets}, Match: &spec.HTTPRouteMatch{Prefix: strPtr("/")}, RetryPolicy: a.retry, Timeout: a.timeout}
		key, _ := json.Marshal(inner)
		if prev, ok := d.services[svc]; ok {
			if prev != string(key) {
				return nil, refuse(rp, "two gateway routes to service %s with different targets or policies", svc)
			}
		} else {
			d.services[svc] = string(key)
			r := d.router(svc, proto, port)
			rs := spec.RouteSpec{HTTPRoute: &inner}
			if proto != spec.ProtocolHTTP {
				rs = spec.RouteSpec{HTTP2Route: &inner}
			}
			if err := d.addRoute(r.Name, "route", rs); err != nil {
				return nil, err
			}
		}
		prio := len(d.snap.GatewayRoutes)
		if prio > 1000 {
			return nil, refuse(path, "more than 1001 gateway routes")
		}
		gr := spec.NamedGatewayRoute{Name: rt.GetName(), Spec: spec.GatewayRouteSpec{Priority: &prio}}
		if gr.Name == "" {
			gr.Name = fmt.Sprintf("gateway-route-%d", prio)
		}
		target := &spec.GatewayRouteTarget{VirtualService: &spec.GatewayRouteService{VirtualServiceName: svc}}
		if rt.GetMatch().GetGrpc() != nil {
			if a.prefix != nil || a.exactPath != "" || a.host == "" {
				return nil, refuse(rp, "a path or host rewrite on a gRPC gateway route")
			}
			gm, err := grpcMatch(rp+".match", rt.GetMatch())
			if err != nil {
				return nil, err
			}
			gm.Port = mp
			gr.Spec.GRPCRoute = &spec.GRPCGatewayRoute{Match: gm, Action: &spec.GRPCGatewayRouteAction{Target: target}}
		} else {
			hm, err := httpMatch(rp+".match", rt.GetMatch())
			if err != nil {
				return nil, err
			}
			hm.Port = mp
			rw, err = gatewayRewrite(rp+".route", hm, a, rw)
			if err != nil {
				return nil, err
			}
			hg := &spec.HTTPGatewayRoute{Match: hm, Action: &spec.HTTPGatewayRouteAction{Target: target, Rewrite: rw}}
			if proto == spec.ProtocolHTTP {
				gr.Spec.HTTPRoute = hg
			} else {
				gr.Spec.HTTP2Route = hg
			}
		}
		d.snap.GatewayRoutes = append(d.snap.GatewayRoutes, gr)
	}
	return all, nil
}

// gatewayRewrite recovers App Mesh's rewrite from Envoy's: the matched
// prefix becomes "/" by default, prefix_rewrite gives another value, none
// means DISABLED, a whole-path regex rewrite is an exact path.
func gatewayRewrite(path string, m *spec.HTTPRouteMatch, a *action, rw *spec.HTTPGatewayRouteRewrite) (*spec.HTTPGatewayRouteRewrite, error) {
	get := func() *spec.HTTPGatewayRouteRewrite {
		if rw == nil {
			rw = &spec.HTTPGatewayRouteRewrite{}
		}
		return rw
	}
	if a.exactPath != "" {
		if a.prefix != nil {
			return nil, refuse(path, "both a prefix and a path rewrite")
		}
		get().Path = &spec.PathExact{Exact: a.exactPath}
		return rw, nil
	}
	isPrefix := m.Prefix != nil && *m.Prefix != "/"
	switch {
	case !isPrefix && a.prefix != nil:
		return nil, refuse(path+".prefix_rewrite", "a prefix rewrite without a prefix match")
	case !isPrefix:
	case a.prefix == nil:
		get().Prefix = &spec.PrefixRewrite{DefaultPrefix: "DISABLED"}
	case *a.prefix != "/":
		get().Prefix = &spec.PrefixRewrite{Value: *a.prefix}
	}
	return rw, nil
}

func strPtr(s string) *string { return &s }

// httpMatch reads an HTTP route match.
func httpMatch(path string, m *routev3.RouteMatch) (*spec.HTTPRouteMatch, error) {
	if err := onlyFields(path, m, "prefix", "path", "safe_regex", "headers"); err != nil {
		return nil, err
	}
	out := &spec.HTTPRouteMatch{}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.Prefix = strPtr(ps.Prefix)
	case *routev3.RouteMatch_Path:
		out.Path = &spec.HTTPPathMatch{Exact: ps.Path}
	case *routev3.RouteMatch_SafeRegex:
		if err := onlyFields(path+".safe_regex", ps.SafeRegex, "regex"); err != nil {
			return nil, err
		}
		out.Path = &spec.HTTPPathMatch{Regex: ps.SafeRegex.GetRegex()}
	default:
		return nil, refuse(path, "a path match of another kind")
	}
	for i, h := range m.GetHeaders() {
		hp := fmt.Sprintf("%s.headers[%d]", path, i)
		sm := h.GetStringMatch()
		exact := func() (string, bool) {
			e, ok := sm.GetMatchPattern().(*matcherv3.StringMatcher_Exact)
			if !ok || h.GetInvertMatch() || sm.GetIgnoreCase() {
				return "", false
			}
			return e.Exact, true
		}
		switch h.GetName() {
		case ":method":
			v, ok := exact()
			if !ok || out.Method != "" {
				return nil, refuse(hp, "a method match other than one exact method")
			}
			out.Method = v
			continue
		case ":scheme":
			v, ok := exact()
			if !ok || out.Scheme != "" {
				return nil, refuse(hp, "a scheme match other than one exact scheme")
			}
			out.Scheme = v
			continue
		case ":authority":
			if out.Hostname != nil || h.GetInvertMatch() || sm.GetIgnoreCase() {
				return nil, refuse(hp, "this hostname match")
			}
			switch p := sm.GetMatchPattern().(type) {
			case *matcherv3.StringMatcher_Exact:
				out.Hostname = &spec.HostnameMatch{Exact: p.Exact}
			case *matcherv3.StringMatcher_Suffix:
				out.Hostname = &spec.HostnameMatch{Suffix: p.Suffix}
			default:
				return nil, refuse(hp, "a hostname match other than exact or suffix")
			}
			continue
		}
		rule, err := headerRule(hp, h)
		if err != nil {
			return nil, err
		}
		out.Headers = append(out.Headers, rule)
	}
	return out, nil
}

// grpcMatch reads a gRPC route match: the path names the service and
// method, headers are metadata.
func grpcMatch(path string, m *routev3.RouteMatch) (*spec.GRPCRouteMatch, error) {
	if err := onlyFields(path, m, "prefix", "path", "headers", "grpc"); err != nil {
		return nil, err
	}
	if m.GetGrpc() == nil {
		return nil, refuse(path, "a non-gRPC match on a gRPC route")
	}
	if err := onlyFields(path+".grpc", m.GetGrpc()); err != nil {
		return nil, err
	}
	out := &spec.GRPCRouteMatch{}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Path:
		svc, method, ok := strings.Cut(strings.TrimPrefix(ps.Path, "/"), "/")
		if !ok || !strings.HasPrefix(ps.Path, "/") || svc == "" || method == "" || strings.Contains(method, "/") {
			return nil, refuse(path+".path", "a gRPC path other than /<service>/<method>")
		}
		out.ServiceName, out.MethodName = svc, method
	case *routev3.RouteMatch_Prefix:
		if ps.Prefix != "/" {
			svc, ok := strings.CutSuffix(strings.TrimPrefix(ps.Prefix, "/"), "/")
			if !ok || svc == "" || strings.Contains(svc, "/") {
				return nil, refuse(path+".prefix", "a gRPC prefix other than /<service>/")
			}
			out.ServiceName = svc
		}
	default:
		return nil, refuse(path, "a gRPC path match of another kind")
	}
	for i, h := range m.GetHeaders() {
		rule, err := headerRule(fmt.Sprintf("%s.headers[%d]", path, i), h)
		if err != nil {
			return nil, err
		}
		out.Metadata = append(out.Metadata, rule)
	}
	return out, nil
}

func headerRule(path string, h *routev3.HeaderMatcher) (spec.HeaderMatchRule, error) {
	if err := onlyFields(path, h, "name", "string_match", "range_match", "present_match", "invert_match"); err != nil {
		return spec.HeaderMatchRule{}, err
	}
	rule := spec.HeaderMatchRule{Name: h.GetName()}
	if h.GetInvertMatch() {
		t := true
		rule.Invert = &t
	}
	switch p := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_PresentMatch:
		if !p.PresentMatch {
			return rule, refuse(path, "an absence match")
		}
	case *routev3.HeaderMatcher_RangeMatch:
		rule.Match = &spec.HeaderMatch{Range: &spec.MatchRange{Start: p.RangeMatch.GetStart(), End: p.RangeMatch.GetEnd()}}
	case *routev3.HeaderMatcher_StringMatch:
		sm := p.StringMatch
		if err := onlyFields(path+".string_match", sm, "exact", "prefix", "suffix", "safe_regex"); err != nil {
			return rule, err
		}
		switch mp := sm.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			rule.Match = &spec.HeaderMatch{Exact: mp.Exact}
		case *matcherv3.StringMatcher_Prefix:
			rule.Match = &spec.HeaderMatch{Prefix: mp.Prefix}
		case *matcherv3.StringMatcher_Suffix:
			rule.Match = &spec.HeaderMatch{Suffix: mp.Suffix}
		case *matcherv3.StringMatcher_SafeRegex:
			if err := onlyFields(path+".string_match.safe_regex", mp.SafeRegex, "regex"); err != nil {
				return rule, err
			}
			rule.Match = &spec.HeaderMatch{Regex: mp.SafeRegex.GetRegex()}
		default:
			return rule, refuse(path, "a string match of another kind")
		}
	default:
		return rule, refuse(path, "a header match of another kind")
	}
	return rule, nil
}
