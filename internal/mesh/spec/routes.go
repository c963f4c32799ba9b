package spec

// GatewayRouteSpec is the appmesh GatewayRouteSpec shape.
type GatewayRouteSpec struct {
	GRPCRoute  *GRPCGatewayRoute `json:"grpcRoute,omitempty"`
	HTTP2Route *HTTPGatewayRoute `json:"http2Route,omitempty"`
	HTTPRoute  *HTTPGatewayRoute `json:"httpRoute,omitempty"`
	Priority   *int              `json:"priority,omitempty"`
}

// HTTPGatewayRoute is the appmesh HttpGatewayRoute shape.
type HTTPGatewayRoute struct {
	Action *HTTPGatewayRouteAction `json:"action"`
	Match  *HTTPRouteMatch         `json:"match"`
}

// HTTPGatewayRouteAction is the appmesh HttpGatewayRouteAction shape.
type HTTPGatewayRouteAction struct {
	Rewrite *HTTPGatewayRouteRewrite `json:"rewrite,omitempty"`
	Target  *GatewayRouteTarget      `json:"target"`
}

// HTTPGatewayRouteRewrite is the appmesh HttpGatewayRouteRewrite shape.
type HTTPGatewayRouteRewrite struct {
	Hostname *HostnameRewrite `json:"hostname,omitempty"`
	Path     *PathExact       `json:"path,omitempty"`
	Prefix   *PrefixRewrite   `json:"prefix,omitempty"`
}

// HostnameRewrite is the appmesh GatewayRouteHostnameRewrite shape.
type HostnameRewrite struct {
	DefaultTargetHostname string `json:"defaultTargetHostname,omitempty"`
}

// PathExact is an exact path (HttpGatewayRoutePathRewrite).
type PathExact struct {
	Exact string `json:"exact,omitempty"`
}

// PrefixRewrite is the appmesh HttpGatewayRoutePrefixRewrite shape.
type PrefixRewrite struct {
	DefaultPrefix string `json:"defaultPrefix,omitempty"`
	Value         string `json:"value,omitempty"`
}

// GatewayRouteTarget is the appmesh GatewayRouteTarget shape.
type GatewayRouteTarget struct {
	Port           *int                 `json:"port,omitempty"`
	VirtualService *GatewayRouteService `json:"virtualService"`
}

// GatewayRouteService names the target virtual service.
type GatewayRouteService struct {
	VirtualServiceName string `json:"virtualServiceName"`
}

// GRPCGatewayRoute is the appmesh GrpcGatewayRoute shape.
type GRPCGatewayRoute struct {
	Action *GRPCGatewayRouteAction `json:"action"`
	Match  *GRPCRouteMatch         `json:"match"`
}

// GRPCGatewayRouteAction is the appmesh GrpcGatewayRouteAction shape.
type GRPCGatewayRouteAction struct {
	Target *GatewayRouteTarget `json:"target"`
}

// GRPCRouteMatch covers GrpcGatewayRouteMatch and GrpcRouteMatch.
type GRPCRouteMatch struct {
	Metadata    []HeaderMatchRule `json:"metadata,omitempty"`
	MethodName  string            `json:"methodName,omitempty"`
	Port        *int              `json:"port,omitempty"`
	ServiceName string            `json:"serviceName,omitempty"`
}

// HTTPRouteMatch covers HttpGatewayRouteMatch and HttpRouteMatch.
type HTTPRouteMatch struct {
	Headers  []HeaderMatchRule `json:"headers,omitempty"`
	Hostname *HostnameMatch    `json:"hostname,omitempty"`
	Method   string            `json:"method,omitempty"`
	Path     *HTTPPathMatch    `json:"path,omitempty"`
	Port     *int              `json:"port,omitempty"`
	Prefix   *string           `json:"prefix,omitempty"`
	Scheme   string            `json:"scheme,omitempty"`
}

// HostnameMatch is the appmesh GatewayRouteHostnameMatch shape.
type HostnameMatch struct {
	Exact  string `json:"exact,omitempty"`
	Suffix string `json:"suffix,omitempty"`
}

// HTTPPathMatch is the appmesh HttpPathMatch shape.
type HTTPPathMatch struct {
	Exact string `json:"exact,omitempty"`
	Regex string `json:"regex,omitempty"`
}

// HeaderMatchRule covers HttpGatewayRouteHeader, HttpRouteHeader and the
// gRPC metadata rules.
type HeaderMatchRule struct {
	Invert *bool        `json:"invert,omitempty"`
	Match  *HeaderMatch `json:"match,omitempty"`
	Name   string       `json:"name"`
}

// HeaderMatch is the appmesh HeaderMatchMethod union.
type HeaderMatch struct {
	Exact  string      `json:"exact,omitempty"`
	Prefix string      `json:"prefix,omitempty"`
	Range  *MatchRange `json:"range,omitempty"`
	Regex  string      `json:"regex,omitempty"`
	Suffix string      `json:"suffix,omitempty"`
}

// MatchRange is the appmesh MatchRange shape (start inclusive, end
// exclusive).
type MatchRange struct {
	End   int64 `json:"end"`
	Start int64 `json:"start"`
}

// RouteSpec is the appmesh RouteSpec shape.
type RouteSpec struct {
	GRPCRoute  *GRPCRoute `json:"grpcRoute,omitempty"`
	HTTP2Route *HTTPRoute `json:"http2Route,omitempty"`
	HTTPRoute  *HTTPRoute `json:"httpRoute,omitempty"`
	Priority   *int       `json:"priority,omitempty"`
	TCPRoute   *TCPRoute  `json:"tcpRoute,omitempty"`
}

// HTTPRoute is the appmesh HttpRoute shape.
type HTTPRoute struct {
	Action      *RouteAction     `json:"action"`
	Match       *HTTPRouteMatch  `json:"match"`
	RetryPolicy *HTTPRetryPolicy `json:"retryPolicy,omitempty"`
	Timeout     *HTTPTimeout     `json:"timeout,omitempty"`
}

// GRPCRoute is the appmesh GrpcRoute shape.
type GRPCRoute struct {
	Action      *RouteAction     `json:"action"`
	Match       *GRPCRouteMatch  `json:"match"`
	RetryPolicy *GRPCRetryPolicy `json:"retryPolicy,omitempty"`
	Timeout     *HTTPTimeout     `json:"timeout,omitempty"`
}

// GRPCRetryPolicy is the appmesh GrpcRetryPolicy shape: the HTTP retry
// policy plus gRPC status events (cancelled, deadline-exceeded, internal,
// resource-exhausted, unavailable).
type GRPCRetryPolicy struct {
	GRPCRetryEvents []string  `json:"grpcRetryEvents,omitempty"`
	HTTPRetryEvents []string  `json:"httpRetryEvents,omitempty"`
	MaxRetries      int64     `json:"maxRetries"`
	PerRetryTimeout *Duration `json:"perRetryTimeout"`
	TCPRetryEvents  []string  `json:"tcpRetryEvents,omitempty"`
}

// TCPRoute is the appmesh TcpRoute shape.
type TCPRoute struct {
	Action  *RouteAction `json:"action"`
	Match   *TCPMatch    `json:"match,omitempty"`
	Timeout *TCPTimeout  `json:"timeout,omitempty"`
}

// TCPMatch is the appmesh TcpRouteMatch shape.
type TCPMatch struct {
	Port *int `json:"port,omitempty"`
}

// HTTPRetryPolicy is the appmesh HttpRetryPolicy shape.
type HTTPRetryPolicy struct {
	HTTPRetryEvents []string  `json:"httpRetryEvents,omitempty"`
	MaxRetries      int64     `json:"maxRetries"`
	PerRetryTimeout *Duration `json:"perRetryTimeout"`
	TCPRetryEvents  []string  `json:"tcpRetryEvents,omitempty"`
}

// RouteAction is the appmesh HttpRouteAction/GrpcRouteAction/TcpRouteAction
// shape.
type RouteAction struct {
	WeightedTargets []WeightedTarget `json:"weightedTargets"`
}

// WeightedTarget is the appmesh WeightedTarget shape.
type WeightedTarget struct {
	Port        *int   `json:"port,omitempty"`
	VirtualNode string `json:"virtualNode"`
	Weight      int    `json:"weight"`
}
