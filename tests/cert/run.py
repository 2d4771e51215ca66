#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Certificate operations: `xmpp-edge cert` end to end against a running
daemon (Direct TLS on 127.0.0.1:25270, STARTTLS on 127.0.0.1:25269, an
internal listener on a free loopback port, state in a temporary dir).

Covers: rotation under 200 established Direct TLS streams (all still open
and answering afterwards, new handshakes get the new certificate); every
refusal of `cert rotate` (mismatched key, wrong names, expired, not yet
valid, expiring within tls.expiry_warning_days, missing intermediate,
unreadable and non-certificate files) leaving the old certificate served;
--chain; rotation of the internal link's certificate read back from the
internal listener; pin overlap on the internal link with the suite's own
TLS client presenting gateway certificates; `cert status --json`;
`cert selfsign` and `cert csr` read by openssl; the control socket's mode,
owner and the refusal of a user without access; files replaced on disk
changing nothing until SIGHUP; and, on a second daemon (free ports) with
tls.watch_files, certificates renewed as an ACME client does (temp file
renamed over) and as Kubernetes does (`..data` swap) served without a
signal, a broken pair refused and retried, the watches following a reload
and closed at shutdown.
Last line: "N passed, N failed".
"""
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402
from xenet import (Daemon, cert_der, client_ctx, copy_for_other_users, free_port, kill_started,  # noqa: E402
                   read_until, selfsigned_cert, spki_pin, starttls, status_json)

BIN = os.path.abspath(os.environ.get("XE_BIN", "out/dev/xmpp-edge"))
STARTTLS_PORT, DIRECT_PORT = 25269, 25270
ROOT = os.geteuid() == 0
SERVICE_UID = 5269          # the daemon's user when the suite runs as root
NS = "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
tmp = tempfile.mkdtemp(prefix="xe-cert-")
os.chmod(tmp, 0o755)
ETC = f"{tmp}/etc"
os.mkdir(ETC)
os.chmod(ETC, 0o755)
CFG = f"{ETC}/edge.json"


def cleanup():
    kill_started()
    shutil.rmtree(tmp, ignore_errors=True)


atexit.register(cleanup)


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


# --- certificates, made with openssl at test time ---------------------------

def ossl(*args):
    r = run("openssl", *args)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr}")
    return r.stdout


def ts(offset_days):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + offset_days * 86400))


class CA:
    """A CA (or intermediate) issuing with `openssl ca`, which takes any
    start and end date (expired and not-yet-valid certificates)."""

    def __init__(self, name, parent=None):
        self.dir = f"{tmp}/ca-{name}"
        os.makedirs(f"{self.dir}/new")
        open(f"{self.dir}/index.txt", "w").close()
        with open(f"{self.dir}/serial", "w") as f:
            f.write("1000\n")
        with open(f"{self.dir}/ca.cnf", "w") as f:
            f.write(f"""[ca]
default_ca = d
[d]
dir = {self.dir}
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
""")
        self.crt, self.key = f"{self.dir}/ca.crt", f"{self.dir}/ca.key"
        if parent is None:
            ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.key, "-out", self.crt, "-days", "3650", "-subj", f"/CN=Test {name}",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign")
        else:
            parent.issue(f"ca-{name}", f"Test {name}", [], out=(self.crt, self.key), ca=True)

    def issue(self, name, cn, sans, start=-1, end=365, out=None, ca=False):
        crt, key = out or (f"{tmp}/{name}.crt", f"{tmp}/{name}.key")
        csr = f"{tmp}/{name}.csr"
        req = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"]
        if sans:
            req += ["-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans)]
        if ca:
            req += ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign"]
        ossl(*req)
        ossl("ca", "-batch", "-notext", "-config", f"{self.dir}/ca.cnf", "-cert", self.crt,
             "-keyfile", self.key, "-in", csr, "-out", crt, "-startdate", ts(start), "-enddate", ts(end))
        os.chmod(key, 0o600)
        return crt, key


def selfsigned(name, cn):
    return selfsigned_cert(tmp, name, cn, days=365)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


ca = CA("root")
ca2 = CA("other")           # not in tls.ca_file
inter = CA("inter", parent=ca)

cur_crt, cur_key = ca.issue("cur", "example.com", ["example.com"])
new_crt, new_key = ca.issue("new", "example.com", ["example.com"])
wrong_crt, wrong_key = ca.issue("wrong", "other.example", ["other.example", "www.example.com"])
exp_crt, exp_key = ca.issue("expired", "example.com", ["example.com"], start=-400, end=-10)
fut_crt, fut_key = ca.issue("future", "example.com", ["example.com"], start=10, end=400)
soon_crt, soon_key = ca.issue("soon", "example.com", ["example.com"], start=-300, end=10)
other_ca_crt, other_ca_key = ca2.issue("otherca", "example.com", ["example.com"])
via_inter_crt, via_inter_key = inter.issue("viainter", "example.com", ["example.com"])
int_cur_crt, int_cur_key = selfsigned("int-cur", "edge.internal")
int_new_crt, int_new_key = selfsigned("int-new", "edge.internal")
gwA_crt, gwA_key = selfsigned("gwA", "gateway.internal")
gwB_crt, gwB_key = selfsigned("gwB", "gateway.internal")

# The files the configuration names, owned by the daemon's user as an
# operator would set them up (it reads them again after dropping root).
DOM_CRT, DOM_KEY = f"{ETC}/example.com.crt", f"{ETC}/example.com.key"
INT_CRT, INT_KEY = f"{ETC}/internal.crt", f"{ETC}/internal.key"
for src, dst, mode in ((cur_crt, DOM_CRT, 0o644), (cur_key, DOM_KEY, 0o600),
                       (int_cur_crt, INT_CRT, 0o644), (int_cur_key, INT_KEY, 0o600)):
    shutil.copy(src, dst)
    os.chmod(dst, mode)
    if ROOT:
        os.chown(dst, SERVICE_UID, SERVICE_UID)

INTERNAL_PORT = free_port()
STATE = f"{tmp}/state"
cfg = {
    "state_dir": STATE,
    "domains": [{"name": "example.com", "cert": DOM_CRT, "key": DOM_KEY}],
    "listen": {"starttls": [f"127.0.0.1:{STARTTLS_PORT}"], "direct_tls": [f"127.0.0.1:{DIRECT_PORT}"],
               "internal": [f"127.0.0.1:{INTERNAL_PORT}"]},
    "gateway": {"address": f"127.0.0.1:{free_port()}", "pins": [spki_pin(gwA_crt)],
                "cert": INT_CRT, "key": INT_KEY},
    "tls": {"ca_file": ca.crt},
    "limits": {"max_streams_per_ip": 1000, "handshake_timeout_ms": 600000, "idle_timeout_s": 86400},
    "log": {"format": "json", "level": "info"},
}
if ROOT:
    cfg["user"] = str(SERVICE_UID)
with open(CFG, "w") as f:
    json.dump(cfg, f)
os.chmod(CFG, 0o644)


def cert(*args, user=None):
    cmd = [BIN, "cert", *args]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return run(*cmd)


# --- the daemon ----------------------------------------------------------------

daemon = Daemon(BIN, ["-c", CFG], f"{tmp}/daemon.log")
if not all(daemon.wait_port(p, timeout=20) for p in (DIRECT_PORT, STARTTLS_PORT, INTERNAL_PORT)):
    check("daemon.starts", False, daemon.text()[-3000:])
    finish()
check("daemon.starts", True)
SOCK = f"{STATE}/control.sock"


EXT = client_ctx(alpn=["xmpp-server"])


def header(to="example.com", frm="partner.example"):
    return f"<?xml version='1.0'?><stream:stream {NS} to='{to}' from='{frm}' version='1.0'>".encode()


def direct_stream():
    """A Direct TLS stream that completed the handshake and its header."""
    raw = socket.create_connection(("127.0.0.1", DIRECT_PORT), timeout=10)
    s = EXT.wrap_socket(raw, server_hostname="example.com")
    s.sendall(header())
    got = read_until(s, b"</stream:features>")
    return s, got


def served_der():
    """The certificate a Direct TLS stream (header answered) gets."""
    s, _ = direct_stream()
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


def served_der_starttls():
    s, _, _ = starttls(STARTTLS_PORT, header(), "example.com")
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


check("setup.serves_current", served_der() == cert_der(cur_crt))

# --- control socket ------------------------------------------------------------

st = os.stat(SOCK)
check("control.socket_mode_0660", stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode))
if ROOT:
    check("control.socket_owned_by_service_user", st.st_uid == SERVICE_UID and st.st_gid == SERVICE_UID,
          (st.st_uid, st.st_gid))
    # nobody runs a copy in our 0755 directory: the clone may be under /root.
    BIN_ANY_USER = copy_for_other_users(BIN, tmp)
    # The state directory (0750) is closed to others already ...
    r = run("runuser", "-u", "nobody", "--", BIN_ANY_USER, "status", "--socket", SOCK)
    check("control.other_user_refused_by_dir",
          r.returncode == 1 and "permission denied on the control socket" in r.stderr
          and f"owner uid {SERVICE_UID}" in r.stderr and "mode 0750" in r.stderr, r)
    # ... and with the directory opened, the socket's own mode refuses.
    dmode = stat.S_IMODE(os.stat(STATE).st_mode)
    os.chmod(STATE, dmode | 0o001)
    r = run("runuser", "-u", "nobody", "--", BIN_ANY_USER, "status", "--socket", SOCK)
    os.chmod(STATE, dmode)
    check("control.other_user_refused_by_socket",
          r.returncode == 1 and "permission denied on the control socket" in r.stderr
          and f"owner uid {SERVICE_UID}" in r.stderr and "mode 0660" in r.stderr, r)
    r = run("runuser", "-u", "nobody", "--", BIN_ANY_USER, "cert", "rotate", "--socket", SOCK)
    check("control.other_user_cannot_reload", r.returncode == 1 and "permission denied" in r.stderr, r)
    r = run(BIN, "status", "--socket", SOCK, "--json")
    check("control.root_allowed", r.returncode == 0 and '"status":"running"' in r.stdout, r)
    # File modes are not the whole gate (issue 14 finding 6): a process of
    # another uid that they let in (it has the service group, as every
    # nogroup process had with the old nobody default) is refused by the
    # daemon itself (SO_PEERCRED), told why, and logged.  The binary is
    # copied where that uid can execute it, wherever the clone lives.
    BIN_ANY = f"{tmp}/bin/xmpp-edge"
    os.makedirs(f"{tmp}/bin", exist_ok=True)
    shutil.copy(BIN, BIN_ANY)
    os.chmod(BIN_ANY, 0o755)
    as_4242 = ["setpriv", "--reuid=4242", f"--regid={SERVICE_UID}", "--clear-groups", BIN_ANY]
    r = run(*as_4242, "drain", "--socket", SOCK)
    want = (f"xmpp-edge: the daemon on {SOCK} refused: uid 4242 is not root, the daemon's user "
            f"(uid {SERVICE_UID}) or a member of control.admin_group (not set)")
    check("control.other_uid_in_group_refused", r.returncode == 1 and r.stderr.strip() == want,
          (want, r))
    st_doc = status_json(BIN, "--socket", SOCK)
    check("control.refused_drain_not_applied", st_doc.get("draining") == 0, st_doc.get("draining"))
    time.sleep(0.2)
    refused = [e for e in daemon.events() if e.get("event") == "control.refused"]
    check("control.refusal_logged", refused and refused[-1].get("uid") == "4242"
          and refused[-1].get("gid") == str(SERVICE_UID), refused)

# --- cert status ---------------------------------------------------------------

r = cert("status", "-c", CFG, "--json")
try:
    doc = json.loads(r.stdout)
except ValueError:
    doc = {}
certs = {c.get("name"): c for c in doc.get("certificates", [])}
dom = certs.get("example.com", {})
check("status.json_exit_0", r.returncode == 0 and doc.get("attention") is False, r)
check("status.json_domain",
      dom.get("pin_sha256") == spki_pin(cur_crt) and {"type": "DNS", "value": "example.com"} in dom.get("names", [])
      and dom.get("issuer") == "CN=Test root" and dom.get("key_type") == "EC P-256"
      and 360 <= dom.get("days_left", 0) <= 365 and dom.get("state") == "ok", dom)
check("status.json_internal", certs.get("internal", {}).get("pin_sha256") == spki_pin(int_cur_crt)
      and certs["internal"].get("self_signed") is True, certs.get("internal"))
check("status.json_pins", doc.get("gateway_pins") == [spki_pin(gwA_crt)] and doc.get("warn_days") == 30, doc)
r = cert("status", "-c", CFG, "--json", "--warn-days", "400")
doc = json.loads(r.stdout) if r.stdout.startswith("{") else {}
check("status.warn_days_exit_1", r.returncode == 1 and doc.get("attention") is True
      and "fewer than 400" in r.stderr, r)
r = cert("status", "-c", CFG)
check("status.text", r.returncode == 0 and "example.com (domain)" in r.stdout and spki_pin(cur_crt) in r.stdout
      and "days left" in r.stdout, r.stdout)

# --- refusals: nothing changes, the old certificate stays served ----------------

# A key too weak for years of service (RSA 1024), otherwise acceptable
# (a lone self-signed leaf for example.com).
weak_crt, weak_key = f"{tmp}/weak.crt", f"{tmp}/weak.key"
ossl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", weak_key, "-out", weak_crt, "-days", "90",
     "-subj", "/CN=example.com", "-addext", "subjectAltName=DNS:example.com")
garbage = f"{tmp}/garbage.pem"
with open(garbage, "w") as f:
    f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
refusals = [
    ("mismatched_key", ["--cert", new_crt, "--key", cur_key], "does not match"),
    ("wrong_names", ["--cert", wrong_crt, "--key", wrong_key], "not valid for example.com"),
    ("expired", ["--cert", exp_crt, "--key", exp_key], "expired"),
    ("not_yet_valid", ["--cert", fut_crt, "--key", fut_key], "not valid yet"),
    ("expiring_soon", ["--cert", soon_crt, "--key", soon_key], "fewer than the 30"),
    ("untrusted_ca", ["--cert", other_ca_crt, "--key", other_ca_key], "does not verify"),
    ("missing_intermediate", ["--cert", via_inter_crt, "--key", via_inter_key], "does not verify"),
    ("wrong_chain", ["--cert", via_inter_crt, "--key", via_inter_key, "--chain", ca2.crt], "does not verify"),
    ("unreadable_cert", ["--cert", f"{tmp}/nope.pem", "--key", new_key], "cannot read"),
    ("unreadable_key", ["--cert", new_crt, "--key", f"{tmp}/nope.key"], "cannot read"),
    ("not_a_certificate", ["--cert", garbage, "--key", new_key], "not a certificate"),
    ("weak_key", ["--cert", weak_crt, "--key", weak_key], "1024-bit RSA key is too weak"),
]
before = (sha(DOM_CRT), sha(DOM_KEY))
for name, args, why in refusals:
    r = cert("rotate", "example.com", "-c", CFG, *args)
    check(f"refuse.{name}", r.returncode == 1 and why in r.stderr and "nothing changed" in r.stderr
          and (sha(DOM_CRT), sha(DOM_KEY)) == before and not os.path.exists(DOM_CRT + ".bak"), r)
check("refuse.old_still_served", served_der() == cert_der(cur_crt) and served_der_starttls() == cert_der(cur_crt))
r = cert("rotate", "other.example", "-c", CFG, "--cert", wrong_crt, "--key", wrong_key)
check("refuse.not_hosted", r.returncode == 1 and "not a hosted domain" in r.stderr, r)
r = cert("rotate", "example.com", "-c", CFG, "--cert", new_crt)
check("refuse.usage", r.returncode == 2, r)

# --- rotation under 200 established streams -------------------------------------

N = 200
streams = []
for i in range(N):
    try:
        s, got = direct_stream()
        if b"<stream:features>" in got:
            streams.append(s)
    except OSError:
        pass
check("load.200_streams_established", len(streams) == N, len(streams))
r = cert("rotate", "example.com", "-c", CFG, "--cert", new_crt, "--key", new_key)
check("rotate.ok", r.returncode == 0 and "identical to the new one" in r.stdout
      and "Direct TLS at 127.0.0.1:25270" in r.stdout, r)
check("rotate.installed", open(DOM_CRT, "rb").read() == open(new_crt, "rb").read()
      and open(DOM_KEY, "rb").read() == open(new_key, "rb").read())
check("rotate.backup_kept", os.path.exists(DOM_CRT + ".bak") and sha(DOM_CRT + ".bak") == before[0]
      and sha(DOM_KEY + ".bak") == before[1])
kst = os.stat(DOM_KEY)
check("rotate.key_mode_owner", stat.S_IMODE(kst.st_mode) == 0o600
      and (not ROOT or (kst.st_uid, kst.st_gid) == (SERVICE_UID, SERVICE_UID)), (oct(kst.st_mode), kst.st_uid))
bst = os.stat(DOM_KEY + ".bak")
check("rotate.backup_key_private", stat.S_IMODE(bst.st_mode) == 0o600, oct(bst.st_mode))
# Every established stream is still open and takes more bytes without
# being closed (whitespace is allowed between elements, RFC 6120 §11.7).
for s in streams:
    try:
        s.sendall(b" \n ")
    except OSError:
        pass
time.sleep(1.0)
alive = 0
for s in streams:
    s.setblocking(False)
    try:
        data = s.recv(4096)
        ok = False if data == b"" or b"</stream:stream>" in data else True
    except ssl.SSLWantReadError:
        ok = True           # nothing to read and not closed
    except OSError:
        ok = False
    alive += ok
    s.setblocking(True)
check("load.200_streams_still_open", alive == N, f"{alive}/{N}")
check("load.old_streams_keep_old_cert", all(s.getpeercert(binary_form=True) == cert_der(cur_crt) for s in streams))
st_doc = status_json(BIN, "--socket", SOCK)
check("load.daemon_counts_streams", st_doc.get("streams", 0) >= N, st_doc.get("streams"))
check("rotate.new_handshakes_new_cert", served_der() == cert_der(new_crt) and served_der_starttls() == cert_der(new_crt))
# One more byte per stream after the new handshakes: still answered.
for s in streams:
    s.sendall(b" ")
time.sleep(0.5)
for s in streams:
    s.close()
ev = daemon.text()
check("rotate.daemon_logged_swap", '"event":"tls.certstore_swap"' in ev or "tls.certstore_swap" in ev)

# --- --chain: the intermediate is installed with the leaf ------------------------

r = cert("rotate", "example.com", "-c", CFG, "--cert", via_inter_crt, "--key", via_inter_key, "--chain", inter.crt)
check("chain.rotate_ok", r.returncode == 0 and "identical" in r.stdout, r)
content = open(DOM_CRT).read()
check("chain.installed_leaf_first", content.startswith(open(via_inter_crt).read().strip()[:60])
      and content.count("BEGIN CERTIFICATE") == 2, content[:200])
check("chain.served", served_der() == cert_der(via_inter_crt))

# --- daemon down: the files go back ----------------------------------------------

before = (sha(DOM_CRT), sha(DOM_KEY))
r = cert("rotate", "example.com", "-c", CFG, "--socket", f"{tmp}/nothing.sock", "--cert", new_crt, "--key", new_key)
check("rotate.no_daemon_puts_back", r.returncode == 1 and "no daemon answers" in r.stderr
      and "put back" in r.stderr and (sha(DOM_CRT), sha(DOM_KEY)) == before, r)
check("rotate.no_daemon_still_served", served_der() == cert_der(via_inter_crt))

# --- internal link certificate ---------------------------------------------------

r = cert("rotate", "internal", "-c", CFG, "--cert", int_new_crt, "--key", int_new_key)
check("internal.rotate_ok", r.returncode == 0 and "internal listener" in r.stdout and "identical" in r.stdout
      and spki_pin(int_new_crt) in r.stderr, r)
r = cert("rotate", "internal", "-c", CFG, "--cert", int_new_crt, "--key", int_cur_key)
check("internal.mismatch_refused", r.returncode == 1 and "does not match" in r.stderr, r)


# --- pins: overlap on the internal link ------------------------------------------

def gateway_try(crt, key):
    """Connects to the internal listener presenting crt; True when the
    daemon answers our stream header (accepted), False when it closes."""
    ctx = client_ctx(crt, key)
    try:
        raw = socket.create_connection(("127.0.0.1", INTERNAL_PORT), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="edge.internal")
        s.sendall(f"<?xml version='1.0'?><stream:stream {NS} from='example.com' to='partner.example' "
                  "version='1.0'>".encode())
        got = read_until(s, b"<stream:stream", timeout=5)
        s.close()
        return b"<stream:stream" in got
    except (OSError, ssl.SSLError):
        return False


A, B = spki_pin(gwA_crt), spki_pin(gwB_crt)
check("pin.start_A_only", gateway_try(gwA_crt, gwA_key) and not gateway_try(gwB_crt, gwB_key))
r = cert("pin", "list", "-c", CFG)
check("pin.list", r.returncode == 0 and A in r.stdout and "(gateway.pins)" in r.stdout and B not in r.stdout, r)
r = cert("pin", "add", B, "-c", CFG)
check("pin.add_B", r.returncode == 0 and "daemon reloaded: 2 pin(s)" in r.stdout, r)
pst = os.stat(f"{STATE}/gateway-pins")
# Written by root (`cert pin` as root), read by the daemon, which must not
# be able to change it.
check("pin.file_public_not_writable", stat.S_IMODE(pst.st_mode) == 0o644
      and (not ROOT or pst.st_uid == 0), (oct(pst.st_mode), pst.st_uid))
if ROOT:
    # A pins file the service user could have written is refused on reload
    # and by check, in the same words, and the running pins stay.
    os.chown(f"{STATE}/gateway-pins", SERVICE_UID, SERVICE_UID)
    want = (f"{CFG}: gateway.pins: {STATE}/gateway-pins: owned by uid {SERVICE_UID}, not root: the daemon's "
            "user must not be able to write the pins that say who may speak for the gateway; chown root it "
            "(`xmpp-edge cert pin` run as root writes it so)")
    r = cert("rotate", "--socket", SOCK)  # prints the daemon's answer as it is
    c = run(BIN, "check", "-c", CFG)
    check("pin.file_owned_by_service_user_refused", r.returncode == 1
          and json.loads(r.stdout).get("error") == want
          and c.returncode == 1 and c.stderr.strip() == want, (want, r, c))
    check("pin.refused_file_keeps_running_pins", gateway_try(gwA_crt, gwA_key) and gateway_try(gwB_crt, gwB_key))
    os.chown(f"{STATE}/gateway-pins", 0, 0)
check("pin.overlap_both_accepted", gateway_try(gwA_crt, gwA_key) and gateway_try(gwB_crt, gwB_key))
r = cert("pin", "remove", A, "-c", CFG)
check("pin.remove_A", r.returncode == 0 and "daemon reloaded: 1 pin(s)" in r.stdout, r)
check("pin.only_B_now", not gateway_try(gwA_crt, gwA_key) and gateway_try(gwB_crt, gwB_key))
r = cert("pin", "remove", B, "-c", CFG)
check("pin.last_refused", r.returncode == 1 and "last accepted pin" in r.stderr, r)
check("pin.last_still_accepted", gateway_try(gwB_crt, gwB_key))
r = cert("pin", "add", "--from-cert", gwA_crt, "-c", CFG)
check("pin.add_from_cert", r.returncode == 0 and A in r.stdout, r)
check("pin.A_back", gateway_try(gwA_crt, gwA_key))
r = cert("pin", "add", "abc", "-c", CFG)
check("pin.invalid_refused", r.returncode == 2 and "decodes to" in r.stderr or "not valid base64" in r.stderr, r)
r = cert("pin", "add", "AAAA" * 11, "-c", CFG)
check("pin.wrong_length_refused", r.returncode == 2 and "32" in r.stderr, r)
r = cert("pin", "remove", spki_pin(new_crt), "-c", CFG)
check("pin.remove_unknown_refused", r.returncode == 1 and "not an accepted pin" in r.stderr, r)
r = cert("status", "-c", CFG, "--json")
doc = json.loads(r.stdout) if r.stdout.startswith("{") else {}
check("pin.status_shows_effective", sorted(doc.get("gateway_pins", [])) == sorted([A, B]), doc.get("gateway_pins"))

# --- selfsign and csr, read by openssl --------------------------------------------

os.mkdir(f"{tmp}/gen")
r = cert("selfsign", "chat.example.org", "--cert", f"{tmp}/gen/s.pem", "--key", f"{tmp}/gen/s.key", "--days", "90")
txt = run("openssl", "x509", "-in", f"{tmp}/gen/s.pem", "-text", "-noout").stdout
check("selfsign.ec", r.returncode == 0 and "DNS:chat.example.org" in txt
      and "SRVName::_xmpp-server.chat.example.org" in txt and "XmppAddr::chat.example.org" in txt
      and "id-ecPublicKey" in txt and "TLS Web Server Authentication" in txt, r.stdout + txt)
check("selfsign.key_0600", stat.S_IMODE(os.stat(f"{tmp}/gen/s.key").st_mode) == 0o600)
end = run("openssl", "x509", "-in", f"{tmp}/gen/s.pem", "-noout", "-enddate").stdout
check("selfsign.days", run("openssl", "x509", "-in", f"{tmp}/gen/s.pem", "-noout", "-checkend", str(89 * 86400)).returncode == 0
      and run("openssl", "x509", "-in", f"{tmp}/gen/s.pem", "-noout", "-checkend", str(91 * 86400)).returncode == 1, end)
check("selfsign.pin_printed", spki_pin(f"{tmp}/gen/s.pem") in r.stdout, r.stdout)
r = cert("selfsign", "chat.example.org", "--cert", f"{tmp}/gen/s.pem", "--key", f"{tmp}/gen/s.key")
check("selfsign.no_overwrite", r.returncode == 1 and "--force" in r.stderr, r)
r = cert("selfsign", "chat.example.org", "--cert", f"{tmp}/gen/r.pem", "--key", f"{tmp}/gen/r.key", "--key-type", "rsa")
txt = run("openssl", "x509", "-in", f"{tmp}/gen/r.pem", "-text", "-noout").stdout
check("selfsign.rsa", r.returncode == 0 and "rsaEncryption" in txt and "(3072 bit)" in txt, txt[:600])
r = run("openssl", "pkey", "-in", f"{tmp}/gen/r.key", "-noout")
check("selfsign.rsa_key_readable_by_openssl", r.returncode == 0, r)
# A self-signed certificate from selfsign is accepted by rotate (labs).
r = cert("rotate", "internal", "-c", CFG, "--cert", f"{tmp}/gen/s.pem", "--key", f"{tmp}/gen/s.key")
check("selfsign.usable_for_internal", r.returncode == 0, r)

r = cert("csr", "chat.example.org", "--key", f"{tmp}/gen/c.key", "--new-key", "--out", f"{tmp}/gen/c.csr")
txt = run("openssl", "req", "-in", f"{tmp}/gen/c.csr", "-text", "-noout", "-verify")
check("csr.new_key", r.returncode == 0 and "Subject: CN = chat.example.org" in txt.stdout
      and "DNS:chat.example.org" in txt.stdout and "SRVName::_xmpp-server.chat.example.org" in txt.stdout
      and "XmppAddr::chat.example.org" in txt.stdout and "verify OK" in (txt.stdout + txt.stderr), r.stderr + txt.stdout + txt.stderr)
check("csr.key_0600", stat.S_IMODE(os.stat(f"{tmp}/gen/c.key").st_mode) == 0o600)
pub_csr = run("openssl", "req", "-in", f"{tmp}/gen/c.csr", "-pubkey", "-noout").stdout
pub_key = run("openssl", "pkey", "-in", f"{tmp}/gen/c.key", "-pubout").stdout
check("csr.matches_key", pub_csr == pub_key and pub_csr.startswith("-----BEGIN PUBLIC KEY"))
r = cert("csr", "chat.example.org", "--key", f"{tmp}/gen/c.key", "--new-key")
check("csr.new_key_never_overwrites", r.returncode == 1 and "never overwrites" in r.stderr, r)
r = cert("csr", "chat.example.org", "--key", f"{tmp}/gen/s.key")
check("csr.existing_key_stdout", r.returncode == 0 and r.stdout.startswith("-----BEGIN CERTIFICATE REQUEST-----"), r)
r = cert("csr", "chat.example.org", "--key", f"{tmp}/gen/r2.key", "--new-key", "--key-type", "rsa",
         "--out", f"{tmp}/gen/r2.csr")
txt = run("openssl", "req", "-in", f"{tmp}/gen/r2.csr", "-text", "-noout", "-verify")
check("csr.rsa", r.returncode == 0 and "(3072 bit)" in txt.stdout and "verify OK" in (txt.stdout + txt.stderr), txt)

# --- usage errors ------------------------------------------------------------------

for args in (["frob"], ["status", "--cert", "x"], ["selfsign"], ["csr", "a.example"],
             ["pin"], ["pin", "add"], ["status", "--warn-days", "x"], ["selfsign", "a.example", "--cert", "a",
                                                                      "--key", "b", "--key-type", "dsa"]):
    r = cert(*args)
    check("usage." + "_".join(a.strip("-") for a in args[:2]), r.returncode == 2 and r.stderr, r)

# --- tls.watch_files ---------------------------------------------------------------
#
# Certificates renewed by another program: an ACME client writes a temporary
# file and renames it over the old one; Kubernetes swaps the `..data`
# symlink of a secret volume.  With tls.watch_files the daemon reloads by
# itself (2 s after the last change); without it, only SIGHUP does.


def served_der_at(port, sni):
    """The certificate a Direct TLS handshake with SNI gets."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = EXT.wrap_socket(raw, server_hostname=sni)
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


def own(path):
    if ROOT:
        os.lchown(path, SERVICE_UID, SERVICE_UID)


def acme_write(src, dst, mode):
    """As an ACME client installs a file: a temporary beside it, renamed over."""
    part = f"{dst}.tmp-{os.getpid()}"
    shutil.copy(src, part)
    os.chmod(part, mode)
    own(part)
    os.rename(part, dst)


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def count(text, event):
    return text.count(f'"event":"{event}"')


# watch_files false (the suite's daemon): a file replaced on disk changes
# nothing until SIGHUP.
check("nowatch.serves_before", served_der() == cert_der(via_inter_crt))
acme_write(cur_crt, DOM_CRT, 0o644)
acme_write(cur_key, DOM_KEY, 0o600)
time.sleep(4)       # twice the watch debounce
check("nowatch.unchanged_without_sighup", served_der() == cert_der(via_inter_crt)
      and "cert_watch." not in daemon.text())
daemon.proc.send_signal(signal.SIGHUP)
check("nowatch.sighup_loads_new", wait_for(lambda: served_der() == cert_der(cur_crt), 5))

new2_crt, new2_key = ca.issue("new2", "example.com", ["example.com"])
k8s1_crt, k8s1_key = ca.issue("k8s1", "k8s.example", ["k8s.example"])
k8s2_crt, k8s2_key = ca.issue("k8s2", "k8s.example", ["k8s.example"])

WDIR, KDIR = f"{tmp}/watch", f"{tmp}/k8s"
for d in (WDIR, KDIR):
    os.mkdir(d)
    os.chmod(d, 0o755)
    own(d)
W_CRT, W_KEY = f"{WDIR}/example.com.crt", f"{WDIR}/example.com.key"
acme_write(cur_crt, W_CRT, 0o644)
acme_write(cur_key, W_KEY, 0o600)


def k8s_publish(version, crt, key):
    """The kubelet's atomic writer: files in a new ..VERSION directory,
    then ..data (a symlink to it) replaced by a rename."""
    vdir = f"{KDIR}/..{version}"
    os.mkdir(vdir)
    os.chmod(vdir, 0o755)
    own(vdir)
    shutil.copy(crt, f"{vdir}/tls.crt")
    shutil.copy(key, f"{vdir}/tls.key")
    os.chmod(f"{vdir}/tls.crt", 0o644)
    os.chmod(f"{vdir}/tls.key", 0o600)
    own(f"{vdir}/tls.crt")
    own(f"{vdir}/tls.key")
    os.symlink(f"..{version}", f"{KDIR}/..data_tmp")
    own(f"{KDIR}/..data_tmp")
    os.rename(f"{KDIR}/..data_tmp", f"{KDIR}/..data")


k8s_publish("v1", k8s1_crt, k8s1_key)
for name in ("tls.crt", "tls.key"):
    os.symlink(f"..data/{name}", f"{KDIR}/{name}")
    own(f"{KDIR}/{name}")

W_DIRECT, W_STARTTLS = free_port(), free_port()
wcfg = {
    "state_dir": f"{tmp}/wstate",
    "domains": [{"name": "example.com", "cert": W_CRT, "key": W_KEY},
                {"name": "k8s.example", "cert": f"{KDIR}/tls.crt", "key": f"{KDIR}/tls.key"}],
    "listen": {"starttls": [f"127.0.0.1:{W_STARTTLS}"], "direct_tls": [f"127.0.0.1:{W_DIRECT}"]},
    "tls": {"ca_file": ca.crt, "watch_files": True},
    "log": {"format": "json", "level": "info"},
}
if ROOT:
    wcfg["user"] = str(SERVICE_UID)
WCFG = f"{ETC}/watch.json"
with open(WCFG, "w") as f:
    json.dump(wcfg, f)
os.chmod(WCFG, 0o644)
wdaemon = Daemon(BIN, ["-c", WCFG], f"{tmp}/watch-daemon.log")


up = wait_for(lambda: served_der_at(W_DIRECT, "example.com") is not None, 20)
check("watch.starts", up and wdaemon.proc.poll() is None, wdaemon.text()[-2000:])
check("watch.serves_initial", served_der_at(W_DIRECT, "example.com") == cert_der(cur_crt)
      and served_der_at(W_DIRECT, "k8s.example") == cert_der(k8s1_crt))
t = wdaemon.text()
watched = [json.loads(ln).get("dir") for ln in t.splitlines() if '"event":"cert_watch.watch"' in ln]
# The certificates' and keys' directories (two files each) and tls.ca_file's.
check("watch.watches_each_dir_once", sorted(watched) == sorted([WDIR, KDIR, ca.dir]),
      [ln for ln in t.splitlines() if "cert_watch" in ln])

# A file of no interest in a watched directory: nothing happens.
with open(f"{WDIR}/notes.txt", "w") as f:
    f.write("renewed by acme.sh\n")
time.sleep(3)
t = wdaemon.text()
check("watch.ignores_other_files", count(t, "cert_watch.change") == 0 and count(t, "config.reload") == 0, t[-1500:])

# ACME: certificate, then key, each a temp file renamed over; no SIGHUP.
reloads = count(wdaemon.text(), "config.reload")
acme_write(new_crt, W_CRT, 0o644)
time.sleep(0.5)     # a slow client: both land within one debounce
acme_write(new_key, W_KEY, 0o600)
check("watch.rename_serves_new", wait_for(lambda: served_der_at(W_DIRECT, "example.com") == cert_der(new_crt), 10),
      wdaemon.text()[-2000:])
t = wdaemon.text()
check("watch.logged_change_and_reload", count(t, "cert_watch.change") >= 2
      and '"event":"cert_watch.reload","result":"applied"' in t.replace(", ", ","), t[-2000:])
check("watch.one_reload_for_the_pair", count(t, "config.reload") == reloads + 1
      and count(t, "config.reload_failed") == 0, t[-2000:])
check("watch.other_domain_untouched", served_der_at(W_DIRECT, "k8s.example") == cert_der(k8s1_crt))

# A broken pair (new certificate, old key still there): refused as a
# whole, the running certificate stays; writing the key retries.
acme_write(new2_crt, W_CRT, 0o644)
check("watch.broken_pair_logged", wait_for(lambda: count(wdaemon.text(), "config.reload_failed") == 1, 10),
      wdaemon.text()[-2000:])
t = wdaemon.text()
check("watch.broken_pair_reason", '"result":"failed"' in t and "domains[0]" in t, t[-2000:])
check("watch.broken_pair_keeps_old", served_der_at(W_DIRECT, "example.com") == cert_der(new_crt))
acme_write(new2_key, W_KEY, 0o600)
check("watch.next_change_retries", wait_for(lambda: served_der_at(W_DIRECT, "example.com") == cert_der(new2_crt), 10),
      wdaemon.text()[-2000:])

# Kubernetes: a new ..VERSION directory, then ..data swapped by rename.
k8s_publish("v2", k8s2_crt, k8s2_key)
check("watch.k8s_data_swap_serves_new",
      wait_for(lambda: served_der_at(W_DIRECT, "k8s.example") == cert_der(k8s2_crt), 10), wdaemon.text()[-2000:])
check("watch.k8s_change_logged", '"file":"..data"' in wdaemon.text())

# A reload re-arms the watches: example.com's files move to another
# directory (SIGHUP); the old directory is dropped, the new one watched.
WDIR2 = f"{tmp}/watch2"
os.mkdir(WDIR2)
os.chmod(WDIR2, 0o755)
own(WDIR2)
acme_write(new2_crt, f"{WDIR2}/example.com.crt", 0o644)
acme_write(new2_key, f"{WDIR2}/example.com.key", 0o600)
wcfg["domains"][0] = {"name": "example.com", "cert": f"{WDIR2}/example.com.crt", "key": f"{WDIR2}/example.com.key"}
with open(WCFG, "w") as f:
    json.dump(wcfg, f)
wdaemon.proc.send_signal(signal.SIGHUP)
check("watch.rearm_on_reload", wait_for(lambda: f'"event":"cert_watch.watch","dir":"{WDIR2}"' in wdaemon.text()
                                        and f'"event":"cert_watch.unwatch","dir":"{WDIR}"' in wdaemon.text(), 5),
      [ln for ln in wdaemon.text().splitlines() if "cert_watch" in ln][-6:])
acme_write(cur_crt, f"{WDIR2}/example.com.crt", 0o644)
acme_write(cur_key, f"{WDIR2}/example.com.key", 0o600)
check("watch.new_dir_watched", wait_for(lambda: served_der_at(W_DIRECT, "example.com") == cert_der(cur_crt), 10),
      wdaemon.text()[-1500:])

# tls.watch_files turned off by a reload: every watch closed, changes wait for SIGHUP.
wcfg["tls"]["watch_files"] = False
with open(WCFG, "w") as f:
    json.dump(wcfg, f)
wdaemon.proc.send_signal(signal.SIGHUP)
check("watch.off_on_reload", wait_for(lambda: count(wdaemon.text(), "cert_watch.unwatch") == 4, 5),
      [ln for ln in wdaemon.text().splitlines() if "cert_watch" in ln][-6:])
changes = count(wdaemon.text(), "cert_watch.change")
acme_write(new_crt, f"{WDIR2}/example.com.crt", 0o644)
acme_write(new_key, f"{WDIR2}/example.com.key", 0o600)
time.sleep(4)
check("watch.off_nothing_changes", served_der_at(W_DIRECT, "example.com") == cert_der(cur_crt)
      and count(wdaemon.text(), "cert_watch.change") == changes)

# The watches do not keep the daemon alive: SIGTERM exits promptly and cleanly.
wrc = wdaemon.stop(timeout=15)
t = wdaemon.text()
check("watch.clean_exit", wrc == 0 and "daemon.loop_not_empty" not in t and "ERROR: AddressSanitizer" not in t,
      t[-2000:])

# --- the daemon survived all of it ------------------------------------------------------

check("daemon.still_running", daemon.proc.poll() is None, daemon.text()[-2000:])
rc = daemon.stop(timeout=15)
check("daemon.clean_exit", rc == 0, daemon.text()[-2000:])
finish()
