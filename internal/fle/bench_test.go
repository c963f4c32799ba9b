package fle

import (
	"context"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

var benchKeys = []struct{ name, id string }{
	{"rsa-oaep-256", "01"},
	{"hpke-x25519", "03"},
	{"hpke-mlkem768x25519", "04"},
}

// BenchmarkProtect measures the whole engine on the seed payload; the
// fields/op metric lets ns/field be compared with BenchmarkRawCipher.
func BenchmarkProtect(b *testing.B) {
	for _, k := range benchKeys {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/people=%d", k.name, n), func(b *testing.B) {
				e := newEngine(b, Rule{Fields: Fields(seedFields...), KeyID: k.id})
				body := seedPeople(n)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Protect(context.Background(), Request{Method: "POST", Path: "/", ContentType: "application/json", Body: strings.NewReader(string(body))}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6*n), "ns/field")
			})
		}
	}
}

// BenchmarkRawCipher is the floor: one seal of a seed-sized value with no
// parsing, encoding or marker.
func BenchmarkRawCipher(b *testing.B) {
	ks := testKeys(b)
	pt := []byte("alejandro@example.com")
	b.Run("rsa-oaep-256", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &ks.rsa.PublicKey, pt, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name string
		pub  hpke.PublicKey
	}{{"hpke-x25519", ks.x.PublicKey()}, {"hpke-mlkem768x25519", ks.pq.PublicKey()}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := hpke.Seal(c.pub, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("info"), pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPassThrough: a matched rule whose selectors hit nothing, i.e.
// the cost of validating and scanning 100 people.
func BenchmarkPassThrough(b *testing.B) {
	e := newEngine(b, Rule{Fields: Fields("nothing"), KeyID: "01"})
	body := seedPeople(100)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := e.Protect(context.Background(), Request{Method: "POST", Path: "/", ContentType: "application/json", Body: strings.NewReader(string(body))}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnprotect reports tokens/s with local keys (the KMS round trip
// is not included); compare rsa with hpke for the decrypt ratio.
func BenchmarkUnprotect(b *testing.B) {
	ks := testKeys(b)
	for _, k := range benchKeys {
		b.Run(k.name, func(b *testing.B) {
			e := newEngine(b, Rule{Fields: Fields(seedFields...), KeyID: k.id})
			res, err := e.Protect(context.Background(), Request{Method: "POST", Path: "/", ContentType: "application/json", Body: strings.NewReader(string(seedPeople(20)))})
			if err != nil {
				b.Fatal(err)
			}
			u := NewUnprotector(UnprotectOptions{Decrypter: ks.local, Concurrency: 1})
			for b.Loop() {
				if _, _, err := u.Text(context.Background(), res.Body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*120)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
