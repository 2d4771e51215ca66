#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hsbench.py - new-connection load for tests/bench/run_handshake.sh.

Opens N connections, CONC at a time, each one new (no session reuse, or
with RESUME = "resume" each worker offering the ticket of its previous
connection: TLS 1.3 resumption, RFC 8446 §2.2), and prints one JSON line:
how many succeeded (and were resumed) and the wall time of each, in
milliseconds, from connect() to the last byte the shape waits for:

  starttls  RFC 6120 s2s set-up: header, <stream:features> with
            <starttls/>, <starttls/>, <proceed/>, TLS, header again,
            the post-TLS <stream:features>  (xmpp-edge, Prosody)
  direct    XEP-0368 Direct TLS: TLS (ALPN xmpp-server), header,
            <stream:features>                (xmpp-edge)
  https     TLS, one HTTP/1.1 request, its response (HAProxy: the same
            TLS work and one request/answer round trip, no XMPP)

The key exchange group is the one OpenSSL offers first; run_handshake.sh
picks it with an OPENSSL_CONF whose system_default section says
`Groups = X25519` or `Groups = P-256`, which Python's ssl module honours.
The certificate is not verified: this measures the server's cost.

Usage: hsbench.py SHAPE PORT TO N CONC [resume]
"""
import json
import socket
import ssl
import sys
import threading
import time

from benchxmpp import NS, read_until, starttls_s2s  # noqa: E402 (beside this script)


def one(shape, port, to, ctx, sess):
    """One connection; sess: [ticket] in, the new one out (resume mode)."""
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} from='hsbench.example' to='{to}' "
           "version='1.0'>").encode()
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if shape == "starttls":
            s, _ = starttls_s2s(s, hdr, ctx, to, sess[0])
        elif shape == "direct":
            s = ctx.wrap_socket(s, server_hostname=to, session=sess[0])
            s.sendall(hdr)
            read_until(s, b"</stream:features>")
        else:
            s = ctx.wrap_socket(s, server_hostname=to, session=sess[0])
            s.sendall(f"GET / HTTP/1.1\r\nHost: {to}\r\n\r\n".encode())
            read_until(s, b"\r\n\r\nok")
        ms = (time.perf_counter() - t0) * 1000
        reused = s.session_reused
        if sess[1]:
            sess[0] = s.session     # the ticket arrived with the reply
    finally:
        s.close()
    return ms, reused


def main():
    shape, port, to, n, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    resume = len(sys.argv) > 6 and sys.argv[6] == "resume"
    if not resume:
        ctx.options |= ssl.OP_NO_TICKET     # every connection a full handshake
    if shape == "direct":
        ctx.set_alpn_protocols(["xmpp-server"])
    times, errors, reused = [], [], [0]
    lock = threading.Lock()
    left = [n]

    def worker():
        sess = [None, resume]
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                ms, r = one(shape, port, to, ctx, sess)
                with lock:
                    times.append(ms)
                    reused[0] += r
            except Exception as e:  # reported, counted, never hidden
                with lock:
                    errors.append(repr(e)[:200])

    th = [threading.Thread(target=worker) for _ in range(conc)]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    times.sort()
    print(json.dumps({"ok": len(times), "reused": reused[0], "errors": len(errors), "first_error": errors[:1],
                      "wall_s": wall, "p50_ms": times[len(times) // 2] if times else None,
                      "p90_ms": times[len(times) * 9 // 10] if times else None}))


main()
