package cli

import (
	"log/slog"
	"strings"
	"testing"
)

// Plaintext xDS carries private keys (SDS), so without a TLS certificate
// it is served on loopback only; the refusal comes before anything
// listens (so no server is needed to check it).
func TestStartXDSPlaintextOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	cases := []struct {
		name, addr, clientCA, want string
	}{
		{"all interfaces", ":15010", "", "loopback only"},
		{"IPv4 wildcard", "0.0.0.0:15010", "", "loopback only"},
		{"IPv6 wildcard", "[::]:15010", "", "loopback only"},
		{"routable address", "10.0.0.5:15010", "", "loopback only"},
		{"host name", "bulwark.internal:15010", "", "loopback only"},
		{"client CAs without TLS", "127.0.0.1:0", "/etc/ca.pem", "needs tls.cert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := startXDS(nil, tc.addr, "", "", tc.clientCA, log)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("startXDS(%q) = %v, want a refusal saying %q", tc.addr, err, tc.want)
			}
		})
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:15010": true, "[::1]:15010": true, "localhost:15010": true, "127.1.2.3:1": true,
		":15010": false, "0.0.0.0:1": false, "[::]:1": false, "10.0.0.1:1": false, "127.0.0.1": false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
