/*
 * s2s_in.h - an inbound XMPP stream accepted on an external listener.
 */
#ifndef XE_S2S_IN_H
#define XE_S2S_IN_H

#include "edge.h"

/* Accepts a pending connection on l; the session owns it from then on.
 * Returns -1 only when nothing could be allocated. */
int s2s_in_accept(struct listener *l);
/* The next stream of edge->streams (iteration without exposing the struct). */
struct s2s_in *s2s_in_next(const struct s2s_in *s);
/* Sends <system-shutdown/> and closes (graceful shutdown). */
void s2s_in_shutdown(struct s2s_in *s);
/* Closes at once without a word (shutdown deadline passed). */
void s2s_in_abort(struct s2s_in *s, const char *reason);

#endif
