package xds

import (
	"fmt"
	"sort"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

const (
	tlsInspectorName = "envoy.filters.listener.tls_inspector"
	originalDstName  = "envoy.filters.listener.original_dst"
	hcmName          = "envoy.filters.network.http_connection_manager"
	tcpProxyName     = "envoy.filters.network.tcp_proxy"
	routerName       = "envoy.filters.http.router"
	fileLogName      = "envoy.access_loggers.file"
	httpOptionsKey   = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		// anypb.New fails only for a nil or unregistered message, which
		// would be a programming error here.
		panic(fmt.Sprintf("xds: marshal %T: %v", m, err))
	}
	return a
}

func socketAddress(host string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func loadAssignment(cluster, host string, port int) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
			}},
		}},
	}
}

// setProtocol makes the cluster speak HTTP/2 to http2 and grpc upstreams.
func setProtocol(c *clusterv3.Cluster, proto string) {
	if proto != spec.ProtocolHTTP2 && proto != spec.ProtocolGRPC {
		return
	}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
		httpOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			}},
		}),
	}
}

func circuitBreakers(p *spec.ConnectionPool) *clusterv3.CircuitBreakers {
	if p == nil {
		return nil
	}
	th := &clusterv3.CircuitBreakers_Thresholds{}
	switch {
	case p.HTTP != nil:
		th.MaxConnections = wrapperspb.UInt32(uint32(p.HTTP.MaxConnections))
		if p.HTTP.MaxPendingRequests > 0 {
			th.MaxPendingRequests = wrapperspb.UInt32(uint32(p.HTTP.MaxPendingRequests))
		}
	case p.HTTP2 != nil:
		th.MaxRequests = wrapperspb.UInt32(uint32(p.HTTP2.MaxRequests))
	case p.GRPC != nil:
		th.MaxRequests = wrapperspb.UInt32(uint32(p.GRPC.MaxRequests))
	case p.TCP != nil:
		th.MaxConnections = wrapperspb.UInt32(uint32(p.TCP.MaxConnections))
	default:
		return nil
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
}

func healthCheck(h *spec.HealthCheck, _ int) *corev3.HealthCheck {
	if h == nil {
		return nil
	}
	hc := &corev3.HealthCheck{
		Timeout:            durationpb.New(time.Duration(h.TimeoutMillis) * time.Millisecond),
		Interval:           durationpb.New(time.Duration(h.IntervalMillis) * time.Millisecond),
		HealthyThreshold:   wrapperspb.UInt32(uint32(h.HealthyThreshold)),
		UnhealthyThreshold: wrapperspb.UInt32(uint32(h.UnhealthyThreshold)),
	}
	switch h.Protocol {
	case spec.ProtocolTCP:
		hc.HealthChecker = &corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}}
	case spec.ProtocolGRPC:
		hc.HealthChecker = &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{}}
	default:
		path := h.Path
		if path == "" {
			path = "/"
		}
		c := &corev3.HealthCheck_HttpHealthCheck{Path: path}
		if h.Protocol == spec.ProtocolHTTP2 {
			c.CodecClientType = typev3.CodecClientType_HTTP2
		}
		hc.HealthChecker = &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: c}
	}
	return hc
}

func duration(d *spec.Duration) *durationpb.Duration {
	if d == nil || d.Value == nil {
		return nil
	}
	unit := time.Second
	if d.Unit == "ms" {
		unit = time.Millisecond
	}
	return durationpb.New(time.Duration(*d.Value) * unit)
}

func outlierDetection(o *spec.OutlierDetection) *clusterv3.OutlierDetection {
	if o == nil {
		return nil
	}
	return &clusterv3.OutlierDetection{
		Consecutive_5Xx:    wrapperspb.UInt32(uint32(o.MaxServerErrors)),
		Interval:           duration(o.Interval),
		BaseEjectionTime:   duration(o.BaseEjectionDuration),
		MaxEjectionPercent: wrapperspb.UInt32(uint32(o.MaxEjectionPercent)),
		// App Mesh ejects on server errors only.
		EnforcingConsecutive_5Xx:           wrapperspb.UInt32(100),
		EnforcingSuccessRate:               wrapperspb.UInt32(0),
		EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(0),
	}
}

func listenerHTTPTimeout(l spec.Listener) *spec.HTTPTimeout {
	if l.Timeout == nil {
		return nil
	}
	switch {
	case l.Timeout.HTTP != nil:
		return l.Timeout.HTTP
	case l.Timeout.HTTP2 != nil:
		return l.Timeout.HTTP2
	case l.Timeout.GRPC != nil:
		return l.Timeout.GRPC
	}
	return nil
}

func tcpIdle(t *spec.ListenerTimeout) *durationpb.Duration {
	if t == nil || t.TCP == nil {
		return nil
	}
	return duration(t.TCP.Idle)
}

// applyHTTPTimeout sets the per-request (default 15 s, as App Mesh) and
// idle timeouts of a route.
func applyHTTPTimeout(a *routev3.RouteAction, t *spec.HTTPTimeout) {
	a.Timeout = durationpb.New(DefaultRequestTimeout)
	if t == nil {
		return
	}
	if d := duration(t.PerRequest); d != nil {
		a.Timeout = d
	}
	if d := duration(t.Idle); d != nil {
		a.IdleTimeout = d
	}
}

// accessLogSpec is one file access log.
type accessLogSpec = accesslogv3.AccessLog

func accessLogs(l *spec.Logging) []*accessLogSpec {
	if l == nil || l.AccessLog == nil || l.AccessLog.File == nil {
		return nil
	}
	f := l.AccessLog.File
	fl := &filev3.FileAccessLog{Path: f.Path}
	if f.Format != nil {
		switch {
		case f.Format.Text != "":
			fl.AccessLogFormat = &filev3.FileAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: ensureNewline(f.Format.Text)}}},
			}}
		case len(f.Format.JSON) > 0:
			fields := map[string]any{}
			for _, kv := range f.Format.JSON {
				fields[kv.Key] = kv.Value
			}
			st, err := structpb.NewStruct(fields)
			if err == nil {
				fl.AccessLogFormat = &filev3.FileAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
					Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: st},
				}}
			}
		}
	}
	return []*accessLogSpec{{Name: fileLogName, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(fl)}}}
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

func httpConnectionManager(statPrefix, routeName, proto string, logs []*accessLogSpec) (*listenerv3.Filter, error) {
	m := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: routeName,
			ConfigSource:    adsSource(),
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: routerName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}},
		AccessLog:   logs,
	}
	if proto == spec.ProtocolHTTP2 || proto == spec.ProtocolGRPC {
		m.CodecType = hcmv3.HttpConnectionManager_HTTP2
	}
	a, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: hcmName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}, nil
}

func tcpProxy(statPrefix, cluster string, idle *durationpb.Duration, logs []*accessLogSpec) (*listenerv3.Filter, error) {
	p := &tcpproxyv3.TcpProxy{StatPrefix: statPrefix, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}, IdleTimeout: idle, AccessLog: logs}
	return &listenerv3.Filter{Name: tcpProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(p)}}, nil
}

func tcpProxyWeighted(statPrefix string, ws []*weightedCluster, logs []*accessLogSpec) (*listenerv3.Filter, error) {
	if len(ws) == 1 {
		return tcpProxy(statPrefix, ws[0].name, nil, logs)
	}
	wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
	for _, w := range ws {
		wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: w.name, Weight: w.weight})
	}
	p := &tcpproxyv3.TcpProxy{StatPrefix: statPrefix, ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}, AccessLog: logs}
	return &listenerv3.Filter{Name: tcpProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(p)}}, nil
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

func originalDstFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: originalDstName, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&originaldstv3.OriginalDst{})}}
}

func tlsInspectorFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: tlsInspectorName, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})}}
}

func hasFilter(l *listenerv3.Listener, name string) bool {
	for _, f := range l.ListenerFilters {
		if f.Name == name {
			return true
		}
	}
	return false
}

func prefixMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func cloneAction(a *routev3.RouteAction) *routev3.RouteAction {
	return proto.Clone(a).(*routev3.RouteAction)
}

// ---- routes ----

func priorityOf(p *int) int {
	if p == nil {
		return 1001 // after every explicit priority (0..1000)
	}
	return *p
}

// sortedRoutes orders routes as App Mesh evaluates them: by priority (0
// first, unset last), then by name.
func sortedRoutes(rs []spec.NamedRoute) []spec.NamedRoute {
	out := append([]spec.NamedRoute(nil), rs...)
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := priorityOf(out[i].Spec.Priority), priorityOf(out[j].Spec.Priority)
		if pi != pj {
			return pi < pj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func sortedGatewayRoutes(rs []spec.NamedGatewayRoute) []spec.NamedGatewayRoute {
	out := append([]spec.NamedGatewayRoute(nil), rs...)
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := priorityOf(out[i].Spec.Priority), priorityOf(out[j].Spec.Priority)
		if pi != pj {
			return pi < pj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func routeProto(r spec.RouteSpec) string {
	switch {
	case r.HTTPRoute != nil:
		return spec.ProtocolHTTP
	case r.HTTP2Route != nil:
		return spec.ProtocolHTTP2
	case r.GRPCRoute != nil:
		return spec.ProtocolGRPC
	}
	return spec.ProtocolTCP
}

func gatewayRouteProto(r spec.GatewayRouteSpec) string {
	switch {
	case r.HTTPRoute != nil:
		return spec.ProtocolHTTP
	case r.HTTP2Route != nil:
		return spec.ProtocolHTTP2
	}
	return spec.ProtocolGRPC
}

// routeOnPort reports whether a route applies to a router listener: with
// several listeners a route names its port in match.port.
func routeOnPort(r spec.RouteSpec, port, listeners int) bool {
	var p *int
	switch {
	case r.HTTPRoute != nil && r.HTTPRoute.Match != nil:
		p = r.HTTPRoute.Match.Port
	case r.HTTP2Route != nil && r.HTTP2Route.Match != nil:
		p = r.HTTP2Route.Match.Port
	case r.GRPCRoute != nil && r.GRPCRoute.Match != nil:
		p = r.GRPCRoute.Match.Port
	case r.TCPRoute != nil && r.TCPRoute.Match != nil:
		p = r.TCPRoute.Match.Port
	}
	return p == nil && listeners <= 1 || p != nil && *p == port
}

func gatewayRouteOnPort(r spec.GatewayRouteSpec, port, listeners int) bool {
	var p *int
	switch {
	case r.HTTPRoute != nil && r.HTTPRoute.Match != nil:
		p = r.HTTPRoute.Match.Port
	case r.HTTP2Route != nil && r.HTTP2Route.Match != nil:
		p = r.HTTP2Route.Match.Port
	case r.GRPCRoute != nil && r.GRPCRoute.Match != nil:
		p = r.GRPCRoute.Match.Port
	}
	return p == nil && listeners <= 1 || p != nil && *p == port
}

// httpRoute translates an http, http2 or grpc route of a virtual router.
func httpRoute(r spec.NamedRoute, clusters []*weightedCluster) (*routev3.Route, error) {
	if len(clusters) == 0 {
		return &routev3.Route{Name: r.Name, Match: prefixMatch("/"), Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 503}}}, nil
	}
	action := &routev3.RouteAction{}
	if len(clusters) == 1 {
		action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: clusters[0].name}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, c := range clusters {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: c.name, Weight: wrapperspb.UInt32(c.weight)})
		}
		action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	out := &routev3.Route{Name: r.Name}
	var err error
	switch {
	case r.Spec.HTTPRoute != nil || r.Spec.HTTP2Route != nil:
		hr := r.Spec.HTTPRoute
		if hr == nil {
			hr = r.Spec.HTTP2Route
		}
		if out.Match, err = httpMatch(hr.Match); err != nil {
			return nil, err
		}
		applyHTTPTimeout(action, hr.Timeout)
		action.RetryPolicy = retryPolicy(hr.RetryPolicy)
	case r.Spec.GRPCRoute != nil:
		if out.Match, err = grpcMatch(r.Spec.GRPCRoute.Match); err != nil {
			return nil, err
		}
		applyHTTPTimeout(action, r.Spec.GRPCRoute.Timeout)
		action.RetryPolicy = grpcRetryPolicy(r.Spec.GRPCRoute.RetryPolicy)
	}
	out.Action = &routev3.Route_Route{Route: action}
	return out, nil
}

// retryEvents maps App Mesh's retry events to Envoy's retry_on values.
var retryEvents = map[string]string{
	"server-error":     "5xx",
	"gateway-error":    "gateway-error",
	"client-error":     "retriable-4xx",
	"stream-error":     "refused-stream",
	"connection-error": "connect-failure",
}

func retryPolicy(p *spec.HTTPRetryPolicy) *routev3.RetryPolicy {
	if p == nil {
		return nil
	}
	var on []string
	for _, e := range append(append([]string(nil), p.HTTPRetryEvents...), p.TCPRetryEvents...) {
		if v, ok := retryEvents[e]; ok {
			on = append(on, v)
		}
	}
	return &routev3.RetryPolicy{
		RetryOn:       strings.Join(on, ","),
		NumRetries:    wrapperspb.UInt32(uint32(p.MaxRetries)),
		PerTryTimeout: duration(p.PerRetryTimeout),
	}
}

// grpcRetryEvents are App Mesh's gRPC retry events, which Envoy's
// retry_on names alike (gRPC status codes of the response).
var grpcRetryEvents = map[string]bool{
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

// grpcRetryPolicy is retryPolicy for a gRPC route: the same HTTP and TCP
// events, plus its gRPC status events.
func grpcRetryPolicy(p *spec.GRPCRetryPolicy) *routev3.RetryPolicy {
	if p == nil {
		return nil
	}
	rp := retryPolicy(&spec.HTTPRetryPolicy{HTTPRetryEvents: p.HTTPRetryEvents, TCPRetryEvents: p.TCPRetryEvents, MaxRetries: p.MaxRetries, PerRetryTimeout: p.PerRetryTimeout})
	on := []string{}
	if rp.RetryOn != "" {
		on = append(on, rp.RetryOn)
	}
	for _, e := range p.GRPCRetryEvents {
		if grpcRetryEvents[e] {
			on = append(on, e)
		}
	}
	rp.RetryOn = strings.Join(on, ",")
	return rp
}

func httpMatch(m *spec.HTTPRouteMatch) (*routev3.RouteMatch, error) {
	out := &routev3.RouteMatch{}
	if m == nil {
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		return out, nil
	}
	switch {
	case m.Path != nil && m.Path.Exact != "":
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Path.Exact}
	case m.Path != nil && m.Path.Regex != "":
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Path.Regex}}
	case m.Prefix != nil:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: *m.Prefix}
	default:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
	}
	if m.Method != "" {
		out.Headers = append(out.Headers, exactHeader(":method", m.Method))
	}
	if m.Scheme != "" {
		out.Headers = append(out.Headers, exactHeader(":scheme", m.Scheme))
	}
	if h := m.Hostname; h != nil {
		switch {
		case h.Exact != "":
			out.Headers = append(out.Headers, exactHeader(":authority", h.Exact))
		case h.Suffix != "":
			out.Headers = append(out.Headers, &routev3.HeaderMatcher{Name: ":authority", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: h.Suffix}}}})
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, headerMatcher(h))
	}
	return out, nil
}

func grpcMatch(m *spec.GRPCRouteMatch) (*routev3.RouteMatch, error) {
	out := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Grpc: &routev3.RouteMatch_GrpcRouteMatchOptions{}}
	if m == nil {
		return out, nil
	}
	switch {
	case m.ServiceName != "" && m.MethodName != "":
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: "/" + m.ServiceName + "/" + m.MethodName}
	case m.ServiceName != "":
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/" + m.ServiceName + "/"}
	}
	for _, h := range m.Metadata {
		out.Headers = append(out.Headers, headerMatcher(h))
	}
	return out, nil
}

func exactHeader(name, v string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}}
}

func headerMatcher(h spec.HeaderMatchRule) *routev3.HeaderMatcher {
	out := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert != nil && *h.Invert}
	m := h.Match
	sm := func(p *matcherv3.StringMatcher) {
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: p}
	}
	switch {
	case m == nil:
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	case m.Exact != "":
		sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Exact}})
	case m.Prefix != "":
		sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.Prefix}})
	case m.Suffix != "":
		sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: m.Suffix}})
	case m.Regex != "":
		sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Regex}}})
	case m.Range != nil:
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: m.Range.Start, End: m.Range.End}}
	default:
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	}
	return out
}
