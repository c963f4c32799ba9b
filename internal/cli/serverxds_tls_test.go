package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// With tls.cert and tls.key the xDS listener speaks TLS (HTTP/2 by ALPN)
// only: a TLS client reaches the aggregated discovery service, a
// plaintext one does not.
func TestStartXDSServesTLS(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "bulwark-xds"}, DNSNames: []string{"bulwark-xds.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "xds.pem"), filepath.Join(dir, "xds.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, err := startXDS(srv.Server, "127.0.0.1:0", certFile, keyFile, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	first := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "arn:aws:appmesh:" + servertest.Region + ":" + servertest.AccountID + ":mesh/m/virtualNode/n"}, TypeUrl: resourcev3.ClusterType}); err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	// Over TLS the server answers: an unsigned stream is refused by the
	// xDS server itself.
	if err := first(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "bulwark-xds.test"})); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("over TLS: got %v, want the xDS server's Unauthenticated", err)
	}
	if err := first(insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext to the TLS listener: got %v, want Unavailable", err)
	}
}
