/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handover.h - `xmpp-edge upgrade` (and SIGUSR2): the running daemon
 * starts the binary on disk as a new process that inherits its listening
 * sockets, and hands over once that process is ready (handover.c).
 *
 * The old side: handover_start, handover_cancel, handover_close.
 * The new side: handover_inherit_begin at start, handover_take_tcp /
 * handover_take_unix where each socket would be bound, handover_inherit_end
 * once all are open, handover_report_ready when ready.
 */
#ifndef XE_HANDOVER_H
#define XE_HANDOVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "edge.h"

/* The environment variable that carries the inherited descriptors. */
#define HANDOVER_ENV "XMPP_EDGE_HANDOVER"
/* How long the new process has to report ready before the upgrade is
 * called off (the old one never stopped serving). */
#define HANDOVER_READY_TIMEOUT_MS 30000

/* --- the new process ------------------------------------------------------ */

/* Reads (and removes) HANDOVER_ENV: the descriptors the old process
 * passed, by name.  Also remembers this process's executable for a later
 * upgrade.  0, or -1 with err when the variable is malformed. */
int handover_inherit_begin(char *err, size_t errlen);
/* The inherited listening TCP socket named "KIND ADDR" (for example
 * "starttls 0.0.0.0:5269"), if it really is one listening on want;
 * else -1 (bind a new one).  Taken: the caller owns the descriptor. */
int handover_take_tcp(const char *kind, const char *addr, const struct sockaddr_storage *want);
/* The same for the control socket, a unix socket listening on path. */
int handover_take_unix(const char *name, const char *path);
/* Closes whatever was inherited and not taken (a listener the new
 * configuration no longer has). */
void handover_inherit_end(void);
/* 1 when this process was started by an upgrade. */
int handover_inherited(void);
/* Ready: tells the old process (which then drains and exits) and the
 * service manager ("MAINPID=" and "READY=1"), so that systemd and the
 * appliance's init supervise this process from now on. */
void handover_report_ready(void);

/* --- the old process ------------------------------------------------------- */

/* Starts the new process; 0 with its pid in *pid, or -1 with err (one
 * is already starting, the daemon is shutting down, spawn failed). */
int handover_start(struct edge *edge, int *pid, char *err, size_t errlen);
/* The shutdown began on its own: a new process still starting is
 * stopped (SIGTERM), so nothing is left running. */
void handover_cancel(struct edge *edge);
/* Closes the handles (shutdown's end). */
void handover_close(struct edge *edge);
/* For `status`: "", "starting", "ready", or "failed: why". */
const char *handover_state(const struct edge *edge);

#endif
