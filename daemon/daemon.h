/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - `xmpp-edge run` and what acts on the running daemon as a
 * whole (daemon.c): start, reload, drain, shutdown.  The context itself,
 * struct edge, is proxy/edge.h: the sessions below need it too.
 */
#ifndef XE_DAEMON_H
#define XE_DAEMON_H

#include <stddef.h>

#include "edge.h"

/* config_path NULL: the embedded default, in state_dir (NULL: default). */
int edge_run(const char *config_path, const char *state_dir);
/* Reloads configuration and certificates (SIGHUP, `cert rotate`); 0, or
 * -1 with the reason in err and the running configuration kept. */
int edge_reload(struct edge *edge, char *err, size_t errlen);
/* Starts the graceful shutdown (SIGTERM, SIGINT, control "stop"). */
void edge_shutdown(struct edge *edge, const char *why);
/* `xmpp-edge drain`: closes the external listeners, so no new remote
 * server connects, while live streams (both directions) go on and both
 * internal listeners (internal, internal_starttls) stay open for the
 * gateway.  Until the next restart; returns how many listeners were
 * closed (0 when already draining). */
size_t edge_drain(struct edge *edge);

#endif
