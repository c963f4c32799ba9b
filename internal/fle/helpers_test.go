package fle

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// seedPeople renders the seed's sample payload shape: a JSON array of
// people with fname, lname, email, ssn, dob and phone, plus non-sensitive
// fields whose formatting must survive.
func seedPeople(n int) []byte {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"fname": "Alejandro%d", "lname": "Rosalez", "email": "alejandro%d@example.com", "ssn": "123-45-%04d", "dob": "1970-01-%02d", "phone": "+1 555 010 %04d", "id" : %d, "score": 1.50e2, "vip":true, "notes": null}`,
			i, i, 1000+i, 1+i%28, i, i)
	}
	b.WriteString("\n]\n")
	return []byte(b.String())
}

var seedFields = []string{"fname", "lname", "email", "ssn", "dob", "phone"}

type testKeySet struct {
	rsa   *rsa.PrivateKey
	rsa2  *rsa.PrivateKey
	x     hpke.PrivateKey
	pq    hpke.PrivateKey
	local token.LocalKeys
	keys  StaticKeys
}

var (
	keysOnce sync.Once
	keySet   *testKeySet
)

// testKeys: "01" RSA-2048 (seed), "02" second RSA key, "03" HPKE X25519,
// "04" HPKE ML-KEM-768+X25519.
func testKeys(tb testing.TB) *testKeySet {
	tb.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		k := &testKeySet{}
		var err error
		k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		k.x, err = hpke.DHKEM(ecdh.X25519()).GenerateKey()
		must(err)
		k.pq, err = hpke.MLKEM768X25519().GenerateKey()
		must(err)
		k.local = token.LocalKeys{
			RSA:  map[string]*rsa.PrivateKey{"01": k.rsa, "02": k.rsa2},
			HPKE: map[string]hpke.PrivateKey{"03": k.x, "04": k.pq},
		}
		e1, err := token.NewRSAEncrypter("01", &k.rsa.PublicKey, nil)
		must(err)
		e2, err := token.NewRSAEncrypter("02", &k.rsa2.PublicKey, nil)
		must(err)
		e3, err := token.NewHPKEEncrypter("03", k.x.PublicKey(), nil)
		must(err)
		e4, err := token.NewHPKEEncrypter("04", k.pq.PublicKey(), nil)
		must(err)
		k.keys = StaticKeys{"01": e1, "02": e2, "03": e3, "04": e4}
		keySet = k
	})
	return keySet
}

func newEngine(tb testing.TB, rules ...Rule) *Engine {
	tb.Helper()
	e, err := New(Config{Rules: rules, Keys: testKeys(tb).keys})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func protect(tb testing.TB, e *Engine, ct string, body []byte) Result {
	tb.Helper()
	res, err := e.Protect(context.Background(), Request{Method: "POST", Host: "api.example.com", Path: "/people", ContentType: ct, Body: strings.NewReader(string(body))})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}
