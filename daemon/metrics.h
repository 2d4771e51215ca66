/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - counters from log events, and the Prometheus endpoint.
 *
 *   metrics_observe_install  counts the events operators already alert on
 *                            (auth results, TLS handshakes, dialback checks)
 *                            and notes stream start times (stream_info.c)
 *   metrics_open / _close    the loopback HTTP/1.1 endpoint of
 *                            metrics.listen (GET /metrics only)
 *   metrics_render           the text exposition format 0.0.4
 */
#ifndef XE_METRICS_H
#define XE_METRICS_H

#include <stddef.h>

#include "edge.h"

/* Makes edge the log observer's context (log.h); from daemon start. */
void metrics_observe_install(struct edge *edge);
void metrics_observe_remove(void);

/* Listens on cfg->metrics.listen (nothing when empty); -1 with
 * "metrics.listen: cannot listen on ADDR: reason" in err. */
int metrics_open(struct edge *edge, char *err, size_t errlen);
/* Stops listening and drops the clients being answered. */
void metrics_close(struct edge *edge);
/* The endpoint's listening socket, or -1 (an upgrade passes it on). */
int metrics_listen_fd(const struct edge *edge);

/* The whole exposition as one heap string (the caller frees it); NULL
 * when out of memory.  *len is its length. */
char *metrics_render(struct edge *edge, size_t *len);

#endif
