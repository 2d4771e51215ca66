#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Inbound suite: attacks on the inbound stream's authentication (issue 14,
findings 1, 3 and 8), each against the real daemon over loopback.

  1. deferred free: a peer that stops reading fills the send queue so that
     our answer to its <db:result/> (or to SASL <auth/>) is the write that
     overflows it.  Before the fix the stream's pairs were freed inside that
     send and written to afterwards (ASan: heap-use-after-free in
     s2s_in_mark_valid), and a stream closed by <success/> went back to
     wait_header and kept reading.  Now: the daemon lives, logs the close,
     and no closed stream changes state.
  2. <db:verify/> before authentication is capped.
  3. dialback checks are budgeted per stream (rate, failures) and per source
     prefix (all streams of one IPv4 /24 together; loopback gives us many
     /24s: 127.0.N.x).
  4. each piggybacked domain meets its own policy: TLS required, a valid
     certificate required.
  5. rate limits (issue 19): a partner flooding at 10x its stanza limit is
     slowed to the limit, measured at the gateway, while another partner's
     latency is measured with and without the flood (p50/p99 printed); kept
     over its limits it gets <policy-violation/>; new streams per prefix.

The authoritative servers of the claimed domains are fakepeer.Peer
instances reached through each partner's `connect` (no DNS).  Every port
is free_port()'s: no fixed ports, no lock needed.  Last line: "N passed,
N failed".
"""
import json
import os
import pwd
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402
import fakepeer  # noqa: E402
import xenet  # noqa: E402
from xenet import STARTTLS, client_ctx, free_port, read_until, work_dir  # noqa: E402

BIN = os.environ.get("XE_BIN", "out/dev/xmpp-edge")
tmp = work_dir("inbound")
os.chmod(tmp, 0o755)
NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'"
LIMIT = 65536           # limits.send_queue_bytes of the daemons below (the schema's least)


def header(frm, to="example.com"):
    return f"<?xml version='1.0'?><stream:stream {NS} to='{to}' from='{frm}' version='1.0'>".encode()


# --- certificates: a CA the daemon trusts, our hosted domain's own ---------
CA_CRT, CA_KEY = f"{tmp}/ca.crt", f"{tmp}/ca.key"
xenet.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", CA_KEY, "-out", CA_CRT, "-days", "30", "-subj", "/CN=inbound test CA",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")


def ca_signed(name, domain):
    crt, key = f"{tmp}/{name}.crt", f"{tmp}/{name}.key"
    xenet.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                  "-out", f"{tmp}/{name}.csr", "-subj", f"/CN={domain}")
    with open(f"{tmp}/{name}.ext", "w") as f:
        f.write(f"subjectAltName=DNS:{domain}\nextendedKeyUsage=serverAuth,clientAuth\n")
    xenet.openssl("x509", "-req", "-in", f"{tmp}/{name}.csr", "-CA", CA_CRT, "-CAkey", CA_KEY,
                  "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", f"{tmp}/{name}.ext")
    os.chmod(key, 0o600)
    return crt, key


EX_CRT, EX_KEY = xenet.selfsigned_cert(tmp, "example", "example.com")
if os.geteuid() == 0:
    svc = pwd.getpwnam("xmpp-edge")      # the default `user`: reads it after the privilege drop
    os.chown(EX_KEY, svc.pw_uid, svc.pw_gid)
GOOD_CRT, GOOD_KEY = ca_signed("good", "good.example")          # a client certificate that is valid
CERTREQ_CRT, CERTREQ_KEY = ca_signed("certreq", "certreq.example")


class GatedPeer(fakepeer.Peer):
    """An authoritative server that holds its <db:verify/> answer until
    release is set (asked is set when the question arrived)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.asked = threading.Event()
        self.release = threading.Event()

    def _element(self, s, el, frm, sid):
        if el.startswith(b"<db:verify"):
            self.asked.set()
            self.release.wait(120)
        super()._element(s, el, frm, sid)


AUTH_CRT, AUTH_KEY = xenet.selfsigned_cert(tmp, "authoritative", "authoritative.example")


def authoritative(domain, crt=AUTH_CRT, key=AUTH_KEY, cls=fakepeer.Peer):
    """domain's authoritative server: <db:verify/> of key 'goodkey' is valid.
    Its certificate matters only under require_valid_certificate."""
    return cls(domain, crt, key, "dialback", 0)


def listener(serve):
    """A TCP server on 127.0.0.1 running serve(conn) for each connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []           # keeps accepted sockets open until the suite exits

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            held.append(c)
            serve(c)
    threading.Thread(target=loop, daemon=True).start()
    return srv


# An authoritative server that hangs up at once: the check fails fast.
CLOSER = listener(lambda c: c.close())
# One that accepts and never speaks: the check stays running.
SILENT = listener(lambda c: None)


def connect_of(x):
    port = x.port if hasattr(x, "port") else x.getsockname()[1]
    return f"127.0.0.1:{port}"


# Limits the binary under test knows: those it does not are left out, so
# the suite also runs against a build from before them (to show what the
# attacks did there; its checks fail).
KNOWN = subprocess.run([BIN, "help", "config"], capture_output=True, text=True).stdout


def start(name, partners, limits, listen=None, **extra):
    """A daemon serving example.com on a free port with these partners and
    limits; listen: more listeners, extra: more top-level sections."""
    limits = {k: v for k, v in limits.items() if f"`limits.{k}`" in KNOWN}
    port = free_port()
    cfg = {
        "state_dir": f"{tmp}/state-{name}",
        "domains": [{"name": "example.com", "cert": EX_CRT, "key": EX_KEY}],
        "listen": {"starttls": [f"127.0.0.1:{port}"], "direct_tls": []},
        "tls": {"ca_file": CA_CRT},
        # Nothing answers there: no check may leave loopback through DNS.
        "dns": {"servers": [f"127.0.0.1:{free_port()}"], "timeout_ms": 300, "tries": 1},
        "log": {"format": "json", "level": "debug"},
        "policy": {"partners": partners},
        "limits": dict({"send_queue_bytes": LIMIT}, **limits),
    }
    cfg["listen"].update(listen or {})
    cfg.update(extra)
    path = f"{tmp}/{name}.json"
    xenet.write_config(path, cfg)
    d = xenet.Daemon(BIN, ["-c", path], f"{tmp}/{name}.log")
    d.port = port
    d.sock = f"{tmp}/state-{name}/control.sock"
    if not d.wait_port(port):
        check(f"{name}.daemon_started", False, d.text()[-1500:])
        return None
    return d


def stream(d, frm, tls=True, cert=None, src="127.0.0.1", rcvbuf=None):
    """A stream to d as server frm (from source address src): STARTTLS
    (with a client certificate if cert) unless tls is False.  Returns
    (socket, features of the (restarted) stream)."""
    raw = socket.socket()
    if rcvbuf:
        # Set before connect: the window we advertise stays this small,
        # and a small MSS keeps the daemon's send buffer small (Linux
        # sizes it from the MSS: megabytes on loopback's 64 KiB).
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    raw.settimeout(10)
    raw.bind((src, 0))
    raw.connect(("127.0.0.1", d.port))
    raw.sendall(header(frm))
    feats = read_until(raw, b"</stream:features>")
    if not tls:
        return raw, feats
    raw.sendall(STARTTLS)
    read_until(raw, b"/>")
    ctx = client_ctx(*cert) if cert else client_ctx()
    t = ctx.wrap_socket(raw, server_hostname="example.com")
    t.sendall(header(frm))
    return t, read_until(t, b"</stream:features>")


def db_result(frm, key="goodkey"):
    return f"<db:result from='{frm}' to='example.com'>{key}</db:result>".encode()


def events(d, name):
    return [e for e in d.events() if e.get("event") == name]


def clean_log(d):
    """No sanitizer report, and no closed stream ever reopened."""
    text = d.text()
    return ("AddressSanitizer" not in text and "runtime error" not in text and "LeakSanitizer" not in text
            and not events(d, "s2s_in.state_refused")
            and not [e for e in events(d, "s2s_in.state")
                     if e.get("from") in ("closing", "closed") and e.get("to") not in ("closing", "closed")])


def sanitizer_excerpt(d):
    text = d.text()
    i = text.find("ERROR: AddressSanitizer")
    return text[i:i + 600] if i >= 0 else text[-800:]


# --- control socket: the stream's send queue --------------------------------
def send_queue(d, local_port):
    """send_queue_bytes of our stream (found by its peer address), or None."""
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(5)
    try:
        c.connect(d.sock)
        c.sendall(b"streams\n")
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        return None
    finally:
        c.close()
    try:
        for st in json.loads(out).get("streams", []):
            if st.get("peer", "").endswith(f":{local_port}") and st.get("direction") == "in":
                return st.get("send_queue_bytes")
    except ValueError:
        pass
    return None


def settled_queue(d, local_port, timeout=10):
    """The send queue once it stopped moving (two equal reads 0.2 s apart)."""
    last = send_queue(d, local_port)
    end = time.time() + timeout
    while time.time() < end:
        time.sleep(0.2)
        now = send_queue(d, local_port)
        if now == last:
            return now
        last = now
    return last


ASKER = "q.example"


def verify(idlen, n=1):
    """n <db:verify/> questions with an id of idlen bytes (answered with it
    echoed: the answer's size is ours to choose)."""
    one = f"<db:verify from='{ASKER}' to='example.com' id='{'i' * idlen}'>k</db:verify>".encode()
    return one * n


def answer_len(idlen):
    """The plaintext of our answer to verify(idlen)."""
    return len(f"<db:verify from='example.com' to='{ASKER}' id='{'i' * idlen}' type='invalid'/>")


IDMIN, IDMAX = 1, 127


def record(n):
    """Bytes of the TLS 1.3 record carrying n bytes: header 5, tag 16, and
    mbedTLS pads the inner plaintext (n + the content type byte) to a
    multiple of 16 (MBEDTLS_SSL_CID_TLS1_3_PADDING_GRANULARITY)."""
    return 5 + 16 + -(-(n + 1) // 16) * 16


def plan(rest):
    """Answer lengths whose records add up to between rest - 15 and rest
    (records differ by steps of 16, so a few bytes may stay free)."""
    ks = [k for k in range(1, 64) if IDMIN <= 16 * k - 1 - answer_len(0) <= IDMAX]
    kmin, kmax = min(ks), max(ks)
    for n in range(1, 1000):
        total_k = (rest - 21 * n) // 16
        if total_k < n * kmin:
            return None
        if total_k <= n * kmax:
            each = [total_k // n] * n
            for i in range(total_k % n):
                each[i] += 1
            return [16 * k - 1 for k in each]      # the longest answer of k blocks
    return None


def fill_send_queue(d, t):
    """Stops reading t (it never reads again) and asks <db:verify/>
    questions until the daemon's send queue for it is less than 16 bytes
    short of LIMIT: the next answer (a record of 85 bytes at least) closes
    the stream.  Returns (ok, detail)."""
    lport = t.getsockname()[1]
    debug = os.environ.get("XE_DEBUG")
    # 1. Until the kernel's buffers are full, answers leave at once; then
    # they stay queued.  Batches (9 KiB of answers) small enough never to
    # overflow the queue within one read.
    queued = 0
    for _ in range(200):
        t.sendall(verify(IDMAX, 40))
        queued = settled_queue(d, lport, timeout=3) or 0
        if queued > 0:
            break
    if not 0 < queued < LIMIT - 4096:
        return False, f"kernel never filled: {queued}"
    # 2. The record model, checked on one answer.
    t.sendall(verify(IDMAX))
    after = settled_queue(d, lport)
    if after - queued != record(answer_len(IDMAX)):
        return False, f"one answer queued {after - queued} bytes, not {record(answer_len(IDMAX))}"
    # 3. To the limit, less than one padding step short.
    for _ in range(5):
        rest = LIMIT - after
        if debug:
            print("fill", queued, after, rest, flush=True)
        if 0 <= rest < 16:
            return True, after
        lens = plan(rest)
        if lens is None:
            return False, f"no plan for {rest} bytes"
        t.sendall(b"".join(verify(n - answer_len(0)) for n in lens))
        after = settled_queue(d, lport)
        if after is None:
            return False, "stream gone while filling"
    return False, after


def wait_queue_full_close(d, timeout=10):
    """The daemon's s2s_in.close events for an overflowing send queue, once
    there is one (or the daemon died, or timeout s passed)."""
    end = time.time() + timeout
    closed = []
    while time.time() < end and not closed and d.proc.poll() is None:
        time.sleep(0.2)
        closed = [e for e in events(d, "s2s_in.close") if e.get("reason") == "send queue full"]
    return closed


# === 1. deferred free =======================================================
ATK = authoritative("atk.example")
# A long domain: our "valid" answer is larger than the smallest answer
# used to fill the queue (any size would overflow a full queue anyway).
LONG = "a" * 60 + ".example"
GATED = authoritative(LONG, cls=GatedPeer)
SASL_DOMAIN = "good.example"
d = start("uaf", {
    "atk.example": {"connect": connect_of(ATK)},
    LONG: {"connect": connect_of(GATED)},
}, {"dialback_verify_preauth_max": 1000000, "connect_timeout_ms": 120000})
if d:
    # a. The dialback answer overflows.  atk.example authenticates (the
    # attacker controls its DNS), then piggybacks LONG, whose
    # authoritative server holds its answer while the queue is filled.
    t, feats = stream(d, "atk.example", rcvbuf=4096)
    t.sendall(db_result("atk.example"))
    got = read_until(t, b"/>")
    check("uaf.first_domain_authenticated", b"type='valid'" in got, got)
    t.sendall(db_result(LONG))
    asked = GATED.asked.wait(20)
    ok, detail = fill_send_queue(d, t) if asked else (False, "the check never reached the authoritative server")
    check("uaf.send_queue_filled_to_the_byte", ok, detail)
    GATED.release.set()       # the key is confirmed: our answer overflows the queue
    closed = wait_queue_full_close(d)
    time.sleep(0.5)
    check("uaf.dialback_answer_overflow_daemon_survives", d.proc.poll() is None and clean_log(d),
          sanitizer_excerpt(d))
    check("uaf.dialback_answer_overflow_stream_closed", len(closed) == 1, events(d, "s2s_in.close")[-3:])
    check("uaf.dialback_pair_not_marked_on_a_closed_stream",
          not [e for e in events(d, "s2s_in.auth") if e.get("domain") == LONG and e.get("result") == "valid"],
          events(d, "s2s_in.auth")[-3:])
    t.close()
if d:
    check("uaf.sigterm_clean", d.stop() == 0 and clean_log(d), sanitizer_excerpt(d))

d = start("sasl", {}, {"dialback_verify_preauth_max": 1000000})
if d:
    # b. The SASL <success/> overflows; the restarted header and a stanza
    # are pipelined behind <auth/>.  The stream must stay closed: no
    # wait_header, no stanza read.
    t, feats = stream(d, SASL_DOMAIN, cert=(GOOD_CRT, GOOD_KEY), rcvbuf=4096)
    check("uaf.sasl_external_offered", b"<mechanism>EXTERNAL</mechanism>" in feats, feats)
    ok, detail = fill_send_queue(d, t)
    check("uaf.sasl_send_queue_filled_to_the_byte", ok, detail)
    routed = xenet.status_json(BIN, "--socket", d.sock).get("stanzas_routed")
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>" +
              header(SASL_DOMAIN) +
              f"<message from='a@{SASL_DOMAIN}' to='b@example.com' id='after-close'/>".encode())
    closed = wait_queue_full_close(d)
    time.sleep(1)
    check("uaf.sasl_success_overflow_stream_closed", len(closed) == 1, events(d, "s2s_in.close")[-3:])
    check("uaf.sasl_success_overflow_stays_closed", d.proc.poll() is None and clean_log(d),
          events(d, "s2s_in.state_refused") + [e for e in events(d, "s2s_in.state") if e.get("from") == "closing"
                                               and e.get("to") != "closed"] or sanitizer_excerpt(d))
    st = xenet.status_json(BIN, "--socket", d.sock)
    check("uaf.sasl_pipelined_stanza_not_routed",
          routed is not None and st.get("stanzas_routed") == routed and not events(d, "route.bounce"),
          (routed, st.get("stanzas_routed"), events(d, "route.bounce")[-2:]))
    t.close()
if d:
    check("uaf.sasl_sigterm_clean", d.stop() == 0 and clean_log(d), sanitizer_excerpt(d))


def read_count(t, marker, n, timeout=10):
    """Bytes read until marker was seen n times, or a close, or timeout s."""
    buf = b""
    end = time.time() + timeout
    while buf.count(marker) < n and time.time() < end:
        got = read_until(t, marker, max(0.1, end - time.time()))
        if not got:
            break
        buf += got
    return buf


def stream_error(t, timeout=10):
    """What t receives until the daemon closes the stream."""
    return read_until(t, b"</stream:stream>", timeout)


def alive(t):
    """The stream still answers: a <db:verify/> question gets its answer."""
    t.sendall(b"<db:verify from='q.example' to='example.com' id='ping'>k</db:verify>")
    got = read_until(t, b"/>", 5)
    return b"id='ping'" in got and b"<stream:error>" not in got


# === 2-4. db:verify cap, dialback budgets, per-pair policy ==================
LAX = authoritative("lax.example")
STRICT = authoritative("strict.example")
CERTREQ = authoritative("certreq.example", CERTREQ_CRT, CERTREQ_KEY)
partners = {
    # TLS optional: dialback in the clear is allowed for lax.example only.
    "lax.example": {"tls": "optional", "sasl_external": "disabled", "connect": connect_of(LAX)},
    "strict.example": {"connect": connect_of(STRICT)},       # TLS required (the default)
    "certreq.example": {"require_valid_certificate": True, "connect": connect_of(CERTREQ)},
}
for i in range(1, 10):
    partners[f"pend{i}.example"] = {"connect": connect_of(SILENT)}   # checks stay running
    partners[f"fail{i}.example"] = {"connect": connect_of(CLOSER)}   # checks fail at once
d = start("budget", partners, {"dialback_checks_per_minute": 3, "dialback_failures_max": 2,
                               "dialback_checks_per_minute_per_prefix": 5,
                               "dialback_failures_per_minute_per_prefix": 3})
if d:
    # 2. <db:verify/> before authentication: 16 answered (the default of
    # limits.dialback_verify_preauth_max), the 17th is a stream error.
    t, _ = stream(d, "v.example", src="127.0.10.1")
    t.sendall(b"".join(f"<db:verify from='q.example' to='example.com' id='a{i}'>k</db:verify>".encode()
                       for i in range(16)))
    got = read_count(t, b"type='invalid'/>", 16)
    t.sendall(b"<db:verify from='q.example' to='example.com' id='a16'>k</db:verify>")
    got2 = stream_error(t, 5)
    check("verify_cap.preauth_17th_policy_violation",
          got.count(b"type='invalid'/>") == 16 and b"id='a16'" not in got2 and b"<policy-violation " in got2
          and b"dialback_verify_preauth_max" in got2, (got[-200:], got2))
    t.close()
    # Once authenticated, questions are answered in any number.
    t, _ = stream(d, "lax.example", src="127.0.10.1")
    t.sendall(db_result("lax.example"))
    got = read_until(t, b"/>")
    t.sendall(b"".join(f"<db:verify from='q.example' to='example.com' id='b{i}'>k</db:verify>".encode()
                       for i in range(40)))
    got2 = read_count(t, b"type='invalid'/>", 40)
    check("verify_cap.not_after_authentication",
          b"type='valid'" in got and got2.count(b"type='invalid'/>") == 40 and b"<stream:error>" not in got2,
          (got, got2[-300:]))
    t.close()

    # 3a. Checks started per stream: 3 a minute, the 4th closes the stream
    # (4 could run at once).
    t, _ = stream(d, "pend1.example", src="127.0.12.1")
    t.sendall(b"".join(db_result(f"pend{i}.example") for i in (1, 2, 3)))
    time.sleep(0.5)
    t.sendall(db_result("pend4.example"))
    got = stream_error(t, 5)
    check("budget.stream_checks_per_minute",
          b"<policy-violation " in got and b"limits.dialback_checks_per_minute)" in got, got)
    t.close()
    # 3b. Failed checks per stream: the 2nd closes the stream.
    t, _ = stream(d, "fail1.example", src="127.0.13.1")
    t.sendall(db_result("fail1.example"))
    got = read_until(t, b"</db:result>")
    t.sendall(db_result("fail2.example"))
    got2 = stream_error(t)
    check("budget.stream_failures_max",
          b"type='error'" in got and b"to='fail2.example' type='error'" in got2
          and b"<policy-violation " in got2 and b"limits.dialback_failures_max" in got2, (got, got2))
    t.close()
    ev = events(d, "s2s_in.dialback_budget")
    check("budget.logged_with_limit", {e.get("limit") for e in ev} >= {
          "limits.dialback_checks_per_minute", "limits.dialback_failures_max"}, ev)

    # 3c. Checks per prefix: 127.0.14.1 and 127.0.14.2 share one /24
    # (5 a minute); 127.0.16.1 is another prefix.
    a, _ = stream(d, "pend1.example", src="127.0.14.1")
    a.sendall(b"".join(db_result(f"pend{i}.example") for i in (1, 2, 3)))
    time.sleep(0.5)
    b, _ = stream(d, "pend4.example", src="127.0.14.2")
    b.sendall(b"".join(db_result(f"pend{i}.example") for i in (4, 5)))
    time.sleep(0.5)
    b.sendall(db_result("pend6.example"))
    got = stream_error(b, 5)
    check("budget.prefix_checks_per_minute",
          b"<policy-violation " in got and b"limits.dialback_checks_per_minute_per_prefix" in got, got)
    c, _ = stream(d, "pend7.example", src="127.0.16.1")
    c.sendall(db_result("pend7.example"))
    time.sleep(0.5)
    check("budget.prefix_other_prefix_unaffected", alive(c) and alive(a))
    for x in (a, b, c):
        x.close()
    # 3d. Failures per prefix (3 a minute): two streams of one /24.
    a, _ = stream(d, "fail1.example", src="127.0.15.1")
    a.sendall(db_result("fail1.example"))
    read_until(a, b"</db:result>")
    a.sendall(db_result("fail2.example"))
    got = stream_error(a)               # limits.dialback_failures_max: 2 failures
    b, _ = stream(d, "fail3.example", src="127.0.15.2")
    b.sendall(db_result("fail3.example"))
    got2 = read_until(b, b"</db:result>")
    b.sendall(db_result("fail4.example"))
    got3 = stream_error(b, 5)
    check("budget.prefix_failures_per_minute",
          b"limits.dialback_failures_max" in got and b"type='error'" in got2 and b"<policy-violation " in got3
          and b"limits.dialback_failures_per_minute_per_prefix" in got3, (got, got2, got3))
    a.close()
    b.close()

    # 4a. Per-pair policy: strict.example requires TLS; piggybacked on
    # lax.example's plaintext stream it is refused (XEP-0220 §2.4:
    # policy-violation), never checked, and its stanzas are not taken.
    t, feats = stream(d, "lax.example", tls=False, src="127.0.11.1")
    t.sendall(db_result("lax.example"))
    got = read_until(t, b"/>")
    check("policy.lax_plaintext_stream_authenticated",
          b"<required/>" not in feats and b"<db:result from='example.com' to='lax.example' type='valid'/>" in got,
          (feats, got))
    t.sendall(db_result("strict.example"))
    got = read_until(t, b"</db:result>", 10)
    check("policy.piggyback_tls_required_refused_on_plaintext",
          b"<db:result from='example.com' to='strict.example' type='error'>" in got
          and b"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in got
          and not [x for x in STRICT.log if "db:verify" in x], (got, STRICT.log))
    t.sendall(b"<message from='s@strict.example' to='a@example.com' id='strict1'><body>x</body></message>")
    got = stream_error(t)
    check("policy.piggyback_refused_domain_stanza_not_taken", b"<invalid-from " in got, got)
    t.close()
    # 4b. certreq.example requires a certificate valid for itself: a
    # stream whose certificate is valid for good.example does not carry it.
    t, feats = stream(d, "good.example", cert=(GOOD_CRT, GOOD_KEY), src="127.0.11.1")
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
    got = read_until(t, b"/>")
    t.sendall(header("good.example"))
    got += read_until(t, b"<stream:features/>")
    check("policy.good_example_authenticated_by_certificate", b"<success " in got, got)
    t.sendall(db_result("certreq.example"))
    got = read_until(t, b"</db:result>", 10)
    check("policy.piggyback_certificate_required_refused",
          b"<db:result from='example.com' to='certreq.example' type='error'>" in got
          and b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in got, (got, CERTREQ.log))
    # strict.example's policy (TLS) is met on this stream: checked, valid.
    t.sendall(db_result("strict.example"))
    got = read_until(t, b"/>", 10)
    check("policy.piggyback_meeting_its_policy_valid",
          b"<db:result from='example.com' to='strict.example' type='valid'/>" in got, got)
    t.sendall(b"<message from='c@certreq.example' to='a@example.com' id='cr1'><body>x</body></message>")
    got = stream_error(t)
    check("policy.piggyback_certificate_refused_stanza_not_taken", b"<invalid-from " in got, got)
    t.close()
    check("budget.sigterm_clean", d.stop() == 0 and clean_log(d), sanitizer_excerpt(d))


# === 5. rate limits (issue 19) ==============================================
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class TimedGateway(fakepeer.Peer):
    """The internal gateway, noting when each stanza arrived (by its id)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.arrived = {}

    def _element(self, s, el, frm, sid):
        sid_ = fakepeer.attr(el, "id")
        if sid_ and not el.startswith(b"<db:"):
            self.arrived[sid_] = time.monotonic()
        super()._element(s, el, frm, sid)


GW_CRT, GW_KEY = xenet.selfsigned_cert(tmp, "gateway", "gateway.internal")
EDGE_CRT, EDGE_KEY = xenet.selfsigned_cert(tmp, "edge-internal", "edge.internal")
if os.geteuid() == 0:
    os.chown(EDGE_KEY, svc.pw_uid, svc.pw_gid)
IPORT, MPORT = free_port(), free_port()
GW = TimedGateway("example.com", GW_CRT, GW_KEY, "gateway", IPORT, client_ca=EDGE_CRT,
                  verify_cert=GW_CRT, verify_key=GW_KEY)
FLOOD, CALM = authoritative("flood.example"), authoritative("calm.example")
RATE = 40               # limits.domain_stanzas_per_s of flood.example (and everyone)
ABUSE_S = 12            # limits.rate_abuse_s
clear = {"tls": "optional", "sasl_external": "disabled"}     # plain TCP: one reader and one writer thread
d = start("rate", {"flood.example": dict(clear, connect=connect_of(FLOOD)),
                   "calm.example": dict(clear, connect=connect_of(CALM))},
          {"domain_stanzas_per_s": RATE, "domain_bytes_per_s": 10000000, "rate_burst_s": 2,
           "prefix_stanzas_per_s": 100000, "prefix_bytes_per_s": 100000000, "rate_abuse_s": ABUSE_S,
           "new_streams_per_minute_per_prefix": 5},
          listen={"internal": [f"127.0.0.1:{IPORT}"]},
          gateway={"address": f"127.0.0.1:{GW.port}", "pins": [xenet.spki_pin(GW_CRT)],
                   "cert": EDGE_CRT, "key": EDGE_KEY},
          metrics={"listen": f"127.0.0.1:{MPORT}"})


def partner(domain, src):
    t, _ = stream(d, domain, tls=False, src=src)
    t.sendall(db_result(domain))
    got = read_until(t, b"/>")
    check(f"rate.{domain}_authenticated", b"type='valid'" in got, got)
    t.settimeout(None)
    return t


def msg(domain, mid, body="x" * 40):
    return f"<message from='u@{domain}' to='v@example.com' id='{mid}'><body>{body}</body></message>".encode()


def calm_run(t, tag, n, interval):
    """n messages from calm.example, one every interval s; their latency
    (send to arrival at the gateway), ms."""
    sent = {}
    for i in range(n):
        mid = f"{tag}{i}"
        sent[mid] = time.monotonic()
        t.sendall(msg("calm.example", mid))
        time.sleep(interval)
    end = time.time() + 10
    while time.time() < end and not all(m in GW.arrived for m in sent):
        time.sleep(0.05)
    return [(GW.arrived[m] - sent[m]) * 1000 for m in sent if m in GW.arrived], len(sent)


if d:
    calm = partner("calm.example", "127.0.21.1")
    flood = partner("flood.example", "127.0.20.1")
    # Warm up both ways (outgoing streams to the gateway authenticated).
    calm.sendall(msg("calm.example", "warm-c"))
    flood.sendall(msg("flood.example", "warm-f"))
    end = time.time() + 20
    while time.time() < end and not ("warm-c" in GW.arrived and "warm-f" in GW.arrived):
        time.sleep(0.05)
    check("rate.gateway_reached", "warm-c" in GW.arrived and "warm-f" in GW.arrived, GW.log)
    time.sleep(2.5)     # flood.example's bucket full again

    base, nbase = calm_run(calm, "b", 60, 0.05)

    # The flood: 10x its limit, in batches every 50 ms, until the stream ends.
    flood_sent = []
    flood_in = []
    stop = threading.Event()

    def flood_send():
        i = 0
        try:
            while not stop.is_set():
                batch = b"".join(msg("flood.example", f"f{i + k}") for k in range(RATE // 2))
                flood.sendall(batch)
                flood_sent.append((time.monotonic(), RATE // 2))
                i += RATE // 2
                time.sleep(0.05)
        except OSError:
            pass

    def flood_read():
        try:
            while True:
                chunk = flood.recv(65536)
                if not chunk:
                    return
                flood_in.append(chunk)
        except OSError:
            return

    t0 = time.monotonic()
    threading.Thread(target=flood_send, daemon=True).start()
    reader = threading.Thread(target=flood_read, daemon=True)
    reader.start()
    time.sleep(0.5)
    loaded, nloaded = calm_run(calm, "l", 150, 0.05)
    t_meas = time.monotonic()
    # The flood's rate at the gateway, after its 2 s burst: from t0 + 3 s
    # on, before limits.rate_abuse_s ends it.
    w0, w1 = t0 + 3, min(t_meas, t0 + ABUSE_S - 0.5)
    arrived = [a for m, a in GW.arrived.items() if m.startswith("f") and w0 <= a < w1]
    offered = sum(n for ts, n in flood_sent if w0 <= ts < w1) / max(w1 - w0, 0.001)
    rate = len(arrived) / max(w1 - w0, 0.001)
    print(f"rate: flood.example offered {offered:.0f} stanzas/s, passed {rate:.1f}/s at the gateway "
          f"(limits.domain_stanzas_per_s {RATE}, window {w1 - w0:.1f} s)", flush=True)
    print(f"rate: calm.example latency without the flood p50 {pct(base, .5):.2f} ms p99 {pct(base, .99):.2f} ms"
          f" ({len(base)}/{nbase}); with the flood p50 {pct(loaded, .5):.2f} ms p99 {pct(loaded, .99):.2f} ms"
          f" ({len(loaded)}/{nloaded})", flush=True)
    check("rate.flood_offered_10x", offered >= 8 * RATE, offered)
    check("rate.flood_slowed_to_its_limit", 0.8 * RATE <= rate <= 1.2 * RATE, (rate, len(arrived)))
    check("rate.calm_all_delivered", len(base) == nbase and len(loaded) == nloaded, (len(base), len(loaded)))
    check("rate.calm_latency_unaffected",
          pct(loaded, .5) <= pct(base, .5) + 20 and pct(loaded, .99) <= max(3 * pct(base, .99), pct(base, .99) + 50),
          (pct(base, .5), pct(base, .99), pct(loaded, .5), pct(loaded, .99)))
    # Kept over its limit: <policy-violation/> after limits.rate_abuse_s.
    reader.join(ABUSE_S + 10)
    stop.set()
    got = b"".join(flood_in)
    t_end = time.monotonic() - t0
    check("rate.sustained_flood_policy_violation",
          b"<policy-violation " in got and b"limits.rate_abuse_s" in got and ABUSE_S - 1 <= t_end <= ABUSE_S + 6,
          (t_end, got[-400:]))
    ev = events(d, "ratelimit.abuse")
    check("rate.abuse_logged", len(ev) == 1 and ev[0].get("domain") == "flood.example"
          and ev[0].get("limit") == "limits.domain_stanzas_per_s", ev)
    st = xenet.status_json(BIN, "--socket", d.sock).get("rate_limits", {})
    top = {x.get("domain"): x for x in st.get("top_domains", [])}
    check("rate.status_top_domains",
          st.get("violations") == 1 and st.get("pauses", 0) > 0 and top.get("flood.example", {}).get("refusals") == 1
          and top.get("flood.example", {}).get("paused_ms", 0) > 1000 and top.get("calm.example", {}).get("stanzas", 0) >= nbase + nloaded
          and top.get("calm.example", {}).get("pauses") == 0, st)
    text = subprocess.run([BIN, "status", "--socket", d.sock], capture_output=True, text=True).stdout
    check("rate.status_text_top_domains",
          "1 ended for abuse" in text and "remote domains (top by stanzas, bytes, time paused, refusals):" in text
          and [ln for ln in text.splitlines() if ln.startswith("flood.example ") and ln.split()[-1] == "1"],
          text[-1500:])
    try:
        import urllib.request
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{MPORT}/metrics", timeout=5).read().decode()
    except OSError as e:
        metrics = repr(e)
    check("rate.metrics_per_domain",
          'xmpp_edge_ratelimit_domain_refusals_total{domain="flood.example"} 1' in metrics
          and "xmpp_edge_ratelimit_violations_total 1" in metrics
          and 'xmpp_edge_ratelimit_domain_stanzas_total{domain="calm.example"}' in metrics,
          [x for x in metrics.splitlines() if "ratelimit" in x][:20])
    # calm.example was never held, and still flows.
    calm.sendall(msg("calm.example", "after"))
    end = time.time() + 5
    while time.time() < end and "after" not in GW.arrived:
        time.sleep(0.05)
    check("rate.other_partner_still_flows", "after" in GW.arrived)
    calm.close()
    flood.close()

    # New streams per prefix: 5 a minute from 127.0.22.0/24 (the 6th is
    # closed at once), another /24 unaffected.
    def opened(src):
        r = socket.socket()
        r.settimeout(5)
        r.bind((src, 0))
        r.connect(("127.0.0.1", d.port))
        try:
            r.sendall(header("n.example"))
            got = read_until(r, b"</stream:features>", 3)
        except OSError:
            got = b""
        r.close()
        return b"</stream:features>" in got
    got = [opened(f"127.0.22.{i}") for i in range(1, 7)]
    check("rate.new_streams_per_prefix", got == [True] * 5 + [False], got)
    check("rate.new_streams_other_prefix", opened("127.0.23.1"))
    check("rate.new_streams_refusal_logged",
          [e for e in events(d, "s2s_in.refused")
           if e.get("reason") == "limits.new_streams_per_minute_per_prefix reached"], events(d, "s2s_in.refused"))
    check("rate.sigterm_clean", d.stop() == 0 and clean_log(d), sanitizer_excerpt(d))


# === 6. Outgoing TLS sessions kept across a restart (issue 18 goal 4) =======
# A dialback partner's key is checked on a stream of ours to its
# authoritative server: after a restart that check resumes the TLS session
# the partner's server gave before it (tls.keep_outgoing_sessions), instead
# of a second full handshake per partner in a reconnect storm.  main kept
# them in memory only, and never resumed with the default `dane:
# opportunistic` policy.
RESUME = fakepeer.Peer("resume.example", AUTH_CRT, AUTH_KEY, "dialback", 0, stable_tickets=True)


def resume_round(name, keep, src):
    """A daemon (state kept in state-NAME across its two lives) authenticates
    resume.example by dialback, is restarted, and does it again; returns
    (the second life's status, both lives' logs' events)."""
    extra = {} if keep is None else {"tls": {"ca_file": CA_CRT, "keep_outgoing_sessions": keep}}
    lives = []
    st = {}
    for life in (1, 2):
        d = start(name, {"resume.example": {"connect": connect_of(RESUME)}}, {}, **extra)
        if d is None:
            return {}, lives
        t, _ = stream(d, "resume.example", src=src)
        t.sendall(db_result("resume.example"))
        got = read_until(t, b"/>", 10)
        check(f"{name}.life{life}_dialback_valid", b"type='valid'" in got, got)
        if life == 2:
            st = xenet.status_json(BIN, "--socket", d.sock)
        t.close()
        check(f"{name}.life{life}_sigterm_clean", d.stop() == 0 and clean_log(d), sanitizer_excerpt(d))
        lives.append(d.events())
    return st, lives


if True:
    # Run against older builds too (their checks fail: what they did);
    # only switching it off needs the key.
    KEEP = "`tls.keep_outgoing_sessions`" in KNOWN
    st, lives = resume_round("resume", None, "127.0.31.1")
    saved = [e for e in lives[0] if e.get("event") == "tls.sessions_saved"] if lives else []
    check("resume.sessions_saved_on_shutdown",
          saved and int(saved[0].get("sessions", 0)) >= 1 and saved[0].get("when") == "shutdown", saved)
    loaded = [e for e in lives[1] if e.get("event") == "tls.sessions_loaded"] if len(lives) > 1 else []
    check("resume.sessions_loaded_at_start", loaded and loaded[0].get("loaded") == "1", loaded)
    # The count the benchmark reads (`status`; xmpp_edge_tls_resumed_total).
    check("resume.dialback_verify_resumed_after_restart",
          st.get("tls_resumed_dialback_verify") == 1 and st.get("tls_handshakes_dialback_verify") == 1, st)
    ev = [e for e in lives[1] if e.get("event") == "dialback.verify_tls"] if len(lives) > 1 else []
    # The self-signed certificate of the authoritative server stays what
    # the full handshake found (untrusted), not "ok" because it resumed.
    first = [e.get("certificate") for e in lives[0] if e.get("event") == "dialback.verify_tls"] if lives else []
    check("resume.verify_tls_logged_resumed_same_verdict",
          len(ev) == 1 and ev[0].get("resumed") == "yes" and first not in ([], ["ok"])
          and [ev[0].get("certificate")] == first, (ev, first))
    path = f"{tmp}/state-resume/outgoing_sessions"
    check("resume.file_private", os.path.exists(path) and (os.stat(path).st_mode & 0o777) == 0o600
          and os.stat(path).st_uid == os.stat(f"{tmp}/state-resume").st_uid)
    # A corrupt file: refused with the reason, ignored, the daemon starts.
    if os.path.exists(path):
        with open(path, "r+b") as f:
            f.seek(40)
            b = f.read(1)
            f.seek(40)
            f.write(bytes([b[0] ^ 0xff]))
    d = start("resume", {"resume.example": {"connect": connect_of(RESUME)}}, {})
    if d:
        ref = events(d, "tls.sessions_refused")
        check("resume.corrupt_file_refused_and_ignored",
              ref and "checksum" in ref[0].get("reason", "") and d.proc.poll() is None, ref)
        check("resume.corrupt_sigterm_clean", d.stop() == 0 and clean_log(d), sanitizer_excerpt(d))
    # Switched off: nothing kept, the file removed, a full handshake.
    if KEEP:
        st, lives = resume_round("resume_off", False, "127.0.32.1")
        check("resume.off_full_handshake_after_restart",
              st.get("tls_resumed_dialback_verify") == 0 and st.get("tls_handshakes_dialback_verify") == 1, st)
        check("resume.off_no_file", not os.path.exists(f"{tmp}/state-resume_off/outgoing_sessions"))

finish()
