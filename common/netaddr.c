/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netaddr.c - address literal parsing and formatting (see netaddr.h).
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
netaddr_parse_port(const char *p, unsigned *port)
{
	unsigned long v = 0;

	if (*p == '\0')
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int
netaddr_parse(const char *s, struct sockaddr_storage *out, char *err, size_t errlen)
{
	char host[NETADDR_TEXT_MAX];
	const char *colon, *hstart;
	size_t hlen;
	unsigned port;

	memset(out, 0, sizeof(*out));
	if (strlen(s) >= NETADDR_TEXT_MAX) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "expected \"[IPv6]:port\"");
			return -1;
		}
		hstart = s + 1;
		hlen = (size_t)(close - hstart);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			snprintf(err, errlen, "expected \"IPv4:port\" or \"[IPv6]:port\"");
			return -1;
		}
		hstart = s;
		hlen = (size_t)(colon - s);
	}
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	if (netaddr_parse_port(colon + 1, &port) < 0) {
		snprintf(err, errlen, "port must be a number from 1 to 65535");
		return -1;
	}
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv6 address", host);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv4 address (names are not accepted here)", host);
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	}
	return 0;
}

void
netaddr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(sin->sin_port));
	} else {
		snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
}
