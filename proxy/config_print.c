/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_print.c - human output derived from the configuration schema:
 * the key reference (`xmpp-edge help config`, also the README's table, so
 * the two cannot drift apart) and the summary `xmpp-edge check` prints.
 */
#include "config.h"

#include <string.h>

#include "config_schema.h"

static const char *
print_type_name(const struct cfg_key *k)
{
	switch (k->type) {
	case CFG_OBJECT: return "object";
	case CFG_STRING: return "string";
	case CFG_DOMAIN: return "domain";
	case CFG_PATH: return "path";
	case CFG_ADDR: return "address";
	case CFG_PIN: return "pin";
	case CFG_INT: return "integer";
	case CFG_BOOL: return "boolean";
	case CFG_ENUM: return "enum";
	case CFG_LIST:
		switch (k->children[0].type) {
		case CFG_ADDR: return "address[]";
		case CFG_PIN: return "pin[]";
		case CFG_DOMAIN: return "domain[]";
		default: return "string[]";
		}
	case CFG_OBJECT_LIST: return "object[]";
	case CFG_OBJECT_MAP: return "map";
	}
	return "?";
}

static void
print_reference_keys(FILE *out, const struct cfg_key *keys, const char *parent)
{
	const struct cfg_key *k;
	char path[256];

	for (k = keys; k->name; k++) {
		if (parent[0])
			snprintf(path, sizeof(path), "%s.%s", parent, k->name);
		else
			snprintf(path, sizeof(path), "%s", k->name);
		fprintf(out, "| `%s` | %s | ", path, print_type_name(k));
		if (k->flags & CFG_REQUIRED)
			fprintf(out, "required");
		else if (k->def && k->type == CFG_LIST)
			fprintf(out, k->def[0] ? "`[\"%s\"]`" : "`[]`", k->def);
		else if (k->def && (k->type == CFG_INT || k->type == CFG_BOOL))
			fprintf(out, "`%s`", k->def);
		else if (k->def)
			fprintf(out, "`\"%s\"`", k->def);
		else
			fprintf(out, "-");
		fprintf(out, " | %s", k->help);
		if (k->type == CFG_INT)
			fprintf(out, " Range %ld..%ld.", k->min, k->max);
		if (k->type == CFG_ENUM) {
			size_t i;
			fprintf(out, " One of:");
			for (i = 0; k->enum_names[i]; i++)
				fprintf(out, "%s `%s`", i ? "," : "", k->enum_names[i]);
			fprintf(out, ".");
		}
		fprintf(out, " |\n");
		if (k->type == CFG_OBJECT || k->type == CFG_OBJECT_LIST) {
			char sub[280];
			snprintf(sub, sizeof(sub), "%s%s", path, k->type == CFG_OBJECT_LIST ? "[]" : "");
			print_reference_keys(out, k->children, sub);
		}
		if (k->type == CFG_OBJECT_MAP) {
			char sub[280];
			snprintf(sub, sizeof(sub), "%s.DOMAIN", path);
			print_reference_keys(out, k->children, sub);
		}
	}
}

void
config_print_reference(FILE *out)
{
	fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
	print_reference_keys(out, config_schema_root, "");
}

static void
print_list(FILE *out, const char *label, char (*items)[CONFIG_ADDR_MAX], size_t n)
{
	size_t i;

	fprintf(out, "  %-12s", label);
	if (n == 0)
		fprintf(out, " -");
	for (i = 0; i < n; i++)
		fprintf(out, " %s", items[i]);
	fprintf(out, "\n");
}

static const char *const print_tls_names[] = { "required", "optional", "disabled" };
static const char *const print_sasl_names[] = { "optional", "required", "disabled" };

/* One policy entry on one line: the negotiation triple always, the other
 * settings only where they differ from "nothing of its own". */
static void
print_partner(FILE *out, const struct config_partner *p)
{
	fprintf(out, "%s, tls %s, sasl_external %s, dialback %s",
	    p->allow ? "allow" : "deny", print_tls_names[p->tls],
	    print_sasl_names[p->sasl_external], p->dialback ? "yes" : "no");
	if (p->require_valid_certificate)
		fprintf(out, ", valid certificate required");
	if (!p->bidi)
		fprintf(out, ", no bidi");
	if (p->max_connections)
		fprintf(out, ", max %d connections", p->max_connections);
	if (p->keepalive_s)
		fprintf(out, ", keepalive %d s", p->keepalive_s);
	if (p->idle_timeout_s)
		fprintf(out, ", idle %d s", p->idle_timeout_s);
	if (p->connect[0])
		fprintf(out, ", connect %s%s", p->connect, p->connect_direct_tls ? " (Direct TLS)" : "");
	if (p->max_stanza_size)
		fprintf(out, ", stanza %d bytes", p->max_stanza_size);
}

void
config_print_summary(const struct config *cfg, FILE *out)
{
	size_t i, j;

	fprintf(out, "configuration %s is valid\n", cfg->source);
	fprintf(out, "domains (%zu, default %s):\n", cfg->domain_count, cfg->default_domain);
	for (i = 0; i < cfg->domain_count; i++)
		fprintf(out, "  %s  cert %s\n", cfg->domains[i].name, cfg->domains[i].cert);
	fprintf(out, "listeners:\n");
	print_list(out, "starttls", (char (*)[CONFIG_ADDR_MAX])cfg->listen.starttls, cfg->listen.starttls_count);
	print_list(out, "direct_tls", (char (*)[CONFIG_ADDR_MAX])cfg->listen.direct_tls, cfg->listen.direct_tls_count);
	print_list(out, "internal", (char (*)[CONFIG_ADDR_MAX])cfg->listen.internal, cfg->listen.internal_count);
	print_list(out, "internal_starttls", (char (*)[CONFIG_ADDR_MAX])cfg->listen.internal_starttls,
	    cfg->listen.internal_starttls_count);
	fprintf(out, "  %-12s %s\n", "control", cfg->listen.control[0] ? cfg->listen.control : "STATE_DIR/control.sock");
	print_list(out, "admin", (char (*)[CONFIG_ADDR_MAX])cfg->listen.admin, cfg->listen.admin_count);
	if (cfg->admin.enabled)
		fprintf(out, "admin: %zu pin%s, at most %d connection%s\n", cfg->admin.pin_count,
		    cfg->admin.pin_count == 1 ? "" : "s", cfg->admin.max_connections,
		    cfg->admin.max_connections == 1 ? "" : "s");
	if (cfg->gateway.enabled)
		fprintf(out, "gateway: %s (%zu pin%s)\n", cfg->gateway.address, cfg->gateway.pin_count,
		    cfg->gateway.pin_count == 1 ? "" : "s");
	else
		fprintf(out, "gateway: none (stanzas to hosted domains are bounced)\n");
	fprintf(out, "dns: %s, timeout %d ms x %d tries\n",
	    cfg->dns.nservers ? cfg->dns.servers[0] : "/etc/resolv.conf",
	    cfg->dns.timeout_ms, cfg->dns.tries);
	fprintf(out, "dialback: %s\n", cfg->dialback.enabled ? "enabled" : "disabled");
	fprintf(out, "policy: default ");
	print_partner(out, &cfg->policy.defaults);
	fprintf(out, "; %zu partner entr%s\n", cfg->policy.partner_count,
	    cfg->policy.partner_count == 1 ? "y" : "ies");
	for (i = 0; i < cfg->policy.partner_count; i++) {
		const struct config_partner *p = &cfg->policy.partners[i];

		fprintf(out, "  %s", p->domain);
		for (j = 0; j < p->additional_domain_count; j++)
			fprintf(out, "%s%s", j ? " " : " (+ ", p->additional_domains[j]);
		fprintf(out, "%s: ", p->additional_domain_count ? ")" : "");
		print_partner(out, p);
		fprintf(out, "\n");
	}
	fprintf(out, "limits: stanza %d bytes (%d before auth), %d streams (%d reserved for the gateway, "
	    "%d unauthenticated), %d per address, %d per IPv4 /24, %d per IPv6 /64\n",
	    cfg->limits.stanza_size, cfg->limits.stanza_size_preauth, cfg->limits.max_streams,
	    cfg->listen.internal_count + cfg->listen.internal_starttls_count > 0 ?
	    cfg->limits.internal_reserved_streams : 0, cfg->limits.max_unauthenticated_streams,
	    cfg->limits.max_streams_per_ip, cfg->limits.max_streams_per_ipv4_24,
	    cfg->limits.max_streams_per_ipv6_64);
	fprintf(out, "state_dir: %s, user: %s, log: %s\n", cfg->state_dir, cfg->user,
	    log_level_name((enum log_level)cfg->log.level));
}
