package fle_test

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"fmt"
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// Example shows the edge (public key only) and unprotect (private key)
// halves of a round trip.
func Example() {
	priv, _ := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	enc, _ := token.NewHPKEEncrypter("01", priv.PublicKey(), nil)

	engine, _ := fle.New(fle.Config{
		Rules: []fle.Rule{{Name: "people", PathPrefix: "/people", Fields: fle.Fields("ssn"), KeyID: "01"}},
		Keys:  fle.StaticKeys{"01": enc},
	})
	res, _ := engine.Protect(context.Background(), fle.Request{
		Method: "POST", Path: "/people", ContentType: "application/json",
		Body: strings.NewReader(`[{"name":"Alejandro","ssn":"123-45-6789"}]`),
	})
	fmt.Println(strings.HasPrefix(string(res.Body), `[{"name":"Alejandro","ssn":"#01:h1#`))

	u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: token.LocalKeys{HPKE: map[string]hpke.PrivateKey{"01": priv}}})
	back, _, _ := u.JSON(context.Background(), res.Body)
	fmt.Println(string(back))
	// Output:
	// true
	// [{"name":"Alejandro","ssn":"123-45-6789"}]
}
