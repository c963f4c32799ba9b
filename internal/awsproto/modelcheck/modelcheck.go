// Package modelcheck checks a service's error table against the botocore
// model of the API it implements, so every domain error reaches the caller
// with a code (and, where the model names one, an HTTP status) that the
// AWS SDKs know. It is used by the services' tests only.
package modelcheck

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// Common are the error codes every AWS API may return, which the models
// do not list per service (AWS's "Common Errors" page).
var Common = map[string]bool{
	"AccessDeniedException":       true,
	"IncompleteSignature":         true,
	"InternalFailure":             true,
	"InvalidAction":               true,
	"InvalidClientTokenId":        true,
	"NotAuthorized":               true,
	"OptInRequired":               true,
	"RequestExpired":              true,
	"ServiceUnavailable":          true,
	"ThrottlingException":         true,
	"ValidationError":             true,
	"ValidationException":         true,
	"UnrecognizedClientException": true,
}

// Errors returns the error codes the botocore model of service
// ("kms", "appmesh") declares, each with the HTTP status the model gives
// it (0 when it names none). It skips the test when botocore is not
// installed: BULWARK_BOTOCORE_DATA may name its data directory.
func Errors(t testing.TB, service string) map[string]int {
	t.Helper()
	dir := dataDir(t)
	versions, _ := filepath.Glob(filepath.Join(dir, service, "*", "service-2.json*"))
	if len(versions) == 0 {
		t.Fatalf("botocore at %s has no model for %q", dir, service)
	}
	sort.Strings(versions)
	path := versions[len(versions)-1]
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var model struct {
		Shapes map[string]struct {
			Exception bool `json:"exception"`
			Error     struct {
				Code   string `json:"code"`
				Status int    `json:"httpStatusCode"`
			} `json:"error"`
		} `json:"shapes"`
	}
	if err := json.NewDecoder(r).Decode(&model); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]int{}
	for name, s := range model.Shapes {
		if !s.Exception {
			continue
		}
		code := name
		if s.Error.Code != "" {
			code = s.Error.Code
		}
		out[code] = s.Error.Status
	}
	return out
}

func dataDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BULWARK_BOTOCORE_DATA"); d != "" {
		return d
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: cannot find the botocore models")
	}
	out, err := exec.Command(py, "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		t.Skip("botocore is not installed (the AWS CLI brings it)")
	}
	return filepath.Join(strings.TrimSpace(string(out)), "data")
}

// Check fails the test for every mapping of table whose code is neither
// in the botocore model of service nor a common error, whose status
// differs from the one the model names, or whose sentinel is nil or
// mapped twice.
func Check(t *testing.T, service string, table awsproto.ErrorTable) {
	t.Helper()
	model := Errors(t, service)
	seen := map[error]bool{}
	for _, m := range table {
		if m.Err == nil {
			t.Errorf("%s: a mapping to %s has no error", service, m.Code)
			continue
		}
		if seen[m.Err] {
			t.Errorf("%s: %q is mapped twice", service, m.Err)
		}
		seen[m.Err] = true
		status := m.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		want, inModel := model[m.Code]
		switch {
		case inModel && want != 0 && want != status:
			t.Errorf("%s: %q → %s with HTTP %d; the model says %d", service, m.Err, m.Code, status, want)
		case !inModel && !Common[m.Code]:
			t.Errorf("%s: %q → %s, which is neither in the botocore model nor a common error", service, m.Err, m.Code)
		}
	}
}
