package xdsclient

import (
	"encoding/json"
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// transportSocket unpacks a TLS transport socket into m.
func transportSocket(path string, ts *corev3.TransportSocket, m proto.Message) error {
	if err := onlyFields(path, ts, "name", "typed_config"); err != nil {
		return err
	}
	if ts.GetName() != tlsSocketName || ts.GetTypedConfig() == nil {
		return refuse(path, "transport socket %q", ts.GetName())
	}
	if err := ts.GetTypedConfig().UnmarshalTo(m); err != nil {
		return refuse(path, "a transport socket that is not %T", m)
	}
	return nil
}

// certRef reads a common TLS context's certificate: an SDS secret on this
// stream, or files.
func (d *decoder) certRef(path string, c *tlsv3.CommonTlsContext) (*spec.ListenerTLSCertificate, error) {
	sds, files := c.GetTlsCertificateSdsSecretConfigs(), c.GetTlsCertificates()
	switch {
	case len(sds) == 1 && len(files) == 0:
		name, err := d.adsSecret(path+".tls_certificate_sds_secret_configs[0]", sds[0])
		if err != nil {
			return nil, err
		}
		return &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: name}}, nil
	case len(files) == 1 && len(sds) == 0:
		f := files[0]
		if err := onlyFields(path+".tls_certificates[0]", f, "certificate_chain", "private_key"); err != nil {
			return nil, err
		}
		chain, key := f.GetCertificateChain().GetFilename(), f.GetPrivateKey().GetFilename()
		if chain == "" || key == "" {
			return nil, refuse(path+".tls_certificates[0]", "a certificate that is not two files")
		}
		return &spec.ListenerTLSCertificate{File: &spec.FileCertificate{CertificateChain: chain, PrivateKey: key}}, nil
	case len(sds) == 0 && len(files) == 0:
		return nil, nil
	}
	return nil, refuse(path, "several certificates")
}

// adsSecret checks that a secret is fetched over this stream and records
// its use.
func (d *decoder) adsSecret(path string, s *tlsv3.SdsSecretConfig) (string, error) {
	if err := onlyFields(path, s, "name", "sds_config"); err != nil {
		return "", err
	}
	if s.GetName() == "" {
		return "", refuse(path, "an unnamed secret")
	}
	if s.GetSdsConfig().GetAds() == nil {
		// App Mesh's "sds" source: a secret of the SDS server beside the
		// proxy. To bulwark proxy an sds source has always meant the
		// certificate export layout in Secrets Manager (docs/proxy.md), so
		// it keeps that meaning here; any other SDS server is refused.
		var cluster string
		if gs := s.GetSdsConfig().GetApiConfigSource().GetGrpcServices(); len(gs) == 1 {
			cluster = gs[0].GetEnvoyGrpc().GetClusterName()
		}
		if cluster != localSDSCluster {
			return "", refuse(path, "a secret from an SDS server other than this stream or App Mesh's local one (%q)", s.GetName())
		}
		return s.GetName(), nil
	}
	if strings.HasPrefix(s.GetName(), SourcePrefix) {
		return "", refuse(path, "a secret name starting with %q", SourcePrefix)
	}
	d.used[s.GetName()] = true
	return SourcePrefix + s.GetName(), nil
}

// localSDSCluster is the cluster App Mesh's Envoy bootstrap defines for
// its local SDS server (internal/mesh/xds.SDSSocketCluster).
const localSDSCluster = "static_cluster_sds_unix_socket"

// validation reads a common TLS context's trust and SAN matchers.
func (d *decoder) validation(path string, c *tlsv3.CommonTlsContext) (*spec.TrustContext, []string, bool, error) {
	var vc *tlsv3.CertificateValidationContext
	var trust *spec.TrustContext
	switch v := c.GetValidationContextType().(type) {
	case nil:
		return nil, nil, false, nil
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		cv := v.CombinedValidationContext
		if err := onlyFields(path+".combined_validation_context", cv, "default_validation_context", "validation_context_sds_secret_config"); err != nil {
			return nil, nil, false, err
		}
		name, err := d.adsSecret(path+".combined_validation_context.validation_context_sds_secret_config", cv.GetValidationContextSdsSecretConfig())
		if err != nil {
			return nil, nil, false, err
		}
		trust = &spec.TrustContext{SDS: &spec.SDSTrust{SecretName: name}}
		vc = cv.GetDefaultValidationContext()
		if err := onlyFields(path+".default_validation_context", vc, "match_typed_subject_alt_names"); err != nil {
			return nil, nil, false, err
		}
	case *tlsv3.CommonTlsContext_ValidationContext:
		vc = v.ValidationContext
		if err := onlyFields(path+".validation_context", vc, "trusted_ca", "match_typed_subject_alt_names"); err != nil {
			return nil, nil, false, err
		}
		f := vc.GetTrustedCa().GetFilename()
		if f == "" {
			return nil, nil, false, refuse(path+".validation_context.trusted_ca", "a trust that is not a file")
		}
		trust = &spec.TrustContext{File: &spec.FileTrust{CertificateChain: f}}
	default:
		return nil, nil, false, refuse(path, "this kind of validation context")
	}
	var sans []string
	seen := map[string]bool{}
	for i, m := range vc.GetMatchTypedSubjectAltNames() {
		p := fmt.Sprintf("%s.match_typed_subject_alt_names[%d]", path, i)
		if err := onlyFields(p, m, "san_type", "matcher"); err != nil {
			return nil, nil, false, err
		}
		switch m.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI:
		default:
			return nil, nil, false, refuse(p, "SAN type %s", m.GetSanType())
		}
		exact, ok := m.GetMatcher().GetMatchPattern().(*matcherv3.StringMatcher_Exact)
		if !ok || m.GetMatcher().GetIgnoreCase() {
			return nil, nil, false, refuse(p, "a SAN matcher other than exact")
		}
		// The proxy accepts a name as a DNS or URI SAN alike (App Mesh's
		// exact match), which is what the server's DNS+URI pair means.
		if !seen[exact.Exact] {
			seen[exact.Exact] = true
			sans = append(sans, exact.Exact)
		}
	}
	return trust, sans, true, nil
}

func sanSpec(sans []string) *spec.SubjectAlternativeNames {
	if len(sans) == 0 {
		return nil
	}
	return &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: sans}}
}

// clientTLS reads an upstream TLS context into a client policy.
func (d *decoder) clientTLS(path string, c *tlsv3.CommonTlsContext) (*tlsSetting, error) {
	path += ".common_tls_context"
	if err := onlyFields(path, c, "tls_certificate_sds_secret_configs", "tls_certificates", "combined_validation_context", "validation_context"); err != nil {
		return nil, err
	}
	cert, err := d.certRef(path, c)
	if err != nil {
		return nil, err
	}
	trust, sans, ok, err := d.validation(path, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, refuse(path, "client TLS without a validation context")
	}
	p := spec.ClientPolicyTLS{Validation: &spec.TLSValidationContext{Trust: trust, SubjectAlternativeNames: sanSpec(sans)}}
	if cert != nil {
		p.Certificate = &spec.ClientTLSCertificate{File: cert.File, SDS: cert.SDS}
	}
	key, _ := json.Marshal(p)
	return &tlsSetting{key: string(key), policy: p}, nil
}

// serverTLS reads a filter chain's downstream TLS context.
func (d *decoder) serverTLS(path string, ts *corev3.TransportSocket) (*spec.ListenerTLS, error) {
	down := &tlsv3.DownstreamTlsContext{}
	if err := transportSocket(path, ts, down); err != nil {
		return nil, err
	}
	if err := onlyFields(path, down, "common_tls_context", "require_client_certificate"); err != nil {
		return nil, err
	}
	c := down.GetCommonTlsContext()
	cp := path + ".common_tls_context"
	if err := onlyFields(cp, c, "tls_certificate_sds_secret_configs", "tls_certificates", "combined_validation_context", "validation_context"); err != nil {
		return nil, err
	}
	cert, err := d.certRef(cp, c)
	if err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, refuse(cp, "a TLS listener without a certificate")
	}
	out := &spec.ListenerTLS{Certificate: cert, Mode: spec.ModeStrict}
	trust, sans, ok, err := d.validation(cp, c)
	if err != nil {
		return nil, err
	}
	// The proxy requires a client certificate exactly when a listener
	// validates one; a validation context without the requirement (or the
	// reverse) is a setting it cannot reproduce.
	if ok != down.GetRequireClientCertificate().GetValue() {
		return nil, refuse(path+".require_client_certificate", "a client certificate validation without requiring one (or the reverse)")
	}
	if ok {
		out.Validation = &spec.ListenerTLSValidationContext{Trust: trust, SubjectAlternativeNames: sanSpec(sans)}
	}
	return out, nil
}
