package xds

import (
	"fmt"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// envoyListenerStatPrefix is the scope Envoy gives a listener's stats
// (its ssl.* counters included): "listener." + the listener's
// stat_prefix, or when that is empty its address as "IP:port", with ':'
// turned into '_' as Envoy does in every stat name.
func envoyListenerStatPrefix(l *listenerv3.Listener) string {
	p := l.GetStatPrefix()
	if p == "" {
		sa := l.GetAddress().GetSocketAddress()
		p = fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
	}
	return "listener." + strings.ReplaceAll(p, ":", "_") + "."
}

// The seed proves TLS with listener.0.0.0.0_15000.ssl.handshake and
// ssl.no_certificate: the ingress listener must be on 0.0.0.0:15000 with
// no stat_prefix of its own, asking for a client certificate only in mTLS
// (so no_certificate grows with one-way TLS and stays 0 with mTLS), and
// the egress listener on 0.0.0.0:15001, as App Mesh's were.
func TestIngressListenerStatsAsSeed(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"one-way", "mtls"} {
		t.Run(mode, func(t *testing.T) {
			found := 0
			for _, snap := range map[string]func() *Resources{
				"colorteller":  func() *Resources { r, err := Translate(colorTellerSnapshot(t, mode)); must(t, err); return r },
				"colorgateway": func() *Resources { r, err := Translate(colorGatewaySnapshot(t, mode)); must(t, err); return r },
			} {
				res := snap()
				var ingress, egress *listenerv3.Listener
				for _, l := range res.Listeners {
					switch l.Name {
					case "lds_ingress_0.0.0.0_15000":
						ingress = l
					case "lds_egress_0.0.0.0_15001":
						egress = l
					}
				}
				if egress != nil && envoyListenerStatPrefix(egress) != "listener.0.0.0.0_15001." {
					t.Errorf("egress listener stats under %q", envoyListenerStatPrefix(egress))
				}
				if ingress == nil {
					// The gateway of the Color App listens on its own port.
					continue
				}
				found++
				if got := envoyListenerStatPrefix(ingress); got != "listener.0.0.0.0_15000." {
					t.Fatalf("the ingress listener's stats are under %q, so the seed's listener.0.0.0.0_15000.ssl.handshake would read 0", got)
				}
				tlsChains := 0
				for _, fc := range ingress.FilterChains {
					ts := fc.GetTransportSocket()
					if ts == nil {
						continue
					}
					ctx := &tlsv3.DownstreamTlsContext{}
					must(t, ts.GetTypedConfig().UnmarshalTo(ctx))
					tlsChains++
					if want := mode == "mtls"; ctx.GetRequireClientCertificate().GetValue() != want {
						t.Errorf("%s: require_client_certificate = %v, want %v", mode, ctx.GetRequireClientCertificate().GetValue(), want)
					}
				}
				if tlsChains == 0 {
					t.Fatal("the ingress listener terminates no TLS")
				}
			}
			if found == 0 {
				t.Fatal("no lds_ingress_0.0.0.0_15000 listener in the Color App's translation")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
