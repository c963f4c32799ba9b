#!/usr/bin/env bash
# Mesh data-plane throughput on loopback, with wrk as the client and the
# ColorTeller app (examples/colorapp/colorteller) as the upstream:
#   (a) client → app directly (plain HTTP);
#   (b) client → bulwark gateway → bulwark sidecar (mTLS) → app;
#   (c) the same with nginx: TLS origination with a client certificate at
#       the gateway (proxy_pass https, proxy_ssl_certificate,
#       proxy_ssl_trusted_certificate, proxy_ssl_verify) and mTLS
#       termination at the sidecar (ssl_verify_client on);
#   (d) the same with HAProxy (Debian's haproxy package): `server ... ssl
#       crt ... ca-file ... verify required verifyhost` at the gateway,
#       `bind ... ssl crt ... ca-file ... verify required` at the sidecar,
#       `http-reuse always` (bench/mesh/haproxy.cfg.tmpl).
# The gateway listener is one-way TLS (the ColorGateway certificate), so a
# new client connection is a TLS handshake at the first hop. Every proxy
# pools its upstream connections (bulwark's cluster transport; nginx
# `keepalive 256` + HTTP/1.1 + proxy_ssl_session_reuse), so the gateway →
# sidecar mTLS hop and the sidecar → app hop are reused in both set-ups,
# in every load mode. Load modes:
#   keepalive  wrk, keep-alive connections;
#   close      wrk -H "Connection: close": a new client connection per
#              request. wrk keeps the TLS session across its reconnects
#              (SSL_clear), so these are RESUMED handshakes (no certificate
#              signature) against both proxies, which both issue tickets;
#   full       `openssl s_time -new`, PARALLEL processes: a FULL handshake
#              (certificate signature) and one HTTP/1.0 GET per connection;
#              connections/s and the mean time per connection only.
# Certificates: ECDSA P-256 and RSA-2048, the same files for all proxies.
# nginx and HAProxy run in the foreground from a temp prefix with their
# own configs, worker_processes / nbthread = the cores a bulwark process
# uses (GOMAXPROCS = nproc). All set-ups run side by side and are measured
# back to back, ROUNDS times in rotating order; the table gives each
# case's MEDIAN round (and its spread), the ratios compare medians (the
# machine may be shared; see the printed load average).
# At the end, Go's RSA-2048 PSS and ECDSA P-256 signatures
# (BenchmarkHandshakeSign) against `openssl speed` on the same machine.
# Memory (RSS_CONNS > 0, ecdsa only): wrk holds RSS_CONNS keep-alive
# connections to each gateway for RSS_SECS; the peak resident set of the
# gateway and of the sidecar (all processes: nginx master + workers) is
# sampled from /proc every 0.2 s.
#   bench/mesh.sh   (DURATION=8s CONNS=32 THREADS=2 ROUNDS=3 PARALLEL=4
#                    RSS_CONNS=1000 RSS_SECS=10 KINDS="ecdsa rsa"
#                    PROXIES="bulwark nginx haproxy")
set -euo pipefail
cd "$(dirname "$0")/.."
for c in wrk nginx haproxy openssl curl go; do
	command -v $c >/dev/null || { echo "$c is not installed" >&2; exit 1; }
done
duration=${DURATION:-8s}
conns=${CONNS:-32}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
parallel=${PARALLEL:-4}
rss_conns=${RSS_CONNS:-1000}
rss_secs=${RSS_SECS:-10}
kinds=${KINDS:-ecdsa rsa}
proxies=${PROXIES:-bulwark nginx haproxy}
secs=${duration%s}
workers=$(nproc)
app_port=19180
bgw_port=18443 bsc_port=18444 bgw_admin=19902 bsc_admin=19901
ngw_port=18543 nsc_port=18544
hgw_port=18643 hsc_port=18644
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

wait_http() { # url: until it answers 200 (self-signed CA: -k; only a readiness probe)
	for _ in $(seq 100); do
		curl -skf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "no answer from $1" >&2
	return 1
}
wait_http "http://127.0.0.1:$app_port/"
stop() { # pid...
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

results=$tmp/results
: >"$results"
# run NAME KIND MODE URL: one wrk run, a line "name kind mode rps p50ms p99ms errors" in $results.
run() {
	local name=$1 kind=$2 mode=$3 url=$4 hdr=()
	[ "$mode" = close ] && hdr=(-H "Connection: close")
	wrk -t"$threads" -c"$conns" -d1s "${hdr[@]}" "$url" >/dev/null # warm-up
	wrk -t"$threads" -c"$conns" -d"$duration" --latency "${hdr[@]}" "$url" >"$tmp/wrk.out"
	awk -v name="$name" -v kind="$kind" -v mode="$mode" '
		function ms(v) {
			if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
			if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
			if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
			if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
			return v
		}
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = ms($2) }
		/^ +99%/ { p99 = ms($2) }
		/Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx/ { err += $NF }
		END { printf "%s %s %s %.0f %.3f %.3f %d\n", name, kind, mode, rps, p50, p99, err }
	' "$tmp/wrk.out" | tee -a "$results" >&2
}

# full NAME KIND HOSTPORT: PARALLEL `openssl s_time -new` clients, full
# handshakes; the same line format, p50 = mean ms per connection and
# client, no p99.
full() {
	local name=$1 kind=$2 hp=$3 i cl=()
	for i in $(seq "$parallel"); do
		openssl s_time -connect "$hp" -new -www / -time "$secs" >"$tmp/stime.$i" 2>&1 &
		cl+=($!)
	done
	for i in "${cl[@]}"; do wait "$i" || true; done
	cat "$tmp"/stime.* | awk -v name="$name" -v kind="$kind" -v p="$parallel" '
		/connections in [0-9]+ real seconds/ { n += $1; if ($4 > real) real = $4 }
		END { rate = (real > 0 ? n / real : 0); printf "%s %s full %.0f %.3f - 0\n", name, kind, rate, (rate > 0 ? p * 1000 / rate : 0) }
	' | tee -a "$results" >&2
	rm -f "$tmp"/stime.*
}

# rss_kb PID FIELD: FIELD (VmRSS, or RssAnon: the process's own memory,
# without the file-backed pages of its binary and libraries, which are
# shared and reclaimable) of PID and its children (nginx workers), kB.
rss_kb() {
	local t=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		t=$((t + $(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo $t
}
# rss_run NAME PORT GATEWAY_PID SIDECAR_PID: RSS_CONNS keep-alive
# connections for RSS_SECS; a line "rss NAME gwMB gwAnonMB scMB scAnonMB
# rps errors" in $results (peaks).
rss_run() {
	local name=$1 port=$2 gp=$3 sp=$4 g=0 ga=0 s=0 sa=0 v w
	wrk -t"$threads" -c"$rss_conns" -d"${rss_secs}s" --timeout 10s "https://127.0.0.1:$port/" >"$tmp/wrk-rss.out" 2>&1 &
	w=$!
	while kill -0 "$w" 2>/dev/null; do
		v=$(rss_kb "$gp" VmRSS) && [ "$v" -gt "$g" ] && g=$v
		v=$(rss_kb "$gp" RssAnon) && [ "$v" -gt "$ga" ] && ga=$v
		v=$(rss_kb "$sp" VmRSS) && [ "$v" -gt "$s" ] && s=$v
		v=$(rss_kb "$sp" RssAnon) && [ "$v" -gt "$sa" ] && sa=$v
		sleep 0.2
	done
	wait "$w" || true
	awk -v name="$name" -v g="$g" -v ga="$ga" -v s="$s" -v sa="$sa" '
		/Requests\/sec/ { rps = $2 }
		/Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx/ { err += $NF }
		END { printf "rss %s %.1f %.1f %.1f %.1f %.0f %d\n", name, g / 1024, ga / 1024, s / 1024, sa / 1024, rps, err }
	' "$tmp/wrk-rss.out" | tee -a "$results" >&2
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# (a) the app alone: the ceiling, independent of the key type.
for mode in keepalive close; do run direct - "$mode" "http://127.0.0.1:$app_port/"; done

for kind in $kinds; do
	certs=$tmp/certs-$kind
	bench/mesh/gen-certs.sh "$certs" "$kind"

	# (b) bulwark: gateway (one-way TLS listener, mTLS client) → sidecar (mTLS).
	cat >"$tmp/bulwark-sidecar.yaml" <<YAML
proxy:
  adminAddress: 127.0.0.1:$bsc_admin
  listeners:
    - {port: $app_port, address: "127.0.0.1:$bsc_port"}
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
            file: {certificateChain: $certs/colorteller_cert_chain.pem, privateKey: $certs/colorteller_key.pem}
          validation:
            trust:
              file: {certificateChain: $certs/colorgateway_ca.pem}
            subjectAlternativeNames:
              match: {exact: [colorgateway.mesh.local]}
    serviceDiscovery:
      dns: {hostname: colorteller.mesh.local}
YAML
	cat >"$tmp/bulwark-gateway.yaml" <<YAML
proxy:
  adminAddress: 127.0.0.1:$bgw_admin
  listeners:
    - {port: 8443, address: "127.0.0.1:$bgw_port"}
meshName: color-mesh
virtualGateway:
  virtualGatewayName: colorgateway
  spec:
    listeners:
      - portMapping: {port: 8443, protocol: http}
        tls:
          mode: STRICT
          certificate:
            file: {certificateChain: $certs/colorgateway_cert_chain.pem, privateKey: $certs/colorgateway_key.pem}
    backendDefaults:
      clientPolicy:
        tls:
          certificate:
            file: {certificateChain: $certs/colorgateway_cert_chain.pem, privateKey: $certs/colorgateway_key.pem}
          validation:
            trust:
              file: {certificateChain: $certs/colorteller_ca.pem}
            subjectAlternativeNames:
              match: {exact: [colorteller.mesh.local]}
gatewayRoutes:
  - gatewayRouteName: colorteller-route
    spec:
      httpRoute:
        match: {prefix: /}
        action:
          target:
            virtualService: {virtualServiceName: colorteller.mesh.local}
virtualServices:
  - virtualServiceName: colorteller.mesh.local
    spec:
      provider:
        virtualNode: {virtualNodeName: colorteller}
virtualNodes:
  - virtualNodeName: colorteller
    spec:
      listeners:
        - portMapping: {port: $app_port, protocol: http}
      serviceDiscovery:
        dns: {hostname: "127.0.0.1:$bsc_port"}
YAML
	"$tmp/bulwark" proxy --config "$tmp/bulwark-sidecar.yaml" --log-level error >"$tmp/bulwark-sidecar-$kind.log" 2>&1 &
	bsc=$!
	"$tmp/bulwark" proxy --config "$tmp/bulwark-gateway.yaml" --log-level error >"$tmp/bulwark-gateway-$kind.log" 2>&1 &
	bgw=$!
	pids+=($bsc $bgw)

	# (c) nginx: the same topology, the same certificate files.
	n=$tmp/nginx-$kind
	mkdir -p "$n"
	for role in gateway sidecar; do
		mkdir -p "$n/tmp-$role"
		for f in nginx.conf "$role.inc"; do
			dst=$n/$f
			[ "$f" = nginx.conf ] && dst=$n/nginx-$role.conf
			sed -e "s|@ROLE@|$role|g" -e "s|@WORKERS@|$workers|g" -e "s|@PREFIX@|$n|g" \
				-e "s|@CERTS@|$certs|g" -e "s|@GW_PORT@|$ngw_port|g" -e "s|@SC_PORT@|$nsc_port|g" \
				-e "s|@APP_PORT@|$app_port|g" "bench/mesh/$f.tmpl" >"$dst"
		done
	done
	nginx -p "$n" -e "$n/error-sidecar.log" -c "$n/nginx-sidecar.conf" &
	nsc=$!
	nginx -p "$n" -e "$n/error-gateway.log" -c "$n/nginx-gateway.conf" &
	ngw=$!
	pids+=($nsc $ngw)

	# (d) HAProxy: the same topology, the same certificates (chain + key
	# in one PEM, as HAProxy reads them).
	h=$tmp/haproxy-$kind
	mkdir -p "$h"
	cat "$certs/colorgateway_cert_chain.pem" "$certs/colorgateway_key.pem" >"$h/colorgateway.pem"
	cat "$certs/colorteller_cert_chain.pem" "$certs/colorteller_key.pem" >"$h/colorteller.pem"
	hconf() { # role listen upstream bind-ssl server-ssl
		sed -e "s|@ROLE@|$1|g" -e "s|@WORKERS@|$workers|g" -e "s|@PREFIX@|$h|g" \
			-e "s|@LISTEN_PORT@|$2|g" -e "s|@UPSTREAM_PORT@|$3|g" \
			-e "s|@BIND_SSL@|$4|g" -e "s|@SERVER_SSL@|$5|g" bench/mesh/haproxy.cfg.tmpl >"$h/haproxy-$1.cfg"
	}
	hconf sidecar "$hsc_port" "$app_port" \
		"ssl crt $h/colorteller.pem ca-file $certs/colorgateway_ca.pem verify required" ""
	hconf gateway "$hgw_port" "$hsc_port" "ssl crt $h/colorgateway.pem" \
		"ssl crt $h/colorgateway.pem ca-file $certs/colorteller_ca.pem verify required verifyhost colorteller.mesh.local sni str(colorteller.mesh.local)"
	haproxy -db -f "$h/haproxy-sidecar.cfg" >"$h/sidecar.log" 2>&1 &
	hsc=$!
	haproxy -db -f "$h/haproxy-gateway.cfg" >"$h/gateway.log" 2>&1 &
	hgw=$!
	pids+=($hsc $hgw)
	wait_http "https://127.0.0.1:$bgw_port/"
	wait_http "https://127.0.0.1:$ngw_port/"
	wait_http "https://127.0.0.1:$hgw_port/"
	gwport() { case $1 in bulwark) echo $bgw_port ;; nginx) echo $ngw_port ;; haproxy) echo $hgw_port ;; esac; }

	# Resident memory with RSS_CONNS concurrent keep-alive connections,
	# first, while every process is fresh (a heap grown by earlier load
	# would count in the RSS of the Go processes).
	if [ "$kind" = ecdsa ] && [ "$rss_conns" -gt 0 ]; then
		for who in $proxies; do
			case $who in
			bulwark) gp=$bgw sp=$bsc ;;
			nginx) gp=$ngw sp=$nsc ;;
			haproxy) gp=$hgw sp=$hsc ;;
			esac
			rss_run "$who" "$(gwport "$who")" "$gp" "$sp"
		done
	fi
	# Back to back, rotating which goes first.
	set -- $proxies
	np=$#
	for r in $(seq "$rounds"); do
		order=""
		for i in $(seq 0 $((np - 1))); do
			j=$(( (i + r - 1) % np + 1 ))
			order="$order ${!j}"
		done
		for mode in keepalive close full; do
			for who in $order; do
				port=$(gwport "$who")
				if [ "$mode" = full ]; then
					full "$who" "$kind" "127.0.0.1:$port"
				else
					run "$who" "$kind" "$mode" "https://127.0.0.1:$port/"
				fi
			done
		done
	done
	# Which hops handshook: the gateway listener once per client connection
	# (session_reused: resumptions), the pooled gateway → sidecar hop rarely.
	curl -s "http://127.0.0.1:$bgw_admin/stats" | grep -E '^listener\..*(ssl\.handshake|ssl\.session_reused|downstream_cx_total|ssl\.curves)|^cluster\..*(upstream_cx_total|ssl\.handshake|ssl\.session_reused|ssl\.curves|ssl\.versions)' >&2 || true
	curl -s "http://127.0.0.1:$bsc_admin/stats" | grep -E '^listener\..*(ssl\.handshake|ssl\.session_reused)|^cluster\..*upstream_cx_total' >&2 || true
	stop "$bgw" "$bsc" "$ngw" "$nsc" "$hgw" "$hsc"
	grep -v "Connection refused" "$n"/error-*.log >&2 || true
	grep -v -e '^$' -e 'Proxy .* started' "$h"/*.log >&2 || true
done

# The table: per case the median round (min–max of req/s); ratios of
# bulwark to nginx and to HAProxy over the medians, for requests/s (above
# 1: bulwark faster) and latency (below 1: bulwark faster).
awk -v workers="$workers" -v conns="$conns" -v threads="$threads" -v duration="$duration" -v parallel="$parallel" -v rounds="$rounds" -v rss_conns="$rss_conns" -v rss_secs="$rss_secs" '
	$1 == "rss" { rss[$2] = $3 " | " $4 " | " $5 " | " $6 " | " $7 " | " $8; rssn[++nr] = $2; next }
	{ key = $1 " " $2 " " $3; n[key]++; R[key, n[key]] = $4; P50[key, n[key]] = $5; P99[key, n[key]] = $6; E[key] += $7 }
	function med(arr, key, cnt,   i, j, t, v) {
		for (i = 1; i <= cnt; i++) v[i] = arr[key, i] + 0
		for (i = 2; i <= cnt; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
	}
	function lo(arr, key, cnt,   i, m) { m = arr[key, 1] + 0; for (i = 2; i <= cnt; i++) if (arr[key, i] + 0 < m) m = arr[key, i] + 0; return m }
	function hi(arr, key, cnt,   i, m) { m = arr[key, 1] + 0; for (i = 2; i <= cnt; i++) if (arr[key, i] + 0 > m) m = arr[key, i] + 0; return m }
	function row(label, key) {
		if (!(key in n)) return
		printf "| %s | %.0f | %.0f–%.0f | %.3f | %s | %d |\n", label, rps[key], lo(R, key, n[key]), hi(R, key, n[key]), p50[key], (p99[key] > 0 ? sprintf("%.3f", p99[key]) : "-"), E[key]
	}
	function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0 ? sprintf("%.2f", a / b) : "-") }
	END {
		for (k in n) { rps[k] = med(R, k, n[k]); p50[k] = med(P50, k, n[k]); p99[k] = med(P99, k, n[k]) }
		printf "\nLoopback, %s cores; nginx worker_processes, HAProxy nbthread and bulwark GOMAXPROCS %s per proxy; median of %s rounds.\n", workers, workers, rounds
		printf "keepalive/close: wrk -t%s -c%s -d%s (close = -H \"Connection: close\", TLS resumed by wrk); full: %s x openssl s_time -new (full handshake per connection; req/s = connections/s, p50 = mean ms per connection).\n\n", threads, conns, duration, parallel
		print "| set-up | req/s (median) | req/s min–max | p50 ms | p99 ms | errors |"
		print "|---|---:|---:|---:|---:|---:|"
		for (m = 1; m <= 3; m++) {
			mode = (m == 1 ? "keepalive" : m == 2 ? "close" : "full")
			row("(a) direct, " mode, "direct - " mode)
			for (k = 1; k <= 2; k++) {
				kind = (k == 1 ? "ecdsa" : "rsa")
				row("(b) bulwark, " kind ", " mode, "bulwark " kind " " mode)
				row("(c) nginx, " kind ", " mode, "nginx " kind " " mode)
				row("(d) haproxy, " kind ", " mode, "haproxy " kind " " mode)
			}
		}
		print ""
		print "| key, load | req/s bulwark/nginx | req/s bulwark/haproxy | p50 bulwark/nginx | p99 bulwark/nginx | p99 bulwark/haproxy |"
		print "|---|---:|---:|---:|---:|---:|"
		for (k = 1; k <= 2; k++) for (m = 1; m <= 3; m++) {
			kind = (k == 1 ? "ecdsa" : "rsa"); mode = (m == 1 ? "keepalive" : m == 2 ? "close" : "full")
			b = "bulwark " kind " " mode; x = "nginx " kind " " mode; y = "haproxy " kind " " mode
			if (!(b in n)) continue
			printf "| %s, %s | %s | %s | %s | %s | %s |\n", kind, mode, ratio(rps[b], rps[x]), ratio(rps[b], rps[y]), ratio(p50[b], p50[x]), ratio(p99[b], p99[x]), ratio(p99[b], p99[y])
		}
		if (nr) {
			printf "\nPeak RSS with %s concurrent keep-alive client connections (wrk, %ss, --timeout 10s, ecdsa), MB; anon = RssAnon, without the file-backed pages of binaries and libraries (summed over processes for nginx):\n\n", rss_conns, rss_secs
			print "| proxy | gateway RSS MB | gateway anon MB | sidecar RSS MB | sidecar anon MB | req/s | errors |"
			print "|---|---:|---:|---:|---:|---:|---:|"
			for (i = 1; i <= nr; i++) printf "| %s | %s |\n", rssn[i], rss[rssn[i]]
		}
	}
' "$results"
# The signature a full handshake costs, Go against OpenSSL, in this run:
# what bounds the "full" rows with RSA certificates.
echo
echo "Handshake signatures, same machine, same run (Go: BenchmarkHandshakeSign; OpenSSL: openssl speed):"
go test -run '^$' -bench BenchmarkHandshakeSign -benchtime 2s ./internal/proxy/ | awk '/^Benchmark/ { printf "go %s %.1f us/op\n", $1, $3 / 1000 }'
openssl speed -seconds 2 rsa2048 ecdsap256 2>/dev/null | awk '/^rsa 2048/ { printf "openssl rsa2048 sign %.1f us/op\n", 1e6 / $(NF-1) } /ecdsa \(nistp256\)/ { printf "openssl ecdsap256 sign %.1f us/op\n", 1e6 / $(NF-1) }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
