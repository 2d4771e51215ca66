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
 * Stanzas wait in a bounded queue until the stream is authenticated; when
 * the stream fails they are bounced to their senders.
 */
#ifndef XE_S2S_OUT_H
#define XE_S2S_OUT_H

#include <stddef.h>

#include "edge.h"
#include "router.h"

enum s2s_out_kind {
	S2S_OUT_REMOTE,
	S2S_OUT_GATEWAY,
};

/* The stream for (kind, local, remote) that can still take stanzas, or
 * NULL. */
struct s2s_out *s2s_out_find(struct edge *edge, enum s2s_out_kind kind,
    const char *local, const char *remote);
/* Starts a stream; NULL with a reason (and the stanza condition to bounce
 * with) when it cannot even be started. */
struct s2s_out *s2s_out_start(struct edge *edge, enum s2s_out_kind kind,
    const char *local, const char *remote, const char **condition,
    char *err, size_t errlen);
/* Queues one standalone stanza (copied).  0, 1 when the sender should
 * pause (the queue is over limits.route_queue_bytes), -1 when the queue
 * is at its hard bound (twice that) and the stanza was not taken. */
int s2s_out_enqueue(struct s2s_out *o, const char *data, size_t len);
/* Registers w to be resumed when o drains (or ends). */
void s2s_out_add_waiter(struct s2s_out *o, struct route_waiter *w);

int s2s_out_is_established(const struct s2s_out *o);
/* Graceful shutdown: queued stanzas are bounced, the stream is closed. */
void s2s_out_shutdown(struct s2s_out *o);
/* Closes without a word (shutdown deadline). */
void s2s_out_abort(struct s2s_out *o);
struct s2s_out *s2s_out_next(const struct s2s_out *o);

/* Streams, of either kind, with this remote domain's partner entry
 * (connection limits). */
size_t s2s_out_count_partner(struct edge *edge, const struct config_partner *p);

#endif
