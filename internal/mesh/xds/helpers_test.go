package xds

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// memMesh is an in-memory Mesh for the package's protocol tests (the
// server package's tests use the real control plane).
type memMesh struct {
	mu    sync.Mutex
	snaps map[string]*spec.Snapshot
	subs  map[int]func(string)
	next  int
}

func newMemMesh() *memMesh {
	return &memMesh{snaps: map[string]*spec.Snapshot{}, subs: map[int]func(string){}}
}

func (m *memMesh) ProxySnapshot(_ context.Context, mesh, kind, name string) (*spec.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.snaps[mesh+"/"+kind+"/"+name]
	if s == nil {
		return nil, errors.New("not found")
	}
	// Hand out a deep copy, as a store read would.
	c := *s
	if s.VirtualNode != nil {
		n := *s.VirtualNode
		n.Spec.Listeners = append([]spec.Listener(nil), n.Spec.Listeners...)
		c.VirtualNode = &n
	}
	return &c, nil
}

func (m *memMesh) Subscribe(fn func(string)) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.next
	m.next++
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.mu.Unlock()
	}
}

func (m *memMesh) put(mesh, kind, name string, s *spec.Snapshot) {
	m.mu.Lock()
	m.snaps[mesh+"/"+kind+"/"+name] = s
	subs := make([]func(string), 0, len(m.subs))
	for _, f := range m.subs {
		subs = append(subs, f)
	}
	m.mu.Unlock()
	for _, f := range subs {
		f(mesh)
	}
}

// memCerts issues certificates from a throwaway CA and can renew them.
type memCerts struct {
	mu     sync.Mutex
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	caPEM  []byte
	certs  map[string][2][]byte
	subs   map[int]func(string)
	next   int
	serial int64
}

func newMemCerts(t testing.TB) *memCerts {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &memCerts{caKey: key, caCert: cert, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), certs: map[string][2][]byte{}, subs: map[int]func(string){}, serial: 1}
}

// issue (re)issues arn for dnsName and notifies subscribers.
func (c *memCerts) issue(t testing.TB, arn, dnsName string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c.mu.Lock()
	c.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(c.serial), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, &key.PublicKey, c.caKey)
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	c.mu.Lock()
	c.certs[arn] = [2][]byte{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
	subs := make([]func(string), 0, len(c.subs))
	for _, f := range c.subs {
		subs = append(subs, f)
	}
	c.mu.Unlock()
	for _, f := range subs {
		f(arn)
	}
}

func (c *memCerts) KeyPair(_ context.Context, arn string) ([]byte, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kp, ok := c.certs[arn]
	if !ok {
		return nil, nil, errors.New("no such certificate")
	}
	return kp[0], kp[1], nil
}

func (c *memCerts) CACertificate(context.Context, string) ([]byte, error) { return c.caPEM, nil }

func (c *memCerts) Subscribe(fn func(string)) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.next
	c.next++
	c.subs[id] = fn
	return func() {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
	}
}

// allowList allows the node ARNs it holds and records every decision.
// Its streams act as certPrincipal: every certificate, unless certs is set.
type allowList struct {
	mu      sync.Mutex
	allowed map[string]bool
	seen    []*StreamRequest
	// certs, when not nil, are the only certificates a stream may have.
	certs map[string]bool
}

func (a *allowList) AuthorizeStream(_ context.Context, r *StreamRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, r)
	if !a.allowed[r.Node.ARN] {
		return errors.New("AccessDeniedException: not allowed to stream " + r.Node.ARN)
	}
	r.Principal = &certPrincipal{key: "test", allowed: a.certs}
	return nil
}

// certPrincipal allows the certificates in allowed (nil: all) and counts
// the decisions it was asked to record.
type certPrincipal struct {
	key     string
	allowed map[string]bool
	mu      sync.Mutex
	records int
}

func (p *certPrincipal) Key() string { return p.key }

func (p *certPrincipal) AuthorizeCertificate(_ context.Context, _ NodeRef, arn string, record bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if record {
		p.records++
	}
	if p.allowed != nil && !p.allowed[arn] {
		return ErrCertificateDenied
	}
	return nil
}

// startXDS serves s on loopback and returns a client connection.
func startXDS(t testing.TB, s *Server) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.NewGRPCServer(nil)
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		g.Stop()
		s.Close()
	})
	return conn
}
