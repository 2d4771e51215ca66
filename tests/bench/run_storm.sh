#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run_storm.sh - a reconnect storm (issue 18 goal 4): N partner
# streams connected and authenticated, the server restarted under them,
# every partner reconnecting at once; reported per server and case: time
# until every stream is authenticated again, p50, p90 and the worst
# stream's wait, the server's CPU (utime+stime from /proc) for the storm,
# failures, TLS resumptions (the partners' inbound ones, and the edge's
# own dialback checks that resumed: "verify resumed", resumed/all, read
# from `xmpp-edge status`), the load generator's own CPU; the same storm
# against Prosody 0.12 (private instance on 127.0.0.1, as the prosody
# user), and the ratios.
#
# Partners are p0..pN-1.storm.example.org (stormbench.py, one asyncio
# loop): half of them (BENCH_STORM_DIALBACK, a share) authenticate with
# Server Dialback and no client certificate, the others with SASL EXTERNAL
# and one wildcard certificate from a throwaway CA both servers trust;
# spread over source addresses 127.K.J.1, 50 each, one /24 each
# (limits.max_streams_per_ip, max_streams_per_ipv4_24).  The partners'
# authoritative server is stormbench.py's own listener: a dnsmasq on
# 127.0.0.1 (port of its own) gives every pK an SRV record pointing to it
# (and A records under the zone to 127.0.0.1); the edge asks it through
# dns.servers (dns.allow_private_targets 127.0.0.1/32), Prosody through
# its `unbound` forwarder setting: no real DNS is ever asked.  (.org, not
# .example: libunbound answers NXDOMAIN for special-use names.)
#
# Cases (BENCH_STORM_CASES): fresh (the storm hits a freshly started
# server), restart (the server restarted under N established streams:
# SIGTERM, wait for the exit, start the same binary, as an upgrade does;
# measured from the instant it listens again), tickets (the same with
# tls.ticket_key_file, every partner offering the TLS 1.3 ticket of its
# previous stream).  Prosody runs fresh and restart (it issues no
# tickets).  The edge runs with its default limits (what an operator
# runs: limits.max_unauthenticated_streams, new_streams_per_minute_per_prefix,
# handshake_timeout_ms) but limits.max_streams (2N+100);
# BENCH_STORM_EDGE_LIMITS adds keys to its "limits" object (JSON, starting
# with a comma).
# Usage: tests/bench/run_storm.sh [N]   (default BENCH_STORM_N or 5000)
# BENCH_EDGE_BINS="before=PATH after=out/xmpp-edge" compares binaries in
# the same run; BENCH_NO_PROSODY=1 skips Prosody.  Servers pinned to CPU
# ${BENCH_PROXY_CPU:-1}, the load generator to the other(s).
set -eu
XE_ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
N=${1:-${BENCH_STORM_N:-5000}}
BIN=${XE_STATIC_BIN:-${XE_OUT:-$XE_ROOT/out}/xmpp-edge}
EDGE_BINS=${BENCH_EDGE_BINS:-xmpp-edge=$BIN}
PCPU=${BENCH_PROXY_CPU:-1}
DBSHARE=${BENCH_STORM_DIALBACK:-0.5}
ZONE=storm.example.org
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_storm.sh: %s\n' "$*" >&2; exit 1; }
# Descriptors: the load generator holds N partner streams plus the
# servers' dialback streams to its authoritative server; each server N
# plus those.  Raising the hard limit needs CAP_SYS_RESOURCE.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((2 * N + 100)) ] ||
	die "fd limit $(ulimit -n) (hard) is below 2*N+100 for N=$N; raising it needs CAP_SYS_RESOURCE"
if [ -n "${BENCH_PROFILE:-}" ]; then
	# As run_relay.sh: the release objects linked again without -s
	# (after `strip` the same bytes as out/xmpp-edge); the fresh case of
	# the first binary is profiled (perf cpu-clock, self time).
	REL=${XE_OUT:-$XE_ROOT/out}/release DEPS=$(readlink -f "${XE_OUT:-$XE_ROOT/out}/deps-musl")
	OUT=${XE_OUT:-$XE_ROOT/out}/bench
	mkdir -p "$OUT"
	musl-gcc -O2 -fstack-protector-strong -static -o "$OUT/xmpp-edge.syms" "$REL/obj/cli/main.o" "$REL/obj/gen/notices.o" \
		"$REL/libxe.a" -L"$DEPS/lib" -lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread
	strip -o "$OUT/xmpp-edge.stripped" "$OUT/xmpp-edge.syms"
	cmp -s "$OUT/xmpp-edge.stripped" "$BIN" || die "$OUT/xmpp-edge.syms is not $BIN once stripped"
	EDGE_BINS="xmpp-edge=$OUT/xmpp-edge.syms"
fi
. "$XE_ROOT/tests/bench/benchlib.sh"
bench_packages openssl dnsmasq-base
[ -n "${BENCH_NO_PROSODY:-}" ] || bench_packages prosody lua-unbound
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
	printf 'subjectAltName=DNS:*.%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ZONE" >partner.ext
	openssl req $(ec) -keyout partner.key -out partner.csr -subj "/CN=$ZONE"
	openssl x509 -req -in partner.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out partner.crt \
		-days 2 -extfile partner.ext
	chmod 600 ./*.key
	mkdir -p prosody
	cp example.crt example.key ca.crt prosody/
	# Keys stay root's: xmpp-edge reads them before it drops to its
	# user, and refuses a key owned by anyone else (config_files.c).
) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log" >&2; exit 1; }

# The partners' DNS: every pK has _xmpp-server._tcp SRV -> the
# authoritative server; every name in the zone an A record 127.0.0.1 and
# nothing else (--local: other types NODATA).
AUTH_PORT=$(free_port)
DNS_PORT=$(free_port)
{
	echo "address=/$ZONE/127.0.0.1"
	echo "local=/$ZONE/"
	for ((i = 0; i < N; i++)); do
		echo "srv-host=_xmpp-server._tcp.p$i.$ZONE,auth.$ZONE,$AUTH_PORT,0,10"
	done
} >"$W/dnsmasq.conf"
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port="$DNS_PORT" --listen-address=127.0.0.1 \
	--bind-interfaces --pid-file="$W/dnsmasq.pid" --conf-file="$W/dnsmasq.conf" \
	--cache-size=0 --log-facility="$W/dnsmasq.log" &
PIDS+=($!)

# restart_script LABEL CMD PORT: $W/LABEL/restart.sh, a restart as an
# upgrade does it: SIGTERM, wait until gone, CMD (which starts the server
# in the background and writes its PID to $W/LABEL/pid), wait for the
# port, and the new process's CPU ticks at that instant to $W/LABEL/cpu0
# (the storm's CPU is what it spends after).
restart_script() {
	cat >"$W/$1/restart.sh" <<EOF
#!/bin/bash
p=\$(cat "$W/$1/pid")
kill "\$p"
while kill -0 "\$p" 2>/dev/null; do sleep 0.02; done
$2
for i in \$(seq 600); do
	if (exec 3<>/dev/tcp/127.0.0.1/$3) 2>/dev/null; then
		awk '{ print \$14 + \$15 }' "/proc/\$(cat "$W/$1/pid")/stat" >"$W/$1/cpu0"
		exit 0
	fi
	sleep 0.05
done
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

# storm LABEL PID PORT [RESTART_CMD [TICKETS]]: prints the result line
# and records the JSON in $W/runs.log.
storm() {
	local c0 c1 j pid=$2 args=()
	[ -n "${4:-}" ] && args+=(--restart "$4")
	[ "${5:-0}" = 1 ] && args+=(--tickets)
	c0=$(cpu_ticks "$pid")
	local perf=
	if [ -n "${BENCH_PROFILE:-}" ] && [ -z "${4:-}" ] && [ ! -f "$W/perf.data" ] && [ "${1#prosody}" = "$1" ]; then
		perf record -q -F 999 -e cpu-clock -g -o "$W/perf.data" -p "$pid" >/dev/null 2>&1 &
		perf=$!
	fi
	j=$("${TOOL_RUN[@]}" /usr/bin/python3 "$XE_ROOT/tests/bench/stormbench.py" "$3" example.com "$N" \
		--cert "$W/partner.crt" --key "$W/partner.key" --ca "$W/ca.crt" --zone "$ZONE" \
		--auth-port "$AUTH_PORT" --per-ip 50 --dialback-share "$DBSHARE" "${args[@]}")
	if [ -n "${4:-}" ]; then
		pid=$(cat "$W/$1/pid")
		c0=$(cat "$W/$1/cpu0")
	fi
	c1=$(cpu_ticks "$pid")
	# The edge's own dialback checks (its outgoing streams to the
	# partners' authoritative server): how many resumed a TLS session
	# (binaries with tls.keep_outgoing_sessions keep them across the
	# restart).  Prosody and older binaries: "-".
	local vres=-
	if [ "${1#prosody}" = "$1" ]; then
		vres=$("${BIN_OF[$1]}" status --socket "$W/$1/state/control.sock" --json 2>/dev/null |
			python3 -c 'import json, sys
d = json.load(sys.stdin)
r = d.get("tls_resumed_dialback_verify")
print("-" if r is None else "%d/%d" % (r, d.get("tls_handshakes_dialback_verify", 0)))' 2>/dev/null) || vres=-
	fi
	if [ -n "$perf" ]; then
		kill -INT "$perf"
		wait "$perf" || true
		perf report -i "$W/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n "${BENCH_PROFILE_LINES:-40}" >"$W/profile.txt"
	fi
	echo "$1: $j server_ticks=$((c1 - c0)) verify_resumed=$vres" >>"$W/runs.log"
	python3 -c '
import json, sys
d = json.loads(sys.argv[2])
cpu = int(sys.argv[3]) / 100.0
# Streams the server dropped (reset, refused, timed out) are reported, not
# hidden: "all auth" is then "-", those partners would have to retry later.
full = d["errors"] == 0 and d["ok"] == d["n"]
f = lambda k: "%.2f" % d[k] if d[k] is not None else "-"
print("%-18s %6d %6d %6d %7d %9s %8s %7s %7s %8s %8.2f %8.2f %6.2f" % (sys.argv[1], d["ok_external"], d["ok_dialback"],
      d["errors"], d.get("reused", 0), sys.argv[4], f("wall_s") if full else "-", f("p50_s"), f("p90_s"),
      f("worst_s") if full else "-", cpu, d["tool_cpu_s"],
      (cpu / d["ok"] * 1000) if d["ok"] else 0))' "$1" "$j" $((c1 - c0)) "$vres"
}

# The edge's side of the partners' DNS (a private address: loopback).
DNS_EXTRA=', "allow_private_targets": ["127.0.0.1/32"]'
CASES=${BENCH_STORM_CASES:-fresh restart tickets}
head -c 32 /dev/urandom >"${W:?}/ticket.key"
chmod 600 "$W/ticket.key"
echo "reconnect storm: $N partners at once, $DBSHARE of them Server Dialback (no client certificate), the rest SASL EXTERNAL"
echo "(STARTTLS, TLS 1.3, ECDSA P-256); partners' authoritative server and DNS on 127.0.0.1; times in s from the storm's start"
printf '%-18s %6s %6s %6s %7s %9s %8s %7s %7s %8s %8s %8s %6s\n' "server-case" "ok EXT" "ok DB" failed resumed \
	"verify" "all auth" "p50" "p90" "worst" "server" "client" "ms/str"
printf '%-18s %6s %6s %6s %7s %9s %8s %7s %7s %8s %8s %8s %6s\n' "" "" "" "" "" "resumed" "" "" "" "" "CPU s" "CPU s" \
	"server"
declare -A ALL BIN_OF
for e in $EDGE_BINS; do
	label=${e%%=*} bin=${e#*=}
	for c in $CASES; do
		BIN_OF[$label-$c]=$bin
		extra=
		case $c in
		fresh | restart) ;;
		tickets)
			"$bin" help config 2>/dev/null | grep -q 'tls.ticket_key_file' || continue
			extra=', "ticket_key_file": "'"$W/ticket.key"'"' ;;
		*) die "unknown case $c (BENCH_STORM_CASES)" ;;
		esac
		port=$(free_port)
		EDGE_TLS_EXTRA=$extra EDGE_DNS_PORT=$DNS_PORT EDGE_DNS_EXTRA=$DNS_EXTRA EDGE_DEFAULT_LIMITS=1 \
			EDGE_LIMITS_EXTRA=${BENCH_STORM_EDGE_LIMITS:-} \
			edge_start "$label-$c" "$bin" "$port" "" "$W/ca.crt" $((2 * N + 100))
		echo "$EDGE_PID" >"$W/$label-$c/pid"
		if [ "$c" = fresh ]; then
			line=$(storm "$label-$c" "$EDGE_PID" "$port") || { tail -5 "$W/$label-$c/edge.log" >&2; exit 1; }
		else
			restart_script "$label-$c" "${PROXY_RUN[*]} \"$bin\" run -c \"$W/$label-$c/edge.json\" \
>>\"$W/$label-$c/edge.log\" 2>&1 & echo \$! >\"$W/$label-$c/pid\"" "$port"
			line=$(storm "$label-$c" "$EDGE_PID" "$port" "$W/$label-$c/restart.sh" \
				"$([ "$c" = tickets ] && echo 1 || echo 0)") || { tail -5 "$W/$label-$c/edge.log" >&2; exit 1; }
		fi
		echo "$line"
		ALL[$label-$c]=$(awk '{ print $7 }' <<<"$line")
		kill "$(cat "$W/$label-$c/pid")" 2>/dev/null || true
		rm -f "$W/$label-$c/pid"
	done
done
if [ -z "${BENCH_NO_PROSODY:-}" ]; then
	for c in fresh restart; do
		# Prosody's restart is what the edge's restart and tickets
		# cases compare with.
		case $c in
		fresh) case " $CASES " in *" fresh "*) ;; *) continue ;; esac ;;
		restart) case " $CASES " in *" restart "* | *" tickets "*) ;; *) continue ;; esac ;;
		esac
		port=$(free_port)
		rm -rf "$W/prosody/data" "$W/prosody/prosody.pid"
		# Prosody's resolver (libunbound) asks the partners' dnsmasq only.
		prosody_start "$W/prosody" "s2s_ports = { $port }
unbound = { resolvconf = false, hoststxt = false, forward = \"127.0.0.1@$DNS_PORT\",
            options = { [\"do-not-query-localhost:\"] = \"no\" } }"
		wait_port "$port" || { cat "$W/prosody/"*.log >&2; exit 1; }
		mkdir -p "$W/prosody-$c"
		echo "$PROSODY_PID" >"$W/prosody-$c/pid"
		if [ "$c" = fresh ]; then
			line=$(storm "prosody-$c" "$PROSODY_PID" "$port") || { tail -5 "$W/prosody/prosody.log" >&2; exit 1; }
		else
			restart_script "prosody-$c" "rm -f \"$W/prosody/prosody.pid\"; ${PROXY_RUN[*]} runuser -u prosody -- \
/bin/sh -c \"ulimit -n $(ulimit -n); exec prosody --config $W/prosody/prosody.cfg.lua -F\" \
>>\"$W/prosody/stdout.log\" 2>&1 & \
for i in \$(seq 200); do [ -s \"$W/prosody/prosody.pid\" ] && break; sleep 0.05; done; \
cat \"$W/prosody/prosody.pid\" >\"$W/prosody-$c/pid\"" "$port"
			line=$(storm "prosody-$c" "$PROSODY_PID" "$port" "$W/prosody-$c/restart.sh" 0) ||
				{ tail -5 "$W/prosody/prosody.log" >&2; exit 1; }
		fi
		echo "$line"
		ALL[prosody-$c]=$(awk '{ print $7 }' <<<"$line")
		kill "$(cat "$W/prosody-$c/pid")" 2>/dev/null || true
		p=$(cat "$W/prosody-$c/pid")
		while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
		rm -f "$W/prosody-$c/pid"
	done
	for l in $(printf '%s\n' "${!ALL[@]}" | sort); do
		case $l in prosody-*) continue ;; *-fresh) p=prosody-fresh ;; *) p=prosody-restart ;; esac
		[ -n "${ALL[$p]:-}" ] || continue
		awk -v l="$l" -v p="$p" -v a="${ALL[$l]}" -v b="${ALL[$p]}" \
			'BEGIN { if (a == "-" || b == "-") printf "%s/%s time until all authenticated: - (streams failed)\n", l, p;
			         else printf "%s/%s time until all authenticated: %.2fx\n", l, p, a / b }'
	done
fi
cat "$W/runs.log" >&2
if [ -f "$W/profile.txt" ]; then
	echo "profile of the first fresh storm (perf cpu-clock, self time):"
	cat "$W/profile.txt"
fi
