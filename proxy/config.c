/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - loads and validates the JSON configuration (see config.h).
 *
 * Three passes, all driven by config_schema_root:
 *   1. defaults: every key with a default is set;
 *   2. the JSON tree (yajl_tree) is walked against the schema: unknown or
 *      duplicate keys, wrong types, out-of-range values and malformed
 *      names, addresses and pins are refused with "SOURCE: key.path: why";
 *   3. cross-key checks (default_domain among domains, the policy entries'
 *      domains, Lync's negotiation matrix per entry, ...), which may also
 *      leave warnings in cfg->warnings, and, for `check` and `run`, the
 *      files named: certificates and keys parse and match, secret files
 *      are private.
 * The JSON text is untrusted (it may come from a mounted volume): its size
 * is bounded, NUL bytes are refused, and nothing is sized from its numbers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "config_files.h"
#include "config_schema.h"
#include "domain.h"
#include "netaddr.h"
#include "policy.h"
#include "tls.h"

#define CONFIG_KEYPATH_MAX 512

struct cfg_ctx {
	const char *source;
	char basedir[CONFIG_PATH_MAX];	/* for relative paths; "" for none */
	char *err;
	size_t errlen;
};

static int
cfg_fail(struct cfg_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cfg_fail(struct cfg_ctx *c, const char *path, const char *fmt, ...)
{
	char reason[CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s: %s", c->source,
	    path[0] ? path : "(top level)", reason);
	return -1;
}

/* Key paths are for messages: a path longer than the buffer (only a
 * hostile file has one) is cut, which is harmless. */
static void
path_join(char *out, size_t cap, const char *parent, const char *name)
{
	int n;

	if (parent[0] == '\0')
		n = snprintf(out, cap, "%s", name);
	else
		n = snprintf(out, cap, "%s.%s", parent, name);
	if (n < 0 || (size_t)n >= cap)
		out[cap - 1] = '\0';
}

const char *
config_json_type_name(yajl_val v)
{
	if (YAJL_IS_STRING(v)) return "a string";
	if (YAJL_IS_INTEGER(v)) return "an integer";
	if (YAJL_IS_NUMBER(v)) return "a number";
	if (YAJL_IS_OBJECT(v)) return "an object";
	if (YAJL_IS_ARRAY(v)) return "an array";
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) return "a boolean";
	if (YAJL_IS_NULL(v)) return "null";
	return "something else";
}

static const char *
cfg_type_name(const struct cfg_key *k)
{
	switch (k->type) {
	case CFG_OBJECT: case CFG_OBJECT_MAP: return "an object";
	case CFG_LIST: case CFG_OBJECT_LIST: return "an array";
	case CFG_INT: return "an integer";
	case CFG_BOOL: return "a boolean";
	default: return "a string";
	}
}

/* Sets a scalar field from text (a default or a JSON string). */
static int
cfg_set_text(struct cfg_ctx *c, const struct cfg_key *k, void *field,
    const char *text, const char *path)
{
	char why[256];
	size_t len = strlen(text);

	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
		if (len >= k->size)
			return cfg_fail(c, path, "longer than %zu bytes", k->size - 1);
		if (memchr(text, '\0', len) != NULL)
			return cfg_fail(c, path, "contains a NUL byte");
		if (k->type == CFG_PATH && text[0] != '/' && text[0] != '\0' &&
		    c->basedir[0] != '\0') {
			int n = snprintf(field, k->size, "%s/%s", c->basedir, text);
			if (n < 0 || (size_t)n >= k->size)
				return cfg_fail(c, path, "path longer than %zu bytes", k->size - 1);
			return 0;
		}
		memcpy(field, text, len + 1);
		return 0;
	case CFG_DOMAIN:
		/* Empty means "none" for a key that has a default; a list
		 * element (no default) must name a domain. */
		if (len == 0 && k->def != NULL) {
			*(char *)field = '\0';
			return 0;
		}
		if (domain_canonicalize(text, len, field, k->size, why, sizeof(why)) < 0)
			return cfg_fail(c, path, "'%s' is not a valid domain: %s", text, why);
		return 0;
	case CFG_ADDR: {
		struct sockaddr_storage ss;
		/* An address whose default is empty (policy.*.connect) may be
		 * set empty: no static target. */
		if (len == 0 && k->def != NULL && k->def[0] == '\0') {
			*(char *)field = '\0';
			return 0;
		}
		if (netaddr_parse(text, &ss, why, sizeof(why)) < 0)
			return cfg_fail(c, path, "'%s': %s", text, why);
		if (len >= k->size)
			return cfg_fail(c, path, "longer than %zu bytes", k->size - 1);
		memcpy(field, text, len + 1);
		return 0;
	}
	case CFG_PIN: {
		uint8_t digest[TLS_PIN_LEN];
		if (tls_pin_parse(text, digest, why, sizeof(why)) < 0)
			return cfg_fail(c, path, "'%s' is not a base64 SHA-256 SPKI pin (44 characters)", text);
		memcpy(field, text, len + 1);
		return 0;
	}
	case CFG_INT: {
		char *end;
		long v;
		errno = 0;
		v = strtol(text, &end, 10);
		if (errno || *end || end == text)
			return cfg_fail(c, path, "not an integer");
		if (v < k->min || v > k->max)
			return cfg_fail(c, path, "must be between %ld and %ld (got %ld)", k->min, k->max, v);
		*(int *)field = (int)v;
		return 0;
	}
	case CFG_BOOL:
		*(int *)field = strcmp(text, "true") == 0;
		return 0;
	case CFG_ENUM: {
		size_t i;
		char known[256] = "";
		for (i = 0; k->enum_names[i]; i++)
			if (strcmp(text, k->enum_names[i]) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		for (i = 0; k->enum_names[i]; i++) {
			strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
			strncat(known, k->enum_names[i], sizeof(known) - strlen(known) - 1);
		}
		return cfg_fail(c, path, "'%s' is not one of: %s", text, known);
	}
	default:
		return cfg_fail(c, path, "internal: not a scalar");
	}
}

static void cfg_apply_defaults(const struct cfg_key *keys, void *base);

/* Defaults of one key; lists take comma-separated defaults. */
static void
cfg_apply_default(const struct cfg_key *k, void *base)
{
	struct cfg_ctx quiet = { .source = "", .err = (char[256]){0}, .errlen = 256 };
	char *field = (char *)base + k->offset;

	if (k->type == CFG_OBJECT) {
		cfg_apply_defaults(k->children, field);
		return;
	}
	if (k->def == NULL)
		return;
	if (k->type == CFG_LIST) {
		char tmp[256];
		char *save = NULL, *tok;
		size_t *count = (size_t *)((char *)base + k->count_offset);

		snprintf(tmp, sizeof(tmp), "%s", k->def);
		*count = 0;
		for (tok = strtok_r(tmp, ",", &save); tok && *count < k->max_items;
		    tok = strtok_r(NULL, ",", &save)) {
			if (cfg_set_text(&quiet, &k->children[0], field + *count * k->size, tok, k->name) == 0)
				(*count)++;
		}
		return;
	}
	if (k->type == CFG_OBJECT_LIST || k->type == CFG_OBJECT_MAP)
		return;
	/* The schema's own defaults are valid; a failure here is a schema bug
	 * that the unit tests catch. */
	(void)cfg_set_text(&quiet, k, field, k->def, k->name);
}

static void
cfg_apply_defaults(const struct cfg_key *keys, void *base)
{
	const struct cfg_key *k;

	for (k = keys; k->name; k++)
		cfg_apply_default(k, base);
}

static int cfg_walk_object(struct cfg_ctx *c, const struct cfg_key *keys,
    yajl_val obj, void *base, const char *path);

static int
cfg_walk_scalar(struct cfg_ctx *c, const struct cfg_key *k, yajl_val v,
    void *field, const char *path)
{
	switch (k->type) {
	case CFG_INT:
		if (!YAJL_IS_INTEGER(v)) {
			/* yajl keeps the text of every number: one without
			 * fraction or exponent is an integer that overflowed. */
			if (YAJL_IS_NUMBER(v) && strpbrk(v->u.number.r, ".eE") == NULL)
				return cfg_fail(c, path, "integer out of range");
			return cfg_fail(c, path, "expected an integer, got %s", config_json_type_name(v));
		}
		if (YAJL_GET_INTEGER(v) < k->min || YAJL_GET_INTEGER(v) > k->max)
			return cfg_fail(c, path, "must be between %ld and %ld (got %lld)",
			    k->min, k->max, YAJL_GET_INTEGER(v));
		*(int *)field = (int)YAJL_GET_INTEGER(v);
		return 0;
	case CFG_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			return cfg_fail(c, path, "expected a boolean, got %s", config_json_type_name(v));
		*(int *)field = YAJL_IS_TRUE(v);
		return 0;
	default:
		if (!YAJL_IS_STRING(v))
			return cfg_fail(c, path, "expected %s, got %s", cfg_type_name(k), config_json_type_name(v));
		return cfg_set_text(c, k, field, YAJL_GET_STRING(v), path);
	}
}

static int
cfg_walk_value(struct cfg_ctx *c, const struct cfg_key *k, yajl_val v,
    void *base, const char *path)
{
	char *field = (char *)base + k->offset;
	char sub[CONFIG_KEYPATH_MAX];
	size_t i, *count;

	switch (k->type) {
	case CFG_OBJECT:
		if (!YAJL_IS_OBJECT(v))
			return cfg_fail(c, path, "expected an object, got %s", config_json_type_name(v));
		if (k->present_offset)
			*(int *)((char *)base + k->present_offset) = 1;
		return cfg_walk_object(c, k->children, v, field, path);
	case CFG_LIST:
	case CFG_OBJECT_LIST:
		if (!YAJL_IS_ARRAY(v))
			return cfg_fail(c, path, "expected an array, got %s", config_json_type_name(v));
		if (v->u.array.len > k->max_items)
			return cfg_fail(c, path, "at most %zu entries allowed (got %zu)",
			    k->max_items, v->u.array.len);
		count = (size_t *)((char *)base + k->count_offset);
		*count = 0;
		for (i = 0; i < v->u.array.len; i++) {
			char *elem = field + i * k->size;
			if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >= (int)sizeof(sub))
				return cfg_fail(c, path, "nested too deeply");
			if (k->type == CFG_LIST) {
				if (cfg_walk_scalar(c, &k->children[0], v->u.array.values[i], elem, sub) < 0)
					return -1;
			} else {
				if (!YAJL_IS_OBJECT(v->u.array.values[i]))
					return cfg_fail(c, sub, "expected an object, got %s",
					    config_json_type_name(v->u.array.values[i]));
				memset(elem, 0, k->size);
				cfg_apply_defaults(k->children, elem);
				if (cfg_walk_object(c, k->children, v->u.array.values[i], elem, sub) < 0)
					return -1;
			}
			(*count)++;
		}
		return 0;
	case CFG_OBJECT_MAP: {
		char why[256];
		if (!YAJL_IS_OBJECT(v))
			return cfg_fail(c, path, "expected an object, got %s", config_json_type_name(v));
		if (v->u.object.len > k->max_items)
			return cfg_fail(c, path, "at most %zu entries allowed (got %zu)",
			    k->max_items, v->u.object.len);
		count = (size_t *)((char *)base + k->count_offset);
		*count = 0;
		for (i = 0; i < v->u.object.len; i++) {
			const char *name = v->u.object.keys[i];
			char *elem = field + i * k->size;
			size_t j;

			path_join(sub, sizeof(sub), path, name);
			if (!YAJL_IS_OBJECT(v->u.object.values[i]))
				return cfg_fail(c, sub, "expected an object, got %s",
				    config_json_type_name(v->u.object.values[i]));
			/* The element starts as a copy of the template (the
			 * policy default), then its own keys override. */
			memcpy(elem, (char *)base + k->template_offset, k->size);
			/* By convention the name is the element's first field. */
			if (domain_canonicalize(name, strlen(name), elem, CONFIG_DOMAIN_MAX,
			    why, sizeof(why)) < 0)
				return cfg_fail(c, sub, "'%s' is not a valid domain: %s", name, why);
			for (j = 0; j < i; j++)
				if (strcmp(field + j * k->size, elem) == 0)
					return cfg_fail(c, sub, "domain listed twice");
			if (cfg_walk_object(c, k->children, v->u.object.values[i], elem, sub) < 0)
				return -1;
			(*count)++;
		}
		return 0;
	}
	default:
		return cfg_walk_scalar(c, k, v, field, path);
	}
}

/*
 * Walks one JSON object: first every JSON key is checked (duplicates,
 * unknown keys), then the schema's keys are applied in schema order, so a
 * key that others build on (policy.default before policy.partners) is
 * always applied first whatever order the file uses.
 */
static int
cfg_walk_object(struct cfg_ctx *c, const struct cfg_key *keys, yajl_val obj,
    void *base, const char *path)
{
	char sub[CONFIG_KEYPATH_MAX];
	const struct cfg_key *k;
	size_t i, j;

	for (i = 0; i < obj->u.object.len; i++) {
		const char *name = obj->u.object.keys[i];

		path_join(sub, sizeof(sub), path, name);
		for (j = 0; j < i; j++)
			if (strcmp(obj->u.object.keys[j], name) == 0)
				return cfg_fail(c, sub, "duplicate key");
		for (k = keys; k->name; k++)
			if (strcmp(k->name, name) == 0)
				break;
		if (k->name == NULL) {
			/* Every key of the object, for the message: limits
			 * has some 30 (the schema's biggest object). */
			char known[1024] = "";
			for (k = keys; k->name; k++) {
				strncat(known, k == keys ? "" : ", ", sizeof(known) - strlen(known) - 1);
				strncat(known, k->name, sizeof(known) - strlen(known) - 1);
			}
			return cfg_fail(c, sub, "unknown key (known keys here: %s)", known);
		}
	}
	for (k = keys; k->name; k++) {
		path_join(sub, sizeof(sub), path, k->name);
		for (i = 0; i < obj->u.object.len; i++)
			if (strcmp(obj->u.object.keys[i], k->name) == 0)
				break;
		if (i == obj->u.object.len) {
			if (k->flags & CFG_REQUIRED)
				return cfg_fail(c, sub, "required key missing");
			continue;
		}
		if (cfg_walk_value(c, k, obj->u.object.values[i], base, sub) < 0)
			return -1;
	}
	return 0;
}

static int
cfg_warn(struct cfg_ctx *c, struct config *cfg, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records a warning "SOURCE: key.path: text" (see struct config).  A text
 * that does not fit is refused like an error rather than cut: with the
 * bounds of CONFIG_WARNING_MAX that cannot happen. */
static int
cfg_warn(struct cfg_ctx *c, struct config *cfg, const char *path, const char *fmt, ...)
{
	char text[CONFIG_WARNING_MAX / 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		return cfg_fail(c, path, "internal: warning text too long");
	if (cfg->warning_count == CONFIG_MAX_WARNINGS) {
		cfg->warnings_dropped++;
		return 0;
	}
	n = snprintf(cfg->warnings[cfg->warning_count], CONFIG_WARNING_MAX, "%s: %s: %s",
	    c->source, path, text);
	if (n < 0 || (size_t)n >= CONFIG_WARNING_MAX)
		return cfg_fail(c, path, "internal: warning longer than %d bytes", CONFIG_WARNING_MAX - 1);
	cfg->warning_count++;
	return 0;
}

/* path = entry "." key; key paths are bounded (CONFIG_KEYPATH_MAX holds
 * "policy.partners." + a 253-byte domain + ".additional_domains[7]"). */
static const char *
cfg_entry_key(char *out, size_t cap, const char *entry, const char *key)
{
	path_join(out, cap, entry, key);
	return out;
}

/*
 * One policy entry against the negotiation matrix of Lync Server 2013
 * ("Negotiation settings for XMPP federated partners", TechNet 2012):
 * SASL cannot run without TLS; with SASL and TLS both required dialback is
 * never reached; with neither SASL nor dialback nothing authenticates the
 * peer.  Lync only warns about the impossible combinations; here the ones
 * that leave a partner no way to authenticate are errors, the ones that
 * merely weaken or waste a setting are warnings.  Denied entries
 * (allow false) are checked for contradictions but not warned about.
 */
static int
cfg_check_partner(struct cfg_ctx *c, struct config *cfg, const struct config_partner *p,
    const char *entry, int is_default)
{
	char path[CONFIG_KEYPATH_MAX];

	if (p->sasl_external == POLICY_SASL_REQUIRED && p->tls == POLICY_TLS_DISABLED)
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "sasl_external"),
		    "\"required\" needs TLS (SASL EXTERNAL authenticates the TLS certificate), but tls is \"disabled\"");
	if (p->require_valid_certificate && p->tls == POLICY_TLS_DISABLED)
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "require_valid_certificate"),
		    "needs TLS (the certificate is presented in the TLS handshake), but tls is \"disabled\"");
	if (p->dane == POLICY_DANE_REQUIRED && p->connect[0] != '\0')
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "dane"),
		    "\"required\" needs DNS discovery (TLSA records of the SRV targets), but `connect` is set");
	if (p->dane == POLICY_DANE_REQUIRED && p->tls == POLICY_TLS_DISABLED)
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "dane"),
		    "\"required\" while tls is \"disabled\": DANE authenticates TLS certificates");
	if (p->sasl_external == POLICY_SASL_DISABLED && !p->dialback)
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "dialback"),
		    "false while sasl_external is \"disabled\": no authentication method left");
	if (p->connect_direct_tls && p->connect[0] == '\0')
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "connect_direct_tls"),
		    "true without connect (targets found through DNS say themselves whether they speak Direct TLS, XEP-0368)");
	if (p->connect_direct_tls && p->tls == POLICY_TLS_DISABLED)
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "connect_direct_tls"),
		    "Direct TLS is TLS, but tls is \"disabled\"");
	if (p->idle_timeout_s > 0 && p->idle_timeout_s < 10)
		return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "idle_timeout_s"),
		    "must be 0 (limits.idle_timeout_s) or at least 10 (got %d)", p->idle_timeout_s);
	if (!p->allow)
		return 0;
	if (p->dialback && !cfg->dialback.enabled) {
		if (p->sasl_external == POLICY_SASL_DISABLED)
			return cfg_fail(c, cfg_entry_key(path, sizeof(path), entry, "dialback"),
			    "true, but dialback.enabled is false and sasl_external is \"disabled\": no authentication method left");
		if (cfg_warn(c, cfg, cfg_entry_key(path, sizeof(path), entry, "dialback"),
		    "true, but dialback.enabled is false: dialback is off globally, only SASL EXTERNAL can authenticate") < 0)
			return -1;
	}
	if (p->sasl_external == POLICY_SASL_REQUIRED && p->tls == POLICY_TLS_REQUIRED && p->dialback &&
	    cfg_warn(c, cfg, cfg_entry_key(path, sizeof(path), entry, "dialback"),
	    "dialback is never used: SASL and TLS both required leave no dialback fallback") < 0)
		return -1;
	if (p->sasl_external == POLICY_SASL_REQUIRED && p->tls == POLICY_TLS_OPTIONAL &&
	    cfg_warn(c, cfg, cfg_entry_key(path, sizeof(path), entry, "sasl_external"),
	    "\"required\" with tls \"optional\": a peer that does not negotiate TLS cannot authenticate") < 0)
		return -1;
	if (p->tls == POLICY_TLS_OPTIONAL &&
	    cfg_warn(c, cfg, cfg_entry_key(path, sizeof(path), entry, "tls"),
	    "\"optional\": streams may be plaintext (RFC 7590 asks for TLS)") < 0)
		return -1;
	if (p->tls == POLICY_TLS_DISABLED &&
	    cfg_warn(c, cfg, cfg_entry_key(path, sizeof(path), entry, "tls"),
	    "\"disabled\": streams are plaintext, readable and alterable on the way (RFC 7590 asks for TLS)") < 0)
		return -1;
	if (is_default && p->connect[0] != '\0' &&
	    cfg_warn(c, cfg, cfg_entry_key(path, sizeof(path), entry, "connect"),
	    "set on the default entry: every domain without an entry of its own is sent to %s", p->connect) < 0)
		return -1;
	return 0;
}

/*
 * The domains of the policy entries: every remote domain matches at most
 * one entry (its domain or one of its additional_domains), and none is
 * one of ours.
 */
static int
cfg_check_partner_domains(struct cfg_ctx *c, struct config *cfg)
{
	const struct config_policy *pol = &cfg->policy;
	char path[CONFIG_KEYPATH_MAX], entry[CONFIG_KEYPATH_MAX];
	size_t i, j, k, m;

	for (i = 0; i < pol->partner_count; i++) {
		const struct config_partner *p = &pol->partners[i];

		path_join(entry, sizeof(entry), "policy.partners", p->domain);
		for (k = 0; k < cfg->domain_count; k++)
			if (strcmp(cfg->domains[k].name, p->domain) == 0)
				return cfg_fail(c, entry, "'%s' is one of our own domains (domains[%zu].name), not a partner",
				    p->domain, k);
		for (j = 0; j < p->additional_domain_count; j++) {
			const char *d = p->additional_domains[j];

			if (snprintf(path, sizeof(path), "%s.additional_domains[%zu]", entry, j) >= (int)sizeof(path))
				return cfg_fail(c, entry, "key path too long");
			for (k = 0; k < cfg->domain_count; k++)
				if (strcmp(cfg->domains[k].name, d) == 0)
					return cfg_fail(c, path, "'%s' is one of our own domains (domains[%zu].name), not a partner",
					    d, k);
			if (strcmp(d, p->domain) == 0)
				return cfg_fail(c, path, "'%s' is the entry's own domain", d);
			for (k = 0; k < j; k++)
				if (strcmp(p->additional_domains[k], d) == 0)
					return cfg_fail(c, path, "'%s' is listed twice", d);
			for (k = 0; k < pol->partner_count; k++) {
				if (k != i && strcmp(pol->partners[k].domain, d) == 0)
					return cfg_fail(c, path, "'%s' has an entry of its own (policy.partners.%s)", d, d);
				for (m = 0; k < i && m < pol->partners[k].additional_domain_count; m++)
					if (strcmp(pol->partners[k].additional_domains[m], d) == 0)
						return cfg_fail(c, path, "'%s' is already an additional domain of policy.partners.%s",
						    d, pol->partners[k].domain);
			}
		}
	}
	return 0;
}

static int
cfg_check_policy(struct cfg_ctx *c, struct config *cfg)
{
	char entry[CONFIG_KEYPATH_MAX];
	size_t i;

	if (cfg_check_partner_domains(c, cfg) < 0)
		return -1;
	if (cfg_check_partner(c, cfg, &cfg->policy.defaults, "policy.default", 1) < 0)
		return -1;
	for (i = 0; i < cfg->policy.partner_count; i++) {
		path_join(entry, sizeof(entry), "policy.partners", cfg->policy.partners[i].domain);
		if (cfg_check_partner(c, cfg, &cfg->policy.partners[i], entry, 0) < 0)
			return -1;
	}
	return 0;
}

/* 1 if addr (already parsed by the schema) is 127.0.0.0/8 or ::1. */
static int
cfg_addr_is_loopback(const char *addr)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	struct sockaddr_storage ss;
	char why[128];

	if (netaddr_parse(addr, &ss, why, sizeof(why)) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	return ss.ss_family == AF_INET6 &&
	    memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, v6_loopback, 16) == 0;
}

/* Cross-key rules that no single row of the schema can say. */
static int
cfg_check_semantics(struct cfg_ctx *c, struct config *cfg)
{
	char path[CONFIG_KEYPATH_MAX];
	size_t i, j;

	if (cfg->domain_count == 0)
		return cfg_fail(c, "domains", "at least one domain is required");
	for (i = 0; i < cfg->domain_count; i++)
		for (j = 0; j < i; j++)
			if (strcmp(cfg->domains[i].name, cfg->domains[j].name) == 0) {
				snprintf(path, sizeof(path), "domains[%zu].name", i);
				return cfg_fail(c, path, "'%s' is already listed as domains[%zu]",
				    cfg->domains[i].name, j);
			}
	if (cfg->default_domain[0] == '\0') {
		memcpy(cfg->default_domain, cfg->domains[0].name, sizeof(cfg->default_domain));
	} else {
		for (i = 0; i < cfg->domain_count; i++)
			if (strcmp(cfg->domains[i].name, cfg->default_domain) == 0)
				break;
		if (i == cfg->domain_count)
			return cfg_fail(c, "default_domain", "'%s' is not one of domains[].name",
			    cfg->default_domain);
	}
	if (cfg->listen.starttls_count + cfg->listen.direct_tls_count == 0)
		return cfg_fail(c, "listen", "no external listener (starttls or direct_tls)");
	if (cfg->gateway.enabled && cfg->gateway.pin_count == 0)
		return cfg_fail(c, "gateway.pins", "at least one pin is required");
	if (cfg->listen.internal_count + cfg->listen.internal_starttls_count > 0 && !cfg->gateway.enabled)
		return cfg_fail(c, "listen.internal", "needs a gateway section (its pins authenticate the gateway)");
	if (cfg->listen.admin_count > 0 && !cfg->admin.enabled)
		return cfg_fail(c, "listen.admin", "needs an admin section (its pins say who may administer)");
	if (cfg->gateway.enabled && !cfg->dialback.enabled)
		return cfg_fail(c, "dialback.enabled", "must be true with a gateway: xmpp-edge authenticates "
		    "remote domains to the gateway by dialback (XEP-0220), which the gateway checks with it");
	if (cfg->dns.cache_min_ttl_s > cfg->dns.cache_max_ttl_s)
		return cfg_fail(c, "dns.cache_min_ttl_s", "larger than dns.cache_max_ttl_s (%d)",
		    cfg->dns.cache_max_ttl_s);
	for (i = 0; i < cfg->dns.nallow_private_targets; i++) {
		struct dns_prefix pfx;
		char why[128];

		if (dns_prefix_parse(cfg->dns.allow_private_targets[i], &pfx, why, sizeof(why)) < 0) {
			snprintf(path, sizeof(path), "dns.allow_private_targets[%zu]", i);
			return cfg_fail(c, path, "'%s': %s", cfg->dns.allow_private_targets[i], why);
		}
	}
	if (cfg->limits.stanza_size_preauth > cfg->limits.stanza_size)
		return cfg_fail(c, "limits.stanza_size_preauth", "larger than limits.stanza_size (%d)",
		    cfg->limits.stanza_size);
	/* A reserve as large as the pool would leave remote servers no
	 * stream at all. */
	if (cfg->listen.internal_count + cfg->listen.internal_starttls_count > 0 &&
	    cfg->limits.internal_reserved_streams >= cfg->limits.max_streams)
		return cfg_fail(c, "limits.internal_reserved_streams", "must be below limits.max_streams (%d): "
		    "the rest is for remote servers", cfg->limits.max_streams);
	if (cfg->state_dir[0] != '/')
		return cfg_fail(c, "state_dir", "must be an absolute path");
	if (cfg->user[0] == '\0')
		return cfg_fail(c, "user", "must not be empty");
	if (cfg->metrics.listen[0] != '\0' && !cfg_addr_is_loopback(cfg->metrics.listen))
		return cfg_fail(c, "metrics.listen", "'%s' is not a loopback address (127.0.0.0/8 or [::1]): "
		    "the endpoint has no authentication; scrape it through a local agent or an SSH tunnel",
		    cfg->metrics.listen);
	return cfg_check_policy(c, cfg);
}

/* Reports where yajl found a syntax error, as line and column. */
static void
cfg_syntax_error(struct cfg_ctx *c, const char *json, size_t len)
{
	yajl_handle h;
	size_t at, i, line = 1, col = 1;
	unsigned char *msg;
	char *nl;

	h = yajl_alloc(NULL, NULL, NULL);
	if (h == NULL) {
		cfg_fail(c, "", "out of memory");
		return;
	}
	yajl_config(h, yajl_allow_comments, 1);
	if (yajl_parse(h, (const unsigned char *)json, len) != yajl_status_ok) {
		/* The offending byte is the last one consumed. */
		at = yajl_get_bytes_consumed(h);
		at = at > len ? len : at > 0 ? at - 1 : 0;
	} else if (yajl_complete_parse(h) != yajl_status_ok) {
		at = len;	/* the text ended too early */
	} else {
		cfg_fail(c, "", "invalid JSON");
		yajl_free(h);
		return;
	}
	for (i = 0; i < at; i++) {
		if (json[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	msg = yajl_get_error(h, 0, (const unsigned char *)json, len);
	if (msg != NULL && (nl = strchr((char *)msg, '\n')) != NULL)
		*nl = '\0';
	snprintf(c->err, c->errlen, "%s: line %zu, column %zu: invalid JSON: %s",
	    c->source, line, col, msg ? (char *)msg : "syntax error");
	if (msg)
		yajl_free_error(h, msg);
	yajl_free(h);
}

struct config *
config_parse(const char *source, const char *json, size_t len, int check_files,
    char *err, size_t errlen)
{
	struct cfg_ctx c = { .source = source, .err = err, .errlen = errlen };
	struct config *cfg = NULL;
	yajl_val root = NULL;
	char *text = NULL;
	const char *slash;

	if (len > CONFIG_FILE_MAX_BYTES) {
		cfg_fail(&c, "", "larger than %d bytes", CONFIG_FILE_MAX_BYTES);
		goto fail;
	}
	if (memchr(json, '\0', len) != NULL) {
		cfg_fail(&c, "", "contains a NUL byte");
		goto fail;
	}
	/* yajl_tree_parse wants a NUL-terminated copy. */
	text = malloc(len + 1);
	cfg = calloc(1, sizeof(*cfg));
	if (text == NULL || cfg == NULL) {
		cfg_fail(&c, "", "out of memory");
		goto fail;
	}
	memcpy(text, json, len);
	text[len] = '\0';
	root = yajl_tree_parse(text, NULL, 0);
	if (root == NULL) {
		cfg_syntax_error(&c, json, len);
		goto fail;
	}
	if (!YAJL_IS_OBJECT(root)) {
		cfg_fail(&c, "", "the configuration must be a JSON object, got %s", config_json_type_name(root));
		goto fail;
	}
	snprintf(cfg->source, sizeof(cfg->source), "%s", source);
	/* Relative paths are relative to the configuration file's directory. */
	slash = strrchr(source, '/');
	if (source[0] != '(' && slash != NULL && (size_t)(slash - source) < sizeof(c.basedir))
		snprintf(c.basedir, sizeof(c.basedir), "%.*s", (int)(slash - source), source);
	else if (source[0] != '(' && slash == NULL)
		snprintf(c.basedir, sizeof(c.basedir), ".");
	if (c.basedir[0] == '\0' && slash == source)
		snprintf(c.basedir, sizeof(c.basedir), "/");
	cfg_apply_defaults(config_schema_root, cfg);
	if (cfg_walk_object(&c, config_schema_root, root, cfg, "") < 0)
		goto fail;
	if (cfg_check_semantics(&c, cfg) < 0)
		goto fail;
	policy_index_build(&cfg->policy);
	if (check_files && config_check_files(cfg, err, errlen) < 0)
		goto fail;
	yajl_tree_free(root);
	free(text);
	return cfg;
fail:
	if (root)
		yajl_tree_free(root);
	free(text);
	free(cfg);
	return NULL;
}

struct config *
config_load_file(const char *path, int check_files, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: (file): cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: (file): not a regular file", path);
		goto done;
	}
	if (st.st_size > CONFIG_FILE_MAX_BYTES) {
		snprintf(err, errlen, "%s: (file): larger than %d bytes", path, CONFIG_FILE_MAX_BYTES);
		goto done;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: (file): out of memory", path);
		goto done;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: (file): read error: %s", path,
			    n < 0 ? strerror(errno) : "file shrank while reading");
			goto done;
		}
		got += (size_t)n;
	}
	cfg = config_parse(path, buf, got, check_files, err, errlen);
done:
	free(buf);
	close(fd);
	return cfg;
}

void
config_free(struct config *cfg)
{
	free(cfg);
}

const struct config_partner *
config_policy_for(const struct config *cfg, const char *domain)
{
	return policy_lookup(&cfg->policy, domain);
}

int
config_key_range(const char *path, long *min, long *max)
{
	const struct cfg_key *keys = config_schema_root, *k = NULL;
	char comp[CONFIG_KEYPATH_MAX];
	int map_element = 0;

	while (*path != '\0') {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(comp))
			return -1;
		memcpy(comp, path, n);
		comp[n] = '\0';
		path += n + (path[n] == '.');
		if (map_element) {	/* the element's name: any */
			map_element = 0;
			continue;
		}
		if (keys == NULL)
			return -1;
		for (k = keys; k->name != NULL; k++)
			if (strcmp(k->name, comp) == 0)
				break;
		if (k->name == NULL)
			return -1;
		map_element = k->type == CFG_OBJECT_MAP;
		keys = k->type == CFG_OBJECT || k->type == CFG_OBJECT_MAP ? k->children : NULL;
	}
	if (k == NULL || k->type != CFG_INT || map_element)
		return -1;
	*min = k->min;
	*max = k->max;
	return 0;
}
