/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_tlsa.c - the TLSA records to publish for a hosted domain (DANE,
 * RFC 6698 / RFC 7673), printed by `cert status`.
 *
 * One "3 1 1" record (DANE-EE, SubjectPublicKeyInfo, SHA-256: RFC 7671
 * §8.1's advice, and the one that survives a renewal with the same key)
 * per external listener port, at _PORT._tcp.DOMAIN.  DOMAIN stands for
 * the SRV target: when the domain's SRV records name another host,
 * publish the records under that host's name instead.
 *
 * Rollover (RFC 7671 §8.1, "current + next"): a certificate staged as
 * CERT.next (CERT: the domain's `cert` path) is the one `cert rotate` will
 * put in service; its record is printed too, so both can be published
 * one TTL before the rotation and DANE never breaks at it.  Once
 * rotated, the old record can go.
 */
#include "cert_tlsa.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "netaddr.h"
#include "tls.h"

#define CERT_TLSA_PORTS_MAX (2 * CONFIG_MAX_LISTEN)
#define CERT_TLSA_LINE_MAX (CONFIG_DOMAIN_MAX + 200)

/* Distinct ports of the external listeners (STARTTLS, then Direct TLS). */
static size_t
cert_tlsa_ports(const struct config *cfg, unsigned *ports, size_t max)
{
	const struct config_listen *l = &cfg->listen;
	size_t i, j, n = 0;

	for (i = 0; i < l->starttls_count + l->direct_tls_count; i++) {
		const char *a = i < l->starttls_count ? l->starttls[i] : l->direct_tls[i - l->starttls_count];
		struct sockaddr_storage ss;
		char why[128];
		unsigned port;

		if (netaddr_parse(a, &ss, why, sizeof(why)) < 0)
			continue;
		port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
		    ntohs(((struct sockaddr_in *)&ss)->sin_port);
		for (j = 0; j < n && ports[j] != port; j++)
			;
		if (j == n && n < max)
			ports[n++] = port;
	}
	return n;
}

/* The "3 1 1" data of the certificate in path as hex; -1 if unreadable. */
static int
cert_tlsa_hex(const char *path, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t d[32];
	size_t len = 0, i;
	char err[256];

	if (tls_dane_record_of_cert_file(path, TLS_DANE_SELECTOR_SPKI, TLS_DANE_MATCHING_SHA256,
	    d, sizeof(d), &len, err, sizeof(err)) < 0 || len != 32)
		return -1;
	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
	return 0;
}

/* The next certificate's path (CERT.next) if that file exists. */
static int
cert_tlsa_next_path(const char *cert_path, char *out, size_t outlen)
{
	struct stat st;
	int n = snprintf(out, outlen, "%s.next", cert_path);

	return n > 0 && (size_t)n < outlen && stat(out, &st) == 0 ? 0 : -1;
}

/* Calls emit for each record line of cert_path ("which": current, next). */
static void
cert_tlsa_each(const struct config *cfg, const char *domain, const char *cert_path,
    void (*emit)(void *ctx, const char *which, const char *line), void *ctx)
{
	unsigned ports[CERT_TLSA_PORTS_MAX];
	char hex[65], line[CERT_TLSA_LINE_MAX], next[CONFIG_PATH_MAX + 8];
	size_t n = cert_tlsa_ports(cfg, ports, CERT_TLSA_PORTS_MAX), i;

	if (cert_tlsa_hex(cert_path, hex) == 0)
		for (i = 0; i < n; i++) {
			snprintf(line, sizeof(line), "_%u._tcp.%s. IN TLSA 3 1 1 %s", ports[i], domain, hex);
			emit(ctx, "current", line);
		}
	if (cert_tlsa_next_path(cert_path, next, sizeof(next)) == 0 && cert_tlsa_hex(next, hex) == 0)
		for (i = 0; i < n; i++) {
			snprintf(line, sizeof(line), "_%u._tcp.%s. IN TLSA 3 1 1 %s", ports[i], domain, hex);
			emit(ctx, "next", line);
		}
}

static void
cert_tlsa_emit_text(void *ctx, const char *which, const char *line)
{
	fprintf(ctx, "  %-12s%s\n", strcmp(which, "next") == 0 ? "tlsa next:" : "tlsa:", line);
}

void
cert_tlsa_print(FILE *out, const struct config *cfg, const char *domain, const char *cert_path)
{
	cert_tlsa_each(cfg, domain, cert_path, cert_tlsa_emit_text, out);
}

struct cert_tlsa_gen_ctx {
	yajl_gen g;
	const char *which;
};

static void
cert_tlsa_emit_json(void *ctx, const char *which, const char *line)
{
	struct cert_tlsa_gen_ctx *c = ctx;

	if (strcmp(which, c->which) == 0)
		yajl_gen_string(c->g, (const unsigned char *)line, strlen(line));
}

void
cert_tlsa_gen(yajl_gen g, const struct config *cfg, const char *domain, const char *cert_path)
{
	static const char *const which[2] = { "current", "next" };
	static const char *const key[2] = { "tlsa", "tlsa_next" };
	struct cert_tlsa_gen_ctx c = { .g = g };
	int k;

	for (k = 0; k < 2; k++) {
		yajl_gen_string(g, (const unsigned char *)key[k], strlen(key[k]));
		yajl_gen_array_open(g);
		c.which = which[k];
		cert_tlsa_each(cfg, domain, cert_path, cert_tlsa_emit_json, &c);
		yajl_gen_array_close(g);
	}
}
