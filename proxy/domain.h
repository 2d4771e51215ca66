/*
 * domain.h - validation of DNS domain names used as XMPP domains.
 *
 * RFC 6120 §3.2.1/RFC 7622 §3.2: an XMPP domainpart used for s2s is a DNS
 * name; we accept the LDH form only (IDNs must be given as A-labels),
 * 1..63 octets per label, at most 253 octets, no empty label, one optional
 * trailing dot which is removed.  Comparison is case-insensitive, so the
 * canonical form is lower-case.
 */
#ifndef XE_DOMAIN_H
#define XE_DOMAIN_H

#include <stddef.h>

#define DOMAIN_NAME_MAX 253

/* Writes the canonical (lower-case, no trailing dot) form of name into out
 * (cap >= DOMAIN_NAME_MAX + 1).  Returns -1 with a reason on a bad name. */
int domain_canonicalize(const char *name, size_t len, char *out, size_t cap,
    char *err, size_t errlen);

#endif
