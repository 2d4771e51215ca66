# SPDX-License-Identifier: Apache-2.0
"""A small XMPP server peer for the daemon and ops suites: the receiving side of the
streams xmpp-edge opens (a remote domain on the internet, or the internal
gateway), byte-level so each step can be checked.

It answers like a real server would: STARTTLS (or Direct TLS), SASL
EXTERNAL or dialback (checking xmpp-edge's key by asking xmpp-edge itself,
XEP-0220 §2.3, over a stream of its own), then records the stanzas it
receives.  Everything stays on 127.0.0.1.
"""
import base64
import re
import socket
import ssl
import threading
import time

from xenet import client_ctx, read_until, starttls

NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
DB = "xmlns:db='jabber:server:dialback'"


def attr(data, name):
    m = re.search(rb"\b" + name.encode() + rb"=['\"]([^'\"]*)['\"]", data)
    return m.group(1).decode() if m else None


class Peer:
    """mode: 'sasl' (offer SASL EXTERNAL), 'dialback', or 'gateway'
    (Direct TLS, client certificate required, dialback checked through
    xmpp-edge's internal listener)."""

    def __init__(self, domain, cert, key, mode, verify_port, client_ca=None,
                 verify_cert=None, verify_key=None, inject=b"", client_cert_optional=False,
                 sasl_fail=False, stable_tickets=False):
        self.domain, self.cert, self.key, self.mode = domain, cert, key, mode
        # A hostile receiving server: bytes sent on every stream right
        # after its features (e.g. stanzas, which a stream xmpp-edge
        # opened must never carry inward, RFC 6120 §2.4).
        self.inject = inject
        self.verify_port = verify_port          # where to ask about keys
        self.verify_cert, self.verify_key = verify_cert, verify_key
        self.client_ca = client_ca
        # With client_ca: ask for a client certificate but accept none
        # (OpenSSL still refuses one it cannot verify, e.g. a
        # serverAuth-only certificate: "unsupported certificate purpose").
        self.client_cert_optional = client_cert_optional
        # Answers SASL EXTERNAL with <failure/> (a peer that does not
        # accept the certificate it was shown; dialback may follow).
        self.sasl_fail = sasl_fail
        # One TLS context for every connection, so the session tickets it
        # issues (their keys are the context's) resume on later ones, as a
        # real server's do; by default each connection has its own.
        self.stable_tickets = stable_tickets
        self._stable_ctx = None
        self.stanzas = []                       # raw stanzas received
        self.log = []                           # what happened, for messages
        self.dialback_answers = []              # type= of db:verify answers
        self.paused = threading.Event()         # set: stop reading stanzas
        self.snis = []                          # server names clients sent
        self.keepalives = 0                     # whitespace-only reads (RFC 6120 §4.6.1)
        self.closed_by_peer = []                # streams the other side closed with </stream:stream>
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.srv.close()

    def _ctx(self):
        if self.stable_tickets:
            if self._stable_ctx is None:
                self._stable_ctx = self._new_ctx()
            return self._stable_ctx
        return self._new_ctx()

    def _new_ctx(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.sni_callback = lambda sock, name, c: self.snis.append(name)
        if self.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL if self.client_cert_optional else ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.client_ca)
        return ctx

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _header(self, to, sid):
        return (f"<?xml version='1.0'?><stream:stream {NS} {DB} from='{self.domain}' to='{to}' "
                f"id='{sid}' version='1.0'>").encode()

    def _serve(self, c):
        try:
            self._serve_inner(c)
        except (OSError, ssl.SSLError) as e:
            self.log.append(f"error {e!r}")

    def _serve_inner(self, c):
        sid = f"sid{id(c)}"
        if self.mode == "gateway":
            s = self._ctx().wrap_socket(c, server_side=True)
        else:
            hdr = read_until(c, b">")
            frm = attr(hdr, "from")
            c.sendall(self._header(frm, sid) + b"<stream:features><starttls "
                      b"xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
            got = read_until(c, b"/>")
            if b"<starttls" not in got:
                self.log.append(f"no starttls: {got!r}")
                return
            c.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            s = self._ctx().wrap_socket(c, server_side=True)
        hdr = read_until(s, b">")
        frm = attr(hdr, "from")
        self.log.append(f"stream from {frm}")
        feats = b""
        if self.mode == "sasl":
            feats = (b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL"
                     b"</mechanism></mechanisms>")
        feats += b"<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>"
        s.sendall(self._header(frm, sid) + b"<stream:features>" + feats + b"</stream:features>" + self.inject)
        buf = b""
        while True:
            while self.paused.is_set():
                time.sleep(0.05)
            try:
                s.settimeout(30)
                chunk = s.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                return
            if not chunk:
                return
            if chunk.strip() == b"":
                self.keepalives += 1
            buf += chunk
            if buf.strip() == b"":
                buf = b""
            while True:
                m = re.match(rb"\s*(<(\w+:?\w*)[^>]*?(/>|>.*?</\2>))", buf, re.S)
                if not m:
                    if buf.strip().startswith(b"</stream:stream>"):
                        self.closed_by_peer.append(frm)
                        s.sendall(b"</stream:stream>")
                        return
                    break
                el = m.group(1)
                buf = buf[m.end():]
                self._element(s, el, frm, sid)

    def _element(self, s, el, frm, sid):
        if el.startswith(b"<auth "):
            authzid = base64.b64decode(re.search(rb">(.*)</auth>", el).group(1)).decode()
            self.log.append(f"sasl authzid {authzid}")
            if self.sasl_fail:
                s.sendall(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
                return
            s.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            read_until(s, b">")
            s.sendall(self._header(frm, sid + "b") + b"<stream:features/>")
            return
        if el.startswith(b"<db:result"):
            key = re.search(rb">(.*)</db:result>", el).group(1).decode()
            claimed = attr(el, "from")
            answer = self.ask_authoritative(claimed, sid, key)
            self.dialback_answers.append(answer)
            s.sendall(f"<db:result from='{self.domain}' to='{claimed}' type='{answer}'/>".encode())
            return
        if el.startswith(b"<db:verify"):
            # As the authoritative server: keys it "issued" are "goodkey".
            key = re.search(rb">(.*)</db:verify>", el).group(1)
            s.sendall(f"<db:verify from='{attr(el, 'to')}' to='{attr(el, 'from')}' id='{attr(el, 'id')}' "
                      f"type='{'valid' if key == b'goodkey' else 'invalid'}'/>".encode())
            self.log.append(f"db:verify answered for {attr(el, 'to')}")
            return
        if el.startswith(b"<enable ") and b"urn:xmpp:sm:3" in el:
            # xmpp-edge asks a gateway for XEP-0198 unoffered; this one
            # has none (as a server refusing it would answer).
            self.log.append("sm enable refused")
            s.sendall(b"<failed xmlns='urn:xmpp:sm:3'/>")
            return
        with self.lock:
            self.stanzas.append(el)

    def ask_authoritative(self, claimed, sid, key):
        """XEP-0220 §2.3: ask the claimed domain's server (xmpp-edge)."""
        hdr = (f"<?xml version='1.0'?><stream:stream {NS} {DB} from='{self.domain}' "
               f"to='{claimed}' version='1.0'>").encode()
        if self.mode == "gateway":
            ctx = client_ctx(self.verify_cert, self.verify_key)
            t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.verify_port), timeout=10))
            t.sendall(hdr)
            read_until(t, b"</stream:features>")
            t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
            read_until(t, b"/>")
            t.sendall(hdr)
            read_until(t, b"<stream:features/>")
        else:
            t, _, _ = starttls(self.verify_port, hdr, claimed)
            t.sendall(hdr)
            read_until(t, b"</stream:features>")
        t.sendall(f"<db:verify from='{self.domain}' to='{claimed}' id='{sid}'>{key}</db:verify>".encode())
        got = read_until(t, b"/>")
        t.close()
        return attr(got, "type") or f"none: {got!r}"

    def wait_stanzas(self, n, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if len(self.stanzas) >= n:
                    return list(self.stanzas)
            time.sleep(0.05)
        with self.lock:
            return list(self.stanzas)
