package importer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkParsed holds for anything a parser accepts: it orders without
// panicking and every spec it produced is a JSON object.
func checkParsed(t *testing.T, rs []Resource) {
	ordered, err := Order(rs)
	if err != nil {
		return
	}
	for _, r := range ordered {
		var m map[string]any
		if err := json.Unmarshal(r.Spec, &m); err != nil || m == nil {
			t.Fatalf("%s: spec %q is not a JSON object", r.ID(), r.Spec)
		}
	}
}

func FuzzParseCloudFormation(f *testing.F) {
	addSeeds(f, "cfn/colorapp.yaml", "cfn/colorapp.json")
	f.Add([]byte("Resources: {M: {Type: AWS::AppMesh::Mesh, Properties: {MeshName: !Sub '${A.B}-${!x}', Spec: !Join ['', [!Select [0, [a]]]]}}}"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseCloudFormation("f.yaml", data, colorOpts)
		if err == nil {
			checkParsed(t, rs)
		}
	})
}

func FuzzParseKubernetes(f *testing.F) {
	addSeeds(f, "k8s/colorapp.yaml")
	f.Add([]byte("apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: r}\nspec: {routes: [{name: x, tcpRoute: {action: {weightedTargets: [{virtualNodeARN: 'arn:aws:appmesh:r:1:mesh/m/virtualNode/n'}]}}}]}\n"))
	f.Add([]byte("kind: List\nitems: [{apiVersion: appmesh.k8s.aws/v1beta2, kind: Mesh, metadata: {name: m}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseKubernetes([]File{{Name: "f.yaml", Data: data}}, Options{})
		if err == nil {
			checkParsed(t, rs)
		}
	})
}
