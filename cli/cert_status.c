/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_status.c - `xmpp-edge cert status [-c FILE] [--json] [--warn-days N]`.
 *
 * For every hosted domain and for the internal link's certificate, what
 * the files the configuration names hold (what the daemon loads on its
 * next reload): subject, names, issuer, key type, SPKI pin (the value
 * gateway.pins and the gateway's own pinning use), validity and the days
 * left; then the pins accepted on the internal link and where each comes
 * from.  Read from the files, not from the daemon: it needs no running
 * daemon and shows what a rotation installed before anything reloads.
 *
 * Exit status: 0 when every certificate is readable, valid now, valid
 * for its domain and has at least N days left (N: --warn-days, else
 * tls.expiry_warning_days, default 30); 1 otherwise, with a warning per
 * certificate, so a cron job or a monitoring check can alert on it.
 */
#include "cert_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "cert_tlsa.h"
#include "certops.h"
#include "gateway_pins.h"
#include "tls.h"

struct cert_status_entry {
	const char *label;		/* domain, or "internal" */
	const char *kind;		/* "domain", "internal" */
	const char *path;
	const char *domain;		/* NULL: internal (pinned, no name) */
	const struct config *cfg;	/* for the TLSA records (listener ports) */
	struct tls_certinfo info;
	char error[1024];		/* could not be read */
	char warning[384];
	const char *state;		/* ok, expiring, expired, not_yet_valid,
					   name_mismatch, unreadable */
	long days_left;
};

static void
cert_status_fmt_time(time_t t, char *out, size_t cap)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "?");
}

static const char *
cert_status_name_type(enum tls_id_type t)
{
	switch (t) {
	case TLS_ID_DNS: return "DNS";
	case TLS_ID_SRV: return "SRV";
	case TLS_ID_XMPPADDR: return "XmppAddr";
	default: return "other";
	}
}

/* Fills e and says whether it needs attention. */
static int
cert_status_examine(struct cert_status_entry *e, long warn_days, time_t now)
{
	char norm[TLS_DOMAIN_MAX + 1];
	size_t i;
	int named = 0;

	if (tls_certinfo_load(e->path, &e->info, e->error, sizeof(e->error)) != 0) {
		e->state = "unreadable";
		snprintf(e->warning, sizeof(e->warning), "cannot be read");
		return 1;
	}
	e->days_left = tls_certinfo_days_left(e->info.not_after, now);
	if (now < e->info.not_before) {
		e->state = "not_yet_valid";
		snprintf(e->warning, sizeof(e->warning), "not valid yet");
		return 1;
	}
	if (now >= e->info.not_after) {
		e->state = "expired";
		snprintf(e->warning, sizeof(e->warning), "expired %ld day(s) ago",
		    -e->days_left);
		return 1;
	}
	if (e->domain != NULL && tls_identity_normalize(e->domain, norm, sizeof(norm)) == 0) {
		/* The names as listed; the daemon's own check (identity.c)
		 * decides, through the same matching functions. */
		for (i = 0; i < e->info.nnames && !named; i++) {
			const char *v = e->info.names[i].value;

			switch (e->info.names[i].type) {
			case TLS_ID_DNS:
				named = tls_identity_match_dns_id(v, strlen(v), norm);
				break;
			case TLS_ID_SRV:
				named = tls_identity_match_srv_id(v, strlen(v), norm);
				break;
			case TLS_ID_XMPPADDR:
				named = tls_identity_match_xmppaddr(v, strlen(v), norm);
				break;
			default:
				break;
			}
		}
		if (!named) {
			e->state = "name_mismatch";
			snprintf(e->warning, sizeof(e->warning),
			    "no name in it is valid for %s (RFC 6125)", norm);
			return 1;
		}
	}
	if (e->days_left < warn_days) {
		e->state = "expiring";
		snprintf(e->warning, sizeof(e->warning),
		    "expires in %ld day(s), fewer than %ld", e->days_left, warn_days);
		return 1;
	}
	e->state = "ok";
	return 0;
}

static void
cert_status_print_text(const struct cert_status_entry *e, FILE *out)
{
	char nb[32], na[32];
	size_t i;

	fprintf(out, "%s (%s)\n", e->label, e->kind);
	fprintf(out, "  file:       %s\n", e->path);
	if (strcmp(e->state, "unreadable") == 0) {
		fprintf(out, "  WARNING:    %s\n", e->error);
		return;
	}
	fprintf(out, "  subject:    %s\n", e->info.subject);
	fprintf(out, "  names:      ");
	for (i = 0; i < e->info.nnames; i++)
		fprintf(out, "%s%s:%s", i ? ", " : "",
		    cert_status_name_type(e->info.names[i].type), e->info.names[i].value);
	if (e->info.nnames == 0)
		fprintf(out, "(no subjectAltName)");
	if (e->info.names_omitted)
		fprintf(out, " (and %zu more)", e->info.names_omitted);
	fprintf(out, "\n");
	fprintf(out, "  issuer:     %s%s\n", e->info.issuer,
	    e->info.self_signed ? " (self-signed)" : "");
	fprintf(out, "  key:        %s\n", e->info.key_type);
	fprintf(out, "  pin:        %s\n", e->info.pin);
	if (e->domain != NULL)
		cert_tlsa_print(out, e->cfg, e->domain, e->path);
	cert_status_fmt_time(e->info.not_before, nb, sizeof(nb));
	cert_status_fmt_time(e->info.not_after, na, sizeof(na));
	fprintf(out, "  valid:      %s .. %s (%ld days left)\n", nb, na, e->days_left);
	if (strcmp(e->state, "ok") != 0)
		fprintf(out, "  WARNING:    %s\n", e->warning);
}

static void
gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void
gen_kv(yajl_gen g, const char *k, const char *v)
{
	gen_str(g, k);
	gen_str(g, v);
}

static void
cert_status_gen_entry(yajl_gen g, const struct cert_status_entry *e)
{
	char t[32];
	size_t i;

	yajl_gen_map_open(g);
	gen_kv(g, "name", e->label);
	gen_kv(g, "kind", e->kind);
	gen_kv(g, "file", e->path);
	gen_kv(g, "state", e->state);
	if (strcmp(e->state, "unreadable") == 0) {
		gen_kv(g, "error", e->error);
		yajl_gen_map_close(g);
		return;
	}
	gen_kv(g, "subject", e->info.subject);
	gen_str(g, "names");
	yajl_gen_array_open(g);
	for (i = 0; i < e->info.nnames; i++) {
		yajl_gen_map_open(g);
		gen_kv(g, "type", cert_status_name_type(e->info.names[i].type));
		gen_kv(g, "value", e->info.names[i].value);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	gen_kv(g, "issuer", e->info.issuer);
	gen_str(g, "self_signed");
	yajl_gen_bool(g, e->info.self_signed);
	gen_kv(g, "serial", e->info.serial);
	gen_kv(g, "key_type", e->info.key_type);
	gen_kv(g, "pin_sha256", e->info.pin);
	if (e->domain != NULL)
		cert_tlsa_gen(g, e->cfg, e->domain, e->path);
	cert_status_fmt_time(e->info.not_before, t, sizeof(t));
	gen_kv(g, "not_before", t);
	cert_status_fmt_time(e->info.not_after, t, sizeof(t));
	gen_kv(g, "not_after", t);
	gen_str(g, "days_left");
	yajl_gen_integer(g, e->days_left);
	if (strcmp(e->state, "ok") != 0)
		gen_kv(g, "warning", e->warning);
	yajl_gen_map_close(g);
}

int
cert_status_main(const struct cert_args *a)
{
	struct cert_status_entry *entries = NULL;
	struct gateway_pins gp;
	const char *pins[GATEWAY_PINS_EFFECTIVE_MAX];
	char pins_path[CONFIG_PATH_MAX + 32], pins_err[CONFIG_PATH_MAX + 256] = "";
	struct config *cfg;
	size_t n = 0, i, npins = 0;
	time_t now = time(NULL);
	long warn_days;
	int attention = 0, rc = 1;

	if (a->npos != 1) {
		fprintf(stderr, "usage: xmpp-edge cert status [-c FILE] [--json] [--warn-days N]\n");
		return CERT_EXIT_USAGE;
	}
	if ((cfg = cert_load_config(a)) == NULL)
		return 1;
	warn_days = a->warn_days >= 0 ? a->warn_days : cfg->tls.expiry_warning_days;
	entries = calloc(cfg->domain_count + 1, sizeof(*entries));
	if (entries == NULL) {
		fprintf(stderr, "xmpp-edge cert status: out of memory\n");
		goto done;
	}
	for (i = 0; i < cfg->domain_count; i++, n++) {
		entries[n].label = cfg->domains[i].name;
		entries[n].kind = "domain";
		entries[n].path = cfg->domains[i].cert;
		entries[n].domain = cfg->domains[i].name;
		entries[n].cfg = cfg;
	}
	if (cfg->gateway.enabled) {
		entries[n].label = "internal";
		entries[n].kind = "internal";
		entries[n].path = cfg->gateway.cert;
		n++;
	}
	for (i = 0; i < n; i++)
		attention |= cert_status_examine(&entries[i], warn_days, now);
	memset(&gp, 0, sizeof(gp));
	if (cfg->gateway.enabled) {
		struct run_user ru;

		if (run_user_current(cfg, &ru, pins_err, sizeof(pins_err)) != 0 ||
		    gateway_pins_path(cfg, pins_path, sizeof(pins_path)) != 0 ||
		    gateway_pins_read(pins_path, &ru, &gp, pins_err, sizeof(pins_err)) != 0) {
			attention = 1;
			memset(&gp, 0, sizeof(gp));
		}
		npins = gateway_pins_effective(cfg, &gp, pins, GATEWAY_PINS_EFFECTIVE_MAX);
	}

	if (a->json) {
		yajl_gen g = yajl_gen_alloc(NULL);
		const unsigned char *buf;
		size_t len;

		if (g == NULL)
			goto done;
		yajl_gen_map_open(g);
		gen_kv(g, "config", cfg->source);
		gen_str(g, "warn_days");
		yajl_gen_integer(g, warn_days);
		gen_str(g, "certificates");
		yajl_gen_array_open(g);
		for (i = 0; i < n; i++)
			cert_status_gen_entry(g, &entries[i]);
		yajl_gen_array_close(g);
		if (cfg->gateway.enabled) {
			gen_str(g, "gateway_pins");
			yajl_gen_array_open(g);
			for (i = 0; i < npins; i++)
				gen_str(g, pins[i]);
			yajl_gen_array_close(g);
			if (pins_err[0])
				gen_kv(g, "gateway_pins_error", pins_err);
		}
		gen_str(g, "attention");
		yajl_gen_bool(g, attention);
		yajl_gen_map_close(g);
		if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
			fwrite(buf, 1, len, stdout);
			fputc('\n', stdout);
		}
		yajl_gen_free(g);
	} else {
		for (i = 0; i < n; i++)
			cert_status_print_text(&entries[i], stdout);
		if (cfg->gateway.enabled) {
			printf("gateway pins accepted on the internal link (%s + %s):\n",
			    "gateway.pins", pins_path);
			for (i = 0; i < npins; i++)
				printf("  %s\n", pins[i]);
			if (pins_err[0])
				printf("  WARNING: %s\n", pins_err);
		}
	}
	for (i = 0; i < n; i++)
		if (strcmp(entries[i].state, "ok") != 0)
			fprintf(stderr, "xmpp-edge cert status: %s: %s\n", entries[i].label,
			    entries[i].warning);
	rc = attention ? 1 : 0;
done:
	free(entries);
	config_free(cfg);
	return rc;
}
