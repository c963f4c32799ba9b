package launch_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/launch"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writePKI writes a CA and a leaf for san into dir: ca.pem, NAME.pem,
// NAME.key.
func writePKI(t *testing.T, dir, name, san string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: san}, DNSNames: []string{san},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	for file, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, name + ".pem": {Type: "CERTIFICATE", Bytes: der}, name + ".key": {Type: "PRIVATE KEY", Bytes: kd},
	} {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// app is a ColorTeller that speaks HTTP/1.1 and h2c, records the protocol
// of the last request and answers gRPC-style requests with trailers.
type app struct {
	color string
	addr  string
	port  int
	mu    sync.Mutex
	proto string
}

func (a *app) lastProto() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proto
}

func startApp(t *testing.T, color string) *app {
	t.Helper()
	a := &app{color: color}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.proto = r.Proto
		a.mu.Unlock()
		if r.Header.Get("Content-Type") == "application/grpc" {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
			_, _ = io.WriteString(w, a.color)
			w.Header().Set("Grpc-Status", "0")
			w.Header().Set("Grpc-Message", "ok "+a.color)
			return
		}
		_, _ = io.WriteString(w, a.color)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	a.addr = ln.Addr().String()
	_, p, _ := net.SplitHostPort(a.addr)
	a.port, _ = strconv.Atoi(p)
	return a
}

// start runs launch.Run in the background and returns the live proxy.
func start(t *testing.T, o launch.Options) *proxy.Proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *proxy.Proxy, 1)
	done := make(chan error, 1)
	o.Started = func(p *proxy.Proxy) { got <- p }
	if o.Logger == nil {
		o.Logger = quiet()
	}
	go func() { done <- launch.Run(ctx, o) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case p := <-got:
		testwait.For(t, 5*time.Second, "the condition", func() bool { return p.State() == "LIVE" })
		return p
	case err := <-done:
		t.Fatalf("launch.Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not start")
	}
	return nil
}
