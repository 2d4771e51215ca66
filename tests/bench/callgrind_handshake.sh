#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/callgrind_handshake.sh - instructions an xmpp-edge executes
# per new TLS connection, counted by valgrind's callgrind: a figure that
# does not move with the machine's load (the CPU times of
# run_handshake.sh do, on a 2-core machine shared with other builds).
#
#   BENCH_EDGE_BINS="main=/path/to/xmpp-edge new=out/xmpp-edge" \
#     tests/bench/callgrind_handshake.sh [N]
#
# Each binary runs under callgrind once per case: started, one warm-up
# Direct TLS connection, N connections (default 200, 2 at a time) of the
# case, stopped (SIGTERM: the daemon exits and callgrind writes its
# totals); and once with the warm-up alone.  Instructions (Ir) per
# connection = (case total - warm-up-only total) / N, so start-up and
# shutdown cancel out.  Cases: Direct TLS and STARTTLS, X25519 and P-256
# (BENCH_CG_CASES).  Prints Ir per connection and the ratios to the first
# binary; with BENCH_CG_TOP=K, each case's K functions with the most
# instructions (self cost, whole run) on stderr; with BENCH_CG_KEEP=DIR,
# each run's callgrind output is copied to DIR/LABEL.CASE.out (for
# `callgrind_annotate --inclusive=yes`: what one operation, e.g. an ECDSA
# signature, costs with its callees).
# Not a test.  Needs valgrind (Debian: valgrind).
set -eu

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
N=${1:-200}
PCPU=${BENCH_PROXY_CPU:-1}
EDGE_BINS=${BENCH_EDGE_BINS:?set BENCH_EDGE_BINS="label=binary ..."}
CASES=${BENCH_CG_CASES:-direct/X25519 direct/P-256 starttls/X25519 starttls/P-256}
TOP=${BENCH_CG_TOP:-0}
KEEP=${BENCH_CG_KEEP:-}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'callgrind_handshake.sh: %s\n' "$*" >&2; exit 1; }

. "$XE_ROOT/tests/bench/benchlib.sh"
bench_packages openssl valgrind
bench_pin
bench_workdir xe-hscg

bench_handshake_files

# callgrind's total Ir in an output file.
dump_ir() { sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$1" | head -n 1; }

# run_edge LABEL BIN CASE|warmup: one daemon under callgrind; prints its
# total Ir.
run_edge() {
	local label=$1 bin=$2 c=$3 st dt shape group port j f
	st=$(free_port) dt=$(free_port)
	rm -rf "${W:?}/cg-$label" && mkdir -p "$W/cg-$label"
	chmod 1777 "$W/cg-$label"	# the daemon writes its totals as its own user
	printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/out.%%p --vgdb=no "%s" "$@"\n' \
		"$W/cg-$label" "$bin" >"$W/cg-$label/run"
	chmod 755 "$W/cg-$label/run"
	# edge_start runs the wrapper (also for `help config`); taskset and
	# the wrapper exec, so EDGE_PID is valgrind running the daemon.
	edge_start "$label" "$W/cg-$label/run" "$st" "$dt" "$W/example.crt" 1000
	rm -f "$W/cg-$label"/out.*
	# Warm-up: what the first connection allocates for good (the PSA key
	# store's slots) is not charged to the case.
	/usr/bin/python3 "$XE_ROOT/tests/bench/hsbench.py" direct "$dt" example.com 1 1 >/dev/null
	if [ "$c" != warmup ]; then
		shape=${c%/*} group=${c#*/}
		if [ "$shape" = starttls ]; then port=$st; else port=$dt; fi
		j=$(OPENSSL_CONF=$W/openssl-$group.cnf "${TOOL_RUN[@]}" /usr/bin/python3 \
			"$XE_ROOT/tests/bench/hsbench.py" "$shape" "$port" example.com "$N" 2)
		case $j in *'"errors": 0,'*) ;; *) die "$label $c: $j" ;; esac
	fi
	kill -TERM "$EDGE_PID"
	wait "$EDGE_PID" 2>/dev/null || true
	f=$(ls "$W/cg-$label"/out.* | head -n 1)
	[ -n "$f" ] || die "$label $c: no callgrind output"
	if [ "$TOP" -gt 0 ] && [ "$c" != warmup ]; then
		echo "== $label $c: top $TOP functions by instructions (self, whole run)" >&2
		callgrind_annotate "$f" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -n "$TOP" >&2 || true
	fi
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP" && cp "$f" "$KEEP/$label.${c//\//-}.out"
	fi
	dump_ir "$f"
}

declare -A IR
LABELS=()
for e in $EDGE_BINS; do
	label=${e%%=*} bin=${e#*=}
	LABELS+=("$label")
	say "$label: warm-up only"
	base=$(run_edge "$label" "$bin" warmup)
	for c in $CASES; do
		say "$label $c: $N connections under callgrind"
		t=$(run_edge "$label" "$bin" "$c")
		IR[$label/$c]=$(((t - base) / N))
	done
done

echo "instructions (callgrind Ir) per new connection, $N connections per case, 2 at a time"
printf '%-14s' binary
for c in $CASES; do printf ' %15s' "$c"; done
echo
for l in "${LABELS[@]}"; do
	printf '%-14s' "$l"
	for c in $CASES; do printf ' %15s' "${IR[$l/$c]}"; done
	echo
done
for l in "${LABELS[@]:1}"; do
	printf '%-14s' "$l/${LABELS[0]}"
	for c in $CASES; do
		printf ' %15s' "$(awk -v a="${IR[$l/$c]}" -v b="${IR[${LABELS[0]}/$c]}" 'BEGIN { printf "%.2fx", a / b }')"
	done
	echo
done
