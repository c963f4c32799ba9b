package pkcs8_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/bulwarkd/bulwark/internal/pkcs8"
)

// FuzzDecrypt feeds arbitrary DER to the reader: it must never panic, and
// anything it accepts must be a usable key.
func FuzzDecrypt(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, err := pkcs8.Encrypt(rand.Reader, key, []byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("pw"))
	f.Add(good, []byte("nope"))
	f.Add(good[:40], []byte("pw"))
	f.Add([]byte{0x30, 0x00}, []byte(""))
	f.Fuzz(func(t *testing.T, der, pass []byte) {
		k, err := pkcs8.Decrypt(der, pass)
		if err == nil && k == nil {
			t.Fatal("nil key without error")
		}
	})
}
