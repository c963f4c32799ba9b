#!/usr/bin/env bash
# Builds Bulwark's container image as an OCI image layout tarball: the
# static binary (CGO_ENABLED=0), a non-root user (65532), the data volume
# /var/lib/bulwark, entrypoint `bulwark`, default command
# `server --config /etc/bulwark/bulwark.yaml`. Nothing is pulled from any
# image registry and no container daemon is needed (tools/ocibuild).
#
#   scripts/build-image.sh [OUT.tar]        (default bulwark-image.tar)
#   GOARCH=arm64 scripts/build-image.sh     (another architecture)
#   docker load -i bulwark-image.tar        (or podman load / skopeo copy oci-archive:…)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-bulwark-image.tar}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$root"
# -buildvcs=auto: stamp the commit even where GOFLAGS turns it off.
CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=auto -o "$tmp/bulwark" ./cmd/bulwark
# The tool runs on this machine whatever GOARCH the binary is for.
GOOS= GOARCH= go run ./tools/ocibuild -binary "$tmp/bulwark" -o "$out" ${OCIBUILD_FLAGS:-}
go run ./tools/ocibuild -verify "$out"
