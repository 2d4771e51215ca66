/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_out.h - outgoing server-to-server streams (RFC 6120 as the
 * initiating entity), created on demand per (local, remote) domain pair.
 *
 *   S2S_OUT_REMOTE   to a remote domain on the internet: DNS (SRV, or the
 *                    partner's static connect target), STARTTLS or Direct
 *                    TLS, the peer certificate checked (RFC 6125), SASL
 *                    EXTERNAL when offered and allowed, else Server Dialback
 *                    with XEP-0185 keys;
 *   S2S_OUT_GATEWAY  to the internal gateway, speaking for a remote domain
 *                    that authenticated with us: Direct TLS with our client
 *                    certificate, the gateway's key pinned, then dialback
 *                    (the gateway asks us back over the internal listener).
 *
 *   S2S_OUT_VERIFY   the Receiving Server's question of XEP-0220: a
 *                    remote server claimed a domain with a dialback key; the
 *                    same kind of stream to that domain's authoritative
 *                    server asks with <db:verify/>, reports the answer and
 *                    closes.  It carries no stanzas.
 *
 * Stanzas wait in a bounded queue until the stream is authenticated; when
 * the stream fails they are bounced to their senders.
 */
#ifndef XE_S2S_OUT_H
#define XE_S2S_OUT_H

#include <stddef.h>

#include "dialback.h"
#include "dns.h"
#include "edge.h"
#include "router.h"


enum s2s_out_kind {
	S2S_OUT_REMOTE,
	S2S_OUT_GATEWAY,
	S2S_OUT_VERIFY,		/* one question to an authoritative server */
};


/* The stream a routing-table slot belongs to (router.c finds slots). */
struct s2s_out *s2s_out_of_route(struct route_slot *r);
struct route_slot *s2s_out_route(struct s2s_out *o);
/* Starts a stream; NULL with a reason (and the stanza condition to bounce
 * with) when it cannot even be started. */
struct s2s_out *s2s_out_start(struct edge *edge, enum s2s_out_kind kind,
    const char *local, const char *remote, const char **condition,
    char *err, size_t errlen);
/* Queues one standalone stanza (copied).  0, 1 when the sender should
 * pause (the queue is over limits.route_queue_bytes), -1 when the queue
 * is at its hard bound (twice that) and the stanza was not taken. */
int s2s_out_enqueue(struct s2s_out *o, const char *data, size_t len);
/* The same with the custody tag of its source (sm.h; NULL: none). */
int s2s_out_enqueue_tagged(struct s2s_out *o, const char *data, size_t len,
    const struct sm_tag *tag);
/* Stanzas o holds: queued, or written and not acknowledged (router.h,
 * router_in_flight). */
size_t s2s_out_in_flight(const struct s2s_out *o);

int s2s_out_is_established(const struct s2s_out *o);
/* Starts the check of key for the stream stream_id that remote opened to
 * local.  cb runs exactly once, from the loop, unless cancelled.  NULL
 * (with err) when the key or id are not plain tokens, or nothing could
 * be started. */
struct s2s_out *s2s_out_verify_start(struct edge *edge, const char *local,
    const char *remote, const char *stream_id, const char *key,
    dialback_verify_cb cb, void *arg, char *err, size_t errlen);
/* No callback after this; the stream closes. */
void s2s_out_verify_cancel(struct s2s_out *o);

/* Shutdown begins (DRAIN): with XEP-0198 on, written stanzas are asked
 * for (<r/>) now and after every write from here on, so that what the
 * peer has is acknowledged rather than bounced. */
void s2s_out_shutdown_begin(struct s2s_out *o);
/* Graceful close: what is queued is written as far as the send queue
 * takes it; with XEP-0198 on and stanzas unacknowledged, the first call
 * asks for an <a h/> and the stream closes when it covers them; otherwise
 * (and at the second call) the stream is closed and the close bounces
 * what is left. */
void s2s_out_shutdown(struct s2s_out *o);
/* Closes without a word (shutdown deadline). */
void s2s_out_abort(struct s2s_out *o);
/* Stanzas queued on o that the router handed over and that are not
 * written yet (waiting for the stream to come up, or for the socket). */
size_t s2s_out_queued_stanzas(const struct s2s_out *o);
/* Shutdown deadline: bounces the first max stanzas o has queued (RFC
 * 6120 §8.3.3, the kind's shutdown condition) and leaves the stream open
 * with the rest, so the bounces of other streams, queued behind, can
 * still go out on it.  Returns how many stanzas were bounced. */
size_t s2s_out_bounce_queued(struct s2s_out *o, size_t max);
struct s2s_out *s2s_out_next(const struct s2s_out *o);
/* The configuration or the blocklist was reloaded (edge_reload,
 * blocklist_apply): every stream toward a remote domain whose partner
 * entry no longer allows federation, or that the blocklist now lists,
 * bounces the stanzas it has not written yet (<not-allowed/> with the
 * router's own text for either refusal, router.c), their custody going
 * with their bounces.
 * The streams themselves are left as they are (written stanzas still
 * wait for their acknowledgement; nothing new is routed to them). */
void s2s_out_policy_reloaded(struct edge *edge);
/* Heap bytes the stream's own state holds: its struct, the XEP-0288
 * pairs, the queue's buffer and stanza ring (not its connection: see
 * s2s_conn, tls/ and xmlstream_memory).  Issue 18: what an idle
 * outgoing stream costs. */
size_t s2s_out_memory(const struct s2s_out *o);

/* The edge's own sockets (listeners, metrics endpoint, gateway) in cfg:
 * no DNS answer may send an outgoing stream there (dns/addrpolicy.c;
 * issue 14, finding 3).  From the configuration in force each time: a
 * reload may move the gateway. */
void s2s_out_avoid_own(const struct config *cfg, struct dns_avoid *av);

/* Streams, of either kind, with this remote domain's partner entry
 * (connection limits). */
size_t s2s_out_count_partner(struct edge *edge, const struct config_partner *p);

#endif
