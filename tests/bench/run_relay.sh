#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run_relay.sh - stanza relay throughput, xmpp-edge vs HAProxy.
#
# The same load generator/sink (relaybench.c, OpenSSL, TLS 1.3
# AES-128-GCM on every leg) pushes message stanzas
#   - through xmpp-edge: gateway side (Direct TLS on listen.internal,
#     pinned client certificate, SASL EXTERNAL as example.com) to remote
#     domains whose `connect` target is the sink (STARTTLS, SASL EXTERNAL);
#   - through HAProxy (mode tcp, `ssl crt` on the bind, `ssl verify none`
#     on the server): TLS in, TLS out, the same bytes, no XMPP;
#   - straight from sender to sink: the tool's own ceiling.
# Cases: 300-byte and 4 KiB bodies over 1 connection, 300-byte bodies over
# 8 connections (8 remote domains).  Each run ${BENCH_REPS:-3} times, the
# best kept.  Both proxies run one thread pinned to CPU ${BENCH_PROXY_CPU:-1},
# the tool is pinned to the other CPU(s).  Loopback only.
# Not a pass/fail test.  Needs root (apt-get haproxy) or haproxy installed,
# libssl-dev, openssl.  BENCH_N (default 1000000) stanzas in all for
# 300-byte bodies, BENCH_N/4 for 4 KiB bodies.  BENCH_PROFILE=1 adds a
# perf (cpu-clock) profile of xmpp-edge on one more 300-byte run
# (BENCH_PERF_EVENTS, BENCH_PERF_CALLGRAPH (fp, dwarf) and
# BENCH_PROFILE_CASE (relaybench arguments) change what is recorded).
# BENCH_SYSCALLS=1 adds system calls per MB of each proxy (perf stat).
#
# BENCH_EDGE_BINS="before=PATH after=out/xmpp-edge" compares xmpp-edge
# binaries in one run (each its own instance, measured one after the
# other).  The tool runs with --sm 1: XEP-0198 on both legs wherever the
# binary offers it (custody acks); a binary without it is measured as it
# works.  The "lat" case sends BENCH_LAT_N (default 2000) stanzas one at a
# time after 1000 timed ones: relay latency p50 (write to arrival at the
# sink) and, with XEP-0198, custody ack p50 (write to the proxy's <a h/>
# covering it, which waits for the sink's ack).
set -eu

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$XE_ROOT/out}/bench
BIN=${XE_STATIC_BIN:-${XE_OUT:-$XE_ROOT/out}/xmpp-edge}
CC=${CC:-gcc}
REPS=${BENCH_REPS:-3}
N=${BENCH_N:-1000000}
PCPU=${BENCH_PROXY_CPU:-1}
LATN=${BENCH_LAT_N:-2000}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_relay.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] || die "$BIN missing: run ./build.sh first"
if [ -n "${BENCH_PROFILE:-}" ]; then
	# The release objects linked again without -s: after `strip` the same
	# bytes as out/xmpp-edge, so the profile is of the benchmarked code.
	REL=${XE_OUT:-$XE_ROOT/out}/release DEPS=$(readlink -f "${XE_OUT:-$XE_ROOT/out}/deps-musl")
	mkdir -p "$OUT"
	musl-gcc -O2 -fstack-protector-strong -static -o "$OUT/xmpp-edge.syms" "$REL/obj/cli/main.o" "$REL/obj/gen/notices.o" \
		"$REL/libxe.a" -L"$DEPS/lib" -lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread
	strip -o "$OUT/xmpp-edge.stripped" "$OUT/xmpp-edge.syms"
	cmp -s "$OUT/xmpp-edge.stripped" "$BIN" || die "$OUT/xmpp-edge.syms is not $BIN once stripped"
	BIN=$OUT/xmpp-edge.syms
fi
# After the BENCH_PROFILE switch: the profiled instance must be the one
# with symbols (it ran the stripped binary before, and perf printed
# addresses).
EDGE_BINS=${BENCH_EDGE_BINS:-xmpp-edge=$BIN}
. "$XE_ROOT/tests/bench/benchlib.sh"
bench_packages haproxy libssl-dev openssl
bench_pin

mkdir -p "$OUT"
$CC -std=c11 -O2 -Wall -Wextra -Werror -pthread "$XE_ROOT/tests/bench/relaybench.c" \
	-lssl -lcrypto -o "$OUT/relaybench"

bench_workdir xe-relaybench

# --- throwaway certificates -------------------------------------------------
ec() { echo "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"; }
# shellcheck disable=SC2046
(
	cd "$W"
	openssl req -x509 $(ec) -keyout ca.key -out ca.crt -days 2 -subj "/CN=relaybench CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
	sans=$(for i in $(seq 0 15); do printf 'DNS:remote%d.example,' "$i"; done)
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "${sans%,}" >remote.ext
	openssl req $(ec) -keyout remote.key -out remote.csr -subj "/CN=remote0.example"
	openssl x509 -req -in remote.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out remote.crt \
		-days 2 -extfile remote.ext
	printf 'subjectAltName=DNS:example.com\nextendedKeyUsage=serverAuth,clientAuth\n' >example.ext
	openssl req $(ec) -keyout example.key -out example.csr -subj "/CN=example.com"
	openssl x509 -req -in example.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out example.crt \
		-days 2 -extfile example.ext
	openssl req -x509 $(ec) -keyout gw.key -out gw.crt -days 2 -subj "/CN=gateway.internal" \
		-addext subjectAltName=DNS:gateway.internal
	openssl req -x509 $(ec) -keyout edge.key -out edge.crt -days 2 -subj "/CN=edge.internal" \
		-addext subjectAltName=DNS:edge.internal
	cat example.crt example.key >haproxy.pem
	chmod 600 ./*.key haproxy.pem
	# xmpp-edge drops to its user (xmpp-edge) when started as root and reads
	# keys after that.
	[ "$(id -u)" -ne 0 ] || chown xmpp-edge:xmpp-edge example.key edge.key
) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log" >&2; die "certificate generation failed"; }

SINK=$(free_port) HAP=$(free_port)
PIN=$(openssl x509 -in "$W/gw.crt" -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)

# --- xmpp-edge: one instance per binary of BENCH_EDGE_BINS -------------------
partners=$(for i in $(seq 0 15); do
	printf '"remote%d.example": { "connect": "127.0.0.1:%s" },' "$i" "$SINK"; done)
declare -A EPID EINT
EDGES=()
for eb in $EDGE_BINS; do
	label=${eb%%=*} ebin=${eb#*=}
	[ -x "$ebin" ] || die "$ebin missing (BENCH_EDGE_BINS)"
	EXT=$(free_port) INT=$(free_port) GWPORT=$(free_port) DNSPORT=$(free_port)
	cat >"$W/edge-$label.json" <<EOF
{
  "state_dir": "$W/state-$label",
  "domains": [{ "name": "example.com", "cert": "$W/example.crt", "key": "$W/example.key" }],
  "listen": { "starttls": ["127.0.0.1:$EXT"], "direct_tls": [], "internal": ["127.0.0.1:$INT"],
              "control": "$W/state-$label/control.sock" },
  "gateway": { "address": "127.0.0.1:$GWPORT", "pins": ["$PIN"],
               "cert": "$W/edge.crt", "key": "$W/edge.key" },
  "tls": { "ca_file": "$W/ca.crt" },
  "dns": { "servers": ["127.0.0.1:$DNSPORT"] },
  "policy": { "partners": { ${partners%,} } }
}
EOF
	chmod 644 "$W/edge-$label.json"
	"${PROXY_RUN[@]}" "$ebin" run -c "$W/edge-$label.json" >"$W/edge-$label.log" 2>&1 &
	EPID[$label]=$! EINT[$label]=$INT
	PIDS+=("$!")
	EDGES+=("$label")
done

# --- HAProxy ----------------------------------------------------------------
cat >"$W/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 1000
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
    ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend relay
    bind 127.0.0.1:$HAP ssl crt $W/haproxy.pem
    default_backend sink
backend sink
    server sink 127.0.0.1:$SINK ssl verify none
EOF
"${PROXY_RUN[@]}" haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 &
HAP_PID=$!
PIDS+=("$HAP_PID")

for label in "${EDGES[@]}"; do
	wait_port "${EINT[$label]}" || { cat "$W/edge-$label.log" >&2; die "xmpp-edge $label did not start"; }
done
wait_port "$HAP" || { cat "$W/haproxy.log" >&2; die "haproxy did not start"; }

# run_case LABEL ARGS...: best (highest msgs/s) of REPS runs; prints its line.
run_case() {
	local label=$1 best="" bestv=0 line v i
	shift
	for i in $(seq "$REPS"); do
		line=$("${TOOL_RUN[@]}" "$OUT/relaybench" --listen "$SINK" --cert "$W" "$@") ||
			{ tail -n 20 "$W"/edge-*.log >&2; die "$label: run $i failed"; }
		echo "  $label run $i: $line" >>"$W/runs.log"
		v=$(sed -n 's/.* msgs_per_s=\([0-9]*\).*/\1/p' <<<"$line")
		if [ "$v" -gt "$bestv" ]; then bestv=$v best=$line; fi
	done
	echo "$label $best"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

declare -A R
CASES=("300B x1:--conns 1 --n $N --body 300"
       "4KiB x1:--conns 1 --n $((N / 4)) --body 4096"
       "300B x8:--conns 8 --n $((N / 8)) --body 300"
       "lat:--conns 1 --n 1000 --body 300 --lat $LATN")
for c in "${CASES[@]}"; do
	name=${c%%:*} args=${c#*:}
	say "case $name: direct (tool ceiling), HAProxy, xmpp-edge (${EDGES[*]})"
	# shellcheck disable=SC2086
	R["$name/direct"]=$(run_case direct --mode raw --connect "$SINK" $args)
	# shellcheck disable=SC2086
	R["$name/haproxy"]=$(run_case haproxy --mode raw --connect "$HAP" --pid "$HAP_PID" $args)
	for e in "${EDGES[@]}"; do
		# shellcheck disable=SC2086
		R["$name/$e"]=$(run_case "$e" --mode xmpp --connect "${EINT[$e]}" --pid "${EPID[$e]}" --sm 1 $args)
	done
done
E0=${EDGES[0]}

for eb in $EDGE_BINS; do echo "${eb%%=*}: $("${eb#*=}" version 2>/dev/null | head -n 1)"; done
echo "$(haproxy -v | head -n 1)"
echo "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)); proxies: 1 thread on CPU $PCPU; tool on CPU ${TOOLCPUS:-any}"
echo "TLS on every leg: $(field tls_in "${R["300B x1/$E0"]}") in, $(field tls_out "${R["300B x1/$E0"]}") out; best of $REPS runs"
echo "XEP-0198 (tool: --sm 1) enabled by the proxy toward the sender: $(for e in "${EDGES[@]}"; do printf '%s=%s ' "$e" "$(field sm_in "${R["lat/$e"]}")"; done)"
echo
printf '%-9s %-10s %9s %7s %10s %9s %10s %10s %5s\n' case proxy stanzas B/stanza msgs/s MB/s "CPU ms/MB" "VmHWM MB" "order"
for c in "${CASES[@]}"; do
	name=${c%%:*}
	[ "$name" = lat ] && continue
	for p in direct haproxy "${EDGES[@]}"; do
		l=${R["$name/$p"]}
		n=$(( $(field n "$l") * $(field conns "$l") ))
		cpu=$(field cpu_ms_per_mb "$l")
		[ "$p" = direct ] && cpu=-
		hwm=$(awk -v k="$(field peak_rss_kb "$l")" 'BEGIN { printf "%.1f", k / 1024 }')
		[ "$p" = direct ] && hwm=-
		printf '%-9s %-10s %9s %7s %10s %9s %10s %10s %5s\n' "$name" "$p" "$n" "$(field stanza_bytes "$l")" \
			"$(field msgs_per_s "$l")" "$(field mb_per_s "$l")" "$cpu" "$hwm" "$(field order_errors "$l")"
	done
done
echo "(VmHWM: the proxy's peak resident memory since it started, so far in the run;"
echo " order: stanzas out of order or missing at the sink, must be 0)"
echo
for c in "${CASES[@]}"; do
	name=${c%%:*}
	[ "$name" = lat ] && continue
	for en in "${EDGES[@]}"; do
		e=${R["$name/$en"]} h=${R["$name/haproxy"]} b=${R["$name/$E0"]}
		awk -v n="$name" -v l="$en" -v l0="$E0" -v em="$(field mb_per_s "$e")" -v hm="$(field mb_per_s "$h")" \
			-v ec="$(field cpu_ms_per_mb "$e")" -v hc="$(field cpu_ms_per_mb "$h")" \
			-v bm="$(field mb_per_s "$b")" -v bc="$(field cpu_ms_per_mb "$b")" \
			'BEGIN { printf "%-9s %-8s throughput /HAProxy %.2fx  /%s %.2fx   CPU per MB /HAProxy %.2fx  /%s %.2fx\n", n, l, em / hm, l0, em / bm, ec / hc, l0, ec / bc }'
	done
done
echo
echo "latency, one stanza at a time ($LATN, 300-byte body): p50 ms"
printf '%-10s %12s %16s\n' proxy "relay p50" "custody ack p50"
for p in direct haproxy "${EDGES[@]}"; do
	l=${R["lat/$p"]} a=-
	[ "$(field sm_in "$l")" = 1 ] && a=$(field ack_p50_ms "$l")
	printf '%-10s %12s %16s\n' "$p" "$(field lat_p50_ms "$l")" "$a"
done
for en in "${EDGES[@]}"; do
	echo "$en peak RSS (VmHWM, whole run): $(sed -n 's/^VmHWM:\s*//p' "/proc/${EPID[$en]}/status")"
done
# BENCH_SYSCALLS=1: system calls per MB relayed, a figure the machine's
# load does not move (perf stat counts the proxy's raw_syscalls:sys_enter
# tracepoint over one more run of each one-connection case; the counts
# include the connection set-up, a few hundred calls).
if [ -n "${BENCH_SYSCALLS:-}" ]; then
	SCEV=raw_syscalls:sys_enter
	for sc in read recvfrom write writev sendto epoll_wait epoll_pwait mmap munmap madvise mremap; do
		SCEV=$SCEV,syscalls:sys_enter_$sc
	done
	echo
	echo "system calls per MB relayed (perf stat, tracepoints raw_syscalls:sys_enter and syscalls:sys_enter_*, one run each):"
	printf '%-9s %-10s %9s %9s %9s %9s %9s %11s\n' case proxy "all/MB" "read/MB" "write/MB" "epoll/MB" "mem/MB" "per stanza"
	echo "  (read: read+recvfrom; write: write+writev+sendto; mem: mmap+munmap+madvise+mremap)"
	for c in "300B x1:--conns 1 --n $N --body 300" "4KiB x1:--conns 1 --n $((N / 4)) --body 4096" \
	    "300B x8:--conns 8 --n $((N / 8)) --body 300"; do
		name=${c%%:*} args=${c#*:}
		for p in haproxy "${EDGES[@]}"; do
			if [ "$p" = haproxy ]; then pid=$HAP_PID port=$HAP mode=raw; else pid=${EPID[$p]} port=${EINT[$p]} mode=xmpp; fi
			perf stat -x, -e "$SCEV" -p "$pid" -o "$W/sc-$p.txt" &
			SCPID=$!
			sleep 0.3
			# shellcheck disable=SC2086
			line=$("${TOOL_RUN[@]}" "$OUT/relaybench" --listen "$SINK" --cert "$W" --mode $mode --connect "$port" \
				--pid "$pid" --sm 1 $args)
			kill -INT "$SCPID"; wait "$SCPID" || true
			awk -F, -v name="$name" -v p="$p" -v n="$(( $(field n "$line") * $(field conns "$line") ))" -v b="$(field stanza_bytes "$line")" '
				{ sub(/^syscalls:sys_enter_/, "", $3); v[$3] = $1 }
				END { mb = n * b / 1e6
				      printf "%-9s %-10s %9.1f %9.1f %9.1f %9.1f %9.1f %11.3f\n", name, p,
					v["raw_syscalls:sys_enter"] / mb, (v["read"] + v["recvfrom"]) / mb,
					(v["write"] + v["writev"] + v["sendto"]) / mb, (v["epoll_wait"] + v["epoll_pwait"]) / mb,
					(v["mmap"] + v["munmap"] + v["madvise"] + v["mremap"]) / mb,
					v["raw_syscalls:sys_enter"] / n }' "$W/sc-$p.txt"
		done
	done
fi
EDGE_PID=${EPID[$E0]}
if [ -n "${BENCH_PROFILE:-}" ]; then
	# Where xmpp-edge's time goes: one more 300-byte run, sampled by
	# cpu-clock (a software event: works without hardware counters).
	perf record -q -F 4999 -e "${BENCH_PERF_EVENTS:-cpu-clock}" --call-graph "${BENCH_PERF_CALLGRAPH:-fp}" \
		-o "$W/perf.data" -p "$EDGE_PID" >/dev/null 2>&1 &
	PERF_PID=$!
	sleep 0.5
	"${TOOL_RUN[@]}" "$OUT/relaybench" --listen "$SINK" --cert "$W" --mode xmpp --connect "${EINT[$E0]}" \
		--pid "$EDGE_PID" ${BENCH_PROFILE_CASE:---conns 1 --n $N --body 300} >/dev/null
	kill -INT "$PERF_PID"; wait "$PERF_PID" || true
	echo
	echo "xmpp-edge profile (300B x1, perf cpu-clock, self time):"
	perf report -i "$W/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -n "${BENCH_PROFILE_LINES:-30}"
fi
echo "every run: $W/runs.log (kept with BENCH_KEEP=1)" >&2
[ -n "${BENCH_KEEP:-}" ] || cat "$W/runs.log" >&2
