package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync/atomic"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// ClientConfig describes TLS origination towards one upstream cluster.
type ClientConfig struct {
	// Trust validates the server certificate. Required: App Mesh client
	// policies always carry validation.
	Trust *certsource.Reloader
	// Cert, when set, is presented as the client certificate (mTLS).
	Cert *certsource.Reloader
	// SANs, when non-empty, are the server SANs accepted (exact match).
	// Empty accepts any certificate chaining to Trust, as App Mesh does;
	// the host name is not checked.
	SANs []string
	// ServerName is sent as SNI.
	ServerName string
	// NextProtos is the ALPN list.
	NextProtos []string
	// SSL receives the cluster's ssl.* stats; nil records nothing.
	SSL *stats.SSL
	// Clock tells the time certificate validity is checked at; nil means
	// clock.Real.
	Clock clock.Clock
}

// Client is a cluster's TLS state: one shared *tls.Config with a shared
// session cache, replaced when trust or settings change.
type Client struct {
	cfg    atomic.Pointer[tls.Config]
	c      ClientConfig
	unsubs []func()
}

// NewClient builds the cluster's TLS state.
func NewClient(c ClientConfig) (*Client, error) {
	if c.Trust == nil || c.Trust.Current() == nil || c.Trust.Current().Pool == nil {
		return nil, errors.New("tlsconf: client trust bundle not loaded")
	}
	if c.Cert != nil && (c.Cert.Current() == nil || c.Cert.Current().Certificate == nil) {
		return nil, errors.New("tlsconf: client certificate not loaded")
	}
	cl := &Client{c: c}
	cl.rebuild()
	// New trust or a new client certificate: start a new session cache so
	// later connections handshake in full with what is current.
	cl.unsubs = append(cl.unsubs, c.Trust.Subscribe(func(_, _ *certsource.Material) { cl.rebuild() }))
	if c.Cert != nil {
		cl.unsubs = append(cl.unsubs, c.Cert.Subscribe(func(_, _ *certsource.Material) { cl.rebuild() }))
	}
	return cl, nil
}

// Close detaches the client from its reloaders (the cluster is gone);
// connections already made keep working.
func (cl *Client) Close() {
	for _, u := range cl.unsubs {
		u()
	}
	cl.unsubs = nil
}

func (cl *Client) rebuild() {
	c := cl.c
	now := clock.OrReal(c.Clock).Now
	v := &verifier{trust: c.Trust, sans: append([]string(nil), c.SANs...), requireCert: true, usage: x509.ExtKeyUsageServerAuth, now: now, ssl: c.SSL}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS13,
		CipherSuites: StrongCipherSuites,
		NextProtos:   c.NextProtos,
		ServerName:   c.ServerName,
		Time:         now,
		// Verification is done by VerifyConnection against the current
		// trust, with App Mesh's SAN semantics instead of host names.
		InsecureSkipVerify: true,
		VerifyConnection:   v.verifyConnection,
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
	if c.Cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.Cert.Current().Certificate, nil
		}
	}
	cl.cfg.Store(cfg)
}

// Config returns the current shared config; dial with it as is.
func (cl *Client) Config() *tls.Config { return cl.cfg.Load() }

// Material returns the client certificate material in use, or nil.
func (cl *Client) Material() *certsource.Material {
	if cl.c.Cert == nil {
		return nil
	}
	return cl.c.Cert.Current()
}
