package proxy

import (
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

func TestBrokenReloadKeepsOldCertificate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		cert, key func(m *testMesh) []byte
	}{
		{"corrupt PEM", func(*testMesh) []byte {
			return []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
		}, nil},
		{"mismatched key", nil, func(m *testMesh) []byte {
			return m.opts.serverCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "x").keyPEM
		}},
		{"expired certificate", func(m *testMesh) []byte {
			return m.opts.serverCA.issue(t, "ecdsa", time.Now().Add(-time.Minute), "colorteller.mesh.local").certPEM
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := startMesh(t, meshOpts{mode: "STRICT", clientTLS: true})
			serial := m.opts.server.cert.SerialNumber.Text(16)
			failed := m.listenerStat("server_ssl_socket_factory.ssl_context_update_failed")
			if v := stat(t, m.sidecar, failed); v != 0 {
				t.Fatalf("failures before the test: %d", v)
			}
			if tc.cert != nil {
				if err := os.WriteFile(m.files["server.pem"], tc.cert(m), 0o600); err != nil { // in place, not atomic
					t.Fatal(err)
				}
			}
			if tc.key != nil {
				if err := os.WriteFile(m.files["server.key"], tc.key(m), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			testwait.For(t, 0, "the condition", func() bool { return stat(t, m.sidecar, failed) >= 1 })
			if code, body := m.get("/"); code != 200 || body != "yellow" {
				t.Fatalf("after broken reload: %d %q", code, body)
			}
			certs := adminGet(t, m.sidecar, "/certs")
			if !strings.Contains(certs, `"serial_number": "`+serial+`"`) {
				t.Errorf("/certs lost the old serial %s:\n%s", serial, certs)
			}
			// The source's trouble is visible, not only counted.
			if !strings.Contains(certs, `"status": "stale"`) || !strings.Contains(certs, `"last_error": "`) {
				t.Errorf("/certs does not report the failing source:\n%s", certs)
			}
			if v := stat(t, m.sidecar, stats.SourcePrefix("file:"+m.files["server.pem"])+stats.ConsecutiveFailures); v < 1 {
				t.Logf("stats:\n%s", adminGet(t, m.sidecar, "/stats"))
				t.Errorf("consecutive_failures = %d, want >= 1", v)
			}
			if v := stat(t, m.sidecar, m.listenerStat("server_ssl_socket_factory.ssl_context_update_by_sds")); v != 0 {
				t.Errorf("ssl_context_update_by_sds = %d, want 0", v)
			}
		})
	}
}

func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	oldServerCA, oldClientCA := newCA(t, "colorteller-ca-1", "ecdsa"), newCA(t, "colorgateway-ca-1", "ecdsa")
	newServerCA, newClientCA := newCA(t, "colorteller-ca-2", "ecdsa"), newCA(t, "colorgateway-ca-2", "ecdsa")
	m := startMesh(t, meshOpts{mode: "STRICT", mtls: true, clientTLS: true, clientCert: true, serverCA: oldServerCA, clientCA: oldClientCA,
		serverSANs: []string{"colorteller.mesh.local"}, clientSANs: []string{"colorgateway.mesh.local"}})

	var ok, bad atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Half the workers open a new downstream connection per request.
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: w%2 == 1}, Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(m.gwURL + "/")
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "yellow" {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status+" "+string(b))
					continue
				}
				ok.Add(1)
			}
		}(w)
	}

	var lastServer, lastClient leaf
	rotate := func(sca, cca *testCA) {
		lastServer = sca.issue(t, "ecdsa", time.Now().Add(time.Hour), "colorteller.mesh.local")
		lastClient = cca.issue(t, "ecdsa", time.Now().Add(time.Hour), "colorgateway.mesh.local")
		// Key first, then certificate: a poll in between sees a mismatch,
		// refuses it and keeps serving; the next poll takes both.
		writeAtomic(t, m.files["server.key"], lastServer.keyPEM)
		writeAtomic(t, m.files["server.pem"], lastServer.certPEM)
		writeAtomic(t, m.files["client.key"], lastClient.keyPEM)
		writeAtomic(t, m.files["client.pem"], lastClient.certPEM)
		serial := `"serial_number": "`
		testwait.For(t, 0, "the condition", func() bool {
			return strings.Contains(adminGet(t, m.sidecar, "/certs"), serial+lastServer.cert.SerialNumber.Text(16)+`"`) &&
				strings.Contains(adminGet(t, m.gateway, "/certs"), serial+lastClient.cert.SerialNumber.Text(16)+`"`)
		})
		// Churn the gateway's upstream pool so new handshakes happen
		// with the new material while requests are in flight.
		m.gateway.mu.Lock()
		for _, c := range m.gateway.clusters {
			c.close()
		}
		m.gateway.mu.Unlock()
		time.Sleep(30 * time.Millisecond)
	}
	// setTrust writes both trust bundles and waits until the proxies'
	// /certs show every CA in trusted and none in gone (instead of
	// sleeping and hoping a poll has run).
	setTrust := func(s, c []byte, trusted, gone []*testCA) {
		writeAtomic(t, m.files["server-trust.pem"], s)
		writeAtomic(t, m.files["client-trust.pem"], c)
		serial := func(ca *testCA) string { return `"serial_number": "` + ca.cert.SerialNumber.Text(16) + `"` }
		testwait.For(t, 0, "the new trust bundles in /certs", func() bool {
			certs := adminGet(t, m.sidecar, "/certs") + adminGet(t, m.gateway, "/certs")
			for _, ca := range trusted {
				if !strings.Contains(certs, serial(ca)) {
					return false
				}
			}
			for _, ca := range gone {
				if strings.Contains(certs, serial(ca)) {
					return false
				}
			}
			return true
		})
	}
	for i := 0; i < 3; i++ {
		rotate(oldServerCA, oldClientCA)
	}
	setTrust(cat(oldServerCA.pem, newServerCA.pem), cat(oldClientCA.pem, newClientCA.pem), []*testCA{oldServerCA, newServerCA, oldClientCA, newClientCA}, nil)
	for i := 3; i < 10; i++ {
		rotate(newServerCA, newClientCA)
	}
	setTrust(newServerCA.pem, newClientCA.pem, []*testCA{newServerCA, newClientCA}, []*testCA{oldServerCA, oldClientCA})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	if bad.Load() != 0 {
		t.Errorf("%d of %d requests failed; first: %v", bad.Load(), bad.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() < 50 {
		t.Errorf("only %d requests succeeded", ok.Load())
	}
	// After the trust is new-only, a fresh connection must still work.
	if code, body := m.get("/"); code != 200 || body != "yellow" {
		t.Errorf("after rotation: %d %q", code, body)
	}
	if v := stat(t, m.sidecar, m.listenerStat("server_ssl_socket_factory.ssl_context_update_by_sds")); v < 11 {
		t.Errorf("sidecar ssl_context_update_by_sds = %d, want >= 11", v)
	}
	if v := stat(t, m.sidecar, m.listenerStat("ssl.handshake")); v < 10 {
		t.Errorf("sidecar ssl.handshake = %d: rotation did not exercise new handshakes", v)
	}
	t.Logf("%d requests, 0 failed", ok.Load())
}
