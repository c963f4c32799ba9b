package xds

import (
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

const tlsSocketName = "envoy.transport_sockets.tls"

// serverChains returns the filter chains of one listener: plaintext,
// TLS-only (STRICT), or both told apart by the TLS inspector
// (PERMISSIVE, which then needs the inspector on the listener).
func (t *translator) serverChains(match *listenerv3.FilterChainMatch, f *listenerv3.Filter, ls *spec.ListenerTLS) ([]*listenerv3.FilterChain, bool, error) {
	name := func(suffix string) string {
		if match != nil && match.DestinationPort != nil {
			return fmt.Sprintf("ingress_%d_%s", match.DestinationPort.GetValue(), suffix)
		}
		return "ingress_" + suffix
	}
	if ls == nil || ls.Mode == spec.ModeDisabled {
		return []*listenerv3.FilterChain{{Name: name("plaintext"), FilterChainMatch: match, Filters: []*listenerv3.Filter{f}}}, false, nil
	}
	ctx, err := t.downstreamTLS(ls)
	if err != nil {
		return nil, false, err
	}
	ts, err := transportSocket(ctx)
	if err != nil {
		return nil, false, err
	}
	tlsChain := &listenerv3.FilterChain{Name: name("tls"), FilterChainMatch: match, Filters: []*listenerv3.Filter{f}, TransportSocket: ts}
	if ls.Mode == spec.ModeStrict {
		return []*listenerv3.FilterChain{tlsChain}, false, nil
	}
	tm := &listenerv3.FilterChainMatch{}
	if match != nil {
		tm = proto.Clone(match).(*listenerv3.FilterChainMatch)
	}
	pm := proto.Clone(tm).(*listenerv3.FilterChainMatch)
	tm.TransportProtocol = "tls"
	pm.TransportProtocol = "raw_buffer"
	tlsChain.FilterChainMatch = tm
	plain := &listenerv3.FilterChain{Name: name("plaintext"), FilterChainMatch: pm, Filters: []*listenerv3.Filter{proto.Clone(f).(*listenerv3.Filter)}}
	return []*listenerv3.FilterChain{tlsChain, plain}, true, nil
}

func transportSocket(m proto.Message) (*corev3.TransportSocket, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: tlsSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// adsSecret refers to a secret this server sends on the same stream.
func adsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

// localSDSSecret refers to a secret of the SDS server beside the proxy
// (App Mesh's "sds" sources, e.g. a SPIRE agent), as App Mesh did.
func localSDSSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType:             corev3.ApiConfigSource_GRPC,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices:        []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: SDSSocketCluster}}}},
		}},
	}}
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// certificate puts a certificate union into a common TLS context.
func (t *translator) certificate(c *tlsv3.CommonTlsContext, acm *spec.ACMCertificate, file *spec.FileCertificate, sds *spec.SDSCertificate) {
	switch {
	case acm != nil:
		t.certs[acm.CertificateArn] = true
		c.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{adsSecret(certSecretName(acm.CertificateArn))}
	case file != nil:
		c.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileSource(file.CertificateChain), PrivateKey: fileSource(file.PrivateKey)}}
	case sds != nil:
		c.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{localSDSSecret(sds.SecretName)}
	}
}

// validation puts a trust union and SAN list into a common TLS context.
func (t *translator) validation(c *tlsv3.CommonTlsContext, trust *spec.TrustContext, sans []string) error {
	if trust == nil {
		return errors.New("xds: a TLS validation context needs a trust")
	}
	matchers := sanMatchers(sans)
	switch {
	case trust.ACM != nil:
		name := trustSecretName(trust.ACM.CertificateAuthorityArns)
		t.out.TrustBundles[name] = append([]string(nil), trust.ACM.CertificateAuthorityArns...)
		c.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: matchers},
			ValidationContextSdsSecretConfig: adsSecret(name),
		}}
	case trust.File != nil:
		c.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa:                 fileSource(trust.File.CertificateChain),
			MatchTypedSubjectAltNames: matchers,
		}}
	case trust.SDS != nil:
		c.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: matchers},
			ValidationContextSdsSecretConfig: localSDSSecret(trust.SDS.SecretName),
		}}
	default:
		return errors.New("xds: a TLS validation trust names no source")
	}
	return nil
}

// sanMatchers accepts a peer whose certificate carries one of the names as
// a DNS or URI SAN (App Mesh's exact match covers both kinds).
func sanMatchers(sans []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, s := range sans {
		for _, typ := range []tlsv3.SubjectAltNameMatcher_SanType{tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI} {
			out = append(out, &tlsv3.SubjectAltNameMatcher{SanType: typ, Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}})
		}
	}
	return out
}

func (t *translator) downstreamTLS(ls *spec.ListenerTLS) (*tlsv3.DownstreamTlsContext, error) {
	if ls.Certificate == nil {
		return nil, errors.New("xds: a TLS listener needs a certificate")
	}
	common := &tlsv3.CommonTlsContext{}
	t.certificate(common, ls.Certificate.ACM, ls.Certificate.File, ls.Certificate.SDS)
	out := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	if v := ls.Validation; v != nil {
		if err := t.validation(common, v.Trust, v.SubjectAlternativeNames.ExactSANs()); err != nil {
			return nil, err
		}
		out.RequireClientCertificate = wrapperspb.Bool(true)
	}
	return out, nil
}

func (t *translator) upstreamTLS(p *spec.ClientPolicyTLS, sni string) (*tlsv3.UpstreamTlsContext, error) {
	common := &tlsv3.CommonTlsContext{}
	if c := p.Certificate; c != nil {
		t.certificate(common, c.ACM, c.File, c.SDS)
	}
	if p.Validation == nil {
		return nil, errors.New("xds: a TLS client policy needs a validation context")
	}
	if err := t.validation(common, p.Validation.Trust, p.Validation.SubjectAlternativeNames.ExactSANs()); err != nil {
		return nil, err
	}
	return &tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: sni}, nil
}
