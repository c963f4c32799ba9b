package server

import (
	"testing"

	"github.com/bulwarkd/bulwark/internal/api"
)

// TestXDSPrincipalKeySeparatesContexts: two streams of one access key
// share a certificate decision only when every request-context value a
// policy condition can test is the same.
func TestXDSPrincipalKeySeparatesContexts(t *testing.T) {
	base := api.Call{SourceIP: "10.0.0.1", UserAgent: "envoy", TLS: true}
	base.Principal = api.Principal{ARN: "arn:aws:iam::111122223333:user/envoy", AccessKeyID: "AKIA1"}
	key := func(mod func(c *api.Call)) string {
		c := base
		mod(&c)
		return (&xdsPrincipal{call: c, auth: authSigV4}).Key()
	}
	same := key(func(*api.Call) {})
	for name, mod := range map[string]func(c *api.Call){
		"source ip":  func(c *api.Call) { c.SourceIP = "203.0.113.9" },
		"tls":        func(c *api.Call) { c.TLS = false },
		"user agent": func(c *api.Call) { c.UserAgent = "curl" },
		"access key": func(c *api.Call) { c.Principal.AccessKeyID = "AKIA2" },
	} {
		if key(mod) == same {
			t.Errorf("a different %s shares the snapshot key", name)
		}
	}
	if key(func(*api.Call) {}) != same {
		t.Error("the same context gives a different key")
	}
}
