// Package ociimage writes and reads Bulwark's container image: an OCI image
// layout, as one tar file, holding a single layer with the static bulwark
// binary, a non-root user (65532) and its data directory. It is assembled
// from nothing (no base image, no registry, no Docker daemon), so building
// it needs only the binary, and the same binary always gives the same
// image digest.
//
// The tarball also carries Docker's manifest.json, so `docker load` takes
// it as it is; skopeo, podman and crane read the OCI layout.
package ociimage
