#!/bin/sh
# Makes a throw-away CA and a server certificate for 127.0.0.1, ::1,
# localhost and Intercom's three regional API hosts, for the stand-in
# Intercom (reached by name through connect_to, TLS still verifying the
# name). The CA is trusted only through a test's ca_file. Keys are
# test-only and never shipped.
set -eu
out=${1:?usage: gen-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
	-subj "/CN=intercom-healthd test CA" \
	-keyout "$tmp/ca.key" -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 \
	-subj "/CN=localhost" \
	-keyout server.key -out "$tmp/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:api.intercom.io,DNS:api.eu.intercom.io,DNS:api.au.intercom.io\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/server.csr" -CA ca.pem -CAkey "$tmp/ca.key" \
	-CAcreateserial -CAserial "$tmp/ca.srl" -days 30 -sha256 -extfile "$tmp/ext" \
	-out server.pem 2>/dev/null
