package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/proxy/tlsconf"
)

// builder turns a snapshot into listeners, clusters and routes. It reuses
// the proxy's existing sources and clusters when their identity is
// unchanged, so Update keeps pooled connections and loaded certificates.
// What it creates for the new configuration is owned by gen.
type builder struct {
	p        *Proxy
	snap     *spec.Snapshot
	clusters map[string]*cluster
	gen      *generation
	resolved map[string]resolved     // by refKey, from resolveSources
	fresh    map[string]*sourceEntry // sources new in this build
}

// reloader returns the shared Reloader for a reference, as prepared by
// resolveSources, and records the generation's reference to it.
func (b *builder) reloader(ref CertRef) (*certsource.Reloader, error) {
	rr, ok := b.resolved[refKey(ref)]
	if !ok {
		// Every reference the builder reaches is collected by
		// snapshotRefs; one that is not is a bug, refused rather than
		// loaded under the lock.
		return nil, fmt.Errorf("proxy: certificate reference %s was not resolved", refKey(ref))
	}
	if rr.err != nil {
		return nil, rr.err
	}
	e := b.p.sources[rr.name]
	if e == nil {
		e = b.fresh[rr.name]
	}
	if e == nil {
		if rr.r == nil {
			return nil, fmt.Errorf("proxy: certificate source %s went away during the update; retry", rr.name)
		}
		e = &sourceEntry{name: rr.name, r: rr.r, subscribed: map[string]bool{}}
		b.fresh[rr.name] = e
	}
	b.gen.sources[rr.name] = e
	return e.r, nil
}

// subscribeCounters wires a source's outcomes to a listener's or
// cluster's socket-factory counters, once per pair for the source's life.
func (b *builder) subscribeCounters(owner string, server bool, r *certsource.Reloader) {
	e := b.gen.sources[r.Name()]
	if e == nil || e.r != r {
		return
	}
	key := owner + "|" + strconv.FormatBool(server)
	if e.subscribed[key] {
		return
	}
	e.subscribed[key] = true
	p := b.p
	pre := owner + stats.SocketFactoryPrefix(server)
	ok, failed := p.stats.Counter(pre+stats.SSLContextUpdateBySDS), p.stats.Counter(pre+stats.SSLContextUpdateFailed)
	r.Subscribe(func(_, _ *certsource.Material) { ok.Inc() })
	r.OnRejected(func(error) { failed.Inc() })
}

func (b *builder) listenerTLS(l *listener, t *spec.ListenerTLS) (*listenerTLS, error) {
	if t == nil || t.Mode == spec.ModeDisabled {
		return nil, nil
	}
	p := b.p
	cert, err := b.reloader(CertRef{Certificate: t.Certificate})
	if err != nil {
		return nil, err
	}
	if cert.Current().Certificate == nil {
		return nil, fmt.Errorf("%s: holds no certificate", cert.Name())
	}
	owner := l.prefix()
	b.subscribeCounters(owner, true, cert)
	sc := tlsconf.ServerConfig{
		Cert: cert, NextProtos: alpn(l.protocol, true),
		TicketKeyRotation: p.cfg.TicketKeyRotation, SSL: stats.NewSSL(p.stats, owner), Clock: p.cfg.Clock,
	}
	if v := t.Validation; v != nil {
		if sc.Trust, err = b.reloader(CertRef{Trust: v.Trust}); err != nil {
			return nil, err
		}
		b.subscribeCounters(owner, true, sc.Trust)
		sc.SANs = v.SubjectAlternativeNames.ExactSANs()
	}
	srv, err := tlsconf.NewServer(sc)
	if err != nil {
		return nil, err
	}
	b.gen.tlsServers = append(b.gen.tlsServers, srv)
	return &listenerTLS{mode: t.Mode, srv: srv, cert: cert, ssl: sc.SSL}, nil
}

// alpn returns the ALPN list for a protocol; TCP negotiates none.
func alpn(protocol string, server bool) []string {
	switch protocol {
	case spec.ProtocolTCP:
		return nil
	case spec.ProtocolHTTP:
		if server {
			return []string{"h2", "http/1.1"}
		}
		return []string{"http/1.1"}
	}
	return []string{"h2", "http/1.1"}
}

// nodeCluster returns the cluster for a virtual node target under a client
// policy.
func (b *builder) nodeCluster(nodeName string, port *int, policy *spec.ClientPolicy) (*cluster, error) {
	node := b.snap.Node(nodeName)
	if node == nil {
		return nil, fmt.Errorf("virtual node %q not in snapshot", nodeName)
	}
	if len(node.Spec.Listeners) == 0 {
		return nil, fmt.Errorf("virtual node %q has no listener", nodeName)
	}
	ln := node.Spec.Listeners[0]
	if port != nil {
		for _, l := range node.Spec.Listeners {
			if l.PortMapping.Port == *port {
				ln = l
			}
		}
	}
	pm := ln.PortMapping
	sd := node.Spec.ServiceDiscovery
	if sd == nil || sd.DNS == nil {
		return nil, fmt.Errorf("virtual node %q: only dns service discovery is supported by the data plane", nodeName)
	}
	addr := sd.DNS.Hostname
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, strconv.Itoa(pm.Port))
	}
	name := fmt.Sprintf("cds_egress_%s_%s_%s_%d", b.snap.MeshName, nodeName, pm.Protocol, pm.Port)
	var tp *spec.ClientPolicyTLS
	if policy != nil && policy.TLS.Enforced() && policy.TLS.AppliesTo(pm.Port) {
		tp = policy.TLS
	}
	return b.cluster(name, addr, pm.Protocol, tp, clusterOpts{outlier: ln.OutlierDetection, pool: b.gatewayPool()})
}

// gatewayPool is a gateway's listener connection pool, applied to the
// clusters it sends to; nil for a sidecar (whose pool limits its local
// app) or without one.
func (b *builder) gatewayPool() *spec.ConnectionPool {
	if g := b.snap.VirtualGateway; g != nil && len(g.Spec.Listeners) > 0 {
		return g.Spec.Listeners[0].ConnectionPool
	}
	return nil
}

func (b *builder) cluster(name, addr, protocol string, tp *spec.ClientPolicyTLS, opts clusterOpts) (*cluster, error) {
	p := b.p
	var trust, cert *certsource.Reloader
	var sans []string
	key := addr + "|" + protocol + opts.key()
	if tp != nil {
		var err error
		if trust, err = b.reloader(CertRef{Trust: tp.Validation.Trust}); err != nil {
			return nil, err
		}
		key += "|trust=" + trust.Name()
		if tp.Certificate != nil {
			if cert, err = b.reloader(CertRef{Certificate: clientCertAsListener(tp.Certificate)}); err != nil {
				return nil, err
			}
			key += "|cert=" + cert.Name()
		}
		sans = tp.Validation.SubjectAlternativeNames.ExactSANs()
		key += "|sans=" + strings.Join(sans, ",")
	}
	if c, ok := b.clusters[name]; ok {
		if c.key != key {
			return nil, fmt.Errorf("cluster %s: two client policies reach the same node and port differently", name)
		}
		return c, nil
	}
	if c, ok := p.clusters[name]; ok && c.key == key {
		b.clusters[name] = c
		return c, nil
	}
	var tc *tlsconf.Client
	var ssl *stats.SSL
	if tp != nil {
		owner := stats.ClusterPrefix(name)
		ssl = stats.NewSSL(p.stats, owner)
		host, _ := hostPort(addr)
		var err error
		tc, err = tlsconf.NewClient(tlsconf.ClientConfig{
			Trust: trust, Cert: cert, SANs: sans, ServerName: host,
			NextProtos: alpn(protocol, false), SSL: ssl, Clock: p.cfg.Clock,
		})
		if err != nil {
			return nil, err
		}
		b.subscribeCounters(owner, false, trust)
		if cert != nil {
			b.subscribeCounters(owner, false, cert)
		}
	}
	c := newCluster(p, name, addr, protocol, key, tc, ssl, opts)
	b.clusters[name] = c
	return c, nil
}

// svcEntry is a resolved virtual service.
type svcEntry struct {
	node   *cluster // provider is a node
	routes []svcRoute
}

type svcRoute struct {
	policy   *reqPolicy
	priority int
	http     *spec.HTTPRouteMatch
	grpc     *spec.GRPCRouteMatch
	catchAll bool // tcp routes
	targets  []spec.WeightedTarget
	clusters map[string]*cluster
}

func (b *builder) service(name string, port *int, policy *spec.ClientPolicy) (*svcEntry, error) {
	vs := b.snap.Service(name)
	if vs == nil || vs.Spec.Provider == nil {
		return nil, fmt.Errorf("virtual service %q has no provider", name)
	}
	pr := vs.Spec.Provider
	if pr.VirtualNode != nil {
		c, err := b.nodeCluster(pr.VirtualNode.VirtualNodeName, port, policy)
		return &svcEntry{node: c}, err
	}
	e := &svcEntry{}
	for _, r := range b.snap.RoutesOf(pr.VirtualRouter.VirtualRouterName) {
		sr := svcRoute{priority: 1001, clusters: map[string]*cluster{}, policy: routePolicy(r.Spec)}
		if r.Spec.Priority != nil {
			sr.priority = *r.Spec.Priority
		}
		switch {
		case r.Spec.HTTPRoute != nil:
			sr.http = r.Spec.HTTPRoute.Match
		case r.Spec.HTTP2Route != nil:
			sr.http = r.Spec.HTTP2Route.Match
		case r.Spec.GRPCRoute != nil:
			sr.grpc = r.Spec.GRPCRoute.Match
		default:
			sr.catchAll = true
		}
		sr.targets = r.Spec.RouteAction().WeightedTargets
		for _, t := range sr.targets {
			c, err := b.nodeCluster(t.VirtualNode, t.Port, policy)
			if err != nil {
				return nil, err
			}
			sr.clusters[t.VirtualNode] = c
		}
		e.routes = append(e.routes, sr)
	}
	sort.SliceStable(e.routes, func(i, j int) bool { return e.routes[i].priority < e.routes[j].priority })
	return e, nil
}

// pick chooses the cluster for a request (nil r: a TCP stream) and the
// route's request policy.
func (e *svcEntry) pick(r *http.Request, listenerPort int) (*cluster, *reqPolicy, bool) {
	if e.node != nil {
		return e.node, nil, true
	}
	for _, rt := range e.routes {
		ok := rt.catchAll
		if r != nil {
			ok = ok || (rt.http != nil && matchHTTP(rt.http, r, listenerPort)) || (rt.grpc != nil && matchGRPC(rt.grpc, r))
		}
		if !ok {
			continue
		}
		t := pickWeighted(rt.targets, nil)
		if t == nil {
			return nil, rt.policy, true
		}
		return rt.clusters[t.VirtualNode], rt.policy, true
	}
	return nil, nil, false
}

// gatewayRouter routes by gateway routes to virtual services.
func (b *builder) gatewayRouter(listenerPort int) (router, error) {
	g := b.snap.VirtualGateway
	var policy *spec.ClientPolicy
	if g.Spec.BackendDefaults != nil {
		policy = g.Spec.BackendDefaults.ClientPolicy
	}
	routes := compileGatewayRoutes(b.snap.GatewayRoutes)
	svcs := map[string]*svcEntry{}
	for _, gr := range routes {
		if _, ok := svcs[gr.service]; ok {
			continue
		}
		e, err := b.service(gr.service, gr.port, policy)
		if err != nil {
			return nil, fmt.Errorf("gateway route %s: %w", gr.name, err)
		}
		svcs[gr.service] = e
	}
	return func(r *http.Request) (routeResult, bool) {
		for i := range routes {
			gr := &routes[i]
			if gr.grpc != nil {
				if !matchGRPC(gr.grpc, r) {
					continue
				}
			} else if !matchHTTP(gr.match, r, listenerPort) {
				continue
			}
			c, pol, ok := svcs[gr.service].pick(r, listenerPort)
			if !ok {
				return routeResult{}, false
			}
			res := routeResult{cluster: c, policy: pol, path: gr.rewritePath(r.URL.Path)}
			if gr.hostRewrite() {
				res.host = gr.service
			}
			return res, true
		}
		return routeResult{}, false
	}, nil
}

// egressRouter routes a node's outbound requests by Host to its backends.
func (b *builder) egressRouter() (router, error) {
	n := b.snap.VirtualNode
	var defaults *spec.ClientPolicy
	if n.Spec.BackendDefaults != nil {
		defaults = n.Spec.BackendDefaults.ClientPolicy
	}
	svcs := map[string]*svcEntry{}
	for _, be := range n.Spec.Backends {
		vs := be.VirtualService
		policy := defaults
		if vs.ClientPolicy != nil {
			policy = vs.ClientPolicy
		}
		e, err := b.service(vs.VirtualServiceName, nil, policy)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", vs.VirtualServiceName, err)
		}
		svcs[vs.VirtualServiceName] = e
	}
	return func(r *http.Request) (routeResult, bool) {
		e, ok := svcs[hostOnly(r.Host)]
		if !ok {
			return routeResult{}, false
		}
		c, pol, ok := e.pick(r, 0)
		return routeResult{cluster: c, policy: pol}, ok
	}, nil
}

// listenerSpec is one listener the snapshot asks for.
type listenerSpec struct {
	key, addr string
	spec      spec.Listener
}

// listenerSpecs lists the listeners a snapshot and settings ask for.
func listenerSpecs(snap *spec.Snapshot, set spec.ProxySettings) ([]listenerSpec, error) {
	bound := map[int]string{}
	for _, b := range set.Listeners {
		bound[b.Port] = b.Address
	}
	var out []listenerSpec
	if n := snap.VirtualNode; n != nil {
		for i, l := range n.Spec.Listeners {
			addr, ok := bound[l.PortMapping.Port]
			if !ok {
				if i > 0 {
					return nil, fmt.Errorf("proxy.listeners: listener for port %d needs an address", l.PortMapping.Port)
				}
				addr = "0.0.0.0:15000"
			}
			out = append(out, listenerSpec{key: "ingress:" + strconv.Itoa(l.PortMapping.Port), addr: addr, spec: l})
		}
	}
	if g := snap.VirtualGateway; g != nil {
		for _, l := range g.Spec.Listeners {
			addr, ok := bound[l.PortMapping.Port]
			if !ok {
				addr = net.JoinHostPort("0.0.0.0", strconv.Itoa(l.PortMapping.Port))
			}
			out = append(out, listenerSpec{key: "gateway:" + strconv.Itoa(l.PortMapping.Port), addr: addr, spec: l})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("proxy: the snapshot has no listener")
	}
	return out, nil
}
