/* SPDX-License-Identifier: Apache-2.0 */
/*
 * probe.h - `xmpp-edge probe DOMAIN`: would federation with DOMAIN work?
 */
#ifndef XE_PROBE_H
#define XE_PROBE_H

#include <stdio.h>

#include "config.h"

/* Connects to DOMAIN as the daemon would (probe.c) from the hosted
 * domain 'from' (NULL: the first of cfg->domains) and reports on out.
 * Returns the exit status: 0 federation would work, 1 it would not,
 * 2 a usage error (from not hosted, DOMAIN not a domain). */
int probe_domain_run(const struct config *cfg, const char *domain, const char *from, FILE *out);

#endif
