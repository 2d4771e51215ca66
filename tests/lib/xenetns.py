# SPDX-License-Identifier: Apache-2.0
"""Network-namespace plumbing for the suites that build a little internet of
their own (tests/interop, tests/faults): code run inside a namespace, a
listener there waited for, namespaces removed with whatever still runs in
them, and a test CA with its leaf certificates.  Nothing here reaches
outside the namespaces the caller created."""
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time

from xenet import openssl

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def enter_netns(ns):
    """Moves the calling thread into namespace ns (setns is per thread)."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def in_netns(ns, fn):
    """Runs fn() on a thread moved into namespace ns and returns its result
    (or raises its exception); sockets it creates stay in ns when used from
    any thread afterwards."""
    box = {}

    def body():
        try:
            enter_netns(ns)
            box["v"] = fn()
        except BaseException as e:  # handed back to the caller
            box["e"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


def ns_connect(ns, addr, port, timeout=5):
    """A TCP connection to addr:port made inside ns."""
    return in_netns(ns, lambda: socket.create_connection((addr, port), timeout))


def wait_listen(ns, addr, port, timeout=30):
    """True once addr:port in ns accepts a TCP connection, False after timeout s."""
    def probe():
        end = time.time() + timeout
        while time.time() < end:
            try:
                socket.create_connection((addr, port), 1).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False
    return in_netns(ns, probe)


def netns_remove(namespaces):
    """Kills every process still in the namespaces (SIGKILL: the caller has
    asked its own nicely already), then deletes them and their
    /etc/netns/NS (resolv.conf).  Quiet about what is already gone."""
    for ns in namespaces:
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def test_ca(directory, cn):
    """A P-256 test CA, DIR/ca.crt and DIR/ca.key; returns the certificate's path."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{directory}/ca.key", "-out", f"{directory}/ca.crt", "-days", "30", "-subj", f"/CN={cn}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    return f"{directory}/ca.crt"


def test_leaf(directory, name, names, owner=None):
    """A P-256 certificate from DIR's test CA for DNS names `names` (server
    and client use), DIR/NAME.crt and DIR/NAME.key (0600, given to `owner`
    when set); returns (crt, key)."""
    crt, key = f"{directory}/{name}.crt", f"{directory}/{name}.key"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", f"{directory}/{name}.csr", "-subj", f"/CN={names[0]}")
    with open(f"{directory}/{name}.ext", "w") as f:
        f.write("subjectAltName=" + ",".join(f"DNS:{d}" for d in names) +
                "\nextendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", f"{directory}/{name}.csr", "-CA", f"{directory}/ca.crt",
            "-CAkey", f"{directory}/ca.key", "-CAcreateserial", "-out", crt, "-days", "30",
            "-extfile", f"{directory}/{name}.ext")
    os.chmod(key, 0o600)
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(key, pw.pw_uid, pw.pw_gid)
    return crt, key


class LineAgent:
    """A helper process (a test's XMPP clients) told what to do in JSON
    lines on its stdin and heard in lines on its stdout, each line copied
    to `log` and handed to on_line() under self.cv, whose waiters are then
    woken.  The Popen must have stdin and stdout pipes in text mode."""

    def __init__(self, popen, log):
        self.p = popen
        self.log = log
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def on_line(self, line):
        raise NotImplementedError

    def _read(self):
        for line in self.p.stdout:
            self.log.write(line)
            self.log.flush()
            with self.cv:
                self.on_line(line)
                self.cv.notify_all()

    def cmd(self, **c):
        """Sends one command; quiet when the process is gone."""
        try:
            self.p.stdin.write(json.dumps(c) + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait_until(self, cond, timeout):
        """True once cond() (called under self.cv) holds, False after timeout s."""
        end = time.time() + timeout
        with self.cv:
            while not cond():
                left = end - time.time()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.5))
            return True
