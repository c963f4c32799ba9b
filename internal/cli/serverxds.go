package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/bulwarkd/bulwark/internal/server"
)

// startXDS opens the xDS listener and serves the aggregated discovery
// service on it until the server shuts down. Without a certificate it
// serves plaintext HTTP/2, which it allows on loopback only: a data
// plane's configuration carries its private keys.
func startXDS(srv *server.Server, addr, certFile, keyFile string, log *slog.Logger) (net.Addr, error) {
	var creds credentials.TransportCredentials
	if certFile != "" {
		r, err := newCertReloader(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get, NextProtos: []string{"h2"}})
	} else if !isLoopback(addr) {
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

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
