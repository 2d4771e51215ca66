/* SPDX-License-Identifier: Apache-2.0 */
/*
 * domain.h - XMPP domains as the proxy accepts them.
 *
 * RFC 6120 §3.2.1 / RFC 7622 §3.2: a domainpart used for s2s is a DNS
 * host name.  The DNS rules (length, labels, A-labels only, trailing dot)
 * are dns_name_normalize()'s; on top of them a domain is an LDH host name
 * (RFC 5890 §2.3.1): no '_' and no '-' at either end of a label.
 * Comparison is case-insensitive, so the canonical form is lower-case.
 */
#ifndef XE_DOMAIN_H
#define XE_DOMAIN_H

#include <stddef.h>

#define DOMAIN_NAME_MAX 253

/* Writes the canonical (lower-case, no trailing dot) form of the len bytes
 * at name into out (cap >= DOMAIN_NAME_MAX + 1).  Returns -1 with a reason
 * on a bad name. */
int domain_canonicalize(const char *name, size_t len, char *out, size_t cap,
    char *err, size_t errlen);

#endif
