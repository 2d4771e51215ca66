/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl_external.c - see sasl_external.h.
 */
#include "sasl_external.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>

int
sasl_external_auth_write(const char *authzid, char *out, size_t cap)
{
	unsigned char b64[(SASL_EXTERNAL_AUTH_MAX / 3) * 2];
	size_t blen = 0;
	int n;

	if (mbedtls_base64_encode(b64, sizeof(b64), &blen, (const unsigned char *)authzid,
	    strlen(authzid)) != 0)
		return -1;
	n = snprintf(out, cap, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>",
	    (const char *)b64);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}
