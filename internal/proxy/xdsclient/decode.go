package xdsclient

import (
	"fmt"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// Names of the App Mesh Envoy configuration Bulwark's management server
// produces (internal/mesh/xds/names.go): the decoder relies on them to
// recover ports, protocols and target virtual nodes.
const (
	ingressListenerPrefix = "lds_ingress_"
	egressListenerName    = "lds_egress_0.0.0.0_15001"
	ingressRoutePrefix    = "rds_ingress_"
	egressRoutePrefix     = "rds_egress_"
	ingressClusterPrefix  = "cds_ingress_"
	egressClusterPrefix   = "cds_egress_"
	tlsSocketName         = "envoy.transport_sockets.tls"
)

// Node is the App Mesh resource the proxy runs as.
type Node struct {
	// ID is the node id sent on the stream: the resource's ARN (or
	// mesh/MESH/virtualNode/NAME).
	ID   string
	Mesh string
	// Kind is "virtualNode" or "virtualGateway".
	Kind string
	Name string
}

// ParseNode reads an App Mesh ARN
// (arn:aws:appmesh:REGION:ACCOUNT:mesh/MESH/virtualNode/NAME, also
// virtualGateway) or the short form mesh/MESH/virtualNode/NAME.
func ParseNode(id string) (Node, error) {
	rest := id
	if strings.HasPrefix(id, "arn:") {
		p := strings.SplitN(id, ":", 6)
		if len(p) != 6 || p[2] != "appmesh" {
			return Node{}, fmt.Errorf("%q is not an App Mesh ARN", id)
		}
		rest = p[5]
	}
	p := strings.Split(rest, "/")
	if len(p) != 4 || p[0] != "mesh" || (p[2] != "virtualNode" && p[2] != "virtualGateway") || p[1] == "" || p[3] == "" {
		return Node{}, fmt.Errorf("%q is not a virtual node or virtual gateway ARN (arn:aws:appmesh:REGION:ACCOUNT:mesh/MESH/virtualNode/NAME)", id)
	}
	return Node{ID: id, Mesh: p[1], Kind: p[2], Name: p[3]}, nil
}

// Resources is one version of everything the server sent.
type Resources struct {
	Listeners []*listenerv3.Listener
	Clusters  []*clusterv3.Cluster
	Routes    []*routev3.RouteConfiguration
	Secrets   []*tlsv3.Secret
}

// Config is what Decode produces: the proxy's configuration and the
// material of every secret it names (by secret name).
type Config struct {
	Snapshot *spec.Snapshot
	Secrets  map[string]*certsource.Material
}

// decoder holds one Decode call's progress.
type decoder struct {
	node     Node
	clusters map[string]*clusterv3.Cluster
	routes   map[string]*routev3.RouteConfiguration
	secrets  map[string]*certsource.Material
	snap     *spec.Snapshot
	targets  map[string]*targetNode
	used     map[string]bool // secret names referenced
	logging  *spec.Logging
	routers  map[string]*spec.NamedVirtualRouter
	services map[string]string // service name -> a key of its definition (gateway)
	// gatewayPool is a gateway's connection pool, read from the circuit
	// breakers of the clusters it sends to (nil: none).
	gatewayPool *spec.ConnectionPool
	// gatewayClusters and gatewayPooled count a gateway's clusters and
	// those with circuit breakers: the proxy has one pool for all.
	gatewayClusters, gatewayPooled int
}

// targetNode collects the egress clusters that reach one virtual node.
type targetNode struct {
	name      string
	listeners []spec.Listener
	host      string
	ports     map[int]int // listener port -> endpoint port
	tls       map[int]*tlsSetting
}

// tlsSetting is one cluster's client TLS, in spec terms.
type tlsSetting struct {
	key    string
	policy spec.ClientPolicyTLS
}

// Decode turns one complete version of the resources into the proxy's
// configuration. It fails — and the version is NACKed — on anything the
// proxy would not enforce as sent: an unknown field, a filter, a local
// SDS server, a resource that is referenced but missing.
func Decode(node Node, r *Resources) (*Config, error) {
	d := &decoder{
		node: node, clusters: map[string]*clusterv3.Cluster{}, routes: map[string]*routev3.RouteConfiguration{},
		secrets: map[string]*certsource.Material{}, targets: map[string]*targetNode{}, used: map[string]bool{},
		routers: map[string]*spec.NamedVirtualRouter{}, services: map[string]string{},
		snap: &spec.Snapshot{MeshName: node.Mesh},
	}
	for _, c := range r.Clusters {
		d.clusters[c.GetName()] = c
	}
	for _, rc := range r.Routes {
		d.routes[rc.GetName()] = rc
	}
	for _, s := range r.Secrets {
		m, err := decodeSecret(s)
		if err != nil {
			return nil, err
		}
		d.secrets[s.GetName()] = m
	}
	var err error
	switch node.Kind {
	case "virtualNode":
		err = d.virtualNode(r.Listeners)
	case "virtualGateway":
		err = d.virtualGateway(r.Listeners)
	default:
		err = fmt.Errorf("unknown node kind %q", node.Kind)
	}
	if err != nil {
		return nil, err
	}
	if err := d.finishTargets(); err != nil {
		return nil, err
	}
	for name := range d.used {
		if d.secrets[name] == nil {
			return nil, fmt.Errorf("secret %q is referenced but was not sent", name)
		}
	}
	if err := d.snap.Validate(); err != nil {
		return nil, fmt.Errorf("the configuration does not make a valid App Mesh snapshot: %w", err)
	}
	return &Config{Snapshot: d.snap, Secrets: d.secrets}, nil
}

// decodeSecret parses an SDS secret: a certificate with its key, or a
// trust bundle, both inline.
func decodeSecret(s *tlsv3.Secret) (*certsource.Material, error) {
	path := "secret " + s.GetName()
	if err := onlyFields(path, s, "name", "tls_certificate", "validation_context"); err != nil {
		return nil, err
	}
	if tc := s.GetTlsCertificate(); tc != nil {
		if err := onlyFields(path+".tls_certificate", tc, "certificate_chain", "private_key"); err != nil {
			return nil, err
		}
		chain, err := inline(path+".certificate_chain", tc.GetCertificateChain())
		if err != nil {
			return nil, err
		}
		key, err := inline(path+".private_key", tc.GetPrivateKey())
		if err != nil {
			return nil, err
		}
		m, err := certsource.Parse(chain, key, nil)
		if err != nil {
			// Parse errors name the problem, never key bytes.
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	}
	if vc := s.GetValidationContext(); vc != nil {
		if err := onlyFields(path+".validation_context", vc, "trusted_ca"); err != nil {
			return nil, err
		}
		trust, err := inline(path+".trusted_ca", vc.GetTrustedCa())
		if err != nil {
			return nil, err
		}
		m, err := certsource.Parse(nil, nil, trust)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	}
	return nil, refuse(path, "a secret that is neither a certificate nor a validation context")
}

func inline(path string, ds *corev3.DataSource) ([]byte, error) {
	if ds == nil {
		return nil, fmt.Errorf("%s: missing", path)
	}
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	}
	return nil, refuse(path, "a secret data source other than inline bytes")
}

// ---- names ----

// protoPort splits "<anything>_<proto>_<port>" from the right.
func protoPort(s string) (rest, proto string, port int, ok bool) {
	i := strings.LastIndexByte(s, '_')
	if i < 0 {
		return "", "", 0, false
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", "", 0, false
	}
	s = s[:i]
	j := strings.LastIndexByte(s, '_')
	if j < 0 {
		return "", s, port, validProto(s)
	}
	return s[:j], s[j+1:], port, validProto(s[j+1:])
}

func validProto(p string) bool {
	switch p {
	case spec.ProtocolHTTP, spec.ProtocolHTTP2, spec.ProtocolGRPC, spec.ProtocolTCP:
		return true
	}
	return false
}

// egressTarget reads cds_egress_<mesh>_<node>_<proto>_<port>.
func (d *decoder) egressTarget(cluster string) (node, proto string, port int, err error) {
	pre := egressClusterPrefix + d.node.Mesh + "_"
	rest, proto, port, ok := protoPort(strings.TrimPrefix(cluster, pre))
	if !strings.HasPrefix(cluster, pre) || !ok || rest == "" {
		return "", "", 0, refuse("cluster "+cluster, "a cluster that is not a virtual node target of mesh %s (cds_egress_<mesh>_<node>_<protocol>_<port>)", d.node.Mesh)
	}
	return rest, proto, port, nil
}

func durationSpec(d *durationpb.Duration) *spec.Duration {
	if d == nil {
		return nil
	}
	ms := d.AsDuration().Milliseconds()
	return &spec.Duration{Unit: "ms", Value: &ms}
}

func durationOK(path string, d *durationpb.Duration) error {
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil || d.AsDuration() < 0 || d.AsDuration()%time.Millisecond != 0 {
		return refuse(path, "a duration that is not a whole number of milliseconds")
	}
	return nil
}

// ---- clusters ----

// egressCluster adds the virtual node target behind an egress cluster.
func (d *decoder) egressCluster(name string) (spec.WeightedTarget, error) {
	node, proto, port, err := d.egressTarget(name)
	if err != nil {
		return spec.WeightedTarget{}, err
	}
	p := port
	wt := spec.WeightedTarget{VirtualNode: node, Port: &p}
	if node == d.node.Name && d.node.Kind == "virtualNode" {
		return wt, refuse("cluster "+name, "a backend that targets the proxy's own virtual node")
	}
	c := d.clusters[name]
	if c == nil {
		return wt, fmt.Errorf("cluster %q is referenced but was not sent", name)
	}
	t := d.targets[node]
	if t == nil {
		t = &targetNode{name: node, ports: map[int]int{}, tls: map[int]*tlsSetting{}}
		d.targets[node] = t
	}
	if _, seen := t.ports[port]; seen {
		return wt, nil
	}
	path := "cluster " + name
	fields := []string{"name", "type", "connect_timeout", "load_assignment", "typed_extension_protocol_options", "outlier_detection", "transport_socket"}
	if d.node.Kind == "virtualGateway" {
		// A gateway listener's connection pool limits its upstreams.
		fields = append(fields, "circuit_breakers")
	}
	if err := onlyFields(path, c, fields...); err != nil {
		return wt, err
	}
	if d.node.Kind == "virtualGateway" {
		d.gatewayClusters++
	}
	if cb := c.GetCircuitBreakers(); cb != nil {
		d.gatewayPooled++
		pool, err := connectionPool(path, cb, proto)
		if err != nil {
			return wt, err
		}
		if d.gatewayPool != nil && !reflect.DeepEqual(d.gatewayPool, pool) {
			return wt, refuse(path+".circuit_breakers", "clusters of one gateway with different connection limits")
		}
		d.gatewayPool = pool
	}
	switch c.GetType() {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS:
	default:
		return wt, refuse(path+".type", "discovery type %s", c.GetType())
	}
	if err := protocolOptions(path, c, proto); err != nil {
		return wt, err
	}
	host, ep, err := endpoint(path, c)
	if err != nil {
		return wt, err
	}
	if t.host != "" && t.host != host {
		return wt, refuse(path, "two addresses (%s, %s) for one virtual node", t.host, host)
	}
	t.host = host
	t.ports[port] = ep
	l := spec.Listener{PortMapping: &spec.PortMapping{Port: port, Protocol: proto}}
	if od := c.GetOutlierDetection(); od != nil {
		if l.OutlierDetection, err = outlier(path+".outlier_detection", od); err != nil {
			return wt, err
		}
	}
	t.listeners = append(t.listeners, l)
	if ts := c.GetTransportSocket(); ts != nil {
		up := &tlsv3.UpstreamTlsContext{}
		if err := transportSocket(path+".transport_socket", ts, up); err != nil {
			return wt, err
		}
		if err := onlyFields(path+".transport_socket", up, "common_tls_context", "sni"); err != nil {
			return wt, err
		}
		if up.GetSni() != "" && up.GetSni() != host {
			return wt, refuse(path+".transport_socket.sni", "a server name (%q) other than the target's host", up.GetSni())
		}
		s, err := d.clientTLS(path+".transport_socket", up.GetCommonTlsContext())
		if err != nil {
			return wt, err
		}
		t.tls[port] = s
	}
	return wt, nil
}

func protocolOptions(path string, c *clusterv3.Cluster, proto string) error {
	opts := c.GetTypedExtensionProtocolOptions()
	h2 := proto == spec.ProtocolHTTP2 || proto == spec.ProtocolGRPC
	if len(opts) == 0 {
		if h2 {
			return refuse(path, "an http2/grpc cluster without HTTP/2 upstream options")
		}
		return nil
	}
	if len(opts) != 1 || opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil || !h2 {
		return refuse(path+".typed_extension_protocol_options", "protocol options other than HTTP/2 for an http2/grpc target")
	}
	return nil
}

// endpoint reads a cluster's single endpoint.
func endpoint(path string, c *clusterv3.Cluster) (string, int, error) {
	la := c.GetLoadAssignment()
	if err := onlyFields(path+".load_assignment", la, "cluster_name", "endpoints"); err != nil {
		return "", 0, err
	}
	if len(la.GetEndpoints()) != 1 || len(la.GetEndpoints()[0].GetLbEndpoints()) != 1 {
		return "", 0, refuse(path+".load_assignment", "a cluster without exactly one endpoint")
	}
	loc := la.GetEndpoints()[0]
	if err := onlyFields(path+".load_assignment.endpoints[0]", loc, "lb_endpoints"); err != nil {
		return "", 0, err
	}
	lb := loc.GetLbEndpoints()[0]
	if err := onlyFields(path+".load_assignment.endpoints[0].lb_endpoints[0]", lb, "endpoint"); err != nil {
		return "", 0, err
	}
	ep := lb.GetEndpoint()
	if err := onlyFields(path+".endpoint", ep, "address"); err != nil {
		return "", 0, err
	}
	sa := ep.GetAddress().GetSocketAddress()
	if sa == nil || sa.GetPortValue() == 0 || sa.GetAddress() == "" {
		return "", 0, refuse(path+".endpoint", "an endpoint that is not a host and port")
	}
	if err := onlyFields(path+".endpoint.address", sa, "address", "port_value"); err != nil {
		return "", 0, err
	}
	return sa.GetAddress(), int(sa.GetPortValue()), nil
}

func outlier(path string, od *clusterv3.OutlierDetection) (*spec.OutlierDetection, error) {
	if err := onlyFields(path, od, "consecutive_5xx", "interval", "base_ejection_time", "max_ejection_percent",
		"enforcing_consecutive_5xx", "enforcing_success_rate", "enforcing_consecutive_gateway_failure"); err != nil {
		return nil, err
	}
	// App Mesh ejects on consecutive server errors only; anything else is
	// an outlier detection the proxy does not do.
	if v := od.GetEnforcingConsecutive_5Xx(); v != nil && v.GetValue() != 100 {
		return nil, refuse(path+".enforcing_consecutive_5xx", "a value other than 100")
	}
	if v := od.GetEnforcingSuccessRate(); v == nil || v.GetValue() != 0 {
		return nil, refuse(path+".enforcing_success_rate", "success-rate ejection")
	}
	if v := od.GetEnforcingConsecutiveGatewayFailure(); v == nil || v.GetValue() != 0 {
		return nil, refuse(path+".enforcing_consecutive_gateway_failure", "gateway-failure ejection")
	}
	for _, p := range []struct {
		n string
		d *durationpb.Duration
	}{{"interval", od.GetInterval()}, {"base_ejection_time", od.GetBaseEjectionTime()}} {
		if err := durationOK(path+"."+p.n, p.d); err != nil {
			return nil, err
		}
	}
	return &spec.OutlierDetection{
		MaxServerErrors:      int64(od.GetConsecutive_5Xx().GetValue()),
		Interval:             durationSpec(od.GetInterval()),
		BaseEjectionDuration: durationSpec(od.GetBaseEjectionTime()),
		MaxEjectionPercent:   int(od.GetMaxEjectionPercent().GetValue()),
	}, nil
}

// finishTargets adds the virtual nodes the egress clusters reach.
func (d *decoder) finishTargets() error {
	names := make([]string, 0, len(d.targets))
	for n := range d.targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := d.targets[n]
		// The spec's hostname is the host alone when every listener is
		// reached on its own port, or host:port (Bulwark's extension for
		// a mesh on one machine) when they share one.
		hostname := t.host
		same, shared := true, -1
		for lp, ep := range t.ports {
			if lp != ep {
				same = false
			}
			if shared == -1 {
				shared = ep
			} else if shared != ep {
				shared = -2
			}
		}
		if !same {
			if shared < 0 {
				return refuse("virtual node "+n, "endpoints on ports that differ from their listeners")
			}
			hostname = net.JoinHostPort(t.host, strconv.Itoa(shared))
		}
		sort.Slice(t.listeners, func(i, j int) bool { return t.listeners[i].PortMapping.Port < t.listeners[j].PortMapping.Port })
		d.snap.VirtualNodes = append(d.snap.VirtualNodes, spec.NamedVirtualNode{Name: n, Spec: spec.VirtualNodeSpec{
			Listeners:        t.listeners,
			ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: hostname}},
		}})
	}
	return nil
}

// clientPolicy derives one client policy for the clusters behind targets:
// the same TLS for every cluster that has TLS, with their ports listed
// when some clusters of the same set have none.
func (d *decoder) clientPolicy(path string, targets []spec.WeightedTarget) (*spec.ClientPolicy, error) {
	var first *tlsSetting
	tlsPorts, plainPorts := map[int]bool{}, map[int]bool{}
	for _, wt := range targets {
		t := d.targets[wt.VirtualNode]
		if t == nil {
			continue
		}
		s := t.tls[*wt.Port]
		if s == nil {
			plainPorts[*wt.Port] = true
			continue
		}
		if first != nil && first.key != s.key {
			return nil, refuse(path, "different client TLS settings for targets of one backend")
		}
		first = s
		tlsPorts[*wt.Port] = true
	}
	if first == nil {
		return nil, nil
	}
	p := first.policy
	if len(plainPorts) > 0 {
		for port := range tlsPorts {
			if plainPorts[port] {
				return nil, refuse(path, "TLS to one target and plaintext to another on the same port %d", port)
			}
			p.Ports = append(p.Ports, port)
		}
		sort.Ints(p.Ports)
	}
	return &spec.ClientPolicy{TLS: &p}, nil
}
