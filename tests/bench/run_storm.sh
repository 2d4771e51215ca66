#!/usr/bin/env bash
# tests/bench/run_storm.sh - a reconnect storm: N partner streams start at
# the same instant against a server that has just (re)started, each one
# STARTTLS, the partner's certificate, SASL EXTERNAL, restart, features
# (stormbench.py).  Reported per server: time until every stream is
# authenticated, the worst stream's wait, the server's CPU (utime+stime
# from /proc) for the storm; the same storm against Prosody 0.12 (private
# instance on 127.0.0.1, as the prosody user), and the ratio.
#
# Partners are p0..pN-1.partners.example, one wildcard certificate from a
# throwaway CA both servers trust, spread over source addresses of
# 127.1.0.0/16 (50 each).  All streams authenticate with SASL EXTERNAL:
# dialback partners would need an authoritative server answering each
# db:verify, which this tool does not play (yet).
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
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
	TOOLCPUS=$(seq -s, 0 $((NCPU - 1)) | tr ',' '\n' | grep -vx "$PCPU" | paste -sd,)
	PROXY_RUN=(taskset -c "$PCPU")
	TOOL_RUN=(taskset -c "$TOOLCPUS")
else
	PROXY_RUN=()
	TOOL_RUN=()
fi

W=$(mktemp -d /tmp/xe-storm.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${BENCH_KEEP:-}" ] && { echo "kept $W" >&2; return; }
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

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
	mkdir -p prosody/data
	cp example.crt example.key ca.crt prosody/
	if [ "$(id -u)" -eq 0 ]; then
		chown 65534:65534 example.key
		chown -R prosody:prosody prosody
	fi
) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log" >&2; exit 1; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# storm LABEL PID PORT: prints the result line.
storm() {
	local c0 c1 j
	c0=$(cpu_ticks "$2")
	j=$("${TOOL_RUN[@]}" /usr/bin/python3 "$XE_ROOT/tests/bench/stormbench.py" "$3" example.com "$N" \
		"$W/partner.crt" "$W/partner.key")
	c1=$(cpu_ticks "$2")
	echo "  $1: $j server_ticks=$((c1 - c0))" >>"$W/runs.log"
	python3 -c '
import json, sys
d = json.loads(sys.argv[2])
if d["errors"]:
    sys.exit("%s: %d streams failed, first: %s" % (sys.argv[1], d["errors"], d["first_error"]))
print("%-10s %7d %10.2f %10.2f %10.2f %12.2f" % (sys.argv[1], d["ok"], d["wall_s"], d["p50_s"],
      d["worst_s"], int(sys.argv[3]) * 10.0 / 1000))' "$1" "$j" $((c1 - c0))
}

echo "reconnect storm: $N partner streams at once (STARTTLS, SASL EXTERNAL, TLS 1.3, ECDSA P-256)"
printf '%-10s %7s %10s %10s %10s %12s\n' server streams "all auth s" "p50 s" "worst s" "server CPU s"
declare -A ALL
for e in $EDGE_BINS; do
	label=${e%%=*} bin=${e#*=}
	port=$(free_port) dns=$(free_port)
	mkdir -p "$W/$label"
	cat >"$W/$label/edge.json" <<EOF
{
  "state_dir": "$W/$label/state",
  "domains": [{ "name": "example.com", "cert": "$W/example.crt", "key": "$W/example.key" }],
  "listen": { "starttls": ["127.0.0.1:$port"], "direct_tls": [], "control": "$W/$label/state/control.sock" },
  "tls": { "ca_file": "$W/ca.crt" },
  "dns": { "servers": ["127.0.0.1:$dns"] },
  "limits": { "max_streams": $((N + 100)), "handshake_timeout_ms": 600000 },
  "log": { "level": "warn" }
}
EOF
	chmod -R a+rX "$W/$label"
	"${PROXY_RUN[@]}" "$bin" run -c "$W/$label/edge.json" >"$W/$label/edge.log" 2>&1 &
	PIDS+=($!)
	pid=$!
	wait_port "$port" || { cat "$W/$label/edge.log" >&2; exit 1; }
	line=$(storm "$label" "$pid" "$port") || { tail -5 "$W/$label/edge.log" >&2; exit 1; }
	echo "$line"
	ALL[$label]=$(awk '{ print $3 }' <<<"$line")
	kill "$pid"
done
if [ -z "${BENCH_NO_PROSODY:-}" ]; then
	port=$(free_port)
	cat >"$W/prosody/prosody.cfg.lua" <<EOF
pidfile = "$W/prosody/prosody.pid"
data_path = "$W/prosody/data"
interfaces = { "127.0.0.1" }
c2s_ports = { }
s2s_ports = { $port }
http_ports = { }
https_ports = { }
log = { error = "$W/prosody/prosody.log" }
modules_enabled = { "saslauth", "tls", "dialback", "disco", "posix" }
s2s_require_encryption = true
s2s_timeout = 600
ssl = { certificate = "$W/prosody/example.crt", key = "$W/prosody/example.key", cafile = "$W/prosody/ca.crt" }
VirtualHost "example.com"
EOF
	[ "$(id -u)" -eq 0 ] && chown prosody:prosody "$W/prosody/prosody.cfg.lua"
	"${PROXY_RUN[@]}" runuser -u prosody -- /bin/sh -c \
		"ulimit -n $((N + 1024)); exec prosody --config $W/prosody/prosody.cfg.lua -F" >"$W/prosody/stdout.log" 2>&1 &
	PIDS+=($!)
	wait_port "$port" || { cat "$W/prosody/"*.log >&2; exit 1; }
	line=$(storm prosody "$(cat "$W/prosody/prosody.pid")" "$port") || { tail -5 "$W/prosody/prosody.log" >&2; exit 1; }
	echo "$line"
	ALL[prosody]=$(awk '{ print $3 }' <<<"$line")
	for e in $EDGE_BINS; do
		awk -v l="${e%%=*}" -v a="${ALL[${e%%=*}]}" -v b="${ALL[prosody]}" \
			'BEGIN { printf "%s/Prosody time until all authenticated: %.2fx\n", l, a / b }'
	done
fi
cat "$W/runs.log" >&2
