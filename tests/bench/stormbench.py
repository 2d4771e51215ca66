#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""stormbench.py - a reconnect storm for tests/bench/run_storm.sh.

N partner servers (pK.<zone>, K = 0..N-1) open their streams at the same
instant against one server, as after an edge restart: every partner's
stream died and all retry together.  Each stream, as a remote server would
(RFC 6120): header, features, <starttls/>, TLS, header again, then one of
  - SASL EXTERNAL (XEP-0178) with the partner's certificate
    (*.<zone>), <success/>, restart, post-auth features;
  - Server Dialback (XEP-0220), no client certificate: <db:result/> with
    the XEP-0185 key of (server, pK, stream id) under the partners' secret,
    until <db:result type='valid'/>.
Partners alternate (odd K dialback) unless --dialback-share says otherwise.
Every stream then stays open (idle) until the end, answering a stream close
with its own (what a real server does when the edge restarts).

The partners' authoritative server runs here too, on --auth-port: the
server under test resolves pK.<zone> to it (DNS in run_storm.sh) and
asks it <db:verify/> over a stream of its own (STARTTLS, then the
question, or SASL EXTERNAL first as Prosody does).  Each key is checked
against the partners' secret (XEP-0185: HEX(HMAC-SHA256(HEX(SHA256(secret)),
receiving ' ' originating ' ' id))) and answered valid or invalid; both
counts are reported, as are keys asked about that no partner sent.

One asyncio event loop, one thread: sockets are non-blocking, TLS is
OpenSSL through ssl.MemoryBIO (so that a partner can offer the TLS 1.3
ticket of its previous stream, which asyncio's own TLS cannot).  The
tool's CPU time during the storm is reported beside the wall time, so a
reader can see whether the tool or the server bounded the run.

With --restart CMD: the N partners first connect and authenticate (one
storm, not measured) and stay connected, CMD (a shell command) restarts the
server, and the measured storm is every partner reconnecting at once once
CMD returned (the server listens again).  With --tickets each partner offers
the TLS 1.3 ticket its previous stream received.

Prints one JSON line.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import resource
import socket
import ssl
import sys
import time

NS = ("xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
      "xmlns:db='jabber:server:dialback'")
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

# The next top-level item of a stream: a stream header, the stream's end,
# an empty element, or an element with content (no element in these
# exchanges nests one of its own name).  The tool reads what it needs of
# streams it opened itself to servers under test; it is not a validating
# parser.
ITEM = re.compile(rb"\s*(?:<\?xml[^>]*\?>\s*)?(<stream:stream\b[^>]*>|</stream:stream>|"
                  rb"<([\w:]+)\b[^>]*?/>|<([\w:]+)\b[^>]*>.*?</\3>)", re.S)
ATTR = re.compile(rb"([\w:]+)=(['\"])(.*?)\2", re.S)


def attrs(tag):
    """The attributes of the start tag at the head of tag (bytes -> str)."""
    head = tag[:tag.index(b">") + 1]
    return {k.decode(): v.decode() for k, _, v in ATTR.findall(head)}


def name_of(item):
    m = re.match(rb"</?([\w:]+)", item)
    return m.group(1).decode() if m else ""


def text_of(item):
    m = re.match(rb"<[^>]*>([^<]*)<", item)
    return m.group(1).decode() if m else ""


class Closed(Exception):
    pass


class Conn:
    """One TCP connection, plaintext then TLS (memory BIOs), item by item."""

    def __init__(self, loop, sock):
        self.loop, self.sock, self.tls, self.buf = loop, sock, None, b""
        self.inb = self.outb = None

    async def _raw(self):
        d = await self.loop.sock_recv(self.sock, 65536)
        if not d:
            raise Closed("connection closed by the peer")
        return d

    async def _flush(self):
        d = self.outb.read()
        if d:
            await self.loop.sock_sendall(self.sock, d)

    async def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.tls is None:
            await self.loop.sock_sendall(self.sock, data)
            return
        self.tls.write(data)
        await self._flush()

    async def _more(self):
        if self.tls is None:
            self.buf += await self._raw()
            return
        while True:
            try:
                d = self.tls.read(65536)
            except ssl.SSLWantReadError:
                await self._flush()     # TLS 1.3 key updates and the like
                self.inb.write(await self._raw())
                continue
            if not d:
                raise Closed("TLS closed by the peer")
            self.buf += d
            return

    async def item(self):
        """The next top-level item (bytes); Closed at the end of the stream."""
        while True:
            m = ITEM.match(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                it = m.group(1)
                if it.startswith(b"<stream:error"):
                    raise Closed(f"stream error: {it[:300]!r}")
                return it
            await self._more()

    async def expect(self, name):
        it = await self.item()
        if name_of(it) != name:
            raise RuntimeError(f"expected <{name}>, got {it[:300]!r}")
        return it

    async def starttls(self, ctx, server_side, hostname=None, session=None):
        if self.buf.strip():
            raise RuntimeError("bytes after <proceed/> before TLS")
        self.buf = b""
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inb, self.outb, server_side=server_side,
                                server_hostname=hostname, session=session)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                self.inb.write(await self._raw())
        await self._flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run_delay_s():
    """Seconds this process has waited for a CPU while runnable
    (/proc/self/schedstat, second field): what other processes on a shared
    machine took from the tool."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def dialback_key(hmac_key, receiving, originating, stream_id):
    """XEP-0185 §3 (HMAC key: the hex SHA-256 of the secret, as Prosody and
    xmpp-edge use it)."""
    return hmac.new(hmac_key, f"{receiving} {originating} {stream_id}".encode(),
                    hashlib.sha256).hexdigest()


class Bench:
    def __init__(self, a):
        self.a = a
        self.loop = asyncio.get_running_loop()
        self.hmac_key = hashlib.sha256(os.urandom(32)).hexdigest().encode()
        self.issued = set()             # (receiving, originating, id) of keys sent
        self.verify = {"valid": 0, "invalid": 0, "unknown": 0, "streams": 0}
        self.auth_errors = []
        cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cli.check_hostname = False
        cli.verify_mode = ssl.CERT_NONE
        cli_db = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # dialback: no certificate
        cli_db.check_hostname = False
        cli_db.verify_mode = ssl.CERT_NONE
        cli.load_cert_chain(a.cert, a.key)
        if not a.tickets:
            cli.options |= ssl.OP_NO_TICKET
            cli_db.options |= ssl.OP_NO_TICKET
        self.cli, self.cli_db = cli, cli_db
        srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.load_cert_chain(a.cert, a.key)
        srv.load_verify_locations(a.ca)
        srv.verify_mode = ssl.CERT_OPTIONAL     # Prosody presents its host certificate
        self.srv = srv

    def is_dialback(self, i):
        # Spread evenly: partner i is dialback when floor((i+1)*s) > floor(i*s).
        s = self.a.dialback_share
        return int((i + 1) * s) > int(i * s)

    # --- the partners' authoritative server ----------------------------------

    async def auth_serve(self, lsock):
        while True:
            s, _ = await self.loop.sock_accept(lsock)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.loop.create_task(self.auth_session(s))

    async def auth_session(self, s):
        c = Conn(self.loop, s)
        self.verify["streams"] += 1
        try:
            authed = False
            while True:
                it = await c.item()
                n = name_of(it)
                if n == "stream:stream":
                    h = attrs(it)
                    feats = ""
                    if c.tls is None:
                        feats = f"<starttls xmlns='{NS_TLS}'><required/></starttls>"
                    elif not authed and c.tls.getpeercert() is not None:
                        feats = (f"<mechanisms xmlns='{NS_SASL}'><mechanism>EXTERNAL</mechanism>"
                                 "</mechanisms>")
                    feats += "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>"
                    await c.send(f"<?xml version='1.0'?><stream:stream {NS} from='{h.get('to', '')}' "
                                 f"to='{h.get('from', '')}' id='{os.urandom(8).hex()}' version='1.0'>"
                                 f"<stream:features>{feats}</stream:features>")
                elif n == "starttls" and c.tls is None:
                    await c.send(f"<proceed xmlns='{NS_TLS}'/>")
                    await c.starttls(self.srv, True)
                elif n == "auth" and c.tls is not None and not authed:
                    # The asker proves the domain it asks for with its
                    # certificate (checked against the CA by OpenSSL); the
                    # answer is about keys, so nothing more is asked of it.
                    authed = True
                    await c.send(f"<success xmlns='{NS_SASL}'/>")
                elif n == "db:verify":
                    h = attrs(it)
                    key = text_of(it)
                    want = dialback_key(self.hmac_key, h.get("from", ""), h.get("to", ""), h.get("id", ""))
                    ok = hmac.compare_digest(want, key)
                    self.verify["valid" if ok else "invalid"] += 1
                    if ok and (h.get("from"), h.get("to"), h.get("id")) not in self.issued:
                        self.verify["unknown"] += 1
                    await c.send(f"<db:verify from='{h.get('to', '')}' to='{h.get('from', '')}' "
                                 f"id='{h.get('id', '')}' type='{'valid' if ok else 'invalid'}'/>")
                elif n == "/stream:stream":
                    await c.send("</stream:stream>")
                    break
                else:
                    raise RuntimeError(f"authoritative server: unexpected {it[:200]!r}")
        except (Closed, OSError, ssl.SSLError):
            pass
        except Exception as e:      # counted, never hidden
            self.auth_errors.append(repr(e)[:200])
        finally:
            c.close()

    # --- one partner's stream ------------------------------------------------

    async def partner(self, i, t0, res):
        a = self.a
        frm = f"p{i}.{a.zone}"
        db = self.is_dialback(i)
        hdr = f"<?xml version='1.0'?><stream:stream {NS} from='{frm}' to='{a.to}' version='1.0'>"
        k = i // a.per_ip     # each source address in a /24 of its own
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((f"127.{1 + k // 250}.{k % 250}.1", 0))
        c = Conn(self.loop, s)
        authed = False
        try:
            await self.loop.sock_connect(s, ("127.0.0.1", a.port))
            await c.send(hdr)
            await c.expect("stream:stream")
            f = await c.expect("stream:features")
            if b"starttls" not in f:
                raise RuntimeError(f"no STARTTLS offered: {f[:300]!r}")
            await c.send(f"<starttls xmlns='{NS_TLS}'/>")
            await c.expect("proceed")
            await c.starttls(self.cli_db if db else self.cli, False, a.to, res["sessions"][i])
            if c.tls.session_reused:
                res["reused_db" if db else "reused_ext"] += 1
            await c.send(hdr)
            sid = attrs(await c.expect("stream:stream")).get("id", "")
            f = await c.expect("stream:features")
            if db:
                if b"urn:xmpp:features:dialback" not in f:
                    raise RuntimeError(f"no dialback offered: {f[:300]!r}")
                key = dialback_key(self.hmac_key, a.to, frm, sid)
                self.issued.add((a.to, frm, sid))
                await c.send(f"<db:result from='{frm}' to='{a.to}'>{key}</db:result>")
                r = await c.expect("db:result")
                if attrs(r).get("type") != "valid":
                    raise RuntimeError(f"dialback refused: {r[:300]!r}")
            else:
                if b"EXTERNAL" not in f:
                    raise RuntimeError(f"no SASL EXTERNAL offered: {f[:300]!r}")
                await c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>"
                             f"{base64.b64encode(frm.encode()).decode()}</auth>")
                r = await c.item()
                if name_of(r) != "success":
                    raise RuntimeError(f"SASL refused: {r[:300]!r}")
                await c.send(hdr)
                await c.expect("stream:stream")
                await c.expect("stream:features")
            res["done"].append(time.perf_counter() - t0)
            res["done_db" if db else "done_ext"] += 1
            authed = True
            # The ticket arrives after the handshake (TLS 1.3): by now it
            # has been read along with the features.
            res["sessions"][i] = c.tls.session
            # Idle until the server ends the stream, then end ours.
            while True:
                it = await c.item()
                if name_of(it) == "/stream:stream":
                    await c.send("</stream:stream>")
                    break
        except Exception as e:          # counted and reported, never hidden
            if not authed:  # after it, a close is the restart's: expected
                res["errors"].append(f"p{i}: {e!r}"[:200])
        finally:
            c.close()

    async def storm(self, sessions):
        """Every partner at once; the results dict."""
        a = self.a
        res = {"done": [], "errors": [], "sessions": sessions, "reused_ext": 0, "reused_db": 0,
               "done_ext": 0, "done_db": 0}
        # The authoritative server's counts are per storm.
        self.verify = {"valid": 0, "invalid": 0, "unknown": 0, "streams": 0}
        cpu0, wait0 = time.process_time(), run_delay_s()
        t0 = time.perf_counter()
        tasks = [self.loop.create_task(self.partner(i, t0, res)) for i in range(a.n)]
        deadline = t0 + a.timeout
        while len(res["done"]) + len(res["errors"]) < a.n and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        res["wall"] = time.perf_counter() - t0
        res["tool_cpu"] = time.process_time() - cpu0
        res["tool_wait"] = run_delay_s() - wait0
        res["timed_out"] = a.n - len(res["done"]) - len(res["errors"])
        res["tasks"] = tasks
        return res

    async def end(self, res):
        """Ends what the storm left open (each task closes its socket)."""
        for t in res["tasks"]:
            t.cancel()
        await asyncio.gather(*res["tasks"], return_exceptions=True)


async def amain(a):
    b = Bench(a)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.auth_port))
    lsock.listen(4096)
    lsock.setblocking(False)
    auth = asyncio.get_running_loop().create_task(b.auth_serve(lsock))
    sessions = [None] * a.n
    warm_ok = None
    if a.restart:
        warm = await b.storm(sessions)
        warm_ok = len(warm["done"])
        # The restart: the old process ends every stream (each partner
        # answers the close, as a server would) and the new one listens.
        p = await asyncio.create_subprocess_shell(a.restart)
        if await p.wait() != 0:
            raise SystemExit(f"stormbench: restart command failed: {a.restart}")
        await b.end(warm)
        if not a.tickets:
            sessions = [None] * a.n
    r = await b.storm(sessions)
    done = sorted(r["done"])
    ok = len(done)
    out = {"n": a.n, "ok": ok, "ok_external": r["done_ext"], "ok_dialback": r["done_db"],
           "errors": len(r["errors"]) + r["timed_out"], "timed_out": r["timed_out"],
           "first_error": r["errors"][:2], "warm_ok": warm_ok,
           "reused": r["reused_ext"] + r["reused_db"], "reused_external": r["reused_ext"],
           "reused_dialback": r["reused_db"],
           "wall_s": done[-1] if done else None,
           "p50_s": done[ok // 2] if done else None,
           "p90_s": done[ok * 9 // 10] if done else None,
           "worst_s": done[-1] if done else None,
           # When the k-th stream was authenticated, every 250: compares
           # servers that did not authenticate all (time to as many).
           "done_at": {k: round(done[k - 1], 2) for k in range(250, ok + 1, 250)},
           "tool_cpu_s": round(r["tool_cpu"], 2), "tool_runqueue_wait_s": round(r["tool_wait"], 2),
           "storm_s": round(r["wall"], 2),
           "verify": b.verify, "auth_errors": b.auth_errors[:2],
           "tool_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    await b.end(r)
    auth.cancel()
    lsock.close()
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("port", type=int, help="the server's STARTTLS s2s port on 127.0.0.1")
    p.add_argument("to", help="the server's domain")
    p.add_argument("n", type=int, help="partner streams")
    p.add_argument("--cert", required=True, help="partners' certificate (*.ZONE)")
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True, help="CA of the certificates of servers asking <db:verify/>")
    p.add_argument("--zone", default="storm.example.org")
    p.add_argument("--auth-port", type=int, required=True, help="the authoritative server's port")
    p.add_argument("--per-ip", type=int, default=50, help="partners per source address (one /24 each)")
    p.add_argument("--dialback-share", type=float, default=0.5)
    p.add_argument("--restart", default="", help="shell command restarting the server")
    p.add_argument("--tickets", action="store_true")
    p.add_argument("--timeout", type=float, default=600, help="seconds for one storm")
    a = p.parse_args()
    if not 0 <= a.dialback_share <= 1:
        sys.exit("stormbench: --dialback-share must be within 0..1")
    asyncio.run(amain(a))


main()
