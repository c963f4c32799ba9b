package xds

import (
	"strings"
	"testing"
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
