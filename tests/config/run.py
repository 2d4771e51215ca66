#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Configuration tests: every bad configuration is refused by
`xmpp-edge check -c FILE` with exit status 1 and exactly the message
"FILE: key.path: reason"; good ones pass and are summarised.

Certificates and keys are generated here with openssl, never committed.
Last line: "N passed, N failed".
"""
import json
import os
import pwd
import re
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from xecheck import check, finish  # noqa: E402
from xenet import work_dir  # noqa: E402

BIN = os.environ.get("XE_BIN", "out/dev/xmpp-edge")
tmp = work_dir("config")  # removed at exit unless XE_KEEP is set


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


# The limits keys in schema order, as `help config` lists them (the list
# grows with every limit; its first keys pin the order).
LIMIT_KEYS = ", ".join(re.findall(r"^\| `limits\.(\w+)`", subprocess.run(
    [BIN, "help", "config"], capture_output=True, text=True).stdout, re.M))
assert LIMIT_KEYS.startswith("stanza_size_preauth, stanza_size, max_depth, "), LIMIT_KEYS

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
KEY_GROUP_W = f"{tmp}/group-writable.key"
open(KEY_GROUP_W, "w").write(open(KEY).read())
os.chmod(KEY_GROUP_W, 0o660)
# The daemon's account (./build.sh test creates it as root) and a stranger.
SVC_UID = pwd.getpwnam("xmpp-edge").pw_uid
STRANGER = 4242
KEY_STRANGER = f"{tmp}/stranger.key"
open(KEY_STRANGER, "w").write(open(KEY).read())
os.chmod(KEY_STRANGER, 0o600)
os.chown(KEY_STRANGER, STRANGER, STRANGER)
KEY_SVC = f"{tmp}/service.key"
open(KEY_SVC, "w").write(open(KEY).read())
os.chmod(KEY_SVC, 0o600)
os.chown(KEY_SVC, SVC_UID, SVC_UID)
open(f"{tmp}/stranger-secret", "w").write("x" * 40)
os.chmod(f"{tmp}/stranger-secret", 0o600)
os.chown(f"{tmp}/stranger-secret", STRANGER, STRANGER)
# STATE_DIR/gateway-pins written by the daemon's own user: it could then
# choose who speaks for the gateway.
PINS_STATE = f"{tmp}/pins-state"
os.mkdir(PINS_STATE, 0o750)
open(f"{PINS_STATE}/gateway-pins", "w").write("# nothing\n")
os.chmod(f"{PINS_STATE}/gateway-pins", 0o644)
os.chown(f"{PINS_STATE}/gateway-pins", SVC_UID, SVC_UID)
USERADD = "useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin"
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
DEFAULT_KEYS = ("allow, tls, sasl_external, dialback, require_valid_certificate, dane, bidi, max_connections, "
                "keepalive_s, idle_timeout_s, connect, connect_direct_tls, max_stanza_size, strangers")
PARTNER_KEYS = ("allow, tls, sasl_external, dialback, require_valid_certificate, dane, bidi, additional_domains, "
                "max_connections, keepalive_s, idle_timeout_s, connect, connect_direct_tls, max_stanza_size, strangers")
bad = [
    ("not-json", "{ \"domains\": [ }", "line 1, column 16: invalid JSON: parse error: unallowed token at this point in JSON text"),
    ("truncated", "{\n  \"domains\": [\n", "line 3, column 1: invalid JSON: parse error: premature EOF"),
    ("top-array", "[1, 2]", "(top level): the configuration must be a JSON object, got an array"),
    ("nul-byte", "{\"user\": \"a\u0000b\"}", "(top level): contains a NUL byte"),
    ("unknown-top", base(listn={}), "listn: unknown key (known keys here: user, state_dir, domains, default_domain, listen, gateway, tls, dns, dialback, policy, limits, log, metrics, control, blocklist, strangers, admin)"),
    ("unknown-nested", base(limits={"stanza_sise": 5}), f"limits.stanza_sise: unknown key (known keys here: {LIMIT_KEYS})"),
    ("duplicate-key", '{"user": "a", "user": "b", "domains": []}', "user: duplicate key"),
    ("admin-listen-without-section", base(listen={"starttls": ["127.0.0.1:5269"], "admin": ["127.0.0.1:5280"]}),
     "listen.admin: needs an admin section (its pins say who may administer)"),
    ("admin-without-pins", base(admin={}), "admin.pins: required key missing"),
    ("admin-bad-pin", base(admin={"pins": ["abc"]}), "admin.pins[0]: 'abc' is not a base64 SHA-256 SPKI pin (44 characters)"),
    ("admin-connections-bound", base(admin={"pins": ["A" * 43 + "="], "max_connections": 65}),
     "admin.max_connections: must be between 1 and 64 (got 65)"),
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
    ("gateway-without-dialback", base(gateway=gateway(), dialback={"enabled": False}), "dialback.enabled: must be true with a gateway: xmpp-edge authenticates remote domains to the gateway by dialback (XEP-0220), which the gateway checks with it"),
    ("gateway-no-pins", base(gateway=gateway(pins=[])), "gateway.pins: at least one pin is required"),
    ("gateway-bad-pin", base(gateway=gateway(pins=["abc"])), "gateway.pins[0]: 'abc' is not a base64 SHA-256 SPKI pin (44 characters)"),
    ("gateway-pin-wrong-length", base(gateway=gateway(pins=["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="])), "gateway.pins[0]: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==' is not a base64 SHA-256 SPKI pin (44 characters)"),
    ("gateway-missing-address", base(gateway={"pins": [PIN], "cert": CRT2, "key": KEY2}), "gateway.address: required key missing"),
    ("dns-server-name", base(dns={"servers": ["dns.example:53"]}), "dns.servers[0]: 'dns.example:53': 'dns.example' is not an IPv4 address (names are not accepted here)"),
    ("dns-ttl-order", base(dns={"cache_min_ttl_s": 600, "cache_max_ttl_s": 60}), "dns.cache_min_ttl_s: larger than dns.cache_max_ttl_s (60)"),
    ("policy-bad-domain", base(policy={"partners": {"bad domain": {}}}), "policy.partners.bad domain: 'bad domain' is not a valid domain: invalid character in name"),
    # The old "auth" key is gone (tls, sasl_external and dialback replace it).
    ("policy-auth-key-gone", base(policy={"partners": {"example.net": {"auth": "pkix"}}}), f"policy.partners.example.net.auth: unknown key (known keys here: {PARTNER_KEYS})"),
    ("policy-default-auth-key-gone", base(policy={"default": {"auth": "any"}}), f"policy.default.auth: unknown key (known keys here: {DEFAULT_KEYS})"),
    ("policy-default-additional-domains", base(policy={"default": {"additional_domains": ["example.net"]}}), f"policy.default.additional_domains: unknown key (known keys here: {DEFAULT_KEYS})"),
    ("policy-bad-tls", base(policy={"partners": {"example.net": {"tls": "maybe"}}}), "policy.partners.example.net.tls: 'maybe' is not one of: required, optional, disabled"),
    ("policy-bad-sasl", base(policy={"default": {"sasl_external": "Required"}}), "policy.default.sasl_external: 'Required' is not one of: optional, required, disabled"),
    ("policy-bad-strangers", base(policy={"partners": {"example.net": {"strangers": "quarantine"}}}), "policy.partners.example.net.strangers: 'quarantine' is not one of: allow, refuse"),
    ("blocklist-max-entries-zero", base(blocklist={"max_entries": 0}), "blocklist.max_entries: must be between 1 and 1000000 (got 0)"),
    ("strangers-max-contacts-big", base(strangers={"max_contacts": 10000001}), "strangers.max_contacts: must be between 1 and 10000000 (got 10000001)"),
    ("policy-max-connections-range", base(policy={"partners": {"example.net": {"max_connections": 100001}}}), "policy.partners.example.net.max_connections: must be between 0 and 100000 (got 100001)"),
    ("policy-keepalive-range", base(policy={"default": {"keepalive_s": -1}}), "policy.default.keepalive_s: must be between 0 and 86400 (got -1)"),
    ("policy-idle-too-short", base(policy={"partners": {"example.net": {"idle_timeout_s": 5}}}), "policy.partners.example.net.idle_timeout_s: must be 0 (limits.idle_timeout_s) or at least 10 (got 5)"),
    ("policy-connect-name", base(policy={"partners": {"example.net": {"connect": "xmpp.example.net:5269"}}}), "policy.partners.example.net.connect: 'xmpp.example.net:5269': 'xmpp.example.net' is not an IPv4 address (names are not accepted here)"),
    ("policy-connect-no-port", base(policy={"partners": {"example.net": {"connect": "192.0.2.7"}}}), "policy.partners.example.net.connect: '192.0.2.7': expected \"IPv4:port\" or \"[IPv6]:port\""),
    ("policy-direct-tls-without-connect", base(policy={"partners": {"example.net": {"connect_direct_tls": True}}}), "policy.partners.example.net.connect_direct_tls: true without connect (targets found through DNS say themselves whether they speak Direct TLS, XEP-0368)"),
    ("policy-direct-tls-tls-disabled", base(policy={"partners": {"example.net": {"connect": "192.0.2.7:5270", "connect_direct_tls": True, "tls": "disabled"}}}), "policy.partners.example.net.connect_direct_tls: Direct TLS is TLS, but tls is \"disabled\""),
    ("policy-additional-not-list", base(policy={"partners": {"example.net": {"additional_domains": "chat.example.net"}}}), "policy.partners.example.net.additional_domains: expected an array, got a string"),
    ("policy-additional-bad", base(policy={"partners": {"example.net": {"additional_domains": ["chat example.net"]}}}), "policy.partners.example.net.additional_domains[0]: 'chat example.net' is not a valid domain: invalid character in name"),
    ("policy-additional-empty", base(policy={"partners": {"example.net": {"additional_domains": [""]}}}), "policy.partners.example.net.additional_domains[0]: '' is not a valid domain: empty name"),
    ("policy-additional-too-many", base(policy={"partners": {"example.net": {"additional_domains": [f"d{i}.example.net" for i in range(9)]}}}), "policy.partners.example.net.additional_domains: at most 8 entries allowed (got 9)"),
    ("policy-additional-twice-in-entry", base(policy={"partners": {"example.net": {"additional_domains": ["chat.example.net", "CHAT.example.net."]}}}), "policy.partners.example.net.additional_domains[1]: 'chat.example.net' is listed twice"),
    ("policy-additional-own-domain", base(policy={"partners": {"example.net": {"additional_domains": ["Example.NET"]}}}), "policy.partners.example.net.additional_domains[0]: 'example.net' is the entry's own domain"),
    ("policy-additional-in-two-entries", base(policy={"partners": {"example.net": {"additional_domains": ["chat.example.org"]}, "example.org": {"additional_domains": ["im.example.org", "Chat.Example.Org"]}}}), "policy.partners.example.org.additional_domains[1]: 'chat.example.org' is already an additional domain of policy.partners.example.net"),
    ("policy-additional-has-own-entry", base(policy={"partners": {"example.net": {"additional_domains": ["example.org"]}, "example.org": {}}}), "policy.partners.example.net.additional_domains[0]: 'example.org' has an entry of its own (policy.partners.example.org)"),
    ("policy-additional-has-own-entry-later", base(policy={"partners": {"example.org": {}, "example.net": {"additional_domains": ["example.org"]}}}), "policy.partners.example.net.additional_domains[0]: 'example.org' has an entry of its own (policy.partners.example.org)"),
    ("policy-partner-is-hosted", base(policy={"partners": {"Example.COM": {}}}), "policy.partners.example.com: 'example.com' is one of our own domains (domains[0].name), not a partner"),
    ("policy-additional-is-hosted", base(policy={"partners": {"example.net": {"additional_domains": ["example.com"]}}}), "policy.partners.example.net.additional_domains[0]: 'example.com' is one of our own domains (domains[0].name), not a partner"),
    # Lync 2013's negotiation matrix: the combinations that leave no way to authenticate.
    ("matrix-sasl-required-tls-disabled", base(policy={"partners": {"example.net": {"tls": "disabled", "sasl_external": "required"}}}), "policy.partners.example.net.sasl_external: \"required\" needs TLS (SASL EXTERNAL authenticates the TLS certificate), but tls is \"disabled\""),
    ("matrix-default-sasl-required-tls-disabled", base(policy={"default": {"tls": "disabled", "sasl_external": "required"}}), "policy.default.sasl_external: \"required\" needs TLS (SASL EXTERNAL authenticates the TLS certificate), but tls is \"disabled\""),
    ("matrix-valid-cert-tls-disabled", base(policy={"partners": {"example.net": {"tls": "disabled", "require_valid_certificate": True}}}), "policy.partners.example.net.require_valid_certificate: needs TLS (the certificate is presented in the TLS handshake), but tls is \"disabled\""),
    ("matrix-no-method", base(policy={"partners": {"example.net": {"sasl_external": "disabled", "dialback": False}}}), "policy.partners.example.net.dialback: false while sasl_external is \"disabled\": no authentication method left"),
    ("matrix-no-method-default", base(policy={"default": {"sasl_external": "disabled", "dialback": False}}), "policy.default.dialback: false while sasl_external is \"disabled\": no authentication method left"),
    ("matrix-no-method-inherited", base(policy={"default": {"sasl_external": "disabled"}, "partners": {"example.net": {"dialback": False}}}), "policy.partners.example.net.dialback: false while sasl_external is \"disabled\": no authentication method left"),
    ("matrix-dialback-off-globally-no-sasl", base(dialback={"enabled": False}, policy={"partners": {"example.net": {"sasl_external": "disabled"}}}), "policy.partners.example.net.dialback: true, but dialback.enabled is false and sasl_external is \"disabled\": no authentication method left"),
    ("policy-partner-not-object", base(policy={"partners": {"example.net": True}}), "policy.partners.example.net: expected an object, got a boolean"),
    ("string-too-long", base(user="u" * 100), "user: longer than 63 bytes"),
    ("state-dir-relative-to-nothing", base(state_dir=""), "state_dir: must be an absolute path"),
    ("cert-missing-file", base(domains=[{"name": "example.com", "cert": f"{tmp}/nope.crt", "key": KEY}]), f"{D}.cert: {tmp}/nope.crt: cannot read certificate: No such file or directory"),
    ("key-missing-file", base(domains=[{"name": "example.com", "cert": CRT, "key": f"{tmp}/nope.key"}]), f"{D}.key: {tmp}/nope.key: cannot read key: No such file or directory"),
    ("cert-garbage", base(domains=[{"name": "example.com", "cert": f"{tmp}/garbage.crt", "key": KEY}]), f"{D}.cert: {tmp}/garbage.crt: cannot load certificate: X509 - The CRT/CRL/CSR format is invalid, e.g. different type expected (-0x2180)"),
    ("key-is-cert", base(domains=[{"name": "example.com", "cert": CRT, "key": CRT}]), f"{D}.key: {CRT}: key is accessible by others or writable by its group (mode 0644); chmod o-rwx,g-wx it"),
    ("key-world-readable", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_WORLD}]), f"{D}.key: {KEY_WORLD}: key is accessible by others or writable by its group (mode 0644); chmod o-rwx,g-wx it"),
    ("key-group-writable", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_GROUP_W}]), f"{D}.key: {KEY_GROUP_W}: key is accessible by others or writable by its group (mode 0660); chmod o-rwx,g-wx it"),
    ("key-owned-by-stranger", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_STRANGER}]), f"{D}.key: {KEY_STRANGER}: key is owned by uid {STRANGER}, neither root nor the daemon's user (uid {SVC_UID}); chown it to one of them"),
    ("secret-owned-by-stranger", base(dialback={"secret_file": f"{tmp}/stranger-secret"}), f"dialback.secret_file: {tmp}/stranger-secret: the secret is owned by uid {STRANGER}, neither root nor the daemon's user (uid {SVC_UID}); chown it to one of them"),
    ("pins-owned-by-service-user", base(state_dir=PINS_STATE, gateway=gateway()), f"gateway.pins: {PINS_STATE}/gateway-pins: owned by uid {SVC_UID}, not root: the daemon's user must not be able to write the pins that say who may speak for the gateway; chown root it (`xmpp-edge cert pin` run as root writes it so)"),
    # The account (issue 14 finding 6): what `run` as root refuses.
    ("user-nobody", base(user="nobody"), f"user: 'nobody' is shared with unrelated services (every process running as it could read the keys and the dialback secret); create a dedicated account: {USERADD} xmpp-edge"),
    ("user-nobody-by-uid", base(user="65534"), f"user: 'nobody' is shared with unrelated services (every process running as it could read the keys and the dialback secret); create a dedicated account: {USERADD} xmpp-edge"),
    ("user-primary-group-nogroup", base(user="sync"), f"user: 'sync' has the primary group 'nogroup' (gid 65534), shared with unrelated services; create a dedicated account: {USERADD} xmpp-edge"),
    ("user-missing", base(user="xe-no-such-user"), f"user: no such user 'xe-no-such-user'; create it: {USERADD} xe-no-such-user"),
    ("user-root", base(user="root"), "user: 'root' is root; refusing to run as root"),
    ("admin-group-missing", base(control={"admin_group": "xe-no-such-group"}), "control.admin_group: no such group 'xe-no-such-group'; create it: groupadd --system xe-no-such-group"),
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
    user="xmpp-edge",
    domains=[{"name": "Example.COM.", "cert": CRT, "key": KEY}, {"name": "example.org", "cert": CRT2, "key": KEY2}],
    default_domain="example.org",
    listen={"starttls": ["127.0.0.1:5269", "[::1]:5269"], "direct_tls": ["127.0.0.1:5270"],
            "internal": ["127.0.0.1:5271"], "control": f"{tmp}/ctl.sock"},
    gateway=gateway(pins=[PIN, PIN]),
    dns={"servers": ["127.0.0.1:5353", "[::1]:53"], "timeout_ms": 500},
    dialback={"secret_file": f"{tmp}/secret"},
    policy={"default": {"allow": False, "keepalive_s": 300, "max_connections": 20},
            "partners": {"Example.NET": {"allow": True, "sasl_external": "required", "dialback": False,
                                         "additional_domains": ["chat.example.net", "IM.example.net."],
                                         "require_valid_certificate": True, "max_connections": 4,
                                         "idle_timeout_s": 600, "connect": "192.0.2.7:5270",
                                         "connect_direct_tls": True, "max_stanza_size": 65536},
                         "blocked.example": {"tls": "optional", "connect": ""}}},
    limits={"stanza_size": 65536, "connect_timeout_ms": 60000, "route_queue_bytes": 65536},
    log={"level": "debug", "format": "json"},
), "domains (2, default example.org)", "gateway: 10.0.0.5:5269 (2 pins)",
    "policy: default deny, tls required, sasl_external optional, dialback yes, max 20 connections, keepalive 300 s; 2 partner entries\n",
    "  example.net (+ chat.example.net im.example.net): allow, tls required, sasl_external required, dialback no, "
    "valid certificate required, max 4 connections, keepalive 300 s, idle 600 s, connect 192.0.2.7:5270 (Direct TLS), stanza 65536 bytes\n",
    "  blocked.example: deny, tls optional, sasl_external optional, dialback yes, max 20 connections, keepalive 300 s\n")
# Relative paths resolve against the file's own directory.
expect_good("relative-paths", base(domains=[{"name": "example.com", "cert": "a.crt", "key": "a.key"}]),
            f"cert {tmp}/a.crt")
expect_good("comments-allowed", base(), "configuration")
# Debian's convention: keys 0640 root:ssl-cert are accepted (not "others").
expect_good("key-group-readable-ok", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_GROUP}]),
            "configuration")
# A key owned by the daemon's user (what cert rotate installs) is fine.
expect_good("key-owned-by-service-user", base(domains=[{"name": "example.com", "cert": CRT, "key": KEY_SVC}]),
            "configuration")
expect_good("admin-group-ok", base(control={"admin_group": "adm"}), "configuration")
expect_good("admin-listener-ok", base(listen={"starttls": ["127.0.0.1:5269"], "admin": ["127.0.0.1:5280"]},
                                      admin={"pins": ["A" * 43 + "="]}),
            "admin        127.0.0.1:5280", "admin: 1 pin, at most 4 connections")

# Not root, a key it cannot open is named with the system's reason (the
# TLS library would only say "file I/O error"), and a `user` that run as
# root would refuse is a warning.  Binary, configuration and certificate
# are put where that uid can reach them, wherever the clone lives.
import shutil  # noqa: E402
pub = f"{tmp}/pub"
os.mkdir(pub)
os.chmod(tmp, 0o755)
os.chmod(pub, 0o755)
shutil.copy(BIN, f"{pub}/xmpp-edge")
shutil.copy(CRT, f"{pub}/a.crt")
shutil.copy(KEY, f"{pub}/a.key")       # root's, 0600
os.chmod(f"{pub}/xmpp-edge", 0o755)
os.chmod(f"{pub}/a.crt", 0o644)
with open(f"{pub}/edge.json", "w") as f:
    json.dump(base(user="xe-no-such-user", state_dir=f"{pub}/state",
                   domains=[{"name": "example.com", "cert": f"{pub}/a.crt", "key": f"{pub}/a.key"}],
                   tls={"ca_file": f"{pub}/a.crt"}), f)
os.chmod(f"{pub}/edge.json", 0o644)
as_other = ["setpriv", "--reuid=4244", "--regid=4244", "--clear-groups", f"{pub}/xmpp-edge", "check", "-c", f"{pub}/edge.json"]
r = subprocess.run(as_other, capture_output=True, text=True, timeout=30)
check("bad/key-unreadable-says-why", r.returncode == 1 and r.stderr.strip() ==
      f"{pub}/edge.json: {D}.key: {pub}/a.key: cannot read key: Permission denied", r)
os.chmod(f"{pub}/a.key", 0o640)
os.chown(f"{pub}/a.key", 0, 4244)     # its group may read it (Debian's ssl-cert way)
r = subprocess.run(as_other, capture_output=True, text=True, timeout=30)
check("warn/user-refused-by-root-run", r.returncode == 0 and r.stderr.splitlines()[:1] ==
      [f"warning: {pub}/edge.json: user: no such user 'xe-no-such-user'; create it: {USERADD} xe-no-such-user "
       "(started as root, run refuses this)"], r)

# A port taken by another process: `run` would stop there; `check` warns
# in run's words and names the holder (this very test process).
holder = socket.socket()
holder.bind(("127.0.0.1", 0))
holder.listen()
hport = holder.getsockname()[1]
comm = open("/proc/self/comm").read().strip()
path, r = run_check(json.dumps(base(listen={"starttls": [f"127.0.0.1:{hport}"], "direct_tls": []})), "port-taken")
want = f"warning: listen.starttls: cannot listen on 127.0.0.1:{hport}: address already in use (held by pid {os.getpid()} ({comm}))"
check("warn/port-taken-names-holder", r.returncode == 0 and r.stderr.strip() == want, f"want: {want}\n got: {r.stderr}")
holder.close()



def expect_warnings(name, cfg, warnings, *needles):
    """Loads (exit 0, summary on stdout) with exactly these warnings on
    stderr, each "warning: FILE: key.path: text" (warnings: after FILE: )."""
    path, r = run_check(json.dumps(cfg), name)
    want = [f"warning: {path}: {w}" for w in warnings]
    got = r.stderr.splitlines()
    check(f"warn/{name}", r.returncode == 0 and got == want and all(n in r.stdout for n in needles),
          f"rc={r.returncode}\n  want: {want}\n  got:  {got}\n{r.stdout}")


PLAIN_OPT = "\"optional\": streams may be plaintext (RFC 7590 asks for TLS)"
PLAIN_OFF = "\"disabled\": streams are plaintext, readable and alterable on the way (RFC 7590 asks for TLS)"
expect_warnings("none-by-default", base(), [])
expect_warnings("tls-optional", base(policy={"partners": {"example.net": {"tls": "optional"}}}),
                [f"policy.partners.example.net.tls: {PLAIN_OPT}"], "1 partner entry")
expect_warnings("tls-disabled-dialback-only", base(policy={"partners": {"gmail.com": {"tls": "disabled", "sasl_external": "disabled"}}}),
                [f"policy.partners.gmail.com.tls: {PLAIN_OFF}"])
expect_warnings("sasl-and-tls-required-dialback-unused", base(policy={"default": {"sasl_external": "required"}}),
                ["policy.default.dialback: dialback is never used: SASL and TLS both required leave no dialback fallback"])
expect_warnings("sasl-required-tls-optional", base(policy={"partners": {"example.net": {"tls": "optional", "sasl_external": "required", "dialback": False}}}),
                ["policy.partners.example.net.sasl_external: \"required\" with tls \"optional\": a peer that does not negotiate TLS cannot authenticate",
                 f"policy.partners.example.net.tls: {PLAIN_OPT}"])
expect_warnings("dialback-off-globally", base(dialback={"enabled": False}, policy={"partners": {"example.net": {"dialback": False}}}),
                ["policy.default.dialback: true, but dialback.enabled is false: dialback is off globally, only SASL EXTERNAL can authenticate"])
expect_warnings("connect-on-default", base(policy={"default": {"connect": "[2001:db8::7]:5269"}}),
                ["policy.default.connect: set on the default entry: every domain without an entry of its own is sent to [2001:db8::7]:5269"],
                "connect [2001:db8::7]:5269")
# A denied entry's negotiation settings never apply: no warning for them.
expect_warnings("denied-entry-quiet", base(policy={"default": {"allow": False, "tls": "optional"}, "partners": {"blocked.example": {"tls": "disabled"}}}), [])
# Inherited settings are judged where they apply: the allowed partner.
expect_warnings("inherited-warning", base(policy={"default": {"allow": False, "tls": "optional"}, "partners": {"example.net": {"allow": True}}}),
                [f"policy.partners.example.net.tls: {PLAIN_OPT}"])
# Bounded list: 40 partners with plaintext allowed give 32 lines and a count.
many = {f"p{i:02d}.example": {"tls": "optional"} for i in range(40)}
path, r = run_check(json.dumps(base(policy={"partners": many})), "many-warnings")
lines = r.stderr.splitlines()
check("warn/bounded-list", r.returncode == 0 and len(lines) == 33
      and lines[0] == f"warning: {path}: policy.partners.p00.example.tls: {PLAIN_OPT}"
      and lines[31] == f"warning: {path}: policy.partners.p31.example.tls: {PLAIN_OPT}"
      and lines[32] == f"warning: {path}: 8 more warnings not shown", r.stderr[-500:])

# The embedded default itself is valid.
r = subprocess.run([BIN, "check"], capture_output=True, text=True)
check("good/embedded-default", r.returncode == 0 and "edge.localhost" in r.stdout and "127.0.0.1:5269" in r.stdout, f"good/embedded-default: {r.returncode} {r.stdout} {r.stderr}")

# The README's reference is exactly what `help config` prints.
root = os.environ.get("XE_ROOT", ".")
ref = subprocess.run([BIN, "help", "config"], capture_output=True, text=True).stdout
readme = open(os.path.join(root, "README.md")).read()
check("readme-reference-in-step", ref.strip() and ref in readme, f"readme-reference-in-step: README.md lacks the output of `xmpp-edge help config`")

finish()
