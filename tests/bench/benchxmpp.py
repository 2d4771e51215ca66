# SPDX-License-Identifier: Apache-2.0
"""benchxmpp.py - what the benchmark clients (hsbench.py, stormbench.py) share."""

NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"


def read_until(s, marker, got=b""):
    """Reads from the blocking socket s until marker was received; returns all of it."""
    while marker not in got:
        chunk = s.recv(16384)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {got[-200:]!r}")
        got += chunk
    return got


def starttls_s2s(s, hdr, ctx, to, session=None):
    """RFC 6120 §5.4 on the connected socket s: header, features, <starttls/>,
    <proceed/>, TLS (offering session, a ticket from before), header again.
    Returns (TLS socket, post-TLS features)."""
    s.sendall(hdr)
    read_until(s, b"</stream:features>")
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(s, b"<proceed")
    s = ctx.wrap_socket(s, server_hostname=to, session=session)
    s.sendall(hdr)
    return s, read_until(s, b"</stream:features>")
