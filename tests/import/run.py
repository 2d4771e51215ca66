#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`xmpp-edge import sfb`: the samples under samples/ are shaped like what
`Get-CsXmppAllowedPartner | ConvertTo-Json` and
`Get-CsXmppGatewayConfiguration | ConvertTo-Json` print (single object,
array, numeric and string enums, UTF-8 BOM, partial objects, unknown
properties).  Good inputs give a fragment that `xmpp-edge check` accepts
once merged into a full configuration, and a report naming every
property; bad inputs are refused with exit status 1 and exactly
"FILE: PATH.Property: reason", never a crash.
Last line: "N passed, N failed".
"""
import json
import os
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from xecheck import check, finish  # noqa: E402
from xenet import work_dir  # noqa: E402

BIN = os.path.abspath(os.environ.get("XE_BIN", "out/dev/xmpp-edge"))
S = os.path.join(HERE, "samples")
tmp = work_dir("import")  # removed at exit unless XE_KEEP is set
PASSPHRASE = "0123456789abcdef0123456789abcdef-lync"


def run(*args):
    return subprocess.run([BIN, "import", "sfb", *args], capture_output=True, text=True, timeout=30)


def write(name, data):
    path = f"{tmp}/{name}"
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


# --- a full configuration the fragments are merged into --------------------
crt, key = f"{tmp}/edge.crt", f"{tmp}/edge.key"
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=example.com"],
               check=True, capture_output=True)
os.chmod(key, 0o600)


def merge(a, b):
    """jq's '*': objects merge recursively, the right side wins."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_merged(name, fragment, want_warnings):
    cfg = merge({"state_dir": f"{tmp}/state", "domains": [{"name": "example.com", "cert": crt, "key": key}],
                 "listen": {"starttls": ["127.0.0.1:5269"]}, "tls": {"ca_file": crt}}, fragment)
    path = write(f"{name}.edge.json", json.dumps(cfg, indent=1))
    r = subprocess.run([BIN, "check", "-c", path], capture_output=True, text=True, timeout=30)
    got = [l for l in r.stderr.splitlines()]
    want = [f"warning: {path}: {w}" for w in want_warnings]
    check(f"merged/{name}", r.returncode == 0 and got == want and "is valid" in r.stdout,
          f"rc={r.returncode}\n  want: {want}\n  got:  {got}\n{r.stdout}")
    return r


# --- good inputs -----------------------------------------------------------
r = run("--partners", f"{S}/partners-array.json", "--gateway", f"{S}/gateway.json")
ok = check("good/array-numeric-enums", r.returncode == 0, r.stderr)
frag = json.loads(r.stdout) if ok else {}
want_policy = {
    "default": {"allow": False, "keepalive_s": 300, "max_connections": 20},
    "partners": {
        "contoso.com": {"allow": True, "tls": "required", "sasl_external": "optional", "dialback": True,
                        "additional_domains": ["na.contoso.com", "eu.contoso.com"], "max_connections": 10},
        "gmail.com": {"allow": True, "tls": "disabled", "sasl_external": "disabled", "dialback": True,
                      "keepalive_s": 0},
        "fabrikam.com": {"allow": True, "tls": "required", "sasl_external": "required", "dialback": False,
                         "additional_domains": ["research.fabrikam.com"], "max_connections": 50,
                         "connect": "192.0.2.10:5269"},
    },
}
check("good/array-policy", frag.get("policy") == want_policy, json.dumps(frag.get("policy"), indent=1))
check("good/array-limits", frag.get("limits") == {"handshake_timeout_ms": 60000, "connect_timeout_ms": 60000,
                                                    "idle_timeout_s": 600, "max_streams": 1000}, frag.get("limits"))
check("good/no-dialback-section-without-secret-out", "dialback" not in frag, frag.keys())
rep = r.stderr
for needle in [
    "mapped      [0].TlsNegotiation: Required (a number, read by the assumed order, see README) -> policy.partners.contoso.com.tls \"required\"",
    "mapped      [0].AdditionalDomains: 2 domains -> policy.partners.contoso.com.additional_domains [\"na.contoso.com\", \"eu.contoso.com\"]",
    "not mapped  [0].Description: xmpp-edge keeps no descriptions: \"Contoso Ltd (contact: xmpp-admin@contoso.com)\"",
    "not mapped  [0].PartnerType: Federated (a number, read by the assumed order): who may invite whom is the internal gateway's decision",
    "not mapped  [0].Element: not a property xmpp-edge knows (ignored)",
    "not mapped  [0].XmlRoot: not a property xmpp-edge knows (ignored)",
    "mapped      [1].EnableKeepAlive: false -> policy.partners.gmail.com.keepalive_s 0",
    "not mapped  [1].ConnectionLimit: not set (PartnerConnectionLimit applies)",
    "mapped      [2].ProxyFqdn: \"192.0.2.10\" -> policy.partners.fabrikam.com.connect \"192.0.2.10:5269\"",
    "mapped      KeepAliveInterval: 300 s -> policy.default.keepalive_s 300",
    "mapped      PartnerConnectionLimit: 20 -> policy.default.max_connections 20",
    "mapped      StreamEstablishmentTimeout: 60 s -> limits.handshake_timeout_ms and limits.connect_timeout_ms 60000",
    "mapped      StreamInactivityTimeout: 600 s -> limits.idle_timeout_s 600",
    "mapped      ConnectionLimit: 1000 -> limits.max_streams 1000",
    "not mapped  DialbackPassphrase: a secret (37 bytes, not shown)",
    "not mapped  EnableLoggingAllMessageBodies: false: xmpp-edge forwards bytes and never logs message bodies",
    "not mapped  SubscriptionRefreshInterval: presence subscriptions are the internal gateway's business",
    "warning: imported policy: policy.partners.gmail.com.tls: \"disabled\": streams are plaintext",
]:
    check(f"report/{needle[:60]}", needle in rep, rep)
check("report/passphrase-never-shown", PASSPHRASE not in rep and PASSPHRASE not in r.stdout)
# Every property of every sample object is named in the report.
for i, obj in enumerate(json.load(open(f"{S}/partners-array.json"))):
    for prop in obj:
        check(f"report/every-property/[{i}].{prop}", f"[{i}].{prop}" in rep, rep)
if ok:
    check_merged("array", frag, ["policy.partners.gmail.com.tls: \"disabled\": streams are plaintext, readable and "
                                 "alterable on the way (RFC 7590 asks for TLS)"])

r = run("--partners", f"{S}/partners-single-names.json")
ok = check("good/single-object-string-enums", r.returncode == 0, r.stderr)
frag = json.loads(r.stdout) if ok else {}
check("good/single-policy", frag.get("policy", {}).get("partners") == {
    "partner.example": {"allow": True, "tls": "optional", "sasl_external": "optional", "dialback": True,
                        "additional_domains": ["chat.partner.example"], "max_connections": 0}}, r.stdout)
check("good/single-no-gateway-defaults", frag.get("policy", {}).get("default") == {"allow": False, "keepalive_s": 300}
      and frag.get("limits") == {}, r.stdout)
check("report/single-paths-unindexed", "mapped      TlsNegotiation: Optional -> policy.partners.partner.example.tls \"optional\"" in r.stderr, r.stderr)
check("report/proxyfqdn-name-not-mapped", "not mapped  ProxyFqdn: \"xmpp.partner.example\" is a host name;" in r.stderr, r.stderr)
check("report/no-gateway", "import sfb: no gateway file:" in r.stderr, r.stderr)
if ok:
    check_merged("single", frag, ["policy.partners.partner.example.tls: \"optional\": streams may be plaintext (RFC 7590 asks for TLS)"])

r = run("--partners", f"{S}/partners-bom.json", "--gateway", f"{S}/gateway-array-bom.json")
ok = check("good/utf8-bom-both-files", r.returncode == 0, r.stderr)
frag = json.loads(r.stdout) if ok else {}
check("good/bom-values", frag.get("policy", {}).get("partners", {}).get("bom.example") ==
      {"allow": True, "tls": "required", "sasl_external": "disabled", "dialback": True, "connect": "[2001:db8::5]:5269"}, r.stdout)
check("good/gateway-array", frag.get("limits") == {"handshake_timeout_ms": 30000, "connect_timeout_ms": 30000,
                                                     "idle_timeout_s": 1200, "max_streams": 500}
      and frag["policy"]["default"] == {"allow": False, "keepalive_s": 120, "max_connections": 10}, r.stdout)
check("report/body-logging-true", "not mapped  [0].EnableLoggingAllMessageBodies: true: xmpp-edge forwards bytes and never logs message bodies; if bodies must be archived" in r.stderr, r.stderr)
check("report/unknown-gateway-property", "not mapped  [0].PSComputerName: not a property xmpp-edge knows (ignored)" in r.stderr, r.stderr)
if ok:
    check_merged("bom", frag, [])

r = run("--partners", f"{S}/partners-partial.json")
ok = check("good/partial-objects", r.returncode == 0, r.stderr)
frag = json.loads(r.stdout) if ok else {}
# New-CsXmppAllowedPartner's documented defaults fill what is absent.
check("good/partial-lync-defaults", frag.get("policy", {}).get("partners") == {
    "partial.example": {"allow": True, "tls": "required", "sasl_external": "required", "dialback": True},
    "identity-only.example": {"allow": True, "tls": "required", "sasl_external": "required", "dialback": True,
                              "keepalive_s": 0}}, r.stdout)
check("report/partial-absent", "mapped      [0].TlsNegotiation: absent, Lync's default Required" in r.stderr, r.stderr)
if ok:
    never = "dialback is never used: SASL and TLS both required leave no dialback fallback"
    check_merged("partial", frag, [f"policy.partners.partial.example.dialback: {never}",
                                   f"policy.partners.identity-only.example.dialback: {never}"])

# -o and --secret-out: the passphrase goes to a new 0600 file, named
# absolutely in the fragment; nothing else holds it.
os.chdir(tmp)
out = f"{tmp}/out.json"
r = run("--partners", f"{S}/partners-array.json", "--gateway", f"{S}/gateway.json", "-o", out,
        "--secret-out", "dialback.secret")
ok = check("good/output-and-secret", r.returncode == 0 and r.stdout == "", r.stderr)
if ok:
    st = os.stat(f"{tmp}/dialback.secret")
    check("secret/mode-0600", stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode))
    check("secret/content", open(f"{tmp}/dialback.secret").read() == PASSPHRASE)
    frag = json.load(open(out))
    check("secret/fragment-names-it", frag.get("dialback") == {"secret_file": f"{tmp}/dialback.secret"}, frag.get("dialback"))
    check("secret/not-in-output-or-report", PASSPHRASE not in open(out).read() and PASSPHRASE not in r.stderr)
    check_merged("with-secret", frag, ["policy.partners.gmail.com.tls: \"disabled\": streams are plaintext, readable and "
                                       "alterable on the way (RFC 7590 asks for TLS)"])
    r = run("--partners", f"{S}/partners-array.json", "--gateway", f"{S}/gateway.json", "--secret-out", "dialback.secret")
    check("secret/never-overwritten", r.returncode == 1 and r.stderr.strip().endswith(
        f"{tmp}/dialback.secret: (file): cannot create: File exists (refusing to overwrite it)")
        and r.stdout == "", r.stderr)

# --- bad inputs: exit 1, exactly one message -------------------------------
P = "partners.json"
G = "gateway.json"


def partner(**over):
    p = {"Identity": "example.net", "Domain": "example.net", "TlsNegotiation": 2, "SaslNegotiation": 1,
         "SupportDialbackNegotiation": True}
    p.update(over)
    return p


def gw(**over):
    g = {"Identity": "Global", "KeepAliveInterval": 300}
    g.update(over)
    return g


big = "[" + ",".join(json.dumps(partner(Identity=f"p{i}.example", Domain=f"p{i}.example")) for i in range(257)) + "]"
bad = [
    # (name, partners text, gateway text or None, message after "FILE: ")
    ("malformed", '[ { "Domain": "example.net", } ]', None, (P, "(top level): invalid JSON: parse error: invalid object key (must be a string)")),
    ("truncated", '[ { "Domain": "example.net"', None, (P, "(top level): invalid JSON: parse error: premature EOF")),
    ("empty", "  \r\n", None, (P, "(top level): empty (did the cmdlet print nothing?)")),
    ("top-string", '"contoso.com"', None, (P, "(top level): expected an object or an array of objects (Get-CsXmppAllowedPartner | ConvertTo-Json), got a string")),
    ("utf16", "\ufeff[]".encode("utf-16-le"), None, (P, "(top level): UTF-16 text (Windows PowerShell's '>' writes it): write it with Out-File -Encoding utf8, or convert it: iconv -f UTF-16 -t UTF-8")),
    ("utf16-no-bom", "[]".encode("utf-16-le"), None, (P, "(top level): contains NUL bytes (UTF-16 without a byte order mark?)")),
    ("nul-escape", json.dumps([partner(Domain="example.net\u0000.evil")]), None, (P, "(top level): a \\u0000 escape: NUL characters are not accepted")),
    ("element-not-object", '[ "contoso.com" ]', None, (P, "[0]: expected an object (one partner), got a string")),
    ("no-domain", json.dumps([{"TlsNegotiation": 2}]), None, (P, "[0]: neither Domain nor an Identity string: which domain is this partner?")),
    ("domain-not-string", json.dumps([partner(Domain=["example.net"])]), None, (P, "[0].Domain: expected a string, got an array")),
    ("domain-invalid", json.dumps([partner(Domain="exa mple.net")]), None, (P, "[0].Domain: \"exa mple.net\" is not a valid domain: invalid character in name")),
    ("domain-hostile-long", json.dumps([partner(Domain="a" * 300)]), None, (P, "[0].Domain: (300 bytes, not shown: too long) is not a valid domain: name longer than 253 octets")),
    ("identity-differs", json.dumps([partner(Identity="example.org")]), None, (P, "[0].Identity: 'example.org' differs from Domain 'example.net'")),
    ("duplicate-partner", json.dumps([partner(), partner(Domain="EXAMPLE.net.", Identity="example.net")]), None, (P, "[1].Domain: 'example.net' is already imported from [0]")),
    ("duplicate-property", '{"Domain": "example.net", "domain": "example.org"}', None, (P, "(top level): property \"domain\" given twice")),
    ("enum-bool", json.dumps([partner(TlsNegotiation=True)]), None, (P, "[0].TlsNegotiation: expected a name or a number, got a boolean")),
    ("enum-range", json.dumps([partner(SaslNegotiation=3)]), None, (P, "[0].SaslNegotiation: 3 is not one of 0, 1, 2 (NotSupported, Optional, Required)")),
    ("enum-name", json.dumps([partner(TlsNegotiation="Sometimes")]), None, (P, "[0].TlsNegotiation: \"Sometimes\" is not one of Required, Optional, NotSupported")),
    ("partner-type-name", json.dumps([partner(PartnerType="Friendly")]), None, (P, "[0].PartnerType: \"Friendly\" is not one of PublicUnverified, PublicVerified, Federated")),
    ("bool-number", json.dumps([partner(SupportDialbackNegotiation=1)]), None, (P, "[0].SupportDialbackNegotiation: expected true or false, got an integer")),
    ("limit-string", json.dumps([partner(ConnectionLimit="10")]), None, (P, "[0].ConnectionLimit: expected an integer, got a string")),
    ("limit-negative", json.dumps([partner(ConnectionLimit=-1)]), None, (P, "[0].ConnectionLimit: -1 is not a UInt32")),
    ("limit-range", json.dumps([partner(ConnectionLimit=100001)]), None, (P, "[0].ConnectionLimit: 100001 is out of range for policy.partners.DOMAIN.max_connections (0..100000)")),
    ("limit-overflow", '[{"Domain": "example.net", "ConnectionLimit": 99999999999999999999999}]', None, (P, "[0].ConnectionLimit: integer out of range")),
    ("additional-object", json.dumps([partner(AdditionalDomains={"Add": "x.example"})]), None, (P, "[0].AdditionalDomains: expected an array of domains, got an object")),
    ("additional-too-many", json.dumps([partner(AdditionalDomains=[f"d{i}.example.net" for i in range(9)])]), None, (P, "[0].AdditionalDomains: 9 domains; xmpp-edge takes at most 8 per entry (split the partner into several entries)")),
    ("additional-bad", json.dumps([partner(AdditionalDomains=["ok.example.net", 5])]), None, (P, "[0].AdditionalDomains[1]: expected a string, got an integer")),
    ("proxy-number", json.dumps([partner(ProxyFqdn=5269)]), None, (P, "[0].ProxyFqdn: expected a string, got an integer")),
    ("too-many-partners", big, None, (P, "(top level): 257 partners; xmpp-edge holds at most 256")),
    # What the loader refuses comes back with the key path it refuses.
    ("matrix-no-auth", json.dumps([partner(TlsNegotiation=0, SaslNegotiation="Required", SupportDialbackNegotiation=False)]), None,
     ("imported policy", "policy.partners.example.net.sasl_external: \"required\" needs TLS (SASL EXTERNAL authenticates the TLS certificate), but tls is \"disabled\"")),
    ("additional-is-other-partner", json.dumps([partner(AdditionalDomains=["example.org"]), partner(Domain="example.org", Identity="example.org")]), None,
     ("imported policy", "policy.partners.example.net.additional_domains[0]: 'example.org' has an entry of its own (policy.partners.example.org)")),
    ("gateway-malformed", json.dumps([partner()]), "{ KeepAliveInterval: 300 }", (G, "(top level): invalid JSON: lexical error: invalid char in json text.")),
    ("gateway-two", json.dumps([partner()]), json.dumps([gw(), gw()]), (G, "(top level): 2 objects; Lync has one global XMPP gateway configuration")),
    ("gateway-not-object", json.dumps([partner()]), "[5]", (G, "[0]: expected an object (Get-CsXmppGatewayConfiguration | ConvertTo-Json), got an integer")),
    ("gateway-idle-short", json.dumps([partner()]), json.dumps(gw(StreamInactivityTimeout=5)), (G, "StreamInactivityTimeout: 5 is out of range for limits.idle_timeout_s (10..86400)")),
    ("gateway-establish-long", json.dumps([partner()]), json.dumps(gw(StreamEstablishmentTimeout=601)), (G, "StreamEstablishmentTimeout: 601 is out of range for limits.handshake_timeout_ms (1..600 seconds)")),
    ("gateway-keepalive-float", json.dumps([partner()]), json.dumps(gw(KeepAliveInterval=1.5)), (G, "KeepAliveInterval: expected an integer, got a number")),
    ("gateway-streams-zero", json.dumps([partner()]), json.dumps(gw(ConnectionLimit=0)), (G, "ConnectionLimit: 0 is out of range for limits.max_streams (1..1000000)")),
    ("gateway-passphrase-number", json.dumps([partner()]), json.dumps(gw(DialbackPassphrase=1234)), (G, "DialbackPassphrase: expected a string, got an integer")),
    ("gateway-logging-string", json.dumps([partner()]), json.dumps(gw(EnableLoggingAllMessageBodies="yes")), (G, "EnableLoggingAllMessageBodies: expected true or false, got a string")),
]
for name, ptext, gtext, (src, msg) in bad:
    p = write(f"{name}.partners.json", ptext)
    args = ["--partners", p]
    if gtext is not None:
        args += ["--gateway", write(f"{name}.gateway.json", gtext)]
    r = run(*args)
    where = {"partners.json": p, "gateway.json": f"{tmp}/{name}.gateway.json"}.get(src, src)
    want = f"{where}: {msg}"
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    check(f"bad/{name}", r.returncode == 1 and last == want and r.stdout == "",
          f"rc={r.returncode}\n  want: {want}\n  got:  {last}")

# A short passphrase cannot become dialback.secret_file (32 bytes at least).
p = write("short.partners.json", json.dumps([partner()]))
g = write("short.gateway.json", json.dumps(gw(DialbackPassphrase="short")))
r = run("--partners", p, "--gateway", g, "--secret-out", f"{tmp}/short.secret")
check("bad/secret-too-short", r.returncode == 1 and not os.path.exists(f"{tmp}/short.secret") and r.stderr.strip().endswith(
    f"{g}: DialbackPassphrase: 5 bytes; dialback.secret_file needs at least 32 (XEP-0185 keys are only as strong as the "
    "secret): leave out --secret-out and let xmpp-edge create one"), r.stderr)
g = write("nopass.gateway.json", json.dumps(gw()))
r = run("--partners", p, "--gateway", g, "--secret-out", f"{tmp}/nopass.secret")
check("bad/secret-out-without-passphrase", r.returncode == 1 and r.stderr.strip().endswith(
    f"{g}: DialbackPassphrase: --secret-out given, but there is no passphrase to write"), r.stderr)

# Files: missing, oversized.
r = run("--partners", f"{tmp}/absent.json")
check("bad/missing-file", r.returncode == 1 and r.stderr.strip() == f"{tmp}/absent.json: (file): cannot open: No such file or directory", r.stderr)
huge = write("huge.json", "[" + " " * (1024 * 1024) + "]")
r = run("--partners", huge)
check("bad/oversized-file", r.returncode == 1 and r.stderr.strip() == f"{huge}: (file): larger than 1048576 bytes", r.stderr)

# Usage errors: exit 2.
for name, args in [("no-partners", []), ("unknown-arg", ["--partners", p, "--frobnicate"]),
                   ("secret-out-needs-gateway", ["--partners", p, "--secret-out", f"{tmp}/x"]),
                   ("twice", ["--partners", p, "--partners", p]), ("missing-value", ["--partners"])]:
    r = run(*args)
    check(f"usage/{name}", r.returncode == 2 and r.stdout == "", f"{r.returncode} {r.stderr}")
r = subprocess.run([BIN, "import", "csv"], capture_output=True, text=True)
check("usage/unknown-source", r.returncode == 2, r.stderr)

finish()
