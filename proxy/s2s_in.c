/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_in.c - an inbound server-to-server stream (RFC 6120 §4, §5).
 *
 * One struct s2s_in per accepted TCP connection.  The bytes, TLS, the
 * tokenizer, the bounded write queue and closing are the transport's
 * (s2s_conn.c); this file only acts on the tokenizer's events:
 *
 *   S2S_IN_WAIT_HEADER    -> stream header received: check 'to' is hosted
 *                            and 'from' is a domain, answer with our header
 *                            and stream features
 *   S2S_IN_WAIT_STARTTLS  -> <starttls/> (RFC 6120 §5.4.2): <proceed/>
 *   S2S_IN_TLS_HANDSHAKE  -> TLS (STARTTLS, or Direct TLS per XEP-0368 from
 *                            the first byte on a direct_tls listener)
 *   S2S_IN_WAIT_HEADER    -> again, now inside TLS (RFC 6120 §5.4.3.3
 *                            stream restart)
 *   S2S_IN_WAIT_AUTH      -> TLS is up, or the partner's policy makes it
 *                            optional and the peer did not ask for it;
 *                            features offer SASL EXTERNAL (TLS only) and/or
 *                            dialback as the partner's policy allows: the
 *                            negotiation itself is s2s_in_auth.c's
 *   S2S_IN_WAIT_DIALBACK  -> <db:result/> received; its key is being checked
 *                            with the authoritative server (s2s_out.c)
 *   S2S_IN_ESTABLISHED    -> the remote domain is authenticated; when the
 *                            partner asked for XEP-0288 before authenticating,
 *                            its pairs also take our stanzas back
 *                            (s2s_in_bidi.c)
 *   S2S_IN_GATEWAY_OPEN   -> internal listener only: the gateway, known by
 *                            its pinned key, has opened its stream
 *   S2S_IN_CLOSING        -> the transport flushes our last bytes and closes
 *   S2S_IN_CLOSED         -> its handles are closed: freed
 *
 * Streams on the internal listener are the gateway's: mutual TLS from the
 * first byte, accepted only if its key matches a configured SPKI pin; its
 * stream must come from a hosted domain, which SASL EXTERNAL (or a
 * <db:result/>) then grants on the strength of the pin:
 *   S2S_IN_GATEWAY_AUTH   -> header answered, SASL EXTERNAL / dialback offered
 *   S2S_IN_GATEWAY_OPEN   -> the gateway's stanzas flow
 *
 * Stanzas are routed (router.c): from an authenticated remote domain to
 * the gateway, from the gateway to the remote domain.  Each stanza's
 * 'from' must be of a domain pair this stream authenticated and its 'to'
 * the pair's other side (RFC 6120 §8.1.1.1, §8.1.2.1, §13.9.1); anything
 * else is a stream error and is never routed.  A full destination pauses
 * reading (backpressure), never buffers without end.

 * Data pipelined behind <starttls/> is a policy violation, not the start
 * of the handshake (s2s_conn never mixes the bytes before <proceed/> with
 * the ones after).
 *
 * Errors follow RFC 6120 §4.9.1.2: if the peer's header was not answered
 * yet, our header is sent before the <stream:error/>, so the error is
 * well-formed on the wire.  Every way out goes through s2s_in_close() with
 * a reason that is logged.
 *
 * Output is bounded by the transport: bytes queued toward a peer that does
 * not read are counted and the stream is dropped past
 * limits.send_queue_bytes, rather than buffering without end.
 */
#include "s2s_in_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <unistd.h>


#include "blocklist.h"
#include "bounce.h"
#include "domain.h"
#include "log.h"
#include "netaddr.h"
#include "prefix_count.h"
#include "s2s_conn.h"
#include "stream_error.h"
#include "tls.h"
#include "xmlstream.h"

static const char *const s2s_in_state_names[] = {
	[S2S_IN_WAIT_HEADER] = "wait_header",
	[S2S_IN_WAIT_STARTTLS] = "wait_starttls",
	[S2S_IN_TLS_HANDSHAKE] = "tls_handshake",
	[S2S_IN_WAIT_AUTH] = "wait_auth",
	[S2S_IN_WAIT_DIALBACK] = "wait_dialback",
	[S2S_IN_ESTABLISHED] = "established",
	[S2S_IN_GATEWAY_AUTH] = "gateway_auth",
	[S2S_IN_GATEWAY_OPEN] = "gateway_open",
	[S2S_IN_CLOSING] = "closing",
	[S2S_IN_CLOSED] = "closed",
};

static void s2s_in_uncount_prefixes(struct s2s_in *s);

void
s2s_in_enter_state(struct s2s_in *s, enum s2s_in_state next)
{
	if (s2s_in_is_closing(s) && next < S2S_IN_CLOSING) {
		/* A caller used the stream after a send closed it (the rule
		 * in s2s_in_int.h): keep it closing, and say so loudly. */
		log_event(LOG_ERROR, "s2s_in.state_refused", "peer", s->peer,
		    "from", s2s_in_state_names[s->state], "to", s2s_in_state_names[next], NULL);
		return;
	}
	log_event(LOG_DEBUG, "s2s_in.state", "peer", s->peer,
	    "from", s2s_in_state_names[s->state], "to", s2s_in_state_names[next], NULL);
	s->state = next;
	/* limits.max_unauthenticated_streams counts a remote server's stream
	 * until it is authenticated or on its way out. */
	if (s->counted_unauthenticated && (next == S2S_IN_ESTABLISHED ||
	    next == S2S_IN_CLOSING || next == S2S_IN_CLOSED)) {
		s->counted_unauthenticated = 0;
		s->edge->streams_unauthenticated--;
		/* A finished handshake lets the admission window grow
		 * (admission.h); a stream closing does not. */
		if (next == S2S_IN_ESTABLISHED)
			admission_note_done(&s->edge->admission);
	}
}

/* Sends stream bytes (through TLS once it is up).  -1 when the stream is
 * closing after the call: the send may have closed it (send queue full,
 * write or TLS failure; the rule in s2s_in_int.h). */
int
s2s_in_send(struct s2s_in *s, const char *data, size_t len)
{
	/* After our closing tag nothing may follow (RFC 6120 §4.4). */
	if (s2s_in_is_closing(s) || s->drain == S2S_IN_DRAIN_TOLD)
		return -1;
	return s2s_conn_send(s->conn, data, len) < 0 || s2s_in_is_closing(s) ? -1 : 0;
}

int
s2s_in_sendstr(struct s2s_in *s, const char *str)
{
	return s2s_in_send(s, str, strlen(str));
}

/* Our stream header (RFC 6120 §4.7).  'to' echoes the peer's 'from' only
 * when it was a valid domain; 'from' is the hosted domain addressed, or
 * the default one when the peer's 'to' was unusable.  -1 as s2s_in_send. */
static int
s2s_in_send_header(struct s2s_in *s)
{
	char out[S2S_IN_OUT_MAX];
	const char *from = s->local_domain[0] ? s->local_domain : s->edge->cfg->default_domain;
	int n;

	if (s->header_sent)
		return s2s_in_is_closing(s) ? -1 : 0;
	s->header_sent = 1;
	n = snprintf(out, sizeof(out),
	    /* XEP-0220 §2.4.1: xmlns:db announces dialback support. */
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams'%s "
	    "from='%s'%s%s%s id='%s' version='1.0'>",
	    s->edge->cfg->dialback.enabled ? " xmlns:db='" NS_DIALBACK "'" : "",
	    from, s->remote_domain[0] ? " to='" : "", s->remote_domain,
	    s->remote_domain[0] ? "'" : "", s->stream_id);
	if (n <= 0 || (size_t)n >= sizeof(out))
		return -1;	/* domains are bounded: cannot happen */
	return s2s_in_send(s, out, (size_t)n);
}

/* Sends a stream error (after our header if needed) and closes. */
void
s2s_in_fail(struct s2s_in *s, enum stream_error_cond cond, const char *text)
{
	char out[STREAM_ERROR_TEXT_MAX + 512];
	size_t len;

	if (s2s_in_is_closing(s))
		return;
	log_event(LOG_INFO, "s2s_in.stream_error", "peer", s->peer,
	    "condition", stream_error_name(cond), "text", text, NULL);
	/* If the header's send closed the stream, the error is not sent. */
	if (s2s_in_send_header(s) == 0 &&
	    stream_error_write(out, sizeof(out), cond, text, &len) == 0) {
		s->edge->stats.stream_errors_sent++;
		s2s_in_send(s, out, len);
	}
	s2s_in_close(s, stream_error_name(cond));
}

/* Everything s owns but its connection; unlinks and uncounts it. */
static void
s2s_in_free(struct s2s_in *s)
{
	s2s_in_auth_free(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->edge->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->edge->stream_count--;
	/* Counted per prefix until the descriptor is closed, as in
	 * stream_count: what the limits protect is descriptors too. */
	s2s_in_uncount_prefixes(s);
	route_waiter_cancel(&s->waiter);
	ratelimit_stream_release(&s->rate);
	s2s_in_sm_free(s);
	free(s);
}

/* The transport's handles are closed: the one place the stream and
 * everything it owns is freed (the connection frees itself after). */
static void
s2s_in_on_closed(void *ud)
{
	struct s2s_in *s = ud;

	s2s_in_enter_state(s, S2S_IN_CLOSED);
	s2s_in_free(s);
}

/* The connection is closing, whoever asked: logged once, the stream
 * stops routing and checking.  Inside a send maybe: frees nothing. */
static void
s2s_in_on_closing(void *ud, const char *reason, int peer_gone)
{
	struct s2s_in *s = ud;
	char n1[24], n2[24], n3[24];

	(void)peer_gone;
	if (strncmp(reason, "TLS failed: ", 12) == 0)
		log_event(LOG_INFO, "s2s_in.tls_failed", "peer", s->peer, "reason", reason + 12, NULL);
	snprintf(n1, sizeof(n1), "%llu", (unsigned long long)s->stanzas);
	snprintf(n2, sizeof(n2), "%llu", (unsigned long long)s->routed);
	snprintf(n3, sizeof(n3), "%llu", (unsigned long long)s->drain_left);
	log_event(LOG_INFO, "s2s_in.close", "peer", s->peer, "domain",
	    s->remote_domain[0] ? s->remote_domain : NULL, "reason",
	    strncmp(reason, "TLS failed: ", 12) == 0 ? "TLS failed" : reason,
	    "stanzas_in", n1, "routed", n2, "left_with_peer", s->drain_left > 0 ? n3 : NULL, NULL);
	route_waiter_cancel(&s->waiter);
	ratelimit_stream_release(&s->rate);
	s2s_in_auth_detach(s);
	s2s_in_bidi_detach(s);
	s2s_in_sm_detach(s);
	s2s_in_enter_state(s, S2S_IN_CLOSING);
}

/* The one way out: flush what is queued, then close.  reason is logged.
 * A request, not a free: s and its pairs stay valid until the transport's
 * close callback (the rule in s2s_in_int.h), so any sender may end up here. */
void
s2s_in_close(struct s2s_in *s, const char *reason)
{
	if (s2s_in_is_closing(s))
		return;
	s2s_conn_close(s->conn, reason);
}

void
s2s_in_abort(struct s2s_in *s, const char *reason)
{
	if (s->state == S2S_IN_CLOSED)
		return;
	log_event(LOG_INFO, "s2s_in.abort", "peer", s->peer, "reason", reason, NULL);
	s2s_conn_abort(s->conn, reason);
}

struct s2s_in *
s2s_in_next(const struct s2s_in *s)
{
	return s->next;
}

/*
 * Our goodbye to an authenticated stream, in one write: with XEP-0198 on,
 * a last unsolicited <a h/> (XEP-0198 §4 allows one at any time) that
 * counts every stanza settled (delivered and acknowledged by its next hop,
 * or bounced by us), so the peer neither bounces nor resends those; then
 * <system-shutdown/> and </stream:stream>.  After it nothing is sent.
 */
int
s2s_in_drain_tell(struct s2s_in *s)
{
	char out[STREAM_ERROR_TEXT_MAX + 512 + 64], h[SM_H_TEXT_MAX];
	size_t len = 0, elen;
	int n = 0;

	if (s2s_in_is_closing(s) || s->drain == S2S_IN_DRAIN_TOLD)
		return -1;
	if (s->sm_on) {
		sm_h_format(s->custody.h, h);
		n = snprintf(out, sizeof(out), "<a xmlns='" SM_NS "' h='%s'/>", h);
		if (n < 0 || (size_t)n >= sizeof(out))
			return -1;	/* cannot happen: h is at most 10 digits */
		len = (size_t)n;
		s->custody.h_reported = s->custody.h;
	}
	if (stream_error_write(out + len, sizeof(out) - len, STREAM_ERR_SYSTEM_SHUTDOWN, s->sm_on ?
	    "xmpp-edge is shutting down; what the <a h/> before this does not count was not taken" :
	    "xmpp-edge is shutting down; what you sent before this is still delivered", &elen) != 0)
		return -1;
	len += elen;
	log_event(LOG_INFO, "s2s_in.shutdown_sent", "peer", s->peer, "domain", s->remote_domain,
	    "h", s->sm_on ? h : NULL, NULL);
	s->edge->stats.stream_errors_sent++;
	if (s2s_in_send(s, out, len) < 0)
		return -1;
	s->drain = S2S_IN_DRAIN_TOLD;
	return 0;
}

void
s2s_in_shutdown(struct s2s_in *s)
{
	/* An authenticated stream gets its last <a h/> too (what is still
	 * in custody now is not counted: the peer keeps it). */
	if (s->drain != S2S_IN_DRAIN_TOLD &&
	    (s->state == S2S_IN_ESTABLISHED || s->state == S2S_IN_GATEWAY_OPEN))
		(void)s2s_in_drain_tell(s);
	if (s->drain == S2S_IN_DRAIN_TOLD)
		s2s_in_close(s, "shutdown");
	else
		s2s_in_fail(s, STREAM_ERR_SYSTEM_SHUTDOWN, "xmpp-edge is shutting down");
}

void
s2s_in_shutdown_unless_settling(struct s2s_in *s)
{
	if (s->drain != S2S_IN_DRAIN_SETTLING)
		s2s_in_shutdown(s);
}

/*
 * The first step of a graceful shutdown.  A stream that carries no
 * stanzas yet (not authenticated) is closed at once.
 *
 * An authenticated stream with XEP-0198 on takes no stanza from now on
 * (s2s_in_sm_drain_begin): what it reads is neither routed nor counted in
 * h, so its peer still holds it and bounces or resends it itself, which
 * is right, since nobody delivered it.  Reading goes on rather than
 * stopping: <r/> is still answered, the peer's close is seen, and the
 * peer is never left blocked on a full TCP window.  Once every stanza it
 * took is settled, the stream gets our last <a h/>, <system-shutdown/>
 * and </stream:stream> (s2s_in_drain_tell): h then covers everything the
 * edge delivered, and the peer bounces nothing that arrived.  Telling
 * the peer first and acknowledging later is not possible: nothing may
 * follow our </stream:stream> (RFC 6120 §4.4).
 *
 * Without XEP-0198 the peer can neither bounce nor resend what it wrote,
 * so the stream gets <system-shutdown/> and our close now and is read on
 * until the peer closes its side: RFC 6120 §4.4 (and §4.9.1.1 for a stream
 * error) has the closing side go on processing what the other side sent,
 * so every stanza the peer wrote before it saw our close is still routed.
 *
 * The daemon bounds both waits (limits.shutdown_timeout_ms) and then
 * calls s2s_in_shutdown().
 */
void
s2s_in_shutdown_begin(struct s2s_in *s)
{
	if (s2s_in_is_closing(s) || s->drain != S2S_IN_DRAIN_NONE)
		return;
	if (s->state != S2S_IN_ESTABLISHED && s->state != S2S_IN_GATEWAY_OPEN) {
		s2s_in_shutdown(s);
		return;
	}
	if (s2s_in_sm_drain_begin(s) == 0)
		return;
	if (s2s_in_drain_tell(s) < 0)
		s2s_in_shutdown(s);
}

static int
s2s_in_is_hosted(struct s2s_in *s, const char *domain)
{
	return router_is_hosted(s->edge, domain);
}

/* Copies an event string into a domain field; -1 if absent or invalid. */
int
s2s_in_take_domain(const struct xmlstream_str *v, char *out, size_t cap)
{
	char why[128];

	if (v->p == NULL)
		return -1;
	return domain_canonicalize(v->p, v->len, out, cap, why, sizeof(why));
}

/* The gateway's own stream: it speaks for a hosted domain ('from') to a
 * remote one ('to').  Its key was pinned, so the post-authentication
 * stanza limit applies. */
static void
s2s_in_on_gateway_header(struct s2s_in *s, const struct xmlstream_event *ev)
{
	const struct config_limits *lim = &s->edge->cfg->limits;
	struct xmlstream_limits xl;

	if (s2s_in_take_domain(&ev->from, s->remote_domain, sizeof(s->remote_domain)) < 0 ||
	    !s2s_in_is_hosted(s, s->remote_domain)) {
		s->remote_domain[0] = '\0';
		s2s_in_fail(s, STREAM_ERR_INVALID_FROM, "the gateway must speak for a hosted domain");
		return;
	}
	if (s2s_in_take_domain(&ev->to, s->local_domain, sizeof(s->local_domain)) < 0) {
		s->local_domain[0] = '\0';
		s2s_in_fail(s, STREAM_ERR_HOST_UNKNOWN, "'to' is not a domain name");
		return;
	}
	if (s->authed_domain[0] != '\0' && strcmp(s->authed_domain, s->remote_domain) != 0) {
		s2s_in_fail(s, STREAM_ERR_INVALID_FROM, "not the domain authenticated before the restart");
		return;
	}
	xl.stanza_max = (size_t)lim->stanza_size;
	xl.depth_max = (size_t)lim->max_depth;
	xl.attrs_max = (size_t)lim->max_attributes;
	xl.name_max = (size_t)lim->max_name_length;
	if (xmlstream_set_limits(s2s_conn_xmlstream(s->conn), &xl) < 0) {
		s2s_in_fail(s, STREAM_ERR_INTERNAL_SERVER_ERROR, "bad limits");
		return;
	}
	log_event(LOG_INFO, "s2s_in.gateway_open", "peer", s->peer, "from", s->remote_domain,
	    "to", s->local_domain, "id", s->stream_id, NULL);
	if (s2s_in_send_header(s) < 0)
		return;
	if (s->authed_domain[0] != '\0') {
		/* After SASL: XEP-0198 may be enabled now (Prosody does, or
		 * we ask: s2s_in_sm_maybe_ask). */
		if (s2s_in_sendstr(s, "<stream:features>" S2S_IN_SM_FEATURE "</stream:features>") < 0)
			return;
		s->sm_ask_after_ms = uv_now(s->edge->loop) + S2S_IN_SM_ASK_AFTER_MS;
		s2s_in_auth_established(s);
		return;
	}
	s2s_in_auth_offer_gateway(s);
}

/* Walks every stream: only when a bounce finds its queue over its limit,
 * which no steady flow of deliverable stanzas does. */
void
s2s_in_pause_senders(struct edge *edge, struct route_slot *r, const char *domain)
{
	struct s2s_in *s;

	for (s = edge->streams; s != NULL; s = s->next) {
		/* Stanzas flow in both states (the gateway's after SASL in
		 * the second). */
		if (s2s_in_is_closing(s) || (s->state != S2S_IN_ESTABLISHED &&
		    s->state != S2S_IN_GATEWAY_OPEN) || s->waiter.on == r ||
		    !s2s_in_auth_pair_valid(s, domain, NULL))
			continue;
		log_event(LOG_DEBUG, "s2s_in.pause", "peer", s->peer, "reason", "bounces back are queued",
		    NULL);
		router_waiter_add(r, &s->waiter);
		edge->stats.reads_paused++;
		s2s_conn_read_stop(s->conn);
	}
}

/* Reading starts again once neither a full destination nor a rate
 * limit holds it (each resume calls this; the other may still hold). */
void
s2s_in_read_resume(struct s2s_in *s)
{
	if (s2s_in_is_closing(s) || s->waiter.on != NULL || ratelimit_stream_paused(&s->rate) ||
	    s->sm_paused)
		return;
	log_event(LOG_DEBUG, "s2s_in.resume", "peer", s->peer, NULL);
	(void)s2s_conn_read_start(s->conn);	/* closes on failure */
}

static void
s2s_in_on_resume(struct route_waiter *w)
{
	s2s_in_read_resume((struct s2s_in *)((char *)w - offsetof(struct s2s_in, waiter)));
}

static void
s2s_in_on_rate_resume(struct ratelimit_stream *rs)
{
	s2s_in_read_resume((struct s2s_in *)((char *)rs - offsetof(struct s2s_in, rate)));
}

/* 1 when the stanza's 'from' and 'to' domains are, byte for byte, those
 * of the pair the last stanza passed the checks below with, under the
 * same configuration: from and to are filled in and the checks hold (the
 * canonical form of a canonical name is itself; see s2s_in_int.h). */
static int
s2s_in_route_pair_hit(const struct s2s_in *s, const struct xmlstream_event *ev, char *from, char *to)
{
	const struct s2s_in_pair *p = s->route_pair;
	struct xmlstream_str fd, td;
	size_t rlen, llen;

	if (p == NULL || s->route_pair_generation != s->edge->cfg_generation ||
	    router_jid_domain_span(&ev->from, &fd) < 0 || router_jid_domain_span(&ev->to, &td) < 0)
		return 0;
	rlen = strlen(p->remote);
	llen = strlen(p->local);
	if (fd.len != rlen || td.len != llen || memcmp(fd.p, p->remote, rlen) != 0 ||
	    memcmp(td.p, p->local, llen) != 0)
		return 0;
	memcpy(from, p->remote, rlen + 1);
	memcpy(to, p->local, llen + 1);
	return 1;
}

/*
 * A stanza on an authenticated stream.  RFC 6120 §8.1.1.1: 'to' and 'from'
 * are required on s2s; §8.1.2.1 / §13.9.1 and XEP-0220 §2.6: 'from' must
 * be of a domain this stream authenticated (invalid-from), and 'to' of the
 * domain that pair was authenticated to (host-unknown when not ours).
 */
static void
s2s_in_on_stanza(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX];
	int gateway = s2s_in_is_internal(s);
	struct sm_tag tag;

	if (s2s_in_route_pair_hit(s, ev, from, to))
		goto checked;
	if (router_jid_domain(&ev->from, from, sizeof(from)) < 0 ||
	    router_jid_domain(&ev->to, to, sizeof(to)) < 0) {
		s2s_in_fail(s, STREAM_ERR_IMPROPER_ADDRESSING, "stanzas between servers need 'to' and 'from'");
		return;
	}
	if (!s2s_in_auth_pair_valid(s, from, NULL)) {
		log_event(LOG_WARN, "s2s_in.invalid_from", "peer", s->peer, "domain", s->authed_domain,
		    "from", from, NULL);
		s2s_in_fail(s, STREAM_ERR_INVALID_FROM, "stanza 'from' is not an authenticated domain of this stream");
		return;
	}
	/* The stream authenticated under a policy a reload may have changed
	 * since (its header and each authentication are checked when they
	 * come): a partner the policy no longer federates with, or that the
	 * blocklist now lists, gets nothing more to the gateway.  Runs again
	 * after every reload of either, as the pair cache below is dropped
	 * then (edge->cfg_generation). */
	if (!gateway && (!config_policy_for(s->edge->cfg, from)->allow ||
	    blocklist_refuses(s->edge, from, "stream"))) {
		log_event(LOG_INFO, "s2s_in.policy_refused", "peer", s->peer, "domain", from,
		    "reason", "stanza after a reload", NULL);
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, "federation with this domain is not allowed");
		return;
	}
	if (gateway ? s2s_in_is_hosted(s, to) : !s2s_in_is_hosted(s, to)) {
		s2s_in_fail(s, STREAM_ERR_HOST_UNKNOWN, gateway ?
		    "the gateway's stanzas must be for remote domains" : "this server does not serve that domain");
		return;
	}
	if ((s->route_pair = s2s_in_auth_pair_find(s, from, to)) == NULL) {
		s2s_in_fail(s, STREAM_ERR_INVALID_FROM, "that domain pair was not authenticated on this stream");
		return;
	}
	s->route_pair_generation = s->edge->cfg_generation;
checked:
	/* Shutting down with XEP-0198: left with the peer (s2s_in_sm.c). */
	if (s2s_in_sm_drain_refuses(s))
		return;
	if (s2s_in_sm_take(s, &tag) < 0) {
		s2s_in_fail(s, STREAM_ERR_RESOURCE_CONSTRAINT, "too many stanzas in flight");
		return;
	}
	s->routed++;
	ratelimit_stream_charge(&s->rate, from, ev->raw.len);	/* external streams only */
	switch (router_route_tagged(s->edge, s2s_conn_xmlstream(s->conn), ev, from, to, &s->waiter,
	    &tag)) {
	case ROUTE_QUEUED_PAUSE:
		log_event(LOG_DEBUG, "s2s_in.pause", "peer", s->peer, NULL);
		s->edge->stats.reads_paused++;
		s2s_conn_read_stop(s->conn);
		s2s_in_custody_report(s->edge);
		break;
	case ROUTE_BOUNCED_PAUSE:
		/* The way back is full: the bounce is queued all the same, and
		 * this stream waits for it to drain (router.h). */
		log_event(LOG_DEBUG, "s2s_in.pause", "peer", s->peer, NULL);
		s->edge->stats.reads_paused++;
		s2s_conn_read_stop(s->conn);
		s2s_in_custody_report(s->edge);
		break;
	case ROUTE_BOUNCED:
	case ROUTE_LOST:
		/* Its custody went on with its bounce (settled when the
		 * bounce is), or was settled (an error stanza), or -- neither
		 * delivered nor bounced -- kept: the stream then ends so that
		 * the peer bounces it (s2s_in_sm.c).  The router did which. */
		s2s_in_custody_report(s->edge);
		break;
	case ROUTE_QUEUED:
		/* A destination that writes at once (a bidirectional stream,
		 * s2s_in_bidi.c) may have settled stanzas already (also above). */
		s2s_in_custody_report(s->edge);
		break;
	}
	s2s_in_sm_after_route(s);
}

static void
s2s_in_on_header(void *ud, const struct xmlstream_event *ev)
{
	struct s2s_in *s = ud;

	/* RFC 6120 §4.7.1: 'from' SHOULD be present on s2s; when it is, it
	 * must be a domain (§4.9.3.9 invalid-from). */
	if (ev->from.p != NULL &&
	    s2s_in_take_domain(&ev->from, s->remote_domain, sizeof(s->remote_domain)) < 0) {
		s->remote_domain[0] = '\0';
		s2s_in_fail(s, STREAM_ERR_INVALID_FROM, "'from' is not a domain name");
		return;
	}
	if (s2s_in_is_internal(s)) {
		if (!s2s_conn_tls_started(s->conn)) {
			/* internal_starttls: nothing but the header and
			 * <starttls/> is read before the pinned handshake. */
			if (s2s_in_send_header(s) < 0 ||
			    s2s_in_sendstr(s, "<stream:features><starttls xmlns='" NS_TLS "'><required/>"
			    "</starttls></stream:features>") < 0)
				return;
			s2s_in_enter_state(s, S2S_IN_WAIT_STARTTLS);
			return;
		}
		s2s_in_on_gateway_header(s, ev);
		return;
	}
	/* Per-partner policy: a domain that may not federate is refused on
	 * its claim already; proving it would change nothing. */
	if (s->remote_domain[0] != '\0' &&
	    (!config_policy_for(s->edge->cfg, s->remote_domain)->allow ||
	    blocklist_refuses(s->edge, s->remote_domain, "stream"))) {
		log_event(LOG_INFO, "s2s_in.policy_refused", "peer", s->peer,
		    "domain", s->remote_domain, NULL);
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, "federation with this domain is not allowed");
		return;
	}
	/* §4.9.3.6 host-unknown: 'to' must name a domain we serve. */
	if (s2s_in_take_domain(&ev->to, s->local_domain, sizeof(s->local_domain)) < 0 ||
	    !s2s_in_is_hosted(s, s->local_domain)) {
		s->local_domain[0] = '\0';
		s2s_in_fail(s, STREAM_ERR_HOST_UNKNOWN, "this server does not serve that domain");
		return;
	}
	log_event(LOG_INFO, "s2s_in.stream_open", "peer", s->peer, "to", s->local_domain,
	    "from", s->remote_domain[0] ? s->remote_domain : NULL, "id", s->stream_id, NULL);
	if (s->authed_domain[0] != '\0' && strcmp(s->authed_domain, s->remote_domain) != 0) {
		s2s_in_fail(s, STREAM_ERR_INVALID_FROM, "not the domain authenticated before the restart");
		return;
	}
	if (s2s_in_send_header(s) < 0)
		return;
	if (!s2s_conn_tls_started(s->conn) && (s->remote_domain[0] == '\0' ||
	    config_policy_for(s->edge->cfg, s->remote_domain)->tls == POLICY_TLS_REQUIRED)) {
		/* RFC 6120 §5.3.1: TLS is mandatory-to-negotiate (RFC 7590);
		 * only a partner entry saying otherwise relaxes it. */
		if (s2s_in_sendstr(s, "<stream:features><starttls xmlns='" NS_TLS "'><required/>"
		    "</starttls></stream:features>") < 0)
			return;
		s2s_in_enter_state(s, S2S_IN_WAIT_STARTTLS);
		return;
	}
	if (s->authed_domain[0] != '\0') {
		/* RFC 6120 §6.4.6: after SASL, the restarted stream; XEP-0198
		 * §3: stream management may be enabled now. */
		if (s2s_in_sendstr(s, "<stream:features>" S2S_IN_SM_FEATURE "</stream:features>") < 0)
			return;
		s2s_in_auth_established(s);
		return;
	}
	s2s_in_auth_offer(s);
}

/* TLS is up (the transport restarted the tokenizer). */
static void
s2s_in_on_tls(void *ud, const struct tls_verify_result *r)
{
	struct s2s_in *s = ud;
	struct tls_conn *tls = s2s_conn_tls(s->conn);

	if (s2s_in_is_closing(s))
		return;
	log_event(LOG_INFO, "s2s_in.tls", "peer", s->peer, "version", tls_conn_version(tls),
	    "cipher", tls_conn_ciphersuite(tls), "sni", tls_conn_sni(tls),
	    "client_certificate", tls_verify_status_str(r->status),
	    "resumed", tls_conn_resumed(tls) ? "yes" : NULL, NULL);
	/* The internal link trusts nothing but the pins. */
	if (s2s_in_is_internal(s) && r->status != TLS_VERIFY_OK) {
		log_event(LOG_WARN, "s2s_in.gateway_refused", "peer", s->peer,
		    "reason", tls_verify_status_str(r->status), "detail", r->detail, NULL);
		s2s_in_close(s, "gateway key not pinned");
		return;
	}
	/* RFC 6120 §5.4.3.3: a fresh stream follows inside TLS. */
	s2s_in_bidi_tls_started(s);
	s->header_sent = 0;
	s2s_in_enter_state(s, S2S_IN_WAIT_HEADER);
}

static int
s2s_in_tls_begin(struct s2s_in *s)
{
	struct tls_conn_params params = {
		.role = s2s_in_is_internal(s) ?
		    TLS_ROLE_INTERNAL_SERVER : TLS_ROLE_EXTERNAL_SERVER,
		.direct_tls = s->listener->kind == LISTENER_DIRECT_TLS,
	};
	char err[256];

	if (s2s_conn_starttls(s->conn, &params, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "s2s_in.tls_failed", "peer", s->peer, "reason", err, NULL);
		return -1;
	}
	s2s_in_enter_state(s, S2S_IN_TLS_HANDSHAKE);
	return 0;
}

static void
s2s_in_on_starttls(struct s2s_in *s)
{
	/* RFC 6120 §5.4.2.3: the initiating entity waits for <proceed/>
	 * before its ClientHello; bytes already here were sent too early
	 * and are not honoured as TLS (no plaintext injection). */
	if (s2s_conn_buffered(s->conn) > 0) {
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, "data sent after <starttls/> before <proceed/>");
		return;
	}
	if (s2s_in_sendstr(s, "<proceed xmlns='" NS_TLS "'/>") < 0)
		return;
	if (s2s_in_tls_begin(s) < 0) {
		/* <proceed/> is out: the stream can only be closed. */
		s2s_in_close(s, "TLS setup failed");
		return;
	}
}

static int
s2s_in_is_stanza(const struct xmlstream_event *ev)
{
	return xmlstream_str_eq(&ev->name, "message") || xmlstream_str_eq(&ev->name, "presence") ||
	    xmlstream_str_eq(&ev->name, "iq");
}

static void
s2s_in_on_element(void *ud, const struct xmlstream_event *ev)
{
	struct s2s_in *s = ud;

	s->edge->stats.stanzas_in++;
	if (xmlstream_str_eq(&ev->name, "starttls") && xmlstream_str_eq(&ev->ns, NS_TLS) &&
	    !s2s_conn_tls_started(s->conn) &&
	    (s->state == S2S_IN_WAIT_STARTTLS || s->state == S2S_IN_WAIT_AUTH) &&
	    (s->state == S2S_IN_WAIT_STARTTLS || config_policy_for(s->edge->cfg,
	    s->remote_domain)->tls == POLICY_TLS_OPTIONAL)) {
		s2s_in_on_starttls(s);
		return;
	}
	if (xmlstream_str_eq(&ev->name, "error") && xmlstream_str_eq(&ev->ns, NS_STREAMS)) {
		/* RFC 6120 §4.9: the peer ends the stream with an error. */
		log_event(LOG_INFO, "s2s_in.peer_stream_error", "peer", s->peer,
		    "domain", s->remote_domain[0] ? s->remote_domain : NULL, NULL);
		if (s2s_in_send_header(s) == 0)
			(void)s2s_in_sendstr(s, "</stream:stream>");
		s2s_in_close(s, "peer sent a stream error");
		return;
	}
	if (s2s_in_bidi_on_element(s, ev) == 0)
		return;
	if (s->state == S2S_IN_ESTABLISHED || s->state == S2S_IN_GATEWAY_OPEN) {
		if (s2s_in_sm_maybe_ask(s) < 0)
			return;
		if (s2s_in_is_stanza(ev)) {
			s->stanzas++;
			s2s_in_on_stanza(s, ev);
			return;
		}
		/* XEP-0198 (s2s_in_sm.c). */
		if (s2s_in_sm_on_element(s, ev) == 0)
			return;
		/* Further pairs (piggybacking) and verifications. */
		if (s2s_in_auth_on_element(s, ev) == 0)
			return;
		s2s_in_fail(s, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, NULL);
		return;
	}
	if ((s->state == S2S_IN_WAIT_AUTH || s->state == S2S_IN_WAIT_DIALBACK ||
	    s->state == S2S_IN_GATEWAY_AUTH) && s2s_in_auth_on_element(s, ev) == 0)
		return;
	if (s2s_in_is_stanza(ev)) {
		/* RFC 6120 §4.3.5 (and §8.1.1.1): no stanzas before the
		 * stream is negotiated. */
		s2s_in_fail(s, STREAM_ERR_NOT_AUTHORIZED, "stanza sent before TLS and authentication");
		return;
	}
	if (s->state == S2S_IN_WAIT_STARTTLS)
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, "STARTTLS is required first");
	else
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, "authenticate first (SASL EXTERNAL or dialback)");
}

/* RFC 6120 §4.4: the peer's </stream:stream> is answered with ours. */
static void
s2s_in_on_stream_close(void *ud)
{
	struct s2s_in *s = ud;

	if (s2s_in_send_header(s) == 0)
		(void)s2s_in_sendstr(s, "</stream:stream>");
	s2s_in_close(s, "peer closed the stream");
}

static void
s2s_in_on_parse_error(void *ud, const struct xmlstream_event *ev)
{
	s2s_in_fail(ud, ev->cond, ev->text);
}

/* A read may take no more than the stream's rate limits allow
 * (ratelimit.h), so a pause comes after a few stanzas, not 64 KiB. */
static size_t
s2s_in_read_allowance(void *ud, size_t want)
{
	struct s2s_in *s = ud;

	return ratelimit_stream_allowance(&s->rate, want);
}

/* After a read: over its rate limits the stream stops reading until
 * its buckets refill; over them for too long it is ended. */
static void
s2s_in_on_read_done(void *ud)
{
	struct s2s_in *s = ud;

	if (s2s_in_is_closing(s))
		return;
	switch (ratelimit_stream_check(&s->rate)) {
	case RATELIMIT_PAUSED:
		s2s_conn_read_stop(s->conn);
		break;
	case RATELIMIT_ABUSE:
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION,
		    "over the rate limits for longer than limits.rate_abuse_s");
		break;
	case RATELIMIT_OK:
		break;
	}
}

void
s2s_in_on_timeout(void *ud)
{
	struct s2s_in *s = ud;

	s2s_in_fail(s, STREAM_ERR_CONNECTION_TIMEOUT,
	    s->state == S2S_IN_GATEWAY_OPEN || s->state == S2S_IN_ESTABLISHED ?
	    "idle for limits.idle_timeout_s" : "negotiation took longer than limits.handshake_timeout_ms");
}

static const struct s2s_conn_callbacks s2s_in_conn_callbacks = {
	.on_header = s2s_in_on_header,
	.on_element = s2s_in_on_element,
	.on_stream_close = s2s_in_on_stream_close,
	.on_parse_error = s2s_in_on_parse_error,
	.on_tls = s2s_in_on_tls,
	.on_timeout = s2s_in_on_timeout,
	.on_written = s2s_in_bidi_on_written,
	.on_closing = s2s_in_on_closing,
	.on_closed = s2s_in_on_closed,
	.read_allowance = s2s_in_read_allowance,
	.on_read_done = s2s_in_on_read_done,
};

static void
s2s_in_make_id(char *out)
{
	unsigned char raw[STREAM_ID_BYTES];
	size_t i;

	/* RFC 6120 §4.7.3: unpredictable, at least 128 bits. */
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		memset(raw, 0, sizeof(raw));	/* getrandom cannot fail for 16 bytes */
	for (i = 0; i < sizeof(raw); i++)
		snprintf(out + i * 2, 3, "%02x", raw[i]);
}

/*
 * Admission: why a connection on l from peer may not become a stream, or
 * NULL.  One pool, limits.max_streams, is shared by the internet and the
 * gateway, so the internet's share is fenced:
 *   - the last limits.internal_reserved_streams slots are the internal
 *     listeners' (when there are any): idle connections from outside can
 *     never lock the gateway out;
 *   - streams from outside that have not authenticated yet are capped by
 *     limits.max_unauthenticated_streams (they also have one deadline,
 *     limits.handshake_timeout_ms, from accept);
 *   - streams from outside are counted per address and per prefix (IPv4
 *     /24, IPv6 /64, prefix_count.h), not per exact address only.
 * The gateway's own streams skip the last two: it opens one stream per
 * remote domain it talks to, all from one address, and its key is pinned.
 */
/* The limit on streams under one prefix of kind, and what a refusal by
 * it says. */
static size_t
s2s_in_prefix_limit(const struct config_limits *lim, enum prefix_kind kind, const char **reason)
{
	switch (kind) {
	case PREFIX_IPV4_24:
		*reason = "limits.max_streams_per_ipv4_24 reached";
		return (size_t)lim->max_streams_per_ipv4_24;
	case PREFIX_IPV6_64:
		*reason = "limits.max_streams_per_ipv6_64 reached";
		return (size_t)lim->max_streams_per_ipv6_64;
	default:	/* one address, IPv4 or IPv6 */
		*reason = "limits.max_streams_per_ip reached";
		return (size_t)lim->max_streams_per_ip;
	}
}

static const char *
s2s_in_admission_refusal(const struct edge *edge, const struct listener *l,
    const struct prefix_key keys[PREFIX_KEYS_PER_ADDR])
{
	const struct config_limits *lim = &edge->cfg->limits;
	const struct config_listen *lc = &edge->cfg->listen;
	size_t max = (size_t)lim->max_streams, i;
	const char *reason;

	if (edge->shutting_down)
		return "shutting down";
	if (edge->stream_count >= max)
		return "limits.max_streams reached";
	if (listener_is_internal(l))
		return NULL;
	/* config.c keeps the reserve below max_streams when there is an
	 * internal listener; without one there is nobody to keep it for. */
	if (lc->internal_count + lc->internal_starttls_count > 0 &&
	    edge->stream_count >= max - (size_t)lim->internal_reserved_streams)
		return "limits.max_streams reached for remote servers (limits.internal_reserved_streams are the gateway's)";
	/* The listeners do not accept while this holds (they wait,
	 * admission.h): only a stream started otherwise (the tests) is
	 * refused by it. */
	if (edge->streams_unauthenticated >= (size_t)lim->max_unauthenticated_streams)
		return "limits.max_unauthenticated_streams reached";
	for (i = 0; i < PREFIX_KEYS_PER_ADDR; i++)
		if (prefix_count_get(&edge->peer_prefixes, &keys[i]) >=
		    s2s_in_prefix_limit(lim, keys[i].kind, &reason))
			return reason;
	return NULL;
}

/* Counts s under its peer's prefixes; -1 (nothing counted) when out of
 * memory. */
static int
s2s_in_count_prefixes(struct s2s_in *s, const struct prefix_key keys[PREFIX_KEYS_PER_ADDR])
{
	size_t i;

	for (i = 0; i < PREFIX_KEYS_PER_ADDR; i++)
		if (prefix_count_add(&s->edge->peer_prefixes, &keys[i]) < 0) {
			while (i-- > 0)
				prefix_count_remove(&s->edge->peer_prefixes, &keys[i]);
			return -1;
		}
	s->counted_prefixes = 1;
	return 0;
}

/* Ends s's place in the counts taken at accept (closing). */
static void
s2s_in_uncount_prefixes(struct s2s_in *s)
{
	struct prefix_key keys[PREFIX_KEYS_PER_ADDR];
	size_t i;

	if (!s->counted_prefixes || prefix_keys_of((struct sockaddr *)&s->peer_addr, keys) < 0)
		return;
	for (i = 0; i < PREFIX_KEYS_PER_ADDR; i++)
		prefix_count_remove(&s->edge->peer_prefixes, &keys[i]);
	s->counted_prefixes = 0;
}

/* Why peer may not become a stream on l (admission above), or NULL;
 * keys receive its prefixes. */
static const char *
s2s_in_refusal(struct listener *l, const struct sockaddr *peer,
    struct prefix_key keys[PREFIX_KEYS_PER_ADDR])
{
	/* A TCP listener only hands out IPv4 and IPv6 peers. */
	return prefix_keys_of(peer, keys) < 0 ? "not an IP peer" :
	    s2s_in_admission_refusal(l->edge, l, keys);
}

int
s2s_in_accept(struct listener *l, int fd, const struct sockaddr *peer)
{
	struct edge *edge = l->edge;
	struct prefix_key keys[PREFIX_KEYS_PER_ADDR];
	char text[NETADDR_TEXT_MAX];
	struct s2s_pipe *pipe;
	const char *refuse;

	edge->stats.streams_accepted++;
	refuse = s2s_in_refusal(l, peer, keys);
	/* Last, and here only (s2s_in_start asks the others again): only a
	 * stream that is otherwise admitted spends a token. */
	if (refuse == NULL && !listener_is_internal(l))
		(void)ratelimit_admit_stream(edge->ratelimit, peer, uv_now(edge->loop), &refuse);
	if (refuse != NULL) {
		/* Refused before anything is allocated for it: a flood of
		 * refusals costs a log line each and no memory. */
		netaddr_format(peer, text, sizeof(text));
		edge->stats.streams_refused++;
		log_event(LOG_WARN, "s2s_in.refused", "peer", text, "listener", l->addr,
		    "reason", refuse, NULL);
		close(fd);
		return 0;
	}
	pipe = s2s_pipe_tcp_from_fd(edge->loop, fd);	/* closes fd on failure */
	if (pipe == NULL)
		return -1;
	return s2s_in_start(l, pipe, peer);
}

int
s2s_in_start(struct listener *l, struct s2s_pipe *pipe, const struct sockaddr *peer)
{
	struct edge *edge = l->edge;
	const struct config_limits *lim = &edge->cfg->limits;
	struct prefix_key keys[PREFIX_KEYS_PER_ADDR];
	struct xmlstream_limits xl;
	struct s2s_conn_params cp;
	const char *refuse;
	struct s2s_in *s;

	/* Admission again: the same answer as in s2s_in_accept, and the
	 * prefix keys to count under (tests start here directly). */
	refuse = s2s_in_refusal(l, peer, keys);
	s = refuse == NULL ? calloc(1, sizeof(*s)) : NULL;
	if (s == NULL) {
		if (refuse != NULL) {
			edge->stats.streams_refused++;
			log_event(LOG_WARN, "s2s_in.refused", "listener", l->addr, "reason", refuse, NULL);
		}
		s2s_pipe_discard(pipe);
		return refuse != NULL ? 0 : -1;
	}
	s->edge = edge;
	s->listener = l;
	s->started_ms = uv_now(edge->loop);
	s->state = S2S_IN_WAIT_HEADER;
	memcpy(&s->peer_addr, peer, peer->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	netaddr_format(peer, s->peer, sizeof(s->peer));
	s->waiter.resume = s2s_in_on_resume;
	s2s_in_make_id(s->stream_id);
	xl.stanza_max = (size_t)lim->stanza_size_preauth;
	xl.depth_max = (size_t)lim->max_depth;
	xl.attrs_max = (size_t)lim->max_attributes;
	xl.name_max = (size_t)lim->max_name_length;
	s2s_conn_params_init(&cp, edge->loop, edge->certs, edge->read_buf, sizeof(edge->read_buf),
	    (size_t)lim->send_queue_bytes, s->peer);
	cp.limits = &xl;
	cp.pipe_pool = &edge->pipe_pool;
	cp.flusher = &edge->conn_flusher;
	/* Negotiation has one deadline from accept (a peer trickling bytes
	 * cannot stretch it); an established stream is timed for idleness,
	 * which any byte read restarts. */
	cp.reads_restart_timer = 1;
	/* Linked and counted first so that any failure below is undone by
	 * the one close path (s2s_in_on_closed). */
	s->next = edge->streams;
	if (s->next)
		s->next->prev = s;
	edge->streams = s;
	edge->stream_count++;
	s->conn = s2s_conn_new(&cp, pipe, &s2s_in_conn_callbacks, s);
	if (s->conn == NULL) {
		s2s_in_free(s);
		return -1;
	}
	if (!listener_is_internal(l)) {
		if (s2s_in_count_prefixes(s, keys) < 0) {
			s2s_conn_abort(s->conn, "out of memory");
			return -1;
		}
		s->counted_unauthenticated = 1;
		edge->streams_unauthenticated++;
		/* No limiter (a unit test's edge): the stream stays unlimited
		 * (rate.rl NULL, as calloc left it). */
		if (edge->ratelimit != NULL)
			ratelimit_stream_init(&s->rate, edge->ratelimit, peer, s->peer,
			    s2s_in_on_rate_resume);
	}
	log_event(LOG_INFO, "s2s_in.accept", "peer", s->peer, "listener", l->addr, NULL);
	/* XEP-0368: on a Direct TLS listener the first byte is TLS; so it
	 * is on the internal one. */
	if ((l->kind == LISTENER_DIRECT_TLS || l->kind == LISTENER_INTERNAL) && s2s_in_tls_begin(s) < 0) {
		s2s_conn_abort(s->conn, "TLS setup failed");
		return 0;
	}
	s2s_conn_timer_start(s->conn, (uint64_t)lim->handshake_timeout_ms, 0);
	(void)s2s_conn_read_start(s->conn);	/* closes on failure */
	return 0;
}

/* --- what `status` and the metrics see (stream_info.h) ------------------ */

#include "stream_info.h"

void
s2s_in_info(const struct s2s_in *s, struct stream_info *out)
{
	const struct s2s_in_pair *p;

	memset(out, 0, sizeof(*out));
	out->started_ms = s->started_ms;
	out->direction = "in";
	out->kind = s2s_in_is_internal(s) ? "gateway" : "remote";	/* both internal kinds */
	out->state = s2s_in_state_names[s->state];
	out->peer = s->peer;
	if (s2s_conn_tls(s->conn) != NULL) {
		out->tls_version = tls_conn_version(s2s_conn_tls(s->conn));
		out->cipher = tls_conn_ciphersuite(s2s_conn_tls(s->conn));
	}
	out->stream_id = s->stream_id;
	for (p = s->pairs; p != NULL && out->npairs < STREAM_INFO_PAIRS_MAX; p = p->next) {
		out->pairs[out->npairs].local = p->local;
		out->pairs[out->npairs].remote = p->remote;
		out->pairs[out->npairs].auth = p->valid ? (p->method != NULL ? p->method : "valid") : NULL;
		out->npairs++;
	}
	if (out->npairs == 0 && (s->remote_domain[0] != '\0' || s->local_domain[0] != '\0')) {
		/* Not authenticating yet: the header's claim. */
		out->pairs[0].local = s->local_domain;
		out->pairs[0].remote = s->remote_domain;
		out->npairs = 1;
	}
	out->stanzas_in = s->stanzas;
	out->routed = s->routed;
	out->bidi = s->bidi;
	out->stanzas_out = s->bidi_stanzas_out;
	out->send_queue_bytes = s2s_conn_queued(s->conn);
	out->tcp = s2s_conn_tcp(s->conn);
	out->established = s->state == S2S_IN_ESTABLISHED || s->state == S2S_IN_GATEWAY_OPEN;
	out->sm = s->sm_on ? "on" : "off";
	out->sm_h = s->custody.h;
	out->sm_unacked = sm_custody_in_flight(&s->custody);
}
