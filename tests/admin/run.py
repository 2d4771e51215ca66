#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The remote admin channel (listen.admin) end to end on loopback: a real
daemon, real TLS, the real command line.  Every port is picked free by
the suite and checked to be the daemon's own (no fixed ports, no lock).

The daemon runs as the service user from the start, as on the appliance
(init starts it as uid 5269): it owns its certificate directory and its
configuration, which the remote commands replace.

Covers: `status --remote` answering (and logged with the client's pin);
refusals before any request byte is read (an unpinned client key, no
client certificate, plain TCP, TLS 1.2, a wrong server pin on the client
side); with 60 live Direct TLS federation streams open (authenticated
with SASL EXTERNAL as partner.example, each with a message bounced back
to partner.example's fake server before, 20 of them in the middle of a
stanza), `cert rotate --remote`: the new certificate read back by the CLI
and by the suite, every stream's traffic still flowing after (60 more
bounces), no stream dropped (counted), timing printed; bad
uploads (mismatched key, expired, wrong domain) refused with the old
certificate still served; `cert csr --remote` then `cert rotate --remote`
with only the certificate (the key never left the daemon); `config push`
of a good and of a bad file; admin pin rotation with overlap; the
framing's bounds and the connection cap and deadline; after a restart
the new certificate is still served; `drain --remote`.
Last line: "N passed, N failed".
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402
from xenet import (cert_der, client_ctx, copy_for_other_users, free_port, openssl,  # noqa: E402
                   read_until, spki_pin, track, wait_port, work_dir)
import fakepeer  # noqa: E402

BIN = os.path.abspath(os.environ.get("XE_BIN", "out/dev/xmpp-edge"))
ROOT = os.geteuid() == 0
SERVICE_UID = 5269
NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
tmp = work_dir("admin")
os.chmod(tmp, 0o755)
ETC = f"{tmp}/etc"          # the daemon's: certificates and configuration
STATE = f"{tmp}/state"
CLIENT = f"{tmp}/client"    # the operator's side
for d in (ETC, STATE, CLIENT):
    os.mkdir(d)
os.chmod(STATE, 0o700)
CFG = f"{ETC}/edge.json"


def run(*args, timeout=120):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


# --- certificates ----------------------------------------------------------------

def ts(days):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + days * 86400))


CA_DIR = f"{tmp}/ca"
os.makedirs(f"{CA_DIR}/new")
open(f"{CA_DIR}/index.txt", "w").close()
with open(f"{CA_DIR}/serial", "w") as f:
    f.write("1000\n")
with open(f"{CA_DIR}/ca.cnf", "w") as f:
    f.write(f"[ca]\ndefault_ca = d\n[d]\ndir = {CA_DIR}\ndatabase = $dir/index.txt\n"
            "new_certs_dir = $dir/new\nserial = $dir/serial\ndefault_md = sha256\npolicy = p\n"
            "copy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n")
CA_CRT, CA_KEY = f"{CA_DIR}/ca.crt", f"{CA_DIR}/ca.key"
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", CA_KEY,
        "-out", CA_CRT, "-days", "3650", "-subj", "/CN=Admin suite CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign")


def sign(csr, crt, start=-1, end=365):
    openssl("ca", "-batch", "-notext", "-config", f"{CA_DIR}/ca.cnf", "-cert", CA_CRT, "-keyfile", CA_KEY,
            "-in", csr, "-out", crt, "-startdate", ts(start), "-enddate", ts(end))
    return crt


def issue(name, sans, start=-1, end=365):
    crt, key, csr = f"{CLIENT}/{name}.crt", f"{CLIENT}/{name}.key", f"{CLIENT}/{name}.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", f"/CN={sans[0]}", "-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans))
    os.chmod(key, 0o600)
    return sign(csr, crt, start, end), key


def selfsigned(name, cn):
    crt, key = f"{CLIENT}/{name}.crt", f"{CLIENT}/{name}.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", crt, "-days", "30", "-subj", f"/CN={cn}")
    os.chmod(key, 0o600)
    return crt, key


cur_crt, cur_key = issue("cur", ["example.com"])
new_crt, new_key = issue("new", ["example.com"])
exp_crt, exp_key = issue("expired", ["example.com"], start=-400, end=-10)
wrong_crt, wrong_key = issue("wrong", ["other.example"])
weak_crt, weak_key = f"{CLIENT}/weak.crt", f"{CLIENT}/weak.key"
openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", weak_key, "-out", weak_crt, "-days", "90",
        "-subj", "/CN=example.com", "-addext", "subjectAltName=DNS:example.com")
partner_crt, partner_key = issue("partner", ["partner.example"])
adminA_crt, adminA_key = selfsigned("adminA", "operator A")
adminB_crt, adminB_key = selfsigned("adminB", "operator B")
stranger_crt, stranger_key = selfsigned("stranger", "not an operator")

DOM_CRT, DOM_KEY = f"{ETC}/example.com.crt", f"{ETC}/example.com.key"
shutil.copy(cur_crt, DOM_CRT)
shutil.copy(cur_key, DOM_KEY)
os.chmod(DOM_KEY, 0o600)

DIRECT, STARTTLS, ADMIN = free_port(), free_port(), free_port()
# partner.example's server: the daemon's outgoing streams carry the bounces
# of what the streams below send (no gateway here) to it.
PARTNER = fakepeer.Peer("partner.example", partner_crt, partner_key, "sasl", DIRECT)
cfg = {
    "user": str(SERVICE_UID) if ROOT else str(os.geteuid()),
    "state_dir": STATE,
    "domains": [{"name": "example.com", "cert": DOM_CRT, "key": DOM_KEY}],
    "listen": {"starttls": [f"127.0.0.1:{STARTTLS}"], "direct_tls": [f"127.0.0.1:{DIRECT}"],
               "admin": [f"127.0.0.1:{ADMIN}"]},
    "admin": {"pins": [spki_pin(adminA_crt)], "max_connections": 3, "timeout_ms": 2000},
    "tls": {"ca_file": CA_CRT},
    # Nothing answers DNS: every target here is static.
    "dns": {"servers": [f"127.0.0.1:{free_port()}"]},
    "policy": {"partners": {"partner.example": {"connect": f"127.0.0.1:{PARTNER.port}"}}},
    "limits": {"max_streams_per_ip": 1000, "handshake_timeout_ms": 600000, "idle_timeout_s": 86400},
    "log": {"format": "json", "level": "info"},
}


def write_cfg(path, c):
    with open(path, "w") as f:
        json.dump(c, f)
    os.chmod(path, 0o644)


write_cfg(CFG, cfg)
if ROOT:
    for d in (ETC, STATE):
        for dirpath, _, files in os.walk(d):
            os.chown(dirpath, SERVICE_UID, SERVICE_UID)
            for fn in files:
                os.chown(os.path.join(dirpath, fn), SERVICE_UID, SERVICE_UID)
    DAEMON_BIN = copy_for_other_users(BIN, tmp)
    AS_SERVICE = ["setpriv", f"--reuid={SERVICE_UID}", f"--regid={SERVICE_UID}", "--clear-groups"]
else:
    DAEMON_BIN, AS_SERVICE = BIN, []


class Daemon:
    def __init__(self, log_path):
        self.log_path = log_path
        self.log = open(log_path, "a")
        self.proc = track(subprocess.Popen([*AS_SERVICE, DAEMON_BIN, "run", "-c", CFG],
                                           stdout=self.log, stderr=self.log))

    def text(self):
        self.log.flush()
        return open(self.log_path).read()

    def events(self, name):
        out = []
        for line in self.text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == name:
                out.append(e)
        return out

    def up(self):
        return all(wait_port(p, self.proc, 30) for p in (DIRECT, STARTTLS, ADMIN))

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


daemon = Daemon(f"{tmp}/daemon.log")
check("daemon.starts_with_admin_listener", daemon.up(), daemon.text()[-3000:])
server_pin = spki_pin(f"{STATE}/admin.crt") if os.path.exists(f"{STATE}/admin.crt") else "?"
start = daemon.events("admin.start")
check("daemon.admin_cert_generated_and_pin_logged", start and start[0].get("server_pin") == server_pin
      and start[0].get("addr") == f"127.0.0.1:{ADMIN}", start)

REMOTE = ["--remote", f"127.0.0.1:{ADMIN}", "--admin-cert", adminA_crt, "--admin-key", adminA_key,
          "--remote-pin", f"sha256/{server_pin}"]


def xe(*args, remote=None, timeout=120):
    return run(BIN, *args, *(REMOTE if remote is None else remote), timeout=timeout)


EXT = client_ctx(alpn=["xmpp-server"])


def header(to="example.com", frm="partner.example"):
    return f"<?xml version='1.0'?><stream:stream {NS} to='{to}' from='{frm}' version='1.0'>".encode()


def served_der():
    raw = socket.create_connection(("127.0.0.1", DIRECT), timeout=10)
    s = EXT.wrap_socket(raw, server_hostname="example.com")
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


check("setup.serves_current", served_der() == cert_der(cur_crt))

# --- status --remote ---------------------------------------------------------------

r = xe("status", "--json")
try:
    doc = json.loads(r.stdout)
except ValueError:
    doc = {}
check("status.remote_answers", r.returncode == 0 and doc.get("status") == "running"
      and doc.get("domains") == ["example.com"], r)
r = xe("status")
check("status.remote_text", r.returncode == 0 and "running" in r.stdout, r)
r = xe("streams", "--json")
check("streams.remote_answers", r.returncode == 0 and '"streams":[' in r.stdout, r)
r = xe("strangers", "list", "--json")
check("strangers.remote_answers", r.returncode == 0 and r.stdout.startswith("{"), r)
time.sleep(0.3)
reqs = daemon.events("admin.request")
check("log.request_with_pin_and_outcome", reqs and reqs[0].get("pin") == spki_pin(adminA_crt)
      and reqs[0].get("command") == "status" and reqs[0].get("outcome") == "ok", reqs[:1])
check("status.remote_ca_mode", xe("status", remote=["--remote", f"127.0.0.1:{ADMIN}", "--admin-cert", adminA_crt,
                                                     "--admin-key", adminA_key, "--remote-ca",
                                                     f"{STATE}/admin.crt", "--remote-name",
                                                     "admin.xmpp-edge.invalid"]).returncode == 0)

# --- refusals before any request byte is read ------------------------------------------


def refusals_since(n):
    return daemon.events("admin.refused")[n:]


def requests_count():
    return len(daemon.events("admin.request"))


nreq = requests_count()
nref = len(daemon.events("admin.refused"))
r = xe("status", remote=["--remote", f"127.0.0.1:{ADMIN}", "--admin-cert", stranger_crt,
                         "--admin-key", stranger_key, "--remote-pin", f"sha256/{server_pin}"])
check("refuse.unpinned_client_key", r.returncode == 1 and "refused our certificate" in r.stderr
      and '"status"' not in r.stdout, r)
time.sleep(0.3)
ref = refusals_since(nref)
check("refuse.unpinned_logged_with_pin", ref and "pin mismatch" in ref[-1].get("reason", "")
      and spki_pin(stranger_crt) in ref[-1].get("reason", ""), ref)


def raw_tls(ctx, payload=b"status\n"):
    """Connects, sends payload after the handshake (if it completes), returns what came back."""
    raw = socket.create_connection(("127.0.0.1", ADMIN), timeout=5)
    try:
        s = ctx.wrap_socket(raw, server_hostname="admin.xmpp-edge.invalid")
        s.sendall(payload)
        return read_until(s, b"}\n", timeout=5)
    except (ssl.SSLError, OSError) as e:
        return repr(e).encode()
    finally:
        raw.close()


nref = len(daemon.events("admin.refused"))
no_cert = client_ctx()
no_cert.minimum_version = ssl.TLSVersion.TLSv1_3
got = raw_tls(no_cert)
check("refuse.no_client_certificate", b"running" not in got and b"result" not in got, got)
tls12 = client_ctx(adminA_crt, adminA_key)
tls12.maximum_version = ssl.TLSVersion.TLSv1_2
got = raw_tls(tls12)
check("refuse.tls12", b"running" not in got and b"result" not in got, got)
raw = socket.create_connection(("127.0.0.1", ADMIN), timeout=5)
raw.sendall(b"status\n")
got = read_until(raw, b"}", timeout=5)
raw.close()
check("refuse.plain_tcp", b"running" not in got and b"result" not in got, got)
time.sleep(0.3)
ref = refusals_since(nref)
check("refuse.logged_each", len(ref) >= 3 and any("not TLS" in e.get("reason", "") for e in ref), ref)
check("refuse.no_request_read", requests_count() == nreq, daemon.events("admin.request")[nreq:])
# The client's side: a server whose key is not the pinned one gets nothing.
r = xe("status", remote=["--remote", f"127.0.0.1:{ADMIN}", "--admin-cert", adminA_crt, "--admin-key",
                         adminA_key, "--remote-pin", "sha256/" + spki_pin(adminB_crt)])
check("refuse.wrong_server_pin", r.returncode == 1 and "pin mismatch" in r.stderr, r)
check("refuse.server_pin_nothing_sent", requests_count() == nreq)
r = xe("status", remote=["--remote", f"127.0.0.1:{ADMIN}", "--admin-cert", adminA_crt, "--admin-key",
                         adminA_key, "--remote-ca", CA_CRT])
check("refuse.server_not_under_ca", r.returncode == 1 and "nothing sent" in r.stderr, r)
r = run(BIN, "status", "--remote", f"127.0.0.1:{ADMIN}")
check("usage.remote_needs_keys", r.returncode == 2 and "--admin-cert" in r.stderr, r)

# --- framing bounds, connection cap, deadline ----------------------------------------

pinned = client_ctx(adminA_crt, adminA_key)
pinned.minimum_version = ssl.TLSVersion.TLSv1_3
got = raw_tls(pinned, b"cert rotate example.com\npart cert 70000\n")
check("bounds.part_over_64k_refused", b'"result":"refused"' in got and b"65536" in got, got)
got = raw_tls(pinned, b"x" * 600)
check("bounds.line_over_512_refused", b'"result":"refused"' in got and b"longer than 512" in got, got)
got = raw_tls(pinned, b"cert rotate /etc/passwd\n")
check("bounds.path_is_not_a_target", b'"result":"refused"' in got and b"not a domain name" in got, got)
got = raw_tls(pinned, b"sh -c id\n")
check("bounds.unknown_command", b'"result":"refused"' in got and b"unknown command" in got, got)
# Three idle pinned connections fill admin.max_connections; a fourth is
# closed at once; the idle ones go after admin.timeout_ms.
idle = []
for _ in range(3):
    raw = socket.create_connection(("127.0.0.1", ADMIN), timeout=5)
    idle.append(pinned.wrap_socket(raw, server_hostname="x"))
time.sleep(0.3)
r = xe("status", timeout=30)
check("cap.fourth_connection_closed", r.returncode == 1, r)
time.sleep(2.5)
closed = 0
for s in idle:
    s.settimeout(2)
    try:
        closed += s.recv(100) == b""
    except (ssl.SSLError, OSError):
        closed += 1
    s.close()
check("deadline.idle_connections_closed", closed == 3, closed)
check("cap.free_again", xe("status").returncode == 0)

# --- cert rotate --remote under live streams -------------------------------------------

N, MID = 60, 20
PARTNER_CTX = client_ctx(partner_crt, partner_key, alpn=["xmpp-server"])


def federation_stream():
    """A Direct TLS stream from partner.example, authenticated with SASL EXTERNAL."""
    raw = socket.create_connection(("127.0.0.1", DIRECT), timeout=10)
    s = PARTNER_CTX.wrap_socket(raw, server_hostname="example.com")
    s.sendall(header())
    if b"<mechanism>EXTERNAL</mechanism>" not in read_until(s, b"</stream:features>"):
        return None
    s.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
    if b"<success" not in read_until(s, b"/>"):
        return None
    s.sendall(header())
    return s if b"</stream:features>" in read_until(s, b"</stream:features>") else None


def msg(i, tag):
    return (f"<message from='a{i}@partner.example/r' to='b@example.com' id='{tag}-{i}'>"
            f"<body>{tag} {i}</body></message>").encode()


def bounced_ids(tag):
    return {fakepeer.attr(el, "id") for el in PARTNER.stanzas if f"id='{tag}-".encode() in el}


streams = []
for i in range(N):
    try:
        s = federation_stream()
        if s is not None:
            streams.append(s)
    except OSError:
        pass
check("load.authenticated_streams", len(streams) == N, f"{len(streams)}/{N}")
# Traffic before: every stream's message comes back as a bounce over the
# outgoing stream to partner.example.
for i, s in enumerate(streams):
    s.sendall(msg(i, "pre"))
end = time.time() + 20
while time.time() < end and len(bounced_ids("pre")) < len(streams):
    time.sleep(0.1)
check("load.traffic_before", len(bounced_ids("pre")) == len(streams), len(bounced_ids("pre")))
# A third of them in the middle of a stanza when the rotation comes.
for i, s in enumerate(streams[:MID]):
    m = msg(i, "mid")
    s.sendall(m[:len(m) // 2])
t0 = time.monotonic()
r = xe("cert", "rotate", "example.com", "--cert", new_crt, "--key", new_key)
cli_ms = (time.monotonic() - t0) * 1000
check("rotate.remote_ok_and_read_back", r.returncode == 0 and "new certificate served over direct_tls" in r.stdout, r)
served_new = served_der() == cert_der(new_crt)
served_ms = (time.monotonic() - t0) * 1000
check("rotate.new_handshakes_new_cert", served_new)
check("rotate.installed_on_daemon", open(DOM_CRT, "rb").read() == open(new_crt, "rb").read()
      and open(DOM_KEY, "rb").read() == open(new_key, "rb").read())
check("rotate.previous_kept_as_bak", open(DOM_CRT + ".bak", "rb").read() == open(cur_crt, "rb").read()
      and open(DOM_KEY + ".bak", "rb").read() == open(cur_key, "rb").read())
check("rotate.key_mode", (os.stat(DOM_KEY).st_mode & 0o777) == 0o600, oct(os.stat(DOM_KEY).st_mode))
# The halves completed, a new message on every other stream: all of it
# must come back as bounces (traffic across the rotation, nothing lost).
for i, s in enumerate(streams):
    m = msg(i, "mid")
    try:
        s.sendall(m[len(m) // 2:] if i < MID else msg(i, "mid"))
    except OSError:
        pass
end = time.time() + 20
while time.time() < end and len(bounced_ids("mid")) < len(streams):
    time.sleep(0.1)
check("rotate.traffic_after_every_stream", len(bounced_ids("mid")) == len(streams), len(bounced_ids("mid")))
alive = 0
for s in streams:
    s.setblocking(False)
    try:
        data = s.recv(4096)
        ok = not (data == b"" or b"</stream:stream>" in data)
    except ssl.SSLWantReadError:
        ok = True
    except OSError:
        ok = False
    alive += ok
    s.setblocking(True)
dropped = N - alive
check("rotate.no_stream_dropped", dropped == 0, f"{dropped} of {N} dropped")
check("rotate.old_streams_keep_old_cert", all(s.getpeercert(binary_form=True) == cert_der(cur_crt) for s in streams))
st = json.loads(xe("status", "--json").stdout or "{}")
check("rotate.daemon_counts_streams", st.get("streams", 0) >= N, st.get("streams"))
print(f"measure: cert rotate --remote with {N} live authenticated streams ({MID} mid-stanza): command {cli_ms:.0f} ms "
      f"(read back inside it), new certificate served to a fresh handshake {served_ms:.0f} ms after the start; "
      f"streams dropped: {dropped}", flush=True)
for s in streams:
    s.close()
PARTNER.close()

# --- bad uploads: refused, the old (current) certificate still served ------------------

for name, args, why in [("mismatched_key", ["--cert", cur_crt, "--key", new_key], "does not match"),
                        ("expired", ["--cert", exp_crt, "--key", exp_key], "expired"),
                        ("wrong_domain", ["--cert", wrong_crt, "--key", wrong_key], "not valid for example.com"),
                        ("weak_key", ["--cert", weak_crt, "--key", weak_key], "1024-bit RSA key is too weak")]:
    r = xe("cert", "rotate", "example.com", *args)
    check(f"bad.{name}_refused", r.returncode == 1 and "refused by the daemon" in r.stderr and why in r.stderr, r)
    check(f"bad.{name}_old_still_served", served_der() == cert_der(new_crt)
          and open(DOM_CRT, "rb").read() == open(new_crt, "rb").read())
r = xe("cert", "rotate", "other.example", "--cert", wrong_crt, "--key", wrong_key)
check("bad.not_hosted_refused", r.returncode == 1 and "not a hosted domain" in r.stderr, r)

# --- cert csr --remote, then rotate with the certificate alone -------------------------

# RSA keys take a while: made off the loop, the daemon keeps answering.
rsa_csr = f"{CLIENT}/rsa.csr"
slow = subprocess.Popen([BIN, "cert", "csr", "example.com", "--key-type", "rsa", "--out", rsa_csr, *REMOTE],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
t0 = time.monotonic()
r = xe("status")
status_ms = (time.monotonic() - t0) * 1000
out, errs = slow.communicate(timeout=120)
check("csr.rsa_remote_ok", slow.returncode == 0 and "rsaEncryption" in run("openssl", "req", "-in", rsa_csr, "-noout",
                                                                              "-text").stdout, (out, errs))
check("csr.loop_not_held", r.returncode == 0, r)
print(f"measure: status --remote during an RSA 3072 key generation answered in {status_ms:.0f} ms", flush=True)
# A client that leaves while its key is being made: the daemon finishes
# the work, drops the answer and goes on.
gone = pinned.wrap_socket(socket.create_connection(("127.0.0.1", ADMIN), timeout=5), server_hostname="x")
gone.sendall(b"cert csr example.com rsa\n")
time.sleep(0.1)
gone.sendall(b"status\n" * 100)    # after the request: dropped, not a second answer
gone.close()
time.sleep(0.2)
check("csr.client_gone_meanwhile", xe("status").returncode == 0)
# One key at a time (both would write KEY.new): refused while it runs, then free.
r = xe("cert", "csr", "example.com")
check("csr.one_at_a_time", r.returncode == 0 or "being generated" in r.stderr, r)
end = time.time() + 120
while time.time() < end and "being generated" in xe("cert", "csr", "example.com", "--out", f"{CLIENT}/x.csr").stderr:
    time.sleep(0.5)
csr_path = f"{CLIENT}/remote.csr"
r = xe("cert", "csr", "example.com", "--out", csr_path)
csr_text = open(csr_path).read() if os.path.exists(csr_path) else ""
check("csr.remote_ok", r.returncode == 0 and "BEGIN CERTIFICATE REQUEST" in csr_text, r)
check("csr.key_stays_on_daemon", "PRIVATE KEY" not in csr_text + r.stdout + r.stderr
      and os.path.exists(DOM_KEY + ".new") and (os.stat(DOM_KEY + ".new").st_mode & 0o777) == 0o600)
signed = f"{CLIENT}/from-csr.crt"
try:
    sign(csr_path, signed)
except subprocess.CalledProcessError as e:
    check("csr.signed_by_ca", False, e.stderr)
r = xe("cert", "rotate", "example.com", "--cert", signed)
check("csr.rotate_without_key", r.returncode == 0 and "new certificate served" in r.stdout, r)
check("csr.served", served_der() == cert_der(signed))
check("csr.pending_key_in_service", not os.path.exists(DOM_KEY + ".new"))
r = xe("cert", "rotate", "example.com", "--cert", new_crt)
check("csr.no_pending_key_refused", r.returncode == 1 and "no key sent" in r.stderr, r)

# --- config push ---------------------------------------------------------------------------

good = json.loads(json.dumps(cfg))
good["limits"]["idle_timeout_s"] = 3600
good_path = f"{CLIENT}/good.json"
write_cfg(good_path, good)
before = open(CFG).read()
r = xe("config", "push", good_path)
check("push.good_applied", r.returncode == 0 and "applied" in r.stdout, r)
check("push.installed", json.load(open(CFG))["limits"]["idle_timeout_s"] == 3600)
check("push.previous_kept", open(CFG + ".bak").read() == before)
reloads = [e for e in daemon.events("config.reload") if e.get("result") == "applied"]
check("push.reloaded", len(reloads) >= 1, reloads[-1:])
installed = open(CFG).read()
for name, mutate, why in [
        ("unknown_key", lambda c: c["limits"].update({"no_such_limit": 1}), "no_such_limit"),
        ("missing_cert_file", lambda c: c["domains"][0].update({"cert": f"{ETC}/missing.crt"}), "missing.crt"),
        ("bad_json", None, ""),
        ("locks_out_this_key", lambda c: c["admin"].update({"pins": [spki_pin(adminB_crt)]}), "lock this client out"),
        ("no_admin_listener", lambda c: c["listen"].pop("admin"), "remote management would end")]:
    path = f"{CLIENT}/bad-{name}.json"
    if mutate is None:
        with open(path, "w") as f:
            f.write('{"domains": [')
    else:
        bad = json.loads(json.dumps(good))
        mutate(bad)
        write_cfg(path, bad)
    r = xe("config", "push", path)
    check(f"push.bad_{name}_refused", r.returncode == 1 and "refused by the daemon" in r.stderr and why in r.stderr, r)
    check(f"push.bad_{name}_nothing_changed", open(CFG).read() == installed)
check("push.daemon_still_serves", served_der() == cert_der(signed))

# --- admin pins: overlap during rotation ------------------------------------------------------

r = xe("cert", "pin", "add", "--from-cert", adminB_crt, "--admin")
check("pin.add_admin_b", r.returncode == 0 and "2 pin(s) accepted" in r.stdout, r)
REMOTE_B = ["--remote", f"127.0.0.1:{ADMIN}", "--admin-cert", adminB_crt, "--admin-key", adminB_key,
            "--remote-pin", f"sha256/{server_pin}"]
check("pin.b_works", xe("status", remote=REMOTE_B).returncode == 0)
check("pin.a_still_works", xe("status").returncode == 0)
r = xe("cert", "pin", "remove", spki_pin(adminA_crt), "--admin", remote=REMOTE_B)
check("pin.remove_a", r.returncode == 0 and "1 pin(s) accepted" in r.stdout, r)
check("pin.a_refused_now", xe("status").returncode == 1)
r = xe("cert", "pin", "remove", spki_pin(adminB_crt), "--admin", remote=REMOTE_B)
check("pin.last_refused", r.returncode == 1 and "last accepted pin" in r.stderr, r)
check("pin.b_still_works", xe("status", remote=REMOTE_B).returncode == 0)
# Back to A for the rest, this time with the local command (`cert pin
# --admin` through the control socket), run as the daemon's own user as
# in a container (the daemon never started as root: its own files count).
r = run(*AS_SERVICE, DAEMON_BIN, "cert", "pin", "list", "--admin", "-c", CFG)
check("pin.local_list_admin", r.returncode == 0 and spki_pin(adminB_crt) in r.stdout
      and f"withdrawn: {spki_pin(adminA_crt)}" in r.stdout, r)
r = run(*AS_SERVICE, DAEMON_BIN, "cert", "pin", "add", "--from-cert", adminA_crt, "--admin", "-c", CFG)
check("pin.local_add_admin", r.returncode == 0 and "daemon reloaded: 2 pin(s)" in r.stdout, r)
check("pin.a_back", xe("status").returncode == 0)

# --- restart: the rotated certificate is what the daemon starts with ---------------------------

rc = daemon.stop()
check("restart.clean_exit", rc == 0, daemon.text()[-2000:])
daemon = Daemon(f"{tmp}/daemon.log")
check("restart.up", daemon.up(), daemon.text()[-2000:])
check("restart.new_cert_still_served", served_der() == cert_der(signed))
check("restart.admin_pins_kept", xe("status", remote=REMOTE_B).returncode == 0)

# --- drain --remote ------------------------------------------------------------------------------

r = xe("drain")
check("drain.remote_applied", r.returncode == 0 and "draining" in r.stdout, r)
try:
    socket.create_connection(("127.0.0.1", DIRECT), timeout=2).close()
    refused = False
except OSError:
    refused = True
check("drain.external_listener_closed", refused)
check("drain.admin_still_answers", xe("status").returncode == 0)

rc = daemon.stop()
check("daemon.clean_exit", rc == 0, daemon.text()[-2000:])
check("daemon.no_sanitizer_report", "ERROR: AddressSanitizer" not in daemon.text()
      and "runtime error" not in daemon.text(), daemon.text()[-3000:])
finish()
