/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_tlsa.h - the TLSA records to publish for a hosted domain's
 * certificate and its staged successor (cert_tlsa.c has the rules).
 */
#ifndef XE_CERT_TLSA_H
#define XE_CERT_TLSA_H

#include <stdio.h>

#include <yajl/yajl_gen.h>

#include "config.h"

/* "  tlsa:       _5269._tcp.DOMAIN. IN TLSA 3 1 1 HEX" per external
 * listener port, then "  tlsa next:  ..." for CERT.next if staged. */
void cert_tlsa_print(FILE *out, const struct config *cfg, const char *domain, const char *cert_path);
/* The same as two JSON members of the open map: "tlsa" and "tlsa_next"
 * (arrays of record lines, empty when none). */
void cert_tlsa_gen(yajl_gen g, const struct config *cfg, const char *domain, const char *cert_path);

#endif
