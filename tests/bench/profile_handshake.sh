#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/profile_handshake.sh - where an xmpp-edge's CPU goes during
# new TLS connections: `perf record -e cpu-clock` on the server while
# hsbench.py (the client of run_handshake.sh) opens N connections of one
# shape with one key exchange group, then the top symbols.
#
#   tests/bench/profile_handshake.sh BIN [N]
#
# BIN: an xmpp-edge with symbols (the release objects relinked without -s:
#   musl-gcc -static -o out/xmpp-edge.sym out/release/obj/cli/main.o \
#     out/release/obj/gen/notices.o out/release/libxe.a -Lout/deps-musl/lib \
#     -lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread).
# Cases: Direct TLS and STARTTLS, X25519 and P-256 (PROFILE_CASES to pick,
# e.g. "direct/X25519"); N connections each (default 1000), 4 at a time.
# Prints each case's top PROFILE_TOP (default 25) symbols by samples.
# Not a test.  Needs root (perf, apt-get) and perf installed.
set -eu

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${1:?usage: profile_handshake.sh BIN [N]}
N=${2:-1000}
PCPU=${BENCH_PROXY_CPU:-1}
CASES=${PROFILE_CASES:-direct/X25519 direct/P-256 starttls/X25519 starttls/P-256}
TOP=${PROFILE_TOP:-25}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'profile_handshake.sh: %s\n' "$*" >&2; exit 1; }

. "$XE_ROOT/tests/bench/benchlib.sh"
command -v perf >/dev/null || die "perf missing (Debian: linux-perf)"
bench_packages openssl
bench_pin
bench_workdir xe-hsprof

bench_handshake_files

st=$(free_port) dt=$(free_port)
edge_start prof "$BIN" "$st" "$dt" "$W/example.crt" 1000
declare -A PORT=([starttls]=$st [direct]=$dt)

for c in $CASES; do
	shape=${c%/*} group=${c#*/}
	say "$shape $group: $N connections under perf"
	perf record -q -e cpu-clock -F 4999 ${PROFILE_CALLGRAPH:--g} -p "$EDGE_PID" -o "$W/perf.data" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
	j=$(OPENSSL_CONF=$W/openssl-$group.cnf "${TOOL_RUN[@]}" /usr/bin/python3 \
		"$XE_ROOT/tests/bench/hsbench.py" "$shape" "${PORT[$shape]}" example.com "$N" 4)
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
	echo "== $shape $group: $j"
	[ -n "${PROFILE_CALLERS:-}" ] && perf report -i "$W/perf.data" --no-children --stdio -G -S "$PROFILE_CALLERS" 2>/dev/null >"${PROFILE_CALLERS_OUT:-/dev/stderr}"
	perf report -n -i "$W/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
		grep -v '^#' | grep '%' | grep -v '^ *|' | grep -v -- '--' | head -n "$TOP"
	echo
done
