package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// startEcho runs a line-echo TCP server, a stand-in for a non-HTTP app.
func startEcho(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTCPListenerWithMTLS runs a virtual node whose listener is plain TCP
// behind STRICT mutual TLS: the sidecar terminates TLS, checks the client
// certificate, splices the stream to the app, and counts the handshake.
func TestTCPListenerWithMTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := newCA(t, "teller-ca", "ecdsa"), newCA(t, "gateway-ca", "ecdsa")
	server := serverCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "db.mesh.local")
	client := clientCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "gateway.mesh.local")
	stranger := serverCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "gateway.mesh.local")
	files := map[string][]byte{"server.pem": server.certPEM, "server.key": server.keyPEM, "trust.pem": clientCA.pem}
	for name, data := range files {
		writeAtomic(t, filepath.Join(dir, name), data)
	}
	port := startEcho(t)
	node := spec.VirtualNodeSpec{
		Listeners: []spec.Listener{{
			PortMapping: &spec.PortMapping{Port: port, Protocol: spec.ProtocolTCP},
			TLS: &spec.ListenerTLS{Mode: "STRICT",
				Certificate: &spec.ListenerTLSCertificate{File: &spec.FileCertificate{CertificateChain: filepath.Join(dir, "server.pem"), PrivateKey: filepath.Join(dir, "server.key")}},
				Validation: &spec.ListenerTLSValidationContext{Trust: &spec.TrustContext{File: &spec.FileTrust{CertificateChain: filepath.Join(dir, "trust.pem")}},
					SubjectAlternativeNames: &spec.SubjectAlternativeNames{Match: &spec.SANMatchers{Exact: []string{"gateway.mesh.local"}}}},
			},
		}},
		ServiceDiscovery: &spec.ServiceDiscovery{DNS: &spec.DNSDiscovery{Hostname: "db.mesh.local"}},
	}
	p, err := New(Config{
		Snapshot: &spec.Snapshot{MeshName: "m", VirtualNode: &spec.NamedVirtualNode{Name: "db", Spec: node}},
		Logger:   discard(), PollInterval: 20 * time.Millisecond,
		Settings: spec.ProxySettings{AdminAddress: "127.0.0.1:0", Listeners: []spec.ListenerBinding{{Port: port, Address: "127.0.0.1:0"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	(&testMesh{t: t}).run(p)
	addr := p.ListenerAddr(port)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	dial := func(l *leaf) (string, error) {
		cfg := &tls.Config{RootCAs: roots, ServerName: "db.mesh.local", MinVersion: tls.VersionTLS12}
		if l != nil {
			c, err := tls.X509KeyPair(l.certPEM, l.keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "ping\n"); err != nil {
			return "", err
		}
		return bufio.NewReader(conn).ReadString('\n')
	}
	got, err := dial(&client)
	if err != nil || got != "ping\n" {
		t.Fatalf("echo through the TCP listener: %q, %v", got, err)
	}
	prefix := "listener." + strings.ReplaceAll(addr, ":", "_") + "."
	if n := p.Stats().Counter(prefix + "ssl.handshake").Value(); n != 1 {
		t.Errorf("ssl.handshake = %d, want 1", n)
	}
	if n := p.Stats().Counter(prefix + "ssl.no_certificate").Value(); n != 0 {
		t.Errorf("ssl.no_certificate = %d, want 0 (mTLS)", n)
	}
	// Without a certificate, or with one from the wrong CA, nothing reaches
	// the app: TLS 1.3 reports the refusal on the first read.
	for name, l := range map[string]*leaf{"no certificate": nil, "wrong CA": &stranger} {
		if got, err := dial(l); err == nil {
			t.Errorf("%s: the stream was spliced (%q)", name, got)
		}
	}
	if n := p.Stats().Counter(prefix + "ssl.fail_verify_no_cert").Value(); n != 1 {
		t.Errorf("ssl.fail_verify_no_cert = %d, want 1", n)
	}
	if n := p.Stats().Counter(prefix + "ssl.fail_verify_error").Value(); n != 1 {
		t.Errorf("ssl.fail_verify_error = %d, want 1", n)
	}
	// The echo app saw the client's end of stream through the splice and
	// closed its side, so no spliced connection is left open.
	testwait.For(t, 0, "the condition", func() bool { return p.Stats().Gauge(prefix+"downstream_cx_active").Value() == 0 })
}
