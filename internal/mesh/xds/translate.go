package xds

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// DefaultRequestTimeout is App Mesh's per-request timeout when a route or
// listener sets none.
const DefaultRequestTimeout = 15 * time.Second

// Resources is what one proxy's snapshot translates to. Secrets are not
// built here: CertificateARNs and TrustBundles name the SDS secrets the
// resources refer to, and the manager fills them from the certificate
// source.
type Resources struct {
	Listeners []*listenerv3.Listener
	Clusters  []*clusterv3.Cluster
	Routes    []*routev3.RouteConfiguration
	// Endpoints are the EDS assignments of the gRPC flavour's clusters
	// (Envoy's clusters carry their endpoints inline).
	Endpoints []*endpointv3.ClusterLoadAssignment
	// CertificateARNs are the ACM certificates served as SDS
	// TlsCertificate secrets (secret name = ARN), sorted.
	CertificateARNs []string
	// TrustBundles maps an SDS validation-context secret name to the
	// private CA ARNs whose certificates it holds.
	TrustBundles map[string][]string
}

// translator holds one Translate call's progress.
type translator struct {
	snap     *spec.Snapshot
	out      *Resources
	clusters map[string]bool
	certs    map[string]bool
}

// Translate turns a proxy's snapshot into Envoy resources, every one of
// them validated with go-control-plane's generated validators. It fails on
// a snapshot that does not validate or a resource Envoy would refuse, so a
// configuration that reaches a data plane has passed both checks.
func Translate(snap *spec.Snapshot) (*Resources, error) {
	if snap == nil {
		return nil, errors.New("xds: nil snapshot")
	}
	if err := snap.Validate(); err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	t := &translator{snap: snap, out: &Resources{TrustBundles: map[string][]string{}}, clusters: map[string]bool{}, certs: map[string]bool{}}
	var err error
	if snap.VirtualNode != nil {
		err = t.virtualNode(snap.VirtualNode)
	} else {
		err = t.virtualGateway(snap.VirtualGateway)
	}
	if err != nil {
		return nil, err
	}
	for arn := range t.certs {
		t.out.CertificateARNs = append(t.out.CertificateARNs, arn)
	}
	sort.Strings(t.out.CertificateARNs)
	sort.Slice(t.out.Listeners, func(i, j int) bool { return t.out.Listeners[i].Name < t.out.Listeners[j].Name })
	sort.Slice(t.out.Clusters, func(i, j int) bool { return t.out.Clusters[i].Name < t.out.Clusters[j].Name })
	sort.Slice(t.out.Routes, func(i, j int) bool { return t.out.Routes[i].Name < t.out.Routes[j].Name })
	if err := t.out.Validate(); err != nil {
		return nil, err
	}
	return t.out, nil
}

// Validate runs the generated ValidateAll of every resource.
func (r *Resources) Validate() error {
	var errs []error
	for _, l := range r.Listeners {
		if err := l.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", l.Name, err))
		}
	}
	for _, c := range r.Clusters {
		if err := c.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
		}
	}
	for _, rc := range r.Routes {
		if err := rc.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("route configuration %s: %w", rc.Name, err))
		}
	}
	for _, e := range r.Endpoints {
		if err := e.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("cluster load assignment %s: %w", e.ClusterName, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("xds: translation produced resources Envoy would refuse: %w", errors.Join(errs...))
	}
	return nil
}

// ---- virtual nodes ----

func (t *translator) virtualNode(n *spec.NamedVirtualNode) error {
	mesh := t.snap.MeshName
	access := accessLogs(n.Spec.Logging)
	if len(n.Spec.Listeners) > 0 {
		l := &listenerv3.Listener{
			Name:    listenerName(IngressPort),
			Address: socketAddress(anyAddress, IngressPort),
		}
		// With one listener every connection is its; with several, the
		// original destination port (restored from the iptables redirect)
		// picks the filter chain, as App Mesh's ingress did.
		byPort := len(n.Spec.Listeners) > 1
		if byPort {
			l.ListenerFilters = append(l.ListenerFilters, originalDstFilter())
		}
		for _, sl := range n.Spec.Listeners {
			port, proto := sl.PortMapping.Port, sl.PortMapping.Protocol
			local := ingressClusterName(mesh, n.Name, proto, port)
			t.addCluster(localCluster(local, port, sl))
			var match *listenerv3.FilterChainMatch
			if byPort {
				match = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(port))}
			}
			var filter *listenerv3.Filter
			var err error
			if proto == spec.ProtocolTCP {
				filter, err = tcpProxy("ingress", local, tcpIdle(sl.Timeout), access)
			} else {
				rc := ingressRoute(ingressRouteName(proto, port), local, sl)
				t.out.Routes = append(t.out.Routes, rc)
				filter, err = httpConnectionManager("ingress", rc.Name, proto, access)
			}
			if err != nil {
				return err
			}
			chains, needInspector, err := t.serverChains(match, filter, sl.TLS)
			if err != nil {
				return err
			}
			if needInspector && !hasFilter(l, tlsInspectorName) {
				l.ListenerFilters = append(l.ListenerFilters, tlsInspectorFilter())
			}
			l.FilterChains = append(l.FilterChains, chains...)
		}
		t.out.Listeners = append(t.out.Listeners, l)
	}
	return t.egress(n, access)
}

// localCluster is the cluster of the application beside the proxy.
func localCluster(name string, port int, l spec.Listener) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment:       loadAssignment(name, "127.0.0.1", port),
	}
	setProtocol(c, l.PortMapping.Protocol)
	c.CircuitBreakers = circuitBreakers(l.ConnectionPool)
	if hc := healthCheck(l.HealthCheck, port); hc != nil {
		c.HealthChecks = []*corev3.HealthCheck{hc}
	}
	return c
}

func ingressRoute(name, cluster string, l spec.Listener) *routev3.RouteConfiguration {
	action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}
	applyHTTPTimeout(action, listenerHTTPTimeout(l))
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: action},
			}},
		}},
	}
}

// egress builds the egress listener and the clusters of every backend.
func (t *translator) egress(n *spec.NamedVirtualNode, access []*accessLogSpec) error {
	type portKey struct {
		port  int
		proto string
	}
	hosts := map[portKey][]*routev3.VirtualHost{}
	var tcpChains []*listenerv3.FilterChain
	for _, be := range n.Spec.Backends {
		if be.VirtualService == nil {
			continue
		}
		svc := t.snap.Service(be.VirtualService.VirtualServiceName)
		if svc == nil || svc.Spec.Provider == nil {
			continue // App Mesh allows backends that do not resolve yet
		}
		policy := clientPolicy(n.Spec.BackendDefaults, be.VirtualService.ClientPolicy)
		targets, err := t.serviceTargets(svc, policy)
		if err != nil {
			return err
		}
		for _, tg := range targets {
			if tg.proto == spec.ProtocolTCP {
				f, err := tcpProxyWeighted("egress", tg.weighted, access)
				if err != nil {
					return err
				}
				tcpChains = append(tcpChains, &listenerv3.FilterChain{
					Name:             fmt.Sprintf("egress_tcp_%s_%d", svc.Name, tg.port),
					FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(tg.port))},
					Filters:          []*listenerv3.Filter{f},
				})
				continue
			}
			k := portKey{tg.port, tg.proto}
			hosts[k] = append(hosts[k], &routev3.VirtualHost{
				Name:    fmt.Sprintf("%s:%d", svc.Name, tg.port),
				Domains: []string{svc.Name, fmt.Sprintf("%s:%d", svc.Name, tg.port)},
				Routes:  tg.routes,
			})
		}
	}
	allowAll := t.snap.EgressFilter == spec.EgressAllowAll
	if len(hosts) == 0 && len(tcpChains) == 0 && !allowAll {
		return nil
	}
	l := &listenerv3.Listener{
		Name:            egressListenerName(),
		Address:         socketAddress(anyAddress, EgressPort),
		ListenerFilters: []*listenerv3.ListenerFilter{originalDstFilter()},
	}
	passthrough := ""
	if allowAll {
		// ALLOW_ALL: a connection to a port no backend uses takes the
		// listener's default chain, and an HTTP request for a host no
		// backend serves takes the catch-all virtual host; both go to the
		// ORIGINAL_DST cluster, i.e. where the application was connecting
		// before iptables redirected it here.
		passthrough = passthroughClusterName(t.snap.MeshName)
		t.addCluster(passthroughCluster(passthrough))
		f, err := tcpProxy(passthroughChainName, passthrough, nil, access)
		if err != nil {
			return err
		}
		l.DefaultFilterChain = &listenerv3.FilterChain{Name: passthroughChainName, Filters: []*listenerv3.Filter{f}}
	}
	keys := make([]portKey, 0, len(hosts))
	for k := range hosts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].port != keys[j].port {
			return keys[i].port < keys[j].port
		}
		return keys[i].proto < keys[j].proto
	})
	seenPort := map[int]bool{}
	for _, k := range keys {
		if seenPort[k.port] {
			// One filter chain per destination port: a second protocol on
			// the same port cannot be told apart before TLS/HTTP parsing.
			return fmt.Errorf("xds: backends use port %d with two protocols; App Mesh's egress cannot route that either", k.port)
		}
		seenPort[k.port] = true
		vh := hosts[k]
		sort.Slice(vh, func(i, j int) bool { return vh[i].Name < vh[j].Name })
		if passthrough != "" {
			vh = append(vh, passthroughVirtualHost(passthrough))
		}
		rc := &routev3.RouteConfiguration{Name: egressRouteName(k.proto, k.port), VirtualHosts: vh}
		t.out.Routes = append(t.out.Routes, rc)
		f, err := httpConnectionManager("egress", rc.Name, k.proto, access)
		if err != nil {
			return err
		}
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			Name:             fmt.Sprintf("egress_%s_%d", k.proto, k.port),
			FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(k.port))},
			Filters:          []*listenerv3.Filter{f},
		})
	}
	for _, c := range tcpChains {
		if seenPort[int(c.FilterChainMatch.DestinationPort.GetValue())] {
			return fmt.Errorf("xds: backends use port %d for tcp and another protocol", c.FilterChainMatch.DestinationPort.GetValue())
		}
		seenPort[int(c.FilterChainMatch.DestinationPort.GetValue())] = true
		l.FilterChains = append(l.FilterChains, c)
	}
	t.out.Listeners = append(t.out.Listeners, l)
	return nil
}

// passthroughCluster is ALLOW_ALL's cluster: Envoy connects to the
// connection's original destination (restored by the listener's
// original_dst filter), so it has no endpoints of its own.
func passthroughCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(time.Second),
	}
}

// passthroughVirtualHost catches, on an HTTP egress port, the requests for
// hosts that are not backends (Envoy prefers every exact domain to "*").
func passthroughVirtualHost(cluster string) *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name:    passthroughChainName,
		Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}},
		}},
	}
}

// target is one port of a virtual service as a backend sees it.
type target struct {
	port     int
	proto    string
	routes   []*routev3.Route
	weighted []*weightedCluster // tcp only
}

type weightedCluster struct {
	name   string
	weight uint32
}

// serviceTargets resolves a virtual service to its ports, routes and the
// egress clusters behind them.
func (t *translator) serviceTargets(svc *spec.NamedVirtualService, policy *spec.ClientPolicyTLS) ([]target, error) {
	p := svc.Spec.Provider
	switch {
	case p.VirtualNode != nil:
		node := t.snap.Node(p.VirtualNode.VirtualNodeName)
		if node == nil {
			return nil, nil
		}
		var out []target
		for _, l := range node.Spec.Listeners {
			name, err := t.egressCluster(node, l, policy)
			if err != nil {
				return nil, err
			}
			tg := target{port: l.PortMapping.Port, proto: l.PortMapping.Protocol}
			if tg.proto == spec.ProtocolTCP {
				tg.weighted = []*weightedCluster{{name: name, weight: 1}}
			} else {
				action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name}}
				applyHTTPTimeout(action, nil)
				tg.routes = []*routev3.Route{{Name: "default", Match: prefixMatch("/"), Action: &routev3.Route_Route{Route: action}}}
			}
			out = append(out, tg)
		}
		return out, nil
	case p.VirtualRouter != nil:
		var router *spec.NamedVirtualRouter
		for i := range t.snap.VirtualRouters {
			if t.snap.VirtualRouters[i].Name == p.VirtualRouter.VirtualRouterName {
				router = &t.snap.VirtualRouters[i]
			}
		}
		if router == nil {
			return nil, nil
		}
		routes := sortedRoutes(t.snap.RoutesOf(router.Name))
		var out []target
		for _, rl := range router.Spec.Listeners {
			tg := target{port: rl.PortMapping.Port, proto: rl.PortMapping.Protocol}
			for _, r := range routes {
				if !routeOnPort(r.Spec, tg.port, len(router.Spec.Listeners)) || routeProto(r.Spec) != tg.proto {
					continue
				}
				clusters, err := t.weightedTargets(r.Spec.RouteAction(), tg.proto, policy)
				if err != nil {
					return nil, err
				}
				if tg.proto == spec.ProtocolTCP {
					if tg.weighted == nil {
						tg.weighted = clusters
					}
					continue
				}
				rt, err := httpRoute(r, clusters)
				if err != nil {
					return nil, err
				}
				tg.routes = append(tg.routes, rt)
			}
			if len(tg.routes) > 0 || len(tg.weighted) > 0 {
				out = append(out, tg)
			}
		}
		return out, nil
	}
	return nil, nil
}

// weightedTargets builds the egress clusters of a route's targets.
func (t *translator) weightedTargets(a *spec.RouteAction, proto string, policy *spec.ClientPolicyTLS) ([]*weightedCluster, error) {
	if a == nil {
		return nil, nil
	}
	var out []*weightedCluster
	for _, wt := range a.WeightedTargets {
		node := t.snap.Node(wt.VirtualNode)
		if node == nil {
			continue
		}
		l := pickListener(node, proto, wt.Port)
		if l == nil {
			return nil, fmt.Errorf("xds: virtual node %s has no %s listener for a route target", wt.VirtualNode, proto)
		}
		name, err := t.egressCluster(node, *l, policy)
		if err != nil {
			return nil, err
		}
		out = append(out, &weightedCluster{name: name, weight: uint32(wt.Weight)})
	}
	return out, nil
}

func pickListener(n *spec.NamedVirtualNode, proto string, port *int) *spec.Listener {
	for i, l := range n.Spec.Listeners {
		if port != nil && l.PortMapping.Port != *port {
			continue
		}
		if l.PortMapping.Protocol == proto || port != nil {
			return &n.Spec.Listeners[i]
		}
	}
	if port == nil && len(n.Spec.Listeners) > 0 {
		return &n.Spec.Listeners[0]
	}
	return nil
}

// egressCluster adds (once) the cluster that reaches a virtual node's
// listener, with the caller's TLS client policy and the target listener's
// outlier detection, and returns its name.
func (t *translator) egressCluster(node *spec.NamedVirtualNode, l spec.Listener, policy *spec.ClientPolicyTLS) (string, error) {
	port, proto := l.PortMapping.Port, l.PortMapping.Protocol
	name := egressClusterName(t.snap.MeshName, node.Name, proto, port)
	if t.clusters[name] {
		return name, nil
	}
	host, hostPort, err := discoveryAddress(node, port)
	if err != nil {
		return "", err
	}
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment:       loadAssignment(name, host, hostPort),
	}
	if net.ParseIP(host) != nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	}
	setProtocol(c, proto)
	c.OutlierDetection = outlierDetection(l.OutlierDetection)
	if policy.Enforced() && policy.AppliesTo(port) {
		ctx, err := t.upstreamTLS(policy, sniHost(node, host))
		if err != nil {
			return "", err
		}
		ts, err := transportSocket(ctx)
		if err != nil {
			return "", err
		}
		c.TransportSocket = ts
	}
	t.addCluster(c)
	return name, nil
}

func (t *translator) addCluster(c *clusterv3.Cluster) {
	if t.clusters[c.Name] {
		return
	}
	t.clusters[c.Name] = true
	t.out.Clusters = append(t.out.Clusters, c)
}

// discoveryAddress is where a virtual node's listener is reached: its DNS
// hostname (or Bulwark's host:port extension), or the Cloud Map name
// service.namespace, which Cloud Map's DNS namespaces resolve.
func discoveryAddress(n *spec.NamedVirtualNode, port int) (string, int, error) {
	sd := n.Spec.ServiceDiscovery
	switch {
	case sd == nil:
		return "", 0, fmt.Errorf("xds: virtual node %s is a backend target but has no serviceDiscovery", n.Name)
	case sd.DNS != nil:
		if h, p, err := net.SplitHostPort(sd.DNS.Hostname); err == nil {
			pn, err := strconv.Atoi(p)
			if err != nil {
				return "", 0, fmt.Errorf("xds: virtual node %s: bad port in %q", n.Name, sd.DNS.Hostname)
			}
			return h, pn, nil
		}
		return sd.DNS.Hostname, port, nil
	case sd.AWSCloudMap != nil:
		return sd.AWSCloudMap.ServiceName + "." + sd.AWSCloudMap.NamespaceName, port, nil
	}
	return "", 0, fmt.Errorf("xds: virtual node %s has an empty serviceDiscovery", n.Name)
}

// sniHost is the server name a client sends: the DNS name, never an IP.
func sniHost(n *spec.NamedVirtualNode, host string) string {
	if net.ParseIP(host) == nil {
		return host
	}
	return ""
}

func clientPolicy(defaults *spec.BackendDefaults, own *spec.ClientPolicy) *spec.ClientPolicyTLS {
	if own != nil && own.TLS != nil {
		return own.TLS
	}
	if defaults != nil && defaults.ClientPolicy != nil {
		return defaults.ClientPolicy.TLS
	}
	return nil
}

// ---- virtual gateways ----

func (t *translator) virtualGateway(g *spec.NamedVirtualGateway) error {
	access := accessLogs(g.Spec.Logging)
	for _, sl := range g.Spec.Listeners {
		port, proto := sl.PortMapping.Port, sl.PortMapping.Protocol
		rc := &routev3.RouteConfiguration{Name: ingressRouteName(proto, port)}
		vh := &routev3.VirtualHost{Name: rc.Name, Domains: []string{"*"}}
		for _, gr := range sortedGatewayRoutes(t.snap.GatewayRoutes) {
			if gatewayRouteProto(gr.Spec) != proto || !gatewayRouteOnPort(gr.Spec, port, len(g.Spec.Listeners)) {
				continue
			}
			rt, err := t.gatewayRoute(g, gr, sl)
			if err != nil {
				return err
			}
			if rt != nil {
				vh.Routes = append(vh.Routes, rt)
			}
		}
		rc.VirtualHosts = []*routev3.VirtualHost{vh}
		t.out.Routes = append(t.out.Routes, rc)
		t.gatewayPool(vh.Routes, sl.ConnectionPool)
		f, err := httpConnectionManager("ingress", rc.Name, proto, access)
		if err != nil {
			return err
		}
		l := &listenerv3.Listener{Name: listenerName(port), Address: socketAddress(anyAddress, port)}
		chains, needInspector, err := t.serverChains(nil, f, sl.TLS)
		if err != nil {
			return err
		}
		if needInspector {
			l.ListenerFilters = append(l.ListenerFilters, tlsInspectorFilter())
		}
		l.FilterChains = chains
		t.out.Listeners = append(t.out.Listeners, l)
	}
	return nil
}

// gatewayPool applies a gateway listener's connection pool where App Mesh
// applies it: to the connections the gateway opens to the hosts of its
// upstream clusters (the clusters the listener's routes lead to). A
// cluster reached from several listeners keeps the pool of the first one
// (in the spec's order).
func (t *translator) gatewayPool(routes []*routev3.Route, pool *spec.ConnectionPool) {
	cb := circuitBreakers(pool)
	if cb == nil {
		return
	}
	used := map[string]bool{}
	for _, r := range routes {
		ra := r.GetRoute()
		if c := ra.GetCluster(); c != "" {
			used[c] = true
		}
		for _, w := range ra.GetWeightedClusters().GetClusters() {
			used[w.GetName()] = true
		}
	}
	for _, c := range t.out.Clusters {
		if used[c.Name] && c.CircuitBreakers == nil {
			c.CircuitBreakers = proto.Clone(cb).(*clusterv3.CircuitBreakers)
		}
	}
}

// gatewayRoute turns one gateway route into an Envoy route towards its
// target virtual service; a target that does not resolve yields nil.
func (t *translator) gatewayRoute(g *spec.NamedVirtualGateway, gr spec.NamedGatewayRoute, sl spec.Listener) (*routev3.Route, error) {
	tgt := gr.Spec.Target()
	if tgt == nil || tgt.VirtualService == nil {
		return nil, nil
	}
	svc := t.snap.Service(tgt.VirtualService.VirtualServiceName)
	if svc == nil || svc.Spec.Provider == nil {
		return nil, nil
	}
	var policy *spec.ClientPolicyTLS
	if g.Spec.BackendDefaults != nil && g.Spec.BackendDefaults.ClientPolicy != nil {
		policy = g.Spec.BackendDefaults.ClientPolicy.TLS
	}
	targets, err := t.serviceTargets(svc, policy)
	if err != nil {
		return nil, err
	}
	var chosen *target
	for i := range targets {
		if tgt.Port != nil && targets[i].port != *tgt.Port {
			continue
		}
		if chosen == nil {
			chosen = &targets[i]
		}
	}
	if chosen == nil || len(chosen.routes) == 0 {
		return nil, nil
	}
	// The virtual service's own first route decides where the request
	// goes (its weighted clusters, retries and timeouts); the gateway
	// route contributes the match and the rewrites.
	inner := chosen.routes[0]
	action, _ := inner.Action.(*routev3.Route_Route)
	if action == nil {
		return nil, nil
	}
	ra := cloneAction(action.Route)
	r := &routev3.Route{Name: gr.Name}
	switch {
	case gr.Spec.HTTPRoute != nil || gr.Spec.HTTP2Route != nil:
		hr := gr.Spec.HTTPRoute
		if hr == nil {
			hr = gr.Spec.HTTP2Route
		}
		m, err := httpMatch(hr.Match)
		if err != nil {
			return nil, err
		}
		r.Match = m
		applyGatewayRewrite(ra, hr, svc.Name)
	case gr.Spec.GRPCRoute != nil:
		m, err := grpcMatch(gr.Spec.GRPCRoute.Match)
		if err != nil {
			return nil, err
		}
		r.Match = m
		ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: svc.Name}
	}
	r.Action = &routev3.Route_Route{Route: ra}
	return r, nil
}

// applyGatewayRewrite applies App Mesh's gateway rewrites: the Host header
// becomes the target service's name unless disabled, and a prefix match
// replaces the matched prefix with "/" (or the configured value) unless
// disabled.
func applyGatewayRewrite(ra *routev3.RouteAction, hr *spec.HTTPGatewayRoute, service string) {
	rw := hr.Action.Rewrite
	if rw == nil || rw.Hostname == nil || rw.Hostname.DefaultTargetHostname != "DISABLED" {
		ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: service}
	}
	switch {
	case rw != nil && rw.Path != nil && rw.Path.Exact != "":
		ra.PrefixRewrite = ""
		ra.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^.*$"}, Substitution: rw.Path.Exact}
	case rw != nil && rw.Prefix != nil && rw.Prefix.Value != "":
		ra.PrefixRewrite = rw.Prefix.Value
	case rw != nil && rw.Prefix != nil && rw.Prefix.DefaultPrefix == "DISABLED":
	case hr.Match != nil && hr.Match.Prefix != nil && *hr.Match.Prefix != "/":
		ra.PrefixRewrite = "/"
	}
}
