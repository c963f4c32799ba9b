#!/bin/sh
# Writes the Color App's two certificate hierarchies into DIR for the
# benchmarks (bench/mesh.sh, bench/testssl.sh): a ColorTeller CA with the
# sidecar's server certificate (SANs colorteller.mesh.local, localhost,
# IP 127.0.0.1) and a ColorGateway CA with the gateway's client
# certificate (colorgateway.mesh.local), all with KEYTYPE keys:
#   bench/mesh/gen-certs.sh DIR ecdsa|rsa
# Same layout and extensions as examples/colorapp/local/gen-certs.sh.
# DAYS (default 30) is the leaves' validity; CRL_URL, when set, is written
# as the leaves' CRL distribution point (as ACM PCA does for a CA with a
# CRL configuration; nothing serves it here).
# Test material only: the keys are unencrypted files.
set -eu
dir=$1
case ${2:-ecdsa} in
ecdsa) alg="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
rsa) alg="-newkey rsa:2048" ;;
*) echo "usage: $0 DIR ecdsa|rsa" >&2; exit 2 ;;
esac
mkdir -p "$dir"
cd "$dir"
umask 077
for name in colorteller colorgateway; do
	# shellcheck disable=SC2086 # $alg is several arguments
	openssl req -x509 $alg -nodes -days 365 -sha256 \
		-keyout "${name}_ca_key.pem" -out "${name}_ca.pem" -subj "/CN=${name} CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	# shellcheck disable=SC2086
	openssl req $alg -nodes -keyout "${name}_key.pem" -out "${name}.csr" -subj "/CN=${name}.mesh.local" 2>/dev/null
	san="DNS:${name}.mesh.local"
	[ "$name" = colorteller ] && san="$san,DNS:localhost,IP:127.0.0.1"
	ku=digitalSignature
	# An RSA key exchange is never negotiated (ECDHE only), but nginx and
	# OpenSSL clients expect keyEncipherment on RSA server certificates.
	[ "${2:-ecdsa}" = rsa ] && ku="$ku,keyEncipherment"
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,%s\nbasicConstraints=CA:FALSE\n' "$san" "$ku" >"${name}.ext"
	[ -n "${CRL_URL:-}" ] && printf 'crlDistributionPoints=URI:%s\n' "$CRL_URL" >>"${name}.ext"
	openssl x509 -req -sha256 -in "${name}.csr" -CA "${name}_ca.pem" -CAkey "${name}_ca_key.pem" \
		-CAcreateserial -days "${DAYS:-30}" -extfile "${name}.ext" -out "${name}_cert.pem" 2>/dev/null
	cat "${name}_cert.pem" "${name}_ca.pem" >"${name}_cert_chain.pem"
	rm -f "${name}.csr" "${name}.ext" "${name}_ca.srl"
done
