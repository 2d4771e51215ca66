/* SPDX-License-Identifier: Apache-2.0 */
/*
 * addrpolicy.c - which addresses a DNS answer may send us to.
 *
 * Anyone who controls the DNS of a domain chooses where xmpp-edge connects
 * when it looks that domain up: a stanza to it, or a dialback check that
 * any unauthenticated peer can ask for by claiming it (XEP-0220 §2.3).
 * Without a policy that turns the edge, which sits in a DMZ, into a port
 * scanner of its own host and of the networks behind it (issue 14,
 * finding 3).  So every address discovery hands out (SRV targets, and the
 * A/AAAA fallback alike) is checked here before the connect sequence
 * dials it (connect.c):
 *
 *   1. the exact address and port of one of the edge's own sockets (its
 *      listeners, the gateway), or a loopback address on the port of a
 *      wildcard listener: always refused, the allow-list cannot lift it;
 *   2. an address inside a prefix of dns.allow_private_targets: allowed
 *      (operators who federate over private networks, and the tests);
 *   3. an address of a special-purpose range (IANA registries, RFC 6890),
 *      or of one of the edge's own sockets on another port: refused, with
 *      the range's name (or the socket's role) as the reason;
 *   4. anything else: allowed.
 *
 * IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d, RFC 6052)
 * addresses are judged by the IPv4 address they carry.  The operator's own
 * targets (a partner's `connect`, `gateway.address`) never come through
 * here: dns_connect_start_static() does not ask.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct special_range {
	int family;
	uint8_t addr[16];
	unsigned len;
	const char *what;
};

/* In the order they are reported: the narrower name first. */
static const struct special_range special_ranges[] = {
	{ AF_INET, { 255, 255, 255, 255 }, 32, "broadcast (RFC 919)" },
	{ AF_INET, { 0 }, 8, "unspecified / this network (RFC 1122)" },
	{ AF_INET, { 127 }, 8, "loopback (RFC 1122)" },
	{ AF_INET, { 169, 254 }, 16, "link-local (RFC 3927)" },
	{ AF_INET, { 10 }, 8, "private (RFC 1918)" },
	{ AF_INET, { 172, 16 }, 12, "private (RFC 1918)" },
	{ AF_INET, { 192, 168 }, 16, "private (RFC 1918)" },
	{ AF_INET, { 100, 64 }, 10, "shared address space (RFC 6598)" },
	{ AF_INET, { 192, 0, 0 }, 24, "IETF protocol assignments (RFC 6890)" },
	{ AF_INET, { 198, 18 }, 15, "benchmarking (RFC 2544)" },
	{ AF_INET, { 224 }, 4, "multicast (RFC 5771)" },
	{ AF_INET, { 240 }, 4, "reserved (RFC 1112)" },
	{ AF_INET6, { 0 }, 128, "unspecified (RFC 4291)" },
	{ AF_INET6, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, "loopback (RFC 4291)" },
	{ AF_INET6, { 0 }, 96, "IPv4-compatible, deprecated (RFC 4291)" },
	{ AF_INET6, { 0xfe, 0x80 }, 10, "link-local (RFC 4291)" },
	{ AF_INET6, { 0xfe, 0xc0 }, 10, "site-local, deprecated (RFC 3879)" },
	{ AF_INET6, { 0xfc }, 7, "unique local (RFC 4193)" },
	{ AF_INET6, { 0xff }, 8, "multicast (RFC 4291)" },
};

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
static const uint8_t nat64_prefix[12] = { 0, 0x64, 0xff, 0x9b };

/* 1 if the first len bits of a and b are equal. */
static int
prefix_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
dns_prefix_parse(const char *text, struct dns_prefix *out, char *err, size_t errlen)
{
	char host[DNS_PREFIX_STR_MAX];
	const char *slash = strchr(text, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	unsigned long len;
	unsigned max, i;
	char *end;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "expected an address prefix, e.g. \"10.0.0.0/8\" or \"fd00::/8\"");
		return -1;
	}
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", host);
		return -1;
	}
	if (slash == NULL) {
		out->len = max;	/* one address */
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9') {
		snprintf(err, errlen, "the prefix length after '/' must be a number");
		return -1;
	}
	len = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || len > max) {
		snprintf(err, errlen, "the prefix length must be a number from 0 to %u", max);
		return -1;
	}
	out->len = (unsigned)len;
	/* "10.1.2.3/8" is probably a typo for something else: say so
	 * rather than guess which of the two was meant. */
	for (i = out->len; i < max; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(err, errlen, "bits set after the /%u prefix (did you mean a shorter address?)",
			    out->len);
			return -1;
		}
	return 0;
}

/* The address's bytes and family; a mapped or NAT64 IPv6 address as the
 * IPv4 address it stands for. */
static void
addr_unwrap(const struct sockaddr *sa, int *family, uint8_t addr[16], uint16_t *port)
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		*family = AF_INET;
		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return;
	}
	{
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = (const uint8_t *)&sin6->sin6_addr;

		*port = ntohs(sin6->sin6_port);
		if (memcmp(a, v4mapped_prefix, 12) == 0 || memcmp(a, nat64_prefix, 12) == 0) {
			*family = AF_INET;
			memcpy(addr, a + 12, 4);
			return;
		}
		*family = AF_INET6;
		memcpy(addr, a, 16);
	}
}

static int
addr_is_loopback(int family, const uint8_t *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	return family == AF_INET ? a[0] == 127 : memcmp(a, v6_loopback, 16) == 0;
}

static int
addr_is_unspecified(int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	return memcmp(a, zero, family == AF_INET ? 4 : 16) == 0;
}

void
dns_avoid_add(struct dns_avoid *av, const struct sockaddr *sa, const char *what)
{
	struct dns_avoid_addr *e;

	if (av->n == DNS_AVOID_MAX || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	e = &av->addr[av->n++];
	addr_unwrap(sa, &e->family, e->addr, &e->port);
	e->what = what;
}

const char *
dns_addr_refused(const struct dns_config *cfg, const struct dns_avoid *av, const struct sockaddr *sa)
{
	struct dns_prefix pfx;
	uint8_t a[16];
	uint16_t port;
	int family;
	size_t i;
	char why[128];

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return "not an IPv4 or IPv6 address";
	addr_unwrap(sa, &family, a, &port);
	/* 1. Our own sockets, whatever the allow-list says. */
	for (i = 0; av != NULL && i < av->n; i++) {
		const struct dns_avoid_addr *e = &av->addr[i];

		if (e->port != port)
			continue;
		if ((e->family == family && memcmp(e->addr, a, family == AF_INET ? 4 : 16) == 0) ||
		    (addr_is_unspecified(e->family, e->addr) && addr_is_loopback(family, a)))
			return e->what;
	}
	/* 2. The operator's allow-list (validated when the configuration
	 * was loaded: a prefix that does not parse here allows nothing). */
	for (i = 0; i < cfg->nallow_private_targets; i++)
		if (dns_prefix_parse(cfg->allow_private_targets[i], &pfx, why, sizeof(why)) == 0 &&
		    pfx.family == family && prefix_match(pfx.addr, a, pfx.len))
			return NULL;
	/* 3. The special-purpose ranges (the more telling reason when an
	 * address is both), then our own hosts on other ports. */
	for (i = 0; i < sizeof(special_ranges) / sizeof(special_ranges[0]); i++)
		if (special_ranges[i].family == family &&
		    prefix_match(special_ranges[i].addr, a, special_ranges[i].len))
			return special_ranges[i].what;
	for (i = 0; av != NULL && i < av->n; i++)
		if (av->addr[i].family == family &&
		    memcmp(av->addr[i].addr, a, family == AF_INET ? 4 : 16) == 0)
			return av->addr[i].what;
	return NULL;
}
