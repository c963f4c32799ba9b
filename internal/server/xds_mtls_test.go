package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

type testPKI struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newTestPKI(t *testing.T, cn string) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testPKI{key: key, cert: c}
}

func (p *testPKI) leaf(t *testing.T, dns string, uris ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dns}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if dns != "" {
		tmpl.DNSNames = []string{dns}
	}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestXDSClientCertificateAuthentication: an unsigned stream is accepted
// for exactly the node its verified client certificate names (URI SAN =
// ARN); another node, or no certificate, is refused.
func TestXDSClientCertificateAuthentication(t *testing.T) {
	t.Parallel()
	e := startXDSEnvNoListener(t)
	pki := newTestPKI(t, "xds test CA")
	pool := x509.NewCertPool()
	pool.AddCert(pki.cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCreds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pki.leaf(t, "localhost")},
		ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven})
	go func() { _ = e.srv.ServeXDS(ln, serverCreds) }()
	cases := []struct {
		name   string
		client []tls.Certificate
		code   codes.Code
	}{
		{"certificate naming the node", []tls.Certificate{pki.leaf(t, "", e.nodeARN)}, codes.OK},
		{"certificate naming another node", []tls.Certificate{pki.leaf(t, "", "arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualNode/other")}, codes.Unauthenticated},
		{"certificate naming nothing", []tls.Certificate{pki.leaf(t, "colorteller.mesh.local")}, codes.Unauthenticated},
		{"no certificate", nil, codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: tc.client})
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: e.nodeARN}, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatal(err)
			}
			_, err = st.Recv()
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
}
