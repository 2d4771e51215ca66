#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Federation through xmpp-edge, end to end, with real servers.

A little internet built from network namespaces and veth pairs (nothing
leaves them; documentation address ranges only):

  INET 192.0.2.0/24              EDGE                      LAN 198.51.100.0/24
  .53 dnsmasq, public DNS                                  .53 dnsmasq, internal DNS
  .10 Prosody: partner, badcert,  xmpp-edge                .10 Prosody: example.com, the
      lenient, denied              192.0.2.2:5269 STARTTLS     gateway (c2s for bob;
      .example.net                 192.0.2.2:5270 Direct TLS   s2s Direct TLS :5270);
  .20 ejabberd: other.example.org  198.51.100.2:5271           ejabberd in scenario 7
  .99 a tarpit (accepts TCP,         internal (pinned)     .20 Prosody: example.com with
      never answers)               198.51.100.2:5269           another key (a rogue box)
                                     internal_starttls
  inet0 <-------------------> edge0             edge1 <-------------------> lan0
  No routes beyond the two /24s, no forwarding: INET and LAN meet only in
  xmpp-edge.

One test CA signs every certificate.  Public DNS sends example.com to
xmpp-edge (192.0.2.2); internal DNS sends every remote domain to xmpp-edge:
most by an _xmpps-server SRV record to the internal listener
(198.51.100.2:5271, Direct TLS), other.example.org as open federation does
(README "Internal DNS"): no SRV record, only a wildcard A record
(*.other.example.org and other.example.org -> 198.51.100.2), so the gateway
falls back to port 5269 with STARTTLS: listen.internal_starttls.
slixmpp users: alice@partner.example.net, carol@other.example.org (ejabberd),
eve@badcert, lena@lenient, dan@denied (.example.net) in INET; bob@example.com
(gateway) and mallory@example.com (rogue) in LAN.

Scenarios (see the checks' names):
 1. messages both ways, 1000 each way, delivered in order: partner Prosody
    and ejabberd <-> the gateway; the gateway's streams arrive on
    listen.internal (SRV) and, for other.example.org, on
    listen.internal_starttls (wildcard A record), as the log shows;
 2. presence subscription and updates both ways, XEP-0199 pings across;
 3. a certificate not valid for its domain: refused when the domain's policy
    requires a valid certificate, accepted through dialback otherwise;
 4. a denied domain refused; a forged 'from' on an authenticated stream
    (raw TLS client, SASL EXTERNAL) answered with <invalid-from/>;
 5. the internal listeners refuse unpinned keys (openssl s_client, Direct
    TLS and -starttls xmpp-server, and a second Prosody holding another key,
    over SRV and over the wildcard A record);
 6. bounces: no public DNS -> remote-server-not-found, a silent server ->
    remote-server-timeout, gateway stopped -> an error to each sender;
    sent = delivered + bounced everywhere; no bounce for type='error';
 7. ejabberd 23.01 in the gateway's place (same address, same key), as the
    README's "Federation walkthrough" configures it: messages both ways, a ping,
    messages to other.example.org through the wildcard A record;
 8. XEP-0288 (run before 6): Prosody 0.12 with mod_s2s_bidi (192.0.2.30)
    serves inbound.example.net, which has no public DNS (xmpp-edge cannot
    dial it: a message to it bounces until it connects), and whose users
    then exchange messages both ways with the gateway's over its one
    stream; bidi.example.net on the same Prosody answers on the stream
    xmpp-edge opened; ejabberd 23.01 (no bidi) keeps two streams.
Everything started here is ended here (try/finally, atexit, SIGTERM/SIGHUP).
Last line: "N passed, N failed".  XE_BIN names the binary (default
out/dev/xmpp-edge); XE_KEEP=1 keeps the work directory (logs).
"""
import atexit
import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from xecheck import check, guarded  # noqa: E402
from xenetns import LineAgent, in_netns, netns_remove, ns_connect, test_ca, test_leaf, wait_listen  # noqa: E402

BIN = os.path.abspath(os.environ.get("XE_BIN", "out/dev/xmpp-edge"))
AGENT = os.path.join(HERE, "xmpp_agent.py")
PID = os.getpid()
INET, EDGE, LAN = f"xe-inet-{PID}", f"xe-edge-{PID}", f"xe-lan-{PID}"
NAMESPACES = (INET, EDGE, LAN)

# Addresses (RFC 5737 documentation ranges, only inside our namespaces).
EDGE_PUB, PUB_DNS, PARTNER, EJABBERD, TARPIT = "192.0.2.2", "192.0.2.53", "192.0.2.10", "192.0.2.20", "192.0.2.99"
BIDI = "192.0.2.30"             # Prosody with mod_s2s_bidi (scenario 8)
EDGE_INT, INT_DNS, GATEWAY, ROGUE = "198.51.100.2", "198.51.100.53", "198.51.100.10", "198.51.100.20"
INTERNAL_PORT = 5271            # listen.internal (Direct TLS), found by SRV
INTERNAL_STARTTLS_PORT = 5269   # listen.internal_starttls, found by a wildcard A record

# Remote domains the gateway may write to: internal DNS sends all of them
# to xmpp-edge, SRV_DOMAINS by SRV records to the internal listener,
# WILDCARD_DOMAINS (open federation) by a wildcard A record only.
PARTNER_HOSTS = ["partner.example.net", "badcert.example.net", "lenient.example.net", "denied.example.net"]
WILDCARD_DOMAINS = ["other.example.org"]
# Scenario 8 (XEP-0288): inbound.example.net has no public DNS at all
# (xmpp-edge cannot dial it), bidi.example.net has.
BIDI_HOSTS = ["inbound.example.net", "bidi.example.net"]
SRV_DOMAINS = PARTNER_HOSTS + ["rawclient.example.net", "nodns.example.org", "slow.example.org"] + BIDI_HOSTS

procs = []          # every Popen we start
tmp = None
_cleaned = False


# --- processes and namespaces ------------------------------------------------

def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


def nsrun(ns, *args, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, **kw)


def nspopen(ns, args, log, user=None, stderr=subprocess.STDOUT, **kw):
    """Starts args in namespace ns (as `user`), remembered for cleanup()."""
    cmd = ["ip", "netns", "exec", ns]
    if user:
        cmd += ["runuser", "-u", user, "--"]
    p = subprocess.Popen(cmd + args, stdout=log, stderr=stderr, **kw)
    procs.append(p)
    return p


def cleanup():
    """Ends every process we started and everything left in our namespaces
    (ejabberd's epmd outlives ejabberd), then deletes the namespaces."""
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    netns_remove(NAMESPACES)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through finally: cleanup()


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def setup_network():
    for ns in NAMESPACES:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "inet0", "netns", INET, "type", "veth", "peer", "name", "edge0", "netns", EDGE)
    sh("ip", "link", "add", "edge1", "netns", EDGE, "type", "veth", "peer", "name", "lan0", "netns", LAN)
    for ns, dev, addrs in [(INET, "inet0", ["192.0.2.1/24", f"{PUB_DNS}/24", f"{PARTNER}/24", f"{EJABBERD}/24",
                                            f"{TARPIT}/24", f"{BIDI}/24"]),
                           (EDGE, "edge0", [f"{EDGE_PUB}/24"]),
                           (EDGE, "edge1", [f"{EDGE_INT}/24"]),
                           (LAN, "lan0", ["198.51.100.1/24", f"{INT_DNS}/24", f"{GATEWAY}/24", f"{ROGUE}/24"])]:
        for a in addrs:
            sh("ip", "-n", ns, "addr", "add", a, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    # No default routes and no forwarding: INET and LAN reach only xmpp-edge.
    for ns, dns in [(INET, PUB_DNS), (EDGE, PUB_DNS), (LAN, INT_DNS)]:
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/resolv.conf", "w") as f:
            f.write(f"nameserver {dns}\n")


# --- certificates ------------------------------------------------------------

def openssl(*a, **kw):
    return sh("openssl", *a, **kw)


def make_ca():
    return test_ca(tmp, "xmpp-edge interop CA")


def leaf(name, names, owner=None):
    """A P-256 certificate from the test CA for DNS names `names`."""
    return test_leaf(tmp, name, names, owner)


def spki_pin(crt):
    pub = openssl("x509", "-pubkey", "-noout", "-in", crt).stdout
    der = openssl("pkey", "-pubin", "-outform", "der", input=pub).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for root, _dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for fn in files:
            os.chown(os.path.join(root, fn), pw.pw_uid, pw.pw_gid)


# --- xmpp-edge's configuration: the one place to adjust ----------------------

def edge_config(c):
    """The configuration under test (also shown in README "Federation
    walkthrough").  `c` holds the paths and the gateway's pin."""
    return {
        "state_dir": f"{tmp}/edge-state",
        "domains": [{"name": "example.com", "cert": c["edge_crt"], "key": c["edge_key"]}],
        "listen": {
            "starttls": [f"{EDGE_PUB}:5269"],
            "direct_tls": [f"{EDGE_PUB}:5270"],
            "internal": [f"{EDGE_INT}:{INTERNAL_PORT}"],
            "internal_starttls": [f"{EDGE_INT}:{INTERNAL_STARTTLS_PORT}"],
        },
        "gateway": {
            "address": f"{GATEWAY}:5270",          # the gateway Prosody's s2s_direct_tls_ports
            "server_name": "example.com",
            "pins": [c["gateway_pin"]],           # SPKI of the gateway's example.com key
            "cert": c["edge_gw_crt"],             # our client certificate toward the gateway
            "key": c["edge_gw_key"],
        },
        "tls": {"ca_file": c["ca"]},
        "dns": {"servers": [f"{PUB_DNS}:53"], "timeout_ms": 1000, "tries": 2, "negative_ttl_s": 0,
                "connect_timeout_ms": 2000},
        "limits": {"connect_timeout_ms": 4000, "handshake_timeout_ms": 15000},
        "policy": {
            "default": {"allow": True, "tls": "required", "sasl_external": "optional", "dialback": True,
                        "require_valid_certificate": False},
            "partners": {
                "partner.example.net": {"require_valid_certificate": True},
                "badcert.example.net": {"require_valid_certificate": True},
                "denied.example.net": {"allow": False},
            },
        },
        "log": {"level": "debug", "format": "json"},
    }


def known_config_keys():
    """Keys the binary documents (`help config`), e.g. policy.partners.DOMAIN.allow."""
    r = subprocess.run([BIN, "help", "config"], capture_output=True, text=True)
    return set(re.findall(r"^\| `([^`]+)` \|", r.stdout, re.M))


def drop_unknown_keys(cfg, known):
    """Removes keys this binary does not know (yet) so the rest can run;
    returns their dotted names.  A check reports them."""
    dropped = []

    def walk(node, path, pattern):
        for k in list(node):
            name = f"{path}.{k}" if path else k
            pat = f"{pattern}.{k}" if pattern else k
            if pattern == "policy.partners":      # k is a domain
                walk(node[k], name, "policy.partners.DOMAIN")
            elif pat not in known:
                dropped.append(pat)
                del node[k]
            elif isinstance(node[k], dict):
                walk(node[k], name, pat)

    walk(cfg, "", "")
    return sorted(set(dropped))


# --- DNS -----------------------------------------------------------------------

def dnsmasq(ns, addr, records, log):
    args = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=53",
            f"--listen-address={addr}", "--bind-interfaces", "--log-queries", "--log-facility=-",
            f"--pid-file={tmp}/dnsmasq-{ns}.pid",
            # Authoritative for the test zones: unknown names are NXDOMAIN.
            "--local=/example.com/", "--local=/example.net/", "--local=/example.org/"]
    return nspopen(ns, args + records, log)


def public_dns_records():
    # example.com: STARTTLS ranks before Direct TLS (SRV priority 0 < 10).
    # Prosody tries _xmpps-server first whatever the priority, ejabberd sorts
    # both lists by priority: so Prosody arrives over Direct TLS and ejabberd
    # over STARTTLS, and both external listeners serve a real server.
    r = ["--srv-host=_xmpp-server._tcp.example.com,edge.example.com,5269,0,10",
         "--srv-host=_xmpps-server._tcp.example.com,edge.example.com,5270,10,10",
         f"--host-record=edge.example.com,{EDGE_PUB}", f"--host-record=example.com,{EDGE_PUB}",
         f"--host-record=xmpp.example.net,{PARTNER}",
         "--srv-host=_xmpp-server._tcp.other.example.org,xmpp.example.org,5269,0,10",
         f"--host-record=xmpp.example.org,{EJABBERD}", f"--host-record=other.example.org,{EJABBERD}",
         # slow.example.org: a server that accepts TCP and never answers.
         "--srv-host=_xmpp-server._tcp.slow.example.org,tarpit.example.org,5269,0,10",
         f"--host-record=tarpit.example.org,{TARPIT}",
         # bidi.example.net (scenario 8); inbound.example.net: none.
         "--srv-host=_xmpp-server._tcp.bidi.example.net,xmpp-bidi.example.net,5269,0,10",
         f"--host-record=xmpp-bidi.example.net,{BIDI}", f"--host-record=bidi.example.net,{BIDI}"]
    for d in PARTNER_HOSTS:
        r += [f"--srv-host=_xmpp-server._tcp.{d},xmpp.example.net,5269,0,10",
              f"--srv-host=_xmpps-server._tcp.{d},xmpp.example.net,5270,0,10",
              f"--host-record={d},{PARTNER}"]
    # nodns.example.org and rawclient.example.net: no public records.
    return r


def internal_dns_records():
    # Prosody looks up _xmpps-server first and connects with Direct TLS.
    r = [f"--host-record=edge-internal.example.com,{EDGE_INT}"]
    for d in SRV_DOMAINS:
        r.append(f"--srv-host=_xmpps-server._tcp.{d},edge-internal.example.com,{INTERNAL_PORT},0,10")
    # Open federation: the domain and every name under it have an A record
    # (dnsmasq 2.90 --address is a wildcard); --local makes every other
    # type there NODATA, as a zone's "*.D IN A" would (without it dnsmasq
    # answers SRV and AAAA with NXDOMAIN under --local=/example.org/, or
    # REFUSED with no --local at all).  With no SRV record the gateway
    # connects to the A record's port 5269 with STARTTLS.
    for d in WILDCARD_DOMAINS:
        r += [f"--address=/{d}/{EDGE_INT}", f"--local=/{d}/"]
    return r


# --- XMPP servers --------------------------------------------------------------

def prosody_config(pdir, iface, hosts, ssl_global, secure_auth, extra_modules=()):
    """hosts: [(name, ssl dict or None)].  smacks (XEP-0198, s2s on by
    default) as Debian's own configuration enables it."""
    modules = ["roster", "saslauth", "tls", "dialback", "disco", "ping", "posix", "smacks", *extra_modules]
    def lua_ssl(s):
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in s.items()) + " }"
    vh = "\n".join(f'VirtualHost "{h}"' + (f"\n    ssl = {lua_ssl(s)}" if s else "") for h, s in hosts)
    return f"""
pidfile = "{pdir}/prosody.pid"
data_path = "{pdir}/data"
interfaces = {{ "{iface}" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
s2s_direct_tls_ports = {{ 5270 }}
log = {{ debug = "{pdir}/prosody.log" }}
modules_enabled = {{ {", ".join(f'"{m}"' for m in modules)} }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = true
s2s_secure_auth = {"true" if secure_auth else "false"}
authentication = "internal_plain"
ssl = {lua_ssl(ssl_global)}
{vh}
"""


def start_prosody(name, ns, iface, hosts, ssl_global, secure_auth, users, extra_modules=()):
    pdir = f"{tmp}/{name}"
    os.makedirs(f"{pdir}/data")
    cfg = f"{pdir}/prosody.cfg.lua"
    with open(cfg, "w") as f:
        f.write(prosody_config(pdir, iface, hosts, ssl_global, secure_auth, extra_modules))
    chown_tree(pdir, "prosody")
    for user, host in users:
        r = nsrun(ns, "runuser", "-u", "prosody", "--", "prosodyctl", "--config", cfg, "register", user, host, "secret")
        check(f"setup.{name}.register_{user}", r.returncode == 0, r.stdout + r.stderr)
    nspopen(ns, ["prosody", "--config", cfg, "-F"], open(f"{pdir}/stdout", "w"), user="prosody")
    return pdir


def start_ejabberd(name, ns, ip, host, crt, key, ca, s2s_listener):
    """A private ejabberd instance (NOTES: its own config dir, ctl config and
    node) serving `host` on `ip`: c2s on 5222 and the given s2s listener."""
    ej = f"{tmp}/{name}"
    os.makedirs(f"{ej}/logs")
    os.makedirs(f"{ej}/db")
    with open(f"{ej}/ejabberd.pem", "w") as f:
        f.write(open(crt).read() + open(key).read())
    with open(f"{ej}/ejabberd.yml", "w") as f:
        f.write(f"""
hosts: ["{host}"]
loglevel: info
certfiles: ["{ej}/ejabberd.pem"]
ca_file: "{ca}"
listen:
  - port: 5222
    ip: "{ip}"
    module: ejabberd_c2s
{s2s_listener}
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
    chown_tree(ej, "ejabberd")
    ctl = ["ejabberdctl", "--config-dir", ej, "--ctl-config", f"{ej}/ejabberdctl.cfg",
           "--config", f"{ej}/ejabberd.yml", "--logs", f"{ej}/logs", "--spool", f"{ej}/db",
           "--node", "ejabberd@localhost"]
    nspopen(ns, ctl + ["foreground"], open(f"{ej}/stdout", "w"), user="ejabberd")
    return ej, ctl


def ejabberd_register(ns, ctl, user, host, up):
    r = None
    for _ in range(30):
        r = nsrun(ns, "runuser", "-u", "ejabberd", "--", *ctl, "register", user, host, "secret")
        if r.returncode == 0 or not up:
            break
        time.sleep(1)
    return r


# --- clients -------------------------------------------------------------------

class Agent(LineAgent):
    """One xmpp_agent.py process in a namespace; its events, collected."""

    def __init__(self, ns, accounts, name):
        self.events = []
        super().__init__(nspopen(ns, ["/usr/bin/python3", AGENT, json.dumps(accounts)], subprocess.PIPE,
                                 stderr=open(f"{tmp}/agent-{name}.log", "w"), stdin=subprocess.PIPE, text=True),
                         open(f"{tmp}/agent-{name}.events", "w"))

    def on_line(self, line):
        try:
            self.events.append(json.loads(line))
        except ValueError:
            pass

    def select(self, pred):
        with self.cv:
            return [e for e in self.events if pred(e)]

    def wait(self, pred, count=1, timeout=15):
        """Waits until `count` events match; returns the matching events."""
        self.wait_until(lambda: sum(1 for e in self.events if pred(e)) >= count, timeout)
        return self.select(pred)


def msgs(to, prefix):
    return lambda e: e["ev"] == "message" and e["jid"] == to and (e.get("id") or "").startswith(prefix + "-")


def errors(sender, prefix):
    return lambda e: e["ev"] == "error" and e["jid"] == sender and (e.get("id") or "").startswith(prefix + "-")


def exchange(src_agent, src, dst_agent, dst, prefix, n, timeout):
    """Sends n messages src -> dst and waits until every one is either
    delivered or bounced.  Returns (delivered ids in order, bounce events)."""
    src_agent.cmd(op="send", jid=src, to=dst, prefix=prefix, count=n)
    return settle(src_agent, src, dst_agent, dst, prefix, n, timeout)


def settle(src_agent, src, dst_agent, dst, prefix, n, timeout):
    """exchange() for messages already sent."""
    end = time.time() + timeout
    while True:
        got = dst_agent.select(msgs(dst, prefix))
        bounced = src_agent.select(errors(src, prefix))
        if len(got) + len(bounced) >= n or time.time() > end:
            break
        time.sleep(0.1)
    return [e["id"] for e in got], bounced


def own_server_gave_up(e):
    """An error the sender's own server made because its s2s stream failed
    (Prosody's and ejabberd's texts), as opposed to a bounce relayed from
    xmpp-edge."""
    return re.match(r"(Server-to-server connection failed|Authentication failed|Could not authenticate)",
                    e.get("text") or "") is not None


def skip(names, why):
    for n in names:
        check(n, False, f"skipped: {why}")


def refusal(name, control_ok, cond, detail=""):
    """A negative check ("nothing got through") counts only when its
    positive control shows the same path works: with no xmpp-edge at all,
    nothing gets through either."""
    if not control_ok:
        return check(name, False, "skipped: its positive control failed, a refusal would prove nothing")
    return check(name, cond, detail)


def edge_events(path):
    out = []
    for line in open(path, errors="replace"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def edge_streams(events):
    """xmpp-edge's incoming streams, from its log: one list of events per
    s2s_in.accept (later events with that peer address), in order."""
    streams, current = [], {}
    for e in events:
        peer = e.get("peer")
        if e.get("event") == "s2s_in.accept":
            current[peer] = [e]
            streams.append(current[peer])
        elif peer in current:
            current[peer].append(e)
    return streams


def stream_on(stream, listener):
    return stream[0].get("listener") == listener


def gateway_stream_to(stream, domain):
    """The gateway's pinned stream toward `domain`: the TLS client
    certificate accepted, then authenticated by its pinned key."""
    return (any(e.get("event") == "s2s_in.tls" and e.get("client_certificate") == "ok" for e in stream)
            and any(e.get("event") == "s2s_in.auth" and e.get("domain") == "example.com" and e.get("to") == domain
                    and e.get("method") == "pinned-key" and e.get("result") == "valid" for e in stream))


def edge_stream_list(direction, remote):
    """xmpp-edge's live streams (`status --json`) of direction with a pair
    for remote, and the raw answer's end (for a failed check)."""
    st = subprocess.run([BIN, "status", "--json", "--socket", f"{tmp}/edge-state/control.sock"],
                        capture_output=True, text=True)
    try:
        streams = json.loads(st.stdout).get("stream_list", [])
    except ValueError:
        streams = []
    return ([x for x in streams if x.get("direction") == direction and
             any(p.get("remote") == remote for p in x.get("pairs", []))], st.stdout[-600:] + st.stderr)


def tail(path, n=1500):
    try:
        return open(path, errors="replace").read()[-n:]
    except OSError:
        return ""


# --- a raw s2s client (scenario 4) ---------------------------------------------

class RawS2S:
    """A minimal initiating server: STARTTLS, client certificate, SASL
    EXTERNAL; then whatever stanzas the test writes."""

    HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
              "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
              "from='{f}' to='{t}' version='1.0'>")

    def __init__(self, ns, addr, port, from_domain, crt, key, ca):
        """With crt=None: TLS without a client certificate and no SASL (a
        stream that only asks dialback questions)."""
        self.buf = b""
        self.from_domain = from_domain
        self.sock = ns_connect(ns, addr, port, 10)
        self.sock.settimeout(10)
        self.send(self.HEADER.format(f=from_domain, t="example.com"))
        self.read_features()
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.read_until(b"<proceed")
        self.buf = b""
        ctx = ssl.create_default_context(cafile=ca)
        if crt:
            ctx.load_cert_chain(crt, key)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="example.com")
        self.send(self.HEADER.format(f=from_domain, t="example.com"))
        feats = self.read_features()
        if not crt:
            return
        self.offered_external = b"EXTERNAL" in feats
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
                  + base64.b64encode(from_domain.encode()).decode() + "</auth>")
        self.sasl = self.read_until(b"success", b"failure")
        if b"<success" not in self.sasl:
            raise ConnectionError(b"SASL EXTERNAL refused: " + self.sasl[-300:])
        self.buf = b""
        self.send(self.HEADER.format(f=from_domain, t="example.com"))
        self.read_features()

    def read_features(self):
        buf = self.read_until(b"</stream:features>", b"<stream:features/>")
        self.buf = b""
        return buf

    def send(self, s):
        self.sock.sendall(s.encode())

    def read_until(self, *marks, timeout=10):
        end = time.time() + timeout
        while not any(m in self.buf for m in marks):
            if time.time() > end:
                raise TimeoutError(self.buf[-500:])
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise ConnectionError(b"closed: " + self.buf[-500:])
            self.buf += d
        return self.buf


# --- the test --------------------------------------------------------------------

def main():
    global tmp
    if os.geteuid() != 0 or shutil.which("prosody") is None or shutil.which("ejabberdctl") is None:
        print("interop: needs root, Prosody and ejabberd (tests/interop/packages)")
        print("0 passed, 1 failed")
        sys.exit(1)
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="xe-interop-")
    os.chmod(tmp, 0o755)
    # Run a private copy: the lead rebuilds XE_BIN while work lands.
    global BIN
    shutil.copy2(BIN, f"{tmp}/xmpp-edge")
    BIN = f"{tmp}/xmpp-edge"
    digest = hashlib.sha256(open(BIN, "rb").read()).hexdigest()[:16]
    ver = subprocess.run([BIN, "version"], capture_output=True, text=True).stdout.splitlines()
    print(f"# binary {os.environ.get('XE_BIN', 'out/dev/xmpp-edge')} sha256 {digest}: {ver[0] if ver else '?'}",
          flush=True)
    setup_network()

    # Certificates.  The gateway and the rogue box both hold example.com
    # certificates from the same CA; only the gateway's key is pinned.
    ca = make_ca()
    edge_crt, edge_key = leaf("edge", ["example.com", "edge.example.com"], "xmpp-edge")
    edge_gw_crt, edge_gw_key = leaf("edge-gw", ["edge-internal.example.com"], "xmpp-edge")
    gw_crt, gw_key = leaf("gateway", ["example.com"], "prosody")
    rogue_crt, rogue_key = leaf("rogue", ["example.com"], "prosody")
    partner_crt, partner_key = leaf("partner", ["partner.example.net"], "prosody")
    denied_crt, denied_key = leaf("denied", ["denied.example.net"], "prosody")
    wrong_crt, wrong_key = leaf("wrongname", ["wrongname.example.net"], "prosody")
    ej_crt, ej_key = leaf("ejabberd", ["other.example.org"], "ejabberd")
    raw_crt, raw_key = leaf("rawclient", ["rawclient.example.net"])
    bidi_crt, bidi_key = leaf("bidi", BIDI_HOSTS, "prosody")

    # DNS, xmpp-edge, the servers: all started at once (ejabberd is slow).
    dnsmasq(INET, PUB_DNS, public_dns_records(), open(f"{tmp}/dns-public.log", "w"))
    dnsmasq(LAN, INT_DNS, internal_dns_records(), open(f"{tmp}/dns-internal.log", "w"))

    cfg = edge_config({"ca": ca, "edge_crt": edge_crt, "edge_key": edge_key, "edge_gw_crt": edge_gw_crt,
                       "edge_gw_key": edge_gw_key, "gateway_pin": spki_pin(gw_crt)})
    dropped = drop_unknown_keys(cfg, known_config_keys())
    check("edge.config_keys_known_to_binary", not dropped, f"dropped so the rest can run: {dropped}")
    with open(f"{tmp}/edge.json", "w") as f:
        json.dump(cfg, f, indent=2)
    r = subprocess.run([BIN, "check", "-c", f"{tmp}/edge.json"], capture_output=True, text=True)
    check("edge.config_check", r.returncode == 0, r.stdout + r.stderr)
    edge_log = f"{tmp}/edge.log"
    edge = nspopen(EDGE, [BIN, "run", "-c", f"{tmp}/edge.json"], open(edge_log, "w"))

    ej_dir, ej_ctl = start_ejabberd("ejabberd", INET, EJABBERD, "other.example.org", ej_crt, ej_key, ca, f"""
  - port: 5269
    ip: "{EJABBERD}"
    module: ejabberd_s2s_in""")
    wrong = {"certificate": wrong_crt, "key": wrong_key, "cafile": ca}
    partner_dir = start_prosody(
        "partner", INET, PARTNER,
        [("partner.example.net", None), ("badcert.example.net", wrong), ("lenient.example.net", wrong),
         ("denied.example.net", {"certificate": denied_crt, "key": denied_key, "cafile": ca})],
        {"certificate": partner_crt, "key": partner_key, "cafile": ca}, True,
        [("alice", "partner.example.net"), ("eve", "badcert.example.net"), ("lena", "lenient.example.net"),
         ("dan", "denied.example.net")])
    # Prosody 0.12's own mod_s2s_bidi (XEP-0288), secure_auth: both of its
    # domains authenticate by certificate, inbound.example.net only ever
    # connects to us (scenario 8).
    bidi_dir = start_prosody("bidi", INET, BIDI, [(h, None) for h in BIDI_HOSTS],
                             {"certificate": bidi_crt, "key": bidi_key, "cafile": ca}, True,
                             [("carl", "inbound.example.net"), ("bea", "bidi.example.net")], ("s2s_bidi",))
    # The gateway accepts xmpp-edge's dialback for remote domains (a
    # certificate for partner.example.net cannot be had inside).
    gw_dir = start_prosody("gateway", LAN, GATEWAY, [("example.com", None)],
                           {"certificate": gw_crt, "key": gw_key, "cafile": ca}, False, [("bob", "example.com")])
    rogue_dir = start_prosody("rogue", LAN, ROGUE, [("example.com", None)],
                              {"certificate": rogue_crt, "key": rogue_key, "cafile": ca}, False,
                              [("mallory", "example.com")])
    # slow.example.org's server: the kernel completes the TCP handshake, no
    # one ever reads.
    tarpit = in_netns(INET, lambda: socket.create_server((TARPIT, 5269), backlog=64))

    check("setup.edge_listening", wait_listen(INET, EDGE_PUB, 5269) and wait_listen(LAN, EDGE_INT, INTERNAL_PORT)
          and wait_listen(LAN, EDGE_INT, INTERNAL_STARTTLS_PORT), tail(edge_log))
    check("setup.partner_prosody_listening", wait_listen(INET, PARTNER, 5222), tail(f"{partner_dir}/prosody.log"))
    check("setup.gateway_prosody_listening", wait_listen(LAN, GATEWAY, 5270), tail(f"{gw_dir}/prosody.log"))
    check("setup.rogue_prosody_listening", wait_listen(LAN, ROGUE, 5222), tail(f"{rogue_dir}/prosody.log"))
    check("setup.bidi_prosody_listening", wait_listen(INET, BIDI, 5222), tail(f"{bidi_dir}/prosody.log"))
    ej_up = wait_listen(INET, EJABBERD, 5222, timeout=90)
    check("setup.ejabberd_listening", ej_up, tail(f"{ej_dir}/stdout"))
    r = ejabberd_register(INET, ej_ctl, "carol", "other.example.org", ej_up)
    check("setup.ejabberd.register_carol", r.returncode == 0, r.stdout + r.stderr)

    ALICE, CAROL, EVE, LENA, DAN = ("alice@partner.example.net", "carol@other.example.org",
                                    "eve@badcert.example.net", "lena@lenient.example.net", "dan@denied.example.net")
    BOB, MALLORY = "bob@example.com", "mallory@example.com"

    def acct(jid, host):
        return {"jid": jid + "/agent", "password": "secret", "host": host}

    inet = Agent(INET, [acct(ALICE, PARTNER), acct(CAROL, EJABBERD), acct(EVE, PARTNER), acct(LENA, PARTNER),
                        acct(DAN, PARTNER)], "inet")
    lan = Agent(LAN, [acct(BOB, GATEWAY), acct(MALLORY, ROGUE)], "lan")
    ready = inet.wait(lambda e: e["ev"] == "ready", 5, 30) + lan.wait(lambda e: e["ev"] == "ready", 2, 30)
    check("setup.clients_logged_in", len(ready) == 7, [e["jid"] for e in ready])
    print(f"# setup took {time.time() - t_start:.1f}s", flush=True)

    # --- 1. messages both ways, in order -------------------------------------
    t0 = time.time()
    N = 1000
    PEERS = [(inet, ALICE, "partner"), (inet, CAROL, "other")]
    inbound_ok, outbound_ok = {}, {}
    for peer_agent, peer, tag in PEERS:
        # One message each way first: the streams (remote server -> edge ->
        # gateway, gateway -> edge -> remote server) and their dialback.
        got, bounced = exchange(peer_agent, peer, lan, BOB, f"warm-in-{tag}", 1, 20)
        inbound_ok[tag] = check(f"s1.{tag}.first_message_reaches_gateway_user", got == [f"warm-in-{tag}-0"],
                                f"bounced={bounced}")
        got, bounced = exchange(lan, BOB, peer_agent, peer, f"warm-out-{tag}", 1, 20)
        outbound_ok[tag] = check(f"s1.{tag}.first_message_from_gateway_user_arrives",
                                 got == [f"warm-out-{tag}-0"], f"bounced={bounced}")

    # How the gateway trusted those streams: xmpp-edge sent a dialback key
    # for the remote domain and answered the gateway's db:verify on the
    # internal listener (only the log shows this).
    events = edge_events(edge_log)
    for _a, _p, tag in PEERS:
        dom = {"partner": "partner.example.net", "other": "other.example.org"}[tag]
        answered = [e for e in events if e.get("event") == "dialback.verify_answered" and e.get("domain") == dom
                    and e.get("asker") == "example.com" and e.get("result") == "valid"]
        authed = [e for e in events if e.get("event") == "s2s_out.auth" and e.get("kind") == "gateway"
                  and e.get("local") == dom and e.get("method") == "dialback" and e.get("result") == "valid"]
        check(f"s1.{tag}.gateway_verified_edge_dialback_key", answered and authed,
              [e for e in events if e.get("event") in ("dialback.verify_answered", "s2s_out.auth")][-4:])

    # Which external listener each server came in on (only the log says).
    listener = {}
    for e in events:
        if e.get("event") == "s2s_in.accept":
            listener[e.get("peer")] = e.get("listener")
    came = {e.get("domain"): listener.get(e.get("peer")) for e in events
            if e.get("event") == "s2s_in.auth" and e.get("result") == "valid"}
    check("s1.partner.prosody_came_over_direct_tls", came.get("partner.example.net") == f"{EDGE_PUB}:5270", came)
    check("s1.other.ejabberd_came_over_starttls", came.get("other.example.org") == f"{EDGE_PUB}:5269", came)

    # And which internal listener the gateway used (README "Internal DNS"):
    # SRV records to listen.internal where they exist, and for
    # other.example.org, which internal DNS gives only a wildcard A record,
    # port 5269 of that address with STARTTLS: listen.internal_starttls.
    streams = edge_streams(events)
    on_int = f"{EDGE_INT}:{INTERNAL_PORT}"
    on_st = f"{EDGE_INT}:{INTERNAL_STARTTLS_PORT}"
    summary = [(s[0].get("listener"), [(e.get("event"), e.get("to"), e.get("method"), e.get("result"))
                                       for e in s if e.get("event") in ("s2s_in.tls", "s2s_in.auth")])
               for s in streams if s[0].get("listener", "").startswith(EDGE_INT)]
    check("s1.partner.gateway_came_over_srv_to_internal",
          any(stream_on(s, on_int) and gateway_stream_to(s, "partner.example.net") for s in streams), summary)
    st = [s for s in streams if stream_on(s, on_st) and gateway_stream_to(s, "other.example.org")]
    check("s1.other.gateway_came_over_wildcard_a_to_internal_starttls",
          st and not any(stream_on(s, on_int) and gateway_stream_to(s, "other.example.org") for s in streams),
          summary)
    # The gateway's db:verify for ejabberd's stream into it (step 3 of the
    # README's walkthrough) found other.example.org the same way.
    check("s1.other.gateway_dialback_verify_over_internal_starttls",
          any(e.get("event") == "dialback.verify_answered" and e.get("domain") == "other.example.org"
              and e.get("result") == "valid" for s in streams if stream_on(s, on_st) for e in s),
          [e for e in events if e.get("event") == "dialback.verify_answered"][-4:])

    # Then N each way, all four directions at once.
    flows = []
    for peer_agent, peer, tag in PEERS:
        for name, ok, flow in [(f"{tag}.to_gateway", inbound_ok[tag], (peer_agent, peer, lan, BOB)),
                               (f"{tag}.from_gateway", outbound_ok[tag], (lan, BOB, peer_agent, peer))]:
            if ok:
                flows.append((name, *flow, f"bulk-{name}"))
            else:
                skip([f"s1.{name}.{N}_delivered", f"s1.{name}.in_order_no_duplicates",
                      f"s1.{name}.sent_equals_delivered_plus_bounced"], "the first message did not make it")
    for _name, sa, src, _da, dst, prefix in flows:
        sa.cmd(op="send", jid=src, to=dst, prefix=prefix, count=N)
    end = time.time() + 90
    for name, sa, src, da, dst, prefix in flows:
        while time.time() < end:
            if len(da.select(msgs(dst, prefix))) + len(sa.select(errors(src, prefix))) >= N:
                break
            time.sleep(0.2)
        got = [e["id"] for e in da.select(msgs(dst, prefix))]
        bounced = sa.select(errors(src, prefix))
        check(f"s1.{name}.{N}_delivered", len(set(got)) == N and not bounced,
              f"delivered {len(set(got))}, bounced {len(bounced)} {bounced[:3]}")
        check(f"s1.{name}.in_order_no_duplicates", got == [f"{prefix}-{i}" for i in range(len(got))], got[:5])
        check(f"s1.{name}.sent_equals_delivered_plus_bounced", len(got) + len(bounced) == N,
              f"sent {N}, delivered {len(got)}, bounced {len(bounced)}")
    print(f"# scenario 1 took {time.time() - t0:.1f}s", flush=True)

    # --- 1b. XEP-0198 on the legs (issue 21) ------------------------------------
    # Prosody 0.12 (smacks, s2s on by default) enables stream management on
    # an s2s stream it opened when the features offer <sm/> once it is
    # authenticated, i.e. after SASL EXTERNAL; xmpp-edge offers it on every
    # inbound stream and enables it toward every peer that offers it.  Only
    # the log and `status` show it.
    events = edge_events(edge_log)
    sm_in = {e.get("domain") for e in events if e.get("event") == "s2s_in.sm" and e.get("result") == "enabled"}
    sm_out = {(e.get("kind"), e.get("remote")) for e in events
              if e.get("event") == "s2s_out.sm" and e.get("result") == "enabled"}
    auth_in = {(e.get("domain"), e.get("method")) for e in events if e.get("event") == "s2s_in.auth"}
    auth_out = {(e.get("kind"), e.get("remote"), e.get("method")) for e in events
                if e.get("event") == "s2s_out.auth" and e.get("result") == "valid"}
    if inbound_ok["partner"]:
        check("s1b.sm.partner_prosody_enabled_on_its_stream_in", "partner.example.net" in sm_in,
              f"enabled in: {sm_in}; auth in: {auth_in}")
        check("s1b.sm.gateway_prosody_enabled_on_its_stream_in", "example.com" in sm_in,
              f"enabled in: {sm_in}; auth in: {auth_in}")
    else:
        skip(["s1b.sm.partner_prosody_enabled_on_its_stream_in",
              "s1b.sm.gateway_prosody_enabled_on_its_stream_in"], "the first message did not make it")
    if outbound_ok["partner"]:
        check("s1b.sm.edge_enabled_toward_partner_prosody", ("remote", "partner.example.net") in sm_out,
              f"enabled out: {sm_out}; auth out: {auth_out}")
    else:
        skip(["s1b.sm.edge_enabled_toward_partner_prosody"], "the first message did not make it")
    # Toward the gateway the edge authenticates by dialback (it speaks for
    # partner domains); Prosody offers no <sm/> there but answers <enable/>.
    if inbound_ok["partner"]:
        check("s1b.sm.edge_enabled_toward_gateway_prosody", ("gateway", "example.com") in sm_out,
              f"enabled out: {sm_out}; auth out: {auth_out}")
    else:
        skip(["s1b.sm.edge_enabled_toward_gateway_prosody"], "the first message did not make it")
    # The last acks may still be on their way: up to 5 s for nothing to be
    # in flight (what a drain would wait for).
    for _ in range(25):
        r = subprocess.run([BIN, "status", "-c", f"{tmp}/edge.json", "--json"], capture_output=True, text=True)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            doc = {}
        if doc.get("stanzas_in_flight") == 0:
            break
        time.sleep(0.2)
    live = doc.get("stream_list", [])
    acked_out = [s for s in live if s.get("direction") == "out" and s.get("sm") == "on"
                 and s.get("stanzas_acked", 0) > 0]
    sm_in_live = [s for s in live if s.get("direction") == "in" and s.get("sm") == "on"]
    check("s1b.sm.status_shows_acked_stanzas_out", doc.get("stanzas_acked", 0) > 0 and acked_out,
          f"stanzas_acked {doc.get('stanzas_acked')}, streams {[(s.get('direction'), s.get('kind'), s.get('sm'), s.get('stanzas_acked')) for s in live]}"
          + r.stderr[-300:])
    check("s1b.sm.status_shows_sm_inbound", sm_in_live and all(s.get("stanzas_in_custody") == 0 for s in sm_in_live),
          [(s.get("kind"), s.get("sm"), s.get("sm_h"), s.get("stanzas_in_custody")) for s in live
           if s.get("direction") == "in"])
    check("s1b.sm.nothing_in_flight_after_the_bulk", doc.get("stanzas_in_flight") == 0, doc.get("stanzas_in_flight"))
    # Both gateway legs, as `status` shows them: XEP-0198 on.
    gw_live = [(s.get("direction"), s.get("sm")) for s in live if s.get("kind") == "gateway"]
    check("s1b.sm.status_shows_sm_on_both_gateway_streams",
          {d for d, _ in gw_live} == {"in", "out"} and all(sm == "on" for _, sm in gw_live),
          [(s.get("direction"), s.get("kind"), s.get("sm")) for s in live])

    # --- 2. presence and IQ ----------------------------------------------------
    t0 = time.time()

    def presence(who, ptype, frm, status=None):
        return lambda e: (e["ev"] == "presence" and e["jid"] == who and e["type"] == ptype
                          and e["from"].split("/")[0] == frm and (status is None or e["status"] == status))

    S2 = ["subscribe_reaches_gateway_user", "subscribed_comes_back", "gateway_user_subscribes_back",
          "remote_approves", "presence_update_gateway_to_remote", "presence_update_remote_to_gateway",
          "remote_pings_gateway_user", "gateway_user_pings_remote", "remote_pings_gateway_server"]
    for peer_agent, peer, tag in PEERS:
        if not (inbound_ok[tag] and outbound_ok[tag]):
            skip([f"s2.{tag}.{n}" for n in S2], "messages did not cross both ways in scenario 1")
            continue
        # The remote user asks bob; bob's client approves and asks back
        # (slixmpp auto_authorize/auto_subscribe); the remote one approves.
        peer_agent.cmd(op="presence", jid=peer, to=BOB, ptype="subscribe")
        check(f"s2.{tag}.subscribe_reaches_gateway_user", lan.wait(presence(BOB, "subscribe", peer)))
        check(f"s2.{tag}.subscribed_comes_back", peer_agent.wait(presence(peer, "subscribed", BOB)))
        check(f"s2.{tag}.gateway_user_subscribes_back", peer_agent.wait(presence(peer, "subscribe", BOB)))
        check(f"s2.{tag}.remote_approves", lan.wait(presence(BOB, "subscribed", peer)))
        # Updates: each side's new status reaches the other (roster broadcast).
        lan.cmd(op="presence", jid=BOB, status=f"bob-status-{tag}")
        check(f"s2.{tag}.presence_update_gateway_to_remote",
              peer_agent.wait(presence(peer, "available", BOB, f"bob-status-{tag}")))
        peer_agent.cmd(op="presence", jid=peer, status=f"status-of-{tag}")
        check(f"s2.{tag}.presence_update_remote_to_gateway",
              lan.wait(presence(BOB, "available", peer, f"status-of-{tag}")))
        # XEP-0199 pings: client to client both ways, and to the gateway server.
        peer_agent.cmd(op="ping", jid=peer, to=f"{BOB}/agent", tag=f"p-in-{tag}")
        lan.cmd(op="ping", jid=BOB, to=f"{peer}/agent", tag=f"p-out-{tag}")
        peer_agent.cmd(op="ping", jid=peer, to="example.com", tag=f"p-srv-{tag}")
        for who, a, t in [("remote_pings_gateway_user", peer_agent, f"p-in-{tag}"),
                          ("gateway_user_pings_remote", lan, f"p-out-{tag}"),
                          ("remote_pings_gateway_server", peer_agent, f"p-srv-{tag}")]:
            got = a.wait(lambda e, t=t: e["ev"] in ("pong", "ping_error") and e.get("tag") == t, 1, 20)
            check(f"s2.{tag}.{who}", got and got[0]["ev"] == "pong", got)
    print(f"# scenario 2 took {time.time() - t0:.1f}s", flush=True)

    # --- 3. certificates not valid for their domain ----------------------------
    t0 = time.time()
    got, bounced = exchange(inet, EVE, lan, BOB, "badcert", 3, 25)
    # Control: lenient.example.net below, same server and certificate problem.
    refusal("s3.badcert_refused_nothing_delivered", inbound_ok["partner"], not got, got)
    refusal("s3.badcert_sender_gets_errors", inbound_ok["partner"], len(bounced) == 3 and not got,
            f"delivered {got}, bounced {bounced}")
    ev = [e for e in edge_events(edge_log) if e.get("event") == "s2s_in.auth"
          and e.get("domain") == "badcert.example.net"]
    refusal("s3.badcert_edge_never_authenticates_it", inbound_ok["partner"], ev and not any(e.get("result") == "valid" for e in ev), ev)
    got, bounced = exchange(inet, LENA, lan, BOB, "lenient", 3, 25)
    check("s3.lenient_accepted_through_dialback", len(got) == 3 and not bounced, f"got {got} bounced {bounced}")
    ev = [e for e in edge_events(edge_log) if e.get("event") == "s2s_in.auth"
          and e.get("domain") == "lenient.example.net"]
    check("s3.lenient_authenticated_by_dialback",
          any(e.get("method") == "dialback" and e.get("result") == "valid" for e in ev), ev)
    got, bounced = exchange(lan, BOB, inet, LENA, "reply-lenient", 3, 25)
    check("s3.lenient_reply_delivered", len(got) == 3 and not bounced, f"got {got} bounced {bounced}")
    print(f"# scenario 3 took {time.time() - t0:.1f}s", flush=True)

    # --- 4. denied domain; forged 'from' -------------------------------------------
    t0 = time.time()
    got, bounced = exchange(inet, DAN, lan, BOB, "denied-in", 3, 25)
    refusal("s4.denied_domain_nothing_delivered", inbound_ok["partner"], not got, got)
    refusal("s4.denied_domain_sender_gets_errors", inbound_ok["partner"], len(bounced) == 3, bounced)
    ev = [e for e in edge_events(edge_log) if "denied.example.net" in json.dumps(e)]
    refusal("s4.denied_domain_refused_by_edge", inbound_ok["partner"],
          ev and not any(e.get("event") == "s2s_in.auth" and e.get("result") == "valid" for e in ev)
          and any("refus" in json.dumps(e) or "policy" in json.dumps(e) for e in ev), ev[-5:])
    got, bounced = exchange(lan, BOB, inet, DAN, "denied-out", 3, 25)
    refusal("s4.gateway_user_to_denied_domain_bounced", outbound_ok["partner"], not got and len(bounced) == 3,
          f"delivered {got}, bounced {bounced}")

    raw = None
    try:
        raw = RawS2S(INET, EDGE_PUB, 5269, "rawclient.example.net", raw_crt, raw_key, ca)
        check("s4.raw_client_sasl_external_success", b"<success" in raw.sasl, raw.sasl[-300:])
    except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as e:
        check("s4.raw_client_sasl_external_success", False, repr(e))
    if raw:
        raw.send("<message xmlns='jabber:server' from='mallet@rawclient.example.net' to='bob@example.com' "
                 "type='chat' id='raw-0'><body>from the raw client</body></message>")
        got = lan.wait(lambda e: e["ev"] == "message" and e.get("id") == "raw-0", 1, 15)
        raw_ok = check("s4.raw_client_own_domain_delivered", got, got)
        raw.send("<message xmlns='jabber:server' from='x@partner.example.net' to='bob@example.com' "
                 "type='chat' id='forged-0'><body>forged</body></message>")
        try:
            raw.read_until(b"invalid-from", timeout=10)
            ok = True
        except (OSError, TimeoutError, ConnectionError) as e:
            ok = False
            raw.buf += repr(e).encode()
        check("s4.forged_from_gets_invalid_from", ok, raw.buf[-400:])
        raw.sock.close()
        time.sleep(2)
        refusal("s4.forged_from_never_reaches_gateway_user", raw_ok,
              not lan.select(lambda e: e.get("id") == "forged-0" or e.get("body") == "forged"),
              lan.select(lambda e: e.get("id") == "forged-0"))
    # Piggybacking (XEP-0220 §2.6): on its authenticated stream the raw
    # client also claims lenient.example.net with a key lenient's server
    # never made.  xmpp-edge asks that server (db:verify), which says
    # invalid: the claim must fail, and a stanza from lenient.example.net on
    # this stream must go nowhere.
    try:
        pb = RawS2S(INET, EDGE_PUB, 5269, "rawclient.example.net", raw_crt, raw_key, ca)
        pb.send("<db:result from='lenient.example.net' to='example.com'>" + "cd" * 32 + "</db:result>")
        try:
            ans = pb.read_until(b"type='invalid'", b'type="invalid"', b"type='valid'", b'type="valid"',
                                b"type='error'", b'type="error"', b"</stream:stream>", timeout=15)
        except ConnectionError as e:  # closed on us: also a refusal
            ans = str(e).encode()
        ans = ans.decode(errors="replace")
        check("s4.piggybacked_domain_with_forged_key_refused",
              not re.search(r"<db:result[^>]*type=['\"]valid['\"]", ans), ans[-300:])
        try:
            pb.send("<message xmlns='jabber:server' from='lena@lenient.example.net' to='bob@example.com' "
                    "type='chat' id='piggy-0'><body>piggybacked</body></message>")
            pb.read_until(b"</stream:stream>", b"invalid-from", timeout=5)
        except (OSError, TimeoutError, ConnectionError):
            pass
        pb.sock.close()
    except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as e:
        check("s4.piggybacked_domain_with_forged_key_refused", False, repr(e))
    time.sleep(1)
    refusal("s4.piggybacked_domain_stanza_never_reaches_gateway_user", inbound_ok["partner"],
          not lan.select(lambda e: e.get("id") == "piggy-0"), lan.select(lambda e: e.get("id") == "piggy-0"))

    # XEP-0220 §2.4: a key xmpp-edge did not make is answered 'invalid'
    # (what a receiving server hears when someone else claims example.com).
    try:
        q = RawS2S(INET, EDGE_PUB, 5269, "partner.example.net", None, None, ca)
        q.send("<db:verify from='partner.example.net' to='example.com' id='0123456789abcdef'>"
               + "ab" * 32 + "</db:verify>")
        ans = q.read_until(b"</db:verify>", b"type='invalid'", b'type="invalid"', b"type='valid'",
                           b'type="valid"').decode(errors="replace")
        check("s4.dialback_verify_of_forged_key_invalid",
              re.search(r"<db:verify[^>]*type=['\"]invalid['\"]", ans) is not None, ans[-300:])
        q.sock.close()
    except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as e:
        check("s4.dialback_verify_of_forged_key_invalid", False, repr(e))
    print(f"# scenario 4 took {time.time() - t0:.1f}s", flush=True)

    # --- 5. unpinned keys on the internal listener --------------------------------
    t0 = time.time()
    header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
              "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' "
              "to='partner.example.net' version='1.0'>")
    n_before = len(edge_events(edge_log))
    runs = {}
    # Both internal listeners, all at once: Direct TLS (listen.internal)
    # and STARTTLS (listen.internal_starttls; s_client reads the stream
    # header and features, sends <starttls/> and waits for <proceed/>, then
    # the TLS handshake, after which only what xmpp-edge says under TLS is
    # printed).
    listeners = [("", INTERNAL_PORT, []),
                 ("starttls_", INTERNAL_STARTTLS_PORT,
                  ["-starttls", "xmpp-server", "-xmpphost", "other.example.org"])]
    for prefix, port, how in listeners:
        for name, extra in [("pinned_gateway_key", ["-cert", gw_crt, "-key", gw_key]),
                            ("other_key_same_ca", ["-cert", rogue_crt, "-key", rogue_key]),
                            ("no_client_certificate", [])]:
            runs[prefix + name] = subprocess.Popen(
                ["ip", "netns", "exec", LAN, "timeout", "4", "openssl", "s_client", "-quiet", "-connect",
                 f"{EDGE_INT}:{port}", "-servername", "partner.example.net", "-CAfile", ca] + how + extra,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            procs.append(runs[prefix + name])
    # Every client gets its header now: each lives 4 s from its start.
    for p in runs.values():
        try:
            p.stdin.write(header)
            p.stdin.close()
        except OSError:   # refused and gone already
            pass
    outs = {name: p.stdout.read() for name, p in runs.items()}
    for p in runs.values():
        p.wait()
    on_int = f"{EDGE_INT}:{INTERNAL_PORT}"
    on_st = f"{EDGE_INT}:{INTERNAL_STARTTLS_PORT}"

    def refused_streams(new, listener):
        """Streams on `listener` that xmpp-edge refused (pin mismatch, no
        client certificate, ...), from its log."""
        return [s for s in edge_streams(new) if stream_on(s, listener) and any(
            "refused" in e.get("event", "") or e.get("event") == "s2s_in.tls_failed"
            or e.get("result") in ("refused", "pin_mismatch") or "pin" in e.get("reason", "") for e in s)]

    new = edge_events(edge_log)[n_before:]
    for prefix, _port, _how in listeners:
        pinned = outs[prefix + "pinned_gateway_key"]
        # Features under TLS, offering SASL EXTERNAL (the pin authenticates).
        pinned_ok = check(f"s5.s_client_{prefix}pinned_key_gets_stream",
                          re.search(r"<stream:features>.*EXTERNAL", pinned, re.S) is not None, pinned[-500:])
        for name in ("other_key_same_ca", "no_client_certificate"):
            refusal(f"s5.s_client_{prefix}{name}_refused", pinned_ok, "<stream:" not in outs[prefix + name],
                    outs[prefix + name][-500:])
    for name, listener in [("s5.edge_logs_the_refusals", on_int),
                           ("s5.edge_logs_the_starttls_refusals", on_st)]:
        refused = refused_streams(new, listener)
        check(name, len(refused) >= 2, [s[-2:] for s in refused] or new[-6:])
    n_before = len(edge_events(edge_log))
    # The rogue Prosody (example.com with another key) writes to alice (SRV
    # record: listen.internal) and to carol (wildcard A record:
    # listen.internal_starttls), both at once.
    lan.cmd(op="send", jid=MALLORY, to=CAROL, prefix="wildrogue", count=2)
    got, bounced = exchange(lan, MALLORY, inet, ALICE, "rogue", 2, 30)
    refusal("s5.rogue_prosody_nothing_delivered", outbound_ok["partner"], not got, got)
    refusal("s5.rogue_prosody_sender_gets_errors", outbound_ok["partner"], len(bounced) == 2, bounced)
    got, bounced = settle(lan, MALLORY, inet, CAROL, "wildrogue", 2, 30)
    refusal("s5.rogue_prosody_over_wildcard_a_nothing_delivered", outbound_ok["other"], not got, got)
    refusal("s5.rogue_prosody_over_wildcard_a_sender_gets_errors", outbound_ok["other"], len(bounced) == 2, bounced)
    new = edge_events(edge_log)[n_before:]
    for name, listener in [("s5.edge_logs_the_rogue_refusal", on_int),
                           ("s5.edge_logs_the_rogue_refusal_on_internal_starttls", on_st)]:
        refused = refused_streams(new, listener)
        check(name, len(refused) >= 1, [s[-2:] for s in refused] or new[-6:])
    # A box inside talks to the gateway directly, claiming partner.example.net
    # with a dialback key of its own: the gateway asks the authoritative
    # server, which internal DNS says is xmpp-edge, and xmpp-edge says
    # invalid.  (The gateway's s2s_secure_auth = false rests on this.)
    try:
        g = RawS2S(LAN, GATEWAY, 5269, "partner.example.net", None, None, ca)
        g.send("<db:result from='partner.example.net' to='example.com'>" + "ef" * 32 + "</db:result>")
        ans = g.read_until(b"type='invalid'", b'type="invalid"', b"type='valid'", b'type="valid"',
                           b"</stream:stream>", timeout=15).decode(errors="replace")
        check("s5.inside_forged_dialback_to_gateway_refused",
              re.search(r"<db:result[^>]*type=['\"]invalid['\"]", ans) is not None, ans[-300:])
        g.sock.close()
    except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as e:
        check("s5.inside_forged_dialback_to_gateway_refused", False, repr(e))
    print(f"# scenario 5 took {time.time() - t0:.1f}s", flush=True)

    # --- 8. bidirectional streams (XEP-0288) ---------------------------------------
    # Before scenario 6 stops the gateway.  A Prosody 0.12 with its own
    # mod_s2s_bidi serves inbound.example.net, which has no public DNS at
    # all: xmpp-edge cannot open a stream to it.  Its users still exchange
    # messages both ways with the gateway's, through the one stream Prosody
    # opens to us.  bidi.example.net (same Prosody, with DNS) is the other
    # role: the stream xmpp-edge opens carries Prosody's replies back.  And
    # ejabberd 23.01 has no bidi: two streams, as scenario 1 already used.
    t0 = time.time()
    CARL, BEA = "carl@inbound.example.net", "bea@bidi.example.net"
    S8 = ["s8.inbound.gateway_first_bounces", "s8.inbound.to_gateway", "s8.inbound.from_gateway",
          "s8.inbound.one_stream_never_dialled", "s8.inbound.status_shows_bidi",
          "s8.outgoing.from_gateway", "s8.outgoing.reply_over_our_stream", "s8.outgoing.one_stream",
          "s8.outgoing.status_shows_bidi", "s8.ejabberd.two_streams_no_bidi", "s8.nothing_refused"]
    bidi_agent = Agent(INET, [acct(CARL, BIDI), acct(BEA, BIDI)], "bidi")
    if not (inbound_ok["partner"] and outbound_ok["partner"]) or \
            len(bidi_agent.wait(lambda e: e["ev"] == "ready", 2, 30)) < 2:
        skip(S8, "the gateway path did not work in scenario 1, or carl/bea could not log in")
    else:
        n_before = len(edge_events(edge_log))
        # The positive control of "cannot be dialled": before carl's server
        # has connected, a message to him is bounced by xmpp-edge.
        got, bounced = exchange(lan, BOB, bidi_agent, CARL, "bidi-first", 1, 25)
        check(S8[0], not got and len(bounced) == 1 and bounced[0].get("condition") == "remote-server-not-found"
              and not own_server_gave_up(bounced[0]), f"delivered {got}, bounced {bounced}")
        # Carl writes first: Prosody opens its stream, asks for bidi, SASL
        # EXTERNAL.  Then both ways, at once.
        M = 50
        got, bounced = exchange(bidi_agent, CARL, lan, BOB, "bidiwarm", 1, 25)
        warm = got == ["bidiwarm-0"]
        bidi_agent.cmd(op="send", jid=CARL, to=BOB, prefix="bidi-in", count=M)
        got_out, bounced_out = exchange(lan, BOB, bidi_agent, CARL, "bidi-back", M, 40)
        got_in, bounced_in = settle(bidi_agent, CARL, lan, BOB, "bidi-in", M, 40)
        check(S8[1], warm and got_in == [f"bidi-in-{i}" for i in range(M)] and not bounced_in,
              f"warm {warm}, delivered {len(got_in)}, bounced {bounced_in[:2]}")
        check(S8[2], got_out == [f"bidi-back-{i}" for i in range(M)] and not bounced_out,
              f"delivered {len(got_out)} of {M}, bounced {bounced_out[:2]}")
        ev8 = edge_events(edge_log)[n_before:]
        asked = [e for e in ev8 if e.get("event") == "s2s_in.bidi" and e.get("domain") == "inbound.example.net"]
        routed = [e for e in ev8 if e.get("event") == "s2s_in.bidi_route" and e.get("remote") == "inbound.example.net"]
        dialled = [e for e in ev8 if e.get("event") == "s2s_out.start" and e.get("kind") == "remote"
                   and e.get("remote") == "inbound.example.net"]
        check(S8[3], asked and routed and len(dialled) == 1,   # the one of the control, before carl wrote
              f"bidi {asked[:1]}, routes {routed[:1]}, our dials {len(dialled)}")
        mine, raw = edge_stream_list("in", "inbound.example.net")
        check(S8[4], mine and mine[0].get("bidi") is True and mine[0].get("stanzas_out", 0) >= M, raw)
        # The other role: xmpp-edge dials bidi.example.net, asks for bidi
        # (Prosody's certificate is valid), Prosody answers on our stream.
        got, bounced = exchange(lan, BOB, bidi_agent, BEA, "bidi-out", M, 40)
        check(S8[5], got == [f"bidi-out-{i}" for i in range(M)] and not bounced,
              f"delivered {len(got)}, bounced {bounced[:2]}")
        got, bounced = exchange(bidi_agent, BEA, lan, BOB, "bidi-reply", M, 40)
        check(S8[6], got == [f"bidi-reply-{i}" for i in range(M)] and not bounced,
              f"delivered {len(got)}, bounced {bounced[:2]}")
        ev8 = edge_events(edge_log)[n_before:]
        est = [e for e in ev8 if e.get("event") == "s2s_out.established" and e.get("remote") == "bidi.example.net"]
        rev = [e for e in ev8 if e.get("event") == "s2s_out.bidi_auth" and e.get("remote") == "bidi.example.net"
               and e.get("result") == "valid"]
        came_in = [e for e in ev8 if e.get("event") == "s2s_in.auth" and e.get("domain") == "bidi.example.net"]
        check(S8[7], len(est) == 1 and est[0].get("bidi") == "yes" and rev and not came_in,
              f"established {est}, reverse pair {rev[:1]}, inbound auths {came_in[:2]}")
        mine, raw = edge_stream_list("out", "bidi.example.net")
        check(S8[8], mine and mine[0].get("bidi") is True and mine[0].get("stanzas_routed", 0) >= M, raw)
        # ejabberd 23.01 (scenario 1): no bidi offered, none asked; it came
        # in on a stream of its own and we went out on ours.
        allev = edge_events(edge_log)
        ej_out = [e for e in allev if e.get("event") == "s2s_out.established" and e.get("remote") == "other.example.org"
                  and e.get("kind") == "remote"]
        ej_in = [e for e in allev if e.get("event") == "s2s_in.auth" and e.get("domain") == "other.example.org"
                 and e.get("result") == "valid"]
        ej_bidi = [e for e in allev if e.get("event", "").startswith(("s2s_in.bidi", "s2s_out.bidi"))
                   and "other.example.org" in (e.get("domain"), e.get("remote"))]
        check(S8[9], ej_out and all(e.get("bidi") == "no" for e in ej_out) and ej_in and not ej_bidi,
              f"out {ej_out[:1]}, in {ej_in[:1]}, bidi {ej_bidi[:1]}")
        refused = [e for e in allev if e.get("event") in ("s2s_out.bidi_refused", "s2s_in.bidi_refused",
                                                          "s2s_out.stanza_refused")]
        check(S8[10], not refused, refused[:3])
    print(f"# scenario 8 took {time.time() - t0:.1f}s", flush=True)

    # --- 6. bounces ------------------------------------------------------------------
    # Each error must come from xmpp-edge's routing (relayed to the sender),
    # not from the sender's own server giving up on its stream to the edge.
    t0 = time.time()
    S6_OUT = ["s6.no_public_dns_bounced_remote_server_not_found", "s6.silent_server_bounced_remote_server_timeout"]
    if not any(outbound_ok.values()):
        skip(S6_OUT, "no message from the gateway ever crossed (scenario 1)")
    else:
        lan.cmd(op="send", jid=BOB, to="x@nodns.example.org", prefix="nodns", count=3)
        lan.cmd(op="send", jid=BOB, to="x@slow.example.org", prefix="slow", count=2)
        end = time.time() + 20   # limits.connect_timeout_ms is 4 s
        bounced = lan.wait(errors(BOB, "nodns"), 3, end - time.time())
        check(S6_OUT[0], len(bounced) == 3 and all(e["condition"] == "remote-server-not-found"
                                                   and not own_server_gave_up(e) for e in bounced), bounced)
        bounced = lan.wait(errors(BOB, "slow"), 2, max(0, end - time.time()))
        check(S6_OUT[1], len(bounced) == 2 and all(e["condition"] == "remote-server-timeout"
                                                   and not own_server_gave_up(e) for e in bounced), bounced)

    # Stop the gateway; remote senders must get their messages back.
    gw_pid = int(open(f"{gw_dir}/prosody.pid").read().strip())
    os.kill(gw_pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(gw_pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    check("s6.gateway_stopped", not wait_listen(LAN, GATEWAY, 5270, timeout=1))
    M = 20
    for peer_agent, peer, tag in PEERS:
        if inbound_ok[tag]:
            peer_agent.cmd(op="send", jid=peer, to=BOB, prefix=f"down-{tag}", count=M)
            # RFC 6120 §8.3.1: never an error in answer to an error.
            peer_agent.cmd(op="send", jid=peer, to=BOB, prefix=f"down-error-{tag}", count=3, mtype="error")
    end = time.time() + 30
    for peer_agent, peer, tag in PEERS:
        names = [f"s6.gateway_down.{tag}.sent_equals_delivered_plus_bounced", f"s6.gateway_down.{tag}.bounce_condition",
                 f"s6.gateway_down.{tag}.bounced_by_edge", f"s6.gateway_down.{tag}.no_bounce_for_type_error"]
        if not inbound_ok[tag]:
            skip(names, "no message to the gateway ever crossed (scenario 1)")
            continue
        bounced = peer_agent.wait(errors(peer, f"down-{tag}"), M, max(0, end - time.time()))
        delivered = lan.select(msgs(BOB, f"down-{tag}"))
        check(names[0], len(bounced) + len(delivered) == M,
              f"sent {M}, delivered {len(delivered)}, bounced {len(bounced)}")
        conds = sorted({e["condition"] for e in bounced})
        check(names[1], bounced and set(conds) <= {"service-unavailable", "remote-server-timeout"}, conds)
        check(names[2], bounced and not any(own_server_gave_up(e) for e in bounced), bounced[:2])
        time.sleep(1)
        refusal(names[3], len(bounced) == M, not peer_agent.select(errors(peer, f"down-error-{tag}")),
              peer_agent.select(errors(peer, f"down-error-{tag}")))
    print(f"# scenario 6 took {time.time() - t0:.1f}s", flush=True)

    # --- 7. ejabberd as the gateway ----------------------------------------------
    # README "Federation walkthrough": ejabberd 23.01 in the gateway's place,
    # same address and same key (so the same pin), found by the same
    # internal DNS.  xmpp-edge's configuration is unchanged.
    t0 = time.time()
    S7 = ["s7.ejabberd_gateway.listening", "s7.ejabberd_gateway.register_bob",
          "s7.ejabberd_gateway.bob_logged_in", "s7.ejabberd_gateway.message_in", "s7.ejabberd_gateway.message_out",
          "s7.ejabberd_gateway.ping_remote_user", "s7.ejabberd_gateway.message_out_over_wildcard_a",
          "s7.ejabberd_gateway.came_over_wildcard_a_to_internal_starttls"]
    if not (inbound_ok["partner"] and outbound_ok["partner"] and outbound_ok["other"]):
        skip(S7, "messages did not cross with the Prosody gateway (scenario 1)")
    else:
        ejg_dir, ejg_ctl = start_ejabberd("ejabberd-gateway", LAN, GATEWAY, "example.com", gw_crt, gw_key, ca, f"""
  - port: 5270
    ip: "{GATEWAY}"
    module: ejabberd_s2s_in
    tls: true""")
        up = wait_listen(LAN, GATEWAY, 5270, timeout=60)
        check(S7[0], up, tail(f"{ejg_dir}/stdout"))
        r = ejabberd_register(LAN, ejg_ctl, "bob", "example.com", up)
        check(S7[1], r.returncode == 0, r.stdout + r.stderr)
        lan2 = Agent(LAN, [acct(BOB, GATEWAY)], "lan-ejabberd")
        check(S7[2], lan2.wait(lambda e: e["ev"] == "ready", 1, 30))
        got, bounced = exchange(inet, ALICE, lan2, BOB, "ejgw-in", 5, 25)
        check(S7[3], got == [f"ejgw-in-{i}" for i in range(5)], f"delivered {got}, bounced {bounced}")
        n_before = len(edge_events(edge_log))
        # To alice (SRV record) and to carol (wildcard A record), at once.
        lan2.cmd(op="send", jid=BOB, to=CAROL, prefix="ejgw-wild", count=5)
        got, bounced = exchange(lan2, BOB, inet, ALICE, "ejgw-out", 5, 25)
        check(S7[4], got == [f"ejgw-out-{i}" for i in range(5)], f"delivered {got}, bounced {bounced}")
        lan2.cmd(op="ping", jid=BOB, to=f"{ALICE}/agent", tag="ejgw-ping")
        got = lan2.wait(lambda e: e["ev"] in ("pong", "ping_error") and e.get("tag") == "ejgw-ping", 1, 20)
        check(S7[5], got and got[0]["ev"] == "pong", got)
        got, bounced = settle(lan2, BOB, inet, CAROL, "ejgw-wild", 5, 25)
        check(S7[6], got == [f"ejgw-wild-{i}" for i in range(5)], f"delivered {got}, bounced {bounced}")
        new = edge_streams(edge_events(edge_log)[n_before:])
        check(S7[7], any(stream_on(s, on_st) and gateway_stream_to(s, "other.example.org") for s in new),
              [(s[0].get("listener"), [(e.get("event"), e.get("to"), e.get("result"), e.get("reason"))
                                       for e in s if e.get("event", "").startswith("s2s_in.")][:6]) for s in new])
    print(f"# scenario 7 took {time.time() - t0:.1f}s", flush=True)

    # Session tickets (issue 18), observed: does Prosody 0.12 resume its s2s
    # streams to the edge with the tickets the edge issues?  (Its default
    # TLS options include no_ticket, and LuaSec has no client-side session
    # reuse; the count says what happened in this run.)
    ext_in = [e for e in edge_events(edge_log) if e.get("event") == "tls.handshake"
              and e.get("role") == "external-server"]
    print(f"# tickets: {len(ext_in)} inbound TLS handshakes from the Internet side, "
          f"{sum(1 for e in ext_in if e.get('resumed') == 'yes')} of them resumed", flush=True)

    edge.send_signal(signal.SIGTERM)
    try:
        rc = edge.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    check("edge.clean_exit", rc == 0, tail(edge_log))
    print(f"# total {time.time() - t_start:.1f}s; work directory {tmp}", flush=True)
    tarpit.close()


def cleanup_all():
    cleanup()
    if tmp and not os.environ.get("XE_KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    guarded("interop", main, cleanup_all)
