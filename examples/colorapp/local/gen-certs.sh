#!/bin/sh
# Generates the Color App's two certificate hierarchies for the local
# quick start (docs/proxy.md): a ColorTeller CA with the sidecar's server
# certificate (colorteller.mesh.local) and a ColorGateway CA with the
# gateway's client certificate (colorgateway.mesh.local), ECDSA P-256,
# into ./certs next to this script. Test material only: the keys are
# unencrypted files.
set -eu
cd "$(dirname "$0")"
mkdir -p certs
umask 077
for name in colorteller colorgateway; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-keyout "certs/${name}_ca_key.pem" -out "certs/${name}_ca.pem" -subj "/CN=${name} CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "certs/${name}_key.pem" -out "certs/${name}.csr" -subj "/CN=${name}.mesh.local" 2>/dev/null
	printf 'subjectAltName=DNS:%s.mesh.local\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' "$name" >"certs/${name}.ext"
	openssl x509 -req -in "certs/${name}.csr" -CA "certs/${name}_ca.pem" -CAkey "certs/${name}_ca_key.pem" \
		-CAcreateserial -days 30 -extfile "certs/${name}.ext" -out "certs/${name}_cert.pem" 2>/dev/null
	cat "certs/${name}_cert.pem" "certs/${name}_ca.pem" >"certs/${name}_cert_chain.pem"
	rm -f "certs/${name}.csr" "certs/${name}.ext"
done
echo "certificates written to $(pwd)/certs"
