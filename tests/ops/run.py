#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Operations suite: `status` (readable and --json, with the per-stream
list), `streams`, `drain`, the Prometheus endpoint (values that move with
traffic, hostile HTTP), `probe DOMAIN` against fake peers reached through a
partner's connect target and through SRV records of a dnsmasq started on
loopback, and the metrics.listen configuration rules.

Ports are picked free on 127.0.0.1 (never 5269/5270); the daemon's DNS is a
dead loopback port, the probe's a dnsmasq on 127.0.0.x.
Last line: "N passed, N failed".
"""
import base64
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from xecheck import check, finish  # noqa: E402
from fakepeer import Peer  # noqa: E402
from xenet import (Daemon, client_ctx, free_port, read_until, selfsigned_cert,  # noqa: E402
                   starttls, status_json, track, work_dir)
import xenet  # noqa: E402

ROOT = os.environ.get("XE_ROOT", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("XE_BIN", os.path.join(ROOT, "out/dev/xmpp-edge"))
tmp = work_dir("ops")  # removed at exit unless XE_KEEP is set
os.chmod(tmp, 0o755)
NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"


def gen_cert(name, domain):
    crt, key = selfsigned_cert(tmp, name, domain)
    if os.geteuid() == 0:
        svc = pwd.getpwnam("xmpp-edge")  # the default `user`; read after the drop
        os.chown(key, svc.pw_uid, svc.pw_gid)
    return crt, key


def run(*args, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


CRT, KEY = gen_cert("example", "example.com")
PEER_CRT, PEER_KEY = gen_cert("peer", "peer.example")
SRV_CRT, SRV_KEY = gen_cert("srv", "srv.example.net")
BAD_CRT, BAD_KEY = gen_cert("bad", "untrusted.example")
BUNDLE = f"{tmp}/bundle.pem"
with open(BUNDLE, "w") as f:
    for c in (CRT, PEER_CRT, SRV_CRT):
        f.write(open(c).read())
os.chmod(BUNDLE, 0o644)


def write_config(path, **over):
    cfg = {
        "state_dir": f"{tmp}/state-{os.path.basename(path)}",
        "domains": [{"name": "example.com", "cert": CRT, "key": KEY}],
        "listen": {"starttls": [f"127.0.0.1:{free_port()}"], "direct_tls": []},
        "tls": {"ca_file": BUNDLE},
        "dns": {"servers": [f"127.0.0.1:{free_port()}"], "timeout_ms": 200, "tries": 1},
        "log": {"format": "json"},
    }
    return xenet.write_config(path, cfg, **over)


# --- 1. configuration: metrics.listen ------------------------------------------
cfgp = f"{tmp}/bad-metrics.json"
write_config(cfgp, metrics={"listen": "0.0.0.0:9269"})
r = run("check", "-c", cfgp)
check("config.metrics_non_loopback_refused",
      r.returncode == 1 and r.stderr.startswith(f"{cfgp}: metrics.listen: '0.0.0.0:9269' is not a loopback address"),
      r.stderr)
write_config(cfgp, metrics={"listen": "192.0.2.1:9269"})
r = run("check", "-c", cfgp)
check("config.metrics_public_v4_refused", r.returncode == 1 and "metrics.listen:" in r.stderr, r.stderr)
write_config(cfgp, metrics={"listen": "[::1]:9269"})
r = run("check", "-c", cfgp)
check("config.metrics_v6_loopback_accepted", r.returncode == 0, r.stderr)
write_config(cfgp, metrics={"listen": "127.0.0.2:9269"})
r = run("check", "-c", cfgp)
check("config.metrics_127_8_accepted", r.returncode == 0, r.stderr)
# (The README reference is checked by tests/config.)
r = run("help", "config")
check("config.help_lists_metrics_listen", "`metrics.listen`" in r.stdout, r.stdout[-500:])
r = run("help")
check("cli.help_documents_ops_commands",
      all(w in r.stdout for w in ("status [-c FILE | --socket PATH] [--json]", "streams", "drain", "probe DOMAIN")),
      r.stdout)

# --- 2. a daemon with traffic ------------------------------------------------------
PARTNER = Peer("peer.example", PEER_CRT, PEER_KEY, "sasl", 0)
MPORT = free_port()
cfgp = f"{tmp}/daemon.json"
cfg = write_config(cfgp, metrics={"listen": f"127.0.0.1:{MPORT}"},
                   policy={"partners": {"peer.example": {"connect": f"127.0.0.1:{PARTNER.port}"}}})
PORT = int(cfg["listen"]["starttls"][0].rsplit(":", 1)[1])
SOCK = f"{cfg['state_dir']}/control.sock"
daemon = Daemon(BIN, ["-c", cfgp], f"{tmp}/daemon.log")
up = daemon.wait_port(PORT) and daemon.wait_port(MPORT)
check("daemon.starts_with_metrics", up, daemon.text()[-2000:])


def scrape(path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{MPORT}{path}", timeout=5) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read().decode()


def metric(text, name, labels=None):
    """The value of one sample, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if labels is None or all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def exposition_ok(text):
    """Every sample's family has HELP and TYPE lines before it (0.0.4)."""
    typed, helped = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            typed[name] = typ
        elif line:
            name = re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            if name not in typed or name not in helped:
                return f"no HELP/TYPE before {line}"
            if typed[name] == "counter" and not name.endswith("_total"):
                return f"counter {name} without _total"
    return True


def inbound_sasl_stream():
    """A remote server peer.example: STARTTLS, its certificate, SASL EXTERNAL."""
    hdr = f"<?xml version='1.0'?><stream:stream {NS} from='peer.example' to='example.com' version='1.0'>".encode()
    t, _, _ = starttls(PORT, hdr, "example.com", client_ctx(PEER_CRT, PEER_KEY))
    t.sendall(hdr)
    feats = read_until(t, b"</stream:features>")
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
              + base64.b64encode(b"peer.example") + b"</auth>")
    ok = read_until(t, b"/>")
    t.sendall(hdr)
    read_until(t, b"</stream:features>")  # post-SASL features: XEP-0198 <sm/>
    return t, feats, ok


if up:
    st, ctype, before = scrape()
    check("metrics.get_200_text_format_0_0_4", st == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8", ctype)
    check("metrics.help_and_type_for_every_family", exposition_ok(before) is True, exposition_ok(before))
    days = metric(before, "xmpp_edge_certificate_days_left", {"domain": "example.com"})
    check("metrics.certificate_days_left", days is not None and 28 <= days <= 30, days)
    check("metrics.streams_gauge_zero_at_start",
          metric(before, "xmpp_edge_streams", {"direction": "in", "kind": "remote"}) == 0, before[:800])

    t, feats, ok = inbound_sasl_stream()
    check("traffic.inbound_sasl_external_success", b"<success" in ok and b"EXTERNAL" in feats, (feats, ok))
    t.sendall(b"<message from='alice@peer.example' to='bob@example.com' id='m1' type='chat'><body>hi</body></message>")
    got = PARTNER.wait_stanzas(1, timeout=15)
    check("traffic.bounce_reaches_partner", got and b"service-unavailable" in got[0], got)
    time.sleep(0.3)

    doc = status_json(BIN, "--socket", SOCK)
    lst = doc.get("stream_list", [])
    ins = [s for s in lst if s.get("direction") == "in"]
    outs = [s for s in lst if s.get("direction") == "out"]
    s_in = ins[0] if ins else {}
    check("status.stream_list_inbound_pair_and_auth",
          s_in.get("pairs") == [{"local": "example.com", "remote": "peer.example", "auth": "sasl-external"}]
          and s_in.get("state") == "established" and s_in.get("kind") == "remote", s_in)
    check("status.stream_list_inbound_tls_peer_counts",
          (s_in.get("tls") or "").startswith("TLSv1.") and s_in.get("peer", "").startswith("127.0.0.1:")
          and s_in.get("stanzas_in") == 1 and s_in.get("bytes_in", 0) > 500 and s_in.get("bytes_out", 0) > 500
          and s_in.get("age_s", -1) >= 0, s_in)
    s_out = outs[0] if outs else {}
    check("status.stream_list_outbound",
          s_out.get("pairs") == [{"local": "example.com", "remote": "peer.example", "auth": "sasl-external"}]
          and s_out.get("state") == "established" and s_out.get("stanzas_out") == 1
          and s_out.get("queue_stanzas") == 0 and s_out.get("peer") == f"127.0.0.1:{PARTNER.port}"
          and "age_s" in s_out, s_out)
    # Issue 18: Nagle's algorithm meeting the peer's delayed ACK cost 40 ms
    # per stream set-up; both the accepted and the connected socket must
    # have TCP_NODELAY (read back from the kernel by the daemon).
    check("status.stream_list_tcp_nodelay_in_and_out",
          s_in.get("nodelay") is True and s_out.get("nodelay") is True, (s_in, s_out))
    check("status.json_keeps_old_keys", doc.get("status") == "running" and doc.get("streams") == 1
          and doc.get("stanzas_bounced") == 1, doc)
    r = run("status", "--socket", SOCK)
    text = r.stdout
    row = [ln for ln in text.splitlines() if ln.startswith("in ") and "peer.example" in ln]
    check("status.readable_output",
          r.returncode == 0 and text.startswith("xmpp-edge ") and "listeners:  starttls 127.0.0.1:" in text
          and "gateway:    none" in text and "stanzas:    " in text and "streams (2):" in text
          and row and "sasl-external" in row[0] and "TLSv1." in row[0], text)
    check("status.readable_auth_counts", "in sasl-external valid 1" in text, text)
    r = run("streams", "-c", cfgp, "--json")
    sdoc = json.loads(r.stdout) if r.returncode == 0 else {}
    check("streams.command_json", len(sdoc.get("streams", [])) == 2, r.stdout + r.stderr)
    r = run("streams", "-c", cfgp)
    check("streams.command_table", r.returncode == 0 and "DIR KIND" in r.stdout and "peer.example" in r.stdout, r.stdout)

    # A dialback attempt for a domain only DNS could check: the daemon's DNS
    # is a dead port, so the lookup fails and the check ends in an error.
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} xmlns:db='jabber:server:dialback' "
           f"from='other.example' to='example.com' version='1.0'>").encode()
    t2, _, _ = starttls(PORT, hdr, "example.com")
    t2.sendall(hdr)
    read_until(t2, b"</stream:features>")
    t2.sendall(b"<db:result from='other.example' to='example.com'>abcdef</db:result>")
    ans = read_until(t2, b"</db:result>", timeout=10)
    check("traffic.dialback_unverifiable_without_dns", b"type='error'" in ans or b'type="error"' in ans, ans)
    t2.close()
    time.sleep(0.3)

    st, _, after = scrape()
    moved = {
        "auth_in_sasl_valid": metric(after, "xmpp_edge_auth_total",
                                     {"direction": "in", "method": "sasl-external", "result": "valid"}) == 1,
        "auth_out_sasl_valid": metric(after, "xmpp_edge_auth_total",
                                      {"direction": "out", "method": "sasl-external", "result": "valid"}) == 1,
        "auth_in_dialback_error": (metric(after, "xmpp_edge_auth_total",
                                          {"direction": "in", "method": "dialback", "result": "error"}) or 0) >= 1,
        "bounced": metric(after, "xmpp_edge_stanzas_bounced_total") == 1,
        "delivered": metric(after, "xmpp_edge_stanzas_delivered_total") == 1,
        "routed": metric(after, "xmpp_edge_stanzas_routed_total", None) is not None,
        "elements_in": metric(after, "xmpp_edge_elements_in_total") > metric(before, "xmpp_edge_elements_in_total"),
        "accepted": metric(after, "xmpp_edge_streams_accepted_total")
        - metric(before, "xmpp_edge_streams_accepted_total") == 2,
        "tls_in": metric(after, "xmpp_edge_tls_handshakes_total", {"direction": "in"}) == 2,
        "tls_out": metric(after, "xmpp_edge_tls_handshakes_total", {"direction": "out"}) == 1,
        "streams_in": metric(after, "xmpp_edge_streams", {"direction": "in", "kind": "remote"}) == 1,
        "streams_out": metric(after, "xmpp_edge_streams", {"direction": "out", "kind": "remote"}) == 1,
        "out_started": metric(after, "xmpp_edge_streams_out_started_total") == 1,
        "dns_lookups": metric(after, "xmpp_edge_dns_lookups_total") >= 1,
        "dns_failures": metric(after, "xmpp_edge_dns_lookup_failures_total") >= 1,
        "dialback_verify_error": metric(after, "xmpp_edge_dialback_verify_total", {"result": "error"}) >= 1,
        "stream_errors": metric(after, "xmpp_edge_stream_errors_sent_total") is not None,
        "reads_paused": metric(after, "xmpp_edge_reads_paused_total") == 0,
        "errors_not_bounced": metric(after, "xmpp_edge_errors_not_bounced_total") == 0,
    }
    for k, v in moved.items():
        check(f"metrics.after_traffic.{k}", v, [ln for ln in after.splitlines() if not ln.startswith("#")])

    # --- hostile or wrong HTTP: answered or dropped, never a crash ---------
    def http_raw(data, timeout=8):
        s = socket.create_connection(("127.0.0.1", MPORT), timeout=timeout)
        try:
            s.sendall(data)
        except OSError:
            pass
        out = b""
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                out += c
        except (socket.timeout, ConnectionResetError):
            out += b"<timeout>"
        s.close()
        return out
    check("http.404_other_path", http_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 404 "))
    out = http_raw(b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")
    check("http.405_post", out.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD" in out, out[:200])
    check("http.400_garbage", http_raw(b"\x00\x01\x02 garbage\r\n\r\n").startswith(b"HTTP/1.1 400 "))
    check("http.400_bad_version", http_raw(b"GET /metrics HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 400 "))
    out = http_raw(b"GET /metrics HTTP/1.1\r\n" + b"X-A: " + b"a" * 8000 + b"\r\n\r\n")
    check("http.431_oversized_request", out.startswith(b"HTTP/1.1 431 "), out[:100])
    out = http_raw(b"HEAD /metrics HTTP/1.0\n\n")
    check("http.head_no_body", out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"\r\n\r\n"), out[-50:])
    t0 = time.time()
    out = http_raw(b"GET /metr", timeout=10)
    check("http.slow_request_dropped", out == b"" and time.time() - t0 < 8, (out, time.time() - t0))
    many = [socket.create_connection(("127.0.0.1", MPORT), timeout=5) for _ in range(40)]
    time.sleep(0.3)
    for s in many:
        s.close()
    st, _, again = scrape("/metrics?x=1")
    check("http.survives_connection_flood_and_query", st == 200 and "xmpp_edge_build_info" in again)
    try:
        scrape("/nothing")
        check("http.urllib_404", False)
    except urllib.error.HTTPError as e:
        check("http.urllib_404", e.code == 404)

    # --- drain -------------------------------------------------------------
    r = run("drain", "-c", cfgp)
    check("drain.applied", r.returncode == 0 and "1 external listeners closed" in r.stdout, r.stdout + r.stderr)
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check("drain.listener_closed", refused)
    t.sendall(b"<message from='alice@peer.example' to='carol@example.com' id='m2'><body>2</body></message>")
    got = PARTNER.wait_stanzas(2, timeout=15)
    check("drain.live_stream_goes_on", len(got) == 2 and (b"id='m2'" in got[1] or b'id="m2"' in got[1]), got)
    doc = status_json(BIN, "--socket", SOCK)
    check("drain.status_says_draining", doc.get("draining") == 1 and doc.get("listeners") == [], doc.get("listeners"))
    r = run("status", "--socket", SOCK)
    check("drain.readable_status", "running (draining)" in r.stdout, r.stdout[:300])
    check("drain.metric", metric(scrape()[2], "xmpp_edge_draining") == 1)
    r = run("drain", "-c", cfgp)
    check("drain.twice_is_harmless", r.returncode == 0 and "0 external listeners closed" in r.stdout, r.stdout)
    t.close()
    rc = daemon.stop(timeout=15)
    check("daemon.exits_cleanly", rc == 0, daemon.text()[-1500:])
    check("daemon.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
          and "runtime error" not in daemon.text())

r = run("status", "--socket", f"{tmp}/nothing.sock")
check("status.no_daemon_exit_1", r.returncode == 1 and "no daemon answers" in r.stderr, r.stderr)
r = run("status", "--bogus")
check("status.usage_error_exit_2", r.returncode == 2, r.stderr)

# --- 3. probe -----------------------------------------------------------------------
# Through the partner's connect target (no DNS).
cfgp = f"{tmp}/probe.json"
write_config(cfgp, policy={"partners": {"peer.example": {"connect": f"127.0.0.1:{PARTNER.port}"},
                                        "strict.example": {"connect": f"127.0.0.1:{PARTNER.port}",
                                                           "require_valid_certificate": True},
                                        "blocked.example": {"allow": False}}})
r = run("probe", "peer.example", "-c", cfgp)
out = r.stdout
check("probe.connect_target_works", r.returncode == 0 and "(partner connect target, starttls)" in out and "verdict: federation with peer.example would work" in out, out + r.stderr)
check("probe.shows_chain", "subject CN=peer.example" in out and "issuer  CN=peer.example" in out and "valid " in out, out)
check("probe.identity_valid", "identity: valid for peer.example (RFC 6125, matched by DNS-ID)" in out, out)
check("probe.features", "STARTTLS offered, required" in out and "SASL EXTERNAL offered, dialback offered" in out, out)
check("probe.sasl_external_verdict", "authenticating with SASL EXTERNAL" in out, out)
r = run("probe", "strict.example", "-c", cfgp)
check("probe.require_valid_certificate_fails",
      r.returncode == 1 and "identity: NOT valid for strict.example" in r.stdout
      and "would NOT work" in r.stdout and "require_valid_certificate" in r.stdout.splitlines()[-1], r.stdout)
r = run("probe", "blocked.example", "-c", cfgp)
check("probe.policy_blocked", r.returncode == 1 and "policy does not allow it" in r.stdout, r.stdout)
r = run("probe", "peer.example", "-c", cfgp, "--from", "nothosted.example")
check("probe.from_must_be_hosted", r.returncode == 2 and "not a hosted domain" in r.stderr, r.stderr)

# Through SRV records of a dnsmasq on loopback.
DNSMASQ = shutil.which("dnsmasq")
if DNSMASQ is None:
    check("probe.dnsmasq_installed", False, "apt-get install dnsmasq-base")
else:
    DIRECT = Peer("srv.example.net", SRV_CRT, SRV_KEY, "gateway", 0, client_ca=CRT)
    STARTTLS = Peer("srv.example.net", SRV_CRT, SRV_KEY, "dialback", 0)
    dm, dns_server = xenet.dnsmasq_on_loopback(tmp, "probe", "example.net", [
        f"srv-host=_xmpp-server._tcp.srv.example.net,xmpp.srv.example.net,{STARTTLS.port},10,0",
        "host-record=xmpp.srv.example.net,127.0.0.1",
        f"srv-host=_xmpps-server._tcp.direct.example.net,x.direct.example.net,{DIRECT.port},5,0",
        f"srv-host=_xmpp-server._tcp.direct.example.net,xmpp.srv.example.net,{STARTTLS.port},20,0",
        "host-record=x.direct.example.net,127.0.0.1",
        f"srv-host=_xmpp-server._tcp.dead.example.net,xmpp.srv.example.net,{free_port()},10,0"], 53)
    # The peers are on loopback, which the address policy refuses for
    # DNS-derived targets unless dns.allow_private_targets lists it.
    cfgp_default = f"{tmp}/probe-dns-default.json"
    write_config(cfgp_default, dns={"servers": [dns_server], "timeout_ms": 500, "tries": 2})
    cfgp = f"{tmp}/probe-dns.json"
    write_config(cfgp, dns={"servers": [dns_server], "timeout_ms": 500, "tries": 2,
                            "allow_private_targets": ["127.0.0.0/8"]})
    for _ in range(50):
        r = run("resolve", "-c", cfgp, "srv.example.net")
        if r.returncode == 0:
            break
        time.sleep(0.1)
    r = run("probe", "srv.example.net", "-c", cfgp_default)
    check("probe.loopback_srv_target_refused_by_address_policy",
          r.returncode == 1 and "candidate 1:" not in r.stdout
          and "refused by the address policy" in r.stdout and "dns.allow_private_targets" in r.stdout,
          r.stdout + r.stderr)
    r = run("probe", "srv.example.net", "-c", cfgp)
    out = r.stdout
    check("probe.srv_starttls_dialback_works",
          r.returncode == 0 and f"127.0.0.1:{STARTTLS.port} (srv xmpp.srv.example.net, starttls)" in out
          and "authenticating with Server Dialback" in out and "SASL EXTERNAL not offered, dialback offered" in out,
          out + r.stderr)
    r = run("probe", "direct.example.net", "-c", cfgp)
    out = r.stdout
    # The certificate is for srv.example.net: TLS works, the name does not.
    check("probe.direct_tls_candidate_first",
          f"candidate 1: 127.0.0.1:{DIRECT.port} (srv x.direct.example.net, direct-tls)" in out
          and "identity: NOT valid for direct.example.net" in out, out + r.stderr)
    check("probe.every_candidate_tried", "candidate 2:" in out, out)
    check("probe.dialback_despite_name_mismatch", r.returncode == 0 and "certificate not valid for the domain" in out, out)
    r = run("probe", "norecords.example.net", "-c", cfgp)
    check("probe.no_records_fails_with_reason",
          r.returncode == 1 and "would NOT work: no server of norecords.example.net could be reached" in r.stdout,
          r.stdout + r.stderr)
    r = run("probe", "dead.example.net", "-c", cfgp)
    check("probe.unreachable_fails", r.returncode == 1 and "would NOT work" in r.stdout
          and ("refused" in r.stdout or "connect" in r.stdout), r.stdout)
    dm.terminate()
    dm.wait()

finish()
