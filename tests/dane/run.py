# SPDX-License-Identifier: Apache-2.0
"""DANE (RFC 7673, RFC 6698) against a real validating resolver.

The bed, all on 127.0.0.1:
  - zones made and signed here: example.net signed with ldns-keygen /
    ldns-signzone (ECDSA P-256), example.org left unsigned;
  - Debian's unbound as the validating resolver xmpp-edge asks
    (dns.servers).  The zones are unbound's own auth-zones with
    for-upstream: yes, for-downstream: no: unbound uses them as if fetched
    from the zone's servers and validates them like any upstream data
    (found here: a record changed after signing comes back SERVFAIL,
    "signature crypto failed"; the suite checks that too).  The trust
    anchor is example.net's DS, given to unbound; there is no root anchor,
    so example.org is insecure (no AD bit).  Root hints name
    127.255.255.254: nothing is ever asked beyond loopback;
  - fake remote servers (tests/lib/fakepeer.py) with self-signed
    certificates (no CA the edge trusts), one per remote domain, and a fake
    gateway (the internal server) that sends stanzas out and receives the
    bounces.

Each remote domain's SRV record names a target whose TLSA record is the
case: a DANE-EE match (delivered although no CA vouches for the
certificate, require_valid_certificate on), a mismatch with dane required
(bounced, s2s_out.dane says why), the same domain with opportunistic (also
refused: published records must match), an unsigned zone (records
ignored: opportunistic delivers, required refuses "not DNSSEC-
authenticated"), a DANE-TA record on a private CA, and a TLSA answer whose
signature is broken (SERVFAIL: refused even opportunistically, RFC 7673
section 3.3).  `cert status` prints the TLSA records to publish, which are
compared with openssl's.
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402
import xenet  # noqa: E402
import fakepeer  # noqa: E402
from xenet import client_ctx, free_port, read_until, spki_pin, wait_port, work_dir  # noqa: E402

BIN = os.environ.get("XE_BIN", "out/dev/xmpp-edge")
tmp = work_dir("dane")
os.chmod(tmp, 0o755)
NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"

for tool in ("unbound", "ldns-keygen", "ldns-signzone", "openssl"):
    if shutil.which(tool) is None:
        check(f"harness.{tool}_installed", False, "install the packages in tests/dane/packages")
        finish()


def run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, check=True, cwd=cwd, timeout=60).stdout


def spki_sha256_hex(crt):
    pub = xenet.openssl("x509", "-pubkey", "-noout", "-in", crt)
    der = xenet.openssl("pkey", "-pubin", "-outform", "der", stdin=pub)
    return hashlib.sha256(der).hexdigest()


def cert_sha256_hex(crt):
    return hashlib.sha256(xenet.cert_der(crt)).hexdigest()


def ca(name, cn):
    crt, key = f"{tmp}/{name}.crt", f"{tmp}/{name}.key"
    xenet.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", crt, "-days", "30", "-subj", f"/CN={cn}",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    return crt, key


def ca_signed(name, domain, ca_crt, ca_key):
    """A leaf for domain issued by ca; the PEM file holds leaf then CA (the chain the peer sends)."""
    crt, key = f"{tmp}/{name}.crt", f"{tmp}/{name}.key"
    xenet.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", f"{tmp}/{name}.csr", "-subj", f"/CN={domain}")
    with open(f"{tmp}/{name}.ext", "w") as f:
        f.write(f"subjectAltName=DNS:{domain}\nextendedKeyUsage=serverAuth,clientAuth\n")
    xenet.openssl("x509", "-req", "-in", f"{tmp}/{name}.csr", "-CA", ca_crt, "-CAkey", ca_key,
                  "-CAcreateserial", "-out", f"{tmp}/{name}.leaf", "-days", "30", "-extfile", f"{tmp}/{name}.ext")
    with open(crt, "w") as f:
        f.write(open(f"{tmp}/{name}.leaf").read() + open(ca_crt).read())
    os.chmod(key, 0o600)
    return crt, key


# --- certificates ------------------------------------------------------------
SVC_UID = __import__("pwd").getpwnam("xmpp-edge").pw_uid if os.geteuid() == 0 else os.geteuid()
CRT, KEY = xenet.selfsigned_cert(tmp, "example", "example.com")      # the edge's domain
GW_CRT, GW_KEY = xenet.selfsigned_cert(tmp, "gateway", "gateway.internal")
EDGE_CRT, EDGE_KEY = xenet.selfsigned_cert(tmp, "edge-internal", "edge.internal")
UNRELATED_CA, _ = xenet.selfsigned_cert(tmp, "unrelated-ca", "unrelated.invalid")
if os.geteuid() == 0:
    os.chown(KEY, SVC_UID, SVC_UID)
    os.chown(EDGE_KEY, SVC_UID, SVC_UID)

# One fake remote server per case, each self-signed for its domain.
PEERS = {}
for dom in ("good.example.net", "bad.example.net", "opp.example.net", "plain.example.org",
            "plainreq.example.org", "bogus.example.net", "insecure.example.net"):
    c, k = xenet.selfsigned_cert(tmp, dom, dom)
    PEERS[dom] = (fakepeer.Peer(dom, c, k, "sasl", 0), c)
# Initiating servers (inbound DANE): self-signed, no listener of their own
# needed (their SRV target's port only names the TLSA record).
INBOUND = {}
for dom in ("in.example.net", "inreq.example.net", "inbad.example.net"):
    INBOUND[dom] = xenet.selfsigned_cert(tmp, dom, dom)
TA_CA, TA_CA_KEY = ca("dane-ta-ca", "DANE TA test CA")
c, k = ca_signed("ta.example.net", "ta.example.net", TA_CA, TA_CA_KEY)
PEERS["ta.example.net"] = (fakepeer.Peer("ta.example.net", c, k, "sasl", 0), c)

# --- the zones -----------------------------------------------------------------
SOA = "@ 300 IN SOA ns.{z}. admin.{z}. 1 3600 600 86400 300\n@ 300 IN NS ns.{z}.\nns 300 IN A 127.0.0.1\n"


def target(dom, tlsa):
    """SRV for dom -> xmpp.dom at its peer's port, A 127.0.0.1, and the TLSA record(s) given."""
    label = dom.split(".")[0]
    port = PEERS[dom][0].port
    out = (f"_xmpp-server._tcp.{label} 300 IN SRV 0 0 {port} xmpp.{label}\n"
           f"xmpp.{label} 300 IN A 127.0.0.1\n")
    for rec in tlsa:
        out += f"_{port}._tcp.xmpp.{label} 300 IN TLSA {rec}\n"
    return out


WRONG = "3 1 1 " + "00" * 32
net = "$ORIGIN example.net.\n" + SOA.format(z="example.net")
net += target("good.example.net", [WRONG.replace("00" * 32, "11" * 32), f"3 1 1 {spki_sha256_hex(PEERS['good.example.net'][1])}"])
net += target("bad.example.net", [WRONG])
net += target("opp.example.net", [WRONG])
net += target("ta.example.net", [f"2 0 1 {cert_sha256_hex(TA_CA)}"])
net += target("bogus.example.net", [f"3 1 1 {spki_sha256_hex(PEERS['bogus.example.net'][1])}"])
for dom, (c, _) in INBOUND.items():
    label = dom.split(".")[0]
    net += (f"_xmpp-server._tcp.{label} 300 IN SRV 0 0 5269 xmpp.{label}\n"
            f"xmpp.{label} 300 IN A 127.0.0.1\n"
            f"_5269._tcp.xmpp.{label} 300 IN TLSA "
            f"{WRONG if label == 'inbad' else '3 1 1 ' + spki_sha256_hex(c)}\n")
# Signed zone, but this SRV target's address lives in the unsigned zone:
# the address answer is insecure, so no TLSA query (RFC 7673 section 3.2).
port_insecure = PEERS["insecure.example.net"][0].port
net += (f"_xmpp-server._tcp.insecure 300 IN SRV 0 0 {port_insecure} xmpp-insecure.example.org.\n")
org = "$ORIGIN example.org.\n" + SOA.format(z="example.org")
org += target("plain.example.org", [WRONG])
org += target("plainreq.example.org", [f"3 1 1 {spki_sha256_hex(PEERS['plainreq.example.org'][1])}"])
org += "xmpp-insecure 300 IN A 127.0.0.1\n"
org += f"_{port_insecure}._tcp.xmpp-insecure 300 IN TLSA {WRONG}\n"
with open(f"{tmp}/example.net.zone", "w") as f:
    f.write(net)
with open(f"{tmp}/example.org.zone", "w") as f:
    f.write(org)
KSK = run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "example.net", cwd=tmp).decode().strip()
ZSK = run("ldns-keygen", "-a", "ECDSAP256SHA256", "example.net", cwd=tmp).decode().strip()
run("ldns-signzone", "-n", f"{tmp}/example.net.zone", f"{tmp}/{KSK}", f"{tmp}/{ZSK}", cwd=tmp)
# Break the signature of one RRset after signing: its RRSIG stays, its data
# changes, so a validator must call it bogus.
signed = open(f"{tmp}/example.net.zone.signed").read()
bogus_hash = spki_sha256_hex(PEERS["bogus.example.net"][1])
check("harness.bogus_record_signed", bogus_hash in signed)
with open(f"{tmp}/example.net.zone.signed", "w") as f:
    f.write(signed.replace(bogus_hash, "22" * 32))

# --- unbound ------------------------------------------------------------------------
UB_PORT = free_port()
with open(f"{tmp}/root.hints", "w") as f:
    f.write(".\t3600000\tIN\tNS\tnone.invalid.\nnone.invalid.\t3600000\tIN\tA\t127.255.255.254\n")
with open(f"{tmp}/unbound.conf", "w") as f:
    f.write(f"""server:
  interface: 127.0.0.1
  port: {UB_PORT}
  username: ""
  chroot: ""
  directory: "{tmp}"
  pidfile: "{tmp}/unbound.pid"
  use-syslog: no
  logfile: "{tmp}/unbound.log"
  verbosity: 1
  val-log-level: 2
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  root-hints: "{tmp}/root.hints"
  trust-anchor-file: "{tmp}/{KSK}.ds"
  module-config: "validator iterator"
""")
    for zone, zonefile in (("example.net", "example.net.zone.signed"), ("example.org", "example.org.zone")):
        f.write(f"auth-zone:\n  name: \"{zone}\"\n  zonefile: \"{tmp}/{zonefile}\"\n"
                "  for-downstream: no\n  for-upstream: yes\n  fallback-enabled: no\n")
ub = xenet.track(subprocess.Popen(["unbound", "-d", "-c", f"{tmp}/unbound.conf"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
end = time.time() + 10
ub_up = False
while time.time() < end and not ub_up:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", UB_PORT))
        s.close()
        ub_up = True
    except OSError:
        time.sleep(0.1)
check("harness.unbound_started", ub_up, open(f"{tmp}/unbound.log").read()[-1500:] if os.path.exists(f"{tmp}/unbound.log") else "")
if not ub_up:
    finish()

# --- the edge -------------------------------------------------------------------------
port, iport = free_port(), free_port()
GW_PEER = fakepeer.Peer("example.com", GW_CRT, GW_KEY, "gateway", iport, client_ca=EDGE_CRT,
                        verify_cert=GW_CRT, verify_key=GW_KEY)
partners = {
    "good.example.net": {"dane": "opportunistic", "require_valid_certificate": True},
    "bad.example.net": {"dane": "required"},
    "opp.example.net": {"dane": "opportunistic"},
    "ta.example.net": {"dane": "required", "require_valid_certificate": True},
    "plain.example.org": {"dane": "opportunistic"},
    "plainreq.example.org": {"dane": "required"},
    "bogus.example.net": {"dane": "opportunistic"},
    "insecure.example.net": {"dane": "required"},
    "in.example.net": {"dane": "opportunistic"},
    "inreq.example.net": {"dane": "required"},
    "inbad.example.net": {"dane": "required"},
}
cfg = {
    "state_dir": f"{tmp}/state",
    "domains": [{"name": "example.com", "cert": CRT, "key": KEY}],
    "listen": {"starttls": [f"127.0.0.1:{port}"], "direct_tls": [], "internal": [f"127.0.0.1:{iport}"]},
    "tls": {"ca_file": UNRELATED_CA},
    "log": {"format": "json", "level": "debug"},
    "dns": {"servers": [f"127.0.0.1:{UB_PORT}"], "allow_private_targets": ["127.0.0.0/8"]},
    "gateway": {"address": f"127.0.0.1:{GW_PEER.port}", "pins": [spki_pin(GW_CRT)],
                "cert": EDGE_CRT, "key": EDGE_KEY},
    "policy": {"partners": partners},
}
CFG = f"{tmp}/edge.json"
if os.environ.get("DANE_TEST_WITHOUT_KEYS"):
    # For running this suite against a binary without the `dane` key
    # (before/after comparisons): the same bed, the policy without it.
    for p in partners.values():
        p.pop("dane", None)
xenet.write_config(CFG, cfg)
chk = subprocess.run([BIN, "check", "-c", CFG], capture_output=True, text=True, timeout=30)
check("config.dane_keys_accepted", chk.returncode == 0, chk.stdout + chk.stderr)
bad_cfg = json.loads(json.dumps(cfg))
bad_cfg["policy"]["partners"]["bad.example.net"]["connect"] = "127.0.0.1:1"
xenet.write_config(f"{tmp}/bad.json", bad_cfg)
chk = subprocess.run([BIN, "check", "-c", f"{tmp}/bad.json"], capture_output=True, text=True, timeout=30)
check("config.dane_required_with_connect_refused",
      chk.returncode != 0 and "bad.example.net.dane" in chk.stderr and "needs DNS discovery" in chk.stderr,
      chk.stdout + chk.stderr)
bad_cfg["policy"]["partners"]["bad.example.net"] = {"dane": "sometimes"}
xenet.write_config(f"{tmp}/bad.json", bad_cfg)
chk = subprocess.run([BIN, "check", "-c", f"{tmp}/bad.json"], capture_output=True, text=True, timeout=30)
check("config.dane_unknown_value_refused",
      chk.returncode != 0 and "bad.example.net.dane" in chk.stderr and "opportunistic" in chk.stderr,
      chk.stdout + chk.stderr)

d = xenet.Daemon(BIN, ["-c", CFG], f"{tmp}/edge.log")


def gateway_stream(to):
    """The gateway's stream into the edge (SASL EXTERNAL on the internal listener)."""
    t = client_ctx(GW_CRT, GW_KEY).wrap_socket(socket.create_connection(("127.0.0.1", iport), timeout=5),
                                               server_hostname="edge.internal")
    hdr = (f"<?xml version='1.0'?><stream:stream {NS} from='example.com' to='{to}' version='1.0'>").encode()
    t.sendall(hdr)
    read_until(t, b"</stream:features>")
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>ZXhhbXBsZS5jb20=</auth>")
    read_until(t, b"/>")
    t.sendall(hdr)
    read_until(t, b"<stream:features/>")
    return t


def send(dom, ident):
    t = gateway_stream(dom)
    t.sendall(f"<message from='alice@example.com/w' to='bob@{dom}' id='{ident}'><body>x</body></message>".encode())
    return t


def delivered(dom, ident, timeout=15):
    return [s for s in PEERS[dom][0].wait_stanzas(1, timeout=timeout) if f"id='{ident}'".encode() in s]


def bounced(ident, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        got = [s for s in GW_PEER.wait_stanzas(1, timeout=1) if f"id='{ident}'".encode() in s]
        if got:
            return got
    return []


def dane_events(dom):
    return [e for e in d.events() if e.get("event") == "s2s_out.dane" and e.get("remote") == dom]


if d.wait_port(port):
    streams = [send(dom, f"m-{dom}") for dom in partners]

    got = delivered("good.example.net", "m-good.example.net")
    ev = dane_events("good.example.net")
    check("out.dane_ee_match_delivered_without_ca", len(got) == 1, (ev, PEERS["good.example.net"][0].log))
    check("out.dane_ee_match_logged",
          any(e.get("result") == "authenticated" and "DANE-EE record" in e.get("reason", "") for e in ev), ev)

    got = bounced("m-bad.example.net")
    ev = dane_events("bad.example.net")
    check("out.dane_mismatch_required_bounced",
          len(got) == 1 and b"<remote-server-" in got[0] and b"no TLSA record matches" in got[0], got)
    check("out.dane_mismatch_logged_refused",
          any(e.get("result") == "refused" and "no TLSA record matches" in e.get("reason", "") for e in ev), ev)
    check("out.dane_mismatch_nothing_delivered", PEERS["bad.example.net"][0].stanzas == [])

    got = bounced("m-opp.example.net")
    check("out.dane_mismatch_opportunistic_refused_too",
          len(got) == 1 and b"no TLSA record matches" in got[0], (got, dane_events("opp.example.net")))

    got = delivered("ta.example.net", "m-ta.example.net")
    ev = dane_events("ta.example.net")
    check("out.dane_ta_private_ca_delivered", len(got) == 1, (ev, PEERS["ta.example.net"][0].log))
    check("out.dane_ta_logged", any("DANE-TA record 0" in e.get("reason", "") for e in ev), ev)

    got = delivered("plain.example.org", "m-plain.example.org")
    ev = dane_events("plain.example.org")
    check("out.unsigned_zone_tlsa_ignored_opportunistic", len(got) == 1,
          (ev, PEERS["plain.example.org"][0].log))
    check("out.unsigned_zone_logged_not_applicable",
          any(e.get("result") == "not-applicable" and "not DNSSEC-authenticated" in e.get("reason", "")
              for e in ev), ev)

    got = bounced("m-plainreq.example.org")
    check("out.unsigned_zone_required_bounced",
          len(got) == 1 and b"DANE required" in got[0] and b"not DNSSEC-authenticated" in got[0],
          (got, dane_events("plainreq.example.org")))
    check("out.unsigned_zone_required_nothing_delivered", PEERS["plainreq.example.org"][0].stanzas == [])

    got = bounced("m-bogus.example.net")
    check("out.bogus_tlsa_refused_even_opportunistic",
          len(got) == 1 and b"TLSA lookup" in got[0] and b"failed" in got[0],
          (got, dane_events("bogus.example.net")))
    ub_log = open(f"{tmp}/unbound.log").read()
    check("harness.unbound_validated_auth_zone_data",
          "validation failure <_" in ub_log and PEERS["bogus.example.net"][0].stanzas == [], ub_log[-1500:])

    got = bounced("m-insecure.example.net")
    check("out.insecure_address_no_tlsa_query",
          len(got) == 1 and b"not DNSSEC-authenticated" in got[0], (got, dane_events("insecure.example.net")))
    check("out.insecure_address_tlsa_never_asked",
          not any(e.get("event") == "dns.query" and e.get("type") == "TLSA" and "xmpp-insecure" in e.get("name", "")
                  for e in d.events()),
          [e for e in d.events() if e.get("type") == "TLSA"])
    for t in streams:
        t.close()

    # Inbound: the initiating server presents a self-signed certificate;
    # its TLSA record makes SASL EXTERNAL possible.
    def inbound(dom, crt, key):
        hdr = (f"<?xml version='1.0'?><stream:stream {NS} from='{dom}' to='example.com' "
               f"version='1.0'>").encode()
        t, _, _ = xenet.starttls(port, hdr, "example.com", client_ctx(crt, key))
        t.sendall(hdr)
        feats = read_until(t, b"</stream:features>", timeout=15)
        return t, feats
    EXTERNAL = b"<mechanism>EXTERNAL</mechanism>"
    t, feats = inbound("in.example.net", *INBOUND["in.example.net"])
    check("in.dane_match_offers_sasl_external", EXTERNAL in feats, feats)
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>aW4uZXhhbXBsZS5uZXQ=</auth>")
    got = read_until(t, b"/>")
    check("in.dane_match_sasl_external_succeeds", b"<success" in got, got)
    t.close()
    t, feats = inbound("inreq.example.net", *INBOUND["inreq.example.net"])
    check("in.dane_required_match_offers_sasl_external", EXTERNAL in feats, feats)
    t.close()
    t, feats = inbound("inbad.example.net", *INBOUND["inbad.example.net"])
    check("in.dane_required_mismatch_refused",
          b"<policy-violation " in feats and EXTERNAL not in feats, feats)
    t.close()
    # The same self-signed key claiming a domain whose records do not name it.
    t, feats = inbound("opp.example.net", *INBOUND["in.example.net"])
    check("in.dane_mismatch_no_sasl_external", EXTERNAL not in feats and b"dialback" in feats, feats)
    t.close()
    t, feats = inbound("plain.example.org", *INBOUND["in.example.net"])
    check("in.unsigned_zone_no_sasl_external", EXTERNAL not in feats and b"dialback" in feats, feats)
    t.close()
    ev = [e for e in d.events() if e.get("event") == "s2s_in.dane"]
    check("in.dane_events_logged",
          any(e.get("domain") == "in.example.net" and e.get("result") == "authenticated" for e in ev)
          and any(e.get("domain") == "inbad.example.net" and e.get("result") == "refused" for e in ev), ev)

    # probe: the TLSA records, whether they validated, which matched.
    def probe(dom):
        r = subprocess.run([BIN, "probe", dom, "-c", CFG], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout
    good_port = PEERS["good.example.net"][0].port
    rc, out = probe("good.example.net")
    check("probe.shows_validated_tlsa_records",
          f"TLSA _{good_port}._tcp.xmpp.good.example.net: records, validated (AD)" in out
          and f"3 1 1 {spki_sha256_hex(PEERS['good.example.net'][1])} (DANE-EE)" in out, out)
    check("probe.shows_matching_record",
          rc == 0 and f"DANE: authenticated by [3 1 1 {spki_sha256_hex(PEERS['good.example.net'][1])}]" in out, out)
    rc, out = probe("bad.example.net")
    check("probe.mismatch_refused_verdict",
          rc == 1 and "DANE: refused: TLSA records of" in out and "would NOT work" in out, out)
    rc, out = probe("plain.example.org")
    check("probe.unsigned_zone_said",
          rc == 0 and "SRV and address records NOT DNSSEC-authenticated" in out, out)

    # cert status: the TLSA record to publish for the served key.
    st = subprocess.run([BIN, "cert", "status", "-c", CFG], capture_output=True, text=True, timeout=30)
    want = f"tlsa:       _{port}._tcp.example.com. IN TLSA 3 1 1 {spki_sha256_hex(CRT)}"
    check("cert_status.prints_tlsa_record", want in st.stdout and "tlsa next" not in st.stdout,
          st.stdout + st.stderr)
    # A certificate staged for the next rotation: its record is printed
    # too (publish both before `cert rotate`).
    NEXT_CRT, _ = xenet.selfsigned_cert(tmp, "example-next", "example.com")
    shutil.copy(NEXT_CRT, CRT + ".next")
    st = subprocess.run([BIN, "cert", "status", "-c", CFG, "--json"], capture_output=True, text=True, timeout=30)
    try:
        dom = [c for c in json.loads(st.stdout)["certificates"] if c["name"] == "example.com"][0]
    except (ValueError, KeyError, IndexError):
        dom = {}
    check("cert_status.prints_next_key_tlsa_record",
          dom.get("tlsa") == [want.split(None, 1)[1]] and
          dom.get("tlsa_next") == [f"_{port}._tcp.example.com. IN TLSA 3 1 1 {spki_sha256_hex(NEXT_CRT)}"],
          st.stdout + st.stderr)
    check("daemon.clean_exit", d.stop() == 0, d.text()[-3000:])
else:
    check("daemon.started", False, d.text()[-3000:])

ub.terminate()
ub.wait(10)
finish()
