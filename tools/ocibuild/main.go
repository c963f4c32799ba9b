// Command ocibuild writes Bulwark's container image as an OCI image layout
// tarball, from a static bulwark binary, without a base image, a registry
// or a container daemon (see internal/ociimage). scripts/build-image.sh
// builds the binary and runs it:
//
//	go run ./tools/ocibuild -binary bulwark -o bulwark-image.tar
//	go run ./tools/ocibuild -verify bulwark-image.tar
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/bulwarkd/bulwark/internal/ociimage"
)

func main() {
	binary := flag.String("binary", "", "the static (CGO_ENABLED=0) linux bulwark binary to put in the image")
	out := flag.String("o", "bulwark-image.tar", "where to write the image tarball")
	tag := flag.String("tag", "", "image tag (default: the binary's module version, or dev)")
	ca := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM roots to install as /etc/ssl/certs/ca-certificates.crt, for calls to public TLS services; empty for none")
	verify := flag.String("verify", "", "read and check an image tarball instead of building one")
	flag.Parse()
	if err := run(*binary, *out, *tag, *ca, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(binary, out, tag, ca, verify string) error {
	if verify != "" {
		return check(verify)
	}
	if binary == "" {
		return fmt.Errorf("-binary is required: CGO_ENABLED=0 go build -o bulwark ./cmd/bulwark first (or run scripts/build-image.sh)")
	}
	opts := ociimage.Options{Tag: tag}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("CA bundle: %w (pass -ca-bundle= for an image without public roots)", err)
		}
		opts.CABundle = b
	}
	var buf bytes.Buffer
	res, err := ociimage.Build(&buf, binary, opts)
	if err != nil {
		return err
	}
	// Written whole at the end, so a failed build leaves no half image.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("%s\n  image  %s (linux/%s)\n  digest %s\n", out, res.Ref, res.Arch, res.ManifestDigest)
	fmt.Printf("load it:  docker load -i %s   |   podman load -i %s\n", out, out)
	fmt.Printf("push it:  skopeo copy oci-archive:%s docker://REGISTRY/%s\n", out, res.Ref)
	return nil
}

func check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := ociimage.Read(f)
	if err != nil {
		return err
	}
	c := img.Config.Config
	var labels []string
	for k, v := range c.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	fmt.Printf("%s: %s (linux/%s) %s\n  user %s  entrypoint %v  cmd %v\n  volumes %v  ports %v\n  labels %s\n",
		path, img.Ref, img.Config.Architecture, img.ManifestDigest, c.User, c.Entrypoint, c.Cmd, c.Volumes, c.ExposedPorts, strings.Join(labels, " "))
	return nil
}
