/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_out_bidi.h - XEP-0288 on a stream xmpp-edge opened: the receiving
 * server's stanzas, accepted only from the pairs authenticated in their
 * direction (see s2s_out_bidi.c).
 */
#ifndef XE_S2S_OUT_BIDI_H
#define XE_S2S_OUT_BIDI_H

#include <stdint.h>

#include "edge.h"
#include "router.h"
#include "stream_error.h"
#include "xmlstream.h"

/* Domains the receiving server may speak for on one of our streams: its
 * own, and the ones it proved by dialback on it. */
#define S2S_OUT_BIDI_PAIRS_MAX 8

/* (remote -> local) the receiving server may send on our stream. */
struct s2s_out_bidi_pair {
	char remote[CONFIG_DOMAIN_MAX];
	const char *method;		/* "reverse-certificate" (static) */
};

/* Embedded in struct s2s_out; all zero is "not negotiated". */
struct s2s_out_bidi {
	struct edge *edge;
	const char *local;		/* the stream's: the only 'to' domain */
	int requested;			/* <bidi xmlns='urn:xmpp:bidi'/> sent */
	/* S2S_OUT_BIDI_PAIRS_MAX entries, allocated with the first pair and
	 * freed by s2s_out_bidi_reset: most streams never negotiate bidi,
	 * and 2 KiB of names in every idle outgoing stream was 40 % of its
	 * struct (issue 18, memory per idle stream). */
	struct s2s_out_bidi_pair *pairs;
	size_t npairs;
	struct route_waiter waiter;	/* paused by a full destination */
	uint64_t stanzas_in, routed;
};

enum s2s_out_bidi_verdict {
	S2S_OUT_BIDI_ROUTED,		/* on its way (or bounced by the router) */
	S2S_OUT_BIDI_PAUSE,		/* ... and the stream should stop reading */
	S2S_OUT_BIDI_REFUSED,		/* a stream error: *cond, *text */
};

/* local: the stream's own domain (stable for its life); resume: called
 * when a paused stream may read again. */
void s2s_out_bidi_init(struct s2s_out_bidi *b, struct edge *edge, const char *local,
    void (*resume)(struct route_waiter *w));
/* Whether to send <bidi/> now: the partner's policy allows it, the
 * receiving server offered it, TLS is up and its certificate is valid
 * for remote (pkix_ok: PKIX or DANE).  Without that certificate nothing
 * would authenticate the receiving server for its own domain, and a peer
 * that sends right away (Prosody does) would only be refused. */
int s2s_out_bidi_wanted(const struct s2s_out_bidi *b, const char *remote, int offered,
    int pkix_ok);
/* remote -> local is authenticated (method: static string).  -1 (logged)
 * when the policy refuses the domain or the table is full. */
int s2s_out_bidi_authenticate(struct s2s_out_bidi *b, const char *remote, const char *method);
/* The stanza ev (a message, presence or iq) of the stream xs: checked
 * like a stanza on an inbound stream and routed, or refused. */
enum s2s_out_bidi_verdict s2s_out_bidi_on_stanza(struct s2s_out_bidi *b,
    const struct xmlstream *xs, const struct xmlstream_event *ev,
    enum stream_error_cond *cond, const char **text);
/* The stream failed or closed (or tries another target): nothing
 * negotiated stays, the waiter is cancelled. */
void s2s_out_bidi_reset(struct s2s_out_bidi *b);
/* Heap bytes the negotiation holds beyond the struct (the pairs). */
size_t s2s_out_bidi_memory(const struct s2s_out_bidi *b);

#endif
