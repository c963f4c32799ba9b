#!/usr/bin/env bash
# Server CPU per request under real clients (issue 16): aws-sdk-go-v2
# default clients (default HTTP transport) call `bulwark server --dev`
# (default configuration: durable audit log) from 1, 4, 16 and 64
# goroutines; the server process's utime+stime from /proc is divided by the
# requests that succeeded. Calls: sts:GetCallerIdentity,
# secretsmanager:GetSecretValue (4 KB), kms:Decrypt RSA_2048
# RSAES_OAEP_SHA_256 (also as a ratio to raw rsa.DecryptOAEP measured in
# the same run). A do-nothing net/http server (bench/sdkcpu/floor) is
# measured beside it for sts: the floor under the figures on this machine,
# and the same floor served by a minimal hand-written HTTP/1.1 loop
# (floor-loop): what is left without net/http's own per-request work.
# Rounds alternate the binaries; medians are printed as a markdown table.
#
#   bench/sdk-cpu.sh                       # this tree
#   BEFORE=/work/main bench/sdk-cpu.sh     # side by side with another checkout's binary
#   ROUNDS=5 DURATION=4s CALLERS=1,4,16,64 OPS=sts,secret,kms bench/sdk-cpu.sh
#   MEM=1 bench/sdk-cpu.sh                 # RSS with 10,000 secrets, 10,000 certificates, 1,000 KMS keys
#
# On a machine shared with other work, compare CPU per request side by side
# in one run rather than requests per second across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bulwark" ./cmd/bulwark
go build -o "$tmp/sdkcpu" ./bench/sdkcpu
go build -o "$tmp/floor" ./bench/sdkcpu/floor
bins=(-bin "this=$tmp/bulwark")
if [ -n "${BEFORE:-}" ]; then
  (cd "$BEFORE" && go build -o "$tmp/bulwark-before" ./cmd/bulwark)
  bins=(-bin "before=$tmp/bulwark-before" -bin "after=$tmp/bulwark")
fi
if [ -n "${MEM:-}" ]; then
  "$tmp/sdkcpu" -mem "${bins[@]}" -secrets "${SECRETS:-10000}" -certs "${CERTS:-10000}" -keys "${KEYS:-1000}"
  exit
fi
"$tmp/sdkcpu" "${bins[@]}" -floor "$tmp/floor" -floorloop -rounds "${ROUNDS:-5}" -duration "${DURATION:-4s}" \
  -callers "${CALLERS:-1,4,16,64}" -ops "${OPS:-sts,secret,kms}"
