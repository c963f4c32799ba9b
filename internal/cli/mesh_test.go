package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/appmesh"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// meshEnv points the standard AWS configuration chain at nothing but the
// test's credentials, so no developer config leaks in.
func meshEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", servertest.RootAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", servertest.RootSecretAccessKey)
	t.Setenv("AWS_REGION", servertest.Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_APP_MESH", "")
}

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

const colorTemplate = "../mesh/importer/testdata/cfn/colorapp.yaml"

// TestMeshImportCommand drives `bulwark mesh import` against a real
// server: dry run (JSON plan, nothing written), import, re-run (all skip).
func TestMeshImportCommand(t *testing.T) {
	meshEnv(t)
	srv := servertest.Start(t)
	c := appmesh.NewFromConfig(srv.AWSConfig())
	common := []string{"mesh", "import", "--endpoint", srv.URL, "--account-id", servertest.AccountID,
		"--parameter", "ColorTellerCertificateArn=arn:aws:acm:us-east-1:111122223333:certificate/x", colorTemplate}

	code, out, errs := run(append(common, "--dry-run", "-o", "json")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "App Mesh endpoint: "+srv.URL) {
		t.Errorf("the endpoint is not printed: %q", errs)
	}
	var plan struct {
		DryRun   bool
		Endpoint string
		Steps    []struct{ Action, Kind string }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	if !plan.DryRun || plan.Endpoint != srv.URL || len(plan.Steps) != 8 || plan.Steps[0].Kind != "Mesh" {
		t.Fatalf("plan %+v", plan)
	}
	for _, s := range plan.Steps {
		if s.Action != "create" {
			t.Errorf("dry-run step %+v, want create", s)
		}
	}
	if m, err := c.ListMeshes(context.Background(), &appmesh.ListMeshesInput{}); err != nil || len(m.Meshes) != 0 {
		t.Fatalf("the dry run wrote: %+v %v", m, err)
	}

	if code, out, errs = run(common...); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "8 to create, 0 to update, 0 unchanged, 0 conflicts") {
		t.Errorf("import output:\n%s", out)
	}
	if code, out, errs = run(common...); code != 0 || !strings.Contains(out, "0 to create, 0 to update, 8 unchanged, 0 conflicts") {
		t.Errorf("re-run: exit %d\n%s%s", code, out, errs)
	}
}

// TestMeshImportRefusals: the command fails closed, before any call.
func TestMeshImportRefusals(t *testing.T) {
	meshEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no endpoint never means AWS", []string{"mesh", "import", colorTemplate}, "no API endpoint"},
		{"offline without dry run", []string{"mesh", "import", "--offline", colorTemplate}, "--offline only plans"},
		{"bad output", []string{"mesh", "import", "-o", "yaml", colorTemplate}, "use text or json"},
		{"bad format", []string{"mesh", "import", "--format", "helm", colorTemplate}, "--format"},
		{"bad parameter", []string{"mesh", "import", "--parameter", "novalue", colorTemplate}, "KEY=VALUE"},
		{"missing file", []string{"mesh", "import", "--dry-run", "--offline", "/nonexistent.yaml"}, "no such file"},
		{"unresolved parameter", []string{"mesh", "import", "--dry-run", "--offline", "--account-id", "1", colorTemplate}, "--parameter ColorTellerCertificateArn=VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(tc.args...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure mentioning %q", code, errs, tc.want)
			}
		})
	}
}

func TestMeshImportOffline(t *testing.T) {
	meshEnv(t)
	code, out, errs := run("mesh", "import", "--dry-run", "--offline", "../mesh/importer/testdata/k8s/colorapp.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"Plan (dry run", "create    VirtualNode color-mesh/colorteller-white_colorapp", "note: spec.podSelector ignored", "9 to create"} {
		if !strings.Contains(out, want) {
			t.Errorf("offline plan lacks %q:\n%s", want, out)
		}
	}
}
