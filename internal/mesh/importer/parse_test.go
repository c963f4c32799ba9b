package importer

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// colorOpts answers what the Color App template leaves to the deployer.
var colorOpts = Options{
	Region: "us-east-1", AccountID: "111122223333",
	Values: map[string]string{"ColorTellerCertificateArn": "arn:aws:acm:us-east-1:111122223333:certificate/colorteller"},
}

func readFile(t testing.TB, name string) File {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: name, Data: b}
}

// golden compares got (as indented JSON) with testdata/name, or rewrites
// it with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, b)
	}
}

func TestParseGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, golden string
		format             Format
	}{
		{"cfn yaml short tags", "cfn/colorapp.yaml", "cfn/colorapp.golden.json", FormatAuto},
		{"cfn json long form", "cfn/colorapp.json", "cfn/colorapp.golden.json", FormatAuto},
		{"cfn yaml explicit format", "cfn/colorapp.yaml", "cfn/colorapp.golden.json", FormatCloudFormation},
		{"k8s crds", "k8s/colorapp.yaml", "k8s/colorapp.golden.json", FormatAuto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs, err := ParseFiles([]File{readFile(t, tc.file)}, tc.format, colorOpts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range rs {
				rs[i].Source = strings.TrimPrefix(rs[i].Source, tc.file)
			}
			golden(t, tc.golden, rs)
		})
	}
}

// TestCloudFormationShapes checks the conversions the golden file relies
// on, by name, so a wrong golden file cannot hide them.
func TestCloudFormationShapes(t *testing.T) {
	t.Parallel()
	rs, err := ParseFiles([]File{readFile(t, "cfn/colorapp.yaml")}, FormatAuto, colorOpts)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	byID := map[string]Resource{}
	for _, r := range rs {
		kinds = append(kinds, string(r.Kind))
		byID[r.ID()] = r
	}
	if got, want := strings.Join(kinds, ","), "Mesh,VirtualGateway,VirtualNode,VirtualNode,VirtualRouter,Route,VirtualService,GatewayRoute"; got != want {
		t.Errorf("creation order %s, want %s", got, want)
	}
	for _, c := range []struct{ id, want string }{
		{"VirtualNode color-mesh/colorteller-white", `"portMapping":{"port":9080,"protocol":"http"}`},
		{"VirtualNode color-mesh/colorteller-white", `"certificateArn":"arn:aws:acm:us-east-1:111122223333:certificate/colorteller"`},
		{"VirtualNode color-mesh/colorteller-white", `"serviceDiscovery":{"dns":{"hostname":"colorteller.mesh.local"}}`},
		{"VirtualNode color-mesh/colorteller-black", `"perRequest":{"unit":"s","value":15}`},
		{"VirtualNode color-mesh/colorteller-black", `"hostname":"colorteller-black.mesh.local"`},
		{"VirtualGateway color-mesh/colorgateway", `"enforce":true,"ports":[9080]`},
		{"VirtualGateway color-mesh/colorgateway", `"arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/colorteller-ca"`},
		{"Route color-mesh/colorteller-router/colorteller-route", `{"virtualNode":"colorteller-white","weight":3}`},
		{"VirtualService color-mesh/colorteller.mesh.local", `"virtualRouter":{"virtualRouterName":"colorteller-router"}`},
		{"GatewayRoute color-mesh/colorgateway/colorteller-route", `"virtualServiceName":"colorteller.mesh.local"`},
		{"GatewayRoute color-mesh/colorgateway/colorteller-route", `"prefix":{"defaultPrefix":"DISABLED","value":"/"}`},
		{"Route color-mesh/colorteller-router/colorteller-route", `"perRetryTimeout":{"unit":"ms","value":2000}`},
		{"Route color-mesh/colorteller-router/colorteller-route", `"priority":10`},
		{"VirtualGateway color-mesh/colorgateway", `"subjectAlternativeNames":{"match":{"exact":["colorteller.mesh.local"]}}`},
		{"VirtualNode color-mesh/colorteller-white", `"healthyThreshold":2`},
		{"Mesh color-mesh", `"egressFilter":{"type":"DROP_ALL"}`},
		{"GatewayRoute color-mesh/colorgateway/colorteller-route", `"match":{"prefix":"/color"}`},
		{"VirtualNode color-mesh/colorteller-white", `"accessLog":{"file":{"path":"/dev/stdout"}}`},
		{"Route color-mesh/colorteller-router/colorteller-route", `"httpRetryEvents":["server-error"]`},
		{"VirtualRouter color-mesh/colorteller-router", `"listeners":[{"portMapping":{"port":9080,"protocol":"http"}}]`},
		{"VirtualNode color-mesh/colorteller-white", `"mode":"STRICT"`},
		{"VirtualGateway color-mesh/colorgateway", `"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}]`},
		{"VirtualService color-mesh/colorteller.mesh.local", `{"provider":`},
		{"Route color-mesh/colorteller-router/colorteller-route", `{"virtualNode":"colorteller-black","weight":1}`},
		{"GatewayRoute color-mesh/colorgateway/colorteller-route", `"httpRoute"`},
		{"VirtualNode color-mesh/colorteller-black", `"protocol":"http"`},
		{"VirtualGateway color-mesh/colorgateway", `"clientPolicy"`},
		{"Route color-mesh/colorteller-router/colorteller-route", `"prefix":"/"`},
		{"VirtualNode color-mesh/colorteller-white", `"path":"/ping"`},
		{"VirtualNode color-mesh/colorteller-white", `"timeoutMillis":2000`},
		{"VirtualNode color-mesh/colorteller-white", `"intervalMillis":5000`},
		{"VirtualNode color-mesh/colorteller-white", `"unhealthyThreshold":2`},
		{"VirtualNode color-mesh/colorteller-white", `"tls":{`},
		{"VirtualNode color-mesh/colorteller-white", `"acm":{`},
		{"VirtualNode color-mesh/colorteller-white", `"listeners":[`},
		{"VirtualNode color-mesh/colorteller-white", `"logging":{`},
		{"VirtualGateway color-mesh/colorgateway", `"certificateAuthorityArns":[`},
		{"VirtualGateway color-mesh/colorgateway", `"backendDefaults":{`},
		{"VirtualGateway color-mesh/colorgateway", `"trust":{"acm":{`},
		{"VirtualGateway color-mesh/colorgateway", `"validation":{`},
	} {
		r, ok := byID[c.id]
		if !ok {
			t.Errorf("%s not imported", c.id)
			continue
		}
		if !strings.Contains(string(r.Spec), c.want) {
			t.Errorf("%s spec %s does not contain %s", c.id, r.Spec, c.want)
		}
	}
	if m := byID["Mesh color-mesh"]; len(m.Tags) != 1 || m.Tags[0] != (Tag{"app", "colorapp"}) {
		t.Errorf("mesh tags %+v", m.Tags)
	}
}
