/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener.h - the listening sockets (listener.c).  struct listener and
 * its kinds are in proxy/edge.h, since a stream asks which kind of
 * listener accepted it.
 */
#ifndef XE_LISTENER_H
#define XE_LISTENER_H

#include <stddef.h>

#include "edge.h"

int listener_open_all(struct edge *edge, char *err, size_t errlen);
/* Stops accepting on every listener (shutdown, or the old process of an
 * upgrade); the structs stay until listener_free_drained. */
void listener_close_all(struct edge *edge);
/* Closes the external listeners (starttls, direct_tls) only: `drain`.
 * Both internal kinds (internal, internal_starttls) stay open for the
 * gateway.  Returns how many were closed. */
size_t listener_close_external(struct edge *edge);
/* Frees the listeners drain closed (after the loop has run empty). */
void listener_free_drained(struct edge *edge);

#endif
