/* SPDX-License-Identifier: Apache-2.0 */
/*
 * domain.c - XMPP domain validation (see domain.h): the DNS checks of
 * dns/name.c plus the host-name rules.
 */
#include "domain.h"

#include <stdio.h>
#include <string.h>

#include "dns.h"

int
domain_canonicalize(const char *name, size_t len, char *out, size_t cap,
    char *err, size_t errlen)
{
	char tmp[DOMAIN_NAME_MAX + 2];
	const char *why, *label;

	/* +1: a trailing dot is allowed beyond the 253 octets. */
	if (len > DOMAIN_NAME_MAX + 1) {
		snprintf(err, errlen, "name longer than %d octets", DOMAIN_NAME_MAX);
		return -1;
	}
	if (memchr(name, '\0', len) != NULL) {
		snprintf(err, errlen, "NUL byte in name");
		return -1;
	}
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	if (dns_name_normalize(tmp, out, cap, &why) < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	for (label = out; label != NULL; label = strchr(label, '.'), label = label ? label + 1 : NULL) {
		size_t n = strcspn(label, ".");

		if (memchr(label, '_', n) != NULL) {
			snprintf(err, errlen, "'_' is not allowed in a host name");
			return -1;
		}
		if (label[0] == '-' || label[n - 1] == '-') {
			snprintf(err, errlen, "label starts or ends with '-'");
			return -1;
		}
	}
	return 0;
}
