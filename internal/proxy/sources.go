package proxy

import (
	"errors"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// CertRef names a certificate (with key) or a trust bundle in spec terms:
// exactly one of the pointers is set.
type CertRef struct {
	// Certificate is a listener or client-policy certificate.
	Certificate *spec.ListenerTLSCertificate
	// Trust is a validation trust.
	Trust *spec.TrustContext
}

// SourceFactory turns a spec reference into a certsource.Source and a
// stable name for it (used for stats and to share one Reloader between
// users of the same material). The default factory serves `file`
// references; the control-plane mode plugs in `sds` (Secrets Manager) and
// `acm` (ExportCertificate, GetCertificateAuthorityCertificate) here.
type SourceFactory func(ref CertRef) (name string, src certsource.Source, err error)

// ErrUnsupportedSource is returned by FileSources for sds and acm
// references, which need a control plane.
var ErrUnsupportedSource = errors.New("proxy: certificate source needs a control plane (only file sources work with --config)")

// FileSources is the default SourceFactory: file references only.
func FileSources(ref CertRef) (string, certsource.Source, error) {
	switch {
	case ref.Certificate != nil && ref.Certificate.File != nil:
		f := ref.Certificate.File
		return "file:" + f.CertificateChain, certsource.File{CertFile: f.CertificateChain, KeyFile: f.PrivateKey}, nil
	case ref.Trust != nil && ref.Trust.File != nil:
		return "file:" + ref.Trust.File.CertificateChain, certsource.File{TrustFile: ref.Trust.File.CertificateChain}, nil
	case ref.Certificate != nil && ref.Certificate.SDS != nil:
		return "", nil, fmt.Errorf("%w: sds secret %q", ErrUnsupportedSource, ref.Certificate.SDS.SecretName)
	case ref.Certificate != nil && ref.Certificate.ACM != nil:
		return "", nil, fmt.Errorf("%w: acm certificate %q", ErrUnsupportedSource, ref.Certificate.ACM.CertificateArn)
	case ref.Trust != nil && ref.Trust.SDS != nil:
		return "", nil, fmt.Errorf("%w: sds trust %q", ErrUnsupportedSource, ref.Trust.SDS.SecretName)
	case ref.Trust != nil && ref.Trust.ACM != nil:
		return "", nil, fmt.Errorf("%w: acm trust %v", ErrUnsupportedSource, ref.Trust.ACM.CertificateAuthorityArns)
	}
	return "", nil, errors.New("proxy: empty certificate reference")
}

// clientCertAsListener maps a client policy certificate onto the listener
// certificate union so one factory serves both.
func clientCertAsListener(c *spec.ClientTLSCertificate) *spec.ListenerTLSCertificate {
	if c == nil {
		return nil
	}
	return &spec.ListenerTLSCertificate{ACM: c.ACM, File: c.File, SDS: c.SDS}
}
