package xdsclient

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

const (
	hcmName          = "envoy.filters.network.http_connection_manager"
	tcpProxyName     = "envoy.filters.network.tcp_proxy"
	routerName       = "envoy.filters.http.router"
	tlsInspectorName = "envoy.filters.listener.tls_inspector"
	originalDstName  = "envoy.filters.listener.original_dst"
	fileLogName      = "envoy.access_loggers.file"
)

// allowAllWhat names, in a NACK, what the server sends for a mesh whose
// egress filter is ALLOW_ALL: passing connections and requests to unknown
// destinations through to where the application sent them. bulwark proxy's
// egress routes only to backends, so it refuses the configuration rather
// than silently dropping that traffic (Envoys on the same mesh are not
// affected: a NACK concerns only its own stream).
const allowAllWhat = "the mesh's egress filter ALLOW_ALL (passthrough of unknown destinations to an ORIGINAL_DST cluster; set the mesh's egressFilter to DROP_ALL or run Envoy for this node)"

// chain is one decoded filter chain.
type chain struct {
	name      string
	port      int // destination port match, 0 for none
	transport string
	tls       *spec.ListenerTLS
	hcm       *hcmv3.HttpConnectionManager
	tcp       *tcpproxyv3.TcpProxy
}

// listenerChains decodes a listener's filter chains.
func (d *decoder) listenerChains(l *listenerv3.Listener) ([]chain, error) {
	path := "listener " + l.GetName()
	if err := onlyFields(path, l, "name", "address", "listener_filters", "filter_chains"); err != nil {
		return nil, err
	}
	for i, f := range l.GetListenerFilters() {
		// The TLS inspector and the original destination are what the
		// proxy does by itself (first-byte sniffing in PERMISSIVE, one
		// listener per port).
		if f.GetName() != tlsInspectorName && f.GetName() != originalDstName {
			return nil, refuse(fmt.Sprintf("%s.listener_filters[%d]", path, i), "listener filter %q", f.GetName())
		}
	}
	var out []chain
	for i, fc := range l.GetFilterChains() {
		p := fmt.Sprintf("%s.filter_chains[%d]", path, i)
		if err := onlyFields(p, fc, "name", "filter_chain_match", "filters", "transport_socket"); err != nil {
			return nil, err
		}
		c := chain{name: fc.GetName()}
		if m := fc.GetFilterChainMatch(); m != nil {
			if err := onlyFields(p+".filter_chain_match", m, "destination_port", "transport_protocol"); err != nil {
				return nil, err
			}
			c.port, c.transport = int(m.GetDestinationPort().GetValue()), m.GetTransportProtocol()
		}
		if len(fc.GetFilters()) != 1 {
			return nil, refuse(p+".filters", "a chain with %d network filters", len(fc.GetFilters()))
		}
		f := fc.GetFilters()[0]
		fp := p + ".filters[0]"
		if err := onlyFields(fp, f, "name", "typed_config"); err != nil {
			return nil, err
		}
		switch f.GetName() {
		case hcmName:
			c.hcm = &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(c.hcm); err != nil {
				return nil, refuse(fp, "an HTTP connection manager that does not decode")
			}
			if err := d.checkHCM(fp, c.hcm); err != nil {
				return nil, err
			}
		case tcpProxyName:
			c.tcp = &tcpproxyv3.TcpProxy{}
			if err := f.GetTypedConfig().UnmarshalTo(c.tcp); err != nil {
				return nil, refuse(fp, "a TCP proxy that does not decode")
			}
			if err := onlyFields(fp, c.tcp, "stat_prefix", "cluster", "weighted_clusters", "idle_timeout", "access_log"); err != nil {
				return nil, err
			}
			if err := d.accessLog(fp+".access_log", c.tcp.GetAccessLog()); err != nil {
				return nil, err
			}
		default:
			return nil, refuse(fp, "network filter %q", f.GetName())
		}
		if ts := fc.GetTransportSocket(); ts != nil {
			var err error
			if c.tls, err = d.serverTLS(p+".transport_socket", ts); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (d *decoder) checkHCM(path string, h *hcmv3.HttpConnectionManager) error {
	if err := onlyFields(path, h, "stat_prefix", "rds", "http_filters", "access_log", "codec_type"); err != nil {
		return err
	}
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP2:
	default:
		return refuse(path+".codec_type", "codec %s", h.GetCodecType())
	}
	for i, f := range h.GetHttpFilters() {
		if f.GetName() != routerName {
			return refuse(fmt.Sprintf("%s.http_filters[%d]", path, i), "HTTP filter %q", f.GetName())
		}
	}
	if err := onlyFields(path+".rds", h.GetRds(), "route_config_name", "config_source"); err != nil {
		return err
	}
	if h.GetRds().GetConfigSource().GetAds() == nil || h.GetRds().GetRouteConfigName() == "" {
		return refuse(path+".rds", "routes from a source other than this stream")
	}
	return d.accessLog(path+".access_log", h.GetAccessLog())
}

// accessLog reads file access logs; every filter must log to the same
// place, as the spec has one access log per resource.
func (d *decoder) accessLog(path string, logs []*accesslogv3.AccessLog) error {
	if len(logs) == 0 {
		if d.logging != nil && d.logging.AccessLog != nil {
			return refuse(path, "access logging on some connections only")
		}
		d.logging = &spec.Logging{}
		return nil
	}
	if len(logs) != 1 {
		return refuse(path, "several access logs")
	}
	a := logs[0]
	if err := onlyFields(path+"[0]", a, "name", "typed_config"); err != nil {
		return err
	}
	fl := &filev3.FileAccessLog{}
	if a.GetName() != fileLogName || a.GetTypedConfig().UnmarshalTo(fl) != nil {
		return refuse(path+"[0]", "access logger %q", a.GetName())
	}
	if err := onlyFields(path+"[0]", fl, "path", "log_format"); err != nil {
		return err
	}
	f := &spec.FileAccessLog{Path: fl.GetPath()}
	if lf := fl.GetLogFormat(); lf != nil {
		if err := onlyFields(path+"[0].log_format", lf, "text_format_source", "json_format"); err != nil {
			return err
		}
		switch {
		case lf.GetTextFormatSource() != nil:
			f.Format = &spec.LoggingFormat{Text: strings.TrimSuffix(lf.GetTextFormatSource().GetInlineString(), "\n")}
		case lf.GetJsonFormat() != nil:
			f.Format = &spec.LoggingFormat{}
			for k, v := range lf.GetJsonFormat().AsMap() {
				s, _ := v.(string)
				f.Format.JSON = append(f.Format.JSON, spec.KeyValue{Key: k, Value: s})
			}
			sort.Slice(f.Format.JSON, func(i, j int) bool { return f.Format.JSON[i].Key < f.Format.JSON[j].Key })
		}
	}
	l := &spec.Logging{AccessLog: &spec.AccessLog{File: f}}
	if d.logging != nil {
		a, _ := json.Marshal(d.logging)
		b, _ := json.Marshal(l)
		if string(a) != string(b) {
			return refuse(path, "different access logs on different connections")
		}
	}
	d.logging = l
	return nil
}

func (d *decoder) resourceLogging() *spec.Logging {
	if d.logging == nil || d.logging.AccessLog == nil {
		return nil
	}
	return d.logging
}

// listenerPort is the port an ingress listener binds.
func listenerPort(path string, l *listenerv3.Listener) (int, error) {
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil || sa.GetPortValue() == 0 {
		return 0, refuse(path+".address", "an address that is not a TCP socket")
	}
	if err := onlyFields(path+".address.socket_address", sa, "address", "port_value"); err != nil {
		return 0, err
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return 0, refuse(path+".address", "a UDP listener")
	}
	return int(sa.GetPortValue()), nil
}

// tlsMode folds a port's chains (TLS, plaintext, or both told apart by
// the TLS inspector) into the listener's TLS mode.
func tlsMode(path string, cs []chain) (*spec.ListenerTLS, error) {
	var tlsC, plain *chain
	for i := range cs {
		if cs[i].tls != nil {
			if tlsC != nil {
				return nil, refuse(path, "two TLS chains for one port")
			}
			tlsC = &cs[i]
		} else {
			if plain != nil {
				return nil, refuse(path, "two plaintext chains for one port")
			}
			plain = &cs[i]
		}
	}
	switch {
	case tlsC != nil && plain != nil:
		if tlsC.transport != "tls" || plain.transport != "raw_buffer" {
			return nil, refuse(path, "TLS and plaintext chains not told apart by transport protocol")
		}
		t := *tlsC.tls
		t.Mode = spec.ModePermissive
		return &t, nil
	case tlsC != nil:
		if tlsC.transport != "" {
			return nil, refuse(path, "a transport protocol match on a TLS-only port")
		}
		return tlsC.tls, nil
	case plain != nil && plain.transport != "":
		return nil, refuse(path, "a transport protocol match on a plaintext-only port")
	}
	return nil, nil
}

// ---- virtual nodes ----

func (d *decoder) virtualNode(ls []*listenerv3.Listener) error {
	n := &spec.NamedVirtualNode{Name: d.node.Name}
	var backends []string
	for _, l := range ls {
		switch {
		case l.GetName() == egressListenerName:
			var err error
			if backends, err = d.egress(l); err != nil {
				return err
			}
		case strings.HasPrefix(l.GetName(), ingressListenerPrefix):
			path := "listener " + l.GetName()
			if _, err := listenerPort(path, l); err != nil {
				return err
			}
			cs, err := d.listenerChains(l)
			if err != nil {
				return err
			}
			byPort := map[int][]chain{}
			var order []int
			for _, c := range cs {
				if len(cs) > 2 && c.port == 0 {
					return refuse(path, "several listeners not told apart by destination port")
				}
				if _, ok := byPort[c.port]; !ok {
					order = append(order, c.port)
				}
				byPort[c.port] = append(byPort[c.port], c)
			}
			for _, key := range order {
				sl, err := d.ingress(path, byPort[key])
				if err != nil {
					return err
				}
				n.Spec.Listeners = append(n.Spec.Listeners, sl)
			}
		default:
			return refuse("listener "+l.GetName(), "a listener that is neither App Mesh's ingress nor egress")
		}
	}
	n.Spec.Logging = d.resourceLogging()
	for _, b := range backends {
		be := spec.Backend{VirtualService: &spec.VirtualServiceBackend{VirtualServiceName: b}}
		pol, err := d.clientPolicy("backend "+b, d.serviceTargets(b))
		if err != nil {
			return err
		}
		be.VirtualService.ClientPolicy = pol
		n.Spec.Backends = append(n.Spec.Backends, be)
	}
	d.snap.VirtualNode = n
	return nil
}

// ingress decodes the chains of one sidecar listener (one app port).
func (d *decoder) ingress(path string, cs []chain) (spec.Listener, error) {
	t, err := tlsMode(path, cs)
	if err != nil {
		return spec.Listener{}, err
	}
	c := cs[0]
	var local string
	var timeout *spec.ListenerTimeout
	var proto string
	var port int
	switch {
	case c.hcm != nil:
		rn := c.hcm.GetRds().GetRouteConfigName()
		var ok bool
		if _, proto, port, ok = protoPort(strings.TrimPrefix(rn, ingressRoutePrefix)); !ok || !strings.HasPrefix(rn, ingressRoutePrefix) || proto == spec.ProtocolTCP {
			return spec.Listener{}, refuse(path, "route configuration %q that is not rds_ingress_<protocol>_<port>", rn)
		}
		rc := d.routes[rn]
		if rc == nil {
			return spec.Listener{}, fmt.Errorf("route configuration %q is referenced but was not sent", rn)
		}
		var ht *spec.HTTPTimeout
		if local, ht, err = d.ingressRoute(rn, rc); err != nil {
			return spec.Listener{}, err
		}
		if ht != nil {
			timeout = &spec.ListenerTimeout{}
			switch proto {
			case spec.ProtocolHTTP:
				timeout.HTTP = ht
			case spec.ProtocolHTTP2:
				timeout.HTTP2 = ht
			case spec.ProtocolGRPC:
				timeout.GRPC = ht
			}
		}
	case c.tcp != nil:
		cl, ok := c.tcp.GetClusterSpecifier().(*tcpproxyv3.TcpProxy_Cluster)
		if !ok {
			return spec.Listener{}, refuse(path, "weighted clusters on an ingress listener")
		}
		local = cl.Cluster
		proto = spec.ProtocolTCP
		if idle := c.tcp.GetIdleTimeout(); idle != nil {
			if err := durationOK(path+".idle_timeout", idle); err != nil {
				return spec.Listener{}, err
			}
			timeout = &spec.ListenerTimeout{TCP: &spec.TCPTimeout{Idle: durationSpec(idle)}}
		}
	}
	for _, o := range cs[1:] {
		if (o.hcm == nil) != (c.hcm == nil) || (o.hcm != nil && o.hcm.GetRds().GetRouteConfigName() != c.hcm.GetRds().GetRouteConfigName()) ||
			(o.tcp != nil && o.tcp.GetCluster() != c.tcp.GetCluster()) {
			return spec.Listener{}, refuse(path, "TLS and plaintext chains of one port that go to different places")
		}
	}
	want := fmt.Sprintf("%s%s_%s_%s_%d", ingressClusterPrefix, d.node.Mesh, d.node.Name, proto, port)
	if proto == spec.ProtocolTCP {
		var ok bool
		if _, _, port, ok = protoPort(local); !ok {
			return spec.Listener{}, refuse(path, "a local cluster %q that is not cds_ingress_<mesh>_<node>_<protocol>_<port>", local)
		}
		want = fmt.Sprintf("%s%s_%s_tcp_%d", ingressClusterPrefix, d.node.Mesh, d.node.Name, port)
	}
	if local != want {
		return spec.Listener{}, refuse(path, "a local cluster %q (want %q)", local, want)
	}
	if c.port != 0 && c.port != port {
		return spec.Listener{}, refuse(path, "a destination port %d for the app's port %d", c.port, port)
	}
	sl := spec.Listener{PortMapping: &spec.PortMapping{Port: port, Protocol: proto}, TLS: t, Timeout: timeout}
	if err := d.localCluster(local, port, &sl); err != nil {
		return spec.Listener{}, err
	}
	return sl, nil
}

// localCluster reads the app cluster's connection pool and health check.
func (d *decoder) localCluster(name string, port int, sl *spec.Listener) error {
	c := d.clusters[name]
	path := "cluster " + name
	if c == nil {
		return fmt.Errorf("cluster %q is referenced but was not sent", name)
	}
	if err := onlyFields(path, c, "name", "type", "connect_timeout", "load_assignment", "typed_extension_protocol_options", "circuit_breakers", "health_checks"); err != nil {
		return err
	}
	if err := protocolOptions(path, c, sl.PortMapping.Protocol); err != nil {
		return err
	}
	// The proxy sends to --app-host (default 127.0.0.1) on the app port;
	// the server's 127.0.0.1:<port> endpoint says the same.
	if _, ep, err := endpoint(path, c); err != nil {
		return err
	} else if ep != port {
		return refuse(path, "an app endpoint on port %d for listener port %d", ep, port)
	}
	if cb := c.GetCircuitBreakers(); cb != nil {
		pool, err := connectionPool(path, cb, sl.PortMapping.Protocol)
		if err != nil {
			return err
		}
		sl.ConnectionPool = pool
	}
	switch len(c.GetHealthChecks()) {
	case 0:
	case 1:
		hc, err := healthCheck(path+".health_checks[0]", c.GetHealthChecks()[0])
		if err != nil {
			return err
		}
		sl.HealthCheck = hc
	default:
		return refuse(path+".health_checks", "several health checks")
	}
	return nil
}

func healthCheck(path string, h *corev3.HealthCheck) (*spec.HealthCheck, error) {
	if err := onlyFields(path, h, "timeout", "interval", "healthy_threshold", "unhealthy_threshold", "tcp_health_check", "grpc_health_check", "http_health_check"); err != nil {
		return nil, err
	}
	out := &spec.HealthCheck{
		TimeoutMillis: h.GetTimeout().AsDuration().Milliseconds(), IntervalMillis: h.GetInterval().AsDuration().Milliseconds(),
		HealthyThreshold: int(h.GetHealthyThreshold().GetValue()), UnhealthyThreshold: int(h.GetUnhealthyThreshold().GetValue()),
	}
	switch {
	case h.GetTcpHealthCheck() != nil:
		if err := onlyFields(path+".tcp_health_check", h.GetTcpHealthCheck()); err != nil {
			return nil, err
		}
		out.Protocol = spec.ProtocolTCP
	case h.GetGrpcHealthCheck() != nil:
		if err := onlyFields(path+".grpc_health_check", h.GetGrpcHealthCheck()); err != nil {
			return nil, err
		}
		out.Protocol = spec.ProtocolGRPC
	case h.GetHttpHealthCheck() != nil:
		hh := h.GetHttpHealthCheck()
		if err := onlyFields(path+".http_health_check", hh, "path", "codec_client_type"); err != nil {
			return nil, err
		}
		out.Protocol, out.Path = spec.ProtocolHTTP, hh.GetPath()
		if hh.GetCodecClientType() == 1 { // HTTP2
			out.Protocol = spec.ProtocolHTTP2
		} else if hh.GetCodecClientType() != 0 {
			return nil, refuse(path+".http_health_check.codec_client_type", "codec %s", hh.GetCodecClientType())
		}
	default:
		return nil, refuse(path, "a health check of another kind")
	}
	return out, nil
}

// egress decodes the egress listener into virtual services (one router
// each) and returns the backends' names in order.
func (d *decoder) egress(l *listenerv3.Listener) ([]string, error) {
	path := "listener " + l.GetName()
	if l.GetDefaultFilterChain() != nil {
		return nil, refuse(path+".default_filter_chain", "%s", allowAllWhat)
	}
	cs, err := d.listenerChains(l)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for i, c := range cs {
		p := fmt.Sprintf("%s.filter_chains[%d]", path, i)
		if c.tls != nil || c.transport != "" {
			return nil, refuse(p, "TLS on the egress listener")
		}
		switch {
		case c.hcm != nil:
			rn := c.hcm.GetRds().GetRouteConfigName()
			_, proto, port, ok := protoPort(strings.TrimPrefix(rn, egressRoutePrefix))
			if !ok || !strings.HasPrefix(rn, egressRoutePrefix) {
				return nil, refuse(p, "route configuration %q that is not rds_egress_<protocol>_<port>", rn)
			}
			rc := d.routes[rn]
			if rc == nil {
				return nil, fmt.Errorf("route configuration %q is referenced but was not sent", rn)
			}
			svcs, err := d.egressRoutes(rn, rc, proto, port)
			if err != nil {
				return nil, err
			}
			for _, s := range svcs {
				add(s)
			}
		case c.tcp != nil:
			// The server names TCP egress chains egress_tcp_<service>_<port>.
			rest, ok := strings.CutPrefix(c.name, "egress_tcp_")
			j := strings.LastIndexByte(rest, '_')
			if !ok || j <= 0 || rest[j+1:] != strconv.Itoa(c.port) {
				return nil, refuse(p, "a TCP chain that names no virtual service")
			}
			svc := rest[:j]
			if c.tcp.GetIdleTimeout() != nil {
				return nil, refuse(p, "an idle timeout on an egress TCP route")
			}
			var targets []spec.WeightedTarget
			switch cl := c.tcp.GetClusterSpecifier().(type) {
			case *tcpproxyv3.TcpProxy_Cluster:
				wt, err := d.egressCluster(cl.Cluster)
				if err != nil {
					return nil, err
				}
				wt.Weight = 1
				targets = append(targets, wt)
			case *tcpproxyv3.TcpProxy_WeightedClusters:
				for _, w := range cl.WeightedClusters.GetClusters() {
					wt, err := d.egressCluster(w.GetName())
					if err != nil {
						return nil, err
					}
					wt.Weight = int(w.GetWeight())
					targets = append(targets, wt)
				}
			}
			r := d.router(svc, spec.ProtocolTCP, c.port)
			d.snap.Routes = append(d.snap.Routes, spec.NamedRoute{Name: fmt.Sprintf("tcp-%d", c.port), VirtualRouterName: r.Name,
				Spec: spec.RouteSpec{TCPRoute: &spec.TCPRoute{Action: &spec.RouteAction{WeightedTargets: targets}}}})
			add(svc)
		}
	}
	return names, nil
}

// router returns (creating it) the virtual router that provides a
// service, and the service.
func (d *decoder) router(svc, proto string, port int) *spec.NamedVirtualRouter {
	if r := d.routers[svc]; r != nil {
		return r
	}
	name := "xds-router-" + strconv.Itoa(len(d.routers))
	d.snap.VirtualRouters = append(d.snap.VirtualRouters, spec.NamedVirtualRouter{Name: name, Spec: spec.VirtualRouterSpec{
		Listeners: []spec.RouterListener{{PortMapping: &spec.PortMapping{Port: port, Protocol: proto}}},
	}})
	d.snap.VirtualServices = append(d.snap.VirtualServices, spec.NamedVirtualService{Name: svc, Spec: spec.VirtualServiceSpec{
		Provider: &spec.VirtualServiceProvider{VirtualRouter: &spec.VirtualRouterProvider{VirtualRouterName: name}},
	}})
	r := &d.snap.VirtualRouters[len(d.snap.VirtualRouters)-1]
	d.routers[svc] = &spec.NamedVirtualRouter{Name: r.Name, Spec: r.Spec}
	return d.routers[svc]
}

// serviceTargets lists every target of a service's routes.
func (d *decoder) serviceTargets(svc string) []spec.WeightedTarget {
	r := d.routers[svc]
	if r == nil {
		return nil
	}
	var out []spec.WeightedTarget
	for _, rt := range d.snap.RoutesOf(r.Name) {
		if a := rt.Spec.RouteAction(); a != nil {
			out = append(out, a.WeightedTargets...)
		}
	}
	return out
}

// ---- virtual gateways ----

func (d *decoder) virtualGateway(ls []*listenerv3.Listener) error {
	g := &spec.NamedVirtualGateway{Name: d.node.Name}
	type gl struct {
		port  int
		proto string
		rc    string
	}
	var gls []gl
	for _, l := range ls {
		path := "listener " + l.GetName()
		if !strings.HasPrefix(l.GetName(), ingressListenerPrefix) {
			return refuse(path, "a gateway listener that is not lds_ingress_0.0.0.0_<port>")
		}
		port, err := listenerPort(path, l)
		if err != nil {
			return err
		}
		cs, err := d.listenerChains(l)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return refuse(path, "a listener without filter chains")
		}
		t, err := tlsMode(path, cs)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.hcm == nil || c.port != 0 {
				return refuse(path, "a gateway chain that is not HTTP")
			}
			if c.hcm.GetRds().GetRouteConfigName() != cs[0].hcm.GetRds().GetRouteConfigName() {
				return refuse(path, "TLS and plaintext chains with different routes")
			}
		}
		rn := cs[0].hcm.GetRds().GetRouteConfigName()
		_, proto, rport, ok := protoPort(strings.TrimPrefix(rn, ingressRoutePrefix))
		if !ok || rport != port || proto == spec.ProtocolTCP {
			return refuse(path, "route configuration %q for port %d", rn, port)
		}
		g.Spec.Listeners = append(g.Spec.Listeners, spec.Listener{PortMapping: &spec.PortMapping{Port: port, Protocol: proto}, TLS: t})
		gls = append(gls, gl{port, proto, rn})
	}
	if len(gls) == 0 {
		return refuse("listeners", "a gateway without listeners")
	}
	g.Spec.Logging = d.resourceLogging()
	var all []spec.WeightedTarget
	for _, l := range gls {
		rc := d.routes[l.rc]
		if rc == nil {
			return fmt.Errorf("route configuration %q is referenced but was not sent", l.rc)
		}
		ts, err := d.gatewayRoutes(l.rc, rc, l.proto, l.port, len(gls) > 1)
		if err != nil {
			return err
		}
		all = append(all, ts...)
	}
	pol, err := d.clientPolicy("virtual gateway backends", all)
	if err != nil {
		return err
	}
	if pol != nil {
		g.Spec.BackendDefaults = &spec.BackendDefaults{ClientPolicy: pol}
	}
	if d.gatewayPooled != 0 && d.gatewayPooled != d.gatewayClusters {
		return refuse("clusters", "connection limits on some of a gateway's clusters only (one pool applies to all of them)")
	}
	if d.gatewayPool != nil {
		// The proxy applies a gateway's (first listener's) pool to every
		// cluster it sends to, which is what the clusters carried.
		for i := range g.Spec.Listeners {
			g.Spec.Listeners[i].ConnectionPool = d.gatewayPool
		}
	}
	d.snap.VirtualGateway = g
	return nil
}

// connectionPool reads a cluster's circuit breakers back into the App Mesh
// connection pool of protocol proto they were translated from.
func connectionPool(path string, cb *clusterv3.CircuitBreakers, proto string) (*spec.ConnectionPool, error) {
	if err := onlyFields(path+".circuit_breakers", cb, "thresholds"); err != nil {
		return nil, err
	}
	if len(cb.GetThresholds()) != 1 {
		return nil, refuse(path+".circuit_breakers", "several thresholds")
	}
	th := cb.GetThresholds()[0]
	tp := path + ".circuit_breakers.thresholds[0]"
	if err := onlyFields(tp, th, "max_connections", "max_pending_requests", "max_requests"); err != nil {
		return nil, err
	}
	pool := &spec.ConnectionPool{}
	switch proto {
	case spec.ProtocolHTTP:
		if th.GetMaxRequests() != nil {
			return nil, refuse(tp, "max_requests on an http listener")
		}
		pool.HTTP = &spec.HTTPPool{MaxConnections: int(th.GetMaxConnections().GetValue()), MaxPendingRequests: int(th.GetMaxPendingRequests().GetValue())}
	case spec.ProtocolHTTP2, spec.ProtocolGRPC:
		if th.GetMaxConnections() != nil || th.GetMaxPendingRequests() != nil {
			return nil, refuse(tp, "connection limits on an %s listener", proto)
		}
		mr := &spec.PoolMaxRequests{MaxRequests: int(th.GetMaxRequests().GetValue())}
		if proto == spec.ProtocolGRPC {
			pool.GRPC = mr
		} else {
			pool.HTTP2 = mr
		}
	case spec.ProtocolTCP:
		if th.GetMaxRequests() != nil || th.GetMaxPendingRequests() != nil {
			return nil, refuse(tp, "request limits on a tcp listener")
		}
		pool.TCP = &spec.TCPPool{MaxConnections: int(th.GetMaxConnections().GetValue())}
	default:
		return nil, refuse(tp, "circuit breakers for protocol %q", proto)
	}
	return pool, nil
}
