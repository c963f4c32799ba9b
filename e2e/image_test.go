package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/ociimage"
)

// versionReport is `bulwark version -o json`.
type versionReport struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Time      string `json:"time"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	Module    string `json:"module"`
}

func runVersionJSON(t *testing.T, bin string) versionReport {
	t.Helper()
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version -o json: %v", bin, err)
	}
	var v versionReport
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	return v
}

// TestVersionReportsBuild: a binary built from this checkout names its
// commit and module, as the Go toolchain stamped them.
func TestVersionReportsBuild(t *testing.T) {
	v := runVersionJSON(t, binary)
	if v.Module != "github.com/bulwarkd/bulwark" || v.GoVersion == "" || v.Platform == "" || v.Version == "" {
		t.Errorf("incomplete report: %+v", v)
	}
	if v.Revision == "" {
		// Built with -buildvcs=false (GOFLAGS here may say so): the text
		// report must say the revision is unknown rather than print nothing.
		out, err := exec.Command(binary, "version").Output()
		if err != nil || !strings.Contains(string(out), "built without VCS information") {
			t.Errorf("no revision and no explanation: %v\n%s", err, out)
		}
		return
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err == nil && v.Revision != strings.TrimSpace(string(head)) {
		t.Errorf("revision %q, want HEAD %q", v.Revision, head)
	}
}

// TestImageScript runs scripts/build-image.sh, checks the image it writes
// (manifest, config, user, entrypoint, volume, labels), and runs the
// binary taken out of the image. With a running Docker daemon it also
// loads the image and runs it with a read-only root filesystem.
func TestImageScript(t *testing.T) {
	if os.Getenv("BULWARK_SLOW_TESTS") != "1" {
		t.Skip("builds a static binary (about a minute): set BULWARK_SLOW_TESTS=1 to run it")
	}
	dir := t.TempDir()
	tarball := filepath.Join(dir, "bulwark-image.tar")
	script := exec.Command("../scripts/build-image.sh", tarball)
	script.Env = append(os.Environ(), "OCIBUILD_FLAGS=-ca-bundle=")
	if out, err := script.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-image.sh: %v\n%s", err, out)
	}
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ociimage.Read(f)
	f.Close()
	if err != nil {
		t.Fatalf("the script's image does not verify: %v", err)
	}
	c := img.Config.Config
	bin := img.Files[strings.TrimPrefix(ociimage.BinaryPath, "/")]
	if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != ociimage.BinaryPath || len(bin.Data) == 0 {
		t.Fatalf("user %q entrypoint %v binary %d bytes", c.User, c.Entrypoint, len(bin.Data))
	}
	if _, ok := c.Volumes[ociimage.DataDir]; !ok {
		t.Errorf("no %s volume: %v", ociimage.DataDir, c.Volumes)
	}
	extracted := filepath.Join(dir, "bulwark")
	if err := os.WriteFile(extracted, bin.Data, 0o755); err != nil {
		t.Fatal(err)
	}
	v := runVersionJSON(t, extracted)
	if c.Labels["org.opencontainers.image.version"] != v.Version || !strings.HasPrefix(c.Labels["org.opencontainers.image.revision"], v.Revision) {
		t.Errorf("labels %v do not match the binary's report %+v", c.Labels, v)
	}
	// The script stamps the commit (-buildvcs=auto) in a git clone; the go
	// command finds none in a `git worktree` (.git is a file there).
	if st, err := os.Stat("../.git"); err == nil && st.IsDir() && v.Revision == "" {
		t.Errorf("built in a git clone, yet the image's binary names no revision: %+v", v)
	}
	if v.Modified != strings.HasSuffix(c.Labels["org.opencontainers.image.revision"], "-modified") {
		t.Errorf("modified %v but revision label %q", v.Modified, c.Labels["org.opencontainers.image.revision"])
	}

	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "info").Run() != nil {
		t.Log("no running Docker daemon: docker load not tried")
		return
	}
	if out, err := exec.Command(docker, "load", "-i", tarball).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	defer exec.Command(docker, "rmi", img.Ref).Run()
	out, err := exec.Command(docker, "run", "--rm", "--read-only", "--network=none", img.Ref, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "bulwark ") {
		t.Errorf("docker run %s version: %v\n%s", img.Ref, err, out)
	}
	out, err = exec.Command(docker, "run", "--rm", "--read-only", "--network=none", "--entrypoint", "/usr/local/bin/bulwark", img.Ref, "probe", "--help").CombinedOutput()
	if err != nil {
		t.Errorf("the health check command is missing from the image: %v\n%s", err, out)
	}
}
