/*
 * domain.c - DNS name validation and canonical form (see domain.h).
 */
#include "domain.h"

#include <stdio.h>

int
domain_canonicalize(const char *name, size_t len, char *out, size_t cap,
    char *err, size_t errlen)
{
	size_t i, label_len = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;	/* RFC 7622 §3.2: a trailing dot is not part of it */
	if (len == 0) {
		snprintf(err, errlen, "empty domain name");
		return -1;
	}
	if (len > DOMAIN_NAME_MAX || len + 1 > cap) {
		snprintf(err, errlen, "domain name longer than %d bytes", DOMAIN_NAME_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label_len == 0) {
				snprintf(err, errlen, "empty label in domain name");
				return -1;
			}
			if (name[i - 1] == '-') {
				snprintf(err, errlen, "label ends with '-'");
				return -1;
			}
			label_len = 0;
			out[i] = '.';
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			snprintf(err, errlen, c >= 0x80 ?
			    "non-ASCII domain name (give IDNs as A-labels, xn--...)" :
			    "invalid character 0x%02x in domain name", c);
			return -1;
		}
		if (c == '-' && label_len == 0) {
			snprintf(err, errlen, "label starts with '-'");
			return -1;
		}
		if (++label_len > 63) {
			snprintf(err, errlen, "label longer than 63 bytes");
			return -1;
		}
		out[i] = (char)c;
	}
	if (label_len == 0) {
		snprintf(err, errlen, "empty label in domain name");
		return -1;
	}
	if (name[len - 1] == '-') {
		snprintf(err, errlen, "label ends with '-'");
		return -1;
	}
	out[len] = '\0';
	return 0;
}
