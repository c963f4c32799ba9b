package tlsconf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

func issue(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, ca bool) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return c, k, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

func reloader(t *testing.T, name string, cert, key, trust []byte) *certsource.Reloader {
	t.Helper()
	m, err := certsource.Parse(cert, key, trust)
	if err != nil {
		t.Fatal(err)
	}
	r := certsource.NewReloader(certsource.ReloaderConfig{Name: name, Source: certsource.Static{M: m}, PollInterval: -1})
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSANCheckedOnResumedSession proves authorisation runs on resumed
// sessions: after the allowed SANs change (ticket keys kept on purpose),
// a client that resumes — and offers no certificate at all, so only the
// ticket's identity can be checked — is refused with fail_verify_san.
func TestSANCheckedOnResumedSession(t *testing.T) {
	ca, caKey, caPEM, _ := issue(t, nil, nil, "ca", true)
	_, _, srvPEM, srvKey := issue(t, ca, caKey, "server", false)
	_, _, cliPEM, cliKey := issue(t, ca, caKey, "client-a", false)
	st := stats.NewStore()
	ssl := stats.NewSSL(st, "listener.test_1.")
	cfg := ServerConfig{Cert: reloader(t, "srv", srvPEM, srvKey, nil), Trust: reloader(t, "trust", nil, nil, caPEM), SANs: []string{"client-a"}, SSL: ssl}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("x"))
					buf := make([]byte, 1)
					_, _ = c.Read(buf)
				}
			}()
		}
	}()
	cliCert, _ := tls.X509KeyPair(cliPEM, cliKey)
	present := true
	ccfg := &tls.Config{
		InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(4),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if present {
				return &cliCert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	dial := func() (bool, error) {
		c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
		if err != nil {
			return false, err
		}
		defer c.Close()
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil { // reads the ticket, or the refusal alert
			return false, err
		}
		return c.ConnectionState().DidResume, nil
	}
	for _, tc := range []struct {
		name       string
		setup      func()
		wantResume bool
		wantErr    bool
	}{
		{"full handshake", func() {}, false, false},
		{"resumed", func() { present = false }, true, false},
		{"SAN removed, resumption refused", func() {
			cfg.SANs = []string{"client-b"}
			s.inner.Store(s.build(cfg))
			s.mu.Lock()
			s.install() // keep the old keys: the ticket stays decryptable
			s.mu.Unlock()
		}, false, true},
	} {
		tc.setup()
		resumed, err := dial()
		if (err != nil) != tc.wantErr || resumed != tc.wantResume {
			t.Errorf("%s: resumed=%v err=%v, want resumed=%v err=%v", tc.name, resumed, err, tc.wantResume, tc.wantErr)
		}
	}
	if ssl.SessionReused.Value() != 1 || ssl.FailVerifySAN.Value() != 1 || ssl.FailVerifyNoCert.Value() != 0 {
		t.Errorf("session_reused=%d fail_verify_san=%d fail_verify_no_cert=%d, want 1 1 0",
			ssl.SessionReused.Value(), ssl.FailVerifySAN.Value(), ssl.FailVerifyNoCert.Value())
	}
	_ = net.ErrClosed
}

func TestStrongCipherSuitesOnly(t *testing.T) {
	for _, id := range StrongCipherSuites {
		for _, in := range tls.InsecureCipherSuites() {
			if in.ID == id {
				t.Errorf("insecure suite %s allowed", in.Name)
			}
		}
	}
}
