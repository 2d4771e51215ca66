/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import_sfb.c - `xmpp-edge import sfb`: migration from the Skype for
 * Business / Lync Server 2013 XMPP gateway.
 *
 * Input: what `Get-CsXmppAllowedPartner | ConvertTo-Json` and
 * `Get-CsXmppGatewayConfiguration | ConvertTo-Json` print: a JSON object
 * or an array of them, property names as the cmdlets document them
 * (New-CsXmppAllowedPartner, Set-CsXmppGatewayConfiguration), enums as
 * numbers (Windows PowerShell) or names (PowerShell 7 -EnumsAsStrings),
 * possibly after a UTF-8 byte order mark.  The text is untrusted: its size
 * is bounded, it is parsed once into a yajl tree, every value is checked
 * for type and range, every string lands in a bounded field or is refused.
 *
 * Output: a JSON object with "policy" (default + partners), "limits" and,
 * with --secret-out, "dialback", to be merged into a configuration.  It is
 * never a complete configuration: domains, certificates, listeners and the
 * gateway link are things Lync's export does not know.  Before it is
 * written the fragment is loaded by the configuration loader inside a
 * minimal configuration, so the schema and Lync's negotiation matrix
 * (config.c) judge it exactly as `xmpp-edge check` will.
 *
 * Report (stderr): every property, mapped (to which key) or not (and why).
 * The DialbackPassphrase is a secret: never printed, written only to the
 * 0600 file --secret-out names, wiped from memory after.
 *
 * Numeric enums: the cmdlet documentation names the values (Required,
 * Optional, NotSupported; Federated, PublicVerified, PublicUnverified) but
 * not their numbers.  They are read as NotSupported=0, Optional=1,
 * Required=2 and Federated=0, PublicVerified=1, PublicUnverified=2: an
 * assumption, said in the report next to every numeric value read.
 */
#include "import_sfb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "config.h"
#include "domain.h"
#include "netaddr.h"

#define SFB_PATH_MAX	 32	/* "[255]." */
#define SFB_SHOW_MAX	 80	/* longest hostile text echoed in messages */
#define SFB_XMPP_PORT	 5269	/* RFC 6120 s2s, for a ProxyFqdn address */
/* The minimal configuration the fragment is checked in; .invalid never
 * names a real partner (RFC 2606). */
#define SFB_CHECK_DOMAIN "xmpp-edge-import.invalid"

enum sfb_enum_kind { SFB_NEGOTIATION, SFB_PARTNER_TYPE };

/* Numeric values by assumption (see the top of the file), then names. */
static const char *const sfb_negotiation_names[] = { "NotSupported", "Optional", "Required", NULL };
static const char *const sfb_partner_type_names[] = { "Federated", "PublicVerified", "PublicUnverified", NULL };

struct sfb_partner {
	char domain[CONFIG_DOMAIN_MAX];
	char additional[CONFIG_MAX_ADDITIONAL_DOMAINS][CONFIG_DOMAIN_MAX];
	size_t additional_count;
	int tls;			/* enum policy_tls */
	int sasl;			/* enum policy_sasl */
	int dialback;
	long max_connections;		/* -1: not set, inherits the default */
	int keepalive_off;		/* EnableKeepAlive false */
	char connect[CONFIG_ADDR_MAX];	/* "" none */
};

struct sfb_gateway {
	int present;
	long keepalive_s;		/* -1: not given, for every long here */
	long partner_max_connections;
	long max_streams;
	long establish_s;
	long idle_s;
};

struct sfb {
	const char *file;		/* for messages */
	char *err;
	size_t errlen;
	FILE *report;
	struct sfb_partner *partners;	/* CONFIG_MAX_PARTNERS */
	size_t partner_count;
	struct sfb_gateway gw;
	struct import_sfb_secret *secret;
};

static int
sfb_fail(struct sfb *im, const char *path, const char *prop, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "FILE: PATH.Property: reason"; PATH is "" (a single object) or "[i].";
 * without a property the message is about the element (or the top level). */
static int
sfb_fail(struct sfb *im, const char *path, const char *prop, const char *fmt, ...)
{
	char reason[CONFIG_ERR_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (prop == NULL && path[0] == '\0')
		snprintf(im->err, im->errlen, "%s: (top level): %s", im->file, reason);
	else if (prop == NULL)	/* "[3]." names the element itself: "[3]" */
		snprintf(im->err, im->errlen, "%s: %.*s: %s", im->file,
		    (int)strlen(path) - (path[strlen(path) - 1] == '.'), path, reason);
	else
		snprintf(im->err, im->errlen, "%s: %s%s: %s", im->file, path, prop, reason);
	return -1;
}

static void sfb_report(struct sfb *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sfb_report(struct sfb *im, const char *fmt, ...)
{
	va_list ap;

	if (im->report == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(im->report, fmt, ap);
	va_end(ap);
}

/*
 * Hostile text in a message: shown quoted when it is short printable
 * ASCII, else described.  Never cut: a cut name could read as another.
 */
static const char *
sfb_show(const char *s, char *buf, size_t cap)
{
	size_t i, len = strlen(s);
	int plain = len <= SFB_SHOW_MAX;

	for (i = 0; plain && i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '"')
			plain = 0;
	if (plain)
		snprintf(buf, cap, "\"%s\"", s);
	else
		snprintf(buf, cap, "(%zu bytes, not shown: %s)", len,
		    len > SFB_SHOW_MAX ? "too long" : "not plain ASCII");
	return buf;
}

/* A property name: as is when it is a plain identifier, else shown. */
static const char *
sfb_show_name(const char *s, char *buf, size_t cap)
{
	size_t i, len = strlen(s);

	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", s[i]) == NULL)
			break;
	if (len == 0 || len > SFB_SHOW_MAX || i < len)
		return sfb_show(s, buf, cap);
	snprintf(buf, cap, "%s", s);
	return buf;
}


/* ---- typed readers: each fills its result or fails with the path ------- */

/* An enum: a documented name (any case) or, by assumption, its number. */
static int
sfb_read_enum(struct sfb *im, const char *path, const char *prop, yajl_val v,
    enum sfb_enum_kind kind, int *out, int *numeric)
{
	const char *const *names = kind == SFB_NEGOTIATION ? sfb_negotiation_names : sfb_partner_type_names;
	char show[SFB_SHOW_MAX + 64];
	int i;

	*numeric = 0;
	if (YAJL_IS_INTEGER(v)) {
		long long n = YAJL_GET_INTEGER(v);
		if (n < 0 || n > 2)
			return sfb_fail(im, path, prop, "%lld is not one of 0, 1, 2 (%s, %s, %s)", n,
			    names[0], names[1], names[2]);
		*out = (int)n;
		*numeric = 1;
		return 0;
	}
	if (!YAJL_IS_STRING(v))
		return sfb_fail(im, path, prop, "expected a name or a number, got %s", config_json_type_name(v));
	for (i = 0; names[i] != NULL; i++)
		if (strcasecmp(v->u.string, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return sfb_fail(im, path, prop, "%s is not one of %s, %s, %s",
	    sfb_show(v->u.string, show, sizeof(show)), names[2], names[1], names[0]);
}

/* PowerShell writes booleans as true/false; "True"/"False" strings (a
 * hand-edited file, Export-Csv habits) are read too. */
static int
sfb_read_bool(struct sfb *im, const char *path, const char *prop, yajl_val v, int *out)
{
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		*out = YAJL_IS_TRUE(v);
		return 0;
	}
	if (YAJL_IS_STRING(v) && strcasecmp(v->u.string, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (YAJL_IS_STRING(v) && strcasecmp(v->u.string, "false") == 0) {
		*out = 0;
		return 0;
	}
	return sfb_fail(im, path, prop, "expected true or false, got %s", config_json_type_name(v));
}

/* A UInt32 that lands in `key` after multiplying by `scale`: the key's
 * bounds come from the schema, so the fragment cannot disagree with it. */
static int
sfb_read_uint(struct sfb *im, const char *path, const char *prop, yajl_val v,
    const char *key, long scale, long *out)
{
	long long n;
	long min, max;

	if (!YAJL_IS_INTEGER(v)) {
		if (YAJL_IS_NUMBER(v) && strpbrk(v->u.number.r, ".eE") == NULL)
			return sfb_fail(im, path, prop, "integer out of range");
		return sfb_fail(im, path, prop, "expected an integer, got %s", config_json_type_name(v));
	}
	n = YAJL_GET_INTEGER(v);
	if (config_key_range(key, &min, &max) < 0)
		return sfb_fail(im, path, prop, "internal: %s is not an integer key", key);
	if (n < 0 || n > 4294967295LL)
		return sfb_fail(im, path, prop, "%lld is not a UInt32", n);
	if (n * scale < min || n * scale > max)
		return sfb_fail(im, path, prop, "%lld is out of range for %s (%ld..%ld%s)", n, key,
		    min / scale + (min % scale != 0), max / scale, scale == 1000 ? " seconds" : "");
	*out = (long)(n * scale);
	return 0;
}

/* A domain in canonical form (config.c's rule) into a bounded field. */
static int
sfb_read_domain(struct sfb *im, const char *path, const char *prop, const char *text,
    char out[CONFIG_DOMAIN_MAX])
{
	char why[256], show[SFB_SHOW_MAX + 64];

	if (domain_canonicalize(text, strlen(text), out, CONFIG_DOMAIN_MAX, why, sizeof(why)) < 0)
		return sfb_fail(im, path, prop, "%s is not a valid domain: %s",
		    sfb_show(text, show, sizeof(show)), why);
	return 0;
}

/* ---- partners ------------------------------------------------------------ */

/* The partner's domain: Domain, else Identity (Get-CsXmppAllowedPartner
 * prints both, equal); found first so every report line can name the
 * entry it fills. */
static int
sfb_partner_domain(struct sfb *im, const char *path, yajl_val obj, struct sfb_partner *p)
{
	yajl_val domain = NULL, identity = NULL;
	size_t i;

	for (i = 0; i < obj->u.object.len; i++) {
		if (strcasecmp(obj->u.object.keys[i], "Domain") == 0)
			domain = obj->u.object.values[i];
		else if (strcasecmp(obj->u.object.keys[i], "Identity") == 0)
			identity = obj->u.object.values[i];
	}
	if (domain != NULL && !YAJL_IS_STRING(domain))
		return sfb_fail(im, path, "Domain", "expected a string, got %s", config_json_type_name(domain));
	if (domain != NULL)
		return sfb_read_domain(im, path, "Domain", domain->u.string, p->domain);
	if (identity == NULL || !YAJL_IS_STRING(identity))
		return sfb_fail(im, path, NULL, "neither Domain nor an Identity string: which domain is this partner?");
	return sfb_read_domain(im, path, "Identity", identity->u.string, p->domain);
}

static int
sfb_partner_additional(struct sfb *im, const char *path, yajl_val v, struct sfb_partner *p)
{
	size_t i, n;

	if (YAJL_IS_NULL(v) || (YAJL_IS_STRING(v) && v->u.string[0] == '\0'))
		return 0;
	if (YAJL_IS_STRING(v))		/* a single value, unwrapped by PowerShell */
		return sfb_read_domain(im, path, "AdditionalDomains", v->u.string, p->additional[p->additional_count++]);
	if (!YAJL_IS_ARRAY(v))
		return sfb_fail(im, path, "AdditionalDomains", "expected an array of domains, got %s", config_json_type_name(v));
	n = v->u.array.len;
	if (n > CONFIG_MAX_ADDITIONAL_DOMAINS)
		return sfb_fail(im, path, "AdditionalDomains", "%zu domains; xmpp-edge takes at most %d per entry"
		    " (split the partner into several entries)", n, CONFIG_MAX_ADDITIONAL_DOMAINS);
	for (i = 0; i < n; i++) {
		yajl_val d = v->u.array.values[i];
		char prop[64];

		snprintf(prop, sizeof(prop), "AdditionalDomains[%zu]", i);
		if (!YAJL_IS_STRING(d))
			return sfb_fail(im, path, prop, "expected a string, got %s", config_json_type_name(d));
		if (sfb_read_domain(im, path, prop, d->u.string, p->additional[p->additional_count]) < 0)
			return -1;
		p->additional_count++;
	}
	return 0;
}

/* ProxyFqdn: Lync sends the partner's traffic to that host.  xmpp-edge's
 * `connect` takes an address (a DMZ proxy should not need DNS to know
 * where to connect), so only an IP literal maps. */
static int
sfb_partner_proxy(struct sfb *im, const char *path, const char *entry, yajl_val v,
    struct sfb_partner *p)
{
	struct sockaddr_storage ss;
	char why[256], show[SFB_SHOW_MAX + 64], addr[CONFIG_ADDR_MAX];
	const char *s;
	int n;

	if (YAJL_IS_NULL(v) || (YAJL_IS_STRING(v) && v->u.string[0] == '\0')) {
		sfb_report(im, "    not mapped  %sProxyFqdn: not set (DNS SRV finds the partner)\n", path);
		return 0;
	}
	if (!YAJL_IS_STRING(v))
		return sfb_fail(im, path, "ProxyFqdn", "expected a string, got %s", config_json_type_name(v));
	s = v->u.string;
	if (netaddr_parse(s, &ss, why, sizeof(why)) == 0)
		n = snprintf(addr, sizeof(addr), "%s", s);
	else if (strchr(s, ':') != NULL)
		n = snprintf(addr, sizeof(addr), "[%s]:%d", s, SFB_XMPP_PORT);
	else
		n = snprintf(addr, sizeof(addr), "%s:%d", s, SFB_XMPP_PORT);
	if (n < 0 || (size_t)n >= sizeof(addr) || netaddr_parse(addr, &ss, why, sizeof(why)) < 0) {
		sfb_report(im, "    not mapped  %sProxyFqdn: %s is a host name; %s.connect takes an address:"
		    " resolve it and set \"IP:5269\" by hand, or leave it to DNS SRV\n", path,
		    sfb_show(s, show, sizeof(show)), entry);
		return 0;
	}
	memcpy(p->connect, addr, (size_t)n + 1);
	sfb_report(im, "    mapped      %sProxyFqdn: %s -> %s.connect \"%s\"\n", path,
	    sfb_show(s, show, sizeof(show)), entry, addr);
	return 0;
}

/* Rejects a property listed twice (JSON names compare as PowerShell's do:
 * without case). */
static int
sfb_check_duplicates(struct sfb *im, const char *path, yajl_val obj)
{
	char show[SFB_SHOW_MAX + 64];
	size_t i, j;

	for (i = 0; i < obj->u.object.len; i++)
		for (j = 0; j < i; j++)
			if (strcasecmp(obj->u.object.keys[i], obj->u.object.keys[j]) == 0)
				return sfb_fail(im, path, NULL, "property %s given twice",
				    sfb_show(obj->u.object.keys[i], show, sizeof(show)));
	return 0;
}

static const char *const sfb_tls_keys[] = { "disabled", "optional", "required" };	/* by Lync value */
static const char *const sfb_sasl_keys[] = { "disabled", "optional", "required" };
static const int sfb_tls_of[] = { POLICY_TLS_DISABLED, POLICY_TLS_OPTIONAL, POLICY_TLS_REQUIRED };
static const int sfb_sasl_of[] = { POLICY_SASL_DISABLED, POLICY_SASL_OPTIONAL, POLICY_SASL_REQUIRED };

static int
sfb_partner(struct sfb *im, const char *path, yajl_val obj, struct sfb_partner *p)
{
	char entry[CONFIG_DOMAIN_MAX + 32], show[SFB_SHOW_MAX + 64];
	int seen_tls = 0, seen_sasl = 0, seen_dialback = 0;
	size_t i;

	if (!YAJL_IS_OBJECT(obj))
		return sfb_fail(im, path, NULL, "expected an object (one partner), got %s", config_json_type_name(obj));
	if (sfb_check_duplicates(im, path, obj) < 0 || sfb_partner_domain(im, path, obj, p) < 0)
		return -1;
	/* New-CsXmppAllowedPartner's documented defaults, for a partial
	 * object: TLS Required, SASL Required, dialback True. */
	p->tls = POLICY_TLS_REQUIRED;
	p->sasl = POLICY_SASL_REQUIRED;
	p->dialback = 1;
	p->max_connections = -1;
	snprintf(entry, sizeof(entry), "policy.partners.%s", p->domain);
	if (path[0] != '\0')
		sfb_report(im, "  %.*s %s -> %s\n", (int)strlen(path) - 1, path, p->domain, entry);
	else
		sfb_report(im, "  %s -> %s\n", p->domain, entry);
	for (i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		yajl_val v = obj->u.object.values[i];
		int n, numeric;

		if (strcasecmp(k, "Domain") == 0) {
			sfb_report(im, "    mapped      %sDomain -> the entry's name\n", path);
		} else if (strcasecmp(k, "Identity") == 0) {
			char id[CONFIG_DOMAIN_MAX];
			/* Identity is the domain too; a different one
			 * means the export is not what it seems. */
			if (YAJL_IS_STRING(v)) {
				if (sfb_read_domain(im, path, "Identity", v->u.string, id) < 0)
					return -1;
				if (strcmp(id, p->domain) != 0)
					return sfb_fail(im, path, "Identity", "'%s' differs from Domain '%s'",
					    id, p->domain);
			}
			sfb_report(im, "    %s  %sIdentity -> %s\n", YAJL_IS_STRING(v) ? "mapped    " : "not mapped", path,
			    YAJL_IS_STRING(v) ? "the entry's name" : "not a string, Domain names the entry");
		} else if (strcasecmp(k, "AdditionalDomains") == 0) {
			size_t j;
			if (sfb_partner_additional(im, path, v, p) < 0)
				return -1;
			if (p->additional_count == 0) {
				sfb_report(im, "    not mapped  %sAdditionalDomains: none\n", path);
				continue;
			}
			sfb_report(im, "    mapped      %sAdditionalDomains: %zu domain%s -> %s.additional_domains",
			    path, p->additional_count, p->additional_count == 1 ? "" : "s", entry);
			for (j = 0; j < p->additional_count; j++)
				sfb_report(im, "%s\"%s\"", j ? ", " : " [", p->additional[j]);
			sfb_report(im, "]\n");
		} else if (strcasecmp(k, "TlsNegotiation") == 0 || strcasecmp(k, "SaslNegotiation") == 0) {
			int is_tls = strcasecmp(k, "TlsNegotiation") == 0;
			if (sfb_read_enum(im, path, is_tls ? "TlsNegotiation" : "SaslNegotiation", v,
			    SFB_NEGOTIATION, &n, &numeric) < 0)
				return -1;
			if (is_tls) {
				p->tls = sfb_tls_of[n];
				seen_tls = 1;
			} else {
				p->sasl = sfb_sasl_of[n];
				seen_sasl = 1;
			}
			sfb_report(im, "    mapped      %s%s: %s%s -> %s.%s \"%s\"\n", path,
			    is_tls ? "TlsNegotiation" : "SaslNegotiation", sfb_negotiation_names[n],
			    numeric ? " (a number, read by the assumed order, see README)" : "", entry,
			    is_tls ? "tls" : "sasl_external", is_tls ? sfb_tls_keys[n] : sfb_sasl_keys[n]);
		} else if (strcasecmp(k, "SupportDialbackNegotiation") == 0) {
			if (sfb_read_bool(im, path, "SupportDialbackNegotiation", v, &p->dialback) < 0)
				return -1;
			seen_dialback = 1;
			sfb_report(im, "    mapped      %sSupportDialbackNegotiation: %s -> %s.dialback %s\n", path,
			    p->dialback ? "true" : "false", entry, p->dialback ? "true" : "false");
		} else if (strcasecmp(k, "ConnectionLimit") == 0) {
			if (YAJL_IS_NULL(v)) {
				sfb_report(im, "    not mapped  %sConnectionLimit: not set (PartnerConnectionLimit applies)\n", path);
				continue;
			}
			if (sfb_read_uint(im, path, "ConnectionLimit", v, "policy.partners.DOMAIN.max_connections", 1,
			    &p->max_connections) < 0)
				return -1;
			sfb_report(im, "    mapped      %sConnectionLimit: %ld -> %s.max_connections %ld\n", path,
			    p->max_connections, entry, p->max_connections);
		} else if (strcasecmp(k, "EnableKeepAlive") == 0) {
			int on;
			if (sfb_read_bool(im, path, "EnableKeepAlive", v, &on) < 0)
				return -1;
			p->keepalive_off = !on;
			if (on)
				sfb_report(im, "    mapped      %sEnableKeepAlive: true -> %s.keepalive_s inherits"
				    " policy.default.keepalive_s (KeepAliveInterval)\n", path, entry);
			else
				sfb_report(im, "    mapped      %sEnableKeepAlive: false -> %s.keepalive_s 0\n", path, entry);
		} else if (strcasecmp(k, "ProxyFqdn") == 0) {
			if (sfb_partner_proxy(im, path, entry, v, p) < 0)
				return -1;
		} else if (strcasecmp(k, "PartnerType") == 0) {
			if (sfb_read_enum(im, path, "PartnerType", v, SFB_PARTNER_TYPE, &n, &numeric) < 0)
				return -1;
			/* What the partner's users may do (invite, need to
			 * be in a contact list first) is decided by the
			 * gateway inside, not at the edge. */
			sfb_report(im, "    not mapped  %sPartnerType: %s%s: who may invite whom is the internal"
			    " gateway's decision%s%s%s\n", path, sfb_partner_type_names[n],
			    numeric ? " (a number, read by the assumed order)" : "",
			    n == 0 ? "; a Federated partner whose certificates are valid may deserve " : "",
			    n == 0 ? entry : "", n == 0 ? ".require_valid_certificate true" : "");
		} else if (strcasecmp(k, "Description") == 0) {
			sfb_report(im, "    not mapped  %sDescription: xmpp-edge keeps no descriptions%s%s\n", path,
			    YAJL_IS_STRING(v) ? ": " : "",
			    YAJL_IS_STRING(v) ? sfb_show(v->u.string, show, sizeof(show)) : "");
		} else {
			sfb_report(im, "    not mapped  %s%s: not a property xmpp-edge knows (ignored)\n", path,
			    sfb_show_name(k, show, sizeof(show)));
		}
	}
	if (!seen_tls)
		sfb_report(im, "    mapped      %sTlsNegotiation: absent, Lync's default Required -> %s.tls \"required\"\n", path, entry);
	if (!seen_sasl)
		sfb_report(im, "    mapped      %sSaslNegotiation: absent, Lync's default Required -> %s.sasl_external \"required\"\n", path, entry);
	if (!seen_dialback)
		sfb_report(im, "    mapped      %sSupportDialbackNegotiation: absent, Lync's default true -> %s.dialback true\n", path, entry);
	return 0;
}

static int
sfb_partners(struct sfb *im, yajl_val root)
{
	char path[SFB_PATH_MAX];
	size_t i, j, n = YAJL_IS_ARRAY(root) ? root->u.array.len : 1;

	if (!YAJL_IS_ARRAY(root) && !YAJL_IS_OBJECT(root))
		return sfb_fail(im, "", NULL, "expected an object or an array of objects"
		    " (Get-CsXmppAllowedPartner | ConvertTo-Json), got %s", config_json_type_name(root));
	if (n > CONFIG_MAX_PARTNERS)
		return sfb_fail(im, "", NULL, "%zu partners; xmpp-edge holds at most %d", n, CONFIG_MAX_PARTNERS);
	sfb_report(im, "import sfb: %s: %zu partner%s\n", im->file, n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		struct sfb_partner *p = &im->partners[i];

		if (YAJL_IS_ARRAY(root))
			snprintf(path, sizeof(path), "[%zu].", i);
		else
			path[0] = '\0';
		if (sfb_partner(im, path, YAJL_IS_ARRAY(root) ? root->u.array.values[i] : root, p) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(im->partners[j].domain, p->domain) == 0)
				return sfb_fail(im, path, "Domain", "'%s' is already imported from [%zu]", p->domain, j);
		im->partner_count++;
	}
	return 0;
}

/* ---- gateway ------------------------------------------------------------- */

static int
sfb_gateway(struct sfb *im, yajl_val root)
{
	char show[SFB_SHOW_MAX + 64];
	const char *path = "";
	yajl_val obj = root;
	long v;
	size_t i;

	if (YAJL_IS_ARRAY(root)) {
		if (root->u.array.len != 1)
			return sfb_fail(im, "", NULL, "%zu objects; Lync has one global XMPP gateway configuration",
			    root->u.array.len);
		obj = root->u.array.values[0];
		path = "[0].";
	}
	if (!YAJL_IS_OBJECT(obj))
		return sfb_fail(im, path, NULL, "expected an object"
		    " (Get-CsXmppGatewayConfiguration | ConvertTo-Json), got %s", config_json_type_name(obj));
	if (sfb_check_duplicates(im, path, obj) < 0)
		return -1;
	im->gw.present = 1;
	sfb_report(im, "import sfb: %s: XMPP gateway configuration\n", im->file);
	for (i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		yajl_val val = obj->u.object.values[i];

		if (YAJL_IS_NULL(val) && strcasecmp(k, "DialbackPassphrase") != 0) {
			sfb_report(im, "    not mapped  %s%s: null\n", path, sfb_show_name(k, show, sizeof(show)));
		} else if (strcasecmp(k, "KeepAliveInterval") == 0) {
			if (sfb_read_uint(im, path, "KeepAliveInterval", val, "policy.default.keepalive_s", 1, &v) < 0)
				return -1;
			im->gw.keepalive_s = v;
			sfb_report(im, "    mapped      %sKeepAliveInterval: %ld s -> policy.default.keepalive_s %ld"
			    " (partners with EnableKeepAlive false get 0)\n", path, v, v);
		} else if (strcasecmp(k, "PartnerConnectionLimit") == 0) {
			if (sfb_read_uint(im, path, "PartnerConnectionLimit", val, "policy.default.max_connections", 1, &v) < 0)
				return -1;
			im->gw.partner_max_connections = v;
			sfb_report(im, "    mapped      %sPartnerConnectionLimit: %ld -> policy.default.max_connections %ld\n",
			    path, v, v);
		} else if (strcasecmp(k, "ConnectionLimit") == 0) {
			if (sfb_read_uint(im, path, "ConnectionLimit", val, "limits.max_streams", 1, &v) < 0)
				return -1;
			im->gw.max_streams = v;
			sfb_report(im, "    mapped      %sConnectionLimit: %ld -> limits.max_streams %ld"
			    " (xmpp-edge counts the internal gateway's streams too)\n", path, v, v);
		} else if (strcasecmp(k, "StreamEstablishmentTimeout") == 0) {
			if (sfb_read_uint(im, path, "StreamEstablishmentTimeout", val, "limits.handshake_timeout_ms", 1000, &v) < 0 ||
			    sfb_read_uint(im, path, "StreamEstablishmentTimeout", val, "limits.connect_timeout_ms", 1000, &v) < 0)
				return -1;
			im->gw.establish_s = v / 1000;
			sfb_report(im, "    mapped      %sStreamEstablishmentTimeout: %ld s -> limits.handshake_timeout_ms"
			    " and limits.connect_timeout_ms %ld\n", path, v / 1000, v);
		} else if (strcasecmp(k, "StreamInactivityTimeout") == 0) {
			if (sfb_read_uint(im, path, "StreamInactivityTimeout", val, "limits.idle_timeout_s", 1, &v) < 0)
				return -1;
			im->gw.idle_s = v;
			sfb_report(im, "    mapped      %sStreamInactivityTimeout: %ld s -> limits.idle_timeout_s %ld\n",
			    path, v, v);
		} else if (strcasecmp(k, "DialbackPassphrase") == 0) {
			size_t len;
			if (YAJL_IS_NULL(val) || (YAJL_IS_STRING(val) && val->u.string[0] == '\0')) {
				sfb_report(im, "    not mapped  %sDialbackPassphrase: not set\n", path);
				continue;
			}
			if (!YAJL_IS_STRING(val))
				return sfb_fail(im, path, "DialbackPassphrase", "expected a string, got %s", config_json_type_name(val));
			len = strlen(val->u.string);
			if (len > IMPORT_SFB_SECRET_MAX)
				return sfb_fail(im, path, "DialbackPassphrase", "longer than %d bytes", IMPORT_SFB_SECRET_MAX);
			memcpy(im->secret->value, val->u.string, len + 1);
			im->secret->len = len;
			im->secret->present = 1;
			/* The copy in the tree goes now; the file's bytes
			 * are wiped by the caller. */
			explicit_bzero(val->u.string, len);
			sfb_report(im, "    not mapped  %sDialbackPassphrase: a secret (%zu bytes, not shown), never put in the"
			    " configuration; it only signs the dialback keys this server hands out (XEP-0185), so"
			    " xmpp-edge's own dialback.secret_file can replace it; --secret-out FILE keeps it"
			    " (mode 0600)\n", path, len);
		} else if (strcasecmp(k, "SubscriptionRefreshInterval") == 0) {
			sfb_report(im, "    not mapped  %sSubscriptionRefreshInterval: presence subscriptions are the internal"
			    " gateway's business\n", path);
		} else if (strncasecmp(k, "EnableLogging", 13) == 0) {
			int on = 0;
			if (sfb_read_bool(im, path, sfb_show_name(k, show, sizeof(show)), val, &on) < 0)
				return -1;
			sfb_report(im, "    not mapped  %s%s: %s: xmpp-edge forwards bytes and never logs message bodies%s\n",
			    path, show, on ? "true" : "false",
			    on ? "; if bodies must be archived, do it on the internal server" : "");
		} else if (strcasecmp(k, "Identity") == 0) {
			sfb_report(im, "    not mapped  %sIdentity: Lync's one global setting\n", path);
		} else {
			sfb_report(im, "    not mapped  %s%s: not a property xmpp-edge knows (ignored)\n", path,
			    sfb_show_name(k, show, sizeof(show)));
		}
	}
	return 0;
}

/* ---- output ---------------------------------------------------------------- */

/* yajl_gen only fails on a misuse of its own API; one sticky check. */
#define GEN(call) do { if ((call) != yajl_gen_status_ok) gen_failed = 1; } while (0)
#define GEN_KEY(g, s) GEN(yajl_gen_string((g), (const unsigned char *)(s), strlen(s)))
#define GEN_STR(g, s) GEN(yajl_gen_string((g), (const unsigned char *)(s), strlen(s)))

/* The members of the fragment, into an open map (the fragment's own, or
 * the minimal configuration it is checked in). */
static int
sfb_emit_members(const struct sfb *im, yajl_gen g, const char *secret_file)
{
	static const char *const tls_names[] = { "required", "optional", "disabled" };
	static const char *const sasl_names[] = { "optional", "required", "disabled" };
	const struct sfb_gateway *gw = &im->gw;
	int gen_failed = 0;
	size_t i, j;

	GEN_KEY(g, "policy");
	GEN(yajl_gen_map_open(g));
	GEN_KEY(g, "default");
	GEN(yajl_gen_map_open(g));
	/* Lync federates only with listed partners: an allow-list. */
	GEN_KEY(g, "allow");
	GEN(yajl_gen_bool(g, 0));
	/* Partners with EnableKeepAlive true inherit this: Lync's
	 * KeepAliveInterval, or its documented default of 300 s. */
	GEN_KEY(g, "keepalive_s");
	GEN(yajl_gen_integer(g, gw->keepalive_s >= 0 ? gw->keepalive_s : 300));
	if (gw->partner_max_connections >= 0) {
		GEN_KEY(g, "max_connections");
		GEN(yajl_gen_integer(g, gw->partner_max_connections));
	}
	GEN(yajl_gen_map_close(g));
	GEN_KEY(g, "partners");
	GEN(yajl_gen_map_open(g));
	for (i = 0; i < im->partner_count; i++) {
		const struct sfb_partner *p = &im->partners[i];

		GEN_KEY(g, p->domain);
		GEN(yajl_gen_map_open(g));
		GEN_KEY(g, "allow");
		GEN(yajl_gen_bool(g, 1));
		GEN_KEY(g, "tls");
		GEN_STR(g, tls_names[p->tls]);
		GEN_KEY(g, "sasl_external");
		GEN_STR(g, sasl_names[p->sasl]);
		GEN_KEY(g, "dialback");
		GEN(yajl_gen_bool(g, p->dialback));
		if (p->additional_count > 0) {
			GEN_KEY(g, "additional_domains");
			GEN(yajl_gen_array_open(g));
			for (j = 0; j < p->additional_count; j++)
				GEN_STR(g, p->additional[j]);
			GEN(yajl_gen_array_close(g));
		}
		if (p->max_connections >= 0) {
			GEN_KEY(g, "max_connections");
			GEN(yajl_gen_integer(g, p->max_connections));
		}
		if (p->keepalive_off) {
			GEN_KEY(g, "keepalive_s");
			GEN(yajl_gen_integer(g, 0));
		}
		if (p->connect[0] != '\0') {
			GEN_KEY(g, "connect");
			GEN_STR(g, p->connect);
		}
		GEN(yajl_gen_map_close(g));
	}
	GEN(yajl_gen_map_close(g));
	GEN(yajl_gen_map_close(g));
	GEN_KEY(g, "limits");
	GEN(yajl_gen_map_open(g));
	if (gw->establish_s >= 0) {
		GEN_KEY(g, "handshake_timeout_ms");
		GEN(yajl_gen_integer(g, gw->establish_s * 1000));
		GEN_KEY(g, "connect_timeout_ms");
		GEN(yajl_gen_integer(g, gw->establish_s * 1000));
	}
	if (gw->idle_s >= 0) {
		GEN_KEY(g, "idle_timeout_s");
		GEN(yajl_gen_integer(g, gw->idle_s));
	}
	if (gw->max_streams >= 0) {
		GEN_KEY(g, "max_streams");
		GEN(yajl_gen_integer(g, gw->max_streams));
	}
	GEN(yajl_gen_map_close(g));
	if (secret_file != NULL) {
		GEN_KEY(g, "dialback");
		GEN(yajl_gen_map_open(g));
		GEN_KEY(g, "secret_file");
		GEN_STR(g, secret_file);
		GEN(yajl_gen_map_close(g));
	}
	return gen_failed ? -1 : 0;
}

/* Generates the fragment (check == 0) or the minimal configuration that
 * holds it (check == 1); returns a malloc'd NUL-terminated copy. */
static char *
sfb_generate(const struct sfb *im, const char *secret_file, int check, size_t *len_out)
{
	const unsigned char *buf;
	yajl_gen g;
	char *copy = NULL;
	int gen_failed = 0;
	size_t len;

	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		return NULL;
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_config(g, yajl_gen_indent_string, "  ");
	GEN(yajl_gen_map_open(g));
	if (check) {
		GEN_KEY(g, "state_dir");
		GEN_STR(g, "/");
		GEN_KEY(g, "domains");
		GEN(yajl_gen_array_open(g));
		GEN(yajl_gen_map_open(g));
		GEN_KEY(g, "name");
		GEN_STR(g, SFB_CHECK_DOMAIN);
		GEN_KEY(g, "cert");
		GEN_STR(g, "/dev/null");
		GEN_KEY(g, "key");
		GEN_STR(g, "/dev/null");
		GEN(yajl_gen_map_close(g));
		GEN(yajl_gen_array_close(g));
	}
	if (sfb_emit_members(im, g, secret_file) < 0)
		gen_failed = 1;
	GEN(yajl_gen_map_close(g));
	if (!gen_failed && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok &&
	    (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, buf, len);
		copy[len] = '\0';
		*len_out = len;
	}
	yajl_gen_free(g);
	return copy;
}

/* ---- input ----------------------------------------------------------------- */

/*
 * Parses one input into a yajl tree.  A UTF-8 byte order mark (what
 * Out-File -Encoding utf8 writes on Windows PowerShell) is skipped; UTF-16
 * (what its `>` writes) is refused with the way out.  The "\u0000" escape
 * is refused before yajl decodes it: a NUL inside a string would silently
 * end every C string read from it.
 */
static yajl_val
sfb_parse(struct sfb *im, const struct import_sfb_input *in)
{
	char ybuf[256], *text, *nl;
	const char *p = in->text;
	size_t len = in->len, i;
	yajl_val root;

	if (len > IMPORT_SFB_FILE_MAX_BYTES) {
		sfb_fail(im, "", NULL, "larger than %d bytes", IMPORT_SFB_FILE_MAX_BYTES);
		return NULL;
	}
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		len -= 3;
	} else if (len >= 2 && (memcmp(p, "\xff\xfe", 2) == 0 || memcmp(p, "\xfe\xff", 2) == 0)) {
		sfb_fail(im, "", NULL, "UTF-16 text (Windows PowerShell's '>' writes it): write it with"
		    " Out-File -Encoding utf8, or convert it: iconv -f UTF-16 -t UTF-8");
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL) {
		sfb_fail(im, "", NULL, "contains NUL bytes (UTF-16 without a byte order mark?)");
		return NULL;
	}
	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && i + 5 < len && memcmp(p + i + 2, "0000", 4) == 0) {
			sfb_fail(im, "", NULL, "a \\u0000 escape: NUL characters are not accepted");
			return NULL;
		}
		i++;	/* the escaped character is not an escape itself */
	}
	for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'); i++)
		;
	if (i == len) {
		sfb_fail(im, "", NULL, "empty (did the cmdlet print nothing?)");
		return NULL;
	}
	text = malloc(len + 1);
	if (text == NULL) {
		sfb_fail(im, "", NULL, "out of memory");
		return NULL;
	}
	memcpy(text, p, len);
	text[len] = '\0';
	ybuf[0] = '\0';
	root = yajl_tree_parse(text, ybuf, sizeof(ybuf));
	explicit_bzero(text, len);	/* the gateway's holds the passphrase */
	free(text);
	if (root == NULL) {
		if ((nl = strchr(ybuf, '\n')) != NULL)
			*nl = '\0';
		sfb_fail(im, "", NULL, "invalid JSON: %s", ybuf[0] ? ybuf : "syntax error");
	}
	return root;
}

int
import_sfb_convert(const struct import_sfb_input *partners, const struct import_sfb_input *gateway,
    const char *secret_file, FILE *report, char **out, size_t *out_len,
    struct import_sfb_secret *secret, char *err, size_t errlen)
{
	struct sfb im = { .err = err, .errlen = errlen, .report = report, .secret = secret };
	char cerr[CONFIG_ERR_MAX];
	struct config *cfg = NULL;
	yajl_val proot = NULL, groot = NULL;
	char *check_text = NULL, *frag = NULL;
	size_t check_len = 0, frag_len = 0, i;
	int rc = -1;

	err[0] = '\0';
	*out = NULL;
	*out_len = 0;
	memset(secret, 0, sizeof(*secret));
	im.gw.keepalive_s = im.gw.partner_max_connections = im.gw.max_streams = -1;
	im.gw.establish_s = im.gw.idle_s = -1;
	im.partners = calloc(CONFIG_MAX_PARTNERS, sizeof(*im.partners));
	if (im.partners == NULL) {
		snprintf(err, errlen, "%s: (top level): out of memory", partners->name);
		goto fail;
	}
	im.file = partners->name;
	if ((proot = sfb_parse(&im, partners)) == NULL || sfb_partners(&im, proot) < 0)
		goto fail;
	if (gateway != NULL && gateway->name != NULL) {
		im.file = gateway->name;
		if ((groot = sfb_parse(&im, gateway)) == NULL || sfb_gateway(&im, groot) < 0)
			goto fail;
	} else {
		sfb_report(&im, "import sfb: no gateway file: policy.default.keepalive_s is Lync's default"
		    " KeepAliveInterval (300 s); limits are left as they are\n");
	}
	if (secret_file != NULL && !secret->present) {
		snprintf(err, errlen, "%s: DialbackPassphrase: --secret-out given, but there is no passphrase to write",
		    gateway != NULL && gateway->name != NULL ? gateway->name : "(no --gateway)");
		goto fail;
	}
	/* The file dialback.secret_file names must hold 32 bytes or more
	 * (config_files.c); a shorter passphrase would make a configuration
	 * `check` refuses. */
	if (secret_file != NULL && secret->len < 32) {
		snprintf(err, errlen, "%s: DialbackPassphrase: %zu bytes; dialback.secret_file needs at least 32"
		    " (XEP-0185 keys are only as strong as the secret): leave out --secret-out and let xmpp-edge"
		    " create one", gateway->name, secret->len);
		goto fail;
	}
	sfb_report(&im, "  policy.default: allow false (Lync federates with its allowed partners only)\n");
	/* The loader judges the result as `check` will. */
	check_text = sfb_generate(&im, secret_file, 1, &check_len);
	frag = sfb_generate(&im, secret_file, 0, &frag_len);
	if (check_text == NULL || frag == NULL) {
		snprintf(err, errlen, "%s: (top level): out of memory", partners->name);
		goto fail;
	}
	cfg = config_parse("imported policy", check_text, check_len, 0, cerr, sizeof(cerr));
	if (cfg == NULL) {
		snprintf(err, errlen, "%s", cerr);
		goto fail;
	}
	for (i = 0; i < cfg->warning_count; i++)
		sfb_report(&im, "warning: %s\n", cfg->warnings[i]);
	if (cfg->warnings_dropped > 0)
		sfb_report(&im, "warning: imported policy: %zu more warnings not shown\n", cfg->warnings_dropped);
	*out = frag;
	*out_len = frag_len;
	frag = NULL;
	rc = 0;
fail:
	if (rc < 0)
		import_sfb_secret_wipe(secret);
	config_free(cfg);
	free(check_text);
	free(frag);
	if (proot != NULL)
		yajl_tree_free(proot);
	if (groot != NULL)
		yajl_tree_free(groot);
	free(im.partners);
	return rc;
}

void
import_sfb_secret_wipe(struct import_sfb_secret *secret)
{
	explicit_bzero(secret, sizeof(*secret));
}

/* ---- command line ---------------------------------------------------------- */

/* Reads a whole file, bounded; the caller wipes and frees *buf. */
static int
sfb_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: (file): cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: (file): not a regular file", path);
		goto fail;
	}
	if (st.st_size > IMPORT_SFB_FILE_MAX_BYTES) {
		snprintf(err, errlen, "%s: (file): larger than %d bytes", path, IMPORT_SFB_FILE_MAX_BYTES);
		goto fail;
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: (file): out of memory", path);
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: (file): read error: %s", path,
			    n < 0 ? strerror(errno) : "file shrank while reading");
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
fail:
	free(*buf);
	*buf = NULL;
	close(fd);
	return -1;
}

/* Writes the passphrase to a new file only its owner can read; an
 * existing file is never overwritten (it may be someone's secret). */
static int
sfb_write_secret(const char *path, const struct import_sfb_secret *s, char *err, size_t errlen)
{
	size_t done = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: (file): cannot create: %s%s", path, strerror(errno),
		    errno == EEXIST ? " (refusing to overwrite it)" : "");
		return -1;
	}
	while (done < s->len) {
		ssize_t n = write(fd, s->value + done, s->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: (file): write error: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		done += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		snprintf(err, errlen, "%s: (file): write error: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static void
sfb_usage(FILE *out)
{
	fprintf(out, "usage: xmpp-edge import sfb --partners PARTNERS.json [--gateway GATEWAY.json]\n"
	    "                            [-o OUT.json] [--secret-out FILE]\n");
}

int
import_sfb_cli(int argc, char **argv)
{
	const char *partners_path = NULL, *gateway_path = NULL, *out_path = NULL, *secret_out = NULL;
	char err[CONFIG_ERR_MAX], abs_secret[CONFIG_PATH_MAX];
	struct import_sfb_input pin = { 0 }, gin = { 0 };
	struct import_sfb_secret *secret = NULL;
	char *pbuf = NULL, *gbuf = NULL, *frag = NULL;
	size_t frag_len = 0;
	int i, rc = 1, secret_written = 0;

	if (argc < 1 || strcmp(argv[0], "sfb") != 0) {
		fprintf(stderr, "xmpp-edge import: what to import from? (import sfb ...)\n");
		sfb_usage(stderr);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		const char **slot;

		if (strcmp(argv[i], "--partners") == 0)
			slot = &partners_path;
		else if (strcmp(argv[i], "--gateway") == 0)
			slot = &gateway_path;
		else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)
			slot = &out_path;
		else if (strcmp(argv[i], "--secret-out") == 0)
			slot = &secret_out;
		else {
			fprintf(stderr, "xmpp-edge import sfb: unexpected argument '%s'\n", argv[i]);
			sfb_usage(stderr);
			return 2;
		}
		if (i + 1 >= argc || argv[i + 1][0] == '\0' || *slot != NULL) {
			fprintf(stderr, "xmpp-edge import sfb: %s needs one value\n", argv[i]);
			return 2;
		}
		*slot = argv[++i];
	}
	if (partners_path == NULL) {
		fprintf(stderr, "xmpp-edge import sfb: --partners is required\n");
		sfb_usage(stderr);
		return 2;
	}
	if (secret_out != NULL && gateway_path == NULL) {
		fprintf(stderr, "xmpp-edge import sfb: --secret-out needs --gateway (the passphrase is there)\n");
		return 2;
	}
	/* The configuration resolves relative paths against its own
	 * directory, not ours: name the secret absolutely. */
	if (secret_out != NULL) {
		char cwd[CONFIG_PATH_MAX];
		int n;

		if (secret_out[0] == '/')
			n = snprintf(abs_secret, sizeof(abs_secret), "%s", secret_out);
		else if (getcwd(cwd, sizeof(cwd)) != NULL)
			n = snprintf(abs_secret, sizeof(abs_secret), "%s/%s", cwd, secret_out);
		else
			n = -1;
		if (n < 0 || (size_t)n >= sizeof(abs_secret)) {
			fprintf(stderr, "%s: (file): path too long (or the working directory unknown)\n", secret_out);
			return 1;
		}
	}
	secret = malloc(sizeof(*secret));
	if (secret == NULL) {
		fprintf(stderr, "xmpp-edge import sfb: out of memory\n");
		return 1;
	}
	if (sfb_read_file(partners_path, &pbuf, &pin.len, err, sizeof(err)) < 0)
		goto done;
	pin.name = partners_path;
	pin.text = pbuf;
	if (gateway_path != NULL) {
		if (sfb_read_file(gateway_path, &gbuf, &gin.len, err, sizeof(err)) < 0)
			goto done;
		gin.name = gateway_path;
		gin.text = gbuf;
	}
	if (import_sfb_convert(&pin, &gin, secret_out ? abs_secret : NULL, stderr, &frag, &frag_len,
	    secret, err, sizeof(err)) < 0)
		goto done;
	if (secret_out != NULL) {
		if (sfb_write_secret(abs_secret, secret, err, sizeof(err)) < 0)
			goto done;
		secret_written = 1;
		fprintf(stderr, "import sfb: DialbackPassphrase written to %s (mode 0600) -> dialback.secret_file\n",
		    abs_secret);
	}
	if (out_path != NULL) {
		FILE *f = fopen(out_path, "w");

		if (f == NULL) {
			snprintf(err, sizeof(err), "%s: (file): cannot create: %s", out_path, strerror(errno));
			goto done;
		}
		if (fwrite(frag, 1, frag_len, f) != frag_len || fputc('\n', f) == EOF || fclose(f) != 0) {
			snprintf(err, sizeof(err), "%s: (file): write error: %s", out_path, strerror(errno));
			goto done;
		}
		fprintf(stderr, "import sfb: wrote %s; merge it into your configuration"
		    " (e.g. jq -s '.[0] * .[1]' edge.json %s) and run xmpp-edge check\n", out_path, out_path);
	} else if (fwrite(frag, 1, frag_len, stdout) != frag_len || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0) {
		snprintf(err, sizeof(err), "(stdout): write error: %s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		if (secret_written)
			unlink(abs_secret);
	}
	if (secret != NULL) {
		import_sfb_secret_wipe(secret);
		free(secret);
	}
	if (gbuf != NULL) {
		explicit_bzero(gbuf, gin.len);
		free(gbuf);
	}
	free(pbuf);
	free(frag);
	return rc;
}
