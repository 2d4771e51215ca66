/* SPDX-License-Identifier: Apache-2.0 */
/*
 * name.c - domain name validation before anything is sent to a DNS server.
 *
 * Names reach us from the network (a remote server's 'from', a 'to' a local
 * user typed, SRV targets in answers), so they are checked once, here, and
 * the rest of dns/ trusts the canonical form.  The rules are the DNS ones
 * of RFC 1035 §2.3.4 (253 octets of text, 63 per label, no empty label)
 * plus a conservative character set: letters, digits, '-' and '_' (the
 * latter for service labels such as _xmpp-server).  Internationalised
 * names must already be A-labels (RFC 5890); anything else, including the
 * backslash escapes c-ares uses for odd octets in answers, is refused.
 */
#include "dns_internal.h"

#include <string.h>

int
dns_name_normalize(const char *in, char *out, size_t outlen, const char **why)
{
	size_t len, i, label = 0;

	*why = NULL;
	if (in == NULL || in[0] == '\0') {
		*why = "empty name";
		return -1;
	}
	len = strnlen(in, DNS_NAME_MAX + 2);
	/* RFC 7622 §3.2: a trailing dot is not part of the domain. */
	if (len <= DNS_NAME_MAX + 1 && in[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "empty name";
		return -1;
	}
	if (len > DNS_NAME_MAX) {
		*why = "name longer than 253 octets";
		return -1;
	}
	if (outlen < len + 1) {
		*why = "output buffer too small";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch == '.') {
			if (label == 0) {
				*why = "empty label";
				return -1;
			}
			label = 0;
			out[i] = '.';
			continue;
		}
		if (++label > DNS_LABEL_MAX) {
			*why = "label longer than 63 octets";
			return -1;
		}
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_')) {
			*why = ch >= 0x80 ?
			    "non-ASCII name (give IDNs as A-labels, xn--...)" :
			    "invalid character in name";
			return -1;
		}
		out[i] = (char)ch;
	}
	if (label == 0) {	/* "a.." : the last label is empty */
		*why = "empty label";
		return -1;
	}
	out[len] = '\0';
	return 0;
}
