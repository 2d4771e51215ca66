#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/dns/run.sh - dns/ (c-ares on libuv, SRV discovery, connect sequence)
# against a real DNS server.
#
# Starts dnsmasq on a loopback address and port of its own (127.53.N.1,
# N from our PID) with the SRV, A and AAAA records below, a UDP "server"
# that never answers (127.53.N.2), a dnsmasq that knows one address and
# refuses the rest (127.53.N.3), a UDP server answering SRV questions with
# SERVFAIL or REFUSED (127.53.N.4), and loopback TCP endpoints that refuse,
# hang (full accept queue) or accept (127.54.N.x).  Nothing leaves
# 127.0.0.0/8.  The cases run through tests/dns/dns_tool.c, built here
# against out/dev/libxe.a (ASan+UBSan), whose "resolve" mode is the very
# `xmpp-edge resolve` code; the last case runs $XE_BIN resolve itself when
# the binary has that command.
#
# Environment: XE_ROOT, XE_OUT, XE_BIN (from build.sh); DNS_TOOL=path uses an
# already built tool.  Last line "N passed, N failed"; exit 1 on failure.
set -u

ROOT=${XE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${XE_OUT:-$ROOT/out}
XE_BIN=${XE_BIN:-$OUT/dev/xmpp-edge}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xe-dns-test.XXXXXX")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

PASSED=0
FAILED=0
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
fail() {
	echo "FAIL $1"
	shift
	[ $# -gt 0 ] && printf '  %s\n' "$@"
	FAILED=$((FAILED + 1))
}
die() { echo "run.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

command -v dnsmasq >/dev/null || die "dnsmasq not installed (apt-get install dnsmasq-base)"

# --- the test tool -----------------------------------------------------------

if [ -n "${DNS_TOOL:-}" ]; then
	TOOL=$DNS_TOOL
else
	[ -f "$OUT/dev/libxe.a" ] || die "$OUT/dev/libxe.a missing: run ./build.sh dev first"
	# The dependency prefix the dev build used, from its dependency files.
	PREFIX=$(grep -rhoE '/[^ :]*/deps/glibc-[0-9a-f]+/include/uv\.h' "$OUT/dev/obj" 2>/dev/null | head -n 1)
	PREFIX=${PREFIX%/include/uv.h}
	[ -n "$PREFIX" ] && [ -d "$PREFIX/lib" ] || die "cannot find the dev build's dependencies"
	TOOL=$WORK/dns_tool
	gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror -O1 -g -fno-omit-frame-pointer \
		-fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-I"$ROOT/dns" -I"$ROOT/common" -I"$ROOT/cli" -I"$PREFIX/include" \
		-o "$TOOL" "$ROOT/tests/dns/dns_tool.c" "$OUT/dev/libxe.a" \
		-L"$PREFIX/lib" -lmbedtls -lmbedx509 -lmbedcrypto -lcares -luv -lyajl -lpthread ||
		die "cannot build tests/dns/dns_tool.c"
fi

# --- addresses of our own ----------------------------------------------------

N=$(( $$ % 200 + 20 ))
DNS=127.53.$N.1
DNS_PORT=$(( 5300 + N ))
SERVER=$DNS:$DNS_PORT
SILENT=127.53.$N.2:$DNS_PORT
ONLY_A=127.53.$N.3		# dnsmasq knowing only b.example's address
FAILING=127.53.$N.4:$DNS_PORT	# answers SRV questions with SERVFAIL/REFUSED
C=127.54.$N			# connect endpoints
CPORT=$(( 20000 + $$ % 20000 ))

# --- the zone ------------------------------------------------------------------

CONF=$WORK/dnsmasq.conf
{
	cat <<EOC
port=$DNS_PORT
listen-address=$DNS
bind-interfaces
no-resolv
no-hosts
user=root
local=/example.net/
local-ttl=300
host-record=ready.example.net,127.0.0.1

# both services, merged: Direct TLS at priority 10 before STARTTLS at 20
srv-host=_xmpps-server._tcp.both.example.net,tls.both.example.net,5270,10,10
srv-host=_xmpp-server._tcp.both.example.net,plain.both.example.net,5269,20,10
host-record=tls.both.example.net,127.0.0.10,2001:db8::10
host-record=plain.both.example.net,127.0.0.11

# only _xmpp-server
srv-host=_xmpp-server._tcp.plainonly.example.net,xmpp.plainonly.example.net,5299,0,0
host-record=xmpp.plainonly.example.net,127.0.0.12

# priorities, listed out of order
srv-host=_xmpp-server._tcp.prio.example.net,p30.prio.example.net,5269,30,100
srv-host=_xmpp-server._tcp.prio.example.net,p10.prio.example.net,5269,10,1
srv-host=_xmpps-server._tcp.prio.example.net,p20.prio.example.net,5223,20,50
host-record=p10.prio.example.net,127.0.1.10
host-record=p20.prio.example.net,127.0.1.20
host-record=p30.prio.example.net,127.0.1.30

# weights 90 : 10 at one priority
srv-host=_xmpp-server._tcp.weights.example.net,heavy.weights.example.net,5269,5,90
srv-host=_xmpp-server._tcp.weights.example.net,light.weights.example.net,5269,5,10
host-record=heavy.weights.example.net,127.0.2.1
host-record=light.weights.example.net,127.0.2.2

# "." targets: the service is decidedly not available (no A fallback)
srv-host=_xmpp-server._tcp.dot.example.net
host-record=dot.example.net,127.0.0.20
srv-host=_xmpps-server._tcp.dotxmpps.example.net
host-record=dotxmpps.example.net,127.0.0.21
srv-host=_xmpps-server._tcp.dotmixed.example.net
srv-host=_xmpp-server._tcp.dotmixed.example.net,xmpp.dotmixed.example.net,5269,0,0
host-record=xmpp.dotmixed.example.net,127.0.0.22

# no SRV at all: the domain itself on 5269
host-record=fallback.example.net,127.0.0.30,2001:db8::30

# a target without addresses is skipped
srv-host=_xmpp-server._tcp.noaddr.example.net,gone.noaddr.example.net,5269,1,0
srv-host=_xmpp-server._tcp.noaddr.example.net,there.noaddr.example.net,5269,2,0
host-record=there.noaddr.example.net,127.0.0.40
srv-host=_xmpp-server._tcp.allgone.example.net,gone.allgone.example.net,5269,1,0

# connect sequence: refuse, hang, accept (priority order)
srv-host=_xmpp-server._tcp.conn.example.net,refuse.conn.example.net,$CPORT,1,0
srv-host=_xmpp-server._tcp.conn.example.net,hang.conn.example.net,$CPORT,2,0
srv-host=_xmpps-server._tcp.conn.example.net,ok.conn.example.net,$CPORT,3,0
host-record=refuse.conn.example.net,$C.1
host-record=hang.conn.example.net,$C.2
host-record=ok.conn.example.net,$C.3
srv-host=_xmpp-server._tcp.allhang.example.net,h1.allhang.example.net,$CPORT,1,0
srv-host=_xmpp-server._tcp.allhang.example.net,h2.allhang.example.net,$CPORT,2,0
host-record=h1.allhang.example.net,$C.2
host-record=h2.allhang.example.net,$C.5
srv-host=_xmpp-server._tcp.next.example.net,ok.conn.example.net,$CPORT,1,0
srv-host=_xmpp-server._tcp.next.example.net,ok2.next.example.net,$CPORT,2,0
host-record=ok2.next.example.net,$C.4
srv-host=_xmpp-server._tcp.refused.example.net,refuse.conn.example.net,$CPORT,1,0
host-record=v6.example.net,::1,$C.3
EOC
	# 200 SRV records, written highest priority first; only 16 targets
	# (max_srv_targets) may come out, the 16 lowest priorities in order.
	for i in $(seq 199 -1 0); do
		echo "srv-host=_xmpp-server._tcp.flood.example.net,t$i.flood.example.net,5269,$i,1"
		echo "host-record=t$i.flood.example.net,127.55.$((i / 250)).$((i % 250 + 1))"
	done
} >"$CONF"

dnsmasq --conf-file="$CONF" --keep-in-foreground --log-facility="$WORK/dnsmasq.log" \
	--log-queries --pid-file="$WORK/dnsmasq.pid" &
PIDS+=($!)
# A dnsmasq that knows one address and nothing else (no local=): for every
# other question, SRV included, it has no upstream to ask and answers
# REFUSED, as a resolver not authoritative for the name does.
dnsmasq --port="$DNS_PORT" --listen-address="$ONLY_A" --bind-interfaces --no-resolv --no-hosts \
	--user=root --host-record=b.example,127.0.0.31 --keep-in-foreground \
	--log-facility="$WORK/dnsmasq-only-a.log" --pid-file="$WORK/dnsmasq-only-a.pid" &
PIDS+=($!)

# Two DNS servers of our own (ADDRESS PORT READY_FILE MODE):
#   silent   reads queries and never answers;
#   failing  a broken SRV zone: SRV questions get SERVFAIL (names under
#            refused. get REFUSED), A questions 127.0.0.32, AAAA an empty
#            answer; every question under broken. gets SERVFAIL.
cat >"$WORK/dns_server.py" <<'EOS'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[3], "w").close()
while True:
    q, peer = s.recvfrom(4096)
    if sys.argv[4] == "silent" or len(q) < 12:
        continue
    end = 12
    while end < len(q) and q[end] != 0:
        end += 1 + q[end]
    question = q[12:end + 5]
    qtype = struct.unpack(">H", q[end + 1:end + 3])[0] if end + 3 <= len(q) else 0
    name = q[12:end].lower()
    rcode, answers = 0, b""
    if name.startswith(b"\x06broken"):
        rcode = 2
    elif qtype == 33:
        rcode = 5 if b"\x07refused" in name else 2
    elif qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([127, 0, 0, 32])
    flags = 0x8180 | rcode
    s.sendto(q[:2] + struct.pack(">HHHHH", flags, 1, 1 if answers else 0, 0, 0) + question + answers, peer)
EOS
/usr/bin/python3 "$WORK/dns_server.py" "${SILENT%:*}" "$DNS_PORT" "$WORK/silent.ready" silent &
PIDS+=($!)
/usr/bin/python3 "$WORK/dns_server.py" "${FAILING%:*}" "$DNS_PORT" "$WORK/failing.ready" failing &
PIDS+=($!)

for _ in $(seq 1 50); do
	"$TOOL" resolve --server "$SERVER" --timeout-ms 200 --tries 1 ready.example.net \
		>/dev/null 2>&1 && [ -f "$WORK/silent.ready" ] && [ -f "$WORK/failing.ready" ] &&
		"$TOOL" resolve --server "$ONLY_A:$DNS_PORT" --timeout-ms 200 --tries 1 b.example \
		>/dev/null 2>&1 && break
	sleep 0.1
done
"$TOOL" resolve --server "$SERVER" ready.example.net >/dev/null 2>&1 ||
	die "dnsmasq did not come up on $SERVER: $(tail -n 5 "$WORK/dnsmasq.log" 2>/dev/null)"

# --- helpers ---------------------------------------------------------------------

# resolve NAME [ARGS...]: runs the resolve command; sets OUTPUT (candidate
# lines without the header), ERR, RC, MS.
resolve() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$TOOL" resolve --server "$SERVER" "$@" "$name" >"$WORK/out" 2>"$WORK/err"
	RC=$?
	t1=$(date +%s%N)
	MS=$(( (t1 - t0) / 1000000 ))
	OUTPUT=$(grep -v '^#' "$WORK/out" | awk '{ print $1, $2, $3, $4, $6 }')
	ERR=$(cat "$WORK/err")
}

# resolve_at SERVER NAME: resolve with SERVER as the only DNS server.
resolve_at() {
	local SERVER=$1
	resolve "$2"
}

# expect_lines CASE EXPECTED: compares OUTPUT (addr port tls target source).
expect_lines() {
	if [ "$RC" -eq 0 ] && [ "$OUTPUT" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "exit $RC" "got:" "$OUTPUT" "expected:" "$2" "stderr: $ERR"
	fi
}

expect_error() { # CASE RC PATTERN
	if [ "$RC" -eq "$2" ] && [ -z "$OUTPUT" ] && grep -q -- "$3" "$WORK/err"; then
		pass "$1"
	else
		fail "$1" "exit $RC (want $2), stderr: $ERR" "stdout: $OUTPUT"
	fi
}

# --- discovery -----------------------------------------------------------------

resolve both.example.net
expect_lines "both SRV services merged, Direct TLS and STARTTLS marked" \
"2001:db8::10 5270 direct-tls tls.both.example.net srv
127.0.0.10 5270 direct-tls tls.both.example.net srv
127.0.0.11 5269 starttls plain.both.example.net srv"

ttl=$(grep -v '^#' "$WORK/out" | awk 'NR == 1 { print $5 }')
if [ "$RC" -eq 0 ] && [ "$ttl" -ge 290 ] && [ "$ttl" -le 300 ]; then
	pass "TTL shown (dnsmasq gives 300)"
else
	fail "TTL shown (dnsmasq gives 300)" "ttl '$ttl'"
fi

resolve plainonly.example.net
expect_lines "only _xmpp-server" "127.0.0.12 5299 starttls xmpp.plainonly.example.net srv"

resolve prio.example.net
expect_lines "priority ordering across both services" \
"127.0.1.10 5269 starttls p10.prio.example.net srv
127.0.1.20 5223 direct-tls p20.prio.example.net srv
127.0.1.30 5269 starttls p30.prio.example.net srv"

# RFC 2782: heavy (90) first with probability 91/101 ~ 0.90 per run.  Over
# 2000 runs the count has mean ~1802 and standard deviation ~13; the bounds
# are more than 12 standard deviations away, so this cannot flake.
"$TOOL" weights --server "$SERVER" --runs 2000 weights.example.net >"$WORK/w" 2>"$WORK/werr"
heavy=$(awk '$1 == "heavy.weights.example.net" { print $2 }' "$WORK/w")
light=$(awk '$1 == "light.weights.example.net" { print $2 }' "$WORK/w")
if [ -n "$heavy" ] && [ -n "$light" ] && [ $((heavy + light)) -eq 2000 ] &&
	[ "$heavy" -ge 1640 ] && [ "$heavy" -le 1960 ]; then
	pass "weight distribution 90:10 (heavy first $heavy/2000)"
else
	fail "weight distribution 90:10" "heavy=$heavy light=$light" "$(cat "$WORK/werr")"
fi

resolve dot.example.net
expect_error "\".\" target: not available, no A fallback" 1 "decidedly not available"
resolve dotxmpps.example.net
expect_error "\".\" _xmpps-server target and no _xmpp-server: no fallback (XEP-0368)" 1 "decidedly not available"
resolve dotmixed.example.net
expect_lines "\".\" _xmpps-server, real _xmpp-server: STARTTLS used" \
	"127.0.0.22 5269 starttls xmpp.dotmixed.example.net srv"

resolve fallback.example.net
expect_lines "NXDOMAIN for SRV: fallback to AAAA/A on 5269" \
"2001:db8::30 5269 starttls fallback.example.net fallback
127.0.0.30 5269 starttls fallback.example.net fallback"

resolve nosuch.example.net
expect_error "nonexistent domain" 1 "does not exist"

# RFC 6120 §3.2.2: an SRV lookup answered with REFUSED or SERVFAIL falls
# back to the domain's own addresses like NXDOMAIN does.
resolve_at "$ONLY_A:$DNS_PORT" b.example
expect_lines "REFUSED for SRV (dnsmasq not authoritative): fallback to A on 5269" \
	"127.0.0.31 5269 starttls b.example fallback"
resolve_at "$FAILING" srv.example.org
expect_lines "SERVFAIL for SRV: fallback to A on 5269" \
	"127.0.0.32 5269 starttls srv.example.org fallback"
resolve_at "$FAILING" x.refused.example.org
expect_lines "REFUSED for SRV: fallback to A on 5269" \
	"127.0.0.32 5269 starttls x.refused.example.org fallback"
resolve_at "$FAILING" broken.example.org
expect_error "SERVFAIL for SRV and A: the server failure reported" 1 "SERVFAIL"

resolve noaddr.example.net
expect_lines "target without addresses skipped" "127.0.0.40 5269 starttls there.noaddr.example.net srv"
resolve allgone.example.net
expect_error "no target has addresses" 1 "no target has an IPv6 or IPv4 address"

resolve v6.example.net
expect_lines "IPv6 first" \
"::1 5269 starttls v6.example.net fallback
$C.3 5269 starttls v6.example.net fallback"

resolve flood.example.net
exp=$(for i in $(seq 0 15); do echo "127.55.0.$((i + 1)) 5269 starttls t$i.flood.example.net srv"; done)
expect_lines "200 SRV records: capped to 16 targets, lowest priorities" "$exp"

# A silent server alone: 2 tries of 300 ms for the SRV queries, then a
# timeout error (not a fallback to A: that would time out as well).
t0=$(date +%s%N)
"$TOOL" resolve --server "$SILENT" --timeout-ms 300 --tries 2 x.example.net >"$WORK/out" 2>"$WORK/err"
RC=$?
MS=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$RC" -eq 1 ] && grep -q "did not answer in time" "$WORK/err" && [ "$MS" -lt 4000 ]; then
	pass "resolver that never answers: timeout in ${MS} ms"
else
	fail "resolver that never answers" "exit $RC after $MS ms: $(cat "$WORK/err")"
fi

resolve "bad..name.example.net"
expect_error "invalid name refused before querying" 1 "invalid domain name"
resolve x.example.net --server "not-an-address"
expect_error "bad --server is a usage error" 2 "dns.servers\[1\]"

# --- connect sequence -------------------------------------------------------------

# connect ARGS... : runs the connect mode, output in CONN.  The endpoints
# are on loopback, which the address policy refuses unless allowed.
connect() {
	"$TOOL" connect --server "$SERVER" --allow 127.0.0.0/8 "$@" >"$WORK/conn" 2>"$WORK/cerr"
	RC=$?
	CONN=$(cat "$WORK/conn")
}

connect --connect-timeout-ms 3000 --refuse "$C.1:$CPORT" --hang "$C.2:$CPORT" \
	--accept "$C.3:$CPORT" conn.example.net
ms=$(awk '/^connected/ { print $6 }' "$WORK/conn")
if [ "$RC" -eq 0 ] && [ "$(awk '/^connected/ { print $2, $4 }' "$WORK/conn")" = "$C.3 direct-tls" ] &&
	[ "$ms" -lt 2000 ]; then
	pass "connect: refused and hanging addresses skipped, first working wins (${ms} ms)"
else
	fail "connect: refused and hanging addresses skipped" "exit $RC" "$CONN" "$(cat "$WORK/cerr")"
fi

connect --connect-timeout-ms 800 --hang "$C.2:$CPORT" --hang "$C.5:$CPORT" allhang.example.net
ms=$(awk '/^error/ { print $NF }' "$WORK/conn")
if [ "$RC" -eq 1 ] && grep -q "^error: no address accepted a connection in time" "$WORK/conn" &&
	[ "$ms" -ge 800 ] && [ "$ms" -lt 3000 ]; then
	pass "connect: all addresses hang, timeout in ${ms} ms"
else
	fail "connect: all addresses hang" "exit $RC" "$CONN" "$(cat "$WORK/cerr")"
fi

connect refused.example.net
if [ "$RC" -eq 1 ] && grep -q "^error: every address refused" "$WORK/conn"; then
	pass "connect: refused everywhere"
else
	fail "connect: refused everywhere" "exit $RC" "$CONN" "$(cat "$WORK/cerr")"
fi

connect --accept "$C.3:$CPORT" --accept "$C.4:$CPORT" --next next.example.net
if [ "$RC" -eq 0 ] && [ "$(awk '{ print $1, $2 }' "$WORK/conn" | tr '\n' ' ')" = \
	"connected $C.3 connected $C.4 error: every " ]; then
	pass "connect: next candidate after the caller rejects a connection"
else
	fail "connect: next candidate" "exit $RC" "$CONN" "$(cat "$WORK/cerr")"
fi

# Issue 14, finding 3: without the allow-list, loopback targets from DNS
# are never dialed (the listener accepts nothing) and the sequence says why.
"$TOOL" connect --server "$SERVER" --accept "$C.3:$CPORT" --accept "$C.4:$CPORT" next.example.net \
	>"$WORK/conn" 2>"$WORK/cerr"
RC=$?
if [ "$RC" -eq 1 ] && ! grep -q "^connected" "$WORK/conn" &&
	grep -q "^error: every address found is refused by the address policy" "$WORK/conn" &&
	grep "dns.connect.refused" "$WORK/cerr" | grep -q "loopback"; then
	pass "connect: loopback targets from DNS refused by default"
else
	fail "connect: loopback targets from DNS refused by default" "exit $RC" "$(cat "$WORK/conn")" \
		"$(tail -n 5 "$WORK/cerr")"
fi

connect nosuch.example.net
if [ "$RC" -eq 1 ] && grep -q "^error: domain does not exist" "$WORK/conn"; then
	pass "connect: DNS error passed on"
else
	fail "connect: DNS error passed on" "exit $RC" "$CONN"
fi

# --- the real binary ---------------------------------------------------------------

if [ -x "$XE_BIN" ] && "$XE_BIN" resolve --help 2>&1 | grep -q "usage: xmpp-edge resolve"; then
	"$TOOL" resolve --server "$SERVER" both.example.net >"$WORK/a" 2>&1
	"$XE_BIN" resolve --server "$SERVER" both.example.net >"$WORK/b" 2>&1
	rc=$?
	awk '{ $5 = ""; print }' "$WORK/a" >"$WORK/a2"
	awk '{ $5 = ""; print }' "$WORK/b" >"$WORK/b2"
	if [ "$rc" -eq 0 ] && cmp -s "$WORK/a2" "$WORK/b2"; then
		pass "xmpp-edge resolve"
	else
		fail "xmpp-edge resolve" "exit $rc" "$(cat "$WORK/b")"
	fi
	"$XE_BIN" resolve --server "$ONLY_A:$DNS_PORT" b.example >"$WORK/b" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q "^127.0.0.31 *5269 *starttls *b.example .*fallback" "$WORK/b"; then
		pass "xmpp-edge resolve: SRV REFUSED, fallback candidate"
	else
		fail "xmpp-edge resolve: SRV REFUSED, fallback candidate" "exit $rc" "$(cat "$WORK/b")"
	fi
	"$XE_BIN" resolve --server "$SERVER" nosuch.example.net >/dev/null 2>"$WORK/b"
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q "does not exist" "$WORK/b"; then
		pass "xmpp-edge resolve: failure exit status"
	else
		fail "xmpp-edge resolve: failure exit status" "exit $rc" "$(cat "$WORK/b")"
	fi
else
	echo "skip xmpp-edge resolve: $XE_BIN has no resolve command yet"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
