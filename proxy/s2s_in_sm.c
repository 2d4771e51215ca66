/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_in_sm.c - XEP-0198 stream management on inbound streams (partners
 * and the gateway), and custody of the stanzas they bring.
 *
 * Our features offer <sm xmlns='urn:xmpp:sm:3'/> (s2s_in.c and
 * s2s_in_auth.c add it; before authentication too, since a dialback
 * stream has no later features: XEP-0198 §3 lets the peer enable it only
 * once authenticated, which s2s_in.c holds to by handling these elements
 * on established streams only).
 *
 *   <enable/>   -> <enabled/>, never with 'resume': xmpp-edge does not
 *                  resume streams (XEP-0198 §5; neither does Prosody on
 *                  s2s), so a resume='true' request gets stream management
 *                  without resumption, as the XEP's <enabled/> without
 *                  'resume' says.  A second <enable/> gets <failed/> with
 *                  <unexpected-request/> (as Prosody answers it).
 *   <r/>        -> <a h/>, h the number of leading settled stanzas.
 *   <a h/>      -> we send stanzas on an inbound stream only when it is
 *                  bidirectional (XEP-0288, s2s_in_bidi.c), and ask no
 *                  acks for them (they are handed to TCP unconfirmed), so
 *                  h may not exceed what we wrote since <enabled/>;
 *                  anything above is <handled-count-too-high/>.
 *   <r/>, <a/> before <enable/>: <unsupported-stanza-type/>.
 *   <resume/>   -> <failed/> with <item-not-found/> (§5: nothing to
 *                  resume).
 *
 * Custody (issue 21, item 2): a stanza counts as handled, for 'h', only
 * once its destination settled it: the next hop acknowledged it with its
 * own XEP-0198, or it went to TCP toward a peer without XEP-0198
 * ("unconfirmed"), or it was bounced.  'h' counts the FIRST n stanzas of
 * the stream (XEP-0198 §4), so a stanza waiting on a slow destination
 * holds back the acks of every stanza behind it, whatever their
 * destination: limits.sm_settle_timeout_ms bounds that wait (s2s_out.c
 * bounces, which settles).  When h moves after the peer asked, an
 * unsolicited <a/> tells it (§4 allows it), so its queue empties without
 * another <r/>.  Settling is by tag (slot, generation, seq), never by
 * pointer: a stream that closed first is simply not found.
 */
#include "s2s_in_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "xmlelem.h"

#define NS_XMPP_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

static int s2s_in_sm_turn_on(struct s2s_in *s, const char *who);

static int
s2s_in_sm_send_ack(struct s2s_in *s)
{
	char h[SM_H_TEXT_MAX], out[64];

	sm_h_format(s->custody.h, h);
	snprintf(out, sizeof(out), "<a xmlns='" SM_NS "' h='%s'/>", h);
	s->custody.h_reported = s->custody.h;
	s->sm_ack_sent_ms = uv_now(s->edge->loop);
	return s2s_in_sendstr(s, out);
}

/*
 * An unsolicited <a h/> (XEP-0198 §4 allows one at any time) once h has
 * moved by limits.sm_ack_every_stanzas since the last one, or the last
 * one is limits.sm_ack_every_ms old (checked when h moves: no timer).
 * It shortens the time the previous hop holds stanzas the edge has
 * already delivered: if the edge dies, those are what it would bounce
 * although they arrived.  The cost is one more small write per batch.
 */
static int
s2s_in_sm_ack_due(const struct s2s_in *s)
{
	const struct config_limits *lim = &s->edge->cfg->limits;
	uint32_t moved = s->custody.h - s->custody.h_reported;	/* mod 2^32 */

	if (moved == 0)
		return 0;
	if (s->sm_ack_owed)
		return 1;
	if (lim->sm_ack_every_stanzas > 0 && moved >= (uint32_t)lim->sm_ack_every_stanzas)
		return 1;
	return lim->sm_ack_every_ms > 0 &&
	    uv_now(s->edge->loop) >= s->sm_ack_sent_ms + (uint64_t)lim->sm_ack_every_ms;
}

static void
s2s_in_sm_failed(struct s2s_in *s, const char *condition)
{
	char out[256];

	snprintf(out, sizeof(out), "<failed xmlns='" SM_NS "'><%s xmlns='" NS_XMPP_STANZAS "'/></failed>",
	    condition);
	(void)s2s_in_sendstr(s, out);
}

static void
s2s_in_sm_enable(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char resume[8];
	int wants_resume = xmlelem_attr(ev, "resume", resume, sizeof(resume)) == 0 &&
	    (strcmp(resume, "true") == 0 || strcmp(resume, "1") == 0);

	if (s->sm_on) {
		s2s_in_sm_failed(s, "unexpected-request");
		return;
	}
	if (s2s_in_sm_turn_on(s, wants_resume ? "peer, resume refused" : "peer") < 0) {
		s2s_in_sm_failed(s, "resource-constraint");
		return;
	}
	/* No 'resume': this stream cannot be resumed (XEP-0198 §5). */
	(void)s2s_in_sendstr(s, "<enabled xmlns='" SM_NS "'/>");
}

/* <a h/>: stanzas go out on an inbound stream only when it is
 * bidirectional; h counts at most those. */
static void
s2s_in_sm_on_ack(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char text[SM_H_TEXT_MAX + 1], out[1024];
	uint32_t h;
	size_t len;

	if (xmlelem_attr(ev, "h", text, sizeof(text)) < 0 || sm_h_parse(text, strlen(text), &h) < 0) {
		s2s_in_fail(s, STREAM_ERR_INVALID_XML, "<a/> without a valid 'h' (XEP-0198 §4)");
		return;
	}
	if (h <= s->sm_h_sent)
		return;
	log_event(LOG_WARN, "s2s_in.sm_bad_ack", "peer", s->peer, "h", text, NULL);
	if (sm_ack_error_write(SM_ACK_TOO_HIGH, h, s->sm_h_sent, out, sizeof(out), &len) == 0) {
		s->edge->stats.stream_errors_sent++;
		(void)s2s_in_send(s, out, len);
	}
	s2s_in_close(s, "handled-count-too-high");
}

/* XEP-0198 on from here (our <enabled/> sent, or theirs read): 0, or -1
 * when the registry is full (the stream goes on without it). */
static int
s2s_in_sm_turn_on(struct s2s_in *s, const char *who)
{
	if (sm_registry_add(&s->edge->sm_registry, s, &s->sm_slot, &s->sm_gen) < 0)
		return -1;
	s->sm_on = 1;
	s->sm_ask_after_ms = 0;
	s->sm_ack_sent_ms = uv_now(s->edge->loop);
	s->edge->stats.sm_streams_in++;
	log_event(LOG_INFO, "s2s_in.sm", "peer", s->peer, "domain",
	    s->authed_domain[0] ? s->authed_domain : NULL, "result", "enabled", "by", who, NULL);
	return 0;
}

int
s2s_in_sm_maybe_ask(struct s2s_in *s)
{
	/* Not while shutting down: a stream told (or about to be told)
	 * <system-shutdown/> starts nothing new. */
	if (s->sm_on || s->sm_asked || s->sm_ask_after_ms == 0 || !s->edge->gateway_sm_answered ||
	    s->drain != S2S_IN_DRAIN_NONE ||
	    uv_now(s->edge->loop) < s->sm_ask_after_ms)
		return 0;
	s->sm_asked = 1;
	s->sm_ask_after_ms = 0;
	log_event(LOG_INFO, "s2s_in.sm_ask", "peer", s->peer, "domain", s->authed_domain, NULL);
	return s2s_in_sendstr(s, "<enable xmlns='" SM_NS "'/>");
}

int
s2s_in_sm_on_element(struct s2s_in *s, const struct xmlstream_event *ev)
{
	if (!xmlstream_str_eq(&ev->ns, SM_NS))
		return -1;
	if (xmlstream_str_eq(&ev->name, "enable")) {
		s2s_in_sm_enable(s, ev);
		return 0;
	}
	if (s->sm_asked && (xmlstream_str_eq(&ev->name, "enabled") || xmlstream_str_eq(&ev->name, "failed"))) {
		/* The answer to our own <enable/>.  <failed/> also when the
		 * gateway's own <enable/> crossed ours (then on already). */
		s->sm_asked = 0;
		if (xmlstream_str_eq(&ev->name, "enabled") && !s->sm_on)
			(void)s2s_in_sm_turn_on(s, "us");
		return 0;
	}
	if (xmlstream_str_eq(&ev->name, "resume")) {
		s2s_in_sm_failed(s, "item-not-found");
		return 0;
	}
	if (!s->sm_on || (!xmlstream_str_eq(&ev->name, "r") && !xmlstream_str_eq(&ev->name, "a"))) {
		s2s_in_fail(s, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, s->sm_on ?
		    "not a XEP-0198 element a receiving server answers" :
		    "stream management is not enabled on this stream (XEP-0198)");
		return 0;
	}
	if (xmlstream_str_eq(&ev->name, "a")) {
		s2s_in_sm_on_ack(s, ev);
		return 0;
	}
	if (s2s_in_sm_send_ack(s) < 0)
		return 0;
	/* What is still in flight is owed an <a/> when it settles. */
	s->sm_ack_owed = sm_custody_in_flight(&s->custody) > 0;
	return 0;
}

int
s2s_in_sm_take(struct s2s_in *s, struct sm_tag *tag)
{
	memset(tag, 0, sizeof(*tag));
	if (!s->sm_on || s->sm_slot == 0)
		return 0;
	if (sm_custody_take(&s->custody, &tag->seq) < 0)
		return -1;
	tag->slot = s->sm_slot;
	tag->gen = s->sm_gen;
	return 0;
}

void
s2s_in_sm_after_route(struct s2s_in *s)
{
	if (!s->sm_on || s->sm_paused || s2s_in_is_closing(s) || !sm_custody_full(&s->custody))
		return;
	/* Stanzas already parsed are still delivered: custody takes up to
	 * twice SM_CUSTODY_MAX (sm.h), far more than one read holds. */
	s->sm_paused = 1;
	s->edge->stats.reads_paused++;
	s2s_conn_read_stop(s->conn);
}

void
s2s_in_sm_detach(struct s2s_in *s)
{
	if (s->sm_slot == 0)
		return;
	sm_registry_remove(&s->edge->sm_registry, s->sm_slot);
	s->sm_slot = 0;
}

void
s2s_in_sm_free(struct s2s_in *s)
{
	s2s_in_sm_detach(s);
	sm_custody_free(&s->custody);
}

void
s2s_in_custody_settle(struct edge *edge, const struct sm_tag *tag)
{
	struct s2s_in *s;

	if (tag == NULL || tag->slot == 0)
		return;
	s = sm_registry_get(&edge->sm_registry, tag->slot, tag->gen);
	if (s == NULL)
		return;	/* the source stream closed first */
	if (sm_custody_settle(&s->custody, tag->seq) > 0)
		sm_registry_mark(&edge->sm_registry, tag->slot);
}

void
s2s_in_custody_keep(struct edge *edge, const struct sm_tag *tag)
{
	struct s2s_in *s;

	if (tag == NULL || tag->slot == 0)
		return;
	s = sm_registry_get(&edge->sm_registry, tag->slot, tag->gen);
	if (s == NULL)
		return;	/* the source stream closed first: it acked nothing past h */
	edge->stats.stanzas_custody_kept++;
	log_event(LOG_WARN, "s2s_in.custody_kept", "peer", s->peer, "domain", s->authed_domain,
	    "reason", "a stanza could be neither delivered nor bounced", NULL);
	s->sm_custody_lost = 1;
	sm_registry_mark(&edge->sm_registry, tag->slot);
}

void
s2s_in_custody_report(struct edge *edge)
{
	struct s2s_in *s;

	while ((s = sm_registry_next_pending(&edge->sm_registry)) != NULL) {
		if (s2s_in_is_closing(s))
			continue;
		if (s->sm_custody_lost) {
			/* h can never pass that stanza: every ack behind it
			 * would wait forever.  The stream ends instead, and
			 * the peer, which holds all we did not acknowledge,
			 * bounces or resends them (XEP-0198 §4; Prosody does
			 * either).  Stanzas of this stream still in flight
			 * may then arrive and come back bounced too. */
			s2s_in_fail(s, STREAM_ERR_INTERNAL_SERVER_ERROR,
			    "a stanza could be neither delivered nor bounced; it is left unacknowledged");
			continue;
		}
		if (s->drain == S2S_IN_DRAIN_SETTLING && sm_custody_in_flight(&s->custody) == 0) {
			/* Shutting down and every stanza it took is settled:
			 * the last <a h/> covers them all, then goodbye. */
			(void)s2s_in_drain_tell(s);
			continue;
		}
		if (s2s_in_sm_ack_due(s)) {
			if (s2s_in_sm_send_ack(s) < 0)
				continue;	/* closing now */
			/* Still owed to an <r/> while it could not count all. */
			s->sm_ack_owed = s->sm_ack_owed && sm_custody_in_flight(&s->custody) > 0;
		}
		if (s->sm_paused && !sm_custody_full(&s->custody)) {
			s->sm_paused = 0;
			s2s_in_read_resume(s);
		}
	}
}

/* --- graceful shutdown ------------------------------------------------------- */

int
s2s_in_sm_drain_begin(struct s2s_in *s)
{
	char n[24];

	if (!s->sm_on || s->sm_slot == 0)
		return -1;
	s->drain = S2S_IN_DRAIN_SETTLING;
	snprintf(n, sizeof(n), "%zu", sm_custody_in_flight(&s->custody));
	log_event(LOG_INFO, "s2s_in.drain_settling", "peer", s->peer, "domain", s->remote_domain,
	    "in_custody", n, NULL);
	/* Whatever held reading for routing holds nothing now: what is read
	 * is not taken.  A rate limit still holds it (its own timer). */
	route_waiter_cancel(&s->waiter);
	s->sm_paused = 0;
	s2s_in_read_resume(s);
	if (!s2s_in_is_closing(s) && sm_custody_in_flight(&s->custody) == 0)
		(void)s2s_in_drain_tell(s);
	return 0;
}

int
s2s_in_sm_drain_refuses(struct s2s_in *s)
{
	/* Without XEP-0198 nobody but us holds the stanza: it is routed.
	 * With it (also on a gateway stream whose <enabled/> to our
	 * <enable/> came after our goodbye), the peer keeps it until an
	 * <a h/> counts it, which none will now: it bounces or resends the
	 * stanza itself, and routing it too could only add a delivery to
	 * that bounce. */
	if (s->drain == S2S_IN_DRAIN_NONE || !s->sm_on)
		return 0;
	s->drain_left++;
	s->edge->stats.shutdown_left_with_peer++;
	return 1;
}
