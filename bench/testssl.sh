#!/usr/bin/env bash
# Scans a `bulwark proxy --config` sidecar listener (one-way STRICT TLS in
# front of the ColorTeller app, loopback only) with testssl.sh, once with
# an ECDSA P-256 certificate and once with RSA-2048, and writes the
# reports to docs/testssl/<ecdsa|rsa>.txt (plus .json, severity MEDIUM and
# up). Exits 1 if testssl reports any finding of severity MEDIUM or higher.
# Needs testssl (Debian package testssl.sh), openssl and Go.
#   bench/testssl.sh            (PORT=15443 APP_PORT=19080 ADMIN_PORT=19901)
#   bench/testssl.sh rsa        (one key type only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
command -v testssl >/dev/null || { echo "testssl is not installed: apt-get install testssl.sh" >&2; exit 1; }
port=${PORT:-15443}
app_port=${APP_PORT:-19080}
admin_port=${ADMIN_PORT:-19901}
out=docs/testssl
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/bulwark" ./cmd/bulwark
go build -o "$tmp/colorteller" ./examples/colorapp/colorteller
SERVER_PORT=$app_port "$tmp/colorteller" 2>"$tmp/app.log" &
pids+=($!)

wait_port() { # host port
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listening on $1:$2" >&2
	return 1
}

status=0
for kind in ${1:-ecdsa rsa}; do
	certs=$tmp/certs-$kind
	# 395 days is ACM's validity for private certificates; the CRL
	# distribution point is what ACM PCA writes for a CA with a CRL. Both are
	# properties of the certificate, not of the proxy: without them testssl
	# reports "expires < 60 days" and "neither CRL nor OCSP URI provided".
	DAYS=395 CRL_URL=http://crl.mesh.local/colorteller.crl bench/mesh/gen-certs.sh "$certs" "$kind"
	cat >"$tmp/sidecar-$kind.yaml" <<YAML
# ColorTeller sidecar, one-way STRICT TLS on 127.0.0.1:$port in front of the app.
proxy:
  adminAddress: 127.0.0.1:$admin_port
  listeners:
    - port: $app_port
      address: 127.0.0.1:$port
  appHost: 127.0.0.1
meshName: color-mesh
virtualNode:
  virtualNodeName: colorteller
  spec:
    listeners:
      - portMapping: {port: $app_port, protocol: http}
        tls:
          mode: STRICT
          certificate:
            file:
              certificateChain: $certs/colorteller_cert_chain.pem
              privateKey: $certs/colorteller_key.pem
    serviceDiscovery:
      dns: {hostname: colorteller.mesh.local}
YAML
	"$tmp/bulwark" proxy --config "$tmp/sidecar-$kind.yaml" --log-level error >"$tmp/proxy-$kind.log" 2>&1 &
	proxy=$!
	pids+=($proxy)
	wait_port 127.0.0.1 "$port"
	rm -f "$out/$kind.json"
	# --add-ca: the scan judges the chain against the mesh CA, as a mesh
	# client would, instead of reporting the private CA as untrusted.
	# Loopback only: --ip pins the address, no DNS, no phone-out.
	testssl --quiet --color 0 --warnings off --severity MEDIUM --ip 127.0.0.1 \
		--add-ca "$certs/colorteller_ca.pem" --jsonfile "$out/$kind.json" \
		"127.0.0.1:$port" >"$tmp/$kind.txt" 2>&1 || true
	# Drop the scan's timing lines so a re-run only changes what matters.
	grep -vE '^ ?(Start|Done) [0-9]{4}-' "$tmp/$kind.txt" >"$out/$kind.txt"
	kill "$proxy"
	wait "$proxy" 2>/dev/null || true
	# Every finding at MEDIUM or above (the JSON file holds only those),
	# except the ones docs/testssl/README.md explains do not apply (the same
	# list as e2e/testssl_test.go).
	if ! python3 - "$out/$kind.json" "$kind" <<'PY'
import json, sys
not_applicable = {
    # testssl wants browser headers (X-Frame-Options, CSP, ...) in the
    # app's answer; the sidecar passes the app's headers through unchanged.
    "security_headers": "HTTP headers are the application's, not TLS",
}
found, waived = [], []
for f in json.load(open(sys.argv[1])):
    if f.get("severity") not in ("MEDIUM", "HIGH", "CRITICAL"):
        continue
    (waived if f["id"] in not_applicable else found).append(f)
for f in waived:
    print(f"{sys.argv[2]}: not applicable: {f['severity']} {f['id']}: {f['finding']} ({not_applicable[f['id']]})")
for f in found:
    print(f"{sys.argv[2]}: {f['severity']} {f['id']}: {f['finding']}")
print(f"{sys.argv[2]}: {len(found)} finding(s) of severity MEDIUM or higher")
sys.exit(1 if found else 0)
PY
	then status=1; fi
done
exit $status
