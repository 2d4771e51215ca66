/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_in.h - an inbound XMPP stream accepted on an external listener.
 */
#ifndef XE_S2S_IN_H
#define XE_S2S_IN_H

#include "edge.h"

/* Takes the connection fd that l accepted from peer: it becomes a stream,
 * or is refused (closed, logged) when the limits say so.  fd is owned by
 * this function from the call on, whatever it returns.  Returns -1 only
 * when nothing could be allocated. */
int s2s_in_accept(struct listener *l, int fd, const struct sockaddr *peer);
/* The same over a pipe already made (s2s_conn.h; the memory pipe in unit
 * tests), admission included; the pipe is taken in every case.  0, or -1
 * when out of memory. */
struct s2s_pipe;
int s2s_in_start(struct listener *l, struct s2s_pipe *pipe, const struct sockaddr *peer);
/* The next stream of edge->streams (iteration without exposing the struct). */
struct s2s_in *s2s_in_next(const struct s2s_in *s);
/* Graceful shutdown, step one (DRAIN): an authenticated stream with
 * XEP-0198 takes no more stanzas and, once every stanza it took is
 * settled, gets its last <a h/>, <system-shutdown/> and our close; one
 * without XEP-0198 gets <system-shutdown/> and our close now; both are
 * read on until the peer closes (RFC 6120 §4.4).  Any other stream is
 * closed at once. */
void s2s_in_shutdown_begin(struct s2s_in *s);
/* The BOUNCE step: as s2s_in_shutdown, but a stream still waiting for
 * its custody to settle stays (the bounces settle it). */
void s2s_in_shutdown_unless_settling(struct s2s_in *s);
/* The last step (or the only one): closes, with our last <a h/>
 * (XEP-0198 on: what is settled) and <system-shutdown/> unless they are
 * out already. */
void s2s_in_shutdown(struct s2s_in *s);
/* Custody (s2s_in_sm.c, sm.h): the stanza tagged tag is settled by its
 * destination (acknowledged by the next hop, handed to TCP toward a peer
 * without XEP-0198, or bounced).  A tag whose stream is gone is ignored.
 * Sends nothing: s2s_in_custody_report() does, once a batch is settled. */
struct sm_tag;
void s2s_in_custody_settle(struct edge *edge, const struct sm_tag *tag);
/* The stanza tagged tag could be neither delivered nor bounced (its
 * bounce had no way back): it is never settled, and its stream is ended
 * (by s2s_in_custody_report, with <internal-server-error/>) so that the
 * previous hop, which still holds it unacknowledged (XEP-0198), bounces
 * or resends it.  Without custody (no tag, or the stream is gone) the
 * stanza is lost: counted in stanzas_unbounceable by whoever failed to
 * bounce it.  Sends nothing. */
void s2s_in_custody_keep(struct edge *edge, const struct sm_tag *tag);
/* Backpressure for bounces (router.h, "Bounces and the queue bound"):
 * a queue back to domain r went past its limit with a bounce, so every
 * stream that may send stanzas from domain stops reading until r drains
 * (its waiter moves to r).  Those streams' stanzas are what bounces
 * toward domain are made of, whichever queue they wait in. */
struct route_slot;
void s2s_in_pause_senders(struct edge *edge, struct route_slot *r, const char *domain);
/* Sends the <a h/> the settled batch made due, and resumes the streams
 * custody had paused.  Called by whoever settled, outside its own sends. */
void s2s_in_custody_report(struct edge *edge);
/* Closes at once without a word (shutdown deadline passed). */
void s2s_in_abort(struct s2s_in *s, const char *reason);

#endif
