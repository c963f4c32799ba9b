package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// What the image promises; the Kubernetes, Helm and systemd examples use
// the same paths and user, and tests hold them to it.
const (
	// Repository is the image name the builder tags (docker load names it
	// so; push it under your registry's prefix).
	Repository = "bulwarkd/bulwark"
	// BinaryPath is the binary inside the image (the entrypoint).
	BinaryPath = "/usr/local/bin/bulwark"
	// ConfigPath is the configuration file the default command reads.
	ConfigPath = "/etc/bulwark/bulwark.yaml"
	// DataDir is the data volume (SQLite database, audit log), owned by UID.
	DataDir = "/var/lib/bulwark"
	// UID and GID are the unprivileged user the image runs as
	// (distroless's "nonroot").
	UID = 65532
	GID = 65532
	// APIPort is the port the default configuration listens on.
	APIPort = 8443
)

// Media types of the OCI image specification.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Options are what a build may vary. The zero value builds from the
// binary alone: tag and labels from its embedded build information,
// creation time from its commit time, and no CA bundle.
type Options struct {
	// Tag overrides the tag (default: the binary's module version, made
	// a valid tag, or "dev").
	Tag string
	// CABundle, when set, is installed as /etc/ssl/certs/ca-certificates.crt
	// for the commands that call TLS services outside the mesh. Empty: the
	// image has no public roots, and such calls fail verification.
	CABundle []byte
	// Created overrides the creation time (default: the binary's
	// vcs.time, else the Unix epoch, so builds are reproducible).
	Created time.Time
}

// Result describes a built image.
type Result struct {
	// Ref is Repository:tag.
	Ref string
	// ManifestDigest is the image's digest (what a registry will show).
	ManifestDigest string
	// Arch is the GOARCH-style architecture read from the binary.
	Arch string
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
}

// Platform is an OCI platform.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Index is index.json.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Healthcheck is Docker's HEALTHCHECK in the image configuration; OCI
// runtimes ignore it (Kubernetes uses the pod's probes instead).
type Healthcheck struct {
	Test        []string      `json:"Test"`
	Interval    time.Duration `json:"Interval"`
	Timeout     time.Duration `json:"Timeout"`
	StartPeriod time.Duration `json:"StartPeriod"`
	Retries     int           `json:"Retries"`
}

// ContainerConfig is the execution part of the image configuration.
type ContainerConfig struct {
	User         string              `json:"User"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	Env          []string            `json:"Env"`
	WorkingDir   string              `json:"WorkingDir"`
	Volumes      map[string]struct{} `json:"Volumes"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal"`
	Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
}

// Config is the OCI image configuration.
type Config struct {
	Created      time.Time       `json:"created"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Config       ContainerConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	} `json:"history"`
}

// dockerManifest is one entry of Docker's manifest.json.
type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// staticArch checks that the file is a statically linked Linux ELF
// executable (a scratch image has no dynamic loader or libc) and returns
// its architecture.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked (it needs a loader the image does not have): build it with CGO_ENABLED=0", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return "", fmt.Errorf("%s needs shared libraries %v: build it with CGO_ENABLED=0", path, libs)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("%s is not an executable (ELF type %v)", path, f.Type)
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	}
	return "", fmt.Errorf("%s: architecture %v is not one the image supports", path, f.Machine)
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tagFor makes a module version a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
func tagFor(version string) string {
	t := tagUnsafe.ReplaceAllString(version, "-")
	t = strings.TrimLeft(t, ".-")
	if t == "" || version == "(devel)" {
		return "dev"
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

const passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/bulwark:/sbin/nologin\n"
const group = "root:x:0:\nnonroot:x:65532:\n"

// Build writes the image of the static binary at binaryPath to w as an OCI
// image layout tarball.
func Build(w io.Writer, binaryPath string, opts Options) (Result, error) {
	arch, err := staticArch(binaryPath)
	if err != nil {
		return Result{}, err
	}
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return Result{}, err
	}
	info, err := buildinfo.ReadFile(binaryPath)
	if err != nil {
		return Result{}, fmt.Errorf("%s has no Go build information (is it bulwark?): %w", binaryPath, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] == "1" {
		return Result{}, errors.New("the binary was built with CGO_ENABLED=1: build it with CGO_ENABLED=0")
	}
	version := info.Main.Version
	tag := opts.Tag
	if tag == "" {
		tag = tagFor(version)
	}
	if tag != tagFor(tag) {
		return Result{}, fmt.Errorf("tag %q is not a valid image tag", tag)
	}
	created := opts.Created
	if created.IsZero() {
		created, _ = time.Parse(time.RFC3339, settings["vcs.time"])
	}
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC().Truncate(time.Second)

	layer, err := rootfs(bin, opts.CABundle, created)
	if err != nil {
		return Result{}, err
	}
	diffID := digest(layer)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz) // no name, zero time: deterministic
	if _, err := zw.Write(layer); err != nil {
		return Result{}, err
	}
	if err := zw.Close(); err != nil {
		return Result{}, err
	}

	labels := map[string]string{
		"org.opencontainers.image.title":       "bulwark",
		"org.opencontainers.image.description": "Self-hosted private CA, KMS, secrets, service-mesh mTLS and edge field encryption, on the AWS wire APIs",
		"org.opencontainers.image.source":      "https://" + info.Main.Path,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    settings["vcs.revision"],
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}
	if settings["vcs.modified"] == "true" {
		labels["org.opencontainers.image.revision"] += "-modified"
	}
	var cfg Config
	cfg.Created, cfg.Architecture, cfg.OS = created, arch, "linux"
	cfg.Config = ContainerConfig{
		User:       fmt.Sprintf("%d:%d", UID, GID),
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"server", "--config", ConfigPath},
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"SSL_CERT_DIR=/etc/ssl/certs",
		},
		WorkingDir:   DataDir,
		Volumes:      map[string]struct{}{DataDir: {}},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", APIPort): {}},
		Labels:       labels,
		StopSignal:   "SIGTERM",
		Healthcheck: &Healthcheck{
			Test:     []string{"CMD", BinaryPath, "probe", "--insecure-loopback", fmt.Sprintf("https://127.0.0.1:%d/healthz", APIPort)},
			Interval: 30 * time.Second, Timeout: 5 * time.Second, StartPeriod: 10 * time.Second, Retries: 3,
		},
	}
	cfg.RootFS.Type, cfg.RootFS.DiffIDs = "layers", []string{diffID}
	cfg.History = append(cfg.History, struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}{created, "bulwark ociimage: " + BinaryPath + ", user nonroot, " + DataDir})
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return Result{}, err
	}
	man := Manifest{SchemaVersion: 2, MediaType: MediaTypeManifest,
		Config: Descriptor{MediaType: MediaTypeConfig, Digest: digest(cfgJSON), Size: int64(len(cfgJSON))},
		Layers: []Descriptor{{MediaType: MediaTypeLayer, Digest: digest(gz.Bytes()), Size: int64(gz.Len())}},
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return Result{}, err
	}
	ref := Repository + ":" + tag
	idx := Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []Descriptor{{
		MediaType: MediaTypeManifest, Digest: digest(manJSON), Size: int64(len(manJSON)),
		Platform: &Platform{Architecture: arch, OS: "linux"},
		Annotations: map[string]string{
			"org.opencontainers.image.ref.name": tag,
			"io.containerd.image.name":          "docker.io/" + ref,
		},
	}}}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return Result{}, err
	}
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	dockerJSON, err := json.Marshal([]dockerManifest{{Config: blob(man.Config.Digest), RepoTags: []string{ref}, Layers: []string{blob(man.Layers[0].Digest)}}})
	if err != nil {
		return Result{}, err
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idxJSON},
		{"manifest.json", dockerJSON},
		{blob(man.Config.Digest), cfgJSON},
		{blob(man.Layers[0].Digest), gz.Bytes()},
		{blob(idx.Manifests[0].Digest), manJSON},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: created}); err != nil {
			return Result{}, err
		}
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: created}); err != nil {
			return Result{}, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return Result{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Result{}, err
	}
	return Result{Ref: ref, ManifestDigest: idx.Manifests[0].Digest, Arch: arch}, nil
}

// rootfs returns the layer: a scratch filesystem with the binary, the
// user and group files, and the directories the server writes to.
func rootfs(bin, caBundle []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: uid, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc/", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		// Configuration and keys are mounted here, read-only.
		func() error { return dir("etc/bulwark/", 0o755, 0) },
		func() error {
			if len(caBundle) == 0 {
				return nil
			}
			for _, d := range []string{"etc/ssl/", "etc/ssl/certs/"} {
				if err := dir(d, 0o755, 0); err != nil {
					return err
				}
			}
			return file("etc/ssl/certs/ca-certificates.crt", 0o644, caBundle)
		},
		// Writable only by the unprivileged user; the volume mounts here.
		func() error { return dir("var/", 0o755, 0) },
		func() error { return dir("var/lib/", 0o755, 0) },
		func() error { return dir(strings.TrimPrefix(DataDir, "/")+"/", 0o700, UID) },
		// A sticky /tmp for runtimes that do not mount one (with a
		// read-only root filesystem, mount an emptyDir here if needed).
		func() error { return dir("tmp/", 0o1777, 0) },
		func() error { return dir("usr/", 0o755, 0) },
		func() error { return dir("usr/local/", 0o755, 0) },
		func() error { return dir("usr/local/bin/", 0o755, 0) },
		// Owned by root and not writable by the user the image runs as.
		func() error { return file(strings.TrimPrefix(BinaryPath, "/"), 0o555, bin) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
