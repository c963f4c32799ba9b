package xds

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	awsiamv2 "github.com/envoyproxy/go-control-plane/envoy/config/grpc_credential/v2alpha"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// How a bootstrapped Envoy authenticates its xDS stream.
const (
	// AuthSigV4 signs the stream with Envoy's aws_iam gRPC credentials
	// under "appmesh", over TLS, exactly as App Mesh's Envoy image does.
	AuthSigV4 = "sigv4"
	// AuthMTLS presents a client certificate whose URI SAN is the
	// resource ARN (the server must be configured to trust its CA).
	AuthMTLS = "mtls"
	// AuthNone sends an unsigned stream (a server with allowUnsigned,
	// e.g. dev on loopback).
	AuthNone = "none"
)

// XDSClusterName is the bootstrap's static cluster for the management
// server.
const XDSClusterName = "bulwark_xds"

// BootstrapOptions describe the Envoy a bootstrap is for.
type BootstrapOptions struct {
	// ResourceARN is the virtual node or virtual gateway ARN (the node id).
	ResourceARN string
	// Cluster is node.cluster; "" means ResourceARN, as App Mesh's image.
	Cluster string
	// XDSAddress is the management server's host:port.
	XDSAddress string
	// Auth is AuthSigV4 (default), AuthMTLS or AuthNone.
	Auth string
	// CAFile verifies the management server's certificate; "" with
	// Plaintext false uses /etc/ssl/certs/ca-certificates.crt.
	CAFile string
	// ClientCertFile and ClientKeyFile are the AuthMTLS credentials.
	ClientCertFile, ClientKeyFile string
	// Plaintext connects without TLS (loopback dev only; AuthSigV4 needs
	// TLS).
	Plaintext bool
	// AdminAddress is Envoy's admin listener; "" means 127.0.0.1:9901.
	AdminAddress string
	// StatsFlushInterval is how often Envoy reports its stats to the
	// server's metrics service (the TLS counters the console shows);
	// zero means DefaultStatsFlushInterval, negative reports nothing.
	StatsFlushInterval time.Duration
	// SDSSocketPath is the Unix socket of a local SDS server (a SPIRE
	// agent, say) that the spec's "sds" certificate and trust sources
	// name, App Mesh's APPMESH_SDS_SOCKET_PATH: the bootstrap defines the
	// static cluster SDSSocketCluster on it, as App Mesh's image does.
	// "" defines none, and listeners or clusters with sds sources then
	// never become ready.
	SDSSocketPath string
}

// DefaultStatsFlushInterval is how often a bootstrapped Envoy reports its
// stats: the console refreshes every few seconds, and a report is a few
// kilobytes.
const DefaultStatsFlushInterval = 10 * time.Second

// Bootstrap returns a validated Envoy v3 bootstrap that takes all its
// configuration from Bulwark over ADS: node id and cluster as App Mesh's
// image sets them, the admin listener, and how the stream is secured.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	if _, err := parseAnyRegionARN(o.ResourceARN); err != nil {
		return nil, err
	}
	region := strings.SplitN(o.ResourceARN, ":", 6)[3]
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("--xds %q: must be host:port", o.XDSAddress)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("--xds %q: bad port", o.XDSAddress)
	}
	if o.Auth == "" {
		o.Auth = AuthSigV4
	}
	if o.Cluster == "" {
		o.Cluster = o.ResourceARN
	}
	if o.AdminAddress == "" {
		o.AdminAddress = "127.0.0.1:9901"
	}
	ah, ap, err := net.SplitHostPort(o.AdminAddress)
	if err != nil {
		return nil, fmt.Errorf("--admin %q: must be host:port", o.AdminAddress)
	}
	adminPort, err := strconv.Atoi(ap)
	if err != nil {
		return nil, fmt.Errorf("--admin %q: bad port", o.AdminAddress)
	}
	caFile := o.CAFile
	if caFile == "" {
		caFile = "/etc/ssl/certs/ca-certificates.crt"
	}
	var grpcService *corev3.GrpcService
	var static []*clusterv3.Cluster
	switch o.Auth {
	case AuthSigV4:
		if o.Plaintext {
			return nil, errors.New("a SigV4-signed stream needs TLS: a signature is a bearer token for 15 minutes")
		}
		iam, err := anypb.New(&awsiamv2.AwsIamConfig{ServiceName: "appmesh", Region: region})
		if err != nil {
			return nil, err
		}
		grpcService = &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_GoogleGrpc_{GoogleGrpc: &corev3.GrpcService_GoogleGrpc{
			TargetUri:  o.XDSAddress,
			StatPrefix: "ads",
			ChannelCredentials: &corev3.GrpcService_GoogleGrpc_ChannelCredentials{CredentialSpecifier: &corev3.GrpcService_GoogleGrpc_ChannelCredentials_SslCredentials{
				SslCredentials: &corev3.GrpcService_GoogleGrpc_SslCredentials{RootCerts: fileSource(caFile)},
			}},
			CredentialsFactoryName: "envoy.grpc_credentials.aws_iam",
			CallCredentials: []*corev3.GrpcService_GoogleGrpc_CallCredentials{{CredentialSpecifier: &corev3.GrpcService_GoogleGrpc_CallCredentials_FromPlugin{
				FromPlugin: &corev3.GrpcService_GoogleGrpc_CallCredentials_MetadataCredentialsFromPlugin{
					Name:       "envoy.grpc_credentials.aws_iam",
					ConfigType: &corev3.GrpcService_GoogleGrpc_CallCredentials_MetadataCredentialsFromPlugin_TypedConfig{TypedConfig: iam},
				},
			}}},
		}}}
	case AuthMTLS, AuthNone:
		if o.Auth == AuthMTLS && (o.ClientCertFile == "" || o.ClientKeyFile == "") {
			return nil, errors.New("--auth mtls needs --client-cert and --client-key")
		}
		if o.Auth == AuthMTLS && o.Plaintext {
			return nil, errors.New("--auth mtls needs TLS")
		}
		c := &clusterv3.Cluster{
			Name:                 XDSClusterName,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
			ConnectTimeout:       durationpb.New(5 * time.Second),
			LoadAssignment:       loadAssignment(XDSClusterName, host, port),
			TypedExtensionProtocolOptions: map[string]*anypb.Any{httpOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}},
			})},
		}
		if !o.Plaintext {
			common := &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: fileSource(caFile)}}}
			if o.Auth == AuthMTLS {
				common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileSource(o.ClientCertFile), PrivateKey: fileSource(o.ClientKeyFile)}}
			}
			ts, err := transportSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: host})
			if err != nil {
				return nil, err
			}
			c.TransportSocket = ts
		}
		static = append(static, c)
		grpcService = &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName}}}
	default:
		return nil, fmt.Errorf("--auth %q: use sigv4, mtls or none", o.Auth)
	}
	if o.SDSSocketPath != "" {
		static = append(static, sdsSocketCluster(o.SDSSocketPath))
	}
	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: o.ResourceARN, Cluster: o.Cluster},
		Admin: &bootstrapv3.Admin{Address: socketAddress(ah, adminPort)},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             corev3.ApiConfigSource_GRPC,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices:        []*corev3.GrpcService{grpcService},
			},
			CdsConfig: adsSource(),
			LdsConfig: adsSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: static},
	}
	if o.StatsFlushInterval >= 0 {
		if o.StatsFlushInterval == 0 {
			o.StatsFlushInterval = DefaultStatsFlushInterval
		}
		// The stats sink reports over the same authenticated channel
		// configuration as ADS; the server authorizes it as the node's
		// stream and keeps only the listeners' TLS counters.
		b.StatsSinks = []*metricsv3.StatsSink{{
			Name: "envoy.stat_sinks.metrics_service",
			ConfigType: &metricsv3.StatsSink_TypedConfig{TypedConfig: mustAny(&metricsv3.MetricsServiceConfig{
				GrpcService:            grpcService,
				TransportApiVersion:    corev3.ApiVersion_V3,
				ReportCountersAsDeltas: wrapperspb.Bool(false),
			})},
		}}
		b.StatsFlushInterval = durationpb.New(o.StatsFlushInterval)
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("xds: bootstrap does not validate: %w", err)
	}
	return b, nil
}

// sdsSocketCluster is the static cluster of the local SDS server: HTTP/2
// (gRPC) over the Unix socket at path.
func sdsSocketCluster(path string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 SDSSocketCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: SDSSocketCluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
					Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}},
				}}},
			}}}},
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			}},
		})},
	}
}

// parseAnyRegionARN checks that arn is a virtual node or virtual gateway
// ARN (of any region and account: the bootstrap is written for the
// server that holds it).
func parseAnyRegionARN(arn string) (NodeRef, error) {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "appmesh" || p[3] == "" || p[4] == "" {
		return NodeRef{}, fmt.Errorf("--resource-arn %q: must be a virtual node or virtual gateway ARN (arn:aws:appmesh:REGION:ACCOUNT:mesh/MESH/virtualNode/NAME)", arn)
	}
	ref, err := ParseNodeID(arn, p[3], p[4])
	if err != nil {
		return NodeRef{}, fmt.Errorf("--resource-arn: %w", err)
	}
	return ref, nil
}
