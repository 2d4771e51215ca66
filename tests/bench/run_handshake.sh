#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run_handshake.sh - server CPU per new TLS connection and
# single-connection handshake latency: xmpp-edge vs HAProxy vs Prosody.
#
# One client (hsbench.py, Python's ssl = OpenSSL 3, TLS 1.3, no tickets:
# every connection a full handshake) opens new connections; the server's
# CPU (utime+stime from /proc/PID/stat) before and after, divided by the
# connections, is its cost per connection.  Shapes (see hsbench.py):
#   - xmpp-edge STARTTLS: s2s header, features, <starttls/>, TLS, header,
#     post-TLS features (what every inbound s2s stream does);
#   - xmpp-edge Direct TLS (XEP-0368): TLS, header, features;
#   - HAProxy 2.6 (OpenSSL): TLS, one HTTP request answered by HAProxy
#     itself (`http-request return`): the same TLS work plus one small
#     request/answer, no XMPP -- the yardstick for the TLS cost;
#   - Prosody 0.12 STARTTLS, a private instance on 127.0.0.1 (as the
#     prosody user): the XMPP yardstick.
# Every server has the same ECDSA P-256 certificate; each case runs with
# the client offering X25519 only and P-256 only (OPENSSL_CONF Groups).
# Servers pinned to CPU ${BENCH_PROXY_CPU:-1}, the client to the other(s).
#
# Extra xmpp-edge binaries to compare in the same run (before/after):
#   BENCH_EDGE_BINS="before=/path/to/xmpp-edge after=out/xmpp-edge"
# BENCH_HS_N connections per case (default 2000, 4 at a time), the best of
# BENCH_REPS (default 3) kept; BENCH_HS_LAT_N (default 200) one at a time
# for the latency p50.  BENCH_NO_PROSODY=1 skips Prosody.
# BENCH_HS_RESUME=1: every client connection after a worker's first offers
# the TLS 1.3 ticket of its previous one (session resumption: what a
# partner reconnecting does); the runs log says how many were resumed.
# Not a pass/fail test.  Needs root (apt-get haproxy) or haproxy installed.
set -eu

XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$XE_ROOT/out}/bench
BIN=${XE_STATIC_BIN:-${XE_OUT:-$XE_ROOT/out}/xmpp-edge}
REPS=${BENCH_REPS:-3}
N=${BENCH_HS_N:-2000}
LATN=${BENCH_HS_LAT_N:-200}
CONC=${BENCH_HS_CONC:-4}
PCPU=${BENCH_PROXY_CPU:-1}
EDGE_BINS=${BENCH_EDGE_BINS:-xmpp-edge=$BIN}
RESUME=${BENCH_HS_RESUME:+resume}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_handshake.sh: %s\n' "$*" >&2; exit 1; }

. "$XE_ROOT/tests/bench/benchlib.sh"
if [ -n "${BENCH_NO_PROSODY:-}" ]; then bench_packages haproxy openssl; else bench_packages haproxy openssl prosody; fi
bench_pin
bench_workdir xe-hsbench

# --- one certificate for every server ----------------------------------------
bench_handshake_files
(
	cd "$W"
	cat example.crt example.key >haproxy.pem
	chmod 600 haproxy.pem
	# Prosody runs as prosody (prosody_start gives it its copy).
	mkdir -p prosody
	cp example.crt example.key prosody/
) || die "cannot prepare the servers' certificate files"

# --- the servers ------------------------------------------------------------
declare -A PORT PID
EDGES=()
for e in $EDGE_BINS; do
	label=${e%%=*} st=$(free_port) dt=$(free_port)
	edge_start "$label" "${e#*=}" "$st" "$dt" "$W/example.crt" 1000
	PID[$label]=$EDGE_PID PORT[$label/starttls]=$st PORT[$label/direct]=$dt
	EDGES+=("$label")
done

HAP=$(free_port)
cat >"$W/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 1000
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend hs
    bind 127.0.0.1:$HAP ssl crt $W/haproxy.pem curves X25519:P-256
    http-request return status 200 content-type text/plain string ok
EOF
"${PROXY_RUN[@]}" haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 &
PIDS+=($!)
PID[haproxy]=$!
PORT[haproxy/https]=$HAP
wait_port "$HAP" || { cat "$W/haproxy.log" >&2; die "haproxy did not start"; }

SERVERS=("${EDGES[@]}" haproxy)
if [ -z "${BENCH_NO_PROSODY:-}" ]; then
	PS2S=$(free_port)
	prosody_start "$W/prosody" "s2s_ports = { $PS2S }"
	wait_port "$PS2S" || { cat "$W/prosody/"*.log >&2; die "prosody did not start"; }
	PID[prosody]=$PROSODY_PID
	PORT[prosody/starttls]=$PS2S
	SERVERS+=(prosody)
fi

# The shapes each server speaks (hsbench.py).
shapes() {
	case $1 in
	haproxy) echo https ;;
	prosody) echo starttls ;;
	*) echo "starttls direct" ;;
	esac
}

# run_case SERVER SHAPE GROUP: best (lowest server CPU) of REPS; prints
# "cpu_ms=.. p50_ms=.. p90_ms=.. ok=.. errors=..".
run_case() {
	local srv=$1 shape=$2 group=$3 i c0 c1 j cpu best="" bestcpu=""
	for i in $(seq "$REPS"); do
		c0=$(cpu_ticks "${PID[$srv]}")
		j=$(OPENSSL_CONF=$W/openssl-$group.cnf "${TOOL_RUN[@]}" /usr/bin/python3 \
			"$XE_ROOT/tests/bench/hsbench.py" "$shape" "${PORT[$srv/$shape]}" example.com "$N" "$CONC" $RESUME)
		c1=$(cpu_ticks "${PID[$srv]}")
		echo "  $srv $shape $group run $i: $j server_ticks=$((c1 - c0))" >>"$W/runs.log"
		cpu=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.3f' % ((int(sys.argv[2])*10.0)/max(d['ok'],1)))" "$j" $((c1 - c0)))
		if [ -z "$bestcpu" ] || awk -v a="$cpu" -v b="$bestcpu" 'BEGIN { exit !(a < b) }'; then
			bestcpu=$cpu best=$j
		fi
	done
	python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('cpu_ms=%s ok=%d reused=%d errors=%d %s' % (sys.argv[2], d['ok'], d.get('reused', 0), d['errors'], d['first_error']))" "$best" "$bestcpu"
}
# run_latency SERVER SHAPE: p50 over LATN connections one at a time (X25519).
run_latency() {
	local j
	j=$(OPENSSL_CONF=$W/openssl-X25519.cnf "${TOOL_RUN[@]}" /usr/bin/python3 \
		"$XE_ROOT/tests/bench/hsbench.py" "$2" "${PORT[$1/$2]}" example.com "$LATN" 1 $RESUME)
	echo "  $1 $2 latency: $j" >>"$W/runs.log"
	python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.2f' % d['p50_ms'] if d['p50_ms'] else 'fail')" "$j"
}

declare -A CPU LAT
for srv in "${SERVERS[@]}"; do
	for shape in $(shapes "$srv"); do
		for g in X25519 P-256; do
			say "$srv $shape $g: $N connections, $CONC at a time, best of $REPS"
			r=$(run_case "$srv" "$shape" "$g")
			echo "  $srv $shape $g best: $r" >>"$W/runs.log"
			case $r in *" errors=0 "*) ;; *) die "$srv $shape $g: $r" ;; esac
			CPU[$srv/$shape/$g]=$(sed -n 's/^cpu_ms=\([0-9.]*\).*/\1/p' <<<"$r")
		done
		say "$srv $shape: latency, $LATN connections one at a time"
		LAT[$srv/$shape]=$(run_latency "$srv" "$shape")
	done
done

echo "xmpp-edge: $("$BIN" version 2>/dev/null | head -n 1); $(haproxy -v | head -n 1)"
[ -z "${BENCH_NO_PROSODY:-}" ] && echo "Prosody: $(dpkg-query -W -f='${Version}' prosody)"
echo "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)); servers on CPU $PCPU; client on CPU ${TOOLCPUS:-any}"
if [ -n "$RESUME" ]; then mode="session resumption: each connection offers its worker's previous ticket"; else mode="no session resumption"; fi
echo "TLS 1.3, ECDSA P-256 certificate, $mode; $N connections per case ($CONC at a time), best of $REPS; latency: p50 of $LATN one at a time (X25519)"
echo
printf '%-12s %-9s %14s %14s %14s\n' server shape "CPU ms X25519" "CPU ms P-256" "latency p50 ms"
for srv in "${SERVERS[@]}"; do
	for shape in $(shapes "$srv"); do
		printf '%-12s %-9s %14s %14s %14s\n' "$srv" "$shape" "${CPU[$srv/$shape/X25519]}" \
			"${CPU[$srv/$shape/P-256]}" "${LAT[$srv/$shape]}"
	done
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
for e in "${EDGES[@]}"; do
	for g in X25519 P-256; do
		echo "$e/HAProxy CPU per connection, $g:  starttls $(ratio "${CPU[$e/starttls/$g]}" "${CPU[haproxy/https/$g]}")  direct $(ratio "${CPU[$e/direct/$g]}" "${CPU[haproxy/https/$g]}")"
		[ -n "${CPU[prosody/starttls/$g]:-}" ] &&
			echo "$e/Prosody CPU per connection, $g:  starttls $(ratio "${CPU[$e/starttls/$g]}" "${CPU[prosody/starttls/$g]}")"
	done
	echo "$e/HAProxy latency p50:  starttls $(ratio "${LAT[$e/starttls]}" "${LAT[haproxy/https]}")  direct $(ratio "${LAT[$e/direct]}" "${LAT[haproxy/https]}")"
	[ -n "${LAT[prosody/starttls]:-}" ] &&
		echo "$e/Prosody latency p50:  starttls $(ratio "${LAT[$e/starttls]}" "${LAT[prosody/starttls]}")"
done
if [ ${#EDGES[@]} -gt 1 ]; then
	for e in "${EDGES[@]:1}"; do
		for g in X25519 P-256; do
			echo "$e/${EDGES[0]} CPU per connection, $g:  starttls $(ratio "${CPU[$e/starttls/$g]}" "${CPU[${EDGES[0]}/starttls/$g]}")  direct $(ratio "${CPU[$e/direct/$g]}" "${CPU[${EDGES[0]}/direct/$g]}")"
		done
		echo "$e/${EDGES[0]} latency p50:  starttls $(ratio "${LAT[$e/starttls]}" "${LAT[${EDGES[0]}/starttls]}")  direct $(ratio "${LAT[$e/direct]}" "${LAT[${EDGES[0]}/direct]}")"
	done
fi
echo "every run: $W/runs.log (kept with BENCH_KEEP=1)" >&2
[ -n "${BENCH_KEEP:-}" ] || cat "$W/runs.log" >&2
