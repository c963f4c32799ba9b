package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestGatewaySidecarTLS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, alg      string
		mtls           bool
		wantNoCert     string
		wantClusterTLS bool
	}{
		{name: "one-way ECDSA", alg: "ecdsa", wantNoCert: "1"},
		{name: "one-way RSA", alg: "rsa", wantNoCert: "1"},
		{name: "mTLS ECDSA", alg: "ecdsa", mtls: true, wantNoCert: "0"},
		{name: "mTLS RSA", alg: "rsa", mtls: true, wantNoCert: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := startMesh(t, meshOpts{alg: tc.alg, mode: "STRICT", mtls: tc.mtls, clientTLS: true, clientCert: tc.mtls,
				serverSANs: []string{"colorteller.mesh.local"}, clientSANs: []string{"colorgateway.mesh.local"}})
			code, body := m.get("/")
			if code != 200 || body != "yellow" {
				t.Fatalf("got %d %q, want 200 yellow", code, body)
			}
			got := grepStats(t, m.sidecar, "ssl.handshake", "ssl.no_certificate")
			want := []string{m.listenerStat("ssl.handshake: 1"), m.listenerStat("ssl.no_certificate: " + tc.wantNoCert)}
			if !slices.Equal(got, want) {
				t.Errorf("sidecar stats grep = %q, want %q", got, want)
			}
			if v := stat(t, m.gateway, m.clusterStat("ssl.handshake")); v != 1 {
				t.Errorf("gateway cluster ssl.handshake = %d, want 1", v)
			}
			if v := stat(t, m.gateway, m.clusterStat("upstream_rq_200")); v != 1 {
				t.Errorf("gateway upstream_rq_200 = %d, want 1", v)
			}
			if v := stat(t, m.sidecar, m.listenerStat("ssl.versions.TLSv1.3")); v != 1 {
				t.Errorf("ssl.versions.TLSv1.3 = %d, want 1", v)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	otherCA := newCA(t, "rogue-ca", "ecdsa")
	rogue := otherCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "colorgateway.mesh.local")
	revokedCA := newCA(t, "colorgateway-ca", "ecdsa")
	revokedLeaf := revokedCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "colorgateway.mesh.local")
	shortCA := newCA(t, "colorteller-ca", "ecdsa")
	short := shortCA.issue(t, "ecdsa", time.Now().Add(time.Hour), "colorteller.mesh.local")
	for _, tc := range []struct {
		name     string
		opts     meshOpts
		wantCode int
		proxy    string // "sidecar" (listener stat) or "gateway" (cluster stat)
		stat     string
	}{
		{"no client cert vs STRICT mTLS", meshOpts{mode: "STRICT", mtls: true, clientTLS: true}, 503, "sidecar", "ssl.fail_verify_no_cert"},
		{"client cert from untrusted CA", meshOpts{mode: "STRICT", mtls: true, clientTLS: true, clientCert: true, client: &rogue}, 503, "sidecar", "ssl.fail_verify_error"},
		{"client SAN not allowed", meshOpts{mode: "STRICT", mtls: true, clientTLS: true, clientCert: true, clientSANs: []string{"someone-else"}}, 503, "sidecar", "ssl.fail_verify_san"},
		{"server SAN not allowed", meshOpts{mode: "STRICT", clientTLS: true, serverSANs: []string{"colorblue.mesh.local"}}, 503, "gateway", "ssl.fail_verify_san"},
		{"expired server certificate", meshOpts{mode: "STRICT", clientTLS: true, serverCA: shortCA, server: &short,
			gatewayNow: func() time.Time { return time.Now().Add(2 * time.Hour) }}, 503, "gateway", "ssl.fail_verify_error"},
		{"revoked client certificate", meshOpts{mode: "STRICT", mtls: true, clientTLS: true, clientCert: true, clientCA: revokedCA, client: &revokedLeaf,
			clientTrustExtra: revokedCA.crl(t, revokedLeaf.cert)}, 503, "sidecar", "ssl.fail_verify_error"},
		{"plaintext vs STRICT", meshOpts{mode: "STRICT"}, 503, "sidecar", "ssl.connection_error"},
		{"PERMISSIVE accepts plaintext", meshOpts{mode: "PERMISSIVE"}, 200, "sidecar", "downstream_cx_total"},
		{"PERMISSIVE accepts TLS", meshOpts{mode: "PERMISSIVE", clientTLS: true}, 200, "sidecar", "ssl.handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := startMesh(t, tc.opts)
			code, body := m.get("/")
			if code != tc.wantCode {
				t.Fatalf("got %d %q, want %d", code, body, tc.wantCode)
			}
			if tc.wantCode == 200 && body != "yellow" {
				t.Fatalf("body %q", body)
			}
			var v int64
			if tc.proxy == "sidecar" {
				v = stat(t, m.sidecar, m.listenerStat(tc.stat))
			} else {
				v = stat(t, m.gateway, m.clusterStat(tc.stat))
			}
			if v < 1 {
				t.Errorf("%s %s = %d, want >= 1\n%s", tc.proxy, tc.stat, v, adminGet(t, m.sidecar, "/stats"))
			}
			if tc.wantCode != 200 && tc.proxy == "sidecar" && tc.stat != "ssl.connection_error" {
				if v := stat(t, m.sidecar, m.listenerStat("ssl.connection_error")); v != 0 {
					t.Errorf("verification refusal also counted as connection_error (%d)", v)
				}
			}
		})
	}
}

func TestTLSStatsOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOpts{})
	if code, _ := m.get("/"); code != 200 {
		t.Fatalf("code %d", code)
	}
	if got := grepStats(t, m.sidecar, ".ssl."); len(got) != 0 {
		t.Errorf("plaintext listener has TLS stats: %q", got)
	}
	if v := stat(t, m.sidecar, m.listenerStat("downstream_cx_total")); v != 1 {
		t.Errorf("downstream_cx_total = %d", v)
	}
}

func TestResumption(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOpts{mode: "STRICT"})
	cache := tls.NewLRUClientSessionCache(8)
	cfg := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache, ServerName: "colorteller.mesh.local"}
	for i, wantResume := range []bool{false, true} {
		c, err := tls.Dial("tcp", m.scAddr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// TLS 1.3 tickets arrive after the handshake: a round trip reads them.
		req, _ := http.NewRequest("GET", "https://x/", nil)
		_ = req.Write(c)
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		if got := c.ConnectionState().DidResume; got != wantResume {
			t.Errorf("connection %d resumed = %v, want %v", i, got, wantResume)
		}
		c.Close()
	}
	if v := stat(t, m.sidecar, m.listenerStat("ssl.session_reused")); v != 1 {
		t.Errorf("ssl.session_reused = %d, want 1", v)
	}
}

func TestDrainOnExpiry(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "colorteller-ca", "ecdsa")
	notAfter := time.Now().Add(3 * time.Second).Truncate(time.Second)
	short := ca.issue(t, "ecdsa", notAfter, "colorteller.mesh.local")
	m := startMesh(t, meshOpts{mode: "STRICT", serverCA: ca, server: &short, drainWindow: time.Second})
	c, err := tls.Dial("tcp", m.scAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := http.NewRequest("GET", "https://x/", nil)
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "yellow" {
		t.Fatalf("first response %q", body)
	}
	// Idle keep-alive connection: the proxy must close it before NotAfter.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = br.ReadByte()
	closedAt := time.Now()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection still open 10s later")
	}
	if !closedAt.Before(notAfter) {
		t.Errorf("connection closed at %s, after NotAfter %s", closedAt, notAfter)
	}
	if closedAt.Before(notAfter.Add(-time.Second - 200*time.Millisecond)) {
		t.Errorf("connection closed at %s, earlier than the drain window", closedAt)
	}
}

// TestSeedCheckAsWritten runs the seed's exact check on 0.0.0.0:15000
// when that port is free on this machine.
func TestSeedCheckAsWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:15000")
	if err != nil {
		t.Skip("port 15000 busy:", err)
	}
	ln.Close()
	p, err := New(Config{Snapshot: nil})
	if err == nil || p != nil {
		t.Fatal("New accepted a nil snapshot")
	}
	m := startMeshAt(t, "0.0.0.0:15000")
	if code, body := m.get("/"); code != 200 || body != "yellow" {
		t.Fatalf("%d %q", code, body)
	}
	got := grepStats(t, m.sidecar, "ssl.handshake", "ssl.no_certificate")
	want := []string{"listener.0.0.0.0_15000.ssl.handshake: 1", "listener.0.0.0.0_15000.ssl.no_certificate: 1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
