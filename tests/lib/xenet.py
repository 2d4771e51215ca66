# SPDX-License-Identifier: Apache-2.0
"""The Python suites' shared plumbing on 127.0.0.1: ports, reads, TLS client
contexts and STARTTLS, test certificates made with openssl, and xmpp-edge
daemons with their JSON log events and `status --json`.  Every wait here has
an explicit timeout; nothing reaches beyond loopback."""
import atexit
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time

# Ports the suites listen on by fixed number (daemon: 5269/5270, cert:
# 25269/25270); free_port() never hands them out.
FIXED_PORTS = (5269, 5270, 25269, 25270)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
_STARTED = []


def free_port():
    """A TCP port free on 127.0.0.1 just now, never one of FIXED_PORTS."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in FIXED_PORTS:
            return p


def listening_inodes(port):
    """The inodes of the TCP sockets listening on port (any address, IPv4 or IPv6) in our network namespace."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            # sl local_address rem_address st ... inode: st 0A is LISTEN.
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def pid_listens_on(pid, port):
    """True if process pid holds a socket listening on TCP port (its fds matched against /proc/net/tcp{,6})."""
    want = {f"socket:[{i}]" for i in listening_inodes(port)}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in want:
                return True
        except OSError:
            pass
    return False


def wait_port(port, proc=None, timeout=15):
    """True once 127.0.0.1:port accepts and, with proc, proc itself is the listener: a
    server that was there before (a system Prosody on 5269) never passes for ours.
    False after timeout s or when proc exits."""
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            if proc is None or pid_listens_on(proc.pid, port):
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def wait_for(pred, timeout=10, step=0.05):
    """pred()'s first true value, asked every step s; after timeout s its last (false) one.
    For a check that needs something to have happened (an event logged, a counter
    moved): waiting on that condition, bounded, instead of a fixed sleep."""
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= end:
            return v
        time.sleep(step)


def copy_for_other_users(path, directory):
    """A copy of the program at path in directory (mode 0755), for running it as another
    user (runuser -u nobody): the clone may live where that user cannot enter (/root is
    0700 on Debian).  directory must be traversable by that user."""
    import shutil
    dst = os.path.join(directory, os.path.basename(path))
    shutil.copy(path, dst)
    os.chmod(dst, 0o755)
    return dst


def read_until(sock, marker, timeout=10):
    """Bytes read until marker, close, error or timeout s (never raises on those)."""
    sock.settimeout(timeout)
    buf = b""
    end = time.time() + timeout
    while marker not in buf and time.time() < end:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        buf += chunk
    return buf


def client_ctx(cert=None, key=None, alpn=None):
    """A TLS client context that checks nothing (identity has its own tests), optionally with a client certificate and ALPN."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def starttls(port, header, sni, ctx=None, timeout=10):
    """Sends header to 127.0.0.1:port, STARTTLS; returns (TLS socket, features, proceed) (connect/read timeout s)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.sendall(header)
    feats = read_until(raw, b"</stream:features>", timeout)
    raw.sendall(STARTTLS)
    proceed = read_until(raw, b"/>", timeout)
    return (ctx or client_ctx()).wrap_socket(raw, server_hostname=sni), feats, proceed


def openssl(*args, stdin=None, timeout=60):
    """Runs openssl ARGS (bytes in and out); raises CalledProcessError on failure."""
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True,
                          timeout=timeout).stdout


def selfsigned_cert(directory, name, cn, days=30):
    """A self-signed EC P-256 certificate for cn (SAN DNS:cn): DIR/NAME.crt (0644) and .key (0600)."""
    crt, key = f"{directory}/{name}.crt", f"{directory}/{name}.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", crt, "-days", str(days), "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}")
    os.chmod(key, 0o600)
    os.chmod(crt, 0o644)
    return crt, key


def ca_signed_cert(directory, name, domain, ca_crt, ca_key, days=30):
    """An EC P-256 certificate for domain (SAN DNS:domain, serverAuth and clientAuth) issued by
    ca_crt/ca_key: DIR/NAME.crt and .key (0600)."""
    crt, key = f"{directory}/{name}.crt", f"{directory}/{name}.key"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", f"{directory}/{name}.csr", "-subj", f"/CN={domain}")
    with open(f"{directory}/{name}.ext", "w") as f:
        f.write(f"subjectAltName=DNS:{domain}\nextendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", f"{directory}/{name}.csr", "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", str(days), "-extfile", f"{directory}/{name}.ext")
    os.chmod(key, 0o600)
    return crt, key


def spki_pin(crt):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, as the README computes it with openssl."""
    pub = openssl("x509", "-pubkey", "-noout", "-in", crt)
    der = openssl("pkey", "-pubin", "-outform", "der", stdin=pub)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def cert_der(crt):
    """The DER bytes of the (first) certificate in a PEM file."""
    return ssl.PEM_cert_to_DER_cert(open(crt).read())


def write_config(path, cfg, **over):
    """Writes cfg as JSON to path (mode 0644), each override updating a dict section or replacing a key; returns cfg."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    with open(path, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, 0o644)
    return cfg


def track(proc):
    """Registers a child process to be killed at exit if still running; returns it."""
    _STARTED.append(proc)
    return proc


def dnsmasq_on_loopback(directory, name, zone, records, last_octet):
    """A dnsmasq of the test's own answering for zone (local=/zone/: nothing
    else is asked upstream) with records (dnsmasq configuration lines), on
    127.0.N.last_octet and a free port; tracked.  Returns (proc, "ADDR:PORT")."""
    addr, port = f"127.0.{os.getpid() % 200 + 20}.{last_octet}", free_port()
    conf = f"{directory}/dnsmasq-{name}.conf"
    with open(conf, "w") as f:
        f.write(f"port={port}\nlisten-address={addr}\nbind-interfaces\nno-resolv\nno-hosts\nuser=root\n"
                f"pid-file={directory}/dnsmasq-{name}.pid\nlocal=/{zone}/\n" + "".join(r + "\n" for r in records))
    proc = track(subprocess.Popen(["dnsmasq", f"--conf-file={conf}", "--keep-in-foreground",
                                   f"--log-facility={directory}/dnsmasq-{name}.log"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return proc, f"{addr}:{port}"


def kill_started():
    """Kills and reaps every tracked process still running (also run at exit)."""
    for p in _STARTED:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(kill_started)


class Daemon:
    """`BINARY run ARGS`, stdout and stderr in log_path, tracked for exit."""

    def __init__(self, binary, args, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = track(subprocess.Popen([binary, "run", *args], stdout=self.log, stderr=self.log))

    def text(self):
        """The log so far."""
        self.log.flush()
        return open(self.log_path).read()

    def events(self):
        """The log's JSON lines, parsed (other lines skipped)."""
        out = []
        for line in self.text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_port(self, port, timeout=15):
        """True once the daemon accepts on 127.0.0.1:port (False if it exits or after timeout s)."""
        return wait_port(port, self.proc, timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig, returns the exit code; killed (and None returned) after timeout s."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def status_json(binary, *where, timeout=30):
    """`BINARY status WHERE --json` parsed ({} when it fails or times out)."""
    try:
        r = subprocess.run([binary, "status", *where, "--json"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}
    try:
        return json.loads(r.stdout) if r.returncode == 0 else {}
    except ValueError:
        return {}


def work_dir(suite):
    """A temporary directory for one suite run, removed at exit unless XE_KEEP is set."""
    import atexit
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix=f"xe-{suite}-")
    if not os.environ.get("XE_KEEP"):
        atexit.register(shutil.rmtree, d, True)
    return d
