package certsource

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Material is one version of what a Source provides. Either part may be
// absent: a listener's certificate source has no trust, a validation
// context's trust source has no certificate. Material is immutable once
// returned; replace it, never edit it.
type Material struct {
	// Certificate is the leaf, its chain and its private key, with Leaf
	// parsed; nil when the source provides only trust.
	Certificate *tls.Certificate
	// Roots are the trusted CA certificates; empty when the source provides
	// no trust.
	Roots []*x509.Certificate
	// Pool holds Roots, ready for x509.VerifyOptions; nil without trust.
	Pool *x509.CertPool
	// CRLs are revocation lists found in the trust bundle; certificates
	// they list are refused if the CRL's issuer is in the chain.
	CRLs []*x509.RevocationList
	// Version identifies this material (a content hash for files, a secret
	// version id or certificate serial for remote sources).
	Version string
}

// Source loads the current material. Implementations must be safe for
// concurrent use and must not cache failures.
type Source interface {
	Load(ctx context.Context) (*Material, error)
}

// Versioner is implemented by sources that can say cheaply whether their
// material changed (file stat, secret version id). The Reloader loads only
// when the version differs from the last one it tried.
type Versioner interface {
	Version(ctx context.Context) (string, error)
}

// NotAfter returns the earliest expiry among the certificate's leaf and
// chain, or the zero time without a certificate. A connection made with
// this material must not outlive it.
func (m *Material) NotAfter() time.Time {
	if m == nil || m.Certificate == nil {
		return time.Time{}
	}
	var earliest time.Time
	for _, der := range m.Certificate.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			continue
		}
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest
}

// Parse builds Material from PEM: certPEM and keyPEM (both or neither) and
// trustPEM (CERTIFICATE and X509 CRL blocks; may be nil). It checks that
// the key matches the certificate; everything else is Policy's job.
func Parse(certPEM, keyPEM, trustPEM []byte) (*Material, error) {
	m := &Material{}
	h := sha256.New()
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("certificate and key: %w", err)
		}
		m.Certificate = &cert
		h.Write(certPEM)
		h.Write(keyPEM)
	}
	if len(trustPEM) > 0 {
		rest := trustPEM
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("trust bundle: %w", err)
				}
				m.Roots = append(m.Roots, c)
			case "X509 CRL":
				crl, err := x509.ParseRevocationList(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("trust bundle CRL: %w", err)
				}
				m.CRLs = append(m.CRLs, crl)
			}
		}
		if len(m.Roots) == 0 {
			return nil, errors.New("trust bundle: no CERTIFICATE block")
		}
		m.Pool = x509.NewCertPool()
		for _, c := range m.Roots {
			m.Pool.AddCert(c)
		}
		h.Write(trustPEM)
	}
	if m.Certificate == nil && m.Pool == nil {
		return nil, errors.New("no certificate and no trust")
	}
	m.Version = hex.EncodeToString(h.Sum(nil)[:12])
	return m, nil
}
