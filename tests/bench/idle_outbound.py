# SPDX-License-Identifier: Apache-2.0
"""idle_outbound.py - resident memory per idle OUTGOING stream of xmpp-edge
(tests/bench/run_idle_memory.sh runs it).

Plays every party around the edge in one asyncio process:
  - a DNS server: SRV _xmpp-server._tcp.rK.peers.example -> sink.peers.example
    port SINK, A *.peers.example -> 127.0.0.1, nothing else;
  - the remote servers rK.peers.example: one STARTTLS listener (the sink),
    a wildcard certificate *.peers.example, SASL EXTERNAL offered and
    accepted, then the stream held open and idle;
  - the gateway: Direct TLS to listen.internal with the pinned client
    certificate, one stream per 16 remote domains (SASL EXTERNAL for the
    first, a <db:result/> for each other one, XEP-0220 piggybacking), then
    one message to each domain, which makes the edge dial it.
VmRSS of the edge is read once the gateway's streams are up (before) and
once all N outgoing streams are authenticated and have delivered their
message (after); (after - before) / N is what an idle outgoing stream
costs, the gateway's streams excluded.

Usage: idle_outbound.py PID N INTERNAL_PORT SINK_PORT DNS_PORT CERTDIR LABEL
Prints: LABEL N BEFORE AFTER PER_STREAM
"""
import asyncio
import socket
import ssl
import struct
import sys
import time

NS = ("xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
      "xmlns:db='jabber:server:dialback'")
PAIRS = 16          # domain pairs per gateway stream (S2S_IN_PAIRS_MAX)


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# --- DNS ----------------------------------------------------------------------

def dns_name(data, off):
    labels = []
    while data[off]:
        n = data[off]
        labels.append(data[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels).lower(), off + 1


def dns_encode(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class Dns(asyncio.DatagramProtocol):
    def __init__(self, sink_port):
        self.sink_port = sink_port

    def connection_made(self, transport):
        self.t = transport

    def datagram_received(self, data, addr):
        if len(data) < 12:
            return
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        name, off = dns_name(data, 12)
        qtype, qclass = struct.unpack("!HH", data[off:off + 4])
        question = data[12:off + 4]
        answers = []
        rcode = 3   # NXDOMAIN
        if name.endswith(".peers.example"):
            rcode = 0
            if qtype == 33 and name.startswith("_xmpp-server._tcp."):
                rdata = struct.pack("!HHH", 0, 0, self.sink_port) + dns_encode("sink.peers.example")
                answers.append((33, rdata))
            elif qtype == 1 and not name.startswith("_"):
                answers.append((1, socket.inet_aton("127.0.0.1")))
            elif name.startswith("_"):
                rcode = 3
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, len(answers), 0, 0)
        body = question
        for t, rdata in answers:
            body += b"\xc0\x0c" + struct.pack("!HHIH", t, 1, 300, len(rdata)) + rdata
        self.t.sendto(hdr + body, addr)


# --- the remote servers (sink) --------------------------------------------------

def header(frm, sid, features):
    """The remote server's stream header and features (RFC 6120 §4.7)."""
    return (f"<?xml version='1.0'?><stream:stream {NS} from='{frm}' to='example.com' "
            f"id='{sid}' version='1.0'><stream:features>{features}</stream:features>").encode()


class Sink:
    def __init__(self, certdir):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(f"{certdir}/peers.crt", f"{certdir}/peers.key")
        # Ask for the edge's certificate (SASL EXTERNAL rests on it); any
        # one presented is accepted.
        self.ctx.load_verify_locations(f"{certdir}/edge-ca.crt")
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.ready = 0
        self.up = set()         # domains whose stream came up
        self.held = []
        self.failed = 0
        self.done = asyncio.Event()
        self.want = 0

    async def until(self, r, marker, got=b""):
        while marker not in got:
            chunk = await r.read(16384)
            if not chunk:
                raise ConnectionError(f"closed before {marker!r}: {got[-200:]!r}")
            got += chunk
        return got

    async def serve(self, r, w):
        try:
            hdr = await self.until(r, b">", await r.read(4096))
            while b"<stream:stream" not in hdr or not hdr.rstrip().endswith(b">"):
                hdr = await self.until(r, b">", hdr + await r.read(4096))
            to = hdr.split(b" to='", 1)[1].split(b"'", 1)[0].decode()
            w.write(header(to, "a", "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                                    "<required/></starttls>"))
            await self.until(r, b"starttls")
            w.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            await w.drain()
            await w.start_tls(self.ctx)
            await self.until(r, b"<stream:stream")
            w.write(header(to, "b", "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                                    "<mechanism>EXTERNAL</mechanism></mechanisms>"))
            await self.until(r, b"auth")
            w.write(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            await self.until(r, b"<stream:stream")
            w.write(header(to, "c", ""))
            await self.until(r, b"</message>")
        except Exception as e:       # noqa: BLE001 - counted and reported
            self.failed += 1
            print(f"sink: {e}", file=sys.stderr)
            w.close()
            return
        self.held.append(w)
        self.up.add(to)
        self.ready += 1
        if self.ready >= self.want:
            self.done.set()
        # Held open and idle until the benchmark ends.
        await r.read(1)


# --- the gateway ------------------------------------------------------------------

async def gateway_stream(port, certdir, domains):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(f"{certdir}/gw.crt", f"{certdir}/gw.key")
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="edge.internal")
    sink = Sink.__new__(Sink)   # only for until()
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} from='example.com' to='{domains[0]}' "
           f"version='1.0'>").encode()
    w.write(hdr)
    await Sink.until(sink, r, b"</stream:features>")
    w.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
            b"ZXhhbXBsZS5jb20=</auth>")
    got = await Sink.until(sink, r, b"/>")
    if b"<success" not in got:
        raise RuntimeError(f"gateway: SASL EXTERNAL refused: {got!r}")
    w.write(hdr)
    got = await Sink.until(sink, r, b"features")
    for d in domains[1:]:
        w.write(f"<db:result from='example.com' to='{d}'>k</db:result>".encode())
        got = await Sink.until(sink, r, b"type='valid'", b"")
    return r, w


async def main():
    pid, n, iport, sport, dport = (int(a) for a in sys.argv[1:6])
    certdir, label = sys.argv[6], sys.argv[7]
    loop = asyncio.get_running_loop()
    sink = Sink(certdir)
    sink.want = n
    await loop.create_datagram_endpoint(lambda: Dns(sport), local_addr=("127.0.0.1", dport))
    server = await asyncio.start_server(sink.serve, "127.0.0.1", sport, backlog=4096)
    domains = [f"r{i}.peers.example" for i in range(n)]
    gws = []
    for i in range(0, n, PAIRS):
        gws.append(await gateway_stream(iport, certdir, domains[i:i + PAIRS]))
    await asyncio.sleep(1)
    before = rss(pid)
    # One message per domain: the edge dials each (a few hundred at a
    # time, so the benchmark measures memory, not a connection storm).
    for k, (r, w) in enumerate(gws):
        for d in domains[k * PAIRS:(k + 1) * PAIRS]:
            w.write(f"<message from='alice@example.com/b' to='bob@{d}' id='m'><body>hi</body>"
                    f"</message>".encode())
        await w.drain()
        while k * PAIRS - sink.ready - sink.failed > 64:
            await asyncio.sleep(0.05)
    # A domain whose lookup or dial failed (the DNS server above shares
    # its loop with thousands of TLS handshakes and may answer late) gets
    # its message again; the edge dials it anew.
    for attempt in range(6):
        try:
            await asyncio.wait_for(sink.done.wait(), timeout=max(60, n / 50))
            break
        except asyncio.TimeoutError:
            pass
        missing = [d for d in domains if d not in sink.up]
        print(f"{label}: {len(missing)} of {n} outgoing streams not up yet, "
              f"sending to them again", file=sys.stderr)
        for i, d in enumerate(domains):
            if d not in sink.up:
                gws[i // PAIRS][1].write(f"<message from='alice@example.com/b' to='bob@{d}' "
                                         f"id='r'><body>hi</body></message>".encode())
    if not sink.done.is_set():
        raise SystemExit(f"{label}: only {sink.ready} of {n} outgoing streams came up "
                         f"({sink.failed} failed)")
    await asyncio.sleep(1)
    after = rss(pid)
    print(f"{label:<10} {n:>7} {before:>12} {after:>12} {(after - before) / n:>10.0f}")
    for _, w in gws:
        w.close()
    for w in sink.held:
        w.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
