package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc/credentials"

	"github.com/bulwarkd/bulwark/internal/server"
)

// startXDS opens the xDS listener and serves the aggregated discovery
// service on it until the server shuts down. Without a certificate it
// serves plaintext HTTP/2, which it allows on loopback only: a data
// plane's configuration carries its private keys.
//
// clientCAFile, when set, asks data planes for a client certificate and
// verifies it against these CAs: an unsigned stream whose certificate
// carries the node's ARN as a URI SAN is authenticated as that node.
func startXDS(srv *server.Server, addr, certFile, keyFile, clientCAFile string, log *slog.Logger) (net.Addr, error) {
	var creds credentials.TransportCredentials
	if certFile != "" {
		r, err := newCertReloader(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get, NextProtos: []string{"h2"}}
		if clientCAFile != "" {
			pemBytes, err := os.ReadFile(clientCAFile)
			if err != nil {
				return nil, fmt.Errorf("xds.clientCAFile: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("xds.clientCAFile %s: no PEM certificates", clientCAFile)
			}
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
		creds = credentials.NewTLS(cfg)
	} else if clientCAFile != "" {
		return nil, fmt.Errorf("xds.clientCAFile needs tls.cert and tls.key: client certificates are only asked for over TLS")
	} else if !isLoopbackAddr(addr) {
		return nil, fmt.Errorf("xDS listen %q: without a TLS certificate xDS is served on loopback only (data planes receive private keys over it); set tls.cert and tls.key", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("xDS listen on %s: %w", addr, err)
	}
	go func() {
		if err := srv.ServeXDS(ln, creds); err != nil {
			log.Error("xDS server stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// isLoopbackAddr reports whether a host:port address names this machine
// only.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopback(host)
}
