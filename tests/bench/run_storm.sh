#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run_storm.sh - a reconnect storm: N partner streams start at
# the same instant against a server that has just (re)started, each one
# STARTTLS, the partner's certificate, SASL EXTERNAL, restart, features
# (stormbench.py).  Reported per server: time until every stream is
# authenticated, the worst stream's wait, the server's CPU (utime+stime
# from /proc) for the storm; the same storm against Prosody 0.12 (private
# instance on 127.0.0.1, as the prosody user), and the ratio.
#
# Partners are p0..pN-1.partners.example, one wildcard certificate from a
# throwaway CA both servers trust, spread over source addresses (50 each,
# one /24 each: limits.max_streams_per_ip, max_streams_per_ipv4_24).  All
# streams authenticate with SASL EXTERNAL: dialback partners would need an authoritative server answering each
# db:verify, which this tool does not play (yet).  Cases (BENCH_STORM_CASES):
# fresh, restart (the edge restarted under N established streams), tickets
# (the same, partners offering TLS 1.3 tickets, tls.ticket_key_file set).
# Usage: tests/bench/run_storm.sh [N]   (default BENCH_STORM_N or 5000)
# BENCH_EDGE_BINS="before=PATH after=out/xmpp-edge" compares binaries in
# the same run; BENCH_NO_PROSODY=1 skips Prosody.  Servers pinned to CPU
# ${BENCH_PROXY_CPU:-1}, the client to the other(s).
set -eu
XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
N=${1:-${BENCH_STORM_N:-5000}}
BIN=${XE_STATIC_BIN:-${XE_OUT:-$XE_ROOT/out}/xmpp-edge}
EDGE_BINS=${BENCH_EDGE_BINS:-xmpp-edge=$BIN}
PCPU=${BENCH_PROXY_CPU:-1}
ulimit -n $((N + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt "$N" ] || { echo "run_storm.sh: fd limit $(ulimit -n) < $N streams" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_storm.sh: %s\n' "$*" >&2; exit 1; }
. "$XE_ROOT/tests/bench/benchlib.sh"
bench_packages openssl
[ -n "${BENCH_NO_PROSODY:-}" ] || bench_packages prosody
bench_pin
bench_workdir xe-storm

ec() { echo "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"; }
# shellcheck disable=SC2046
(
	cd "$W"
	openssl req -x509 $(ec) -keyout ca.key -out ca.crt -days 2 -subj "/CN=storm CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
	printf 'subjectAltName=DNS:example.com\nextendedKeyUsage=serverAuth,clientAuth\n' >example.ext
	openssl req $(ec) -keyout example.key -out example.csr -subj "/CN=example.com"
	openssl x509 -req -in example.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out example.crt \
		-days 2 -extfile example.ext
	printf 'subjectAltName=DNS:*.partners.example\nextendedKeyUsage=serverAuth,clientAuth\n' >partner.ext
	openssl req $(ec) -keyout partner.key -out partner.csr -subj "/CN=partners.example"
	openssl x509 -req -in partner.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out partner.crt \
		-days 2 -extfile partner.ext
	chmod 600 ./*.key
	mkdir -p prosody
	cp example.crt example.key ca.crt prosody/
	# Keys stay root's: xmpp-edge reads them before it drops to its
	# user, and refuses a key owned by anyone else (config_files.c).
) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log" >&2; exit 1; }

# A restart as an upgrade does it: SIGTERM, wait until gone, start the
# same binary with the same configuration (edge_start's), wait for the
# port.  Written per edge; the new PID goes to $W/LABEL/pid.
restart_script() { # LABEL BIN PORT
	cat >"$W/$1/restart.sh" <<EOF
#!/bin/bash
p=\$(cat "$W/$1/pid")
kill "\$p"
while kill -0 "\$p" 2>/dev/null; do sleep 0.02; done
${PROXY_RUN[*]} "$2" run -c "$W/$1/edge.json" >>"$W/$1/edge.log" 2>&1 &
echo \$! >"$W/$1/pid"
for i in \$(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$3) 2>/dev/null && exit 0; sleep 0.05; done
exit 1
EOF
	chmod +x "$W/$1/restart.sh"
}
storm_cleanup() {
	local f
	for f in "$W"/*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	return 0
}
trap 'storm_cleanup; bench_cleanup' EXIT

# storm LABEL PID PORT [RESTART_CMD TICKETS]: prints the result line.  With
# a restart the server CPU is the restarted process's whole CPU time
# (start-up included) at the end of the storm.
storm() {
	local c0 c1 j pid=$2
	c0=$(cpu_ticks "$pid")
	j=$("${TOOL_RUN[@]}" /usr/bin/python3 "$XE_ROOT/tests/bench/stormbench.py" "$3" example.com "$N" \
		"$W/partner.crt" "$W/partner.key" 50 "${4:-}" "${5:-0}")
	if [ -n "${4:-}" ]; then
		pid=$(cat "$W/$1/pid")
		c0=0
	fi
	c1=$(cpu_ticks "$pid")
	echo "  $1${4:+ restart}${5:+ tickets=$5}: $j server_ticks=$((c1 - c0))" >>"$W/runs.log"
	python3 -c '
import json, sys
d = json.loads(sys.argv[2])
# Streams the server dropped (reset, refused) are reported, not hidden:
# "all auth" is then "-", those partners would have to retry later.
print("%-22s %7d %7d %7d %10s %10.2f %10s %12.2f" % (sys.argv[1], d["ok"], d["errors"], d.get("reused", 0),
      "%.2f" % d["wall_s"] if d["errors"] == 0 else "-", d["p50_s"] or 0,
      "%.2f" % d["worst_s"] if d["errors"] == 0 else "-", int(sys.argv[3]) * 10.0 / 1000))' "$1" "$j" $((c1 - c0))
}

# Cases per edge binary: "fresh" (the storm hits a freshly started edge,
# no tickets: every stream a full handshake), "restart" (partners
# connected, the edge restarted under them, all reconnect at once without
# tickets) and "tickets" (the same with tls.ticket_key_file, partners
# offering the tickets their first streams got: resumption).  Binaries
# without tls.ticket_key_file (before issue 18's tickets) run only "fresh".
CASES=${BENCH_STORM_CASES:-fresh restart tickets}
head -c 32 /dev/urandom >"${W:?}/ticket.key"
chmod 600 "$W/ticket.key"
echo "reconnect storm: $N partner streams at once (STARTTLS, SASL EXTERNAL, TLS 1.3, ECDSA P-256)"
printf '%-22s %7s %7s %7s %10s %10s %10s %12s\n' "server / case" "auth ok" failed resumed "all auth s" "p50 s" "worst s" "server CPU s"
declare -A ALL
for e in $EDGE_BINS; do
	label=${e%%=*} bin=${e#*=}
	for c in $CASES; do
		extra=
		case $c in
		fresh) ;;
		restart | tickets)
			"$bin" help config 2>/dev/null | grep -q 'tls.ticket_key_file' || continue
			extra=', "ticket_key_file": "'"$W/ticket.key"'"' ;;
		*) die "unknown case $c (BENCH_STORM_CASES)" ;;
		esac
		port=$(free_port)
		EDGE_TLS_EXTRA=$extra edge_start "$label-$c" "$bin" "$port" "" "$W/ca.crt" $((2 * N + 100))
		echo "$EDGE_PID" >"$W/$label-$c/pid"
		if [ "$c" = fresh ]; then
			line=$(storm "$label-$c" "$EDGE_PID" "$port") || { tail -5 "$W/$label-$c/edge.log" >&2; exit 1; }
		else
			restart_script "$label-$c" "$bin" "$port"
			line=$(storm "$label-$c" "$EDGE_PID" "$port" "$W/$label-$c/restart.sh" \
				"$([ "$c" = tickets ] && echo 1 || echo 0)") || { tail -5 "$W/$label-$c/edge.log" >&2; exit 1; }
		fi
		echo "$line"
		ALL[$label-$c]=$(awk '{ print $5 }' <<<"$line")
		kill "$(cat "$W/$label-$c/pid")" 2>/dev/null || true
		rm -f "$W/$label-$c/pid"
	done
done
if [ -z "${BENCH_NO_PROSODY:-}" ]; then
	port=$(free_port)
	prosody_start "$W/prosody" "s2s_ports = { $port }"
	wait_port "$port" || { cat "$W/prosody/"*.log >&2; exit 1; }
	line=$(storm prosody "$PROSODY_PID" "$port") || { tail -5 "$W/prosody/prosody.log" >&2; exit 1; }
	echo "$line"
	ALL[prosody]=$(awk '{ print $5 }' <<<"$line")
	for l in "${!ALL[@]}"; do
		[ "$l" = prosody ] && continue
		awk -v l="$l" -v a="${ALL[$l]}" -v b="${ALL[prosody]}" \
			'BEGIN { if (a == "-" || b == "-") printf "%s/Prosody time until all authenticated: - (streams failed)\n", l;
			         else printf "%s/Prosody time until all authenticated: %.2fx\n", l, a / b }'
	done
fi
cat "$W/runs.log" >&2
