package edge_test

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

var benchFormats = []struct{ name, spec string }{
	{"rsa-oaep-256", "RSA_2048"},
	{"hpke-x25519", "HPKE_X25519"},
	{"hpke-mlkem768x25519", "HPKE_MLKEM768_X25519"},
}

// benchEnv: a real server with one key per format (markers 01..03), keys
// loaded into a KeySource, and a discarding origin.
func benchEnv(b *testing.B) (*env, *kmskeys.KeySource, kmskeys.KeyMap, *httptest.Server) {
	e := newEnv(b)
	keys := kmskeys.KeyMap{}
	for i, f := range benchFormats {
		id := fmt.Sprintf("%02d", i+1)
		e.key(b, f.spec, "alias/"+f.name)
		keys[id] = "alias/" + f.name
	}
	ks := e.client.KeySource(kmskeys.KeySourceOptions{Keys: keys})
	if err := ks.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)
	return e, ks, keys, sink
}

// timed runs op b.N times and reports requests/s and p50/p99 latency.
func timed(b *testing.B, op func()) []time.Duration {
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		op()
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	return lat
}

func benchPost(b *testing.B, client *http.Client, url string, body []byte) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkEdge measures whole requests through the edge over loopback
// HTTP/1.1: pass-through (no rule matches) and the seed's six fields for 1
// and 100 people per request in each format. ns/field divides the time by
// the fields protected, for comparison with BenchmarkRawCipher.
func BenchmarkEdge(b *testing.B) {
	_, ks, _, sink := benchEnv(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Run("passthrough/people=100", func(b *testing.B) {
		s, _ := startEdge(b, ks, sink.URL, 0, peopleRule("01"))
		body := seedPeople(100)
		b.SetBytes(int64(len(body)))
		timed(b, func() { benchPost(b, client, s.URL+"/elsewhere", body) })
	})
	b.Run("origin-direct/people=100", func(b *testing.B) {
		body := seedPeople(100)
		b.SetBytes(int64(len(body)))
		timed(b, func() { benchPost(b, client, sink.URL+"/people", body) })
	})
	for i, f := range benchFormats {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/people=%d", f.name, n), func(b *testing.B) {
				s, _ := startEdge(b, ks, sink.URL, 0, peopleRule(fmt.Sprintf("%02d", i+1)))
				body := seedPeople(n)
				b.SetBytes(int64(len(body)))
				timed(b, func() { benchPost(b, client, s.URL+"/people", body) })
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6*n), "ns/field")
			})
		}
	}
}

// BenchmarkEngineOnly is the edge's in-process work (parse, protect,
// re-encode) without HTTP, per field.
func BenchmarkEngineOnly(b *testing.B) {
	_, ks, _, _ := benchEnv(b)
	for i, f := range benchFormats {
		b.Run(f.name+"/people=100", func(b *testing.B) {
			eng, err := fle.New(fle.Config{Rules: []fle.Rule{peopleRule(fmt.Sprintf("%02d", i+1))}, Keys: ks})
			if err != nil {
				b.Fatal(err)
			}
			body := seedPeople(100)
			for b.Loop() {
				if _, err := eng.Protect(context.Background(), fle.Request{Method: "POST", Path: "/people", ContentType: "application/json", Body: bytes.NewReader(body)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*600), "ns/field")
		})
	}
}

// BenchmarkRawCipher is the floor per field: one encryption of a
// seed-sized value under the same KMS public keys, with no parsing,
// encoding or marker.
func BenchmarkRawCipher(b *testing.B) {
	e, _, _, _ := benchEnv(b)
	pt := []byte("alejandro@example.com")
	for _, f := range benchFormats {
		out, err := e.kms.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: strPtr("alias/" + f.name)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name, func(b *testing.B) {
			if f.spec == "RSA_2048" {
				pk, err := x509.ParsePKIXPublicKey(out.PublicKey)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.(*rsa.PublicKey), pt, nil); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			pub, err := kmskeys.ParseHPKEPublicKey(f.spec, out.PublicKey)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("info"), pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// perToken hides a decrypter's DecryptBatch, so every token is its own
// KMS call: the path before HPKEOpenBatch, kept for comparison.
type perToken struct{ token.Decrypter }

// BenchmarkUnprotect is tokens/s decrypted through KMS over loopback, 8
// calls in flight, 600 distinct tokens per document: RSA with one Decrypt
// per token, HPKE with HPKEOpenBatch (and, as "per-token", one HPKEOpen
// per token). Every case after the first also reports x-rsa, its rate
// over the RSA rate of the same run (the aim: 10).
func BenchmarkUnprotect(b *testing.B) {
	e, ks, keys, _ := benchEnv(b)
	cases := []struct {
		name, marker string
		batch        bool
	}{
		{"rsa-oaep-256", "01", false},
		{"hpke-x25519/per-token", "02", false},
		{"hpke-x25519/batch", "02", true},
		{"hpke-mlkem768x25519/per-token", "03", false},
		{"hpke-mlkem768x25519/batch", "03", true},
	}
	var rsaRate float64
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			eng, err := fle.New(fle.Config{Rules: []fle.Rule{peopleRule(tc.marker)}, Keys: ks})
			if err != nil {
				b.Fatal(err)
			}
			res, err := eng.Protect(context.Background(), fle.Request{Method: "POST", Path: "/people", ContentType: "application/json", Body: bytes.NewReader(seedPeople(100))})
			if err != nil {
				b.Fatal(err)
			}
			dec := e.client.Decrypter(keys)
			if !tc.batch {
				dec = perToken{dec}
			}
			u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: dec})
			for b.Loop() {
				if _, _, err := u.Text(context.Background(), res.Body); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(b.N*600) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "tokens/s")
			if tc.marker == "01" {
				rsaRate = rate
			} else if rsaRate > 0 {
				b.ReportMetric(rate/rsaRate, "x-rsa")
			}
		})
	}
}
