package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// meshCLI runs `aws appmesh ARGS` against p as root and decodes its JSON
// output, failing the test if the CLI fails.
func meshCLI(t *testing.T, p *proc, args ...string) map[string]any {
	t.Helper()
	out, stderr, err := runMeshCLI(t, p, args...)
	if err != nil {
		t.Fatalf("aws appmesh %v: %v\n%s", args, err, stderr)
	}
	return out
}

// runMeshCLI runs `aws appmesh ARGS` and returns its decoded output, or
// what it printed and the error.
func runMeshCLI(t *testing.T, p *proc, args ...string) (map[string]any, string, error) {
	t.Helper()
	text, err := awsCLI(t, p, append([]string{"appmesh"}, args...)...)
	if err != nil {
		return nil, text, err
	}
	out := map[string]any{}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return nil, text, err
	}
	return out, "", nil
}

func readJSONFile(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestWalkthroughSpecsWithCLI creates the Color App's mesh for both of
// the seed's set-ups (examples/colorapp/mesh/one-way and mtls) with the
// AWS CLI and its --spec file:// arguments, reads every spec back
// unchanged, and checks that what a proxy would load from it validates
// as the data plane's snapshot.
//
// It lives here rather than beside the control plane because every CLI
// call starts a Python interpreter (some 4 s each on a loaded machine,
// 87 s in all), which `go test ./internal/...` should not pay.
func TestWalkthroughSpecsWithCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	if os.Getenv("BULWARK_SLOW_TESTS") != "1" {
		t.Skip("about twenty AWS CLI runs (over a minute): set BULWARK_SLOW_TESTS=1 to run it")
	}
	srv := startDev(t, t.TempDir())
	for _, set := range []string{"one-way", "mtls"} {
		t.Run(set, func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join("..", "examples", "colorapp", "mesh", set))
			if err != nil {
				t.Fatal(err)
			}
			file := func(name string) string { return "file://" + filepath.Join(dir, name) }
			mesh := "color-mesh-" + set
			meshCLI(t, srv, "create-mesh", "--mesh-name", mesh, "--spec", file("mesh.json"))
			node := meshCLI(t, srv, "create-virtual-node", "--mesh-name", mesh, "--virtual-node-name", "colorteller", "--spec", file("colorteller-node.json"))
			meshCLI(t, srv, "create-virtual-service", "--mesh-name", mesh, "--virtual-service-name", "colorteller.mesh.local", "--spec", file("colorteller-service.json"))
			gw := meshCLI(t, srv, "create-virtual-gateway", "--mesh-name", mesh, "--virtual-gateway-name", "colorgateway", "--spec", file("colorgateway-gateway.json"))
			route := meshCLI(t, srv, "create-gateway-route", "--mesh-name", mesh, "--virtual-gateway-name", "colorgateway", "--gateway-route-name", "colorteller-route", "--spec", file("colorgateway-route.json"))

			for _, c := range []struct {
				out    map[string]any
				member string
				file   string
			}{{node, "virtualNode", "colorteller-node.json"}, {gw, "virtualGateway", "colorgateway-gateway.json"}, {route, "gatewayRoute", "colorgateway-route.json"}} {
				got := c.out[c.member].(map[string]any)["spec"]
				if want := readJSONFile(t, filepath.Join(dir, c.file)); !reflect.DeepEqual(got, want) {
					t.Errorf("%s spec read back as\n%v\nwant\n%v", c.member, got, want)
				}
			}

			// An update through the CLI moves the version the proxies poll.
			upd := meshCLI(t, srv, "update-virtual-node", "--mesh-name", mesh, "--virtual-node-name", "colorteller", "--spec", file("colorteller-node.json"))
			if v := upd["virtualNode"].(map[string]any)["metadata"].(map[string]any)["version"]; v != float64(2) {
				t.Errorf("version after update-virtual-node: %v", v)
			}
			list := meshCLI(t, srv, "list-virtual-nodes", "--mesh-name", mesh)
			if n := len(list["virtualNodes"].([]any)); n != 1 {
				t.Errorf("list-virtual-nodes: %d nodes", n)
			}

			// What the control plane now holds is a valid data-plane
			// snapshot for the gateway.
			snap := spec.Snapshot{MeshName: mesh}
			decode := func(v map[string]any, member string, into any) {
				b, _ := json.Marshal(v[member].(map[string]any)["spec"])
				if err := json.Unmarshal(b, into); err != nil {
					t.Fatalf("%s spec: %v", member, err)
				}
			}
			snap.VirtualGateway = &spec.NamedVirtualGateway{Name: "colorgateway"}
			decode(gw, "virtualGateway", &snap.VirtualGateway.Spec)
			gr := spec.NamedGatewayRoute{Name: "colorteller-route"}
			decode(route, "gatewayRoute", &gr.Spec)
			snap.GatewayRoutes = []spec.NamedGatewayRoute{gr}
			vs := meshCLI(t, srv, "describe-virtual-service", "--mesh-name", mesh, "--virtual-service-name", "colorteller.mesh.local")
			nvs := spec.NamedVirtualService{Name: "colorteller.mesh.local"}
			decode(vs, "virtualService", &nvs.Spec)
			snap.VirtualServices = []spec.NamedVirtualService{nvs}
			nn := spec.NamedVirtualNode{Name: "colorteller"}
			decode(node, "virtualNode", &nn.Spec)
			snap.VirtualNodes = []spec.NamedVirtualNode{nn}
			if err := snap.Validate(); err != nil {
				t.Errorf("snapshot from the control plane: %v", err)
			}
		})
	}
	t.Run("bad spec", func(t *testing.T) {
		_, stderr, err := runMeshCLI(t, srv, "create-virtual-node", "--mesh-name", "color-mesh-mtls", "--virtual-node-name", "bad",
			"--spec", `{"listeners":[{"portMapping":{"port":9080,"protocol":"http"},"tls":{"mode":"SOMETIMES","certificate":{"sds":{"secretName":"x"}}}}]}`)
		if err == nil || !strings.Contains(stderr, "BadRequestException") || !strings.Contains(stderr, "spec.listeners[0].tls.mode") {
			t.Errorf("CLI with a bad spec: err %v, stderr %q", err, stderr)
		}
	})
}
