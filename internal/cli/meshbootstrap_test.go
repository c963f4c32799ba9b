package cli

import (
	"encoding/json"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestMeshBootstrapCommand runs `bulwark mesh bootstrap` as a user would:
// the printed JSON is an Envoy v3 bootstrap that passes go-control-plane's
// validation, names the node as App Mesh's image does, and takes
// everything over ADS from the --xds address (or APPMESH_XDS_ENDPOINT,
// with APPMESH_RESOURCE_ARN for the node, as the image reads them).
func TestMeshBootstrapCommand(t *testing.T) {
	const arn = "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller"
	parse := func(t *testing.T, out string) *bootstrapv3.Bootstrap {
		t.Helper()
		b := &bootstrapv3.Bootstrap{}
		if err := protojson.Unmarshal([]byte(out), b); err != nil {
			t.Fatalf("not an Envoy bootstrap: %v\n%s", err, out)
		}
		if err := b.ValidateAll(); err != nil {
			t.Fatalf("invalid bootstrap: %v", err)
		}
		return b
	}
	target := func(b *bootstrapv3.Bootstrap) string {
		return b.GetDynamicResources().GetAdsConfig().GetGrpcServices()[0].GetGoogleGrpc().GetTargetUri() +
			b.GetDynamicResources().GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	}

	t.Setenv("APPMESH_RESOURCE_ARN", "")
	t.Setenv("APPMESH_XDS_ENDPOINT", "")
	code, out, errs := run("mesh", "bootstrap", "--resource-arn", arn, "--xds", "bulwark.internal:15010", "--ca-file", "/etc/bulwark/ca.pem")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b := parse(t, out)
	if b.Node.GetId() != arn || b.Node.GetCluster() != arn {
		t.Fatalf("node %v", b.Node)
	}
	if !strings.Contains(out, "bulwark.internal") || !strings.Contains(out, "15010") {
		t.Fatalf("the xDS address is not in the bootstrap (ADS service %q)", target(b))
	}
	if !strings.Contains(out, `"signingName": "appmesh"`) && !strings.Contains(out, `"serviceName": "appmesh"`) {
		t.Fatalf("the default --auth sigv4 does not sign under appmesh:\n%s", out)
	}
	if b.GetDynamicResources().GetLdsConfig().GetAds() == nil || b.GetDynamicResources().GetCdsConfig().GetAds() == nil {
		t.Fatal("LDS and CDS are not over ADS")
	}

	if strings.Contains(out, "static_cluster_sds_unix_socket") {
		t.Fatal("an SDS socket cluster without APPMESH_SDS_SOCKET_PATH or --sds-socket")
	}

	// The App Mesh image's environment carries over.
	t.Setenv("APPMESH_RESOURCE_ARN", arn)
	t.Setenv("APPMESH_XDS_ENDPOINT", "from-env.internal:15443")
	t.Setenv("APPMESH_SDS_SOCKET_PATH", "/run/spire/sockets/agent.sock")
	code, out, errs = run("mesh", "bootstrap", "--auth", "none")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b := parse(t, out); b.Node.GetId() != arn || !strings.Contains(out, "from-env.internal") {
		t.Fatalf("APPMESH_RESOURCE_ARN / APPMESH_XDS_ENDPOINT not used:\n%s", out)
	}
	if !strings.Contains(out, "static_cluster_sds_unix_socket") || !strings.Contains(out, "/run/spire/sockets/agent.sock") {
		t.Fatalf("APPMESH_SDS_SOCKET_PATH not used:\n%s", out)
	}
	t.Setenv("APPMESH_SDS_SOCKET_PATH", "")

	// --grpc prints gRPC's bootstrap for the same node.
	code, out, errs = run("mesh", "bootstrap", "--grpc", "--resource-arn", arn, "--xds", "127.0.0.1:15010", "--plaintext")
	if code != 0 {
		t.Fatalf("--grpc: exit %d: %s", code, errs)
	}
	var g struct {
		Node struct {
			ID string `json:"id"`
		} `json:"node"`
		XDSServers []struct {
			ServerURI string `json:"server_uri"`
		} `json:"xds_servers"`
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.Node.ID != arn || len(g.XDSServers) != 1 || g.XDSServers[0].ServerURI != "127.0.0.1:15010" {
		t.Fatalf("--grpc bootstrap %+v (%v):\n%s", g, err, out)
	}

	t.Setenv("APPMESH_RESOURCE_ARN", "")
	for _, args := range [][]string{
		{"mesh", "bootstrap"}, // no resource
		{"mesh", "bootstrap", "--resource-arn", "arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualRouter/r"},
		{"mesh", "bootstrap", "--resource-arn", arn, "--plaintext"}, // a signature over plaintext
	} {
		if code, _, errs := run(args...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, want a refusal", args, code)
		}
	}
}
