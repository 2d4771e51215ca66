/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_in_bidi.c - XEP-0288 on an inbound stream: the partner's stream
 * also carries our stanzas back.
 *
 * The receiving server's side (we accepted the stream):
 *   - the authentication features offer <bidi xmlns='urn:xmpp:features:bidi'/>
 *     when the partner's policy has `bidi` (s2s_in_auth.c asks
 *     s2s_in_bidi_offered); never to the gateway, whose link has its own
 *     streams both ways;
 *   - <bidi xmlns='urn:xmpp:bidi'/> is accepted once, after TLS when TLS
 *     is used (XEP-0288 §2.1) and before any pair is authenticated
 *     (§2.2: "before either SASL negotiation or Server Dialback"); asked
 *     twice, after authentication or when not offered, it is a
 *     <policy-violation/>;
 *   - each pair the stream then authenticates, (remote, local), becomes a
 *     destination in the routing table for local -> remote (§2.2: "in the
 *     case of TLS/SASL ... the value of the stream's 'to' attribute, ...
 *     in the case of Server Dialback ... the inverse of any domain pair
 *     that has been used in a dialback request"): stanzas from the
 *     gateway for the partner go back over this stream instead of a
 *     stream we would dial, so a partner we cannot reach still federates
 *     both ways.  Pairs that are only being checked carry nothing.
 *
 * The stream writes a routed stanza at once; its transport's send queue
 * (limits.send_queue_bytes) is the queue.  Senders pause when it is half
 * full and resume when it drains (router.h waiters); a stanza that would
 * not fit is refused and bounced by the router, never written into a
 * queue that would then close the stream under it.  When the stream
 * closes its slots leave the table at once (the next stanza dials out, or
 * goes to another stream); paused senders are woken when the pairs are
 * freed, from the close callback.
 */
#include "s2s_in_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "s2s_features.h"

/* Kept free in the send queue for the stream's own control messages
 * (dialback answers): a routed stanza never makes one of them overflow. */
#define S2S_IN_BIDI_HEADROOM (4 * S2S_IN_OUT_MAX)

int
s2s_in_bidi_offered(const struct s2s_in *s)
{
	return !s2s_in_is_internal(s) && s->remote_domain[0] != '\0' &&
	    config_policy_for(s->edge->cfg, s->remote_domain)->bidi;
}

/* XEP-0288 §2.2: <bidi xmlns='urn:xmpp:bidi'/> from the initiating
 * server: taken, or the stream fails. */
static void
s2s_in_bidi_on_request(struct s2s_in *s)
{
	const char *refusal = NULL;

	if (!s->bidi_offered)
		refusal = "bidirectional streams were not offered (XEP-0288)";
	else if (s->bidi)
		refusal = "bidi requested twice";
	else if (s->npairs > 0 || s->state != S2S_IN_WAIT_AUTH)
		refusal = "bidi must be requested before authentication (XEP-0288 section 2.2)";
	if (refusal != NULL) {
		log_event(LOG_WARN, "s2s_in.bidi_refused", "peer", s->peer,
		    "domain", s->remote_domain[0] ? s->remote_domain : NULL, "reason", refusal, NULL);
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, refusal);
		return;
	}
	s->bidi = 1;
	log_event(LOG_INFO, "s2s_in.bidi", "peer", s->peer, "domain", s->remote_domain,
	    "tls", s2s_in_tls(s) != NULL ? "yes" : "no", NULL);
}

int
s2s_in_bidi_on_element(struct s2s_in *s, const struct xmlstream_event *ev)
{
	if (!xmlstream_str_eq(&ev->name, "bidi") || !xmlstream_str_eq(&ev->ns, NS_BIDI))
		return -1;
	s2s_in_bidi_on_request(s);
	return 0;
}

void
s2s_in_bidi_tls_started(struct s2s_in *s)
{
	/* XEP-0288 §2.1: TLS comes first; a request made in the clear does
	 * not survive it (the peer asks again inside TLS). */
	s->bidi = 0;
	s->bidi_offered = 0;
}

static struct s2s_in_pair *
s2s_in_bidi_pair_of(struct route_slot *r)
{
	return (struct s2s_in_pair *)((char *)r - offsetof(struct s2s_in_pair, route));
}

/* The routing table's way in (router.h): the stanza is written now.  The
 * edge does not ask for acknowledgements on a partner's stream (it never
 * sends <r/> there), so a stanza written onto it is handed to TCP
 * unconfirmed and settled for its source at once (custody, sm.h). */
static int
s2s_in_bidi_enqueue(struct route_slot *r, const char *data, size_t len,
    const struct sm_tag *tag, int bounce)
{
	struct s2s_in_pair *p = s2s_in_bidi_pair_of(r);
	struct s2s_in *s = p->s;
	size_t max = (size_t)s->edge->cfg->limits.send_queue_bytes;
	struct edge_toward_stats *way;

	if (s2s_in_is_closing(s) || !r->listed)
		return -1;
	/* A bounce is refused here too (the connection's bound is hard: past
	 * it the stream closes): the router counts it as undeliverable and
	 * its source keeps custody (router.h, ROUTE_LOST). */
	(void)bounce;
	if (max < S2S_IN_BIDI_HEADROOM || s2s_conn_queued(s->conn) + len > max - S2S_IN_BIDI_HEADROOM)
		return -1;	/* bounced by the router: resource-constraint */
	if (s2s_in_send(s, data, len) < 0)
		return -1;	/* the stream is closing: bounced */
	s->bidi_stanzas_out++;
	if (s->sm_on)
		s->sm_h_sent++;	/* what the peer's <a h/> may count */
	s->edge->stats.stanzas_delivered++;
	s->edge->stats.bidi_stanzas_out++;
	s->edge->stats.stanzas_unconfirmed++;
	way = &s->edge->stats.toward[s2s_in_is_internal(s) ? EDGE_TOWARD_GATEWAY : EDGE_TOWARD_REMOTE];
	way->delivered++;
	way->unconfirmed++;
	s2s_in_custody_settle(s->edge, tag);
	/* Our stanzas keep the stream in use as much as the peer's. */
	s2s_conn_timer_again(s->conn);
	return s2s_conn_queued(s->conn) > max / 2 ? 1 : 0;
}

void
s2s_in_bidi_pair_valid(struct s2s_in *s, struct s2s_in_pair *p)
{
	/* Not before the stream is established: after SASL <success/> our
	 * next bytes must be the restarted stream's header (RFC 6120
	 * §6.4.6); s2s_in_bidi_established lists the pairs then. */
	if (!s->bidi || s->state != S2S_IN_ESTABLISHED || !p->valid || p->route.listed)
		return;
	/* S2S_OUT_REMOTE: what the router looks up for hosted -> remote. */
	router_slot_init(&p->route, S2S_OUT_REMOTE, p->local, p->remote, s2s_in_bidi_enqueue);
	p->route.ready = 1;	/* authenticated and established: it can take them now */
	router_table_add(s->edge, &p->route);
	log_event(LOG_INFO, "s2s_in.bidi_route", "peer", s->peer, "local", p->local,
	    "remote", p->remote, NULL);
}

void
s2s_in_bidi_established(struct s2s_in *s)
{
	struct s2s_in_pair *p;

	for (p = s->pairs; p != NULL; p = p->next)
		s2s_in_bidi_pair_valid(s, p);
}

void
s2s_in_bidi_on_written(void *ud)
{
	struct s2s_in *s = ud;
	struct s2s_in_pair *p;

	if (!s->bidi || s2s_in_is_closing(s) ||
	    s2s_conn_queued(s->conn) > (size_t)s->edge->cfg->limits.send_queue_bytes / 2)
		return;
	for (p = s->pairs; p != NULL; p = p->next)
		if (p->route.listed)
			router_wake_waiters(&p->route);
}

void
s2s_in_bidi_detach(struct s2s_in *s)
{
	struct s2s_in_pair *p;

	for (p = s->pairs; p != NULL; p = p->next)
		router_table_remove(s->edge, &p->route);
}

void
s2s_in_bidi_pair_free(struct s2s_in *s, struct s2s_in_pair *p)
{
	router_table_remove(s->edge, &p->route);
	/* Not inside a send (the pair goes from a callback of the loop):
	 * the paused senders route their next stanza elsewhere. */
	if (p->route.waiters.next != NULL)
		router_wake_waiters(&p->route);
}
