#!/usr/bin/python3
"""Interop with real peers: Prosody (Debian), dnsmasq and a slixmpp client,
all inside a network namespace this test creates (nothing leaves it).

Inside the namespace, on its loopback:
  127.0.0.1:53        dnsmasq: SRV/A records for example.com and example.net
  127.0.0.2           xmpp-edge serving example.com (STARTTLS 5269, Direct TLS 5270)
  127.0.0.3           Prosody serving example.net (c2s 5222, s2s 5269, s2s Direct TLS 5270)
  127.0.0.4           ejabberd serving example.org (c2s 5222, s2s 5269)
A test CA signs both servers' certificates; each trusts it.

Checks:
  - xmpp-edge resolves example.net's candidates through dnsmasq (`resolve`);
  - Prosody, federating to example.com, finds xmpp-edge by SRV, negotiates
    STARTTLS, verifies xmpp-edge's certificate and presents its own, which
    xmpp-edge verifies for example.net (RFC 6125);
  - Prosody authenticates example.net with SASL EXTERNAL (its certificate)
    and chat.example.net with dialback, which xmpp-edge verifies with the
    authoritative server it finds through dnsmasq (XEP-0220 §2.3); both
    over bidirectional streams (XEP-0288);
  - a message from a slixmpp user to example.com, which this build cannot
    route to a gateway, comes back to the sender as <service-unavailable/>
    from xmpp-edge over that stream: never lost silently;
  - ejabberd (no XEP-0288) is refused authentication before any stanza
    flows, and its user gets the message back from ejabberd itself;
  - the same with ejabberd for example.org;
  - `probe gateway` against Prosody's Direct TLS s2s port, pinned by
    Prosody's SPKI: accepted with the right pin, refused with a wrong one.
Last line: "N passed, N failed".
"""
import base64
import hashlib
import json
import pwd
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402
import time

BIN = os.path.abspath(os.environ.get("XE_BIN", "out/dev/xmpp-edge"))
NS = f"xe-interop-{os.getpid()}"
procs = []



def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


def nsrun(*args, **kw):
    return subprocess.run(["ip", "netns", "exec", NS, *args], capture_output=True, text=True, **kw)


def nspopen(args, log, user=None):
    cmd = ["ip", "netns", "exec", NS]
    if user:
        cmd += ["runuser", "-u", user, "--"]
    p = subprocess.Popen(cmd + args, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    pids = subprocess.run(["ip", "netns", "pids", NS], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    shutil.rmtree(f"/etc/netns/{NS}", ignore_errors=True)


if os.geteuid() != 0 or shutil.which("prosody") is None:
    print("interop: needs root and Debian's prosody (tests/interop/packages)")
    print("0 passed, 1 failed")
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="xe-interop-")
os.chmod(tmp, 0o755)
try:
    # --- namespace, DNS ------------------------------------------------------
    sh("ip", "netns", "add", NS)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
    os.makedirs(f"/etc/netns/{NS}", exist_ok=True)
    with open(f"/etc/netns/{NS}/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.1\n")
    dns_log = open(f"{tmp}/dnsmasq.log", "w")
    nspopen(["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=53",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--log-queries",
             "--log-facility=-", f"--pid-file={tmp}/dnsmasq.pid",
             "--srv-host=_xmpp-server._tcp.example.com,edge.example.com,5269,0,10",
             "--srv-host=_xmpps-server._tcp.example.com,edge.example.com,5270,0,10",
             "--srv-host=_xmpp-server._tcp.example.net,xmpp.example.net,5269,0,10",
             "--srv-host=_xmpps-server._tcp.example.net,xmpp.example.net,5270,0,10",
             "--host-record=edge.example.com,127.0.0.2", "--host-record=xmpp.example.net,127.0.0.3",
             "--host-record=example.net,127.0.0.3",
             "--srv-host=_xmpp-server._tcp.chat.example.net,xmpp.example.net,5269,0,10",
             "--srv-host=_xmpp-server._tcp.example.org,xmpp.example.org,5269,0,10",
             "--host-record=xmpp.example.org,127.0.0.4"], dns_log)

    # --- certificates: one test CA, both servers -----------------------------
    def openssl(*a):
        sh("openssl", *a)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{tmp}/ca.key", "-out", f"{tmp}/ca.crt", "-days", "30", "-subj", "/CN=xmpp-edge interop CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")

    def leaf(name, domain, owner=None, extra_names=()):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{tmp}/{name}.key", "-out", f"{tmp}/{name}.csr", "-subj", f"/CN={domain}")
        ext = f"{tmp}/{name}.ext"
        with open(ext, "w") as f:
            sans = ",".join(f"DNS:{d}" for d in (domain, *extra_names))
            f.write(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl("x509", "-req", "-in", f"{tmp}/{name}.csr", "-CA", f"{tmp}/ca.crt", "-CAkey", f"{tmp}/ca.key",
                "-CAcreateserial", "-out", f"{tmp}/{name}.crt", "-days", "30", "-extfile", ext)
        os.chmod(f"{tmp}/{name}.key", 0o600)
        if owner:
            pw = pwd.getpwnam(owner)
            os.chown(f"{tmp}/{name}.key", pw.pw_uid, pw.pw_gid)
        return f"{tmp}/{name}.crt", f"{tmp}/{name}.key"

    EDGE_CRT, EDGE_KEY = leaf("edge", "example.com", "nobody")
    PROS_CRT, PROS_KEY = leaf("prosody", "example.net", "prosody", ("chat.example.net",))
    ROGUE_CRT, _ = leaf("rogue", "example.net")
    EJ_CRT, EJ_KEY = leaf("ejabberd", "example.org", "ejabberd")

    # --- xmpp-edge -----------------------------------------------------------
    cfg = {
        "state_dir": f"{tmp}/edge-state",
        "domains": [{"name": "example.com", "cert": EDGE_CRT, "key": EDGE_KEY}],
        "listen": {"starttls": ["127.0.0.2:5269"], "direct_tls": ["127.0.0.2:5270"]},
        "tls": {"ca_file": f"{tmp}/ca.crt"},
        "dns": {"servers": ["127.0.0.1:53"]},
        # example.net (Prosody) may use its certificate; chat.example.net
        # (Prosody) and example.org (ejabberd) must use dialback, so both
        # methods are exercised.
        "policy": {"partners": {"example.org": {"auth": "dialback"},
                                "chat.example.net": {"auth": "dialback"}}},
        "log": {"level": "debug", "format": "json"},
    }
    with open(f"{tmp}/edge.json", "w") as f:
        json.dump(cfg, f)
    edge_log_path = f"{tmp}/edge.log"

    def edge_events():
        """xmpp-edge's log so far, as event dicts."""
        out = []
        for line in open(edge_log_path):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    edge = nspopen([BIN, "run", "-c", f"{tmp}/edge.json"], open(edge_log_path, "w"))

    # --- Prosody -------------------------------------------------------------
    pdir = f"{tmp}/prosody"
    os.makedirs(f"{pdir}/data")
    with open(f"{pdir}/prosody.cfg.lua", "w") as f:
        f.write(f"""
pidfile = "{pdir}/prosody.pid"
data_path = "{pdir}/data"
interfaces = {{ "127.0.0.3" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
s2s_direct_tls_ports = {{ 5270 }}
log = {{ debug = "{pdir}/prosody.log" }}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "ping", "posix", "s2s_bidi" }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = true
s2s_secure_auth = true
authentication = "internal_plain"
ssl = {{ certificate = "{PROS_CRT}", key = "{PROS_KEY}", cafile = "{tmp}/ca.crt" }}
VirtualHost "example.net"
VirtualHost "chat.example.net"
""")
    for root, dirs, files in os.walk(pdir):
        shutil.chown(root, "prosody", "prosody")
        for fn in files:
            shutil.chown(os.path.join(root, fn), "prosody", "prosody")
    shutil.chown(PROS_CRT, "prosody", "prosody")
    r = nsrun("runuser", "-u", "prosody", "--", "prosodyctl", "--config", f"{pdir}/prosody.cfg.lua",
              "register", "alice", "example.net", "secret")
    check("prosody.user_registered", r.returncode == 0, r.stdout + r.stderr)
    r = nsrun("runuser", "-u", "prosody", "--", "prosodyctl", "--config", f"{pdir}/prosody.cfg.lua",
              "register", "dave", "chat.example.net", "secret")
    check("prosody.second_user_registered", r.returncode == 0, r.stdout + r.stderr)
    prosody = nspopen(["prosody", "--config", f"{pdir}/prosody.cfg.lua", "-F"],
                      open(f"{tmp}/prosody.stdout", "w"), user="prosody")

    def wait_listen(addr, port, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            r = nsrun("python3", "-c", f"import socket; socket.create_connection(('{addr}', {port}), 1)")
            if r.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    check("edge.listening", wait_listen("127.0.0.2", 5269), open(edge_log_path).read()[-2000:])
    check("prosody.listening", wait_listen("127.0.0.3", 5222), open(f"{pdir}/prosody.log").read()[-2000:]
          if os.path.exists(f"{pdir}/prosody.log") else "")

    # --- 1. resolve through dnsmasq -------------------------------------------
    r = nsrun(BIN, "resolve", "--server", "127.0.0.1:53", "example.net")
    check("resolve.example_net_via_dnsmasq",
          r.returncode == 0 and "127.0.0.3" in r.stdout and "5270" in r.stdout and "5269" in r.stdout, r.stdout + r.stderr)

    # --- 2. Prosody federates to xmpp-edge; the message bounces --------------
    client = f"""
import asyncio, slixmpp, sys
class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__("alice@example.net/t", "secret")
        self.result = None
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message_error", self.err)
    async def start(self, ev):
        self.send_presence()
        self.send_message(mto="bob@example.com", mbody="hello over the edge", mtype="chat")
    def err(self, msg):
        self.result = msg["error"]["condition"] or "error"
        self.disconnect()
c = C()
c.use_ipv6 = False
c.enable_plaintext = True
c["feature_mechanisms"].unencrypted_plain = True
c.connect(("127.0.0.3", 5222), force_starttls=False, disable_starttls=True)
loop = asyncio.get_event_loop()
async def wait():
    for _ in range(300):
        if c.result:
            return
        await asyncio.sleep(0.1)
loop.run_until_complete(wait())
print("RESULT", c.result)
"""
    with open(f"{tmp}/client.py", "w") as f:
        f.write(client)
    r = nsrun("/usr/bin/python3", f"{tmp}/client.py", timeout=90)
    res = [l for l in r.stdout.splitlines() if l.startswith("RESULT")]
    # The message crossed an authenticated s2s link; this build cannot
    # route it to a gateway, so xmpp-edge bounced it and Prosody relayed
    # the error to its sender.
    check("bounce.sender_gets_service_unavailable", res and res[0] == "RESULT service-unavailable",
          r.stdout[-800:] + r.stderr[-1500:])

    time.sleep(0.5)
    events = edge_events()
    tls = [e for e in events if e.get("event") == "tls.handshake" and e.get("role") == "external-server"]
    check("prosody.starttls_with_edge", tls and tls[0].get("version") in ("TLSv1.2", "TLSv1.3"), tls)
    peer = [e for e in events if e.get("event") == "s2s_in.peer_certificate"]
    check("edge.verifies_prosody_certificate_for_example_net",
          peer and peer[0].get("result") == "ok" and peer[0].get("domain") == "example.net", peer)
    plog = open(f"{pdir}/prosody.log").read()
    check("prosody.verified_edge_certificate",
          "certificate chain validation result: valid" in plog
          and "certificate identity validation result: valid" in plog, plog[-1500:])
    auth = [e for e in events if e.get("event") == "s2s_in.auth" and e.get("domain") == "example.net"]
    check("prosody.authenticated_by_sasl_external",
          auth and auth[-1].get("method") == "sasl-external" and auth[-1].get("result") == "valid", auth)

    # Dialback: chat.example.net may not use its certificate here, so
    # Prosody sends a dialback key, which xmpp-edge checks with the
    # authoritative server it finds through DNS (dnsmasq), XEP-0220 §2.3.
    with open(f"{tmp}/client_dave.py", "w") as f:
        f.write(client.replace("alice@example.net/t", "dave@chat.example.net/t"))
    r = nsrun("/usr/bin/python3", f"{tmp}/client_dave.py", timeout=90)
    res = [l for l in r.stdout.splitlines() if l.startswith("RESULT")]
    check("dialback.sender_gets_service_unavailable", res and res[0] == "RESULT service-unavailable",
          r.stdout[-800:] + r.stderr[-1500:])
    time.sleep(0.5)
    events = edge_events()
    dbv = [e for e in events if e.get("event") == "dialback.verify" and e.get("remote") == "chat.example.net"]
    check("dialback.key_verified_with_authoritative_server_found_by_dns",
          dbv and dbv[0].get("result") == "valid" and dbv[0].get("peer", "").startswith("127.0.0.3:"), dbv)
    auth = [e for e in events if e.get("event") == "s2s_in.auth" and e.get("domain") == "chat.example.net"]
    check("dialback.prosody_authenticated_by_dialback",
          auth and auth[-1].get("method") == "dialback" and auth[-1].get("result") == "valid", auth)

    # --- 3. the same with ejabberd (example.org) ------------------------------
    if shutil.which("ejabberdctl"):
        ej = f"{tmp}/ejabberd"
        os.makedirs(f"{ej}/logs")
        os.makedirs(f"{ej}/db")
        with open(f"{ej}/ejabberd.pem", "w") as f:
            f.write(open(EJ_CRT).read() + open(EJ_KEY).read())
        with open(f"{ej}/ejabberd.yml", "w") as f:
            f.write(f"""
hosts: ["example.org"]
loglevel: info
certfiles: ["{ej}/ejabberd.pem"]
ca_file: "{tmp}/ca.crt"
listen:
  - port: 5222
    ip: "127.0.0.4"
    module: ejabberd_c2s
  - port: 5269
    ip: "127.0.0.4"
    module: ejabberd_s2s_in
s2s_use_starttls: required
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  s2s:
    allow: all
modules:
  mod_disco: {{}}
  mod_roster: {{}}
  mod_ping: {{}}
  mod_s2s_dialback: {{}}
""")
        shutil.copy("/etc/ejabberd/inetrc", f"{ej}/inetrc")
        with open(f"{ej}/ejabberdctl.cfg", "w") as f:
            f.write(f'ERLANG_NODE=ejabberd@localhost\nINET_DIST_INTERFACE=127.0.0.1\n'
                    f'EJABBERD_CONFIG_PATH={ej}/ejabberd.yml\nERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\n')
        for root, dirs, files in os.walk(ej):
            pw = pwd.getpwnam("ejabberd")
            os.chown(root, pw.pw_uid, pw.pw_gid)
            for fn in files:
                os.chown(os.path.join(root, fn), pw.pw_uid, pw.pw_gid)
        ctl = ["ejabberdctl", "--config-dir", ej, "--ctl-config", f"{ej}/ejabberdctl.cfg",
               "--config", f"{ej}/ejabberd.yml", "--logs", f"{ej}/logs", "--spool", f"{ej}/db",
               "--node", "ejabberd@localhost"]
        ejp = nspopen(ctl + ["foreground"], open(f"{ej}/stdout", "w"), user="ejabberd")
        up = wait_listen("127.0.0.4", 5222, timeout=60)
        check("ejabberd.listening", up, open(f"{ej}/stdout").read()[-1500:])
        if up:
            r = None
            for _ in range(20):
                r = nsrun("runuser", "-u", "ejabberd", "--", *ctl, "register", "carol", "example.org", "secret")
                if r.returncode == 0:
                    break
                time.sleep(1)
            check("ejabberd.user_registered", r.returncode == 0, r.stdout + r.stderr)
            ej_client = client.replace("alice@example.net/t", "carol@example.org/t").replace(
                "127.0.0.3", "127.0.0.4")
            with open(f"{tmp}/ej_client.py", "w") as f:
                f.write(ej_client)
            r = nsrun("/usr/bin/python3", f"{tmp}/ej_client.py", timeout=90)
            res = [l for l in r.stdout.splitlines() if l.startswith("RESULT")]
            # ejabberd does not do XEP-0288: xmpp-edge refuses to
            # authenticate a stream it could not bounce on, and ejabberd
            # returns the queued message to its sender itself.
            check("ejabberd.sender_gets_error_from_own_server", res and res[0] not in ("RESULT None",),
                  r.stdout[-800:] + r.stderr[-1500:])
            time.sleep(0.5)
            events = edge_events()
            peer = [e for e in events if e.get("event") == "s2s_in.peer_certificate"
                    and e.get("domain") == "example.org"]
            check("edge.verifies_ejabberd_certificate_for_example_org",
                  peer and peer[0].get("result") == "ok", peer or events[-5:])
            auth = [e for e in events if e.get("event") == "s2s_in.auth" and e.get("domain") == "example.org"]
            check("ejabberd.refused_without_bidirectional_stream",
                  auth and auth[-1].get("result") == "refused" and "XEP-0288" in auth[-1].get("reason", ""), auth)
            nsrun("runuser", "-u", "ejabberd", "--", *ctl, "stop")
            try:
                ejp.wait(20)
            except subprocess.TimeoutExpired:
                ejp.kill()
        # ejabberd's port mapper (epmd) outlives it: cleanup() ends every
        # process left in the namespace.
    else:
        check("ejabberd.installed", False, "install the packages in tests/interop/packages")

    # --- 4. probe gateway against Prosody's Direct TLS port, by pin ----------
    def pin(crt):
        pub = sh("openssl", "x509", "-pubkey", "-noout", "-in", crt).stdout
        der = sh("openssl", "pkey", "-pubin", "-outform", "der", input=pub).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    for name, pins, want in [("pinned", [pin(PROS_CRT)], 0), ("wrong_pin", [pin(ROGUE_CRT)], 1)]:
        g = dict(cfg)
        g["gateway"] = {"address": "127.0.0.3:5270", "server_name": "example.net", "pins": pins,
                        "cert": EDGE_CRT, "key": EDGE_KEY}
        with open(f"{tmp}/probe-{name}.json", "w") as f:
            json.dump(g, f)
        r = nsrun(BIN, "probe", "gateway", "-c", f"{tmp}/probe-{name}.json", timeout=60)
        check(f"probe_gateway.prosody_{name}", r.returncode == want, r.stdout + r.stderr)

    edge.send_signal(signal.SIGTERM)
    check("edge.clean_exit", edge.wait(15) == 0, open(edge_log_path).read()[-1500:])
finally:
    cleanup()

finish()
