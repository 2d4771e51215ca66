#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Resident memory per idle inbound TLS stream of the running daemon: the
# release binary on its embedded default, N Direct TLS streams opened and
# left idle after the stream header, VmRSS before and after, divided by N.
# This counts everything a stream costs (TLS state, tokenizer buffer,
# session struct, allocator overhead), unlike tls/MEMORY.md's TLS-only
# figure.  Usage: tests/bench/run_idle_memory.sh [N]   (default 500)
set -eu
cd "$(dirname "$0")/../.."
N=${1:-500}
BIN=${XE_STATIC_BIN:-out/xmpp-edge}
STATE=$(mktemp -d)
chmod 755 "$STATE"	# the daemon drops to its own user when started as root
"$BIN" run --state-dir "$STATE/state" 2>"$STATE/log" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$STATE"' EXIT
for _ in $(seq 50); do grep -q daemon.ready "$STATE/log" && break; sleep 0.1; done
/usr/bin/python3 - "$PID" "$N" <<'PY'
import socket, ssl, sys, time
pid, n = int(sys.argv[1]), int(sys.argv[2])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["xmpp-server"])
warm = []
for _ in range(20):   # let the allocator and the loop reach steady state
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 5270)), server_hostname="edge.localhost")
    warm.append(t)
for t in warm:
    t.close()
time.sleep(0.5)
before = rss()
socks = []
hdr = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
       b"xmlns:stream='http://etherx.jabber.org/streams' to='edge.localhost' "
       b"from='example.net' version='1.0'>")
for i in range(n):
    # limits.max_streams_per_ip is 64 and limits.max_streams_per_ipv4_24
    # 256 by default: spread the streams over addresses of the loopback
    # net, each in a /24 of its own.
    src = (f"127.1.{i // 60}.1", 0)
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 5270), source_address=src),
                        server_hostname="edge.localhost")
    t.sendall(hdr)
    got = b""
    while b"</stream:features>" not in got:
        got += t.recv(4096)
    socks.append(t)
time.sleep(0.5)
after = rss()
print(f"idle inbound TLS streams: {n}")
print(f"VmRSS before: {before} bytes, after: {after} bytes")
print(f"per idle stream: {(after - before) / n:.0f} bytes")
PY
