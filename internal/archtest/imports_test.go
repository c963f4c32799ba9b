package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/bulwarkd/bulwark/"

// services are the rooms of docs/architecture.md ("Where code lives"):
// "Services never import the server or each other. Where one needs
// another [...] it declares the small interface it uses, and
// internal/server/services.go connects them." Each may use the shared
// framework packages but never the server, the CLI or another service.
var services = []string{"kms", "pca", "acm", "secrets", "events", "iam", "mesh", "fle"}

// forbiddenFor returns the internal packages a service must not import.
func forbiddenFor(svc string) []string {
	out := []string{"internal/server", "internal/cli"}
	for _, other := range services {
		if other != svc {
			out = append(out, "internal/"+other)
		}
	}
	return out
}

// packageImports lists the imports of the non-test Go files under dir.
func packageImports(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[path] = append(out[path], p)
		}
		return nil
	})
	if err != nil {
		// A folder that is gone (renamed, moved) must fail the test, not
		// silently drop out of the rule: update the lists above.
		t.Fatalf("%s: %v (a package this test checks has moved; update its lists)", dir, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no Go files: a package this test checks has moved; update its lists", dir)
	}
	return out
}

func TestServicesStayInTheirRooms(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, svc := range services {
		dir := filepath.Join(root, "internal", svc)
		for file, imports := range packageImports(t, dir) {
			for _, imp := range imports {
				for _, bad := range forbiddenFor(svc) {
					if imp == module+bad || strings.HasPrefix(imp, module+bad+"/") {
						t.Errorf("%s imports %s: services must not import the server, the CLI or each other", file, imp)
					}
				}
			}
		}
	}
}

// TestLowerLayersDoNotImportUpward keeps the framework's lower layers
// free of the server.
func TestLowerLayersDoNotImportUpward(t *testing.T) {
	root := filepath.Join("..", "..")
	lower := []string{"policy", "sigv4", "audit", "seal", "store", "awsproto", "api", "ids", "clock", "testwait"}
	for _, pkg := range lower {
		for file, imports := range packageImports(t, filepath.Join(root, "internal", pkg)) {
			for _, imp := range imports {
				if strings.HasPrefix(imp, module+"internal/server") || strings.HasPrefix(imp, module+"internal/cli") {
					t.Errorf("%s imports %s", file, imp)
				}
				for _, svc := range services {
					if imp == module+"internal/"+svc || strings.HasPrefix(imp, module+"internal/"+svc+"/") {
						t.Errorf("%s (framework) imports the service %s", file, imp)
					}
				}
			}
		}
	}
}

// TestClientsUseTheWireAPIs keeps the client-side commands (proxy, edge,
// export/fetch, renewer, unprotect) honest: they reach Bulwark only
// through the AWS wire APIs, so they work against AWS too.
func TestClientsUseTheWireAPIs(t *testing.T) {
	root := filepath.Join("..", "..")
	clients := []string{"proxy", "edge", "certsync", "renewer", "unprotect", "fle"}
	forbidden := append([]string{"internal/server", "internal/cli"}, func() []string {
		var out []string
		for _, svc := range services {
			if svc != "fle" && svc != "mesh" {
				out = append(out, "internal/"+svc)
			}
		}
		return append(out, "internal/mesh/controlplane")
	}()...)
	for _, pkg := range clients {
		for file, imports := range packageImports(t, filepath.Join(root, "internal", pkg)) {
			for _, imp := range imports {
				for _, bad := range forbidden {
					if imp == module+bad || strings.HasPrefix(imp, module+bad+"/") {
						t.Errorf("%s imports %s: client commands must use the wire APIs", file, imp)
					}
				}
			}
		}
	}
}
