package xds

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	"google.golang.org/protobuf/proto"
)

func TestBootstrap(t *testing.T) {
	t.Parallel()
	ok := []BootstrapOptions{
		{ResourceARN: tellerARN, XDSAddress: "bulwark:15010", CAFile: "/ca.pem"},
		{ResourceARN: tellerARN, XDSAddress: "bulwark:15010", Auth: AuthMTLS, ClientCertFile: "/c.pem", ClientKeyFile: "/k.pem"},
		{ResourceARN: tellerARN, XDSAddress: "127.0.0.1:15010", Auth: AuthNone, Plaintext: true},
		{ResourceARN: "arn:aws:appmesh:eu-west-1:123456789012:mesh/m/virtualGateway/gw", XDSAddress: "[::1]:15010", Auth: AuthNone},
	}
	for _, o := range ok {
		b, err := Bootstrap(o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if b.Node.Id != o.ResourceARN || b.Node.Cluster != o.ResourceARN {
			t.Errorf("node %v", b.Node)
		}
		// The stats sink reports cumulative counters to the management
		// server over the ADS stream's gRPC service.
		if len(b.StatsSinks) != 1 || b.StatsSinks[0].Name != "envoy.stat_sinks.metrics_service" || b.StatsFlushInterval.AsDuration() != DefaultStatsFlushInterval {
			t.Fatalf("stats sinks %v every %v", b.StatsSinks, b.StatsFlushInterval)
		}
		ms := &metricsv3.MetricsServiceConfig{}
		if err := b.StatsSinks[0].GetTypedConfig().UnmarshalTo(ms); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(ms.GrpcService, b.DynamicResources.AdsConfig.GrpcServices[0]) || ms.TransportApiVersion != corev3.ApiVersion_V3 || ms.GetReportCountersAsDeltas().GetValue() {
			t.Errorf("metrics service config %v", ms)
		}
	}
	if b, err := Bootstrap(BootstrapOptions{ResourceARN: tellerARN, XDSAddress: "x:1", Auth: AuthNone, StatsFlushInterval: -time.Second}); err != nil || len(b.StatsSinks) != 0 || b.StatsFlushInterval != nil {
		t.Errorf("a negative interval must leave the sink out: %v, %v", err, b)
	}
	bad := map[string]BootstrapOptions{
		"not an ARN":           {ResourceARN: "mesh/m/virtualNode/n", XDSAddress: "x:1"},
		"a virtual router ARN": {ResourceARN: "arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualRouter/r", XDSAddress: "x:1"},
		"no port":              {ResourceARN: tellerARN, XDSAddress: "bulwark"},
		"sigv4 over plaintext": {ResourceARN: tellerARN, XDSAddress: "x:1", Plaintext: true},
		"mtls without a key":   {ResourceARN: tellerARN, XDSAddress: "x:1", Auth: AuthMTLS, ClientCertFile: "/c.pem"},
		"unknown auth":         {ResourceARN: tellerARN, XDSAddress: "x:1", Auth: "basic"},
		"port out of range":    {ResourceARN: tellerARN, XDSAddress: "x:70000"},
	}
	for name, o := range bad {
		if _, err := Bootstrap(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "panic") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
