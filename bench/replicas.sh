#!/usr/bin/env bash
# Throughput of a 4 KB secretsmanager:GetSecretValue and a kms:Decrypt on an
# RSA_2048 key with 1, 2 and 3 dev-server replicas sharing one throwaway
# PostgreSQL cluster, next to one server on embedded SQLite. wrk replays one
# signed request per replica (see bench/api-throughput.sh); with N replicas
# N wrk processes run at once, each with CONNS/N connections to its replica,
# and their requests add up.
#
# On one machine the replicas share its cores, so the figure that scales out
# is the CPU time per request: utime+stime of the server processes (and,
# separately, of the PostgreSQL cluster) from /proc/PID/stat over the run,
# divided by the requests served.
#
# Needs wrk, the AWS CLI and PostgreSQL's server binaries (initdb, pg_ctl);
# run as root it starts PostgreSQL as the postgres user.
#   bench/replicas.sh            (DURATION=10s CONNS=48 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | tail -1)")
[ -x "$pgbin/pg_ctl" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }
DURATION=${DURATION:-10s}
CONNS=${CONNS:-48}
base=${PORT:-4610}
pgport=$((base + 50))
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -f "$tmp/pg/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/bulwark" ./cmd/bulwark
go build -o "$tmp/signreq" ./bench/signreq
export AWS_ACCESS_KEY_ID=AKIABENCHROOT0000000 AWS_SECRET_ACCESS_KEY=bench-secret-access-key-0123456789abcdef
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
export BULWARK_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
hz=$(getconf CLK_TCK)

# The PostgreSQL cluster: default settings (fsync on), loopback only.
mkdir "$tmp/pg" "$tmp/pgsock"
[ "$(id -u)" = 0 ] && chown postgres: "$tmp/pg" "$tmp/pgsock"
as_pg "$pgbin/initdb" -D "$tmp/pg" --auth=trust -U postgres -E UTF8 >/dev/null
as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -l "$tmp/pgsock/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -k $tmp/pgsock -c max_connections=200" start >/dev/null
dsn="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
pgmaster=$(head -1 "$tmp/pg/postmaster.pid")

start_server() { # port, extra args...
  local port=$1; shift
  "$tmp/bulwark" server --dev --listen 127.0.0.1:"$port" --data-dir "$tmp/data-$port" \
    --dev-access-key-id "$AWS_ACCESS_KEY_ID" --dev-secret-access-key "$AWS_SECRET_ACCESS_KEY" \
    --log-level error "$@" >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do curl -sf http://127.0.0.1:"$port"/healthz >/dev/null && return; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
stop_servers() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
# Seed through one server: the 4 KB secret, an RSA key and a ciphertext.
seed() { # endpoint
  local aws="aws --endpoint-url $1 --output text"
  value=$(head -c 3072 /dev/urandom | base64 -w0 | head -c 4096)
  $aws secretsmanager create-secret --name bench --secret-string "$value" >/dev/null
  rsa=$($aws kms create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT --query KeyMetadata.KeyId)
  rsablob=$($aws kms encrypt --key-id "$rsa" --encryption-algorithm RSAES_OAEP_SHA_256 --plaintext aGVsbG8= --query CiphertextBlob)
}
cpu_ticks() { # pids...: utime+stime
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done
  echo $t
}
pg_ticks() { # the postmaster with its exited children, and the live backends
  # (a backend that exits between the two readings moves its time into the
  # postmaster's cutime, so churn can make a small figure noisy)
  local t
  t=$(awk '{print $14 + $15 + $16 + $17}' /proc/"$pgmaster"/stat)
  for p in $(pgrep -P "$pgmaster"); do t=$((t + $(awk '{print $14 + $15 + $16 + $17}' /proc/"$p"/stat 2>/dev/null || echo 0))); done
  echo $t
}

run() { # label, op name, signreq args... (one wrk per running server)
  local label=$1 name=$2; shift 2
  local n=${#pids[@]} i port
  for i in $(seq 0 $((n - 1))); do
    port=$((base + i))
    "$tmp/signreq" -endpoint http://127.0.0.1:$port "$@" > "$tmp/$name-$i.lua"
  done
  local c0 p0 c1 p1
  c0=$(cpu_ticks "${pids[@]}"); p0=$(pg_ticks)
  local wrks=()
  for i in $(seq 0 $((n - 1))); do
    port=$((base + i))
    wrk -t1 -c$((CONNS / n)) -d"$DURATION" -s "$tmp/$name-$i.lua" http://127.0.0.1:$port/ > "$tmp/wrk-$i.out" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  c1=$(cpu_ticks "${pids[@]}"); p1=$(pg_ticks)
  cat "$tmp"/wrk-*.out | awk -v label="$label" -v name="$name" -v hz="$hz" -v cpu=$((c1 - c0)) -v pg=$((p1 - p0)) -v n="$n" '
    /requests in/ {reqs += $1}
    /Requests\/sec/ {rps += $2}
    /Non-2xx/ {bad += $NF}
    END {
      printf "%-16s %-24s %10.0f req/s   server CPU %6.3f ms/req   postgres CPU %6.3f ms/req%s\n",
        label, name, rps, 1000 * cpu / hz / reqs, (pg ? 1000 * pg / hz / reqs : 0), (bad ? "   NON-2XX: " bad : "")
    }'
  rm -f "$tmp"/wrk-*.out
}
ops() { # label
  run "$1" sm-GetSecretValue-4KB -service secretsmanager -target secretsmanager.GetSecretValue -body '{"SecretId":"bench"}'
  run "$1" kms-Decrypt-RSA2048 -service kms -target TrentService.Decrypt \
    -body "{\"KeyId\":\"$rsa\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\",\"CiphertextBlob\":\"$rsablob\"}"
}

echo "DURATION=$DURATION CONNS=$CONNS (total, split over the replicas) on $(nproc) cores"
# SQLite: one server, its own database (postgres CPU stays ~0 here).
start_server $base
seed http://127.0.0.1:$base
ops "sqlite x1"
stop_servers

# PostgreSQL: seed once, then 1, 2, 3 replicas on the same database.
start_server $base --storage "$dsn"
seed http://127.0.0.1:$base
stop_servers
for n in 1 2 3; do
  for i in $(seq 0 $((n - 1))); do start_server $((base + i)) --storage "$dsn"; done
  ops "postgres x$n"
  stop_servers
done
