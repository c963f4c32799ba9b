package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// Reason classifies a refused peer, one Envoy counter each.
type Reason int

// Refusal reasons.
const (
	// NoCertificate: a certificate was required and none was sent
	// (ssl.fail_verify_no_cert).
	NoCertificate Reason = iota + 1
	// BadChain: the chain does not verify to the trust, is expired or not
	// yet valid, or is revoked (ssl.fail_verify_error).
	BadChain
	// SANMismatch: no SAN of the peer is allowed (ssl.fail_verify_san).
	SANMismatch
)

// VerifyError is returned by VerifyConnection when a peer is refused.
type VerifyError struct {
	Reason Reason
	Err    error
}

// Error implements the error interface.
func (e *VerifyError) Error() string { return "peer certificate refused: " + e.Err.Error() }

// Unwrap returns the underlying cause, for errors.Is and errors.As.
func (e *VerifyError) Unwrap() error { return e.Err }

// IsVerifyError reports whether err (from a handshake) is a refusal by
// VerifyConnection rather than a protocol error.
func IsVerifyError(err error) bool {
	var v *VerifyError
	return errors.As(err, &v)
}

// StrongCipherSuites are the TLS 1.2 suites allowed: ECDHE with AEAD only
// (TLS 1.3 suites are fixed by crypto/tls and all strong).
var StrongCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// verifier holds what VerifyConnection needs; fields are read on every
// handshake, so the trust comes from the Reloader at that moment.
type verifier struct {
	trust       *certsource.Reloader // nil: no validation
	sans        []string
	requireCert bool
	usage       x509.ExtKeyUsage
	now         func() time.Time
	ssl         *stats.SSL
}

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	if err := v.check(cs); err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) && v.ssl != nil {
			switch ve.Reason {
			case NoCertificate:
				v.ssl.FailVerifyNoCert.Inc()
			case BadChain:
				v.ssl.FailVerifyError.Inc()
			case SANMismatch:
				v.ssl.FailVerifySAN.Inc()
			}
		}
		return err
	}
	if v.ssl != nil {
		v.ssl.Observe(cs)
	}
	return nil
}

func (v *verifier) check(cs tls.ConnectionState) error {
	if v.trust == nil {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		if v.requireCert {
			return &VerifyError{NoCertificate, errors.New("no certificate presented")}
		}
		return nil
	}
	m := v.trust.Current()
	if m == nil || m.Pool == nil {
		return &VerifyError{BadChain, errors.New("no trust bundle loaded")}
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: m.Pool, Intermediates: inter, CurrentTime: v.now(),
		KeyUsages: []x509.ExtKeyUsage{v.usage},
	})
	if err != nil {
		return &VerifyError{BadChain, err}
	}
	if err := revoked(chains, m.CRLs); err != nil {
		return &VerifyError{BadChain, err}
	}
	if len(v.sans) > 0 {
		have := certsource.SANs(leaf)
		if !slices.ContainsFunc(have, func(s string) bool { return slices.Contains(v.sans, s) }) {
			return &VerifyError{SANMismatch, fmt.Errorf("SANs %v not in allowed %v", have, v.sans)}
		}
	}
	return nil
}

// revoked refuses a chain if any certificate in it is listed by a CRL
// whose issuer is that certificate's issuer. Every verified chain must be
// clean, so a cross-signed path cannot route around a revocation.
func revoked(chains [][]*x509.Certificate, crls []*x509.RevocationList) error {
	if len(crls) == 0 {
		return nil
	}
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			c, issuer := chain[i], chain[i+1]
			for _, crl := range crls {
				if string(crl.RawIssuer) != string(issuer.RawSubject) {
					continue
				}
				for _, e := range crl.RevokedCertificateEntries {
					if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
						return fmt.Errorf("certificate serial %s is revoked", c.SerialNumber.Text(16))
					}
				}
			}
		}
	}
	return nil
}
