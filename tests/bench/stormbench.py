#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""stormbench.py - a reconnect storm for tests/bench/run_storm.sh.

N partner streams start at the same instant against one server (what
follows an edge restart: every partner's outgoing stream died and all
retry together).  Each stream, as a remote server would (RFC 6120):
stream header from pK.partners.example, features, <starttls/>, TLS with
the partner's certificate (*.partners.example), header again, SASL
EXTERNAL (XEP-0178), <success/>, restart, post-auth <stream:features>.
The stream then stays open (idle) until every stream is done.

One thread per stream (blocking sockets, released together); Python's
ssl (OpenSSL).  Prints one JSON line: ok,
errors (with the first), wall seconds from the start to the last stream
authenticated, p50 and worst stream (seconds from its own start), and how
many TLS sessions were resumed.

With RESTART_CMD (the real sequence, issue 18): the N partners first
connect and authenticate (one storm, not measured), stay connected, then
RESTART_CMD (a shell command) restarts the server, which ends their
streams, and the measured storm is every partner reconnecting at once.
With TICKETS=1 each partner offers the TLS 1.3 ticket its first stream
received (what a server with session resumption does on reconnecting).

Usage: stormbench.py PORT TO N CERT KEY [SOURCES_PER_IP [RESTART_CMD [TICKETS]]]
"""
import subprocess
import base64
import json
import socket
import ssl
import sys
import threading
import time

from benchxmpp import NS, read_until, starttls_s2s  # noqa: E402 (beside this script)


def one(i, port, to, ctx, per_ip, go, t0, done, hold, sessions, reused, keep):
    frm = f"p{i}.partners.example"
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} from='{frm}' to='{to}' "
           "version='1.0'>").encode()
    k = i // per_ip     # each source address in a /24 of its own
    src = (f"127.{1 + k // 250}.{k % 250}.1", 0)
    go.wait()
    s = socket.create_connection(("127.0.0.1", port), timeout=300, source_address=src)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s, feats = starttls_s2s(s, hdr, ctx, to, sessions[i])
        if s.session_reused:
            reused.append(i)
        if b"EXTERNAL" not in feats:
            raise RuntimeError(f"no SASL EXTERNAL offered: {feats[-300:]!r}")
        s.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
                  + base64.b64encode(frm.encode()) + b"</auth>")
        got = read_until(s, b"/>")
        if b"<success" not in got:
            raise RuntimeError(f"SASL refused: {got[-300:]!r}")
        s.sendall(hdr)
        got = read_until(s, b"<stream:features")
        while b"<stream:features/>" not in got and b"</stream:features>" not in got:
            got = read_until(s, b">", got + s.recv(16384))
        done.append(time.perf_counter() - t0[0])
        sessions[i] = s.session     # its ticket came with the features
        if keep is not None:        # stays connected until the restart
            keep[i] = s
            s = None
            return
        hold.wait()
    finally:
        if s is not None:
            s.close()


def storm(n, port, to, ctx, per_ip, sessions, keep=None):
    """Every partner at once; (done times, errors, reused)."""
    done, errors, reused = [], [], []
    go, hold = threading.Event(), threading.Event()
    t0 = [0.0]

    def guarded(i):
        try:
            one(i, port, to, ctx, per_ip, go, t0, done, hold, sessions, reused, keep)
        except Exception as e:  # counted and reported, never hidden
            errors.append(repr(e)[:200])

    threading.stack_size(256 * 1024)
    th = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    t0[0] = time.perf_counter()
    go.set()        # every partner at once
    while len(done) + len(errors) < n:
        time.sleep(0.02)
    hold.set()
    for t in th:
        t.join()
    done.sort()
    return done, errors, reused


def main():
    port, to, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    cert, key = sys.argv[4], sys.argv[5]
    per_ip = int(sys.argv[6]) if len(sys.argv) > 6 else 50
    restart = sys.argv[7] if len(sys.argv) > 7 else ""
    tickets = len(sys.argv) > 8 and sys.argv[8] == "1"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    sessions = [None] * n
    warm_ok = None
    if restart:
        keep = [None] * n
        # A partner the server dropped in the warm-up reconnects in the
        # storm all the same, without a ticket (counted in warm_ok).
        warm, _, _ = storm(n, port, to, ctx, per_ip, sessions, keep)
        warm_ok = len(warm)
        subprocess.run(restart, shell=True, check=True)
        for s in keep:
            if s is not None:
                s.close()
        if not tickets:
            sessions = [None] * n
    done, errors, reused = storm(n, port, to, ctx, per_ip, sessions)
    print(json.dumps({"ok": len(done), "errors": len(errors), "first_error": errors[:1],
                      "warm_ok": warm_ok, "reused": len(reused),
                      "wall_s": done[-1] if done else None,
                      "p50_s": done[len(done) // 2] if done else None,
                      "worst_s": done[-1] if done else None}))


main()
