#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Trust at the boundary (issue 19): certificates without clientAuth.

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
    reaction recorded by `probe` and by the daemon's own outgoing stream.

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
    rc = daemon.stop(timeout=15)
    check("loopback.daemon_exits_cleanly", rc == 0, daemon.text()[-1500:])
    check("loopback.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
          and "runtime error" not in daemon.text(), daemon.text()[-3000:])


part_loopback()
finish()
