package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// OriginTransport returns the transport to the origin: HTTP/2 when an
// https origin offers it (ALPN), HTTP/1.1 otherwise, with tc for TLS (nil
// means system roots, no client certificate).
func OriginTransport(tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // the origin is reached directly, never via $HTTP_PROXY
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tc,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// OriginTLSConfig builds the client TLS configuration for the origin
// from PEM files; nil files mean system roots and no client certificate.
func OriginTLSConfig(f *OriginTLSFiles) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f == nil {
		return tc, nil
	}
	tc.ServerName = f.ServerName
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("origin CA %s: no PEM certificates", f.CA)
		}
		tc.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("origin TLS: give both cert and key for mTLS, or neither")
	}
	if f.Cert != "" {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("origin client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}

// ServerTLSConfig loads the listener's certificate; the configuration
// offers h2 and http/1.1 by ALPN.
func ServerTLSConfig(f *TLSFiles) (*tls.Config, error) {
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("edge TLS: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// RunConfig says where a Proxy listens.
type RunConfig struct {
	// Listener for the proxy. Required.
	Listener net.Listener
	// TLS, when set, is served on Listener (HTTP/2 and HTTP/1.1 by ALPN);
	// nil means plain HTTP/1.1.
	TLS *tls.Config
	// Admin, when set, serves /stats, /metrics and /healthz (plain HTTP:
	// bind it to loopback).
	Admin net.Listener
	// ShutdownTimeout is how long in-flight requests get once ctx ends; 0
	// means 30 s.
	ShutdownTimeout time.Duration
}

// Run serves until ctx ends, then shuts down gracefully: listeners close,
// in-flight requests finish (up to ShutdownTimeout).
func (p *Proxy) Run(ctx context.Context, rc RunConfig) error {
	if rc.ShutdownTimeout <= 0 {
		rc.ShutdownTimeout = 30 * time.Second
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if rc.Listener == nil {
		return errors.New("edge: no listener")
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	if rc.TLS != nil {
		// ServeTLS adds h2 to ALPN and wires the HTTP/2 server.
		srv.TLSConfig = rc.TLS.Clone()
		go func() { errc <- srv.ServeTLS(rc.Listener, "", "") }()
	} else {
		go func() { errc <- srv.Serve(rc.Listener) }()
	}
	if rc.Admin != nil {
		admin := &http.Server{Handler: p.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, admin)
		go func() { errc <- admin.Serve(rc.Admin) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), rc.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if e := s.Shutdown(sctx); e != nil && err == nil {
			err = e
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
