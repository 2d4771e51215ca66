/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolve_cli.c - `xmpp-edge resolve`: shows operators which addresses the
 * proxy would try for a remote domain, in order, and why (SRV or fallback,
 * Direct TLS or STARTTLS, remaining TTLs).  It runs the same discovery
 * code as outgoing federation connections (discover.c), on its own loop,
 * and connects nowhere.
 *
 *   xmpp-edge resolve [--server ADDR:PORT]... [--timeout-ms N] [--tries N]
 *                     [--verbose] DOMAIN
 *
 * stdout: a header line starting with '#', then one line per candidate:
 *   ADDRESS PORT TLS-MODE TARGET TTL SOURCE
 * e.g.  2001:db8::5  5269  starttls  xmpp.example.net  3600  srv
 * Exit status: 0 candidates found, 1 resolution failed (the reason on
 * stderr), 2 usage error.
 */
#include "resolve_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RESOLVE_USAGE \
	"usage: xmpp-edge resolve [-c FILE] [--server ADDR:PORT]... [--timeout-ms N]\n" \
	"                         [--tries N] [--verbose] DOMAIN\n"

struct resolve_run {
	size_t count;
	enum dns_error err;
	int done;
};

static void
resolve_print_cb(struct dns_discovery *d, const struct dns_candidate *c,
    enum dns_error err, void *arg)
{
	struct resolve_run *run = arg;

	if (c == NULL) {
		run->err = err;
		run->done = 1;
		return;
	}
	if (run->count++ == 0)
		printf("# %-37s %5s %-10s %-32s %6s %s\n", "address", "port", "tls",
		    "target", "ttl", "source");
	printf("%-39s %5u %-10s %-32s %6u %s\n", c->addr_str, c->port,
	    dns_tls_mode_name(c->tls), c->target, c->ttl_s,
	    dns_source_name(c->source));
}

static int
parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
resolve_cli_main(int argc, char **argv, const struct dns_config *base)
{
	struct dns_config cfg;
	struct resolve_run run = { 0, DNS_OK, 0 };
	struct dns_resolver *r = NULL;
	struct dns_discovery *d = NULL;
	const char *domain = NULL;
	enum log_level level = LOG_ERROR;
	uv_loop_t loop;
	enum dns_error err;
	char msg[256];
	int i, status = 1;

	if (base != NULL) {
		cfg = *base;
		cfg.nservers = 0;	/* --server replaces the file's list... */
	} else {
		dns_config_defaults(&cfg);
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--server") == 0 && i + 1 < argc) {
			if (dns_config_add_server(&cfg, argv[++i]) < 0) {
				fprintf(stderr, "xmpp-edge resolve: too many or too long --server\n");
				return 2;
			}
		} else if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], &cfg.timeout_ms) < 0)
				goto usage;
		} else if (strcmp(a, "--tries") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], &cfg.tries) < 0)
				goto usage;
		} else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
			level = LOG_DEBUG;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(RESOLVE_USAGE, stdout);
			return 0;
		} else if (a[0] == '-' || domain != NULL) {
			goto usage;
		} else {
			domain = a;
		}
	}
	if (domain == NULL)
		goto usage;
	if (cfg.nservers == 0 && base != NULL)	/* ...else the file's is used */
		for (i = 0; i < (int)base->nservers; i++)
			(void)dns_config_add_server(&cfg, base->servers[i]);
	if (dns_config_validate(&cfg, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "xmpp-edge resolve: %s\n", msg);
		return 2;
	}
	log_setup(level, LOG_FORMAT_AUTO);

	if (uv_loop_init(&loop) < 0) {
		fprintf(stderr, "xmpp-edge resolve: cannot create an event loop\n");
		return 1;
	}
	if (dns_resolver_new(&loop, &cfg, &r, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "xmpp-edge resolve: %s\n", msg);
		goto out;
	}
	err = dns_discover_start(r, domain, resolve_print_cb, &run, &d);
	if (err != DNS_OK) {
		fprintf(stderr, "xmpp-edge resolve: %s: %s\n", domain, dns_error_str(err));
		goto out;
	}
	while (!run.done && uv_run(&loop, UV_RUN_ONCE) != 0)
		;
	if (!run.done)
		fprintf(stderr, "xmpp-edge resolve: %s: internal error (loop ended early)\n", domain);
	else if (run.err != DNS_OK)
		fprintf(stderr, "xmpp-edge resolve: %s: %s\n", domain, dns_error_str(run.err));
	else
		status = 0;
	fflush(stdout);
out:
	dns_discover_free(d);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);	/* let the closed handles go */
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "xmpp-edge resolve: warning: handles left open\n");
	return status;
usage:
	fputs(RESOLVE_USAGE, stderr);
	return 2;
}
