package proxy

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
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

// BenchmarkParseRequestHead measures the forwarding path's head reader
// and parser on a browser-sized request.
func BenchmarkParseRequestHead(b *testing.B) {
	raw := "GET /api/v1/colors?x=1 HTTP/1.1\r\nHost: colorgateway.mesh.local\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Connection: keep-alive\r\nCookie: session=0123456789abcdef\r\n\r\n"
	sr := strings.NewReader(raw)
	br := bufio.NewReader(sr)
	var buf []byte
	var h h1Head
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		sr.Reset(raw)
		br.Reset(sr)
		s, nb, err := readHead(br, buf)
		buf = nb
		if err != nil {
			b.Fatal(err)
		}
		if err := parseRequestHead(s, &h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshakeSign measures the signature a full TLS 1.3 handshake
// costs the server with each certificate kind (RSA-PSS with SHA-256 for
// RSA-2048, ECDSA P-256 with SHA-256), with Go's crypto: bench/mesh.sh
// runs it next to `openssl speed` so the RSA full-handshake gap against
// nginx and HAProxy can be read as Go's RSA against OpenSSL's.
func BenchmarkHandshakeSign(b *testing.B) {
	digest := sha256.Sum256([]byte("handshake transcript"))
	b.Run("rsa2048-pss", func(b *testing.B) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		for b.Loop() {
			if _, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ecdsa-p256", func(b *testing.B) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, k, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
