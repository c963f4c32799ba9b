package proxy

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkHop measures client → gateway → (mTLS) → sidecar → app against
// client → app directly; the difference is two proxy hops. Run with
// -count 6 and compare with benchstat.
func BenchmarkHop(b *testing.B) {
	for _, alg := range []string{"ecdsa", "rsa"} {
		for _, mode := range []struct {
			name      string
			keepAlive bool
		}{{"keepalive", true}, {"newconn", false}} {
			b.Run(alg+"/"+mode.name, func(b *testing.B) {
				m := startMesh(b, meshOpts{alg: alg, mode: "STRICT", mtls: true, clientTLS: true, clientCert: true})
				tr := &http.Transport{DisableKeepAlives: !mode.keepAlive, MaxIdleConnsPerHost: 64}
				if !mode.keepAlive {
					// A new connection per request at every hop: full handshakes.
					m.gateway.mu.Lock()
					for _, c := range m.gateway.clusters {
						c.tr.DisableKeepAlives = true
					}
					m.gateway.mu.Unlock()
				}
				c := &http.Client{Transport: tr}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					resp, err := c.Get(m.gwURL + "/")
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		}
	}
	b.Run("direct", func(b *testing.B) {
		addr := startApp(b)
		c := &http.Client{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			resp, err := c.Get("http://" + addr + "/")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
