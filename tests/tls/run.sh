#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/tls/run.sh - TLS interop: xmpp-edge's TLS module (via tls_tool)
# against openssl s_server/s_client and gnutls-serv/gnutls-cli, TLS 1.2
# and 1.3, STARTTLS (XMPP prelude) and Direct TLS (ALPN xmpp-server),
# pinned mutual TLS, and the failure cases with their logged reasons.
# Loopback only.  Certificates are generated here, into a temp dir.
# Last line: "N passed, N failed"; exit status non-zero on failure.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
CACHE=${XE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmpp-edge}
PASS=0
FAIL=0
W=$(mktemp -d "${TMPDIR:-/tmp}/xe-tls-interop.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

for t in openssl gnutls-cli gnutls-serv; do
	command -v $t >/dev/null || { echo "missing $t (apt-get install openssl gnutls-bin)"; echo "0 passed, 1 failed"; exit 1; }
done

# --- build the tool against the dev build ----------------------------------
[ -f "$OUT/dev/libxe.a" ] || (cd "$ROOT" && ./build.sh dev) >&2
# The dependency prefix build.sh used: the newest built glibc one.
PREFIX=$(ls -td "$CACHE"/deps/glibc-*/ 2>/dev/null | head -1)
[ -n "$PREFIX" ] || { echo "no dependency build in $CACHE/deps"; echo "0 passed, 1 failed"; exit 1; }
TOOL=$W/tls_tool
gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -O1 -g \
	-fsanitize=address,undefined -fno-omit-frame-pointer \
	-I"$ROOT/common" -I"$ROOT/tls" -I"${PREFIX}include" \
	-DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' \
	"$ROOT/tests/tls/tls_tool.c" "$OUT/dev/libxe.a" -L"${PREFIX}lib" \
	-lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread -o "$TOOL" ||
	{ echo "cannot build tls_tool"; echo "0 passed, 1 failed"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# --- certificates ---------------------------------------------------------------
cd "$W"
q() { "$@" >/dev/null 2>&1; }
ca() { # ca NAME
	q openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.crt" -days 30 -subj "/CN=$1" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign
}
leaf() { # leaf NAME DOMAIN ISSUER|self
	local san="subjectAltName=DNS:$2,otherName:1.3.6.1.5.5.7.8.5;UTF8:$2"
	q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
	printf '%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$1.ext"
	if [ "$3" = self ]; then
		q openssl x509 -req -in "$1.csr" -signkey "$1.key" -out "$1.crt" \
			-days 30 -extfile "$1.ext"
	else
		q openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" \
			-CAcreateserial -out "$1.crt" -days 30 -extfile "$1.ext"
	fi
	chmod 600 "$1.key"
}
ca ca
ca otherca
leaf srv example.com ca
leaf cli example.net ca
leaf wrongname example.org ca
leaf untrusted example.com otherca
leaf selfsigned example.com self
# Debian 12's openssl x509 cannot set past or future dates: our generator.
$TOOL gencert expired example.com ca -40 -10 >/dev/null
$TOOL gencert future example.com ca 10 40 >/dev/null
leaf isrv edge-internal self
leaf icli backend-internal self
leaf iother someone-else self
pin() { openssl x509 -in "$1.crt" -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64; }
PIN_ISRV=$(pin isrv); PIN_ICLI=$(pin icli); PIN_IOTHER=$(pin iother)

# --- helpers ------------------------------------------------------------------------
# nextport: PORT becomes a port the kernel just found free (bound to port 0
# on every address, as gnutls-serv binds, then closed): a guessed one
# (random, then +1) met other tests' listeners and sockets once the suites
# ran in two lanes ("bind() failed: Address already in use").
nextport() {
	PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
}
ok() { PASS=$((PASS + 1)); printf 'ok   %s\n' "$1"; }
bad() { FAIL=$((FAIL + 1)); printf 'FAIL %s\n' "$1"; sed 's/^/    | /' "$2" | tail -n 25; }
waitport() { local i; for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
waitlog() { local i; for i in $(seq 50); do grep -qiE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
waitlisten() { local i; for i in $(seq 50); do grep -q LISTENING "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

SRV_OPTS=(--cert srv.crt --key srv.key --domain example.com --ca ca.crt)
CLI_OPTS=(--cert cli.crt --key cli.key --domain example.net --ca ca.crt)

# tool_pair NAME "SERVER ARGS" "CLIENT ARGS": both tls_tool; both must exit 0.
tool_pair() {
	local name=$1 log=$W/$1.log
	nextport
	# shellcheck disable=SC2086
	$TOOL server --port $PORT $2 >"$log.s" 2>&1 & local sp=$!
	waitlisten "$log.s"
	# shellcheck disable=SC2086
	$TOOL client --port $PORT $3 >"$log.c" 2>&1; local crc=$?
	wait $sp; local src=$?
	cat "$log.s" "$log.c" >"$log"
	if [ $src -eq 0 ] && [ $crc -eq 0 ]; then ok "$name"; else bad "$name" "$log"; fi
}

# tool_server_vs NAME "SERVER ARGS" CMD...: our server, a foreign client
# (CMD gets PORT substituted for @PORT@); our server must exit 0.
tool_server_vs() {
	local name=$1 sargs=$2 log=$W/$1.log; shift 2
	nextport
	# shellcheck disable=SC2086
	$TOOL server --port $PORT $sargs >"$log.s" 2>&1 & local sp=$!
	waitlisten "$log.s"
	local cmd=("${@//@PORT@/$PORT}")
	# The line goes once our server reports the handshake's end, and the
	# client's input stays open until our server has read it or closed
	# (each wait bounded by waitlog's 5 s), not for fixed times.
	(waitlog "$log.s" '^(HANDSHAKE|ERROR|CLOSED)'; printf 'hello-from-peer\n'
		waitlog "$log.s" '^(READ|ERROR|CLOSED|RESULT)') | timeout 10 "${cmd[@]}" >"$log.c" 2>&1
	wait $sp; local src=$?
	cat "$log.s" "$log.c" >"$log"
	if [ $src -eq 0 ]; then ok "$name"; else bad "$name" "$log"; fi
}

# tool_client_vs NAME "CLIENT ARGS" CMD...: a foreign server, our client.
tool_client_vs() {
	local name=$1 cargs=$2 log=$W/$1.log; shift 2
	nextport
	local cmd=("${@//@PORT@/$PORT}")
	(sleep 6) | "${cmd[@]}" >"$log.s" 2>&1 & local sp=$!
	PIDS+=($sp)
	# Not by connecting: s_server -naccept 1 would spend itself on it.
	waitlog "$log.s" 'ACCEPT|listening|ready'; sleep 0.2
	# shellcheck disable=SC2086
	$TOOL client --port $PORT $cargs >"$log.c" 2>&1; local crc=$?
	kill $sp 2>/dev/null; wait $sp 2>/dev/null
	cat "$log.c" "$log.s" >"$log"
	if [ $crc -eq 0 ]; then ok "$name"; else bad "$name" "$log"; fi
}

# --- ours <-> ours ------------------------------------------------------------------
tool_pair self_starttls "${SRV_OPTS[*]} --starttls --expect ping --send pong" \
	"${CLI_OPTS[*]} --starttls --peer example.com --send ping --expect pong --expect-verify ok"
tool_pair self_direct_alpn "${SRV_OPTS[*]} --expect ping" \
	"${CLI_OPTS[*]} --direct --peer example.com --send ping --expect-verify ok"
# Bytes pipelined after <starttls/> must go to TLS, never to XML: here
# they are XML (a command injection attempt), so TLS fails on them.
tool_pair starttls_injection_reaches_tls "${SRV_OPTS[*]} --starttls --expect-error XML" \
	"${CLI_OPTS[*]} --starttls --peer example.com --inject <message>injected</message> --expect-error any"
tool_pair internal_pins_ok \
	"${SRV_OPTS[*]} --internal --icert isrv.crt --ikey isrv.key --pin $PIN_IOTHER --pin $PIN_ICLI --expect ping" \
	"${CLI_OPTS[*]} --internal --icert icli.crt --ikey icli.key --pin $PIN_ISRV --send ping --expect-verify ok"
tool_pair internal_wrong_pin \
	"${SRV_OPTS[*]} --internal --icert isrv.crt --ikey isrv.key --pin $PIN_IOTHER --expect-error pin" \
	"${CLI_OPTS[*]} --internal --icert icli.crt --ikey icli.key --pin $PIN_ISRV --expect-error any"

# --- foreign clients -> our server --------------------------------------------------
S_CLIENT=(openssl s_client -connect 127.0.0.1:@PORT@ -servername example.com
	-CAfile ca.crt -verify_return_error -cert cli.crt -key cli.key -quiet)
for v in tls1_2 tls1_3; do
	tool_server_vs "openssl_s_client_${v}_direct_alpn" "${SRV_OPTS[*]} --expect hello-from-peer" \
		"${S_CLIENT[@]}" -$v -alpn xmpp-server
	tool_server_vs "openssl_s_client_${v}_starttls" "${SRV_OPTS[*]} --starttls --expect hello-from-peer" \
		"${S_CLIENT[@]}" -$v -starttls xmpp-server -xmpphost example.com
done
# P-256 key exchange (the certificates are ECDSA P-256 too): the key share,
# the ECDH and the CertificateVerify go through the P-256 PSA driver
# (tls/psa_driver/p256_driver.c); TLS 1.2's ECDHE-ECDSA as well.
for v in tls1_2 tls1_3; do
	tool_server_vs "openssl_s_client_${v}_p256" "${SRV_OPTS[*]} --expect hello-from-peer" \
		"${S_CLIENT[@]}" -$v -groups P-256 -alpn xmpp-server
done
tool_server_vs openssl_s_client_tls1_1_refused "${SRV_OPTS[*]} --expect-error version" \
	openssl s_client -connect 127.0.0.1:@PORT@ -tls1_1 -cipher DEFAULT@SECLEVEL=0 -quiet
tool_server_vs openssl_s_client_tls1_0_refused "${SRV_OPTS[*]} --expect-error version" \
	openssl s_client -connect 127.0.0.1:@PORT@ -tls1 -cipher DEFAULT@SECLEVEL=0 -quiet
tool_server_vs openssl_s_client_weak_suite_refused "${SRV_OPTS[*]} --expect-error cipher" \
	openssl s_client -connect 127.0.0.1:@PORT@ -tls1_2 -cipher AES128-SHA:RC4-SHA:DES-CBC3-SHA -quiet
tool_server_vs openssl_s_client_wrong_alpn_refused "${SRV_OPTS[*]} --expect-error application" \
	openssl s_client -connect 127.0.0.1:@PORT@ -alpn xmpp-client -quiet
tool_server_vs internal_no_client_cert "${SRV_OPTS[*]} --internal --icert isrv.crt --ikey isrv.key --pin $PIN_ICLI --expect-error certificate" \
	openssl s_client -connect 127.0.0.1:@PORT@ -tls1_2 -quiet
tool_server_vs internal_no_client_cert_tls13 "${SRV_OPTS[*]} --internal --icert isrv.crt --ikey isrv.key --pin $PIN_ICLI --expect-error certificate" \
	openssl s_client -connect 127.0.0.1:@PORT@ -tls1_3 -quiet
tool_server_vs internal_openssl_pinned_client "${SRV_OPTS[*]} --internal --icert isrv.crt --ikey isrv.key --pin $PIN_ICLI --expect hello-from-peer" \
	openssl s_client -connect 127.0.0.1:@PORT@ -cert icli.crt -key icli.key -quiet

G_CLI=(gnutls-cli --port @PORT@ --x509cafile ca.crt --x509certfile cli.crt --x509keyfile cli.key
	--sni-hostname example.com --verify-hostname example.com)
tool_server_vs gnutls_cli_tls1_2_alpn "${SRV_OPTS[*]} --expect hello-from-peer" \
	"${G_CLI[@]}" --priority NORMAL:-VERS-ALL:+VERS-TLS1.2 --alpn xmpp-server 127.0.0.1
tool_server_vs gnutls_cli_tls1_3_alpn "${SRV_OPTS[*]} --expect hello-from-peer" \
	"${G_CLI[@]}" --priority NORMAL:-VERS-ALL:+VERS-TLS1.3 --alpn xmpp-server 127.0.0.1
tool_server_vs gnutls_cli_starttls "${SRV_OPTS[*]} --starttls --expect hello-from-peer" \
	"${G_CLI[@]}" --starttls-proto xmpp 127.0.0.1

# Garbage, and a handshake cut short.
garbage() {
	local name=$1 data=$2 want=$3 log=$W/$1.log
	nextport
	$TOOL server --port $PORT "${SRV_OPTS[@]}" --expect-error "$want" >"$log" 2>&1 & local sp=$!
	waitlisten "$log"
	(exec 3<>/dev/tcp/127.0.0.1/$PORT; printf "$data" >&3; sleep 0.3) 2>/dev/null
	wait $sp && ok "$name" || bad "$name" "$log"
}
garbage garbage_http 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' garbage
garbage garbage_xml "<?xml version='1.0'?><stream:stream>" XML
garbage truncated_client_hello '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh' truncated

# --- our client -> foreign servers ---------------------------------------------------
S_SERVER=(openssl s_server -accept 127.0.0.1:@PORT@ -naccept 1)
for v in tls1_2 tls1_3; do
	tool_client_vs "openssl_s_server_${v}_direct_alpn" "${CLI_OPTS[*]} --peer example.com --direct --expect-verify ok" \
		"${S_SERVER[@]}" -$v -cert srv.crt -key srv.key -alpn xmpp-server
done
# A server that takes only P-256: our client's X25519 key share is refused
# with a HelloRetryRequest and it sends a P-256 one (RFC 8446 §4.1.4).
for v in tls1_2 tls1_3; do
	tool_client_vs "openssl_s_server_${v}_p256" "${CLI_OPTS[*]} --peer example.com --direct --expect-verify ok" \
		"${S_SERVER[@]}" -$v -groups P-256 -cert srv.crt -key srv.key -alpn xmpp-server
done
for c in expired future wrongname untrusted selfsigned; do
	case $c in
	expired) want=expired ;; future) want=not ;; wrongname) want=name ;;
	untrusted) want=untrusted ;; selfsigned) want=self-signed ;;
	esac
	tool_client_vs "verify_$c" "${CLI_OPTS[*]} --peer example.com --expect-verify $want" \
		"${S_SERVER[@]}" -cert $c.crt -key $c.key
done
G_SERV=(gnutls-serv --port @PORT@ --x509certfile srv.crt --x509keyfile srv.key)
tool_client_vs gnutls_serv_tls1_2 "${CLI_OPTS[*]} --peer example.com --expect-verify ok" \
	"${G_SERV[@]}" --priority NORMAL:-VERS-ALL:+VERS-TLS1.2
tool_client_vs gnutls_serv_tls1_3_alpn "${CLI_OPTS[*]} --peer example.com --direct --expect-verify ok" \
	"${G_SERV[@]}" --priority NORMAL:-VERS-ALL:+VERS-TLS1.3 --alpn xmpp-server
tool_client_vs openssl_s_server_tls1_1_only "${CLI_OPTS[*]} --peer example.com --expect-error any" \
	"${S_SERVER[@]}" -tls1_1 -cipher DEFAULT@SECLEVEL=0 -cert srv.crt -key srv.key
tool_client_vs internal_client_vs_openssl_requiring_cert "${CLI_OPTS[*]} --internal --icert icli.crt --ikey icli.key --pin $PIN_ISRV --expect-verify ok" \
	"${S_SERVER[@]}" -cert isrv.crt -key isrv.key -Verify 1 -verify_return_error -CAfile icli.crt
tool_client_vs internal_client_wrong_pin "${CLI_OPTS[*]} --internal --icert icli.crt --ikey icli.key --pin $PIN_IOTHER --expect-error pin" \
	"${S_SERVER[@]}" -cert isrv.crt -key isrv.key

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
