package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	tinyOnce sync.Once
	tinyPath string
	tinyErr  error
)

// tinyBinary builds a small static Go program to stand in for bulwark:
// these tests are about the image around it, and bulwark takes minutes to
// link on a busy machine (e2e/image_test.go builds the real one).
func tinyBinary(t *testing.T) string {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ociimage-tiny-")
		if err != nil {
			tinyErr = err
			return
		}
		src := "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"tiny \" + os.Args[1] + \"\\n\") }\n"
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			tinyErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/tiny\n\ngo 1.26\n"), 0o644); err != nil {
			tinyErr = err
			return
		}
		tinyPath = filepath.Join(dir, "tiny")
		cmd := exec.Command("go", "build", "-o", tinyPath, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			tinyErr = errors.New(string(out))
		}
	})
	if tinyErr != nil {
		t.Fatalf("building the stand-in binary: %v", tinyErr)
	}
	return tinyPath
}

func build(t *testing.T, opts Options) ([]byte, Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Build(&buf, tinyBinary(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

func TestBuildAndRead(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nroots\n-----END CERTIFICATE-----\n")
	tarball, res := build(t, Options{CABundle: ca})
	img, err := Read(bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := os.ReadFile(tinyBinary(t))
	c := img.Config.Config
	binFile := img.Files[strings.TrimPrefix(BinaryPath, "/")]
	data := img.Files[strings.TrimPrefix(DataDir, "/")+"/"]
	checks := []struct {
		name string
		ok   bool
	}{
		{"ref is Repository:dev", res.Ref == Repository+":dev" && img.Ref == res.Ref},
		{"manifest digest reported", res.ManifestDigest == img.ManifestDigest},
		{"linux/" + res.Arch, img.Config.OS == "linux" && img.Config.Architecture == res.Arch && res.Arch != ""},
		{"runs as 65532:65532", c.User == "65532:65532"},
		{"entrypoint is the binary", len(c.Entrypoint) == 1 && c.Entrypoint[0] == BinaryPath},
		{"default command reads the config file", strings.Join(c.Cmd, " ") == "server --config "+ConfigPath},
		{"data volume", len(c.Volumes) == 1 && hasKey(c.Volumes, DataDir)},
		{"API port exposed", hasKey(c.ExposedPorts, "8443/tcp")},
		{"health check probes the API over loopback", c.Healthcheck != nil && c.Healthcheck.Test[0] == "CMD" && c.Healthcheck.Test[1] == BinaryPath && c.Healthcheck.Test[2] == "probe" && c.Healthcheck.Interval > 0},
		{"title label", c.Labels["org.opencontainers.image.title"] == "bulwark"},
		{"created is reproducible (epoch without vcs.time)", img.Config.Created.Equal(time.Unix(0, 0))},
		{"binary inside, byte for byte", bytes.Equal(binFile.Data, bin)},
		{"binary root-owned, not writable", binFile.Header.Uid == 0 && binFile.Header.Mode == 0o555},
		{"data dir owned by the user, private", data.Header.Uid == UID && data.Header.Gid == GID && data.Header.Mode == 0o700},
		{"passwd names the user", strings.Contains(string(img.Files["etc/passwd"].Data), "nonroot:x:65532:65532:")},
		{"CA bundle installed", bytes.Equal(img.Files["etc/ssl/certs/ca-certificates.crt"].Data, ca)},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("image: %s: not so", ch.name)
		}
	}
	for name, f := range img.Files {
		if f.Header.Mode&0o6000 != 0 || (f.Header.Typeflag == tar.TypeReg && f.Header.Mode&0o022 != 0) {
			t.Errorf("%s: mode %o (setuid/setgid or writable by others)", name, f.Header.Mode)
		}
	}

	// Without a bundle the image carries no roots, rather than empty ones.
	tarball, _ = build(t, Options{Tag: "v1.2.3"})
	img, err = Read(bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.Files["etc/ssl/certs/ca-certificates.crt"]; ok || img.Ref != Repository+":v1.2.3" {
		t.Errorf("tag or CA bundle option ignored: ref %s", img.Ref)
	}
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

// TestBuildReproducible: the same binary gives the same image, byte for
// byte, so an image can be checked by rebuilding it.
func TestBuildReproducible(t *testing.T) {
	a, ra := build(t, Options{})
	b, rb := build(t, Options{})
	if !bytes.Equal(a, b) || ra != rb {
		t.Errorf("two builds differ: %s vs %s", ra.ManifestDigest, rb.ManifestDigest)
	}
}

func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, tag, want string
	}{
		{"not an executable", text, "", "not a Linux executable"},
		{"missing", filepath.Join(dir, "absent"), "", "no such file"},
		{"bad tag", tinyBinary(t), "a/b", "not a valid image tag"},
		{"tag with a leading dot", tinyBinary(t), ".x", "not a valid image tag"},
	}
	// A dynamically linked program: the image has no loader for it.
	if sh, err := exec.LookPath("sh"); err == nil {
		if real, err := filepath.EvalSymlinks(sh); err == nil {
			tests = append(tests, struct{ name, path, tag, want string }{"dynamically linked", real, "", "CGO_ENABLED=0"})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Build(&buf, tc.path, Options{Tag: tc.tag})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTagFor(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3": "v1.2.3",
		"v0.0.0-20261205140000-abcdef012345+dirty": "v0.0.0-20261205140000-abcdef012345-dirty",
		"(devel)": "dev",
		"":        "dev",
		"../x":    "x",
	} {
		if got := tagFor(in); got != want {
			t.Errorf("tagFor(%q) = %q, want %q", in, got, want)
		}
	}
}

type entry struct {
	h    tar.Header
	data []byte
}

func entries(t *testing.T, tarball []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{*h, b})
	}
}

func pack(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.h
		h.Size = int64(len(e.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	return buf.Bytes()
}

// TestReadRejects: the verification CI relies on catches each kind of
// broken or altered image.
func TestReadRejects(t *testing.T) {
	good, res := build(t, Options{})
	if _, err := Read(bytes.NewReader(pack(t, entries(t, good)))); err != nil {
		t.Fatalf("re-packed good image refused: %v", err)
	}
	mutate := func(f func(es []entry) []entry) []byte { return pack(t, f(entries(t, good))) }
	find := func(es []entry, pred func(entry) bool) int {
		for i, e := range es {
			if pred(e) {
				return i
			}
		}
		t.Fatal("entry not found")
		return -1
	}
	isLayer := func(e entry) bool { return len(e.data) > 100000 }
	tests := []struct {
		name    string
		tarball []byte
	}{
		{"no oci-layout", mutate(func(es []entry) []entry {
			i := find(es, func(e entry) bool { return e.h.Name == "oci-layout" })
			return append(es[:i], es[i+1:]...)
		})},
		{"layer byte flipped", mutate(func(es []entry) []entry {
			i := find(es, isLayer)
			es[i].data = bytes.Clone(es[i].data)
			es[i].data[len(es[i].data)/2] ^= 1
			return es
		})},
		{"manifest blob missing", mutate(func(es []entry) []entry {
			i := find(es, func(e entry) bool {
				return strings.HasSuffix(e.h.Name, strings.TrimPrefix(res.ManifestDigest, "sha256:"))
			})
			return append(es[:i], es[i+1:]...)
		})},
		{"unknown field in index", mutate(func(es []entry) []entry {
			i := find(es, func(e entry) bool { return e.h.Name == "index.json" })
			es[i].data = []byte(strings.Replace(string(es[i].data), `{"schemaVersion"`, `{"extra":1,"schemaVersion"`, 1))
			return es
		})},
		{"docker manifest points elsewhere", mutate(func(es []entry) []entry {
			i := find(es, func(e entry) bool { return e.h.Name == "manifest.json" })
			es[i].data = []byte(`[{"Config":"blobs/sha256/00","RepoTags":["x:y"],"Layers":[]}]`)
			return es
		})},
		{"symlink entry", mutate(func(es []entry) []entry {
			return append(es, entry{tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs/sha256/link", Linkname: "/etc/passwd"}, nil})
		})},
		{"truncated", good[:len(good)/2]},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Read(bytes.NewReader(tc.tarball)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestReadLayerRejectsEscapes(t *testing.T) {
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "a/../../b"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644})
		tw.Close()
		if err := readLayer(buf.Bytes(), map[string]File{}); err == nil {
			t.Errorf("layer entry %q accepted", name)
		}
	}
}

// FuzzRead: no input makes Read panic or accept what it cannot verify.
func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct{ name, data string }{
		{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`},
		{"index.json", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../x","size":1}]}`},
	} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data))})
		tw.Write([]byte(e.data))
	}
	tw.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Read(bytes.NewReader(b))
		if err == nil && (img.ManifestDigest == "" || len(img.Manifest.Layers) == 0) {
			t.Fatal("accepted an image without a manifest or layers")
		}
	})
}
