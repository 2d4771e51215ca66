# SPDX-License-Identifier: Apache-2.0
# tests/bench/benchlib.sh - what the benchmark scripts share; sourced, not
# run (./build.sh bench runs tests/bench/run_*.sh only).
#
#   bench_packages PKG...   installs missing Debian packages (as root, with
#                           the benchmarks' own apt-get), else says what to do
#   bench_pin               PROXY_RUN / TOOL_RUN: taskset prefixes putting the
#                           servers on CPU $PCPU and the client on the others
#   bench_workdir PREFIX    W: a fresh directory, removed at exit with every
#                           PID in PIDS killed (kept with BENCH_KEEP=1)
#   bench_handshake_files   in W: example.crt/.key (P-256, self-signed,
#                           example.com) and openssl-X25519.cnf /
#                           openssl-P-256.cnf (OPENSSL_CONF files that make
#                           a Python ssl client offer that one group)
#   free_port, wait_port PORT
#   cpu_ticks PID           utime+stime of PID, in clock ticks (1/100 s)
#   edge_start ...          an xmpp-edge for the benchmark (see below)
#   prosody_start DIR PORTLINE   a private Prosody 0.12 on 127.0.0.1 as the
#                           prosody user, with DIR's example.crt/.key (and
#                           ca.crt when present); PORTLINE is its ports
#                           line(s), e.g. "s2s_ports = { 5269 }"; sets
#                           PROSODY_PID
# The caller defines say/die and sets PCPU.

bench_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
		[ "$(id -u)" -eq 0 ] || die "missing Debian package $p; run as root: apt-get install $p"
		say "installing $p"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2 ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2; } ||
			die "apt-get install $p failed"
	done
}

bench_pin() {
	local ncpu
	ncpu=$(nproc)
	if [ "$ncpu" -ge 2 ]; then
		TOOLCPUS=$(seq -s, 0 $((ncpu - 1)) | tr ',' '\n' | grep -vx "$PCPU" | paste -sd,)
		PROXY_RUN=(taskset -c "$PCPU")
		TOOL_RUN=(taskset -c "$TOOLCPUS")
	else
		TOOLCPUS=
		PROXY_RUN=()
		TOOL_RUN=()
	fi
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${BENCH_KEEP:-}" ] && { say "kept $W"; return; }
	rm -rf "$W"
}

bench_workdir() {
	W=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$W"	# xmpp-edge drops to nobody when started as root
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_handshake_files() {
	local g
	(
		cd "$W"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout example.key \
			-out example.crt -days 2 -subj "/CN=example.com" -addext subjectAltName=DNS:example.com
		# Keys stay root's: xmpp-edge reads them before it drops to its
		# user, and refuses a key owned by anyone else (config_files.c).
		chmod 600 example.key
	) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log" >&2; die "certificate generation failed"; }
	for g in X25519 P-256; do
		printf 'openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nGroups = %s\n' \
			"$g" >"$W/openssl-$g.cnf"
	done
}

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

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

prosody_start() {
	local dir=$1 ports=$2 ca=
	[ -f "$dir/ca.crt" ] && ca=", cafile = \"$dir/ca.crt\""
	mkdir -p "$dir/data"
	cat >"$dir/prosody.cfg.lua" <<EOF
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
interfaces = { "127.0.0.1" }
c2s_ports = { }
http_ports = { }
https_ports = { }
$ports
log = { error = "$dir/prosody.log" }
modules_enabled = { "saslauth", "tls", "dialback", "disco", "posix" }
s2s_require_encryption = true
s2s_timeout = 7200 -- a slow client opening tens of thousands of idle streams must not see the first ones timed out
ssl = { certificate = "$dir/example.crt", key = "$dir/example.key"$ca }
VirtualHost "example.com"
EOF
	[ "$(id -u)" -ne 0 ] || chown -R prosody:prosody "$dir"
	# Its own fd limit: as many streams as the benchmark opens.
	"${PROXY_RUN[@]}" runuser -u prosody -- /bin/sh -c \
		"ulimit -n $(ulimit -n); exec prosody --config $dir/prosody.cfg.lua -F" >"$dir/stdout.log" 2>&1 &
	PIDS+=($!)
	local i
	for i in $(seq 100); do [ -s "$dir/prosody.pid" ] && break; sleep 0.1; done
	PROSODY_PID=$(cat "$dir/prosody.pid" 2>/dev/null) || die "prosody did not start: $(cat "$dir/"*.log)"
}

# edge_start LABEL BIN STARTTLS_PORT DIRECT_PORT CA_FILE MAX_STREAMS: an
# xmpp-edge serving example.com ($W/example.crt/.key) on the given ports
# ("" for none), trusting CA_FILE, room for MAX_STREAMS streams, its DNS a
# dead port; on CPU $PCPU; EDGE_TLS_EXTRA, EDGE_DNS_EXTRA, EDGE_LIMITS_EXTRA:
# more keys of its "tls", "dns" and "limits" objects (JSON, starting with a
# comma); EDGE_DNS_PORT: its DNS server on 127.0.0.1 instead of the dead
# port.  Sets EDGE_PID.
edge_start() {
	local label=$1 bin=$2 st=$3 dt=$4 ca=$5 max=$6 dns rate=
	dns=${EDGE_DNS_PORT:-$(free_port)}
	# Handshake benchmarks open streams from a few /24s far faster than
	# limits.new_streams_per_minute_per_prefix allows (binaries that
	# know the key; older ones are compared too).
	# EDGE_DEFAULT_LIMITS=1 keeps the defaults of both (what an operator
	# runs), and of limits.handshake_timeout_ms.
	local hst=', "handshake_timeout_ms": 600000'
	if [ -n "${EDGE_DEFAULT_LIMITS:-}" ]; then
		hst=
	elif "$bin" help config 2>/dev/null | grep -q 'limits.new_streams_per_minute_per_prefix'; then
		rate=', "new_streams_per_minute_per_prefix": 1000000'
	fi
	# Streams idle before authentication (the idle-memory benchmark holds
	# N of them) count against this limit, where the binary has it.
	if [ -z "${EDGE_DEFAULT_LIMITS:-}" ] &&
		"$bin" help config 2>/dev/null | grep -q 'limits.max_unauthenticated_streams'; then
		rate="$rate, \"max_unauthenticated_streams\": $max"
	fi
	mkdir -p "$W/$label"
	cat >"$W/$label/edge.json" <<EOF
{
  "state_dir": "$W/$label/state",
  "domains": [{ "name": "example.com", "cert": "$W/example.crt", "key": "$W/example.key" }],
  "listen": { "starttls": [${st:+\"127.0.0.1:$st\"}], "direct_tls": [${dt:+\"127.0.0.1:$dt\"}],
              "control": "$W/$label/state/control.sock" },
  "tls": { "ca_file": "$ca"${EDGE_TLS_EXTRA:-} },
  "dns": { "servers": ["127.0.0.1:$dns"]${EDGE_DNS_EXTRA:-} },
  "limits": { "max_streams": $max$hst$rate${EDGE_LIMITS_EXTRA:-} },
  "log": { "level": "${EDGE_LOG_LEVEL:-warn}" }
}
EOF
	chmod -R a+rX -- "${W:?}/${label:?}"
	[ -x "$bin" ] || die "$bin missing: run ./build.sh first"
	"${PROXY_RUN[@]}" "$bin" run -c "$W/$label/edge.json" >"$W/$label/edge.log" 2>&1 &
	PIDS+=($!)
	EDGE_PID=$!
	wait_port "${st:-$dt}" || die "$label did not start: $(tail -5 "$W/$label/edge.log")"
}
