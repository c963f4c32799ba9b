package spec

// Listener TLS modes (ListenerTlsMode).
const (
	ModeStrict     = "STRICT"
	ModePermissive = "PERMISSIVE"
	ModeDisabled   = "DISABLED"
)

// Port protocols (PortProtocol).
const (
	ProtocolHTTP  = "http"
	ProtocolHTTP2 = "http2"
	ProtocolGRPC  = "grpc"
	ProtocolTCP   = "tcp"
)

// VirtualNodeSpec is the appmesh VirtualNodeSpec shape.
type VirtualNodeSpec struct {
	BackendDefaults  *BackendDefaults  `json:"backendDefaults,omitempty"`
	Backends         []Backend         `json:"backends,omitempty"`
	Listeners        []Listener        `json:"listeners,omitempty"`
	Logging          *Logging          `json:"logging,omitempty"`
	ServiceDiscovery *ServiceDiscovery `json:"serviceDiscovery,omitempty"`
}

// VirtualGatewaySpec is the appmesh VirtualGatewaySpec shape. Its listeners
// use the same members as a virtual node's (minus outlierDetection and the
// tcp protocol, which Validate refuses).
type VirtualGatewaySpec struct {
	BackendDefaults *BackendDefaults `json:"backendDefaults,omitempty"`
	Listeners       []Listener       `json:"listeners"`
	Logging         *Logging         `json:"logging,omitempty"`
}

// BackendDefaults is the appmesh BackendDefaults (and
// VirtualGatewayBackendDefaults) shape.
type BackendDefaults struct {
	ClientPolicy *ClientPolicy `json:"clientPolicy,omitempty"`
}

// Backend is the appmesh Backend union; only virtualService exists.
type Backend struct {
	VirtualService *VirtualServiceBackend `json:"virtualService,omitempty"`
}

// VirtualServiceBackend names a virtual service the node calls, with an
// optional client policy that overrides backendDefaults for it.
type VirtualServiceBackend struct {
	ClientPolicy       *ClientPolicy `json:"clientPolicy,omitempty"`
	VirtualServiceName string        `json:"virtualServiceName"`
}

// ClientPolicy is the appmesh ClientPolicy shape.
type ClientPolicy struct {
	TLS *ClientPolicyTLS `json:"tls,omitempty"`
}

// ClientPolicyTLS is the appmesh ClientPolicyTls shape: TLS origination
// towards backends. A nil Enforce means true, as in App Mesh.
type ClientPolicyTLS struct {
	Certificate *ClientTLSCertificate `json:"certificate,omitempty"`
	Enforce     *bool                 `json:"enforce,omitempty"`
	Ports       []int                 `json:"ports,omitempty"`
	Validation  *TLSValidationContext `json:"validation"`
}

// Enforced reports whether TLS is required (nil Enforce means true).
func (c *ClientPolicyTLS) Enforced() bool { return c != nil && (c.Enforce == nil || *c.Enforce) }

// AppliesTo reports whether the policy covers a backend port: an empty
// Ports list covers every port.
func (c *ClientPolicyTLS) AppliesTo(port int) bool {
	if c == nil {
		return false
	}
	if len(c.Ports) == 0 {
		return true
	}
	for _, p := range c.Ports {
		if p == port {
			return true
		}
	}
	return false
}

// ClientTLSCertificate is the client certificate a proxy presents
// (ClientTlsCertificate). ACM is a Bulwark extension.
type ClientTLSCertificate struct {
	ACM  *ACMCertificate  `json:"acm,omitempty"`
	File *FileCertificate `json:"file,omitempty"`
	SDS  *SDSCertificate  `json:"sds,omitempty"`
}

// Listener is the appmesh Listener (and VirtualGatewayListener) shape.
type Listener struct {
	ConnectionPool   *ConnectionPool   `json:"connectionPool,omitempty"`
	HealthCheck      *HealthCheck      `json:"healthCheck,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	PortMapping      *PortMapping      `json:"portMapping"`
	Timeout          *ListenerTimeout  `json:"timeout,omitempty"`
	TLS              *ListenerTLS      `json:"tls,omitempty"`
}

// PortMapping is the appmesh PortMapping shape.
type PortMapping struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

// ListenerTLS is the appmesh ListenerTls shape: TLS termination.
type ListenerTLS struct {
	Certificate *ListenerTLSCertificate       `json:"certificate"`
	Mode        string                        `json:"mode"`
	Validation  *ListenerTLSValidationContext `json:"validation,omitempty"`
}

// ListenerTLSCertificate is the server certificate union.
type ListenerTLSCertificate struct {
	ACM  *ACMCertificate  `json:"acm,omitempty"`
	File *FileCertificate `json:"file,omitempty"`
	SDS  *SDSCertificate  `json:"sds,omitempty"`
}

// ACMCertificate names an ACM certificate (ListenerTlsAcmCertificate).
type ACMCertificate struct {
	CertificateArn string `json:"certificateArn"`
}

// FileCertificate names PEM files on the proxy's disk
// (ListenerTlsFileCertificate).
type FileCertificate struct {
	CertificateChain string `json:"certificateChain"`
	PrivateKey       string `json:"privateKey"`
}

// SDSCertificate names a secret served by the secret discovery source
// (ListenerTlsSdsCertificate).
type SDSCertificate struct {
	SecretName string `json:"secretName"`
}

// ListenerTLSValidationContext requires and validates client certificates
// (mTLS) on a listener.
type ListenerTLSValidationContext struct {
	SubjectAlternativeNames *SubjectAlternativeNames `json:"subjectAlternativeNames,omitempty"`
	Trust                   *TrustContext            `json:"trust"`
}

// TLSValidationContext validates server certificates in a client policy.
type TLSValidationContext struct {
	SubjectAlternativeNames *SubjectAlternativeNames `json:"subjectAlternativeNames,omitempty"`
	Trust                   *TrustContext            `json:"trust"`
}

// TrustContext is the trust union (TlsValidationContextTrust). On
// listeners App Mesh allows only file and sds; Bulwark also accepts acm.
type TrustContext struct {
	ACM  *ACMTrust  `json:"acm,omitempty"`
	File *FileTrust `json:"file,omitempty"`
	SDS  *SDSTrust  `json:"sds,omitempty"`
}

// ACMTrust trusts private CAs by ARN (TlsValidationContextAcmTrust).
type ACMTrust struct {
	CertificateAuthorityArns []string `json:"certificateAuthorityArns"`
}

// FileTrust trusts the CA certificates (and CRLs, a Bulwark extension) in a
// PEM file (TlsValidationContextFileTrust).
type FileTrust struct {
	CertificateChain string `json:"certificateChain"`
}

// SDSTrust trusts a bundle served by the secret discovery source.
type SDSTrust struct {
	SecretName string `json:"secretName"`
}

// SubjectAlternativeNames restricts accepted peer certificates to those
// carrying one of Match.Exact.
type SubjectAlternativeNames struct {
	Match *SANMatchers `json:"match"`
}

// SANMatchers is the appmesh SubjectAlternativeNameMatchers shape.
type SANMatchers struct {
	Exact []string `json:"exact"`
}

// ExactSANs returns the exact SAN list or nil when none is configured.
func (s *SubjectAlternativeNames) ExactSANs() []string {
	if s == nil || s.Match == nil {
		return nil
	}
	return s.Match.Exact
}

// HealthCheck is the appmesh HealthCheckPolicy shape.
type HealthCheck struct {
	HealthyThreshold   int    `json:"healthyThreshold"`
	IntervalMillis     int64  `json:"intervalMillis"`
	Path               string `json:"path,omitempty"`
	Port               int    `json:"port,omitempty"`
	Protocol           string `json:"protocol"`
	TimeoutMillis      int64  `json:"timeoutMillis"`
	UnhealthyThreshold int    `json:"unhealthyThreshold"`
}

// Duration is the appmesh Duration shape.
type Duration struct {
	Unit  string `json:"unit,omitempty"`
	Value *int64 `json:"value,omitempty"`
}

// OutlierDetection is the appmesh OutlierDetection shape.
type OutlierDetection struct {
	BaseEjectionDuration *Duration `json:"baseEjectionDuration"`
	Interval             *Duration `json:"interval"`
	MaxEjectionPercent   int       `json:"maxEjectionPercent"`
	MaxServerErrors      int64     `json:"maxServerErrors"`
}

// ListenerTimeout is the appmesh ListenerTimeout union.
type ListenerTimeout struct {
	GRPC  *HTTPTimeout `json:"grpc,omitempty"`
	HTTP  *HTTPTimeout `json:"http,omitempty"`
	HTTP2 *HTTPTimeout `json:"http2,omitempty"`
	TCP   *TCPTimeout  `json:"tcp,omitempty"`
}

// HTTPTimeout is the appmesh HttpTimeout (and GrpcTimeout) shape.
type HTTPTimeout struct {
	Idle       *Duration `json:"idle,omitempty"`
	PerRequest *Duration `json:"perRequest,omitempty"`
}

// TCPTimeout is the appmesh TcpTimeout shape.
type TCPTimeout struct {
	Idle *Duration `json:"idle,omitempty"`
}

// ConnectionPool is the appmesh VirtualNodeConnectionPool union.
type ConnectionPool struct {
	GRPC  *PoolMaxRequests `json:"grpc,omitempty"`
	HTTP  *HTTPPool        `json:"http,omitempty"`
	HTTP2 *PoolMaxRequests `json:"http2,omitempty"`
	TCP   *TCPPool         `json:"tcp,omitempty"`
}

// PoolMaxRequests is the grpc/http2 connection pool shape.
type PoolMaxRequests struct {
	MaxRequests int `json:"maxRequests"`
}

// HTTPPool is the appmesh VirtualNodeHttpConnectionPool shape.
type HTTPPool struct {
	MaxConnections     int `json:"maxConnections"`
	MaxPendingRequests int `json:"maxPendingRequests,omitempty"`
}

// TCPPool is the appmesh VirtualNodeTcpConnectionPool shape.
type TCPPool struct {
	MaxConnections int `json:"maxConnections"`
}

// ServiceDiscovery is the appmesh ServiceDiscovery union.
type ServiceDiscovery struct {
	AWSCloudMap *AWSCloudMap  `json:"awsCloudMap,omitempty"`
	DNS         *DNSDiscovery `json:"dns,omitempty"`
}

// AWSCloudMap is the appmesh AwsCloudMapServiceDiscovery shape; the data
// plane does not resolve it.
type AWSCloudMap struct {
	Attributes    []KeyValue `json:"attributes,omitempty"`
	IPPreference  string     `json:"ipPreference,omitempty"`
	NamespaceName string     `json:"namespaceName"`
	ServiceName   string     `json:"serviceName"`
}

// KeyValue is a key/value pair (AwsCloudMapInstanceAttribute, JsonFormatRef).
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DNSDiscovery is the appmesh DnsServiceDiscovery shape. Hostname may be
// "host" (the listener port is used) or, as an extension, "host:port".
type DNSDiscovery struct {
	Hostname     string `json:"hostname"`
	IPPreference string `json:"ipPreference,omitempty"`
	ResponseType string `json:"responseType,omitempty"`
}

// Logging is the appmesh Logging shape.
type Logging struct {
	AccessLog *AccessLog `json:"accessLog,omitempty"`
}

// AccessLog is the appmesh AccessLog union.
type AccessLog struct {
	File *FileAccessLog `json:"file,omitempty"`
}

// FileAccessLog is the appmesh FileAccessLog shape. Path "/dev/stdout" is
// the conventional choice.
type FileAccessLog struct {
	Format *LoggingFormat `json:"format,omitempty"`
	Path   string         `json:"path"`
}

// LoggingFormat is the appmesh LoggingFormat union.
type LoggingFormat struct {
	JSON []KeyValue `json:"json,omitempty"`
	Text string     `json:"text,omitempty"`
}

// VirtualServiceSpec is the appmesh VirtualServiceSpec shape.
type VirtualServiceSpec struct {
	Provider *VirtualServiceProvider `json:"provider,omitempty"`
}

// VirtualServiceProvider is the provider union.
type VirtualServiceProvider struct {
	VirtualNode   *VirtualNodeProvider   `json:"virtualNode,omitempty"`
	VirtualRouter *VirtualRouterProvider `json:"virtualRouter,omitempty"`
}

// VirtualNodeProvider names the node providing a virtual service.
type VirtualNodeProvider struct {
	VirtualNodeName string `json:"virtualNodeName"`
}

// VirtualRouterProvider names the router providing a virtual service.
type VirtualRouterProvider struct {
	VirtualRouterName string `json:"virtualRouterName"`
}

// VirtualRouterSpec is the appmesh VirtualRouterSpec shape.
type VirtualRouterSpec struct {
	Listeners []RouterListener `json:"listeners,omitempty"`
}

// RouterListener is the appmesh VirtualRouterListener shape.
type RouterListener struct {
	PortMapping *PortMapping `json:"portMapping"`
}
