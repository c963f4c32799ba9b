package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Limits on what Read accepts, so a hostile tarball cannot exhaust memory.
const (
	maxEntry = 512 << 20 // one blob or file
	maxTotal = 1 << 30   // everything read
	maxFiles = 10000
)

// File is one entry of the image's filesystem.
type File struct {
	Header tar.Header
	// Data is the content of a regular file.
	Data []byte
}

// Image is a verified image read from a tarball.
type Image struct {
	Index          Index
	Manifest       Manifest
	Config         Config
	ManifestDigest string
	// Ref is the name Docker's manifest.json gives (Repository:tag).
	Ref string
	// Files is the filesystem of the layers, by path without a leading "/"
	// (directories end in "/").
	Files map[string]File
}

// Read reads an OCI image layout tarball and checks it: the layout
// version, every digest and size against the content, the config's
// diff_ids against the uncompressed layers, Docker's manifest.json against
// the OCI index, and the layer's paths (no absolute or ".." names).
func Read(r io.Reader) (*Image, error) {
	blobs := map[string][]byte{}
	var total int64
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("image tarball: %w", err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("image tarball: %s is not a regular file", h.Name)
		}
		if h.Size > maxEntry || total+h.Size > maxTotal || len(blobs) >= maxFiles {
			return nil, errors.New("image tarball: too large")
		}
		total += h.Size
		b, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return nil, fmt.Errorf("image tarball: %s: %w", h.Name, err)
		}
		blobs[path.Clean(h.Name)] = b
	}
	if string(blobs["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		return nil, errors.New("image tarball: oci-layout missing or not version 1.0.0")
	}
	blob := func(d Descriptor, mediaType string) ([]byte, error) {
		if d.MediaType != mediaType {
			return nil, fmt.Errorf("descriptor %s: media type %q, want %q", d.Digest, d.MediaType, mediaType)
		}
		hexd, ok := strings.CutPrefix(d.Digest, "sha256:")
		if !ok || len(hexd) != 64 || strings.ContainsAny(hexd, "/.") {
			return nil, fmt.Errorf("descriptor digest %q is not sha256", d.Digest)
		}
		b, ok := blobs["blobs/sha256/"+hexd]
		if !ok {
			return nil, fmt.Errorf("blob %s missing", d.Digest)
		}
		if digest(b) != d.Digest || int64(len(b)) != d.Size {
			return nil, fmt.Errorf("blob %s: content does not match its digest or size", d.Digest)
		}
		return b, nil
	}
	img := &Image{Files: map[string]File{}}
	if err := strictJSON(blobs["index.json"], &img.Index); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	if img.Index.SchemaVersion != 2 || img.Index.MediaType != MediaTypeIndex || len(img.Index.Manifests) != 1 {
		return nil, errors.New("index.json: want schemaVersion 2, the index media type and one manifest")
	}
	md := img.Index.Manifests[0]
	manJSON, err := blob(md, MediaTypeManifest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	img.ManifestDigest = md.Digest
	if err := strictJSON(manJSON, &img.Manifest); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if img.Manifest.SchemaVersion != 2 || img.Manifest.MediaType != MediaTypeManifest || len(img.Manifest.Layers) == 0 {
		return nil, errors.New("manifest: want schemaVersion 2, the manifest media type and layers")
	}
	cfgJSON, err := blob(img.Manifest.Config, MediaTypeConfig)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := strictJSON(cfgJSON, &img.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if img.Config.RootFS.Type != "layers" || len(img.Config.RootFS.DiffIDs) != len(img.Manifest.Layers) {
		return nil, errors.New("config: rootfs does not list one diff_id per layer")
	}
	if p := md.Platform; p == nil || p.Architecture != img.Config.Architecture || p.OS != img.Config.OS {
		return nil, errors.New("index.json: platform differs from the config's")
	}
	for i, ld := range img.Manifest.Layers {
		gz, err := blob(ld, MediaTypeLayer)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		raw, err := io.ReadAll(io.LimitReader(zr, maxTotal+1))
		if err != nil || len(raw) > maxTotal {
			return nil, fmt.Errorf("layer %d: not readable gzip or too large", i)
		}
		if digest(raw) != img.Config.RootFS.DiffIDs[i] {
			return nil, fmt.Errorf("layer %d: diff_id does not match the uncompressed layer", i)
		}
		if err := readLayer(raw, img.Files); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	var docker []dockerManifest
	if err := strictJSON(blobs["manifest.json"], &docker); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	want := "blobs/sha256/" + strings.TrimPrefix(img.Manifest.Config.Digest, "sha256:")
	if len(docker) != 1 || docker[0].Config != want || len(docker[0].RepoTags) != 1 || len(docker[0].Layers) != len(img.Manifest.Layers) {
		return nil, errors.New("manifest.json: does not describe the image of index.json")
	}
	for i, l := range docker[0].Layers {
		if l != "blobs/sha256/"+strings.TrimPrefix(img.Manifest.Layers[i].Digest, "sha256:") {
			return nil, errors.New("manifest.json: layers differ from the OCI manifest's")
		}
	}
	img.Ref = docker[0].RepoTags[0]
	return img, nil
}

func readLayer(raw []byte, files map[string]File) error {
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := h.Name
		clean := path.Clean(name)
		if path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || len(files) >= maxFiles {
			return fmt.Errorf("entry %q: absolute, escaping or one too many", name)
		}
		f := File{Header: *h}
		if h.Typeflag == tar.TypeReg {
			if h.Size > maxEntry {
				return fmt.Errorf("entry %q too large", name)
			}
			if f.Data, err = io.ReadAll(io.LimitReader(tr, h.Size)); err != nil {
				return err
			}
		}
		files[name] = f
	}
}

func strictJSON(b []byte, v any) error {
	if b == nil {
		return errors.New("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
