#!/usr/bin/python3
"""Configuration tests: every bad configuration is refused by
`xmpp-edge check -c FILE` with exit status 1 and exactly the message
"FILE: key.path: reason"; good ones pass and are summarised.

Certificates and keys are generated here with openssl, never committed.
Last line: "N passed, N failed".
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402

BIN = os.environ.get("XE_BIN", "out/dev/xmpp-edge")
tmp = tempfile.mkdtemp(prefix="xe-config-")


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_cert(name, domain, key_type="ec"):
    crt, key = f"{tmp}/{name}.crt", f"{tmp}/{name}.key"
    alg = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" \
        else ["-newkey", "rsa:2048"]
    sh("openssl", "req", "-x509", *alg, "-nodes", "-keyout", key, "-out", crt,
       "-days", "30", "-subj", f"/CN={domain}", "-addext", f"subjectAltName=DNS:{domain}")
    os.chmod(key, 0o600)
    return crt, key


CRT, KEY = make_cert("a", "example.com")
CRT2, KEY2 = make_cert("b", "example.org", "rsa")
open(f"{tmp}/secret", "w").write("s" * 40)
os.chmod(f"{tmp}/secret", 0o600)
open(f"{tmp}/short-secret", "w").write("short")
os.chmod(f"{tmp}/short-secret", 0o600)
open(f"{tmp}/world-secret", "w").write("w" * 40)
os.chmod(f"{tmp}/world-secret", 0o644)
KEY_GROUP = f"{tmp}/group.key"
open(KEY_GROUP, "w").write(open(KEY).read())
os.chmod(KEY_GROUP, 0o640)
KEY_WORLD = f"{tmp}/world.key"
open(KEY_WORLD, "w").write(open(KEY).read())
os.chmod(KEY_WORLD, 0o644)
open(f"{tmp}/garbage.crt", "w").write("not a certificate\n")
PIN = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # base64 of 32 bytes


def base(**over):
    cfg = {
        "state_dir": f"{tmp}/state",
        "domains": [{"name": "example.com", "cert": CRT, "key": KEY}],
        "listen": {"starttls": ["127.0.0.1:5269"]},
        "tls": {"ca_file": CRT},
    }
    cfg.update(over)
    return cfg


def gateway(**over):
    g = {"address": "10.0.0.5:5269", "pins": [PIN], "cert": CRT2, "key": KEY2}
    g.update(over)
    return g


def run_check(text, name):
    path = f"{tmp}/{name}.json"
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([BIN, "check", "-c", path], capture_output=True, text=True, timeout=30)
    return path, r


def expect_bad(name, cfg, reason):
    """cfg: dict (dumped to JSON) or raw text; reason: text after 'FILE: '."""
    text = cfg if isinstance(cfg, str) else json.dumps(cfg, indent=1)
    path, r = run_check(text, name)
    want = f"{path}: {reason}"
    got = r.stderr.strip()
    check(f"bad/{name}", r.returncode == 1 and got == want, f"rc={r.returncode}\n  want: {want}\n  got:  {got}")


def expect_good(name, cfg, *needles):
    path, r = run_check(json.dumps(cfg), name)
    check(f"good/{name}", r.returncode == 0 and all(n in r.stdout for n in needles),
          f"rc={r.returncode}\n{r.stdout}{r.stderr}")


D = "domains[0]"
bad = [
    ("not-json", "{ \"domains\": [ }", "line 1, column 16: invalid JSON: parse error: unallowed token at this point in JSON text"),
    ("truncated", "{\n  \"domains\": [\n", "line 3, column 1: invalid JSON: parse error: premature EOF"),
    ("top-array", "[1, 2]", "(top level): the configuration must be a JSON object, got an array"),
    ("nul-byte", "{\"user\": \"a\u0000b\"}", "(top level): contains a NUL byte"),
    ("unknown-top", base(listn={}), "listn: unknown key (known keys here: user, state_dir, domains, default_domain, listen, gateway, tls, dns, dialback, policy, limits, log)"),
    ("unknown-nested", base(limits={"stanza_sise": 5}), "limits.stanza_sise: unknown key (known keys here: stanza_size_preauth, stanza_size, max_depth, max_attributes, max_name_length, max_streams, max_streams_per_ip, send_queue_bytes, handshake_timeout_ms, idle_timeout_s, shutdown_timeout_ms)"),
    ("duplicate-key", '{"user": "a", "user": "b", "domains": []}', "user: duplicate key"),
    ("missing-domains", {"listen": {"starttls": ["127.0.0.1:5269"]}}, "domains: required key missing"),
    ("empty-domains", base(domains=[]), "domains: at least one domain is required"),
    ("domain-not-object", base(domains=["example.com"]), "domains[0]: expected an object, got a string"),
    ("domain-missing-key", base(domains=[{"name": "example.com", "cert": CRT}]), f"{D}.key: required key missing"),
    ("domain-bad-name", base(domains=[{"name": "exa mple.com", "cert": CRT, "key": KEY}]), f"{D}.name: 'exa mple.com' is not a valid domain: invalid character in name"),
    ("domain-empty-label", base(domains=[{"name": "a..b", "cert": CRT, "key": KEY}]), f"{D}.name: 'a..b' is not a valid domain: empty label"),
    ("domain-unicode", base(domains=[{"name": "bücher.example", "cert": CRT, "key": KEY}]), f"{D}.name: 'bücher.example' is not a valid domain: non-ASCII name (give IDNs as A-labels, xn--...)"),
    ("domain-long-label", base(domains=[{"name": "a" * 64 + ".com", "cert": CRT, "key": KEY}]), f"{D}.name: '{'a' * 64}.com' is not a valid domain: label longer than 63 octets"),
    ("domain-twice", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY}, {"name": "EXAMPLE.com.", "cert": CRT, "key": KEY}]), "domains[1].name: 'example.com' is already listed as domains[0]"),
    ("default-domain-unknown", base(default_domain="example.net"), "default_domain: 'example.net' is not one of domains[].name"),
    ("int-as-string", base(limits={"stanza_size": "big"}), "limits.stanza_size: expected an integer, got a string"),
    ("limit-above-tokenizer-ceiling", base(limits={"max_depth": 129}), "limits.max_depth: must be between 4 and 128 (got 129)"),
    ("int-float", base(limits={"max_depth": 1.5}), "limits.max_depth: expected an integer, got a number"),
    ("int-too-small", base(limits={"stanza_size": 5}), "limits.stanza_size: must be between 4096 and 16777216 (got 5)"),
    ("int-too-big", base(limits={"max_streams": 99999999999}), "limits.max_streams: must be between 1 and 1000000 (got 99999999999)"),
    ("int-overflow", base(limits={"max_streams": 99999999999999999999999}), "limits.max_streams: integer out of range"),
    ("preauth-above-auth", base(limits={"stanza_size_preauth": 100000, "stanza_size": 65536}), "limits.stanza_size_preauth: larger than limits.stanza_size (65536)"),
    ("bool-as-string", base(dialback={"enabled": "yes"}), "dialback.enabled: expected a boolean, got a string"),
    ("enum-bad", base(log={"level": "verbose"}), "log.level: 'verbose' is not one of: debug, info, warn, error"),
    ("listen-not-array", base(listen={"starttls": "127.0.0.1:5269"}), "listen.starttls: expected an array, got a string"),
    ("listen-hostname", base(listen={"starttls": ["localhost:5269"]}), "listen.starttls[0]: 'localhost:5269': 'localhost' is not an IPv4 address (names are not accepted here)"),
    ("listen-port-range", base(listen={"starttls": ["127.0.0.1:70000"]}), "listen.starttls[0]: '127.0.0.1:70000': port must be a number from 1 to 65535"),
    ("listen-v6-bad", base(listen={"direct_tls": ["[::g]:5270"]}), "listen.direct_tls[0]: '[::g]:5270': '::g' is not an IPv6 address"),
    ("listen-v6-noport", base(listen={"direct_tls": ["::1"]}), "listen.direct_tls[0]: '::1': expected \"IPv4:port\" or \"[IPv6]:port\""),
    ("listen-too-many", base(listen={"starttls": [f"127.0.0.1:{5000 + i}" for i in range(9)]}), "listen.starttls: at most 8 entries allowed (got 9)"),
    ("no-external-listener", base(listen={"starttls": [], "direct_tls": []}), "listen: no external listener (starttls or direct_tls)"),
    ("internal-without-gateway", base(listen={"starttls": ["127.0.0.1:5269"], "internal": ["127.0.0.1:5271"]}), "listen.internal: needs a gateway section (its pins authenticate the gateway)"),
    ("gateway-no-pins", base(gateway=gateway(pins=[])), "gateway.pins: at least one pin is required"),
    ("gateway-bad-pin", base(gateway=gateway(pins=["abc"])), "gateway.pins[0]: 'abc' is not a base64 SHA-256 SPKI pin (44 characters)"),
    ("gateway-pin-wrong-length", base(gateway=gateway(pins=["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="])), "gateway.pins[0]: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==' is not a base64 SHA-256 SPKI pin (44 characters)"),
    ("gateway-missing-address", base(gateway={"pins": [PIN], "cert": CRT2, "key": KEY2}), "gateway.address: required key missing"),
    ("dns-server-name", base(dns={"servers": ["dns.example:53"]}), "dns.servers[0]: 'dns.example:53': 'dns.example' is not an IPv4 address (names are not accepted here)"),
    ("dns-ttl-order", base(dns={"cache_min_ttl_s": 600, "cache_max_ttl_s": 60}), "dns.cache_min_ttl_s: larger than dns.cache_max_ttl_s (60)"),
    ("policy-bad-domain", base(policy={"partners": {"bad domain": {}}}), "policy.partners.bad domain: 'bad domain' is not a valid domain: invalid character in name"),
    ("policy-bad-auth", base(policy={"partners": {"example.net": {"auth": "password"}}}), "policy.partners.example.net.auth: 'password' is not one of: any, pkix, dialback"),
    ("policy-partner-not-object", base(policy={"partners": {"example.net": True}}), "policy.partners.example.net: expected an object, got a boolean"),
    ("string-too-long", base(user="u" * 100), "user: longer than 63 bytes"),
    ("state-dir-relative-to-nothing", base(state_dir=""), "state_dir: must be an absolute path"),
    ("cert-missing-file", base(domains=[{"name": "example.com", "cert": f"{tmp}/nope.crt", "key": KEY}]), f"{D}.cert: {tmp}/nope.crt: cannot load certificate: PK - Read/write of file failed (-0x3e00)"),
    ("cert-garbage", base(domains=[{"name": "example.com", "cert": f"{tmp}/garbage.crt", "key": KEY}]), f"{D}.cert: {tmp}/garbage.crt: cannot load certificate: X509 - The CRT/CRL/CSR format is invalid, e.g. different type expected (-0x2180)"),
    ("key-is-cert", base(domains=[{"name": "example.com", "cert": CRT, "key": CRT}]), f"{D}.key: {CRT}: key is accessible by others (mode 0644); chmod o-rwx it"),
    ("key-world-readable", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_WORLD}]), f"{D}.key: {KEY_WORLD}: key is accessible by others (mode 0644); chmod o-rwx it"),
    ("key-mismatch", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY2}]), f"{D}.key: {KEY2}: private key does not match the certificate in {CRT}"),
    ("key-directory", base(domains=[{"name": "example.com", "cert": CRT, "key": tmp}]), f"{D}.key: {tmp}: key is not a regular file"),
    ("secret-short", base(dialback={"secret_file": f"{tmp}/short-secret"}), f"dialback.secret_file: {tmp}/short-secret: must hold 32 to 4096 bytes (has 5)"),
    ("secret-world", base(dialback={"secret_file": f"{tmp}/world-secret"}), f"dialback.secret_file: {tmp}/world-secret: readable by group or others (mode 0644); chmod 600 it"),
    ("ca-garbage", base(tls={"ca_file": f"{tmp}/garbage.crt"}), f"tls.ca_file: {tmp}/garbage.crt: cannot load CA certificates: X509 - The CRT/CRL/CSR format is invalid, e.g. different type expected (-0x2180)"),
]

for name, cfg, reason in bad:
    expect_bad(name, cfg, reason)

# A missing file and a directory given as the configuration itself.
for name, path, reason in [
    ("config-missing", f"{tmp}/absent.json", "(file): cannot open: No such file or directory"),
    ("config-directory", tmp, "(file): not a regular file"),
]:
    r = subprocess.run([BIN, "check", "-c", path], capture_output=True, text=True)
    check(f"bad/{name}", r.returncode == 1 and r.stderr.strip() == f"{path}: {reason}", f"{r.returncode} {r.stderr!r}")

# Oversized file (bounded read).
path = f"{tmp}/huge.json"
with open(path, "w") as f:
    f.write("{" + " " * (1024 * 1024 + 10) + "}")
r = subprocess.run([BIN, "check", "-c", path], capture_output=True, text=True)
check("bad/config-too-large", r.returncode == 1 and r.stderr.strip() == f"{path}: (file): larger than 1048576 bytes", f"bad/config-too-large: {r.stderr!r}")

expect_good("minimal", base(), "configuration", "example.com", "starttls     127.0.0.1:5269")
expect_good("full", base(
    user="nobody",
    domains=[{"name": "Example.COM.", "cert": CRT, "key": KEY}, {"name": "example.org", "cert": CRT2, "key": KEY2}],
    default_domain="example.org",
    listen={"starttls": ["127.0.0.1:5269", "[::1]:5269"], "direct_tls": ["127.0.0.1:5270"],
            "internal": ["127.0.0.1:5271"], "control": f"{tmp}/ctl.sock"},
    gateway=gateway(pins=[PIN, PIN]),
    dns={"servers": ["127.0.0.1:5353", "[::1]:53"], "timeout_ms": 500},
    dialback={"secret_file": f"{tmp}/secret"},
    policy={"default": {"allow": False}, "partners": {"example.net": {"allow": True, "auth": "pkix"}}},
    limits={"stanza_size": 65536},
    log={"level": "debug", "format": "json"},
), "domains (2, default example.org)", "gateway: 10.0.0.5:5269 (2 pins)", "policy: default deny", "1 partner entry")
# Relative paths resolve against the file's own directory.
expect_good("relative-paths", base(domains=[{"name": "example.com", "cert": "a.crt", "key": "a.key"}]),
            f"cert {tmp}/a.crt")
expect_good("comments-allowed", base(), "configuration")
# Debian's convention: keys 0640 root:ssl-cert are accepted (not "others").
expect_good("key-group-readable-ok", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_GROUP}]),
            "configuration")

# The embedded default itself is valid.
r = subprocess.run([BIN, "check"], capture_output=True, text=True)
check("good/embedded-default", r.returncode == 0 and "edge.localhost" in r.stdout and "127.0.0.1:5269" in r.stdout, f"good/embedded-default: {r.returncode} {r.stdout} {r.stderr}")

# The README's reference is exactly what `help config` prints.
root = os.environ.get("XE_ROOT", ".")
ref = subprocess.run([BIN, "help", "config"], capture_output=True, text=True).stdout
readme = open(os.path.join(root, "README.md")).read()
check("readme-reference-in-step", ref.strip() and ref in readme, f"readme-reference-in-step: README.md lacks the output of `xmpp-edge help config`")

finish()
