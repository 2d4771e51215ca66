/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl_external.h - the initiating side's SASL EXTERNAL request (XEP-0178
 * §3), shared by outgoing streams (s2s_out.c) and `probe` (probe.c) so the
 * probe asks exactly what the daemon asks.
 */
#ifndef XE_SASL_EXTERNAL_H
#define XE_SASL_EXTERNAL_H

#include <stddef.h>

#define SASL_EXTERNAL_AUTH_MAX 1024	/* fits a 253-byte domain in base64 */

/* <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>
 * with base64(authzid) (our domain: the authorization identity) into
 * out; returns its length, or -1 when it does not fit. */
int sasl_external_auth_write(const char *authzid, char *out, size_t cap);

#endif
