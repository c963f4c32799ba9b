#!/usr/bin/env bash
# Server-side throughput of cheap API calls, with wrk replaying one signed
# request per operation over loopback keep-alive (no client-side signing or
# SDK cost in the numbers). Operations: sts:GetCallerIdentity, a 4 KB
# secretsmanager:GetSecretValue, kms:Encrypt/Decrypt/GenerateDataKey on a
# symmetric key, kms:Decrypt on RSA_2048. Needs wrk and the AWS CLI.
#   bench/api-throughput.sh            (DURATION=10s CONNS=64 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
port=${PORT:-4598}
ep=http://127.0.0.1:$port
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/bulwark" ./cmd/bulwark
go build -o "$tmp/signreq" ./bench/signreq
export AWS_ACCESS_KEY_ID=AKIABENCHROOT0000000 AWS_SECRET_ACCESS_KEY=bench-secret-access-key-0123456789abcdef
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
"$tmp/bulwark" server --dev --listen 127.0.0.1:$port --data-dir "$tmp/data" \
  --dev-access-key-id "$AWS_ACCESS_KEY_ID" --dev-secret-access-key "$AWS_SECRET_ACCESS_KEY" --log-level error >/dev/null &
pid=$!
for _ in $(seq 100); do curl -sf $ep/healthz >/dev/null && break; sleep 0.1; done
aws="aws --endpoint-url $ep --output text"
value=$(head -c 3072 /dev/urandom | base64 -w0 | head -c 4096)
$aws secretsmanager create-secret --name bench --secret-string "$value" >/dev/null
sym=$($aws kms create-key --query KeyMetadata.KeyId)
rsa=$($aws kms create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT --query KeyMetadata.KeyId)
symblob=$($aws kms encrypt --key-id "$sym" --plaintext aGVsbG8= --query CiphertextBlob)
rsablob=$($aws kms encrypt --key-id "$rsa" --encryption-algorithm RSAES_OAEP_SHA_256 --plaintext aGVsbG8= --query CiphertextBlob)

run() { # name, signreq args...
  local name=$1; shift
  "$tmp/signreq" -endpoint $ep "$@" > "$tmp/$name.lua"
  printf '%-28s ' "$name"
  wrk -t2 -c"${CONNS:-64}" -d"${DURATION:-10s}" --latency -s "$tmp/$name.lua" $ep/ |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
         END {printf "%10s req/s   p50 %-8s p99 %-8s %s\n", rps, p50, p99, (bad ? "NON-2XX: " bad : "")}'
}
run sts-GetCallerIdentity -service sts
run sm-GetSecretValue-4KB -service secretsmanager -target secretsmanager.GetSecretValue -body '{"SecretId":"bench"}'
run kms-Encrypt-sym -service kms -target TrentService.Encrypt -body "{\"KeyId\":\"$sym\",\"Plaintext\":\"aGVsbG8=\"}"
run kms-Decrypt-sym -service kms -target TrentService.Decrypt -body "{\"CiphertextBlob\":\"$symblob\"}"
run kms-GenerateDataKey -service kms -target TrentService.GenerateDataKey -body "{\"KeyId\":\"$sym\",\"KeySpec\":\"AES_256\"}"
run kms-Decrypt-RSA2048 -service kms -target TrentService.Decrypt -body "{\"KeyId\":\"$rsa\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\",\"CiphertextBlob\":\"$rsablob\"}"
