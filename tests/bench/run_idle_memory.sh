#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Resident memory per idle inbound TLS stream: N Direct TLS streams (ALPN
# xmpp-server, no client certificate: how dialback peers come) opened
# and left idle after the stream header was answered with features;
# VmRSS of the server before and after, divided by N.  This counts
# everything a stream costs (TLS state, tokenizer, session struct,
# allocator overhead), unlike tls/MEMORY.md's TLS-only figure.
#
# Servers, in one run: each xmpp-edge binary of BENCH_EDGE_BINS (default
# "xmpp-edge=out/xmpp-edge"; e.g. "before=PATH after=out/xmpp-edge"), with
# limits raised so that N streams fit, and Prosody 0.12 (a private
# instance on 127.0.0.1, s2s_direct_tls_ports, as the prosody user; skip
# with BENCH_NO_PROSODY=1).  The client spreads the streams over source
# addresses of 127.1.0.0/16 and up, one /24 each (limits.max_streams_per_ip,
# max_streams_per_ipv4_24).
# Usage: tests/bench/run_idle_memory.sh [N]   (default 10000; the fd limit
# is raised to fit)
set -eu
XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$XE_ROOT"
N=${1:-${BENCH_IDLE_N:-10000}}
BIN=${XE_STATIC_BIN:-${XE_OUT:-$XE_ROOT/out}/xmpp-edge}
EDGE_BINS=${BENCH_EDGE_BINS:-xmpp-edge=$BIN}
# The edge wants 2 x limits.max_streams + listeners (inbound and
# outgoing); the client holds N too.  Root may raise the hard limit.
ulimit -Hn $((2 * N + 2048)) 2>/dev/null || true
ulimit -n $((2 * N + 2048)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt "$N" ] || { echo "run_idle_memory.sh: fd limit $(ulimit -n) < $N streams" >&2; exit 1; }

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_idle_memory.sh: %s\n' "$*" >&2; exit 1; }
. "$XE_ROOT/tests/bench/benchlib.sh"
[ -n "${BENCH_NO_PROSODY:-}" ] || bench_packages prosody
bench_workdir xe-idlemem
PROXY_RUN=()	# memory, not CPU: nothing pinned

(
	cd "$W"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout example.key \
		-out example.crt -days 2 -subj "/CN=example.com" -addext subjectAltName=DNS:example.com
	chmod 600 example.key
	mkdir -p prosody
	cp example.crt example.key prosody/
	# Started as root, xmpp-edge drops to the xmpp-edge user when it
	# exists (./build.sh install), else to nobody, and wants the key
	# owned by root or that user.
	[ "$(id -u)" -ne 0 ] || chown "$(id -u xmpp-edge 2>/dev/null || echo 65534)" example.key
	# Outgoing streams: the remote servers' CA and wildcard certificate
	# (*.peers.example), the gateway's and the internal listener's keys.
	ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	openssl req -x509 $ec -keyout peers-ca.key -out peers-ca.crt -days 2 -subj "/CN=peers CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
	printf 'subjectAltName=DNS:*.peers.example\nextendedKeyUsage=serverAuth,clientAuth\n' >peers.ext
	openssl req $ec -keyout peers.key -out peers.csr -subj "/CN=peers.example"
	openssl x509 -req -in peers.csr -CA peers-ca.crt -CAkey peers-ca.key -CAcreateserial \
		-out peers.crt -days 2 -extfile peers.ext
	cp example.crt edge-ca.crt
	openssl req -x509 $ec -keyout gw.key -out gw.crt -days 2 -subj "/CN=gateway.internal" \
		-addext subjectAltName=DNS:gateway.internal
	openssl req -x509 $ec -keyout edge.key -out edge.crt -days 2 -subj "/CN=edge.internal" \
		-addext subjectAltName=DNS:edge.internal
	chmod 600 edge.key
	[ "$(id -u)" -ne 0 ] || chown "$(id -u xmpp-edge 2>/dev/null || echo 65534)" edge.key
) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log" >&2; exit 1; }

# measure LABEL PID PORT: prints the per-stream figure line.
measure() {
	/usr/bin/python3 - "$2" "$N" "$3" "$1" <<'PY'
import socket, ssl, sys, time
pid, n, port, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["xmpp-server"])
hdr = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
       b"xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "
       b"from='example.net' version='1.0'>")
def stream(i):
    # 60 per source address, each address in a /24 of its own: under
    # limits.max_streams_per_ip (64) and max_streams_per_ipv4_24 (256).
    k = i // 60
    src = (f"127.{1 + k // 250}.{k % 250}.1", 0)
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), source_address=src, timeout=60),
                        server_hostname="example.com")
    t.sendall(hdr)
    got = b""
    while b"</stream:features>" not in got:
        chunk = t.recv(4096)
        if not chunk:
            raise SystemExit(f"{label}: stream {i} closed: {got[-300:]!r}")
        got += chunk
    return t
warm = [stream(i) for i in range(20)]   # the allocator and the loop at steady state
for t in warm:
    t.close()
time.sleep(1)
before = rss()
socks = [stream(20 + i) for i in range(n)]
time.sleep(1)
after = rss()
print(f"{label:<10} {n:>7} {before:>12} {after:>12} {(after - before) / n:>10.0f}")
for t in socks:
    t.close()
PY
}

if [ -z "${BENCH_NO_INBOUND:-}" ]; then	# BENCH_NO_INBOUND=1: outgoing only
echo "idle inbound Direct TLS streams (TLS 1.3, ECDSA P-256, after <stream:features>); VmRSS in bytes"
printf '%-10s %7s %12s %12s %10s\n' server streams "RSS before" "RSS after" "per stream"
declare -A PER
for e in $EDGE_BINS; do
	label=${e%%=*} bin=${e#*=}
	port=$(free_port)
	edge_start "$label" "$bin" "" "$port" "$W/example.crt" $((N + 100))
	pid=$EDGE_PID
	line=$(measure "$label" "$pid" "$port")
	echo "$line"
	PER[$label]=$(awk '{ print $5 }' <<<"$line")
	echo "  $label: $(wc -l <"$W/$label/edge.log") log lines at level warn and above" >&2
	kill "$pid"
done
if [ -z "${BENCH_NO_PROSODY:-}" ]; then
	port=$(free_port)
	prosody_start "$W/prosody" "s2s_ports = { }
s2s_direct_tls_ports = { $port }"
	wait_port "$port" || { cat "$W/prosody/"*.log >&2; exit 1; }
	line=$(measure prosody "$PROSODY_PID" "$port")
	echo "$line"
	PER[prosody]=$(awk '{ print $5 }' <<<"$line")
	for e in $EDGE_BINS; do
		awk -v l="${e%%=*}" -v a="${PER[${e%%=*}]}" -v b="${PER[prosody]}" \
			'BEGIN { printf "%s/Prosody RSS per idle stream: %.2fx\n", l, a / b }'
	done
fi
fi

# --- outgoing streams ------------------------------------------------------------
# Each binary of BENCH_EDGE_BINS dials N remote domains the gateway writes
# to (tests/bench/idle_outbound.py plays the gateway, DNS and the remote
# servers).  BENCH_NO_OUTBOUND=1 skips it.
[ -z "${BENCH_NO_OUTBOUND:-}" ] || exit 0
PIN=$(openssl x509 -in "$W/gw.crt" -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)
echo
echo "idle outgoing streams (STARTTLS, SASL EXTERNAL, TLS 1.3, ECDSA P-256, after one message each); VmRSS in bytes"
printf '%-10s %7s %12s %12s %10s\n' server streams "RSS before" "RSS after" "per stream"
for e in $EDGE_BINS; do
	label=${e%%=*} bin=${e#*=}
	ext=$(free_port) int=$(free_port) sink=$(free_port) dns=$(free_port) gw=$(free_port)
	mkdir -p "$W/out-$label"
	cat >"$W/out-$label/edge.json" <<EOF
{
  "state_dir": "$W/out-$label/state",
  "domains": [{ "name": "example.com", "cert": "$W/example.crt", "key": "$W/example.key" }],
  "listen": { "starttls": ["127.0.0.1:$ext"], "direct_tls": [], "internal": ["127.0.0.1:$int"],
              "control": "$W/out-$label/state/control.sock" },
  "gateway": { "address": "127.0.0.1:$gw", "pins": ["$PIN"],
               "cert": "$W/edge.crt", "key": "$W/edge.key" },
  "tls": { "ca_file": "$W/peers-ca.crt" },
  "dns": { "servers": ["127.0.0.1:$dns"], "allow_private_targets": ["127.0.0.0/8"],
           "timeout_ms": 10000, "tries": 3, "negative_ttl_s": 0 },
  "limits": { "max_streams": $((N + 1000)), "handshake_timeout_ms": 600000 },
  "log": { "level": "warn" }
}
EOF
	chmod -R a+rX -- "${W:?}/out-${label:?}"
	"$bin" run -c "$W/out-$label/edge.json" >"$W/out-$label/edge.log" 2>&1 &
	PIDS+=($!)
	pid=$!
	wait_port "$int" || die "$label did not start: $(tail -5 "$W/out-$label/edge.log")"
	/usr/bin/python3 "$XE_ROOT/tests/bench/idle_outbound.py" "$pid" "$N" "$int" "$sink" "$dns" "$W" "$label" ||
		die "$label: outgoing streams failed: $(tail -5 "$W/out-$label/edge.log")"
	echo "  $label: $(wc -l <"$W/out-$label/edge.log") log lines at level warn and above" >&2
	kill "$pid"
done
