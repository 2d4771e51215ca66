#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The fault bed of issue 21: does a stanza survive a crash or an outage in
the DMZ?  Real Prosody on both sides, xmpp-edge between them, a steady
stream of messages both ways, and one fault per row.

  INET 192.0.2.0/24          EDGE                        LAN 198.51.100.0/24
  .53 dnsmasq (public DNS)   xmpp-edge, restarted by     .53 dnsmasq (internal DNS)
  .10 Prosody: the partner,  a supervisor here within    .10 Prosody: the gateway,
      partner.example.net    1 s of its death                example.com
      (alice's c2s)          192.0.2.2:5269/5270             (bob's c2s)
                             198.51.100.2:5271 internal
  inet0 <--------------------> edge0           edge1 <--------------------> lan0

Both Prosodys run with `smacks` loaded as Debian ships it: XEP-0198 on
their s2s whenever the other side offers it, unacknowledged stanzas bounced
when an s2s stream dies (smacks_s2s_resend off); only its queue is larger
(SMACKS_QUEUE below says why).  The gateway and xmpp-edge
authenticate each other by pinned keys over mutual TLS, as in tests/interop.
With XE_FAULTS_DIRECT=1 there is no xmpp-edge: EDGE is a plain IPv4 router
and DNS sends the two Prosodys straight to each other (the baseline the
issue compares against; the rows that kill xmpp-edge are left out).

Traffic: one c2s client per side (c2s_flood.py: plain c2s, XEP-0198 toward
its own server), alice@partner.example.net -> bob@example.com ("in") and
bob -> alice ("out") at the same time, RATE messages a second each way, every
message with an id of its own.  The receiving clients count deliveries and
duplicates, the sending clients count bounces (error messages with the id).

Rows (fault x direction): control (none); edge_sigkill (SIGKILL, the
supervisor restarts it RESTART_DELAY_S later); edge_upgrade (`xmpp-edge
upgrade` where the binary has it: the listening sockets go to a new
process, which the supervisor follows by its MAINPID=; else SIGTERM and a
new process as soon as the old one exited); gateway_sigkill (SIGKILL of
the gateway Prosody, started again at once; bob logs in again);
internal_link and partner_link (every packet on that veth dropped,
silently, both ways, for OUTAGE_S: twice what TCP takes to give up, which
net.ipv4.tcp_retries2 = 2 inside the namespaces makes about 1.4 s; traffic
goes on through the outage and RECOVER_S past it).  Each fault hits
FAULT_AT_S into the traffic.  Then the bed waits for everything to settle:
until every message is delivered or bounced, or nothing changed for
QUIET_S while xmpp-edge (where it has the gauge) holds nothing in flight.

Per row and direction: sent, delivered, bounced, lost (sent, neither
delivered nor bounced), duplicates, "both" (delivered and yet bounced: the
sender was told it failed; Prosody does this with the stanzas it had not
seen acknowledged when an s2s stream died), and "unconfirmed": messages
the sending client wrote that its own server never acknowledged before
that server died (only when the gateway is killed: the sender's own server
lost them, no DMZ leg ever saw them; they count as sent if they arrive or
bounce after all).

Checks per row and direction (check_row): none lost, no duplicate,
nothing arrives that was never sent, sent = delivered + bounced - both;
"both" = 0 where no leg dies (control, edge_upgrade: a graceful upgrade
must not bounce what it delivers), and where one dies at most the dead
leg's unacknowledged window (both_bound: the rate times the ack cadence
from this bed's own settings plus two round trips of the custody chain,
the round trip taken from the crossing times measured just before the
fault); the control row delivers everything; the fault hit while messages
were being written.  xmpp-edge's side (check_edge_counters): after each
row it holds nothing in flight, and its per-way counters
(xmpp_edge_stanzas_toward_total, of the process running at the end of
the row: a SIGKILLed one's are gone) agree with the clients' counts:
equal in the control row, else what the fault leaves room for.  A last
check looks again at every message counted lost: one that arrived after
its row was counted means the bed settled too early (a bed bug, not a
finding).  Measured tables: RESULTS.md.  Every row prints its time.

XE_FAULTS_BIN names the binary (default XE_BIN, else out/dev/xmpp-edge);
XE_FAULTS_ROWS picks rows (comma-separated: one row alone, for instance);
XE_FAULTS_RATE and XE_FAULTS_SEND_S change the traffic;
XE_FAULTS_SM_EVERY="STANZAS,BYTES,MS" the edge's ack cadence;
XE_FAULTS_UPGRADE=restart upgrades by SIGTERM and start even where the
binary has `upgrade`; XE_FAULTS_SMACKS_QUEUE sets Prosody's queue;
XE_FAULTS_QUIET_S the settle wait (a short one makes the late-arrival
check fail, as it should); XE_FAULTS_DEADLINE_S the whole run's (300 s:
past it the run fails and cleans up); XE_KEEP=1 keeps the work directory
(logs, client reports, `ss` snapshots after each fault).
Everything started here is ended here (process groups, namespaces), also
on failure.  Last line: "N passed, N failed".
"""
import ctypes
import hashlib
import json
import math
import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from xecheck import check, guarded  # noqa: E402
from xenet import spki_pin, work_dir  # noqa: E402
from xenetns import LineAgent, enter_netns, netns_remove, test_ca, test_leaf, wait_listen  # noqa: E402

DIRECT = os.environ.get("XE_FAULTS_DIRECT") == "1"
BIN = os.path.abspath(os.environ.get("XE_FAULTS_BIN") or os.environ.get("XE_BIN") or "out/dev/xmpp-edge")
FLOOD = os.path.join(HERE, "c2s_flood.py")
PID = os.getpid()
INET, EDGE, LAN = f"xf-inet-{PID}", f"xf-edge-{PID}", f"xf-lan-{PID}"
NAMESPACES = (INET, EDGE, LAN)

EDGE_PUB, PUB_DNS, PARTNER = "192.0.2.2", "192.0.2.53", "192.0.2.10"
EDGE_INT, INT_DNS, GATEWAY = "198.51.100.2", "198.51.100.53", "198.51.100.10"
INTERNAL_PORT = 5271
METRICS = ("127.0.0.1", 9269)   # inside EDGE: its own loopback
ALICE, BOB = "alice@partner.example.net", "bob@example.com"

# The traffic and the faults (seconds).  The rate is what the whole bed
# (two Prosodys, the ASan build of xmpp-edge, two Python clients) carries
# on the project's 2-core machine while other builds run beside it, with
# room to spare: at 1 500 a second each way (the figure) the
# control row alone took 11.7 s for 4 s of traffic under a load of 10,
# and a bed past saturation measures its queues, not the fault.
RATE = int(os.environ.get("XE_FAULTS_RATE", "400"))
SEND_S = float(os.environ.get("XE_FAULTS_SEND_S", "3"))
FAULT_AT_S = 1.0             # into the traffic: the fault hits it in flight
TCP_RETRIES2 = 2             # TCP gives up on data outstanding after ~1.4 s (0.2 + 0.4 + 0.8)
TCP_GIVE_UP_S = 1.4
OUTAGE_S = 2 * TCP_GIVE_UP_S + 0.2   # link rows: longer than TCP needs to give up, twice over
RECOVER_S = 1.5              # link rows: traffic goes on this long after the outage
TCP_SYN_RETRIES = 1          # a dial into a dead link fails after ~3 s
RESTART_DELAY_S = 0.5        # the supervisor's, "within 1 s"
KILL_WAIT_S = 5              # the most Supervisor.kill waits for the process to be gone
QUIET_S = float(os.environ.get("XE_FAULTS_QUIET_S", "10"))  # settled: nothing delivered or bounced this long
SETTLE_MAX_S = 40.0
LATE_LOOK_S = 5.0            # the final look for late arrivals (only when something was counted lost)
SAMPLE_S = 0.25
LATENCY_CUT_S = 0.3          # see Direction.latency_before
SUITE_DEADLINE_S = int(os.environ.get("XE_FAULTS_DEADLINE_S", "300"))   # the whole run, at most
# XEP-0198 ack cadence on the edge's outgoing legs (limits.sm_request_every_*,
# set here so that the bound on "both" below is computed from them; the
# values are xmpp-edge's defaults unless XE_FAULTS_SM_EVERY="STANZAS,BYTES,MS").
SM_EVERY_STANZAS, SM_EVERY_BYTES, SM_EVERY_MS = (
    int(x) for x in os.environ.get("XE_FAULTS_SM_EVERY", "1,65536,1000").split(","))
# Prosody requests an ack once more than smacks_max_unacked_stanzas are
# unacknowledged (its default, 0: after every stanza), one request at a time.
PROSODY_MAX_UNACKED = 0
STANZA_BYTES = 200           # about one of the clients' messages on s2s (Prosody adds a <delay/>)
# Prosody keeps at most smacks_max_queue_size (default 500) unacknowledged
# stanzas per stream and silently forgets the oldest past that (util.queue
# with replace): neither delivered nor bounced.  At RATE a second a dead
# link overflows 500 in a third of a second, long before TCP gives up, so
# with the default every link row would measure Prosody's queue, not the
# DMZ (the direct baseline then loses thousands too).  Raised here;
# XE_FAULTS_SMACKS_QUEUE=500 shows Debian's default.
SMACKS_QUEUE = int(os.environ.get("XE_FAULTS_SMACKS_QUEUE", "100000"))

procs = []                   # every Popen here (own process group each)
tmp = None
ending = threading.Event()   # cleanup() has begun: nothing is restarted any more


# --- processes and namespaces ------------------------------------------------

def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def ns_popen(ns, args, log, user=None, **kw):
    """args in namespace ns (as user), in a process group of its own so
    that one killpg ends it and its children."""
    cmd = ["ip", "netns", "exec", ns] + (["runuser", "-u", user, "--"] if user else []) + args
    p = subprocess.Popen(cmd, stdout=log, stderr=kw.pop("stderr", subprocess.STDOUT), start_new_session=True, **kw)
    procs.append(p)
    return p


def killpg(p, sig=signal.SIGKILL):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def cleanup():
    """Ends every process group started here and whatever else lives in our
    namespaces, then deletes them.  Idempotent."""
    ending.set()
    for p in procs:
        if p.poll() is None:
            killpg(p, signal.SIGTERM)
    deadline = time.time() + 5
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            killpg(p)
            p.wait()
    netns_remove(NAMESPACES)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through main's finally: cleanup()


def setup_network():
    for ns in NAMESPACES:
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        # TCP gives up on a silent peer after ~3 s instead of ~15 min.
        run("ip", "netns", "exec", ns, "sysctl", "-q", f"net.ipv4.tcp_retries2={TCP_RETRIES2}",
            f"net.ipv4.tcp_syn_retries={TCP_SYN_RETRIES}")
    run("ip", "link", "add", "inet0", "netns", INET, "type", "veth", "peer", "name", "edge0", "netns", EDGE)
    run("ip", "link", "add", "edge1", "netns", EDGE, "type", "veth", "peer", "name", "lan0", "netns", LAN)
    for ns, dev, addrs in [(INET, "inet0", ["192.0.2.1/24", f"{PUB_DNS}/24", f"{PARTNER}/24"]),
                           (EDGE, "edge0", [f"{EDGE_PUB}/24"]),
                           (EDGE, "edge1", [f"{EDGE_INT}/24"]),
                           (LAN, "lan0", ["198.51.100.1/24", f"{INT_DNS}/24", f"{GATEWAY}/24"])]:
        for a in addrs:
            run("ip", "-n", ns, "addr", "add", a, "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
    if DIRECT:
        # A plain router in the DMZ: the two sides reach each other.
        run("ip", "netns", "exec", EDGE, "sysctl", "-q", "net.ipv4.ip_forward=1")
        run("ip", "-n", INET, "route", "add", "198.51.100.0/24", "via", EDGE_PUB, "src", PARTNER)
        run("ip", "-n", LAN, "route", "add", "192.0.2.0/24", "via", EDGE_INT, "src", GATEWAY)
    for ns, dns in [(INET, PUB_DNS), (EDGE, PUB_DNS), (LAN, INT_DNS)]:
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/resolv.conf", "w") as f:
            f.write(f"nameserver {dns}\n")


# A link "down": every packet arriving over it dropped on both ends, so
# neither side hears a reset, sees its route vanish or has a send refused
# (as a cut cable somewhere between them, or a stuck firewall).  EDGE also
# drops what it would forward (the direct baseline's router).  Both ends
# must go down at the same instant: rules applied one `iptables` call after
# another cut one direction up to a few hundred milliseconds before the
# other on a loaded machine (acks lost while stanzas still arrived, which
# inflated "both"), and a drop of the far side's own sends (OUTPUT) is not
# silent for it (its stack sees the send fail; Prosody then ended the
# stream while its kernel still delivered what it held).  So one
# iptables-restore per namespace is started first, each waiting for its
# rules on stdin, and the rules are handed to both at once: each commits
# its table in one step when its stdin closes.
LINKS = {"internal": ((EDGE, "edge1"), (LAN, "lan0")), "partner": ((EDGE, "edge0"), (INET, "inet0"))}


def link_rules(name, op):
    (edge_ns, edge_dev), (far_ns, far_dev) = LINKS[name]
    rules = {edge_ns: [f"INPUT -i {edge_dev}", f"FORWARD -i {edge_dev}", f"FORWARD -o {edge_dev}"],
             far_ns: [f"INPUT -i {far_dev}"]}
    restores = {ns: subprocess.Popen(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
                for ns in rules}
    time.sleep(0.2)          # both started and reading (under load, starting takes a while)
    texts = {ns: "*filter\n" + "".join(f"{op} {r} -j DROP\n" for r in rs) + "COMMIT\n" for ns, rs in rules.items()}
    for ns, p in restores.items():
        p.stdin.write(texts[ns])
        p.stdin.flush()
    for p in restores.values():
        p.stdin.close()
    for ns, p in restores.items():
        out = p.stdout.read()
        if p.wait() != 0:
            raise RuntimeError(f"iptables-restore in {ns}: {out}")


# --- certificates and DNS ----------------------------------------------------

def chown(path, user):
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def dnsmasq(ns, addr, records):
    """An authoritative dnsmasq for the test zones on addr in ns."""
    return ns_popen(ns, ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=53",
                         f"--listen-address={addr}", "--bind-interfaces", "--log-facility=-",
                         f"--pid-file={tmp}/dnsmasq-{ns}.pid", "--local=/example.com/", "--local=/example.net/"]
                    + records, open(f"{tmp}/dns-{ns}.log", "w"))


def srv(domain, target, ip, port):
    """Direct TLS (XEP-0368) to target:port, and target's address."""
    return [f"--srv-host=_xmpps-server._tcp.{domain},{target},{port},0,10", f"--host-record={target},{ip}"]


def dns_records():
    """(public, internal): where each side's Prosody finds the other."""
    partner = (srv("partner.example.net", "xmpp.example.net", PARTNER, 5270)
               + [f"--host-record=partner.example.net,{PARTNER}"])
    if DIRECT:
        return (srv("example.com", "gw.example.com", GATEWAY, 5270) + [f"--host-record=example.com,{GATEWAY}"],
                partner)
    return (srv("example.com", "edge.example.com", EDGE_PUB, 5270) + [f"--host-record=example.com,{EDGE_PUB}"]
            + partner,
            srv("partner.example.net", "edge-internal.example.com", EDGE_INT, INTERNAL_PORT))


# --- Prosody -------------------------------------------------------------------

class Prosody:
    """One Prosody 0.12 in a namespace: c2s for its one user, s2s on 5269
    and Direct TLS 5270, `smacks` loaded as Debian's configuration has it."""

    def __init__(self, name, ns, ip, host, crt, key, ca, secure_auth, user):
        self.name, self.ns, self.ip = name, ns, ip
        self.dir = f"{tmp}/{name}"
        self.proc = None
        self.starts = 0
        os.makedirs(f"{self.dir}/data")
        self.cfg = f"{self.dir}/prosody.cfg.lua"
        with open(self.cfg, "w") as f:
            f.write(f"""
pidfile = "{self.dir}/prosody.pid"
data_path = "{self.dir}/data"
interfaces = {{ "{ip}" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
s2s_direct_tls_ports = {{ 5270 }}
log = {{ info = "{self.dir}/prosody.log" }}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "ping", "posix", "smacks" }}
smacks_max_queue_size = {SMACKS_QUEUE}
smacks_max_unacked_stanzas = {PROSODY_MAX_UNACKED}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = true
s2s_secure_auth = {"true" if secure_auth else "false"}
authentication = "internal_plain"
ssl = {{ certificate = "{crt}", key = "{key}", cafile = "{ca}" }}
VirtualHost "{host}"
""")
        for root, _dirs, files in os.walk(self.dir):
            chown(root, "prosody")
            for fn in files:
                chown(os.path.join(root, fn), "prosody")
        r = subprocess.run(["ip", "netns", "exec", ns, "runuser", "-u", "prosody", "--", "prosodyctl", "--config",
                            self.cfg, "register", user, host, "secret"], capture_output=True, text=True)
        check(f"setup.{name}.register_{user}", r.returncode == 0, r.stdout + r.stderr)

    def start(self):
        self.starts += 1
        self.proc = ns_popen(self.ns, ["prosody", "--config", self.cfg, "-F"],
                             open(f"{self.dir}/stdout.{self.starts}", "w"), user="prosody")

    def kill(self):
        """SIGKILL to Prosody (and runuser above it): no goodbye to anyone.
        Returns once Prosody itself is gone (runuser is reaped first; its
        child's sockets may outlive it for a moment)."""
        try:
            pid = int(open(f"{self.dir}/prosody.pid").read())
        except (OSError, ValueError):
            pid = None
        killpg(self.proc)
        self.proc.wait()
        end = time.time() + 5
        while pid and os.path.exists(f"/proc/{pid}") and time.time() < end:
            time.sleep(0.01)

    def up(self, timeout=30):
        return wait_listen(self.ns, self.ip, 5222, timeout) and wait_listen(self.ns, self.ip, 5270, timeout)


# --- xmpp-edge -------------------------------------------------------------------

def edge_config(c):
    """xmpp-edge's configuration: tests/interop's, for one partner, with the
    rate limits far above RATE (they are not under test here) and metrics
    on EDGE's own loopback.  `c` holds the paths and the gateway's pin."""
    raise_to = 1000000
    return {
        "state_dir": f"{tmp}/edge-state",
        "domains": [{"name": "example.com", "cert": c["edge_crt"], "key": c["edge_key"]}],
        "listen": {"starttls": [f"{EDGE_PUB}:5269"], "direct_tls": [f"{EDGE_PUB}:5270"],
                   "internal": [f"{EDGE_INT}:{INTERNAL_PORT}"]},
        "gateway": {"address": f"{GATEWAY}:5270", "server_name": "example.com", "pins": [c["gateway_pin"]],
                    "cert": c["edge_gw_crt"], "key": c["edge_gw_key"]},
        "tls": {"ca_file": c["ca"]},
        "dns": {"servers": [f"{PUB_DNS}:53"], "timeout_ms": 1000, "tries": 2, "negative_ttl_s": 0,
                "connect_timeout_ms": 2000},
        "limits": {"connect_timeout_ms": 4000, "handshake_timeout_ms": 15000,
                   "domain_stanzas_per_s": raise_to, "domain_bytes_per_s": 100 * raise_to,
                   "prefix_stanzas_per_s": raise_to, "prefix_bytes_per_s": 100 * raise_to,
                   "sm_request_every_stanzas": SM_EVERY_STANZAS, "sm_request_every_bytes": SM_EVERY_BYTES,
                   "sm_request_every_ms": SM_EVERY_MS},
        "policy": {"default": {"allow": True, "tls": "required", "sasl_external": "optional", "dialback": True,
                               "require_valid_certificate": False},
                   "partners": {"partner.example.net": {"require_valid_certificate": True}}},
        "metrics": {"listen": f"{METRICS[0]}:{METRICS[1]}"},
        "log": {"level": "info", "format": "json"},
    }


def edge_upgrade_command():
    """Whether this binary upgrades in place: `xmpp-edge upgrade` (branch
    drain) starts the installed binary as a child that inherits the
    listening sockets and reports MAINPID= (sd_notify), then the old
    process drains.  Read from its own usage text; a binary without it is
    upgraded by stop, then start."""
    r = subprocess.run([BIN, "help"], capture_output=True, text=True)
    return re.search(r"^\s*upgrade\b", r.stdout + r.stderr, re.M) is not None


PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


class Supervisor:
    """Keeps one xmpp-edge running in EDGE as systemd would with
    Type=notify, NotifyAccess=all, Restart=always, RestartSec=RESTART_DELAY_S:
    whenever the main process exits it starts a new one, unless a MAINPID=
    on its notify socket named a successor (an in-place upgrade).  This
    process becomes a child subreaper, so that successor, orphaned when the
    old process exits, is reaped here.  Exit is watched through a pidfd
    (the successor is not our Popen)."""

    def __init__(self, cfg, log_path):
        self.cmd = [BIN, "run", "-c", cfg]
        self.log = open(log_path, "a")
        self.lock = threading.Lock()
        self.stopping = False
        self.popens = {}         # pid -> Popen, for the ones started here
        self.exits = []          # (pid, exit status or None when not ours to reap)
        self.immediate_pid = None    # stopped for an upgrade: no restart delay
        self.notify_path = f"{tmp}/notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        os.chmod(self.notify_path, 0o777)   # the daemon writes as its service user
        self.notify.setblocking(False)
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        self.main_pid = self._spawn()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _spawn(self):
        p = ns_popen(EDGE, self.cmd, self.log, env=dict(os.environ, NOTIFY_SOCKET=self.notify_path))
        self.popens[p.pid] = p
        return p.pid

    def _read_notify(self):
        while True:
            try:
                msg = self.notify.recv(4096).decode(errors="replace")
            except BlockingIOError:
                return
            for line in msg.splitlines():
                if line.startswith("MAINPID="):
                    with self.lock:
                        self.main_pid = int(line[8:])

    def _reap(self, pid):
        p = self.popens.pop(pid, None)
        if p is not None:
            return p.wait()
        try:
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            return None

    def _watch(self):
        while True:
            with self.lock:
                pid = self.main_pid
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                fd = None
            if fd is not None:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                while not poller.poll(50):
                    self._read_notify()
                os.close(fd)
            rc = self._reap(pid)
            # A successor says MAINPID= before its parent exits: read what
            # is queued before deciding this was a death.
            self._read_notify()
            with self.lock:
                self.exits.append((pid, rc))
                if self.stopping or ending.is_set():
                    return
                if self.main_pid != pid:
                    continue         # upgraded in place: watch the successor
                # The operator's stop-and-start starts the new one at once.
                delay = 0 if pid == self.immediate_pid else RESTART_DELAY_S
            time.sleep(delay)
            with self.lock:
                if self.stopping or ending.is_set():
                    return
                self.main_pid = self._spawn()

    def pid(self):
        with self.lock:
            return self.main_pid

    def kill(self):
        """SIGKILL to the daemon's process group (an in-place successor is
        in its parent's group).  Returns once the process is gone: kill()
        only queues the signal, and a loaded machine may run the process
        on for a while after, taking and writing stanzas; the bed counts
        what was written after this returns as having gone through its
        successor alone.  The wait is on the exit itself (a pidfd), with a
        deadline only so that a process that never dies cannot hang the
        bed."""
        pid = self.pid()
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = None
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
        if fd is not None:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.poll(KILL_WAIT_S * 1000)
            os.close(fd)

    def upgrade(self, in_place):
        """The operator's upgrade.  In place: `xmpp-edge upgrade` (the
        listening sockets handed to a new process, then the old one drains
        and exits).  Else SIGTERM, and the new process as soon as the old
        one has exited (its listening sockets are only free then)."""
        if in_place:
            r = subprocess.run([BIN, "upgrade", "-c", self.cmd[-1]], capture_output=True, text=True, timeout=60)
            return (r.stdout + r.stderr).strip()
        with self.lock:
            pid = self.main_pid
            self.immediate_pid = pid
        os.kill(pid, signal.SIGTERM)
        return "SIGTERM, new process once it exited"

    def stop(self):
        with self.lock:
            self.stopping = True
            pid = self.main_pid
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.thread.join(15)
        if self.thread.is_alive():
            self.kill()
            self.thread.join(5)
        return self.exits[-1][1] if self.exits and self.exits[-1][0] == pid else None


class EdgeCounters:
    """xmpp-edge's stanza counters, sampled from its metrics every SAMPLE_S
    on a thread living in EDGE (after an in-place upgrade the endpoint is
    the new process's: what the old one counted after its last sample is
    missing, as after a SIGKILL).  increase(t0, t1) sums each counter's growth
    between two times across restarts (a counter that goes down, or a new
    xmpp_edge_start_time_seconds, is a new process counting from 0)."""

    def __init__(self):
        self.samples = []        # (time, start_time, {name: value})
        self.in_flight = 0       # the gauge xmpp_edge_stanzas_in_flight, where the binary has it
        self.last_ok = 0.0       # when the last sample was taken
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _fetch(self):
        s = socket.create_connection(METRICS, 1)
        s.settimeout(1)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
        vals = {}
        text = buf.decode(errors="replace")
        for m in re.finditer(r"^(xmpp_edge_(?:stanzas_\w+_total|shutdown_\w+_total|errors_not_bounced_total|"
                             r"start_time_seconds|stanzas_in_flight)) (\S+)$", text, re.M):
            vals[m.group(1)] = float(m.group(2))
        # Per way (toward the gateway: "in"; toward a remote server: "out").
        for m in re.finditer(r'^xmpp_edge_stanzas_toward_total\{toward="(\w+)",outcome="(\w+)"\} (\S+)$', text, re.M):
            vals[f"xmpp_edge_toward_{m.group(1)}_{m.group(2)}"] = float(m.group(3))
        return vals

    def _loop(self):
        enter_netns(EDGE)
        while not self.stopping:
            try:
                v = self._fetch()
                if v:
                    self.in_flight = v.pop("xmpp_edge_stanzas_in_flight", 0)
                    self.samples.append((time.time(), v.pop("xmpp_edge_start_time_seconds", 0), v))
                    self.last_ok = time.time()
            except OSError:
                pass             # restarting
            time.sleep(SAMPLE_S)

    def idle_after(self, t, timeout):
        """True once a sample taken after t shows nothing in flight (the
        edge holds no stanza: every one it took was acknowledged, handed
        to TCP unconfirmed, or bounced), False after timeout s."""
        end = time.time() + timeout
        while time.time() < end:
            if self.last_ok > t and self.in_flight == 0:
                return True
            time.sleep(SAMPLE_S / 2)
        return False

    def increase(self, t0, t1):
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        before = [s for s in self.samples if s[0] < t0]
        prev = before[-1] if before else None
        total = {}
        for s in window:
            for k, v in s[2].items():
                same = prev and prev[1] == s[1] and prev[2].get(k, 0) <= v
                total[k] = total.get(k, 0) + (v - prev[2].get(k, 0) if same else v)
            prev = s
        return {k.replace("xmpp_edge_", "").replace("_total", ""): int(v) for k, v in total.items()}

    def increase_last(self, t0, t1):
        """As increase(), for the process that was running at t1 alone
        (from its start when that was after t0): the one whose counters
        are whole when a SIGKILL or an upgrade ended its predecessor.
        Returns (counters, whether it ran through the whole row)."""
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        if not window:
            return {}, False
        start = window[-1][1]
        before = [s for s in self.samples if s[0] < t0 and s[1] == start]
        base = before[-1][2] if before else {}
        last = window[-1][2]
        total = {k: v - base.get(k, 0) for k, v in last.items()}
        return ({k.replace("xmpp_edge_", "").replace("_total", ""): int(v) for k, v in total.items()},
                bool(before))


# --- clients -------------------------------------------------------------------

class Flood(LineAgent):
    """One c2s_flood.py in a namespace and what it reported, by message id."""

    def __init__(self, ns, jid, host, resource):
        self.jid = jid
        self.written, self.acked, self.unconfirmed = {}, set(), set()
        self.received, self.bounced = {}, {}   # id -> count; id -> [conditions]
        # When the client wrote / read each id, by its own stamps (the
        # machine's clock): the time this process reads a line is later,
        # by as much as a loaded machine delays the pipe and this thread,
        # and a message written before a fault must not look written after.
        self.received_at = {}                  # id -> first arrival
        self.done, self.downs, self.ready = {}, [], 0
        self.changed = time.time()             # last delivery or bounce
        acct = {"jid": jid, "password": "secret", "host": host, "resource": resource}
        user = jid.split("@")[0]
        super().__init__(ns_popen(ns, ["/usr/bin/python3", FLOOD, json.dumps(acct)], subprocess.PIPE,
                                  stderr=open(f"{tmp}/client-{user}.stderr", "w"),
                                  stdin=subprocess.PIPE, text=True, bufsize=1),
                         open(f"{tmp}/client-{user}.lines", "w"))

    def on_line(self, line):
        f = line.split()
        if not f:
            return
        now = time.time()
        kind = f[0]
        if kind == "s":
            self.written[f[1]] = float(f[2]) if len(f) > 2 else now
        elif kind == "k":
            self.acked.add(f[1])
        elif kind == "u":
            self.written.setdefault(f[1], now)
            self.unconfirmed.add(f[1])
        elif kind == "m":
            self.received[f[1]] = self.received.get(f[1], 0) + 1
            self.received_at.setdefault(f[1], float(f[2]) if len(f) > 2 else now)
            self.changed = now
        elif kind == "e":
            self.bounced.setdefault(f[1], []).append(f[2] if len(f) > 2 else "?")
            self.changed = now
        elif kind == "done":
            self.done[f[1]] = int(f[2])
        elif kind == "down":
            self.downs.append(now)
        elif kind == "ready":
            self.ready += 1


def ids(d, prefix):
    p = prefix + "-"
    return {k for k in d if k.startswith(p)}


class Direction:
    """One direction of one row: sender, receiver, prefix."""

    def __init__(self, name, src, dst, prefix):
        self.name, self.src, self.dst, self.prefix = name, src, dst, prefix

    def count(self):
        """The row's figures now (see the module comment)."""
        with self.src.cv, self.dst.cv:
            written = ids(self.src.written, self.prefix)
            delivered = ids(self.dst.received, self.prefix)
            bounced = ids(self.src.bounced, self.prefix)
            dup = sum(self.dst.received[i] - 1 for i in delivered) + sum(len(self.src.bounced[i]) - 1 for i in bounced)
            acked = ids(self.src.acked, self.prefix)
            unconf = {i for i in ids(self.src.unconfirmed, self.prefix) - acked if i not in delivered | bounced}
            conds = {}
            for i in bounced:
                for c in self.src.bounced[i]:
                    conds[c] = conds.get(c, 0) + 1
        sent = written - unconf
        lost = sent - delivered - bounced
        return {"sent": len(sent), "delivered": len(delivered), "bounced": len(bounced), "lost": len(lost),
                "dup": dup, "unconfirmed": len(unconf), "both": len(delivered & bounced),
                "stray": len((delivered | bounced) - written),
                "lost_ids": sorted(lost, key=lambda i: int(i.rsplit("-", 1)[1])),
                "conditions": conds}

    def written(self):
        with self.src.cv:
            return len(ids(self.src.written, self.prefix))

    def delivered_written_after(self, t):
        """How many messages written after t arrived."""
        with self.src.cv, self.dst.cv:
            return sum(1 for i, w in self.src.written.items()
                       if w > t and i.startswith(self.prefix + "-") and i in self.dst.received)

    def latency_before(self, t):
        """The longest a message written in the second before t (and at
        least LATENCY_CUT_S before it) took to arrive, among those that
        arrived before t (s; None if none did): how long this direction's
        stanzas were in flight when the fault hit.  What arrived after t
        is left out, its time says what the fault did, not what the path
        held; the cut keeps that from hiding crossings of up to
        LATENCY_CUT_S (a message written just before t may be on its way)."""
        with self.src.cv, self.dst.cv:
            lat = [self.dst.received_at[i] - w for i, w in self.src.written.items()
                   if i.startswith(self.prefix + "-") and t - 1.0 <= w < t - LATENCY_CUT_S
                   and self.dst.received_at.get(i, t) < t]
        return max(lat) if lat else None

    def settled(self):
        c = self.count()
        return c["lost"] == 0


def sockets_snapshot(tag):
    """Every namespace's TCP sockets (ss -tnpi) into the work directory:
    what a row left stuck is seen there."""
    with open(f"{tmp}/sockets-{tag}.txt", "w") as f:
        for ns in NAMESPACES:
            r = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tnpi"], capture_output=True, text=True)
            f.write(f"## {ns}\n{r.stdout}{r.stderr}\n")


# --- the rows ------------------------------------------------------------------

def warm_up(alice, bob, tag, timeout=30):
    """One message each way, delivered: every stream of the path is up
    before the row's traffic starts (a row measures its fault, not a cold
    start).  Retried: right after a fault a first message may bounce."""
    end = time.time() + timeout
    n = 0
    while time.time() < end:
        pin, pout = f"{tag}-warm{n}-in", f"{tag}-warm{n}-out"
        alice.cmd(op="send", to=f"{BOB}/flood", prefix=pin, count=1, rate=1)
        bob.cmd(op="send", to=f"{ALICE}/flood", prefix=pout, count=1, rate=1)
        ok_in = bob.wait_until(lambda: f"{pin}-0" in bob.received or f"{pin}-0" in alice.bounced, 10)
        ok_out = alice.wait_until(lambda: f"{pout}-0" in alice.received or f"{pout}-0" in bob.bounced, 10)
        if ok_in and ok_out and f"{pin}-0" in bob.received and f"{pout}-0" in alice.received:
            return True
        n += 1
        time.sleep(1)
    return False


def run_row(name, fault, alice, bob, counters, send_s):
    """Traffic both ways for send_s, fault() FAULT_AT_S into it, then the
    settle wait; returns (directions, fault detail, edge counters over the
    row, seconds, the time the fault hit or None)."""
    mode = "direct" if DIRECT else "edge"
    warm = warm_up(alice, bob, f"{mode}-{name}")
    check(f"{mode}.{name}.paths_up_before_traffic", warm, "a message each way did not cross in 30 s")
    dirs = [Direction("in", alice, bob, f"{mode}-{name}-in"), Direction("out", bob, alice, f"{mode}-{name}-out")]
    n = int(RATE * send_s)
    # The warm-up's stanzas settled and sampled: the row's counters start
    # from a quiet edge.
    if counters:
        counters.idle_after(time.time(), 5)
    t0 = time.time()
    alice.cmd(op="send", to=f"{BOB}/flood", prefix=dirs[0].prefix, count=n, rate=RATE)
    bob.cmd(op="send", to=f"{ALICE}/flood", prefix=dirs[1].prefix, count=n, rate=RATE)
    detail = ""
    at_fault = None
    t_fault = t_fault_done = None
    if fault:
        time.sleep(FAULT_AT_S)
        at_fault = [d.written() for d in dirs]
        t_fault = time.time()
        detail = fault() or ""
        t_fault_done = time.time()
        sockets_snapshot(f"{name}-after-fault")
    # Every message written (or the sender gave up on its own server).
    for d in dirs:
        d.src.wait_until(lambda d=d: d.prefix in d.src.done, send_s + 30)
    t_sent = time.time()
    # Settled: every message delivered or bounced, or nothing new for QUIET_S.
    end = t_sent + SETTLE_MAX_S
    while time.time() < end:
        if all(d.settled() for d in dirs):
            break
        # Quiet, and xmpp-edge holds nothing it has yet to deliver or bounce.
        quiet = time.time() - max([t_sent] + [d.src.changed for d in dirs] + [d.dst.changed for d in dirs])
        if quiet > QUIET_S and not (counters and counters.in_flight):
            break
        time.sleep(0.1)
    # The edge's counters once it holds nothing any more (its last acks
    # may trail the last delivery).
    idle = counters.idle_after(time.time(), QUIET_S) if counters else True
    t_end = time.time()
    sockets_snapshot(f"{name}-settled")
    if counters:
        check(f"{mode}.{name}.edge_holds_nothing_after_row", idle,
              f"xmpp_edge_stanzas_in_flight {counters.in_flight} {QUIET_S} s after the row settled")
    if at_fault is not None:
        for d, before in zip(dirs, at_fault):
            after = d.written() - before
            check(f"{mode}.{name}.{d.name}.fault_hit_traffic_in_flight", before > 0 and after > 0,
                  f"{before} messages written before the fault, {after} after")
    return dirs, detail, (t0, t_end), t_end - t0, (t_fault, t_fault_done)


# --- the pass criteria ---------------------------------------------------------

# Rows where a leg dies with stanzas written on it and not acknowledged.
# The hop before the dead leg cannot know which of them arrived: neither
# Prosody nor xmpp-edge resumes a server-to-server stream (XEP-0198 §5), so
# the h of the dead stream's last moments is lost with it.  It bounces them
# all rather than risk a duplicate by sending them again (issue 21, item 3),
# and those that had arrived count as "both": delivered, and yet the sender
# was told they failed.  The no-edge baseline (XE_FAULTS_DIRECT=1) does the
# same.  How many is bounded by what the leg held unacknowledged: both_bound().
LEG_DEATH_ROWS = ("edge_sigkill", "gateway_sigkill", "internal_link", "partner_link")
# Which of xmpp-edge's per-way counters a direction's messages count in.
WAY = {"in": "gateway", "out": "remote"}


def ack_cadence_s():
    """The longest a written stanza waits before an ack request covers it,
    from the bed's settings: xmpp-edge's limits.sm_request_every_stanzas,
    _bytes, _ms (whichever comes first at RATE) on its legs, Prosody's
    smacks_max_unacked_stanzas on its own; the slower of the two."""
    edge = min(SM_EVERY_STANZAS / RATE, SM_EVERY_BYTES / (RATE * STANZA_BYTES), SM_EVERY_MS / 1000)
    prosody = (PROSODY_MAX_UNACKED + 1) / RATE
    return max(edge, prosody)


def both_bound(latency):
    """The most stanzas of one direction a dying leg can have delivered
    without their ack getting back to the hop that bounces them.  That hop
    holds a stanza unacknowledged from its write until the answer to an ack
    request sent after it: at most one ack cadence (ack_cadence_s) plus two
    round trips, because xmpp-edge and Prosody both keep one request
    outstanding at a time (a stanza written just after a request waits for
    that request's answer, then for its own).  With custody (README "No
    stanza lost") a hop acknowledges a stanza only once the next hop has,
    so a round trip is that of the custody chain: there and back over the
    same hops, taken as twice the longest time a message took to cross,
    sender to receiver, in the second before the fault (`latency`, measured
    in the row itself, so that the machine's load at that moment is in it).
    At RATE a second: RATE x (cadence + 2 x (2 x latency))."""
    return math.ceil(RATE * (ack_cadence_s() + 4 * latency))


def gateway_took_and_lost(e, c, other):
    """Messages toward the gateway that it acknowledged and never handed
    to the receiver, as far as the clients and the edge can tell: what
    the edge saw acknowledged past what arrived (and the other
    direction's bounces, which go the same way).  Only a SIGKILLed
    gateway loses any: Prosody's XEP-0198 h counts what it took, not what
    it handed on, so a kill loses what it held.  The edge's custody of
    those ended with the ack, as it must (README "No stanza lost")."""
    acked = e.get(f"toward_{WAY['in']}_acked", 0)
    return max(0, acked - (c["delivered"] + other["bounced"]))


def check_row(tag, name, c, latency, gateway_lost=0):
    """What the clients counted, one row and direction: nothing lost,
    nothing twice, every message sent either delivered or bounced, and
    "both" as the fault explains (none at all without a dying leg).
    gateway_lost: how many of the direction's messages the gateway
    acknowledged and lost itself (gateway_took_and_lost), which are not
    the edge's loss, within what a dying leg can hold (both_bound)."""
    if c["lost"] and gateway_lost:
        lost_by_gateway = min(c["lost"], gateway_lost)
        bound = both_bound(latency) if latency is not None else 0
        check(f"{tag}.none_lost", c["lost"] == lost_by_gateway and lost_by_gateway <= bound,
              f"{c['lost']} lost, {gateway_lost} of them acknowledged by the gateway before its SIGKILL "
              f"(at most {bound}): {c['lost_ids'][:20]}")
        print(f"#   {tag}: {lost_by_gateway} acknowledged by the gateway and lost with it: "
              f"{' '.join(c['lost_ids'][:20])}", flush=True)
    else:
        lost_by_gateway = 0
        check(f"{tag}.none_lost", c["lost"] == 0, f"{c['lost']} lost: {c['lost_ids'][:20]}")
    check(f"{tag}.no_duplicates", c["dup"] == 0, f"{c['dup']} duplicates")
    check(f"{tag}.only_ids_sent_arrive", c["stray"] == 0, f"{c['stray']} ids never written arrived")
    check(f"{tag}.sent_equals_delivered_plus_bounced_minus_both",
          c["sent"] == c["delivered"] + c["bounced"] - c["both"] + lost_by_gateway,
          f"sent {c['sent']}, delivered {c['delivered']}, bounced {c['bounced']}, both {c['both']}, "
          f"lost by the gateway {lost_by_gateway}")
    if name == "control":
        check(f"{tag}.control_all_delivered", c["sent"] > 0 and c["delivered"] == c["sent"] and c["bounced"] == 0,
              f"sent {c['sent']}, delivered {c['delivered']}, bounced {c['bounced']}: the bed itself is broken")
    if name not in LEG_DEATH_ROWS:
        # No leg dies: a stanza delivered must not be reported failed
        # (for edge_upgrade: the drain settles what it took before it ends
        # a stream).
        check(f"{tag}.none_both_delivered_and_bounced", c["both"] == 0,
              f"{c['both']} delivered and yet bounced")
        return
    if latency is None:
        check(f"{tag}.both_within_unacked_window", False,
              "no message arrived in the second before the fault: no round trip to bound 'both' with")
        return
    bound = both_bound(latency)
    check(f"{tag}.both_within_unacked_window", c["both"] <= bound,
          f"both {c['both']} > {bound} = ceil({RATE}/s x ({ack_cadence_s() * 1000:.1f} ms cadence + "
          f"4 x {latency * 1000:.0f} ms crossing))")
    print(f"#   {tag}: both {c['both']}, bound {bound} = ceil({RATE}/s x ({ack_cadence_s() * 1000:.1f} ms cadence + "
          f"4 x {latency * 1000:.0f} ms crossing before the fault))", flush=True)


def check_edge_counters(tag, name, way, c, other, e, whole, arrived_through_it=None):
    """xmpp-edge's counters for one direction (the process running at the
    end of the row: a SIGKILLed one's are gone, an upgraded one's stop at
    its last sample) against the clients' counts.  Toward one side go that
    direction's messages and the bounces of the other direction's, so the
    other direction's bounces widen what the edge may have confirmed;
    errors_not_bounced are bounces the edge could not deliver (RFC 6120
    §8.3.1: an error is never bounced)."""
    g = {k: e.get(f"toward_{WAY[way]}_{k}", 0) for k in ("delivered", "acked", "unconfirmed", "bounced")}
    confirmed = g["acked"] + g["unconfirmed"]
    dropped = e.get("errors_not_bounced", 0)
    seen = f"edge: delivered {g['delivered']}, acked {g['acked']}, unconfirmed {g['unconfirmed']}, " \
           f"bounced {g['bounced']}, errors_not_bounced {dropped}; clients: sent {c['sent']}, " \
           f"delivered {c['delivered']}, bounced {c['bounced']} (other direction bounced {other['bounced']})"
    if name == "control":
        check(f"{tag}.edge_counters_equal_clients",
              whole and g["delivered"] == confirmed == c["delivered"] == c["sent"] and g["bounced"] == 0, seen)
        return
    # What the gateway acknowledged and lost with its SIGKILL counts as
    # confirmed too (check_row holds those to the lost ones it explains).
    lost_by_gateway = c["lost"] if name == "gateway_sigkill" and way == "in" else 0
    check(f"{tag}.edge_confirmed_only_what_arrived",
          confirmed <= c["delivered"] + other["bounced"] + lost_by_gateway, seen)
    check(f"{tag}.edge_wrote_nothing_unsettled", g["delivered"] - confirmed <= g["bounced"] + dropped, seen)
    check(f"{tag}.edge_bounces_reached_senders", g["bounced"] <= c["bounced"] + dropped, seen)
    if whole:
        check(f"{tag}.edge_wrote_every_arrival", c["delivered"] <= g["delivered"], seen)
    elif arrived_through_it is not None:
        check(f"{tag}.edge_wrote_every_arrival_since_it_started", arrived_through_it <= g["delivered"],
              f"{arrived_through_it} messages written after the restart arrived; {seen}")


HEADER = (f"{'fault':<18} {'dir':<3} {'sent':>6} {'delivered':>9} {'bounced':>7} {'lost':>5} {'dup':>4} "
          f"{'both':>5} {'unconfirmed':>11}")


def table_row(name, d, c):
    return (f"{name:<18} {d.name:<3} {c['sent']:>6} {c['delivered']:>9} {c['bounced']:>7} {c['lost']:>5} "
            f"{c['dup']:>4} {c['both']:>5} {c['unconfirmed']:>11}")


def main():
    global tmp
    if os.geteuid() != 0 or shutil.which("prosody") is None or shutil.which("iptables") is None:
        check("faults.prerequisites", False, "needs root, Prosody and iptables (tests/faults/packages)")
        return
    t_start = time.time()
    tmp = work_dir("faults")
    os.chmod(tmp, 0o755)
    mode = "direct" if DIRECT else "edge"
    global BIN
    if not DIRECT:
        # A private copy: the binary under test may be rebuilt meanwhile.
        shutil.copy2(BIN, f"{tmp}/xmpp-edge")
        src, BIN = BIN, f"{tmp}/xmpp-edge"
        ver = subprocess.run([BIN, "version"], capture_output=True, text=True).stdout.splitlines()
        digest = hashlib.sha256(open(BIN, "rb").read()).hexdigest()[:16]
        print(f"# binary {src} sha256 {digest}: {ver[0] if ver else '?'}", flush=True)
    print(f"# mode {mode}: {RATE} messages/s each way, fault {FAULT_AT_S} s into the traffic; "
          f"tcp_retries2={TCP_RETRIES2}, outage {OUTAGE_S} s; settle: all resolved or {QUIET_S} s quiet", flush=True)
    setup_network()

    ca = test_ca(tmp, "xmpp-edge fault bed CA")
    gw_crt, gw_key = test_leaf(tmp, "gateway", ["example.com"], "prosody")
    partner_crt, partner_key = test_leaf(tmp, "partner", ["partner.example.net"], "prosody")
    public, internal = dns_records()
    dnsmasq(INET, PUB_DNS, public)
    dnsmasq(LAN, INT_DNS, internal)

    supervisor = counters = None
    if not DIRECT:
        edge_crt, edge_key = test_leaf(tmp, "edge", ["example.com", "edge.example.com"], "xmpp-edge")
        edge_gw_crt, edge_gw_key = test_leaf(tmp, "edge-gw", ["edge-internal.example.com"], "xmpp-edge")
        cfg = edge_config({"ca": ca, "edge_crt": edge_crt, "edge_key": edge_key, "edge_gw_crt": edge_gw_crt,
                           "edge_gw_key": edge_gw_key, "gateway_pin": spki_pin(gw_crt)})
        with open(f"{tmp}/edge.json", "w") as f:
            json.dump(cfg, f, indent=2)
        r = subprocess.run([BIN, "check", "-c", f"{tmp}/edge.json"], capture_output=True, text=True)
        check("setup.edge_config_check", r.returncode == 0, r.stdout + r.stderr)
        supervisor = Supervisor(f"{tmp}/edge.json", f"{tmp}/edge.log")
        counters = EdgeCounters()

    partner = Prosody("partner", INET, PARTNER, "partner.example.net", partner_crt, partner_key, ca, True, "alice")
    # The gateway takes xmpp-edge's dialback for partner.example.net (no
    # certificate for it can be had inside), as in tests/interop.
    gateway = Prosody("gateway", LAN, GATEWAY, "example.com", gw_crt, gw_key, ca, False, "bob")
    partner.start()
    gateway.start()
    if not DIRECT:
        check("setup.edge_listening", wait_listen(INET, EDGE_PUB, 5270) and wait_listen(LAN, EDGE_INT, INTERNAL_PORT),
              open(f"{tmp}/edge.log").read()[-1500:])
    check("setup.partner_listening", partner.up(), "")
    check("setup.gateway_listening", gateway.up(), "")
    alice = Flood(INET, ALICE, PARTNER, "flood")
    bob = Flood(LAN, BOB, GATEWAY, "flood")
    check("setup.clients_logged_in",
          alice.wait_until(lambda: alice.ready, 20) and bob.wait_until(lambda: bob.ready, 20), "")
    # XE_FAULTS_UPGRADE=restart: stop-and-start even where `upgrade` exists.
    in_place = not DIRECT and os.environ.get("XE_FAULTS_UPGRADE") != "restart" and edge_upgrade_command()
    upgrade = ("none (no xmpp-edge)" if DIRECT else "xmpp-edge upgrade (listening sockets handed over)" if in_place
               else "SIGTERM, then start")
    print(f"# setup took {time.time() - t_start:.1f}s; upgrade: {upgrade}", flush=True)

    def edge_sigkill():
        supervisor.kill()
        return f"SIGKILL, restarted after {RESTART_DELAY_S} s"

    def edge_upgrade():
        return supervisor.upgrade(in_place)

    def gateway_sigkill():
        t = time.time()
        gateway.kill()
        gateway.start()
        up = gateway.up(20)
        return f"SIGKILL, restarted, listening again after {time.time() - t:.1f} s" + ("" if up else " (never)")

    def link_down(which):
        def fault():
            link_rules(which, "-I")
            try:
                time.sleep(OUTAGE_S)
            finally:
                link_rules(which, "-D")
            return f"all packets dropped for {OUTAGE_S} s"
        return fault

    rows = [("control", None, SEND_S), ("edge_sigkill", edge_sigkill, SEND_S),
            ("edge_upgrade", edge_upgrade, SEND_S), ("gateway_sigkill", gateway_sigkill, SEND_S),
            # Traffic through the whole outage and RECOVER_S past it: the
            # row also shows whether the path comes back.
            ("internal_link", link_down("internal"), FAULT_AT_S + OUTAGE_S + RECOVER_S),
            ("partner_link", link_down("partner"), FAULT_AT_S + OUTAGE_S + RECOVER_S)]
    if DIRECT:
        rows = [r for r in rows if not r[0].startswith("edge_")]
    pick = os.environ.get("XE_FAULTS_ROWS")
    if pick:
        rows = [r for r in rows if r[0] in pick.split(",")]

    results = []
    for name, fault, send_s in rows:
        t_row = time.time()
        dirs, detail, (t0, t_end), took, (t_fault, t_fault_done) = run_row(name, fault, alice, bob, counters,
                                                                           send_s)
        print(f"# {name}: {detail or 'no fault'}; row {time.time() - t_row:.1f}s "
              f"(traffic and settling {took:.1f}s)", flush=True)
        print("# " + HEADER, flush=True)
        counts = {}
        for d in dirs:
            c = counts[d.name] = d.count()
            results.append((name, d, c))
            conds = ", ".join(f"{k} {v}" for k, v in sorted(c["conditions"].items()))
            print("# " + table_row(name, d, c) + (f"   bounces: {conds}" if conds else ""), flush=True)
            if c["lost_ids"]:
                more = " ..." if len(c["lost_ids"]) > 20 else ""
                print(f"#   lost: {' '.join(c['lost_ids'][:20])}{more}", flush=True)
        if counters:
            edge = counters.increase(t0, t_end)
            print("#   xmpp-edge over the row (every process, as sampled): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(edge.items()) if not k.startswith("toward_")),
                  flush=True)
            last, whole = counters.increase_last(t0, t_end)
            print(f"#   xmpp-edge, the process running at the end ({'the whole row' if whole else 'started in the row'}):"
                  + "".join(f" {d.name} " + ", ".join(f"{k} {last.get(f'toward_{WAY[d.name]}_{k}', 0)}"
                                                      for k in ("delivered", "acked", "unconfirmed", "bounced"))
                            + ";" for d in dirs)
                  + f" errors_not_bounced {last.get('errors_not_bounced', 0)}", flush=True)
        for d in dirs:
            c = counts[d.name]
            other = counts["out" if d.name == "in" else "in"]
            tag = f"{mode}.{name}.{d.name}"
            gateway_lost = 0
            if counters and whole and name == "gateway_sigkill" and d.name == "in":
                gateway_lost = gateway_took_and_lost(last, c, other)
            check_row(tag, name, c, latency=d.latency_before(t_fault) if t_fault else None,
                      gateway_lost=gateway_lost)
            if counters:
                # After a SIGKILL whatever arrived and was written after
                # it went through the new process alone.
                since = d.delivered_written_after(t_fault_done) if name == "edge_sigkill" else None
                check_edge_counters(tag, name, d.name, c, other, last, whole, since)

    # A message counted lost that shows up later was not lost: the bed
    # counted too early.  Look once more after everything went quiet.
    if any(c["lost_ids"] for _n, _d, c in results):
        time.sleep(LATE_LOOK_S)
    late = []
    for name, d, c in results:
        still = set(d.count()["lost_ids"])
        late += [f"{name}.{d.name}:{i}" for i in c["lost_ids"] if i not in still]
    check(f"{mode}.bed.no_late_arrivals_after_settling", not late, late[:20])

    print(f"# fault table ({mode}):", flush=True)
    print("# " + HEADER, flush=True)
    for name, d, c in results:
        print("# " + table_row(name, d, c), flush=True)
    if supervisor:
        rc = supervisor.stop()
        counters.stopping = True
        print(f"# xmpp-edge processes and exit statuses: {supervisor.exits}", flush=True)
        check("edge.clean_exit_at_end", rc == 0, open(f"{tmp}/edge.log").read()[-1500:])
    for c in (alice, bob):
        c.cmd(op="quit")
    print(f"# total {time.time() - t_start:.1f}s; work directory {tmp}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    # The suite's own deadline: past it the run fails and cleans up (as on
    # SIGTERM) instead of waiting for build.sh's timeout.
    signal.signal(signal.SIGALRM, _on_signal)
    signal.alarm(SUITE_DEADLINE_S)
    guarded("faults", main, cleanup)
