package cli

import (
	"testing"

	"github.com/bulwarkd/bulwark/internal/proxy/launch"
)

// A task definition written for App Mesh's Envoy image sets
// APPMESH_XDS_ENDPOINT and APPMESH_RESOURCE_ARN; bulwark proxy reads them
// the same way, flags first.
func TestProxyReadsAppMeshEnvironment(t *testing.T) {
	const arn = "arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller"
	t.Setenv("APPMESH_XDS_ENDPOINT", "bulwark-xds.internal:15010")
	t.Setenv("APPMESH_RESOURCE_ARN", arn)
	cases := []struct {
		name     string
		in, want launch.Options
	}{
		{"from the environment", launch.Options{}, launch.Options{XDS: "bulwark-xds.internal:15010", NodeID: arn}},
		{"flags win", launch.Options{XDS: "127.0.0.1:1", NodeID: "mesh/m/virtualNode/n"}, launch.Options{XDS: "127.0.0.1:1", NodeID: "mesh/m/virtualNode/n"}},
		{"--mesh names the resource", launch.Options{Mesh: "m", VirtualNode: "n"}, launch.Options{XDS: "bulwark-xds.internal:15010", Mesh: "m", VirtualNode: "n"}},
		{"a local mesh file needs neither", launch.Options{ConfigFile: "mesh.yaml"}, launch.Options{ConfigFile: "mesh.yaml"}},
	}
	for _, tc := range cases {
		o := tc.in
		appMeshEnvDefaults(&o)
		if o.XDS != tc.want.XDS || o.NodeID != tc.want.NodeID || o.Mesh != tc.want.Mesh || o.ConfigFile != tc.want.ConfigFile {
			t.Errorf("%s: xds=%q node=%q mesh=%q config=%q, want %+v", tc.name, o.XDS, o.NodeID, o.Mesh, o.ConfigFile, tc.want)
		}
	}
}
