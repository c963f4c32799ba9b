package proxystatus

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/mesh/xds"
)

func nodeARN(mesh, kind, name string) string {
	return fmt.Sprintf("arn:aws:appmesh:us-east-1:111122223333:mesh/%s/%s/%s", mesh, kind, name)
}

func TestListGroupsSortsAndPages(t *testing.T) {
	t.Parallel()
	a, b, c := nodeARN("m", "virtualNode", "a"), nodeARN("m", "virtualGateway", "b"), nodeARN("m", "virtualNode", "c")
	all := []xds.NodeStatus{
		{NodeID: c, ARN: c, Streams: 1, Version: "v3"},
		{NodeID: a, ARN: a, Streams: 2, Version: "v2", Acked: map[string]string{"t/Listener": "v2", "t/Cluster": "v1"}},
		// The same node under another principal: one proxy, two
		// configurations.
		{NodeID: a, ARN: a, Streams: 1, Version: "v1"},
		{NodeID: b, ARN: b, Streams: 1, Version: "v9"},
		{NodeID: "other", ARN: nodeARN("other", "virtualNode", "a"), Streams: 5},
	}
	tests := []struct {
		name      string
		after     string
		max       int
		want      []string
		wantToken string
	}{
		// ARN order: virtualGateway/b, virtualNode/a, virtualNode/c.
		{"all", "", 100, []string{b, a, c}, ""},
		{"first page", "", 2, []string{b, a}, a},
		{"last page", a, 2, []string{c}, ""},
		{"exact fit has no token", "", 3, []string{b, a, c}, ""},
		{"past the end", c, 2, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := list(all, nil, "m", tc.after, tc.max)
			var got []string
			for _, p := range out.Proxies {
				got = append(got, p.ResourceArn)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("proxies %v, want %v", got, tc.want)
			}
			wantTok := ""
			if tc.wantToken != "" {
				wantTok = base64.RawURLEncoding.EncodeToString([]byte(tc.wantToken))
			}
			if out.NextToken != wantTok {
				t.Errorf("token %q, want %q", out.NextToken, wantTok)
			}
		})
	}
	p := list(all, nil, "m", b, 1).Proxies[0]
	if p.Streams != 3 || len(p.Configurations) != 2 || p.Configurations[0].Version != "v1" || p.Kind != "virtualNode" || p.Name != "a" {
		t.Fatalf("grouped node: %+v", p)
	}
	if acked := p.Configurations[1].Acked; len(acked) != 2 || acked[0].TypeURL != "t/Cluster" || acked[1].Version != "v2" {
		t.Fatalf("acked versions, sorted by type: %+v", acked)
	}
}

func TestCleanMessage(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"
	tests := []struct{ name, in, want string }{
		{"plain", "Unknown cluster 'x'", "Unknown cluster 'x'"},
		{"pem", "bad secret: " + key + " rest", "bad secret: [PEM removed] rest"},
		{"unterminated pem", "oops -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", "oops [PEM removed]"},
		{"long", strings.Repeat("é", 600), strings.Repeat("é", 512) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanMessage(tc.in); got != tc.want {
				t.Errorf("cleanMessage = %q, want %q", got, tc.want)
			}
		})
	}
	n := configurationOf(xds.NodeStatus{LastNACK: &xds.NACK{TypeURL: "t", Message: key, Time: time.Unix(5, 0)}}).LastNack
	if strings.Contains(n.Message, "MIG") {
		t.Fatalf("NACK message keeps key material: %q", n.Message)
	}
}

func TestListAddsReportedCounters(t *testing.T) {
	t.Parallel()
	a, b := nodeARN("m", "virtualNode", "a"), nodeARN("m", "virtualNode", "b")
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	all := []xds.NodeStatus{{NodeID: a, ARN: a, Streams: 1, Version: "v1"}}
	counters := []xds.NodeCounters{
		{NodeID: a, ARN: a, Reporters: 1, UpdatedAt: t1, Listeners: map[string]xds.TLSCounters{"0.0.0.0_15000": {Handshake: 2, NoCertificate: 1, VerifyFailed: 1}}},
		// The short node id of the same resource: its reports add up.
		{NodeID: "mesh/m/virtualNode/a", ARN: a, Reporters: 1, UpdatedAt: t2, Dropped: 3, Listeners: map[string]xds.TLSCounters{"0.0.0.0_15000": {Handshake: 5}}},
		// Reporting without a discovery stream: still listed.
		{NodeID: b, ARN: b, Reporters: 0, UpdatedAt: t1, Listeners: map[string]xds.TLSCounters{"0.0.0.0_80": {Handshake: 1}}},
		{NodeID: "x", ARN: nodeARN("other", "virtualNode", "a"), UpdatedAt: t1, Listeners: map[string]xds.TLSCounters{"x_1": {Handshake: 9}}},
	}
	out := list(all, counters, "m", "", 100)
	if len(out.Proxies) != 2 {
		t.Fatalf("proxies %+v", out.Proxies)
	}
	pa, pb := out.Proxies[0], out.Proxies[1]
	if got := pa.TlsCounters["0.0.0.0_15000"]; got != (tlsCounters{Handshake: 7, NoCertificate: 1, VerifyFailed: 1}) || pa.CounterReporters != 2 || pa.CountersDropped != 3 || !pa.CountersUpdatedAt.Equal(t2) || len(pa.Configurations) != 1 {
		t.Errorf("a: %+v", pa)
	}
	if pb.ResourceArn != b || pb.Streams != 0 || len(pb.Configurations) != 0 || pb.TlsCounters["0.0.0.0_80"].Handshake != 1 {
		t.Errorf("b: %+v", pb)
	}
}
