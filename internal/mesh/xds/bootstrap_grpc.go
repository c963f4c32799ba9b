package xds

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"time"
)

// GRPCBootstrapOptions describe the proxyless gRPC application a gRPC
// xDS bootstrap is for.
type GRPCBootstrapOptions struct {
	// ResourceARN is the virtual node ARN (the node id and cluster).
	ResourceARN string
	// XDSAddress is the management server's host:port.
	XDSAddress string
	// Auth is AuthMTLS (ClientCertFile/ClientKeyFile, URI SAN = the ARN)
	// or AuthNone (a server with allowUnsigned). gRPC's xDS client cannot
	// sign its stream with SigV4, so AuthSigV4 is refused.
	Auth string
	// CAFile verifies the management server's certificate ("" with
	// Plaintext false: /etc/ssl/certs/ca-certificates.crt).
	CAFile                        string
	ClientCertFile, ClientKeyFile string
	// Plaintext connects without TLS (a dev server's loopback port only).
	Plaintext bool
	// CertificateProviders maps a certificate-provider instance name (an
	// ACM certificate ARN, a "trust:…" name, "file:PATH" or "sds:NAME";
	// see docs/xds.md) to a directory holding cert.pem, key.pem and
	// chain.pem as `bulwark certs fetch --out DIR` writes them: cert.pem
	// and key.pem are the identity, chain.pem the trusted CAs.
	CertificateProviders map[string]string
	// RefreshInterval is how often gRPC rereads those files; zero means
	// one minute (`bulwark certs fetch --watch`'s default poll interval).
	RefreshInterval time.Duration
}

// DefaultGRPCRefreshInterval is GRPCBootstrapOptions.RefreshInterval's
// zero value.
const DefaultGRPCRefreshInterval = time.Minute

// GRPCBootstrap returns the JSON bootstrap of gRPC's xDS client
// (GRPC_XDS_BOOTSTRAP) for a proxyless gRPC client or server that takes
// its configuration from Bulwark: the node is the virtual node ARN, the
// server listener template is GRPCServerListenerTemplate, and every
// certificate-provider instance is a file_watcher over a `bulwark certs
// fetch` directory.
func GRPCBootstrap(o GRPCBootstrapOptions) ([]byte, error) {
	ref, err := parseAnyRegionARN(o.ResourceARN)
	if err != nil {
		return nil, err
	}
	if ref.Kind != KindVirtualNode {
		return nil, errors.New("--grpc: a proxyless gRPC application is a virtual node; virtual gateways need Envoy")
	}
	if _, _, err := net.SplitHostPort(o.XDSAddress); err != nil {
		return nil, fmt.Errorf("--xds %q: must be host:port", o.XDSAddress)
	}
	if o.Auth == "" {
		o.Auth = AuthNone
	}
	caFile := o.CAFile
	if caFile == "" {
		caFile = "/etc/ssl/certs/ca-certificates.crt"
	}
	type creds struct {
		Type   string            `json:"type"`
		Config map[string]string `json:"config,omitempty"`
	}
	var cc creds
	switch o.Auth {
	case AuthSigV4:
		return nil, errors.New("--grpc: gRPC's xDS client cannot sign its stream with SigV4; use --auth mtls (a client certificate whose URI SAN is the ARN) or --auth none")
	case AuthMTLS:
		if o.ClientCertFile == "" || o.ClientKeyFile == "" {
			return nil, errors.New("--auth mtls needs --client-cert and --client-key")
		}
		if o.Plaintext {
			return nil, errors.New("--auth mtls needs TLS")
		}
		cc = creds{Type: "tls", Config: map[string]string{"ca_certificate_file": caFile, "certificate_file": o.ClientCertFile, "private_key_file": o.ClientKeyFile}}
	case AuthNone:
		cc = creds{Type: "tls", Config: map[string]string{"ca_certificate_file": caFile}}
		if o.Plaintext {
			cc = creds{Type: "insecure"}
		}
	default:
		return nil, fmt.Errorf("--auth %q: use mtls or none with --grpc", o.Auth)
	}
	refresh := o.RefreshInterval
	if refresh <= 0 {
		refresh = DefaultGRPCRefreshInterval
	}
	type provider struct {
		PluginName string            `json:"plugin_name"`
		Config     map[string]string `json:"config"`
	}
	providers := map[string]provider{}
	names := make([]string, 0, len(o.CertificateProviders))
	for n := range o.CertificateProviders {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dir := o.CertificateProviders[n]
		if n == "" || dir == "" {
			return nil, fmt.Errorf("--certificate-provider %q=%q: needs NAME=DIR", n, dir)
		}
		providers[n] = provider{PluginName: "file_watcher", Config: map[string]string{
			"certificate_file":    filepath.Join(dir, "cert.pem"),
			"private_key_file":    filepath.Join(dir, "key.pem"),
			"ca_certificate_file": filepath.Join(dir, "chain.pem"),
			"refresh_interval":    fmt.Sprintf("%gs", refresh.Seconds()),
		}}
	}
	b := struct {
		XDSServers []struct {
			ServerURI    string  `json:"server_uri"`
			ChannelCreds []creds `json:"channel_creds"`
		} `json:"xds_servers"`
		Node struct {
			ID      string `json:"id"`
			Cluster string `json:"cluster"`
		} `json:"node"`
		CertificateProviders map[string]provider `json:"certificate_providers,omitempty"`
		Template             string              `json:"server_listener_resource_name_template"`
	}{CertificateProviders: providers, Template: GRPCServerListenerTemplate}
	b.XDSServers = append(b.XDSServers, struct {
		ServerURI    string  `json:"server_uri"`
		ChannelCreds []creds `json:"channel_creds"`
	}{o.XDSAddress, []creds{cc}})
	b.Node.ID, b.Node.Cluster = o.ResourceARN, o.ResourceARN
	return json.MarshalIndent(b, "", "  ")
}
