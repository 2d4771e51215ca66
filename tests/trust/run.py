#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Trust at the boundary (issue 19): certificates without clientAuth, the
domain blocklist, strangers.

Since 2026 Let's Encrypt issues serverAuth-only certificates, and an XMPP
server presents its server certificate as its TLS client certificate.

 1. loopback, fake peers (tests/lib/fakepeer.py): a remote server whose
    CA-issued certificate says extendedKeyUsage=serverAuth only
    authenticates inbound with SASL EXTERNAL; the edge's own
    serverAuth-only certificate, refused by a strict peer with a TLS alert
    (OpenSSL: "unsupported certificate purpose"), makes the outgoing stream
    connect again without a client certificate and authenticate by
    dialback; `probe` says which happened, and that nothing works when the
    partner's policy requires SASL EXTERNAL;
 2. real Prosody 0.12 in a network namespace (192.0.2.0/24, nothing leaves
    it), its certificate serverAuth-only, SASL EXTERNAL required both ways
    (s2s_secure_auth, policy sasl_external required): Prosody -> edge
    authenticated by EXTERNAL; edge (serverAuth-only) -> Prosody: Prosody's
    reaction recorded by `probe` and by the daemon's own outgoing stream
    (Prosody 0.12 accepts it: SASL EXTERNAL succeeds, no fallback needed);
 3. the domain blocklist (blocklist.file): refused at the stream header,
    at dialback (each piggybacked domain) and in routing; counts per entry
    in status and metrics; reloaded when the file changes and on SIGHUP; a
    bad file refused with its line at start and at reload;
 4. strangers (policy strangers: refuse): a stranger's message and
    subscription request bounced with <policy-violation/>, a contact an
    internal user wrote to passes; status, metrics, `strangers list|clear`,
    the set saved at shutdown and read at start, a hostile file set aside.

Ports are free ones on 127.0.0.1 for part 1; part 2 runs in namespaces of
its own, named by PID.  Everything started here is ended here.
Last line: "N passed, N failed".
"""
import base64
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from xecheck import check, finish  # noqa: E402
from fakepeer import Peer  # noqa: E402
from xenet import Daemon, client_ctx, free_port, openssl, read_until, starttls, track, work_dir  # noqa: E402
import xenet  # noqa: E402

ROOT = os.environ.get("XE_ROOT", os.path.join(HERE, "..", ".."))
BIN = os.path.abspath(os.environ.get("XE_BIN", os.path.join(ROOT, "out/dev/xmpp-edge")))
tmp = work_dir("trust")
os.chmod(tmp, 0o755)
NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"


def run(*args, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def give_to(path, user):
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


# --- certificates: one CA, leaves with the EKU under test ----------------------
CA_CRT, CA_KEY = f"{tmp}/ca.crt", f"{tmp}/ca.key"
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", CA_KEY,
        "-out", CA_CRT, "-days", "30", "-subj", "/CN=trust test CA")
os.chmod(CA_CRT, 0o644)


def leaf(name, domain, eku):
    """A CA-issued leaf for domain; eku: the extendedKeyUsage value ("serverAuth",
    "serverAuth,clientAuth") as openssl writes it."""
    crt, key, ext = f"{tmp}/{name}.crt", f"{tmp}/{name}.key", f"{tmp}/{name}.ext"
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{domain}\nkeyUsage=critical,digitalSignature\n"
                f"extendedKeyUsage={eku}\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", f"{tmp}/{name}.csr", "-subj", f"/CN={domain}")
    openssl("x509", "-req", "-in", f"{tmp}/{name}.csr", "-CA", CA_CRT, "-CAkey", CA_KEY, "-CAcreateserial",
            "-days", "30", "-out", crt, "-extfile", ext)
    os.chmod(crt, 0o644)
    os.chmod(key, 0o600)
    return crt, key


EDGE_CRT, EDGE_KEY = leaf("edge", "example.com", "serverAuth")
give_to(EDGE_KEY, "xmpp-edge")   # the default `user` reads it after the drop
PEER_CRT, PEER_KEY = leaf("peer", "peer.example", "serverAuth")
PEER_TEXT = openssl("x509", "-in", PEER_CRT, "-noout", "-text").decode()
check("setup.peer_certificate_is_server_auth_only",
      "TLS Web Server Authentication" in PEER_TEXT and "TLS Web Client Authentication" not in PEER_TEXT, PEER_TEXT)


def edge_config(path, **over):
    cfg = {
        "state_dir": f"{tmp}/state-{os.path.basename(path)}",
        "domains": [{"name": "example.com", "cert": EDGE_CRT, "key": EDGE_KEY}],
        "listen": {"starttls": [f"127.0.0.1:{free_port()}"], "direct_tls": []},
        "tls": {"ca_file": CA_CRT},
        "dns": {"servers": [f"127.0.0.1:{free_port()}"], "timeout_ms": 200, "tries": 1},
        "log": {"format": "json"},
    }
    return xenet.write_config(path, cfg, **over)


# --- 1. loopback: inbound serverAuth-only, outbound fallback ---------------------
def part_loopback():
    strict = Peer("peer.example", PEER_CRT, PEER_KEY, "dialback", 0, client_ca=CA_CRT, client_cert_optional=True)
    cfgp = f"{tmp}/edge.json"
    cfg = edge_config(cfgp, policy={"partners": {"peer.example": {
        "connect": f"127.0.0.1:{strict.port}", "sasl_external": "optional", "dialback": True}}})
    port = int(cfg["listen"]["starttls"][0].rsplit(":", 1)[1])
    strict.verify_port = port
    daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon.log")
    if not check("loopback.daemon_starts", daemon.wait_port(port), daemon.text()[-2000:]):
        return
    # Inbound: peer.example's serverAuth-only certificate, SASL EXTERNAL.
    hdr = f"<?xml version='1.0'?><stream:stream {NS} from='peer.example' to='example.com' version='1.0'>".encode()
    t, _, _ = starttls(port, hdr, "example.com", client_ctx(PEER_CRT, PEER_KEY))
    t.sendall(hdr)
    feats = read_until(t, b"</stream:features>")
    check("loopback.inbound_server_auth_only_offered_external", b">EXTERNAL<" in feats, feats)
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
              + base64.b64encode(b"peer.example") + b"</auth>")
    ok = read_until(t, b"/>")
    check("loopback.inbound_server_auth_only_external_success", b"<success" in ok, ok)
    t.sendall(hdr)
    read_until(t, b"<stream:features/>")
    # No gateway: the message is bounced, which opens the outgoing stream
    # to peer.example, whose TLS refuses our serverAuth-only certificate.
    t.sendall(b"<message from='alice@peer.example' to='bob@example.com' id='m1' type='chat'><body>hi</body></message>")
    got = strict.wait_stanzas(1, timeout=20)
    check("loopback.outbound_refused_cert_falls_back_to_dialback",
          got and b"id='m1'" in got[0] and b"type='error'" in got[0] and strict.dialback_answers == ["valid"],
          (got, strict.log, strict.dialback_answers, daemon.text()[-3000:]))
    ev = daemon.events()
    refused = [e for e in ev if e.get("event") == "s2s_out.cert_refused"]
    check("loopback.log_says_cert_refused_and_retry",
          refused and "again without a client certificate" in refused[0].get("next", ""), refused)
    est = [e for e in ev if e.get("event") == "s2s_out.established" and e.get("remote") == "peer.example"]
    check("loopback.outbound_established_by_dialback", est and est[0].get("method") == "dialback", est)
    t.close()

    # probe: says what happened, then the same with EXTERNAL required.
    r = run("probe", "peer.example", "-c", cfgp)
    out = r.stdout
    check("loopback.probe_says_refused_and_dialback",
          r.returncode == 0 and "refused our certificate for example.com: connecting again without a client "
          "certificate" in out and "authenticating with Server Dialback (it refused our certificate in TLS" in out,
          out + r.stderr)
    cfgp2 = f"{tmp}/edge-required.json"
    edge_config(cfgp2, policy={"partners": {"peer.example": {
        "connect": f"127.0.0.1:{strict.port}", "sasl_external": "required"}}})
    r = run("probe", "peer.example", "-c", cfgp2)
    check("loopback.probe_external_required_gives_up",
          r.returncode == 1 and "connecting again" not in r.stdout and "unsupported_certificate" in r.stdout
          and "would NOT work" in r.stdout, r.stdout + r.stderr)

    # A peer that takes SASL EXTERNAL (it asks for no certificate check of
    # its own): probe says EXTERNAL was accepted.
    lenient = Peer("lenient.example", PEER_CRT, PEER_KEY, "sasl", 0)
    cfgp3 = f"{tmp}/edge-lenient.json"
    edge_config(cfgp3, policy={"partners": {"lenient.example": {"connect": f"127.0.0.1:{lenient.port}"}}})
    r = run("probe", "lenient.example", "-c", cfgp3)
    check("loopback.probe_says_external_accepted",
          "SASL EXTERNAL: accepted our certificate for example.com" in r.stdout
          and "authenticating with SASL EXTERNAL (it accepted our certificate)" in r.stdout, r.stdout + r.stderr)
    # A peer that answers SASL EXTERNAL with <failure/>: dialback next.
    failing = Peer("failing.example", PEER_CRT, PEER_KEY, "sasl", 0, sasl_fail=True)
    cfgp4 = f"{tmp}/edge-failing.json"
    edge_config(cfgp4, policy={"partners": {"failing.example": {"connect": f"127.0.0.1:{failing.port}"}}})
    r = run("probe", "failing.example", "-c", cfgp4)
    check("loopback.probe_says_external_refused_dialback_next",
          r.returncode == 0 and "SASL EXTERNAL: refused our certificate for example.com: <failure" in r.stdout
          and "authenticating with Server Dialback (SASL EXTERNAL refused our certificate; the daemon falls back)"
          in r.stdout, r.stdout + r.stderr)
    rc = daemon.stop(timeout=15)
    check("loopback.daemon_exits_cleanly", rc == 0, daemon.text()[-1500:])
    check("loopback.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
          and "runtime error" not in daemon.text(), daemon.text()[-3000:])


part_loopback()


# --- 3. the domain blocklist --------------------------------------------------------
GW_CRT, GW_KEY = xenet.selfsigned_cert(tmp, "gateway", "gateway.internal")          # pinned
INT_CRT, INT_KEY = xenet.selfsigned_cert(tmp, "edge-internal", "edge.internal")    # ours inside
give_to(INT_KEY, "xmpp-edge")
OK_CRT, OK_KEY = leaf("okpeer", "ok.example", "serverAuth,clientAuth")


def gateway_stream(iport, to):
    """The gateway's outgoing stream (pinned TLS, SASL EXTERNAL as example.com)."""
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} from='example.com' to='{to}' version='1.0'>").encode()
    t = client_ctx(GW_CRT, GW_KEY).wrap_socket(socket.create_connection(("127.0.0.1", iport), timeout=10),
                                               server_hostname="edge.internal")
    t.sendall(hdr)
    read_until(t, b"</stream:features>")
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>ZXhhbXBsZS5jb20=</auth>")
    ok = read_until(t, b"/>")
    t.sendall(hdr)
    read_until(t, b"<stream:features/>")
    return t, ok


def read_for(t, seconds):
    """Everything t sends within `seconds`."""
    out, end = b"", time.time() + seconds
    t.settimeout(0.2)
    while time.time() < end:
        try:
            c = t.recv(65536)
        except (socket.timeout, TimeoutError):
            continue
        except OSError:
            break
        if not c:
            break
        out += c
    return out


def header_answer(port, frm):
    """What the edge answers a plaintext stream header from frm (up to features or an error)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"<?xml version='1.0'?><stream:stream {NS} from='{frm}' to='example.com' version='1.0'>".encode())
    out = b""
    end = time.time() + 5
    while time.time() < end and b"</stream:features>" not in out and b"</stream:stream>" not in out:
        try:
            c = s.recv(65536)
        except OSError:
            break
        if not c:
            break
        out += c
    s.close()
    return out


def edge_with_gateway(cfgp, **over):
    """An edge configuration with an internal listener, the gateway's own
    server (a fake peer: bounces for the gateway's users arrive there, over
    the stream the edge opens to it, checked by dialback through the
    internal listener as Prosody does) and the metrics endpoint.
    Returns (cfg, gateway peer, internal port, metrics port)."""
    iport, mport = free_port(), free_port()
    gwpeer = Peer("example.com", GW_CRT, GW_KEY, "gateway", iport, client_ca=INT_CRT,
                  verify_cert=GW_CRT, verify_key=GW_KEY)
    cfg = edge_config(cfgp, listen={"starttls": [f"127.0.0.1:{free_port()}"], "direct_tls": [],
                                    "internal": [f"127.0.0.1:{iport}"]},
                      gateway={"address": f"127.0.0.1:{gwpeer.port}", "pins": [xenet.spki_pin(GW_CRT)],
                               "cert": INT_CRT, "key": INT_KEY},
                      metrics={"listen": f"127.0.0.1:{mport}"}, **over)
    return cfg, gwpeer, iport, mport


def status(sock):
    return xenet.status_json(BIN, "--socket", sock)


def events_of(daemon, name):
    return [e for e in daemon.events() if e.get("event") == name]


def reload_config(daemon, cfgp, cfg, event):
    """Writes cfg, SIGHUP, waits (10 s at most) for one more `event` in the log."""
    xenet.write_config(cfgp, cfg)
    n = len(events_of(daemon, event))
    daemon.proc.send_signal(__import__("signal").SIGHUP)
    end = time.time() + 10
    while time.time() < end and len(events_of(daemon, event)) == n:
        time.sleep(0.1)


def part_blocklist():
    bl_file = f"{tmp}/blocklist.txt"
    with open(bl_file, "w") as f:
        f.write("# federation spam, 2024 wave\nspam.example\n*.waves.example   # every name under it\n")
    os.chmod(bl_file, 0o644)
    okpeer = Peer("ok.example", OK_CRT, OK_KEY, "sasl", 0)
    spampeer = Peer("spam.example", OK_CRT, OK_KEY, "sasl", 0)
    cfgp = f"{tmp}/edge-bl.json"
    cfg, gwpeer, iport, mport = edge_with_gateway(
                      cfgp, blocklist={"file": bl_file},
                      policy={"partners": {"ok.example": {"connect": f"127.0.0.1:{okpeer.port}"},
                                           "spam.example": {"connect": f"127.0.0.1:{spampeer.port}"}}})
    port = int(cfg["listen"]["starttls"][0].rsplit(":", 1)[1])
    sock = f"{cfg['state_dir']}/control.sock"
    daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon-bl.log")
    if not check("blocklist.daemon_starts", daemon.wait_port(port) and daemon.wait_port(iport),
                 daemon.text()[-2000:]):
        return
    end = time.time() + 5       # the listeners are bound before the list is read
    while time.time() < end and not events_of(daemon, "blocklist.loaded"):
        time.sleep(0.1)
    loaded = events_of(daemon, "blocklist.loaded")
    check("blocklist.loaded_at_start", loaded and loaded[0].get("entries") == "2", loaded)

    # Stream header: <policy-violation/> for a listed domain and a name
    # under a '*.' entry; a domain not listed gets its features.
    ans = header_answer(port, "spam.example")
    check("blocklist.stream_header_refused_policy_violation",
          b"<policy-violation" in ans and b"<stream:features" not in ans, ans)
    ans = header_answer(port, "a.b.waves.example")
    check("blocklist.stream_header_wildcard_refused", b"<policy-violation" in ans, ans)
    ans = header_answer(port, "waves.example")
    check("blocklist.stream_header_wildcard_not_the_parent", b"<stream:features" in ans, ans)
    ans = header_answer(port, "fine.example")
    check("blocklist.stream_header_other_domain_accepted",
          b"<stream:features" in ans and b"policy-violation" not in ans, ans)

    # Dialback: a stream from fine.example (TLS) asks for spam.example
    # and a name under waves.example (piggybacking, XEP-0220 §2.4).
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} xmlns:db='jabber:server:dialback' "
           f"from='fine.example' to='example.com' version='1.0'>").encode()
    t, _, _ = starttls(port, hdr, "example.com")
    t.sendall(hdr)
    read_until(t, b"</stream:features>")
    answers = []
    for dom in ("spam.example", "x.waves.example"):
        t.sendall(f"<db:result from='{dom}' to='example.com'>abcdef0123</db:result>".encode())
        answers.append(read_until(t, b"</db:result>", timeout=10))
    check("blocklist.dialback_every_domain_refused",
          all(b"type='error'" in a and b"<not-allowed" in a for a in answers), answers)
    t.close()

    # Routing: the gateway writes to spam.example (bounced, nothing sent)
    # and to ok.example (delivered).
    g, ok = gateway_stream(iport, "spam.example")
    check("blocklist.gateway_authenticated", b"<success" in ok, ok)
    g.sendall(b"<message from='alice@example.com/w' to='bob@spam.example' id='b1' type='chat'><body>x</body></message>")
    got = [st for st in gwpeer.wait_stanzas(1, timeout=15) if b"id='b1'" in st]
    check("blocklist.route_to_blocked_bounced_not_allowed",
          got and b"type='error'" in got[0] and b"<not-allowed" in got[0], (got, gwpeer.log))
    g2, _ = gateway_stream(iport, "ok.example")
    g2.sendall(b"<message from='alice@example.com/w' to='bob@ok.example' id='k1' type='chat'><body>x</body></message>")
    check("blocklist.route_to_other_domain_delivered", okpeer.wait_stanzas(1, timeout=15), okpeer.log)
    check("blocklist.nothing_sent_to_blocked_domain", not spampeer.log and not spampeer.stanzas, spampeer.log)

    doc = status(sock).get("blocklist", {})
    top = {e.get("entry"): e.get("refusals") for e in doc.get("top", [])}
    check("blocklist.status_counts_per_entry",
          doc.get("entries") == 2 and top.get("spam.example") == 3 and top.get("*.waves.example") == 2
          and doc.get("refusals") == 5, doc)
    r = subprocess.run([BIN, "status", "--socket", sock], capture_output=True, text=True, timeout=30)
    check("blocklist.status_readable", f"blocklist:  {bl_file}, 2 entries, 5 refusals (top: spam.example 3, "
          "*.waves.example 2)" in r.stdout, r.stdout)
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    check("blocklist.metrics_top_entries",
          'xmpp_edge_blocklist_entry_refusals_total{entry="spam.example"} 3' in body
          and "xmpp_edge_blocklist_entries 2" in body and "xmpp_edge_blocklist_refusals_total 5" in body,
          [ln for ln in body.splitlines() if "blocklist" in ln])

    # The file changes (a feed writes a new one and renames it over):
    # reloaded within seconds, counts of entries still listed kept.
    with open(bl_file + ".new", "w") as f:
        f.write("spam.example\n*.waves.example\nok.example\n")
    os.chmod(bl_file + ".new", 0o644)
    os.rename(bl_file + ".new", bl_file)
    end = time.time() + 10
    while time.time() < end and not events_of(daemon, "blocklist.reloaded"):
        time.sleep(0.2)
    rel = events_of(daemon, "blocklist.reloaded")
    check("blocklist.reloaded_on_file_change", rel and rel[-1].get("entries") == "3", rel)
    g2.sendall(b"<message from='alice@example.com/w' to='bob@ok.example' id='k2' type='chat'><body>x</body></message>")
    end = time.time() + 15
    while time.time() < end and not [st for st in gwpeer.stanzas if b"id='k2'" in st]:
        time.sleep(0.1)
    got = [st for st in gwpeer.stanzas if b"id='k2'" in st]
    check("blocklist.new_entry_applies_to_routing", got and b"<not-allowed" in got[0],
          (got, okpeer.stanzas))
    doc = status(sock).get("blocklist", {})
    check("blocklist.counts_survive_reload", doc.get("entries") == 3 and doc.get("refusals") == 6, doc)

    # A hostile file at reload: precise error, the running list stays.
    with open(bl_file, "w") as f:
        f.write("spam.example\nnot a domain\n")
    end = time.time() + 10
    while time.time() < end and not events_of(daemon, "blocklist.reload_failed"):
        time.sleep(0.2)
    failed = events_of(daemon, "blocklist.reload_failed")
    check("blocklist.bad_file_names_line_keeps_list",
          failed and f"{bl_file}: line 2: one domain a line" in failed[-1].get("error", "")
          and b"<policy-violation" in header_answer(port, "x.waves.example"), failed)

    # SIGHUP with the configuration naming another file: read at once.
    bl2 = f"{tmp}/blocklist2.txt"
    with open(bl2, "w") as f:
        f.write("fine.example\n")
    os.chmod(bl2, 0o644)
    cfg["blocklist"] = {"file": bl2}
    reload_config(daemon, cfgp, cfg, "blocklist.reloaded")
    check("blocklist.reloaded_on_sighup",
          b"<policy-violation" in header_answer(port, "fine.example")
          and b"<stream:features" in header_answer(port, "spam.example"),
          events_of(daemon, "blocklist.reloaded"))
    g.close()
    g2.close()
    rc = daemon.stop(timeout=15)
    check("blocklist.daemon_exits_cleanly", rc == 0, daemon.text()[-1500:])
    check("blocklist.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
          and "runtime error" not in daemon.text(), daemon.text()[-3000:])

    # A bad file at start stops the start, naming file and line.
    with open(bl2, "w") as f:
        f.write("# ok\n\n*.\n")
    r = subprocess.run([BIN, "check", "-c", cfgp], capture_output=True, text=True, timeout=30)
    check("blocklist.check_reports_bad_file",
          r.returncode == 1 and f"{cfgp}: blocklist.file: {bl2}: line 3: '*.' is not a domain" in r.stderr,
          r.stdout + r.stderr)
    r = subprocess.run([BIN, "run", "-c", cfgp], capture_output=True, text=True, timeout=30)
    check("blocklist.bad_file_at_start_refused",
          r.returncode != 0 and f"{bl2}: line 3: '*.' is not a domain or '*.domain'" in r.stdout + r.stderr,
          (r.stdout + r.stderr)[-1500:])


part_blocklist()


# --- 4. strangers ---------------------------------------------------------------------
SPAMMY_CRT, SPAMMY_KEY = leaf("spammy", "spammy.example", "serverAuth,clientAuth")


def inbound_stream(port, domain, crt, key):
    """A remote server `domain`: STARTTLS, its certificate, SASL EXTERNAL."""
    hdr = f"<?xml version='1.0'?><stream:stream {NS} from='{domain}' to='example.com' version='1.0'>".encode()
    t, _, _ = starttls(port, hdr, "example.com", client_ctx(crt, key))
    t.sendall(hdr)
    read_until(t, b"</stream:features>")
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
              + base64.b64encode(domain.encode()) + b"</auth>")
    ok = read_until(t, b"/>")
    t.sendall(hdr)
    read_until(t, b"<stream:features/>")
    return t, ok


def wait_for(peer, marker, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        with peer.lock:
            hit = [st for st in peer.stanzas if marker in st]
        if hit:
            return hit
        time.sleep(0.05)
    return []


def part_strangers():
    # spammy.example's own server: our outgoing stanzas (and bounces) go there.
    spamsrv = Peer("spammy.example", SPAMMY_CRT, SPAMMY_KEY, "sasl", 0)
    cfgp = f"{tmp}/edge-strangers.json"
    cfg, gwpeer, iport, mport = edge_with_gateway(
                      cfgp, strangers={"max_contacts": 1000},
                      policy={"partners": {"spammy.example": {"connect": f"127.0.0.1:{spamsrv.port}",
                                                              "strangers": "refuse"},
                                           "open.example": {"connect": f"127.0.0.1:{spamsrv.port}"}}})
    port = int(cfg["listen"]["starttls"][0].rsplit(":", 1)[1])
    sock = f"{cfg['state_dir']}/control.sock"
    state_file = f"{cfg['state_dir']}/strangers-contacts"
    daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon-strangers.log")
    if not check("strangers.daemon_starts", daemon.wait_port(port) and daemon.wait_port(iport),
                 daemon.text()[-2000:]):
        return
    t, ok = inbound_stream(port, "spammy.example", SPAMMY_CRT, SPAMMY_KEY)
    check("strangers.inbound_authenticated", b"<success" in ok, ok)

    # A stranger's spam: bounced with policy-violation, never inside.
    t.sendall(b"<message from='spammer@spammy.example/x' to='alice@example.com' id='s1' type='chat'>"
              b"<body>buy now</body></message>")
    got = wait_for(spamsrv, b"id='s1'")
    check("strangers.stranger_message_bounced_policy_violation",
          got and b"type='error'" in got[0] and b"<policy-violation" in got[0], (got, spamsrv.log))
    t.sendall(b"<presence from='spammer@spammy.example' to='alice@example.com' id='s2' type='subscribe'/>")
    got = wait_for(spamsrv, b"id='s2'")
    check("strangers.stranger_subscription_bounced", got and b"<policy-violation" in got[0], got)
    # Presence updates and iq flow, from anyone.
    t.sendall(b"<presence from='spammer@spammy.example/x' to='alice@example.com' id='p1'/>")
    check("strangers.presence_update_flows", wait_for(gwpeer, b"id='p1'"), gwpeer.log)

    # alice writes to friend@spammy.example: learned; his answer passes.
    g, gok = gateway_stream(iport, "spammy.example")
    g.sendall(b"<message from='alice@example.com/w' to='Friend@spammy.example/home' id='o1' type='chat'>"
              b"<body>hi</body></message>")
    check("strangers.outbound_delivered", wait_for(spamsrv, b"id='o1'"), spamsrv.log)
    t.sendall(b"<message from='friend@spammy.example/phone' to='alice@example.com' id='f1' type='chat'>"
              b"<body>hello back</body></message>")
    check("strangers.known_contact_message_passes", wait_for(gwpeer, b"id='f1'"), gwpeer.log)
    check("strangers.stranger_never_reached_inside",
          not [st for st in gwpeer.stanzas if b"id='s1'" in st or b"id='s2'" in st], gwpeer.stanzas)
    # A partner without `strangers: refuse` is not filtered.
    t2, _ = inbound_stream(port, "open.example", leaf("open", "open.example", "serverAuth,clientAuth")[0],
                           f"{tmp}/open.key")
    t2.sendall(b"<message from='anyone@open.example' to='alice@example.com' id='a1' type='chat'><body>x</body></message>")
    check("strangers.allow_partner_not_filtered", wait_for(gwpeer, b"id='a1'"), gwpeer.log)

    doc = status(sock).get("strangers", {})
    check("strangers.status_counts",
          doc.get("contacts") == 1 and doc.get("refused") == 2 and doc.get("learned") == 1
          and doc.get("max_contacts") == 1000, doc)
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    check("strangers.status_top_domains", doc.get("top_domains") == [{"domain": "spammy.example", "refused": 2}],
          doc)
    r = subprocess.run([BIN, "status", "--socket", sock], capture_output=True, text=True, timeout=30)
    check("strangers.status_readable",
          "strangers:  1 contacts, 1 learned, 2 refused (top: spammy.example 2)" in r.stdout, r.stdout)
    check("strangers.metrics", "xmpp_edge_strangers_contacts 1" in body
          and "xmpp_edge_strangers_refused_total 2" in body and "xmpp_edge_strangers_learned_total 1" in body
          and 'xmpp_edge_strangers_refused_by_domain_total{domain="spammy.example"} 2' in body,
          [ln for ln in body.splitlines() if "strangers" in ln])
    r = subprocess.run([BIN, "strangers", "list", "--socket", sock], capture_output=True, text=True, timeout=30)
    check("strangers.cli_list", r.returncode == 0 and r.stdout.splitlines()[1:] == ["friend@spammy.example"]
          and "1 contacts (at most 1000), 1 learned, 2 refused" in r.stdout, r.stdout + r.stderr)
    r = subprocess.run([BIN, "strangers", "list", "-c", cfgp, "--json"], capture_output=True, text=True,
                       timeout=30)
    check("strangers.cli_list_json_by_config", r.returncode == 0 and '"list":["friend@spammy.example"]' in r.stdout,
          r.stdout + r.stderr)
    r = subprocess.run([BIN, "strangers", "bogus"], capture_output=True, text=True, timeout=30)
    check("strangers.cli_usage_error", r.returncode == 2 and "list or clear" in r.stderr, r.stderr)

    # Stop: the set is saved; started again, friend is still known.
    t.close()
    t2.close()
    g.close()
    rc = daemon.stop(timeout=15)
    check("strangers.daemon_exits_cleanly", rc == 0, daemon.text()[-1500:])
    saved = open(state_file).read() if os.path.exists(state_file) else ""
    check("strangers.saved_at_shutdown", saved.splitlines()[1:] == ["friend@spammy.example"]
          and oct(os.stat(state_file).st_mode & 0o777) == "0o600", saved)
    check("strangers.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
          and "runtime error" not in daemon.text(), daemon.text()[-3000:])
    daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon-strangers2.log")
    if not check("strangers.daemon_restarts", daemon.wait_port(port), daemon.text()[-2000:]):
        return
    t, _ = inbound_stream(port, "spammy.example", SPAMMY_CRT, SPAMMY_KEY)
    t.sendall(b"<message from='friend@spammy.example' to='alice@example.com' id='f2' type='chat'><body>x</body></message>")
    check("strangers.known_after_restart", wait_for(gwpeer, b"id='f2'"), daemon.text()[-2000:])
    r = subprocess.run([BIN, "strangers", "clear", "--socket", sock], capture_output=True, text=True, timeout=30)
    check("strangers.cli_clear", r.returncode == 0 and "cleared 1 contacts" in r.stdout, r.stdout + r.stderr)
    t.sendall(b"<message from='friend@spammy.example' to='alice@example.com' id='f3' type='chat'><body>x</body></message>")
    got = wait_for(spamsrv, b"id='f3'")
    check("strangers.cleared_contact_is_a_stranger_again", got and b"<policy-violation" in got[0], got)
    check("strangers.clear_saved_at_once", open(state_file).read().splitlines()[1:] == [],
          open(state_file).read())
    t.close()
    daemon.stop(timeout=15)

    # A hostile state file: a precise error, set aside, the daemon runs.
    with open(state_file, "w") as f:
        f.write("ok@spammy.example\nNot Canonical@spammy.example\n")
    daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon-strangers3.log")
    up = daemon.wait_port(port)
    end = time.time() + 5
    while time.time() < end and not events_of(daemon, "strangers.load_failed"):
        time.sleep(0.1)
    failed = events_of(daemon, "strangers.load_failed")
    check("strangers.hostile_file_precise_error_and_runs",
          up and failed and f"{state_file}: line 2: 'Not Canonical@spammy.example' is not a canonical bare JID"
          in failed[0].get("error", "") and os.path.exists(state_file + ".bad"), (failed, daemon.text()[-1500:]))
    rc = daemon.stop(timeout=15)
    check("strangers.daemon_exits_cleanly_after_bad_file", rc == 0
          and "ERROR: AddressSanitizer" not in daemon.text(), daemon.text()[-1500:])


part_strangers()


# --- 5. session tickets: SASL EXTERNAL on a resumed TLS 1.3 session (issue 18) -----
TK_CRT, TK_KEY = leaf("tkpeer", "tk.example", "serverAuth,clientAuth")


def tls_stream(port, frm, ctx, session=None, pre_from=True):
    """A partner's stream: header (with 'from' before TLS unless pre_from is
    False), STARTTLS, TLS offering session, header again; (TLS socket, features)."""
    pre = f" from='{frm}'" if pre_from else ""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.sendall(f"<?xml version='1.0'?><stream:stream {NS}{pre} to='example.com' version='1.0'>".encode())
    read_until(raw, b"</stream:features>")
    raw.sendall(xenet.STARTTLS)
    read_until(raw, b"/>")
    t = ctx.wrap_socket(raw, server_hostname="example.com", session=session)
    t.sendall(f"<?xml version='1.0'?><stream:stream {NS} from='{frm}' to='example.com' version='1.0'>".encode())
    return t, read_until(t, b"</stream:features>")


def sasl_external(t, authzid):
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
              + base64.b64encode(authzid.encode()) + b"</auth>")
    return read_until(t, b"/>")


def part_tickets():
    bl_file = f"{tmp}/blocklist-tk.txt"
    with open(bl_file, "w") as f:
        f.write("spam.example\n")
    os.chmod(bl_file, 0o644)
    cfgp = f"{tmp}/edge-tk.json"
    cfg = edge_config(cfgp, blocklist={"file": bl_file})
    port = int(cfg["listen"]["starttls"][0].rsplit(":", 1)[1])
    daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon-tk.log")
    if not check("tickets.daemon_starts", daemon.wait_port(port), daemon.text()[-2000:]):
        return
    # Python keeps nothing by itself: the session is handed over explicitly
    # (what a partner's server does with the ticket it stored).
    ctx = client_ctx(TK_CRT, TK_KEY)
    t, feats = tls_stream(port, "tk.example", ctx)
    ok = sasl_external(t, "tk.example")
    check("tickets.full_handshake_external", b">EXTERNAL<" in feats and b"<success" in ok, (feats, ok))
    sess = t.session
    check("tickets.ticket_issued", sess is not None and sess.has_ticket and not t.session_reused, sess)
    t.close()

    t, feats = tls_stream(port, "tk.example", ctx, sess)
    check("tickets.resumed", t.session_reused, t.version())
    # Before issue 18's tickets: a resumed session had no certificate, so
    # no EXTERNAL (dialback only).
    check("tickets.resumed_session_offers_external", b">EXTERNAL<" in feats, feats)
    ok = sasl_external(t, "tk.example")
    check("tickets.resumed_session_external_success", b"<success" in ok, ok)
    resumed = [e for e in daemon.events() if e.get("event") == "tls.handshake" and e.get("resumed") == "yes"]
    check("tickets.log_says_resumed", resumed and resumed[-1].get("verify") == "ok", resumed)
    sess = t.session
    t.close()

    # The ticket of tk.example claims another domain: its certificate does
    # not name it, so no EXTERNAL for it, and an EXTERNAL tried is refused.
    t, feats = tls_stream(port, "other.example", ctx, sess)
    ok = sasl_external(t, "other.example")
    check("tickets.ticket_does_not_authenticate_another_domain",
          t.session_reused and b">EXTERNAL<" not in feats and b"<success" not in ok, (feats, ok))
    t.close()

    # A domain blocklisted after its ticket was issued: refused on the
    # resumed session as on any other ('from' only after TLS here, so the
    # refusal comes on the resumed stream).
    t, feats = tls_stream(port, "tk.example", ctx, sess, pre_from=False)
    sess = t.session
    t.close()

    def blocklist_write(text):
        with open(bl_file + ".new", "w") as f:
            f.write(text)
        os.chmod(bl_file + ".new", 0o644)
        n = len(events_of(daemon, "blocklist.reloaded"))
        os.rename(bl_file + ".new", bl_file)   # watched: no SIGHUP, which would
        end = time.time() + 10                  # load a new store (new ticket keys)
        while time.time() < end and len(events_of(daemon, "blocklist.reloaded")) == n:
            time.sleep(0.1)

    blocklist_write("spam.example\ntk.example\n")
    t, feats = tls_stream(port, "tk.example", ctx, sess, pre_from=False)
    ok = sasl_external(t, "tk.example") if b"<policy-violation" not in feats else b""
    check("tickets.blocklisted_domain_refused_on_resumed_session",
          t.session_reused and b"<policy-violation" in feats + ok and b"<success" not in ok,
          (t.session_reused, feats, ok))
    t.close()
    blocklist_write("spam.example\n")

    # A reload that changes nothing a ticket is judged by (SIGHUP, the same
    # files, no tls.ticket_key_file): the ticket issued before still resumes,
    # with its identity (the store's ticket keys come from the process's
    # secret, not from each new store).
    t, feats = tls_stream(port, "tk.example", ctx)
    sess = t.session
    t.close()
    reload_config(daemon, cfgp, cfg, "tls.certstore_swap")
    check("tickets.sighup_reloaded", len(events_of(daemon, "config.reload")) >= 1,
          daemon.text()[-1500:])
    t, feats = tls_stream(port, "tk.example", ctx, sess)
    ok = sasl_external(t, "tk.example")
    check("tickets.survive_sighup_without_key_file", t.session_reused, t.version())
    check("tickets.external_after_sighup", b">EXTERNAL<" in feats and b"<success" in ok, (feats, ok))
    t.close()

    # Trust anchors change (a reload with another CA bundle): the ticket is
    # refused, the full handshake judges the certificate by the new anchors.
    t, feats = tls_stream(port, "tk.example", ctx)
    sess = t.session
    t.close()
    ca2_crt, _ = xenet.selfsigned_cert(tmp, "ca2", "other trust anchor")
    cfg["tls"] = {"ca_file": ca2_crt}
    reload_config(daemon, cfgp, cfg, "tls.certstore_swap")
    t, feats = tls_stream(port, "tk.example", ctx, sess)
    check("tickets.refused_after_trust_anchors_change",
          not t.session_reused and b">EXTERNAL<" not in feats, (t.session_reused, feats))
    t.close()
    rc = daemon.stop(timeout=15)
    check("tickets.daemon_exits_cleanly", rc == 0, daemon.text()[-1500:])
    check("tickets.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
          and "runtime error" not in daemon.text(), daemon.text()[-3000:])

    # tls.ticket_key_file: a partner's ticket survives the edge's restart
    # (an upgrade): it resumes, and SASL EXTERNAL still works.
    keyf = f"{tmp}/ticket.key"
    with open(keyf, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(keyf, 0o600)
    give_to(keyf, "xmpp-edge")
    cfg["tls"] = {"ca_file": CA_CRT, "ticket_key_file": keyf}
    xenet.write_config(cfgp, cfg)
    for run_no in (1, 2):
        daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon-tk{run_no}.log")
        if not check(f"tickets.key_file_daemon_starts_{run_no}", daemon.wait_port(port), daemon.text()[-2000:]):
            return
        t, feats = tls_stream(port, "tk.example", ctx, None if run_no == 1 else sess)
        ok = sasl_external(t, "tk.example")
        if run_no == 2:
            check("tickets.key_file_ticket_survives_restart", t.session_reused, t.version())
            check("tickets.key_file_external_after_restart", b">EXTERNAL<" in feats and b"<success" in ok,
                  (feats, ok))
        sess = t.session
        t.close()
        rc = daemon.stop(timeout=15)
        check(f"tickets.key_file_daemon_exits_cleanly_{run_no}", rc == 0, daemon.text()[-1500:])


part_tickets()

# --- 2. real Prosody 0.12 with a serverAuth-only certificate ---------------------
PID = os.getpid()
INET, EDGE = f"xe-tinet-{PID}", f"xe-tedge-{PID}"
EDGE_IP, DNS_IP, PROSODY_IP = "192.0.2.2", "192.0.2.53", "192.0.2.10"
NETNS = []
PROCS = []


def sh(*args):
    return subprocess.run(args, check=True, capture_output=True)


def nspopen(ns, args, log, user=None):
    cmd = ["ip", "netns", "exec", ns] + (["runuser", "-u", user, "--"] if user else []) + args
    p = track(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    PROCS.append(p)
    return p


def nsrun(ns, *args, timeout=60):
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, timeout=timeout)


def ns_cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for ns in NETNS:
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def wait_tcp(ns, addr, port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        r = nsrun(ns, "bash", "-c", f"exec 3<>/dev/tcp/{addr}/{port}", timeout=5)
        if r.returncode == 0:
            return True
        time.sleep(0.3)
    return False


C2S_CLIENT = r"""
import base64, re, socket, sys, time
host, user, domain, to = sys.argv[1:5]
s = socket.create_connection((host, 5222), timeout=20)
def until(marker):
    buf = b""
    while marker not in buf:
        c = s.recv(65536)
        if not c:
            break
        buf += c
    return buf
hdr = f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>".encode()
s.sendall(hdr); until(b"</stream:features>")
s.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.b64encode(f"\0{user}\0secret".encode()) + b"</auth>")
if b"<success" not in until(b"/>"):
    print("AUTH FAILED"); sys.exit(1)
s.sendall(hdr); until(b"</stream:features>")
s.sendall(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>t</resource></bind></iq>"); until(b"</iq>")
s.sendall(b"<presence/>")
s.sendall(f"<message to='{to}' id='eku1' type='chat'><body>hello</body></message>".encode())
end = time.time() + 40
buf = b""
while time.time() < end and b"id='eku1'" not in buf and b'id="eku1"' not in buf:
    try:
        c = s.recv(65536)
    except socket.timeout:
        break
    if not c:
        break
    buf += c
m = re.search(rb"<message[^>]*eku1.*?</message>", buf, re.S)
print((m.group(0) if m else buf[-2000:]).decode(errors="replace"))
"""


def part_prosody():
    if os.geteuid() != 0 or shutil.which("prosody") is None:
        check("prosody.available", False, "needs root and Prosody (tests/trust/packages)")
        return
    for ns in (INET, EDGE):
        sh("ip", "netns", "add", ns)
        NETNS.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "tinet0", "netns", INET, "type", "veth", "peer", "name", "tedge0", "netns", EDGE)
    for ns, dev, addrs in [(INET, "tinet0", ["192.0.2.1/24", f"{DNS_IP}/24", f"{PROSODY_IP}/24"]),
                           (EDGE, "tedge0", [f"{EDGE_IP}/24"])]:
        for a in addrs:
            sh("ip", "-n", ns, "addr", "add", a, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/resolv.conf", "w") as f:
            f.write(f"nameserver {DNS_IP}\n")
    nspopen(INET, ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=53",
                   f"--listen-address={DNS_IP}", "--bind-interfaces", "--log-facility=-",
                   f"--pid-file={tmp}/dnsmasq-trust.pid", "--local=/example.com/", "--local=/example.net/",
                   "--srv-host=_xmpp-server._tcp.example.com,edge.example.com,5269,0,10",
                   f"--host-record=edge.example.com,{EDGE_IP}", f"--host-record=example.com,{EDGE_IP}",
                   "--srv-host=_xmpp-server._tcp.partner.example.net,xmpp.partner.example.net,5269,0,10",
                   f"--host-record=xmpp.partner.example.net,{PROSODY_IP}",
                   f"--host-record=partner.example.net,{PROSODY_IP}"],
            open(f"{tmp}/dnsmasq.log", "w"))

    # Prosody: serverAuth-only certificate, trusts the test CA, requires
    # certificate authentication on s2s (no dialback without a valid one).
    p_crt, p_key = leaf("prosody", "partner.example.net", "serverAuth")
    pdir = f"{tmp}/prosody"
    os.makedirs(f"{pdir}/data")
    shutil.copy(p_crt, f"{pdir}/cert.pem")
    shutil.copy(p_key, f"{pdir}/key.pem")
    shutil.copy(CA_CRT, f"{pdir}/ca.pem")
    with open(f"{pdir}/prosody.cfg.lua", "w") as f:
        f.write(f"""
pidfile = "{pdir}/prosody.pid"
data_path = "{pdir}/data"
interfaces = {{ "{PROSODY_IP}" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
log = {{ debug = "{pdir}/prosody.log" }}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "posix" }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = true
s2s_secure_auth = true
authentication = "internal_plain"
ssl = {{ certificate = "{pdir}/cert.pem", key = "{pdir}/key.pem", cafile = "{pdir}/ca.pem" }}
VirtualHost "partner.example.net"
""")
    pw = pwd.getpwnam("prosody")
    for root, _d, files in os.walk(pdir):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for fn in files:
            os.chown(os.path.join(root, fn), pw.pw_uid, pw.pw_gid)
    r = nsrun(INET, "runuser", "-u", "prosody", "--", "prosodyctl", "--config", f"{pdir}/prosody.cfg.lua",
              "register", "alice", "partner.example.net", "secret")
    check("prosody.register_alice", r.returncode == 0, r.stdout + r.stderr)
    nspopen(INET, ["prosody", "--config", f"{pdir}/prosody.cfg.lua", "-F"], open(f"{pdir}/stdout", "w"),
            user="prosody")

    # The edge: serverAuth-only certificate for example.com (EDGE_CRT);
    # partner.example.net must authenticate with SASL EXTERNAL, and we
    # must too (no dialback either way for this partner).
    cfgp = f"{tmp}/edge-ns.json"
    xenet.write_config(cfgp, {
        "state_dir": f"{tmp}/state-ns",
        "domains": [{"name": "example.com", "cert": EDGE_CRT, "key": EDGE_KEY}],
        "listen": {"starttls": [f"{EDGE_IP}:5269"], "direct_tls": []},
        "tls": {"ca_file": CA_CRT},
        "dns": {"servers": [f"{DNS_IP}:53"], "timeout_ms": 1000, "tries": 2, "negative_ttl_s": 0,
                "allow_private_targets": []},
        "limits": {"connect_timeout_ms": 8000},
        "policy": {"partners": {"partner.example.net": {"sasl_external": "required", "dialback": False,
                                                        "require_valid_certificate": True}}},
        "log": {"level": "debug", "format": "json"},
    })
    edge_log = f"{tmp}/edge-ns.log"
    nspopen(EDGE, [BIN, "run", "-c", cfgp], open(edge_log, "w"))
    up = wait_tcp(INET, EDGE_IP, 5269) and wait_tcp(EDGE, PROSODY_IP, 5222)
    if not check("prosody.edge_and_prosody_listening", up,
                 open(edge_log).read()[-1500:] + open(f"{pdir}/stdout").read()[-1500:]):
        return

    # Prosody -> edge: alice writes to bob@example.com.  No gateway: the
    # edge bounces, over its own outgoing stream to partner.example.net.
    with open(f"{tmp}/c2s.py", "w") as f:
        f.write(C2S_CLIENT)
    r = nsrun(INET, "/usr/bin/python3", f"{tmp}/c2s.py", PROSODY_IP, "alice", "partner.example.net",
              "bob@example.com", timeout=90)
    reply = r.stdout
    events = xenet.Daemon.events(type("L", (), {"text": lambda self: open(edge_log).read()})())
    auth_in = [e for e in events if e.get("event") == "s2s_in.auth" and e.get("method") == "sasl-external"]
    check("prosody.to_edge_sasl_external_accepted",
          any(e.get("domain") == "partner.example.net" and e.get("result") == "valid" for e in auth_in),
          (auth_in, reply[-500:]))
    tls_in = [e for e in events if e.get("event") == "tls.handshake" and e.get("role") == "external-server"]
    check("prosody.presented_server_auth_only_certificate_accepted",
          tls_in and all(e.get("verify") == "ok" for e in tls_in), tls_in)
    # The way back: our serverAuth-only certificate toward Prosody 0.12.
    out_auth = [e for e in events if e.get("event") == "s2s_out.auth" and e.get("remote") == "partner.example.net"]
    refused = [e for e in events if e.get("event") == "s2s_out.cert_refused"]
    print(f"# Prosody 0.12 and our serverAuth-only certificate: s2s_out.auth {out_auth}, "
          f"cert_refused {refused}", flush=True)
    # The edge's bounce (no gateway: service-unavailable), not Prosody's own
    # error about a stream it could not open.
    check("prosody.edge_to_prosody_bounce_delivered",
          ("type='error'" in reply or 'type="error"' in reply) and "service-unavailable" in reply, reply[-1500:] + open(edge_log).read()[-2000:])
    # Recorded: Prosody 0.12 (LuaSec with "lsec_ignore_purpose" in its
    # default verify options) accepts the serverAuth-only certificate and
    # SASL EXTERNAL succeeds; no TLS alert, so no fallback.
    check("prosody.edge_to_prosody_external_accepted_no_fallback",
          any(e.get("method") == "sasl-external" and e.get("result") == "valid" for e in out_auth) and not refused,
          (out_auth, refused))
    r = nsrun(EDGE, BIN, "probe", "partner.example.net", "-c", cfgp, timeout=90)
    print("# probe partner.example.net (Prosody 0.12):\n" + "\n".join("#   " + ln for ln in r.stdout.splitlines()),
          flush=True)
    check("prosody.probe_reports_external_accepted",
          r.returncode == 0 and "SASL EXTERNAL: accepted our certificate for example.com" in r.stdout
          and "authenticating with SASL EXTERNAL (it accepted our certificate)" in r.stdout, r.stdout + r.stderr)
    text = open(edge_log).read()
    check("prosody.no_sanitizer_report", "ERROR: AddressSanitizer" not in text and "runtime error" not in text,
          text[-2000:])


try:
    part_prosody()
finally:
    ns_cleanup()
finish()
