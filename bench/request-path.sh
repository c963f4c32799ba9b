#!/usr/bin/env bash
# Requests per second of a cheap signed call (sts:GetCallerIdentity) through
# the whole server pipeline (SigV4, routing, audit with fsync, metrics),
# driven by wrk over loopback HTTP/1.1 keep-alive. Run: bench/request-path.sh
# Needs wrk (apt-get install wrk). Prints wrk's report per concurrency.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/bulwark" ./cmd/bulwark
id=AKIABENCHROOT0000000 secret=bench-secret-access-key-0123456789abcdef
"$tmp/bulwark" server --dev --listen 127.0.0.1:4599 --data-dir "$tmp/data" \
  --dev-access-key-id $id --dev-secret-access-key $secret --log-level error >/dev/null &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:4599/healthz >/dev/null && break; sleep 0.1; done
go run ./bench/signreq -endpoint http://127.0.0.1:4599 -access-key-id $id -secret-access-key $secret > "$tmp/req.lua"
for conns in ${CONNS:-16 64}; do
  echo "== $conns connections, 2 threads, ${DURATION:-10s}"
  wrk -t2 -c"$conns" -d"${DURATION:-10s}" --latency -s "$tmp/req.lua" http://127.0.0.1:4599/
done
