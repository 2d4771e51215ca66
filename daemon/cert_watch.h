/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_watch.h - reload when the certificate files change on disk
 * (tls.watch_files), for certificates renewed by an external tool (ACME
 * clients, Kubernetes secrets).  See cert_watch.c.
 */
#ifndef XE_CERT_WATCH_H
#define XE_CERT_WATCH_H

#include <stddef.h>

#include "config.h"

struct edge;

/* Quiet time after the last change before the reload: a certificate and
 * its key written one after the other are loaded together. */
#define CERT_WATCH_DEBOUNCE_MS	 2000
/* One watch per distinct directory of the files a configuration names:
 * each domain's cert and key, tls.ca_file, gateway.cert and gateway.key. */
#define CERT_WATCH_DIRS_MAX	 (2 * CONFIG_MAX_DOMAINS + 4)

/*
 * Makes the watches match edge->cfg: none when tls.watch_files is false,
 * else one per directory of the configured certificate, key and CA files
 * (directories no longer named are dropped, new ones added, one replaced
 * on disk watched again).  Called at start and after every reload.  A
 * directory that cannot be watched is logged (cert_watch.error) and
 * skipped; the daemon goes on.
 */
void cert_watch_apply(struct edge *edge);
/* Closes every watch and the debounce timer (shutdown); the memory is
 * freed by the close callbacks, so the loop must run once more. */
void cert_watch_stop(struct edge *edge);

/*
 * Splits path into its directory (into dir, "." for a bare name, "/" for
 * a file at the root) and returns its last component (a pointer into
 * path); NULL when dir is too small or the path ends in '/'.
 */
const char *cert_watch_split(const char *path, char *dir, size_t dircap);

#endif
