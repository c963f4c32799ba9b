package xds

import (
	"fmt"
	"sort"
	"strings"
)

// The fixed addresses of App Mesh's Envoy configuration: the ingress
// listener every inbound connection is redirected to (its statistics are
// listener.0.0.0.0_15000.*, as in the seed), and the egress listener the
// application's outbound connections are redirected to.
const (
	IngressPort = 15000
	EgressPort  = 15001
	anyAddress  = "0.0.0.0"
)

// SDSSocketCluster is the static cluster App Mesh's Envoy bootstrap
// defines when APPMESH_SDS_SOCKET_PATH is set; "sds" certificate and trust
// sources are fetched from it, as App Mesh did.
const SDSSocketCluster = "static_cluster_sds_unix_socket"

func listenerName(port int) string { return fmt.Sprintf("lds_ingress_%s_%d", anyAddress, port) }

func egressListenerName() string { return fmt.Sprintf("lds_egress_%s_%d", anyAddress, EgressPort) }

func ingressClusterName(mesh, node, proto string, port int) string {
	return fmt.Sprintf("cds_ingress_%s_%s_%s_%d", mesh, node, proto, port)
}

func egressClusterName(mesh, node, proto string, port int) string {
	return fmt.Sprintf("cds_egress_%s_%s_%s_%d", mesh, node, proto, port)
}

// passthroughChainName names ALLOW_ALL's default egress filter chain, its
// tcp_proxy stat prefix and the catch-all HTTP virtual host. App Mesh's
// own names for these were never documented; these are Bulwark's.
const passthroughChainName = "egress_passthrough"

// passthroughClusterName names ALLOW_ALL's ORIGINAL_DST cluster, in the
// cds_egress_ family so that stats group with the other egress clusters.
func passthroughClusterName(mesh string) string {
	return fmt.Sprintf("cds_egress_%s_passthrough", mesh)
}

func ingressRouteName(proto string, port int) string {
	return fmt.Sprintf("rds_ingress_%s_%d", proto, port)
}

func egressRouteName(proto string, port int) string {
	return fmt.Sprintf("rds_egress_%s_%d", proto, port)
}

// trustSecretName names the SDS secret holding the trust bundle of a set
// of private CAs: the same set always gets the same name, so listeners and
// clusters that trust the same CAs share one secret.
func trustSecretName(caARNs []string) string {
	s := append([]string(nil), caARNs...)
	sort.Strings(s)
	return "trust:" + strings.Join(s, ",")
}

// certSecretName names the SDS secret holding an ACM certificate and its
// key: its ARN, so the data plane's /certs and logs name it plainly.
func certSecretName(arn string) string { return arn }
