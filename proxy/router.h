/* SPDX-License-Identifier: Apache-2.0 */
/*
 * router.h - where a stanza goes, and what happens when it cannot.
 *
 * xmpp-edge has two sides and routes between them only:
 *   - a stanza from an authenticated remote domain (an inbound external
 *     stream) to one of our hosted domains goes to the internal gateway,
 *     over an outgoing stream on which xmpp-edge speaks for that remote
 *     domain (s2s_out.c, kind S2S_OUT_GATEWAY);
 *   - a stanza from the gateway (a hosted domain) to a remote domain goes
 *     out over a stream xmpp-edge opens to that domain (S2S_OUT_REMOTE).
 * Anything that cannot be delivered goes back to its sender as an error
 * stanza (RFC 6120 §8.3), routed the same way; errors are never answered
 * with errors (§8.3.1), they are logged and counted.
 */
#ifndef XE_ROUTER_H
#define XE_ROUTER_H

#include <stddef.h>

#include "edge.h"
#include "sm.h"
#include "stanza_error.h"
#include "xmlstream.h"

/* A source stream that can stop reading while a destination is full
 * (backpressure): embedded in the source, linked into the destination's
 * waiter list, and resumed when the destination has drained. */
struct route_slot;
struct route_waiter {
	struct route_waiter *next, *prev;
	struct route_slot *on;		/* the destination waited for, or NULL */
	void (*resume)(struct route_waiter *w);
};

/*
 * The routing table: where stanzas for a (kind, local, remote) domain
 * pair go.  A destination embeds a slot, lists it while it takes new
 * stanzas and takes it out when it fails or closes, so the next stanza
 * starts a new stream.  Destinations are outgoing streams (s2s_out.c) and
 * the authenticated pairs of an inbound stream on which the partner
 * negotiated XEP-0288 (s2s_in_bidi.c): that stream carries our stanzas
 * for the pair back.  Sources paused by a full destination wait on its
 * slot (backpressure) and are resumed when it drains or goes.  The table
 * is a hash of EDGE_ROUTE_BUCKETS chains in struct edge: every stanza is
 * routed through one lookup, which must not grow with the number of
 * streams.  When two destinations serve one pair (our outgoing stream and
 * the partner's bidirectional one), the first that became ready (an
 * established stream) takes the stanzas and the other stands by until it
 * goes: a switch in the middle of a conversation could reorder them, and
 * a stream still connecting (to a partner behind a firewall, say) must
 * not hold stanzas a working stream could carry.  With none ready, the
 * first listed takes them (its queue waits for it).
 */
struct route_slot;
/* Takes one standalone stanza (copied): 0, 1 when the sender should
 * pause (the destination is over its queue limit), -1 when it was not
 * taken (the router bounces it).  tag: its source's custody (XEP-0198,
 * sm.h; NULL or slot 0 for none): the destination settles it once the
 * next hop acknowledged it or it was handed to TCP toward a peer without
 * stream management.  bounce: the stanza is a bounce (router.c), which
 * a queue takes past its cap (issue 21: a bounce is never dropped for a
 * full queue; see "Bounces and the queue bound" below). */
typedef int route_enqueue_fn(struct route_slot *r, const char *data, size_t len,
    const struct sm_tag *tag, int bounce);

struct route_slot {
	struct route_slot *next;	/* its bucket's chain */
	int kind;			/* enum s2s_out_kind */
	const char *local, *remote;	/* the owner's, stable while listed */
	int listed;
	int ready;			/* the owner is established (router_slot_ready) */
	route_enqueue_fn *enqueue;	/* the owner's */
	struct route_waiter waiters;	/* list head (sentinel) */
};

void router_slot_init(struct route_slot *r, int kind, const char *local, const char *remote,
    route_enqueue_fn *enqueue);
/* Lists r behind any slot already listed for its pair. */
void router_table_add(struct edge *edge, struct route_slot *r);
/* r's owner is established: r moves to the end of its chain, so among
 * the ready slots of a pair the first to become ready keeps the stanzas. */
void router_slot_ready(struct edge *edge, struct route_slot *r);
/* Takes r out of the table (idempotent): new stanzas go elsewhere. */
void router_table_remove(struct edge *edge, struct route_slot *r);
struct route_slot *router_table_find(struct edge *edge, int kind, const char *local,
    const char *remote);
/* Registers w to be resumed when r drains (or goes). */
void router_waiter_add(struct route_slot *r, struct route_waiter *w);
/* Resumes every source waiting on r. */
void router_wake_waiters(struct route_slot *r);

enum route_result {
	ROUTE_QUEUED,		/* on its way */
	ROUTE_QUEUED_PAUSE,	/* on its way; the source should stop reading */
	ROUTE_BOUNCED,		/* not deliverable; an error went back (or, for an
				 * error stanza, none may: logged and counted) */
	ROUTE_BOUNCED_PAUSE,	/* bounced; the bounce's queue is over its limit:
				 * the source should stop reading */
	ROUTE_LOST,		/* not deliverable and its bounce could not be
				 * queued (no way back, out of memory): its
				 * custody is kept (s2s_in_custody_keep) */
};

/* What became of one bounce. */
enum route_bounce {
	ROUTE_BOUNCE_QUEUED,	/* on its way back */
	ROUTE_BOUNCE_PAUSE,	/* on its way; its queue is over limits.route_queue_bytes */
	ROUTE_BOUNCE_NONE,	/* nothing may be sent: an error stanza (RFC 6120
				 * §8.3.1), logged (route.error_not_bounced) and counted */
	ROUTE_BOUNCE_LOST,	/* could not be queued: logged (route.bounce_undeliverable,
				 * route.bounce_failed) */
};

/*
 * Bounces and the queue bound (issue 21).  A bounce is never refused for
 * a full queue: a queue takes stanzas up to twice limits.route_queue_bytes
 * (its senders pause past once) and bounces past that.  Bounces stay
 * bounded because each stanza the edge read is bounced at most once (a
 * bounce is of type 'error', never bounced again), a bounce is at most
 * BOUNCE_MAX bytes (bounce.h; in practice its stanza's 'to', 'from' and
 * 'id' plus the <error/> and its text, under 2 KiB), and the stanzas
 * bounces are made of stop coming: once a bounce takes a queue back to
 * domain X past limits.route_queue_bytes, every stream that sends from X
 * is paused until that queue is down to half (s2s_in_pause_senders; a
 * stanza refused when routed pauses its own source the same way,
 * ROUTE_BOUNCED_PAUSE).  What is left to come are the bounces of X's
 * stanzas already taken: those of the read in progress of each of X's
 * streams (one read buffer, 64 KiB, edge.h) and those held in other
 * queues (each at most twice limits.route_queue_bytes).  README ("No
 * stanza lost") gives the resulting worst case.
 */

/*
 * Routes the top-level element ev of stream xs, already checked to be a
 * stanza from the domain from_domain to the domain to_domain (both
 * canonical).  waiter: the source's, registered with the destination when
 * the answer is ROUTE_QUEUED_PAUSE (may be NULL).
 */
enum route_result router_route(struct edge *edge, const struct xmlstream *xs,
    const struct xmlstream_event *ev, const char *from_domain, const char *to_domain,
    struct route_waiter *waiter);

/* The same with a custody tag (sm.h; NULL: none): the destination
 * settles the stanza by it (s2s_in_custody_settle) once its next hop
 * acknowledged it, it was handed to TCP toward a peer without XEP-0198,
 * or its bounce was (the bounce carries the tag on: router_bounce_bytes).
 * The caller settles nothing whatever the answer: a ROUTE_BOUNCED (or
 * _PAUSE) stanza's custody went on with its bounce, or was settled (an
 * error stanza), a ROUTE_LOST one was kept (s2s_in_custody_keep). */
enum route_result router_route_tagged(struct edge *edge, const struct xmlstream *xs,
    const struct xmlstream_event *ev, const char *from_domain, const char *to_domain,
    struct route_waiter *waiter, const struct sm_tag *tag);

/* Stanzas the edge holds for their next hop: queued on an outgoing
 * stream, or written toward a peer with XEP-0198 and not acknowledged
 * yet.  Neither those handed to TCP toward a peer without it
 * (unconfirmed) nor bounced ones.  What a graceful drain waits for. */
size_t router_in_flight(const struct edge *edge);

/* Routes a bounce held as standalone bytes (queued past the cap, see
 * above).  waiter: the source to pause when the bounce's queue is over
 * its limit (may be NULL); tag: the custody the bounce carries (sm.h).
 * ROUTE_QUEUED, ROUTE_QUEUED_PAUSE, or ROUTE_LOST (logged and counted:
 * no way back, out of memory). */
enum route_result router_route_bytes(struct edge *edge, const char *data, size_t len,
    const char *from_domain, const char *to_domain, struct route_waiter *waiter,
    const struct sm_tag *tag);

/*
 * Bounces the stanza held as standalone bytes (a complete element, as
 * s2s_out queues them) with condition (RFC 6120 §8.3.3, its type from
 * stanza_error.c); text may be NULL.  tag (NULL: none) is the stanza's
 * custody (sm.h), and this call disposes of it: the bounce carries it on
 * (settled when the bounce is), an error stanza is settled (nothing may
 * be sent back), and a stanza that could be neither delivered nor
 * bounced -- also a bounce that cannot be delivered -- is kept unsettled
 * (s2s_in_custody_keep; the answer is then ROUTE_BOUNCE_LOST).  The
 * caller never settles a bounced stanza itself.
 */
enum route_bounce router_bounce_bytes(struct edge *edge, const char *data, size_t len,
    enum stanza_error condition, const char *text, const struct sm_tag *tag);

/* Bounces an element event (the same answers and custody). */
enum route_bounce router_bounce_event(struct edge *edge, const struct xmlstream_event *ev,
    enum stanza_error condition, const char *text, const struct sm_tag *tag);

/*
 * Stanzas the router has taken and not yet passed on: queued on an
 * outgoing stream, waiting for the stream to come up or for room on its
 * socket.  A graceful shutdown waits for this to reach 0 (daemon.c) and
 * bounces what is left at its deadline.  (Bounces are counted too: they
 * are stanzas on their way like any other.)
 */
size_t router_in_flight(const struct edge *edge);

/* Removes w from whatever it waits on (the source is closing). */
void route_waiter_cancel(struct route_waiter *w);

/* The domain part of a JID (RFC 7622 §3.2), canonical, into out; -1 if
 * absent or not a domain we could route to. */
int router_jid_domain(const struct xmlstream_str *jid, char *out, size_t cap);
/* The domain part of a JID as written (not canonicalised): 0, or -1
 * when the JID is absent or empty. */
int router_jid_domain_span(const struct xmlstream_str *jid, struct xmlstream_str *d);

/* 1 if domain is one of ours. */
int router_is_hosted(const struct edge *edge, const char *domain);

#endif
