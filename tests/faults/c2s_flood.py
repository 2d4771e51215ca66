#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A fast XMPP client for the fault bed: one c2s connection, plain TCP (the
test Prosodys allow PLAIN without TLS), XEP-0198 stream management toward
its own server, messages sent at a fixed rate, every message received or
bounced reported.  slixmpp tops out well below the rates the bed needs on a
shared 2-core machine; this writes pre-built stanzas and parses with expat.

argv[1]: JSON {"jid": "user@host", "password": P, "host": IP, "resource": R}

Commands, one JSON object a line on stdin:
  {"op": "send", "to": FULLJID, "prefix": P, "count": N, "rate": R}
      N chat messages with ids "P-0".."P-(N-1)", R a second; while the
      connection is down the schedule pauses (no catch-up burst after)
  {"op": "quit"}

Reports, one line each on stdout (ids never contain spaces):
  ready                   logged in, stream management enabled, presence sent
  down REASON             the connection died (reconnects every 0.3 s)
  s ID T                  message ID written to the socket, the write
                          begun at T (time.time(), this machine's clock:
                          not when run.py reads the line, which a loaded
                          machine delays by many messages' worth)
  k ID                    ... and acknowledged by our own server (<a h/>)
  u ID                    ... written, never acknowledged, and the connection
                          died: our own server may or may not have taken it
  m ID T                  a message (not an error) received at T
  e ID CONDITION          an error message received (a bounce)
  done PREFIX N           the send command finished, N written

Why XEP-0198 on our own c2s: when the gateway Prosody is killed, what this
client wrote and that server never acknowledged was lost by the sender's
own server, before any federation leg saw it; run.py reports those ids
apart ("unconfirmed") instead of calling them lost by the DMZ.
"""
import base64
import json
import os
import select
import socket
import sys
import time
import xml.parsers.expat

SM = "urn:xmpp:sm:3"
STANZA_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
RECONNECT_S = 0.3
ACK_EVERY = 50          # an <r/> after this many messages (and at the end)

out = []


def emit(line):
    out.append(line)


def flush():
    if out:
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
        out.clear()


class Stream:
    """The server's half of one XML stream: top-level elements (depth 2)
    handed to on_element(name, attrs, info) when they end; info holds what
    the bed needs from inside them (error condition, SASL/bind results)."""

    def __init__(self, on_element):
        self.on_element = on_element
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.depth = 0
        self.top = None
        self.info = {}
        self.path = []

    def feed(self, data):
        self.parser.Parse(data, False)

    def _start(self, name, attrs):
        self.depth += 1
        self.path.append(name)
        if self.depth == 2:
            self.top, self.attrs, self.info = name, attrs, {}
        elif self.depth == 4 and self.path[2] == "error" and attrs.get("xmlns") == STANZA_NS and name != "text":
            self.info.setdefault("condition", name)
        elif self.depth >= 3 and name == "jid":
            self.info["bind"] = True

    def _end(self, name):
        if self.depth == 2:
            self.on_element(self.top, self.attrs, self.info)
        self.depth -= 1
        self.path.pop()


class Client:
    def __init__(self, account):
        self.jid = account["jid"]
        self.user, self.domain = self.jid.split("@")
        self.password = account["password"]
        self.host = account["host"]
        self.resource = account["resource"]
        self.sock = None
        self.job = None          # the send command in progress
        self.in_count = 0        # stanzas received since <enable/> (our h)
        self.out_seq = 0         # stanzas sent since <enable/>
        self.unacked = []        # (seq, id) written, not yet acknowledged
        self.acked_h = 0
        self.backlog = []        # elements read during login, not handled yet
        self.read_at = 0.0       # when the bytes being parsed were read

    # --- connection ----------------------------------------------------------

    def header(self):
        return (f"<?xml version='1.0'?><stream:stream to='{self.domain}' xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()

    def wait_for(self, want, timeout=5):
        """Reads until an element named in `want` arrives and returns it as
        (name, attrs, info); elements before it go to on_element (a message
        can arrive between binding and <enabled/>), later ones stay in
        self.backlog for the caller."""
        end = time.time() + timeout
        while True:
            while self.backlog:
                element = self.backlog.pop(0)
                if element[0] in want:
                    return element
                self.on_element(*element)
            left = end - time.time()
            if left <= 0:
                raise TimeoutError(f"waiting for {want}")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed during login")
            self.read_at = time.time()
            self.stream.feed(data)

    def restart_stream(self):
        self.backlog = []
        self.stream = Stream(lambda *element: self.backlog.append(element))
        self.sock.sendall(self.header())
        self.wait_for(("stream:features",))

    def login(self):
        self.sock = socket.create_connection((self.host, 5222), timeout=3)
        self.restart_stream()
        auth = base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()
        self.sock.sendall(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>".encode())
        name, _a, _i = self.wait_for(("success", "failure"))
        if name != "success":
            raise ConnectionError("SASL PLAIN refused")
        self.restart_stream()
        self.sock.sendall(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                          f"<resource>{self.resource}</resource></bind></iq>".encode())
        _n, attrs, _i = self.wait_for(("iq",))
        if attrs.get("type") != "result":
            raise ConnectionError("resource binding refused")
        self.sock.sendall(f"<enable xmlns='{SM}'/>".encode())
        name, _a, _i = self.wait_for(("enabled", "failed"))
        if name != "enabled":
            raise ConnectionError("stream management refused")
        # XEP-0198 §4: both counts start at <enable/>/<enabled/>.
        self.in_count = self.out_seq = self.acked_h = 0
        self.unacked = []
        self.stream.on_element = self.on_element
        for element in self.backlog:
            self.on_element(*element)
        self.backlog = []
        self.send_raw(b"<presence/>")
        self.out_seq += 1
        self.sock.settimeout(10)
        emit("ready")

    def connect_until_up(self):
        while True:
            try:
                self.login()
                return
            except (OSError, ConnectionError, TimeoutError, xml.parsers.expat.ExpatError):
                self.close()
                flush()
                time.sleep(RECONNECT_S)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def lost_connection(self, reason):
        for _seq, mid in self.unacked:
            emit(f"u {mid}")
        self.unacked = []
        emit(f"down {reason}")
        self.close()
        flush()
        paused = time.time()
        self.connect_until_up()
        if self.job:
            self.job["t0"] += time.time() - paused   # no catch-up burst

    def send_raw(self, data):
        self.sock.sendall(data)

    # --- events ----------------------------------------------------------------

    def on_element(self, name, attrs, info):
        if name in ("message", "presence", "iq"):
            self.in_count += 1
        if name == "message":
            mid = attrs.get("id", "")
            if attrs.get("type") == "error":
                emit(f"e {mid} {info.get('condition', 'none')}")
            else:
                emit(f"m {mid} {self.read_at:.6f}")
        elif name == "iq" and attrs.get("type") in ("get", "set"):
            # Answer pings and anything else with a result: nothing here
            # needs more, and an unanswered iq would hold the server's ack.
            self.send_raw(f"<iq type='result' id='{attrs.get('id', '')}' to='{attrs.get('from', '')}'/>".encode())
        elif name == "r":
            self.send_raw(f"<a xmlns='{SM}' h='{self.in_count % 2**32}'/>".encode())
        elif name == "a":
            h = int(attrs.get("h", "0"))
            # h counts modulo 2^32 (XEP-0198 §5): compare the distance.
            while self.unacked and (h - self.unacked[0][0]) % 2**32 < 2**31:
                emit(f"k {self.unacked.pop(0)[1]}")
            self.acked_h = h
        elif name == "stream:error":
            raise ConnectionError("stream error")

    def read_some(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("closed by server")
        self.read_at = time.time()    # what the "m" lines of these bytes say
        self.stream.feed(data)

    # --- sending -----------------------------------------------------------------

    def start_job(self, cmd):
        self.job = {"to": cmd["to"], "prefix": cmd["prefix"], "count": cmd["count"], "rate": cmd["rate"],
                    "i": 0, "t0": time.time()}

    def send_due(self):
        job = self.job
        due = min(job["count"], int((time.time() - job["t0"]) * job["rate"]) + 1)
        parts = []
        while job["i"] < due:
            mid = f"{job['prefix']}-{job['i']}"
            parts.append(f"<message to='{job['to']}' type='chat' id='{mid}'><body>{mid}</body></message>")
            self.out_seq += 1
            self.unacked.append((self.out_seq % 2**32, mid))
            job["i"] += 1
            if job["i"] % ACK_EVERY == 0 or job["i"] == job["count"]:
                parts.append(f"<r xmlns='{SM}'/>")
        if parts:
            # Taken before the write: no stanza of it reached the
            # socket before this time (run.py's "written after t").
            write_at = time.time()
            self.send_raw("".join(parts).encode())
            # Reported once written: a write that fails is a connection
            # lost, and lost_connection() reports these as unconfirmed.
            for p in parts:
                if p.startswith("<message"):
                    mid = p.split("id='", 1)[1].split("'", 1)[0]
                    emit(f"s {mid} {write_at:.6f}")
        if job["i"] >= job["count"]:
            emit(f"done {job['prefix']} {job['i']}")
            self.job = None


def main():
    client = Client(json.loads(sys.argv[1]))
    client.connect_until_up()
    flush()
    pending = b""
    while True:
        try:
            timeout = 0.005 if client.job else 0.2
            r, _w, _x = select.select([client.sock, 0], [], [], timeout)
            if 0 in r:
                data = os.read(0, 65536)
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if not line.strip():
                        continue
                    cmd = json.loads(line)
                    if cmd["op"] == "quit":
                        flush()
                        return
                    if cmd["op"] == "send":
                        client.start_job(cmd)
            if client.sock in r:
                client.read_some()
            if client.job:
                client.send_due()
        except (OSError, ConnectionError, xml.parsers.expat.ExpatError) as e:
            client.lost_connection(type(e).__name__)
        flush()


if __name__ == "__main__":
    main()
