package xds

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// Flavours of configuration: what kind of xDS client a node is. A node's
// snapshot is built for its flavour, and the flavour is part of its key
// in the snapshot cache, so an Envoy and a gRPC client of the same
// virtual node never share a configuration.
const (
	FlavourEnvoy = "envoy"
	FlavourGRPC  = "grpc"
)

// GRPCServerListenerTemplate is the server_listener_resource_name_template
// of the gRPC bootstraps Bulwark prints: a gRPC server listening on
// HOST:PORT asks for the listener named with "HOST:PORT" in place of %s.
const GRPCServerListenerTemplate = "grpc/server?xds.resource.listening_address=%s"

// grpcServerHosts are the listening hosts a server listener is published
// for: the wildcard and loopback addresses of both families. A gRPC server
// bound to another address (its pod IP) finds its listener when that IP is
// the node's DNS service discovery hostname.
var grpcServerHosts = []string{"0.0.0.0", "::", "127.0.0.1", "::1"}

// flavourOf picks the configuration flavour for a node from its
// user_agent_name: gRPC's xDS clients send "gRPC Go", "gRPC C++",
// "gRPC Java"…; everything else (Envoy, bulwark proxy) gets Envoy's.
func flavourOf(n *corev3.Node) string {
	if strings.HasPrefix(n.GetUserAgentName(), "gRPC") {
		return FlavourGRPC
	}
	return FlavourEnvoy
}

// Certificate-provider instance names. gRPC takes no certificate or key
// over xDS (it refuses SDS and file sources): a TLS context names
// certificate-provider instances that the client's bootstrap defines
// (file_watcher over files that `bulwark certs fetch` keeps current). The
// name says which spec source the files must hold.
const (
	// grpcFileInstance prefixes a file source's path.
	grpcFileInstance = "file:"
	// grpcSDSInstance prefixes an sds source's secret name.
	grpcSDSInstance = "sds:"
)

// TranslateGRPC turns a virtual node's snapshot into the configuration a
// proxyless gRPC client and server need (gRFC A27/A28/A29/A36):
//
//   - for every backend port that speaks grpc or http2, an API listener
//     named by the dial target ("service:port", as `xds:///service:port`
//     asks) whose HTTP connection manager takes the egress route
//     configuration over ADS (router filter only);
//   - the egress route configurations (their virtual hosts carry the
//     "service:port" domain), with the per-request timeout as the RPC's
//     max_stream_duration;
//   - egress clusters as EDS (an IP endpoint, sent as a
//     ClusterLoadAssignment) or LOGICAL_DNS (a host name), with upstream
//     TLS through certificate-provider instances;
//   - for every grpc or http2 listener of the node, server listeners named
//     by GRPCServerListenerTemplate for each of grpcServerHosts (and the
//     node's own IP), with an inline route of non_forwarding_action and
//     downstream TLS through certificate-provider instances; a listener's
//     subject alternative names become an RBAC filter (gRPC servers do not
//     match SANs in the TLS context).
//
// CertificateARNs and TrustBundles stay empty: nothing secret crosses the
// stream. A PERMISSIVE listener is served as TLS only (a gRPC server cannot
// tell TLS from plaintext on one port). Virtual gateways are Envoy only.
func TranslateGRPC(snap *spec.Snapshot) (*Resources, error) {
	if snap == nil {
		return nil, errors.New("xds: nil snapshot")
	}
	if snap.VirtualNode == nil {
		return nil, errors.New("xds: a gRPC client can only be a virtual node; virtual gateways need Envoy")
	}
	// The mesh's egress filter does not apply: a gRPC client resolves only
	// xds:/// targets over this stream and dials every other target
	// itself, so ALLOW_ALL's passthrough is already what it does, and
	// DROP_ALL cannot be enforced without a proxy in the path.
	envSnap := *snap
	envSnap.EgressFilter = ""
	env, err := Translate(&envSnap)
	if err != nil {
		return nil, err
	}
	out := &Resources{TrustBundles: map[string][]string{}}
	used := map[string]bool{}
	for _, rc := range env.Routes {
		if !strings.HasPrefix(rc.Name, "rds_egress_"+spec.ProtocolGRPC+"_") && !strings.HasPrefix(rc.Name, "rds_egress_"+spec.ProtocolHTTP2+"_") {
			continue
		}
		rc = proto.Clone(rc).(*routev3.RouteConfiguration)
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				grpcRouteAction(r, used)
			}
			for _, d := range vh.Domains {
				if strings.Contains(d, ":") {
					l, err := grpcAPIListener(d, rc.Name)
					if err != nil {
						return nil, err
					}
					out.Listeners = append(out.Listeners, l)
				}
			}
		}
		out.Routes = append(out.Routes, rc)
	}
	for _, c := range env.Clusters {
		if !used[c.Name] {
			continue
		}
		gc, cla, err := grpcCluster(c)
		if err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, gc)
		if cla != nil {
			out.Endpoints = append(out.Endpoints, cla)
		}
	}
	t := &translator{snap: snap, out: &Resources{TrustBundles: map[string][]string{}}, clusters: map[string]bool{}, certs: map[string]bool{}}
	node := snap.VirtualNode
	hosts := append([]string(nil), grpcServerHosts...)
	if sd := node.Spec.ServiceDiscovery; sd != nil && sd.DNS != nil {
		h := sd.DNS.Hostname
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		if ip := net.ParseIP(h); ip != nil && !slices.Contains(hosts, ip.String()) {
			hosts = append(hosts, ip.String())
		}
	}
	for _, sl := range node.Spec.Listeners {
		if p := sl.PortMapping.Protocol; p != spec.ProtocolGRPC && p != spec.ProtocolHTTP2 {
			continue
		}
		ls, err := t.grpcServerListeners(sl, hosts)
		if err != nil {
			return nil, err
		}
		out.Listeners = append(out.Listeners, ls...)
	}
	sort.Slice(out.Listeners, func(i, j int) bool { return out.Listeners[i].Name < out.Listeners[j].Name })
	sort.Slice(out.Endpoints, func(i, j int) bool { return out.Endpoints[i].ClusterName < out.Endpoints[j].ClusterName })
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// grpcRouteAction adapts an egress route for gRPC and records the
// clusters it uses: the per-request timeout becomes max_stream_duration
// (gRPC's RPC deadline cap; it ignores timeout), and a retry policy
// without retries is dropped (gRPC refuses num_retries 0).
func grpcRouteAction(r *routev3.Route, used map[string]bool) {
	ra := r.GetRoute()
	if ra == nil {
		return
	}
	if c := ra.GetCluster(); c != "" {
		used[c] = true
	}
	for _, wc := range ra.GetWeightedClusters().GetClusters() {
		used[wc.GetName()] = true
	}
	if ra.Timeout != nil {
		ra.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: ra.Timeout}
	}
	if rp := ra.RetryPolicy; rp != nil && rp.NumRetries != nil && rp.NumRetries.GetValue() == 0 {
		ra.RetryPolicy = nil
	}
}

// grpcAPIListener is the client-side listener of one dial target.
func grpcAPIListener(target, routeName string) (*listenerv3.Listener, error) {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "grpc_client",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: routeName,
			ConfigSource:    adsSource(),
		}},
		HttpFilters: []*hcmv3.HttpFilter{routerFilter()},
	}
	a, err := anypb.New(hcm)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{Name: target, ApiListener: &listenerv3.ApiListener{ApiListener: a}}, nil
}

func routerFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: routerName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}
}

// grpcCluster converts an Envoy egress cluster: STATIC becomes EDS with
// the same endpoint as a ClusterLoadAssignment (one locality of weight 1), STRICT_DNS becomes LOGICAL_DNS
// (gRPC resolves the one host name itself); TLS goes through
// certificate-provider instances.
func grpcCluster(c *clusterv3.Cluster) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment, error) {
	out := &clusterv3.Cluster{
		Name:             c.Name,
		ConnectTimeout:   c.ConnectTimeout,
		OutlierDetection: c.OutlierDetection,
		CircuitBreakers:  c.CircuitBreakers,
	}
	var cla *endpointv3.ClusterLoadAssignment
	switch c.GetType() {
	case clusterv3.Cluster_STATIC:
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		out.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
		cla = proto.Clone(c.LoadAssignment).(*endpointv3.ClusterLoadAssignment)
		for _, l := range cla.Endpoints {
			// gRPC drops a locality without an identity or a weight.
			l.Locality = &corev3.Locality{}
			l.LoadBalancingWeight = wrapperspb.UInt32(1)
		}
	case clusterv3.Cluster_STRICT_DNS:
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
		out.LoadAssignment = proto.Clone(c.LoadAssignment).(*endpointv3.ClusterLoadAssignment)
	default:
		return nil, nil, fmt.Errorf("xds: cluster %s: type %v has no gRPC equivalent", c.Name, c.GetType())
	}
	if ts := c.GetTransportSocket(); ts != nil {
		up := &tlsv3.UpstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(up); err != nil {
			return nil, nil, fmt.Errorf("xds: cluster %s: %w", c.Name, err)
		}
		common, err := grpcCommonTLS(up.GetCommonTlsContext(), false)
		if err != nil {
			return nil, nil, fmt.Errorf("xds: cluster %s: %w", c.Name, err)
		}
		nts, err := transportSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: up.Sni})
		if err != nil {
			return nil, nil, err
		}
		out.TransportSocket = nts
	}
	return out, cla, nil
}

// grpcCommonTLS rewrites an Envoy TLS context's certificate and trust
// sources as certificate-provider instances (named by GRPCInstanceName's
// rules). On the client side the subject alternative names become
// match_subject_alt_names (gRPC reads that field, not the typed one); a
// server's are left for RBAC (see grpcSANs).
func grpcCommonTLS(c *tlsv3.CommonTlsContext, server bool) (*tlsv3.CommonTlsContext, error) {
	out := &tlsv3.CommonTlsContext{}
	switch {
	case len(c.GetTlsCertificateSdsSecretConfigs()) > 0:
		out.TlsCertificateProviderInstance = &tlsv3.CertificateProviderPluginInstance{InstanceName: sdsInstance(c.GetTlsCertificateSdsSecretConfigs()[0])}
	case len(c.GetTlsCertificates()) > 0:
		out.TlsCertificateProviderInstance = &tlsv3.CertificateProviderPluginInstance{InstanceName: grpcFileInstance + c.GetTlsCertificates()[0].GetCertificateChain().GetFilename()}
	}
	var root string
	var sans []*tlsv3.SubjectAltNameMatcher
	switch v := c.GetValidationContextType().(type) {
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		root = sdsInstance(v.CombinedValidationContext.GetValidationContextSdsSecretConfig())
		sans = v.CombinedValidationContext.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
	case *tlsv3.CommonTlsContext_ValidationContext:
		root = grpcFileInstance + v.ValidationContext.GetTrustedCa().GetFilename()
		sans = v.ValidationContext.GetMatchTypedSubjectAltNames()
	case nil:
	default:
		return nil, fmt.Errorf("validation context %T has no gRPC equivalent", v)
	}
	if root != "" {
		vc := &tlsv3.CertificateValidationContext{CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: root}}
		if !server {
			//lint:ignore SA1019 gRPC (v1.84, gRFC A29) reads the untyped field only; the typed one would be ignored and no SAN checked.
			vc.MatchSubjectAltNames = grpcSANs(sans)
		}
		out.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	}
	return out, nil
}

// sdsInstance names the instance standing for an SDS secret: an ACM
// certificate's ARN or a trust bundle's "trust:…" name as they are, a
// local SDS server's secret with "sds:".
func sdsInstance(sc *tlsv3.SdsSecretConfig) string {
	if sc.GetSdsConfig().GetAds() != nil {
		return sc.GetName()
	}
	return grpcSDSInstance + sc.GetName()
}

// grpcSANs folds the typed (DNS and URI) exact matchers into gRPC's
// untyped ones, which match any SAN kind.
func grpcSANs(typed []*tlsv3.SubjectAltNameMatcher) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	seen := map[string]bool{}
	for _, m := range typed {
		e := m.GetMatcher().GetExact()
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: e}})
	}
	return out
}

// grpcServerListeners publishes one node listener for each listening host.
func (t *translator) grpcServerListeners(sl spec.Listener, hosts []string) ([]*listenerv3.Listener, error) {
	port := sl.PortMapping.Port
	filters := []*hcmv3.HttpFilter{}
	var ts *corev3.TransportSocket
	if sl.TLS != nil && sl.TLS.Mode != spec.ModeDisabled {
		down, err := t.downstreamTLS(sl.TLS)
		if err != nil {
			return nil, err
		}
		common, err := grpcCommonTLS(down.GetCommonTlsContext(), true)
		if err != nil {
			return nil, err
		}
		if ts, err = transportSocket(&tlsv3.DownstreamTlsContext{CommonTlsContext: common, RequireClientCertificate: down.RequireClientCertificate}); err != nil {
			return nil, err
		}
		if sans := grpcSANs(validationSANs(down.GetCommonTlsContext())); len(sans) > 0 {
			filters = append(filters, sanRBAC(sans))
		}
	}
	filters = append(filters, routerFilter())
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "grpc_server",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: fmt.Sprintf("grpc_server_%d", port),
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    fmt.Sprintf("grpc_server_%d", port),
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match:  prefixMatch("/"),
					Action: &routev3.Route_NonForwardingAction{NonForwardingAction: &routev3.NonForwardingAction{}},
				}},
			}},
		}},
		HttpFilters: filters,
	}
	a, err := anypb.New(hcm)
	if err != nil {
		return nil, err
	}
	var out []*listenerv3.Listener
	for _, h := range hosts {
		addr := net.JoinHostPort(h, strconv.Itoa(port))
		out = append(out, &listenerv3.Listener{
			Name:    fmt.Sprintf(GRPCServerListenerTemplate, addr),
			Address: socketAddress(h, port),
			FilterChains: []*listenerv3.FilterChain{{
				Name:            fmt.Sprintf("grpc_server_%d", port),
				Filters:         []*listenerv3.Filter{{Name: hcmName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}},
				TransportSocket: ts,
			}},
		})
	}
	return out, nil
}

func validationSANs(c *tlsv3.CommonTlsContext) []*tlsv3.SubjectAltNameMatcher {
	switch v := c.GetValidationContextType().(type) {
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		return v.CombinedValidationContext.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
	case *tlsv3.CommonTlsContext_ValidationContext:
		return v.ValidationContext.GetMatchTypedSubjectAltNames()
	}
	return nil
}

// sanRBAC allows only callers whose verified client certificate carries
// one of the names (gRPC's authenticated principal_name matches URI, DNS
// and subject names): the server-side form of a listener's
// subjectAlternativeNames, which gRPC refuses in a downstream TLS context.
func sanRBAC(sans []*matcherv3.StringMatcher) *hcmv3.HttpFilter {
	var ids []*rbacconfigv3.Principal
	for _, m := range sans {
		ids = append(ids, &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Authenticated_{Authenticated: &rbacconfigv3.Principal_Authenticated{PrincipalName: m}}})
	}
	rules := &rbacv3.RBAC{Rules: &rbacconfigv3.RBAC{
		Action: rbacconfigv3.RBAC_ALLOW,
		Policies: map[string]*rbacconfigv3.Policy{"appmesh-listener-validation": {
			Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}},
			Principals:  ids,
		}},
	}}
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.rbac", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(rules)}}
}
