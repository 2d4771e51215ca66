/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_out.c - an outgoing server-to-server stream, see s2s_out.h.
 *
 *   S2S_OUT_CONNECTING      DNS + TCP (the dialer, s2s_dial.h: dns_connect in
 *                           the daemon), or the same sequence with a
 *                           configured address (gateway, partner `connect`)
 *   S2S_OUT_WAIT_FEATURES   our header is out; the peer's header and
 *                           <stream:features/> are awaited (again after TLS
 *                           and after SASL, RFC 6120 §4.3.3)
 *   S2S_OUT_WAIT_PROCEED    <starttls/> sent (RFC 6120 §5.4.2)
 *   S2S_OUT_TLS_HANDSHAKE   TLS (after <proceed/>, or Direct TLS at once)
 *   S2S_OUT_WAIT_SASL       <auth mechanism='EXTERNAL'/> sent (XEP-0178)
 *   S2S_OUT_WAIT_DIALBACK   <db:result/> sent (XEP-0220, Initiating Server)
 *   S2S_OUT_WAIT_VERIFY     S2S_OUT_VERIFY only: <db:verify/> sent (§2.3)
 *   S2S_OUT_ESTABLISHED     authenticated: the queue is written
 *   S2S_OUT_CLOSING         our close is being flushed
 *   S2S_OUT_CLOSED          handles closing; freed by the last callback
 *
 * Bytes, TLS, the tokenizer and the bounded write queue are the
 * transport's (s2s_conn.h), one connection per candidate tried; this file
 * acts on the tokenizer's events.  Failure
 * before the stream is established bounces every queued stanza with the
 * condition that fits (RFC 6120 §8.3.3.16/.17/.19); afterwards the stream
 * is taken out of the routing table at once, so new stanzas start a new
 * stream, and what is still queued is bounced.
 *
 * Output toward the socket is bounded: stanzas move from the queue to the
 * socket only while less than limits.send_queue_bytes is being written;
 * the queue itself holds at most twice limits.route_queue_bytes of
 * stanzas, and senders are paused past limits.route_queue_bytes
 * (router.h).  Bounces are taken past that bound: each stanza is bounced
 * at most once (router.h, "Bounces and the queue bound").
 */
#include "s2s_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist.h"
#include "cert_fallback.h"
#include "dialback.h"
#include "dns.h"
#include "log.h"
#include "netaddr.h"
#include "policy.h"
#include "s2s_conn.h"
#include "s2s_dane.h"
#include "s2s_dial.h"
#include "s2s_features.h"
#include "s2s_out_bidi.h"
#include "s2s_in.h"
#include "sasl_external.h"
#include "sm.h"
#include "stream_error.h"
#include "tls.h"
#include "xmlelem.h"
#include "xmlstream.h"

/* Nothing that arrives on an outgoing stream is routed (RFC 6120 §2.4, see
 * s2s_out_refuse_stanza): this file may bounce what it queued itself
 * (router_bounce_bytes, stanzas from our own authenticated side), never an
 * element the peer sent.  The compiler holds us to it.  The one exception,
 * XEP-0288 negotiated on the stream, is s2s_out_bidi.c's: it checks the
 * stanza against the pairs authenticated in its direction and routes it. */
#pragma GCC poison router_route router_route_bytes router_bounce_event

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define S2S_OUT_ID_MAX 128

/* Stream management toward the peer (XEP-0198 §3). */
enum s2s_out_sm_state {
	S2S_OUT_SM_OFF,		/* not offered: written stanzas are unconfirmed */
	S2S_OUT_SM_ENABLING,	/* <enable/> sent: stanzas wait for the answer */
	S2S_OUT_SM_ON,		/* <enabled/>: written stanzas wait for <a h/> */
	S2S_OUT_SM_FAILED,	/* <failed/>, or no answer to an unoffered <enable/>: as OFF */
};

static const char *const s2s_out_sm_names[] = {
	[S2S_OUT_SM_OFF] = "off",
	[S2S_OUT_SM_ENABLING] = "enabling",
	[S2S_OUT_SM_ON] = "on",
	[S2S_OUT_SM_FAILED] = "failed",
};

enum s2s_out_state {
	S2S_OUT_CONNECTING,
	S2S_OUT_WAIT_FEATURES,
	S2S_OUT_WAIT_PROCEED,
	S2S_OUT_TLS_HANDSHAKE,
	S2S_OUT_WAIT_SASL,
	S2S_OUT_WAIT_DIALBACK,
	S2S_OUT_WAIT_VERIFY,
	S2S_OUT_ESTABLISHED,
	S2S_OUT_CLOSING,
	S2S_OUT_CLOSED,
};

static const char *const s2s_out_state_names[] = {
	[S2S_OUT_CONNECTING] = "connecting",
	[S2S_OUT_WAIT_FEATURES] = "wait_features",
	[S2S_OUT_WAIT_PROCEED] = "wait_proceed",
	[S2S_OUT_TLS_HANDSHAKE] = "tls_handshake",
	[S2S_OUT_WAIT_SASL] = "wait_sasl",
	[S2S_OUT_WAIT_DIALBACK] = "wait_dialback",
	[S2S_OUT_WAIT_VERIFY] = "wait_verify",
	[S2S_OUT_ESTABLISHED] = "established",
	[S2S_OUT_CLOSING] = "closing",
	[S2S_OUT_CLOSED] = "closed",
};

/*
 * The stanzas of the stream: their bytes back to back in one buffer
 * (each a standalone element, the one copy the router makes of a
 * stanza), their lengths, custody tags and times in a ring (struct
 * sm_queue, sm.h).  The first of them may be written already and wait
 * for the peer's XEP-0198 ack; the rest wait to be written.  Both grow to
 * the stream's high-water mark and are reused, so a warm stream allocates
 * nothing per stanza; a batch for the socket is a contiguous span, handed
 * to TLS as it is.  The buffer is let go once the queue has stayed empty
 * for a whole tick of the sm timer (a second by default,
 * s2s_out_queue_trim), not each time it empties: a busy stream whose peer
 * acknowledges everything now and then would otherwise give its buffer
 * back and grow it again (realloc, mremap, page faults) many times a
 * second (issue 18, relay CPU).  Any buffer, not only a large one: an
 * idle stream then holds none (issue 18, memory per idle stream), and the
 * timer stops once it is gone.
 */
/* First size: what a stream that sends a stanza now and then keeps (the
 * high-water mark, not a fixed 4 KiB: issue 18, memory per idle stream;
 * the stanza ring starts small too, sm.c). */
#define S2S_OUT_QUEUE_MIN 512		/* bytes */

struct s2s_out_queue {
	char *buf;
	size_t head, tail, cap;		/* bytes [head, tail) are held */
	struct sm_queue r;		/* the stanzas in them */
	int pushed;			/* since the last trim tick */
};

static int
s2s_out_queue_push(struct s2s_out_queue *q, const char *data, size_t len, const struct sm_tag *tag,
    uint64_t now_ms)
{
	if (q->tail + len > q->cap && q->head > 0) {
		memmove(q->buf, q->buf + q->head, q->tail - q->head);
		q->tail -= q->head;
		q->head = 0;
	}
	if (q->tail + len > q->cap) {
		size_t cap = q->cap ? q->cap : S2S_OUT_QUEUE_MIN;
		char *b;

		while (cap < q->tail + len)
			cap *= 2;
		if ((b = realloc(q->buf, cap)) == NULL)
			return -1;
		q->buf = b;
		q->cap = cap;
	}
	if (sm_queue_push(&q->r, len, tag, now_ms) < 0)
		return -1;
	memcpy(q->buf + q->tail, data, len);
	q->tail += len;
	q->pushed = 1;
	return 0;
}

static size_t
s2s_out_queue_len(const struct s2s_out_queue *q, size_t i)
{
	return sm_queue_at(&q->r, i)->len;
}

/* Drops the first n stanzas; returns their bytes. */
static size_t
s2s_out_queue_pop(struct s2s_out_queue *q, size_t n)
{
	size_t bytes = sm_queue_drop(&q->r, n);

	q->head += bytes;
	if (q->r.count == 0)
		q->head = q->tail = 0;
	return bytes;
}

/* One tick of the sm timer: the buffer, empty since the last tick,
 * goes back (see above). */
static void
s2s_out_queue_trim(struct s2s_out_queue *q)
{
	if (q->r.count == 0 && !q->pushed && q->cap > 0) {
		free(q->buf);
		q->buf = NULL;
		q->cap = 0;
	}
	q->pushed = 0;
}

static void
s2s_out_queue_free(struct s2s_out_queue *q)
{
	free(q->buf);
	sm_queue_free(&q->r);
	memset(q, 0, sizeof(*q));
}

/*
 * The rule for every path that sends (as for the inbound side, issue 14):
 * NOTHING IS CLOSED OR FREED INSIDE A SEND.  A send can fail deep down
 * (uv_write refused, out of memory, TLS failing in tls_conn_write, even
 * inside on_ciphertext, where tls/ forbids anything but copying); the
 * caller above it still holds the stream, its parser's current event and
 * the stanzas it was writing.  So a failure seen there is only recorded
 * (s2s_out_fail_later) and acted on from the loop, by the deadline timer
 * run at once (s2s_out_on_timer); a close is a request too, and the
 * struct, its parser and its queue are freed by the last handle's close
 * callback (s2s_out_on_handle_closed), as libuv frees handles.  After any
 * call that may send or close, code re-checks the state (or the pending
 * failure) before it changes state or touches per-stream data.
 */
/* A <db:verify/> question (XEP-0220 §2.3): the id and key to check. */
struct s2s_out_verify_question {
	char id[S2S_OUT_ID_MAX];
	char key[DIALBACK_KEY_MAX + 1];
};

struct s2s_out {
	struct edge *edge;
	enum s2s_out_kind kind;
	enum s2s_out_state state;
	char local[CONFIG_DOMAIN_MAX];		/* the domain we speak for */
	char remote[CONFIG_DOMAIN_MAX];		/* the receiving domain */
	char peer[NETADDR_TEXT_MAX + 8];
	char stream_id[S2S_OUT_ID_MAX];		/* the receiver's (dialback key) */

	const struct s2s_dialer_ops *dial_ops;
	struct s2s_dial *dial;			/* the connect sequence, until established */
	/* The connection to the current candidate (counted in handles_open);
	 * one that failed is detached (s2s_conn_detach) and the next
	 * candidate gets a new one. */
	struct s2s_conn *conn;
	uv_timer_t timer;			/* deadline, then idle */
	uv_timer_t keepalive;
	uv_check_t flush_check;			/* writes the queue after this loop turn's reads */
	/* XEP-0198 requests by time, and the custody bound
	 * (limits.sm_settle_timeout_ms): runs while stanzas are held.  Its
	 * ticks are the clock stanzas are stamped and aged with (sm_clock_ms
	 * moves by one period per tick): what ages a stanza is the timer
	 * firing, never a reading of the loop's clock between ticks. */
	uv_timer_t sm_timer;
	uint64_t sm_clock_ms;
	int handles_open;
	struct route_slot route;		/* in the routing table (router.c) */

	int direct_tls;
	int pkix_ok;				/* peer certificate valid for remote
						   (PKIX, or a DANE match) */
	int tls_no_cert;			/* the peer refused ours: present none */
	/* The failed TLS of the last connection said: try the same address
	 * without a certificate (decided while that TLS was still there). */
	int fallback_pending;
	struct s2s_dane_target dane;		/* the current candidate's DANE facts */
	int sasl_done;
	int peer_has_db;			/* header declared xmlns:db */
	const char *auth_method;		/* once established */

	struct s2s_out_queue q;
	size_t q_bytes, q_count;		/* what q holds */
	/* XEP-0198 (sm.h) toward this peer: enabled when it offers it. */
	enum s2s_out_sm_state sm_state;
	int peer_offers_sm;			/* <sm xmlns='urn:xmpp:sm:3'/> in its features */
	/* <enable/> sent without an offer: a peer that does not answer
	 * within S2S_OUT_SM_UNOFFERED_WAIT_MS is taken as OFF. */
	int sm_unoffered;
	uint64_t sm_enable_sent_ms;		/* sm_clock_ms then */
	uint64_t stanzas_acked, stanzas_unconfirmed;
	/* Shutting down (s2s_out_shutdown): closes once everything written
	 * is acknowledged, or at the next s2s_out_shutdown. */
	int shutdown_wait_ack;

	/* XEP-0288: the receiving server's stanzas on this stream, once
	 * negotiated (s2s_out_bidi.c). */
	struct s2s_out_bidi bidi;

	/* S2S_OUT_VERIFY: the question and who waits for the answer.  The
	 * question is allocated for that kind only: 392 bytes other streams
	 * need not carry (issue 18, memory per idle stream). */
	dialback_verify_cb verify_cb;		/* NULL once answered or cancelled */
	void *verify_arg;
	struct s2s_out_verify_question *verify_q;

	uint64_t stanzas_out, bounced;
	uint64_t started_ms;			/* uv_now() at start */
	const char *fail_condition;		/* set by s2s_out_fail */
	char fail_reason[160];
	/* A failure seen inside a send or a TLS callback, acted on from the
	 * loop (the rule above); NULL when none is pending. */
	const char *later_condition;
	int later_retry;			/* try the next target, if any */
	char later_reason[160];
	struct s2s_out *next, *prev;
};

static void s2s_out_fail(struct s2s_out *o, const char *condition, const char *reason);
static void s2s_out_fail_later(struct s2s_out *o, const char *condition, const char *reason,
    int retry);
static void s2s_out_flush_queue(struct s2s_out *o);

/*
 * What differs between the kinds of outgoing stream, in one place: a new
 * kind is a new row, not a hunt through the file.
 */
struct s2s_out_kind_info {
	const char *name;		/* in logs and `status` */
	/* RFC 6120 §8.3.3: what the stanzas queued on a failed stream go
	 * back with (the gateway's senders are remote: to them our side is
	 * unavailable; a remote domain that cannot be reached is "not
	 * found"), and on shutdown. */
	const char *bounce;
	const char *bounce_shutdown;
	/* Written, not acknowledged (XEP-0198) when the stream ended: the
	 * peer may have it or not; bounced, never written again (see
	 * s2s_out_bounce_queue). */
	const char *bounce_unacked;
	const char *tls_event;		/* the TLS log event */
	enum tls_role tls_role;
	/* The gateway: reached at gateway.address by Direct TLS, trusted on
	 * its pinned key only (no STARTTLS, no partner policy, a key that
	 * does not verify is final); we speak for the remote domain, so the
	 * partner entry that counts is the local side's. */
	int pinned;
	/* Authentication chosen by the partner's policy (SASL EXTERNAL,
	 * dialback); the others use dialback as offered. */
	int policy_auth;
	/* Carries stanzas: in the routing table, counted in streams_out. */
	int carries_stanzas;
	/* One <db:verify/> question after the features (XEP-0220 §2.3). */
	int asks_verify;
	/* <enable/> after dialback even when the features had no <sm/>:
	 * Prosody 0.12 offers <sm/> only on an already authenticated s2sin
	 * (mod_smacks can_do_smacks), which a dialback stream is not when
	 * its features are sent, yet it answers <enable/> once dialback made
	 * it one.  We speak for partner domains toward the gateway, so
	 * dialback is the only way in there (no certificate of ours names
	 * them for SASL EXTERNAL). */
	int sm_enable_unoffered;
};

static const struct s2s_out_kind_info s2s_out_kinds[] = {
	[S2S_OUT_REMOTE] = {
		.name = "remote", .bounce = "remote-server-not-found",
		.bounce_shutdown = "remote-server-timeout", .bounce_unacked = "remote-server-timeout",
		.tls_event = "s2s_out.tls",
		.tls_role = TLS_ROLE_EXTERNAL_CLIENT, .policy_auth = 1, .carries_stanzas = 1,
	},
	[S2S_OUT_GATEWAY] = {
		.name = "gateway", .bounce = "service-unavailable",
		.bounce_shutdown = "service-unavailable", .bounce_unacked = "service-unavailable",
		.tls_event = "s2s_out.tls",
		.tls_role = TLS_ROLE_INTERNAL_CLIENT, .pinned = 1, .carries_stanzas = 1,
		.sm_enable_unoffered = 1,
	},
	[S2S_OUT_VERIFY] = {
		.name = "verify", .bounce = "remote-server-not-found",
		.bounce_shutdown = "remote-server-timeout", .bounce_unacked = "remote-server-timeout",
		.tls_event = "dialback.verify_tls",
		.tls_role = TLS_ROLE_EXTERNAL_CLIENT, .asks_verify = 1,
	},
};

static const struct s2s_out_kind_info *
s2s_out_kind(const struct s2s_out *o)
{
	return &s2s_out_kinds[o->kind];
}

/* The per-way counters this stream's stanzas count in. */
static struct edge_toward_stats *
s2s_out_toward(struct s2s_out *o)
{
	return &o->edge->stats.toward[o->kind == S2S_OUT_GATEWAY ? EDGE_TOWARD_GATEWAY : EDGE_TOWARD_REMOTE];
}

/* The bounce condition for a stream that failed (RFC 6120 §8.3.3). */
static const char *
s2s_out_condition(const struct s2s_out *o)
{
	return s2s_out_kind(o)->bounce;
}

/* The dialer: the edge's (tests), else the real one over edge->dns,
 * built in *real. */
static struct s2s_dialer *
s2s_out_dialer(struct edge *edge, struct s2s_dialer *real)
{
	if (edge->dialer != NULL)
		return edge->dialer;
	s2s_dial_dns_init(real, edge->dns);
	return real;
}

static void
s2s_out_enter_state(struct s2s_out *o, enum s2s_out_state next)
{
	log_event(LOG_DEBUG, "s2s_out.state", "remote", o->remote, "local", o->local,
	    "from", s2s_out_state_names[o->state], "to", s2s_out_state_names[next], NULL);
	o->state = next;
}

/* The remote domain's partner entry, looked up each time: a reload
 * replaces the configuration under running streams. */
static const struct config_partner *
s2s_out_policy(const struct s2s_out *o)
{
	return config_policy_for(o->edge->cfg, s2s_out_kind(o)->pinned ? o->local : o->remote);
}

static const char *
s2s_out_kind_name(const struct s2s_out *o)
{
	return s2s_out_kind(o)->name;
}

/* Reports the answer of a verification stream, once. */
static void
s2s_out_verify_finish(struct s2s_out *o, enum dialback_verdict verdict, int timeout,
    const char *reason)
{
	dialback_verify_cb cb = o->verify_cb;

	if (cb == NULL)
		return;
	o->verify_cb = NULL;
	log_event(verdict == DIALBACK_ERROR ? LOG_WARN : LOG_INFO, "dialback.verify",
	    "remote", o->remote, "peer", o->peer[0] ? o->peer : NULL,
	    "result", verdict == DIALBACK_VALID ? "valid" :
	    verdict == DIALBACK_INVALID ? "invalid" : "error", "reason", reason, NULL);
	cb(verdict, timeout, reason, o->verify_arg);
}

/* --- table (router.c's) ----------------------------------------------- */

struct route_slot *
s2s_out_route(struct s2s_out *o)
{
	return &o->route;
}

struct s2s_out *
s2s_out_of_route(struct route_slot *r)
{
	return (struct s2s_out *)((char *)r - offsetof(struct s2s_out, route));
}

/* Takes o out of the routing table: new stanzas start a new stream. */
static void
s2s_out_unroute(struct s2s_out *o)
{
	router_table_remove(o->edge, &o->route);
}

struct s2s_out *
s2s_out_next(const struct s2s_out *o)
{
	return o->next;
}

size_t
s2s_out_memory(const struct s2s_out *o)
{
	return sizeof(*o) + s2s_out_bidi_memory(&o->bidi) +
	    (o->verify_q != NULL ? sizeof(*o->verify_q) : 0) + o->q.cap +
	    o->q.r.cap * sizeof(*o->q.r.ring);
}

size_t
s2s_out_count_partner(struct edge *edge, const struct config_partner *p)
{
	struct s2s_out *o;
	size_t n = 0;

	for (o = edge->out_streams; o != NULL; o = o->next)
		if (o->state != S2S_OUT_CLOSED &&
		    s2s_out_policy(o) == p)
			n++;
	return n;
}

/* --- closing ------------------------------------------------------------ */

/* The last handle (timers, connection) closed: the one place the stream
 * is freed. */
static void
s2s_out_handle_closed(struct s2s_out *o)
{
	if (--o->handles_open > 0)
		return;
	if (o->prev)
		o->prev->next = o->next;
	else
		o->edge->out_streams = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->edge->out_stream_count--;
	/* Every way to close bounced the queue; nothing may be left. */
	if (o->q.r.count > 0) {
		size_t i;

		o->edge->stats.stanzas_unbounceable += o->q.r.count;
		log_event(LOG_ERROR, "s2s_out.stanza_lost", "remote", o->remote, NULL);
		/* Never acknowledged to their sources: they keep custody. */
		for (i = 0; i < o->q.r.count; i++)
			s2s_in_custody_keep(o->edge, &sm_queue_at(&o->q.r, i)->tag);
		s2s_in_custody_report(o->edge);
	}
	s2s_out_queue_free(&o->q);
	s2s_dane_target_clear(&o->dane);
	s2s_out_bidi_reset(&o->bidi);
	free(o->verify_q);
	free(o);
}

static void
s2s_out_on_handle_closed(uv_handle_t *h)
{
	s2s_out_handle_closed(h->data);
}

/* Bounces one queued stanza.  Its custody goes with it (router.h): the
 * bounce carries it on, an error stanza is settled, and a stanza whose
 * bounce has no way back -- or a bounce that cannot be delivered -- is
 * kept unsettled (s2s_in_custody_keep; issue 21). */
static void
s2s_out_bounce_one(struct s2s_out *o, const char *data, size_t len, const struct sm_tag *tag,
    const char *condition, const char *text)
{
	enum route_bounce b = router_bounce_bytes(o->edge, data, len, stanza_error_from_name(condition),
	    text, tag);

	if (b == ROUTE_BOUNCE_QUEUED || b == ROUTE_BOUNCE_PAUSE)
		o->bounced++;
}

/* Bounces the stanzas i0 .. i0 + n - 1 of q (their bytes from 'at'). */
static void
s2s_out_bounce_span(struct s2s_out *o, const struct s2s_out_queue *q, size_t i0, size_t at,
    size_t n, const char *condition, const char *text)
{
	size_t i, len;

	for (i = i0; i < i0 + n; i++, at += len) {
		len = s2s_out_queue_len(q, i);
		s2s_out_bounce_one(o, q->buf + at, len, &sm_queue_at(&q->r, i)->tag, condition, text);
	}
}

/* Copies the stanzas i0 .. i0 + n - 1 of o's queue (their bytes from
 * 'at') into *to, a fresh queue the caller frees: a bounce routes, and
 * may queue on this very stream (a bounce to ourselves), so what is
 * bounced is taken out of o first.  A stanza that cannot be copied (out
 * of memory) is neither copied nor bounced, so not settled either: its
 * source keeps custody. */
static void
s2s_out_queue_copy_span(struct s2s_out *o, size_t i0, size_t at, size_t n,
    struct s2s_out_queue *to)
{
	size_t i;

	memset(to, 0, sizeof(*to));
	for (i = i0; i < i0 + n; i++) {
		const struct sm_entry *e = sm_queue_at(&o->q.r, i);

		if (s2s_out_queue_push(to, o->q.buf + at, e->len, &e->tag, e->queued_ms) < 0) {
			o->edge->stats.stanzas_unbounceable++;
			log_event(LOG_ERROR, "route.bounce_failed", "reason", "out of memory", NULL);
			s2s_in_custody_keep(o->edge, &e->tag);
		}
		at += e->len;
	}
}

/*
 * Bounces the stanzas not written yet, and only those: the stream goes
 * on, and what it wrote still waits for the peer's XEP-0198 ack (the
 * peer may have it: bouncing it now could report an error for a stanza
 * that arrives).  Their custody goes with their bounces (router.h).
 */
static void
s2s_out_bounce_unsent(struct s2s_out *o, const char *condition, const char *text)
{
	size_t n = sm_queue_unsent(&o->q.r), bytes;
	struct s2s_out_queue gone;

	if (n == 0)
		return;
	s2s_out_queue_copy_span(o, o->q.r.nsent, o->q.head + o->q.r.sent_bytes, n, &gone);
	bytes = sm_queue_drop_unsent(&o->q.r);
	o->q.tail -= bytes;
	if (o->q.r.count == 0)
		o->q.head = o->q.tail = 0;
	o->q_bytes -= bytes;
	o->q_count -= n;
	s2s_out_bounce_span(o, &gone, 0, gone.head, gone.r.count, condition, text);
	s2s_out_queue_free(&gone);
	s2s_in_custody_report(o->edge);
	router_wake_waiters(&o->route);
}

/*
 * Bounces whatever is still queued (condition set by the failure).  The
 * queue is taken out of o first: a bounce routes, and nothing it does may
 * grow the buffer being read.
 *
 * Stanzas written and not acknowledged (XEP-0198 on) when the stream
 * ended are bounced too, with the kind's bounce_unacked condition, never
 * written again on a new stream: the peer may have processed them and
 * lost only our <a/>'s answer, and neither Prosody nor xmpp-edge can
 * resume a server-to-server stream (XEP-0198 §5) to learn the last h.  A
 * resend could deliver a message twice; a bounce at worst reports an
 * error for a message that arrived, which its sender can see and check.
 * Issue 21 asks for the bounce when it cannot be known.
 */
static void
s2s_out_bounce_queue(struct s2s_out *o, const char *condition, const char *text)
{
	struct s2s_out_queue q = o->q;

	memset(&o->q, 0, sizeof(o->q));
	o->q_bytes = 0;
	o->q_count = 0;
	if (q.r.nsent > 0)
		s2s_out_bounce_span(o, &q, 0, q.head, q.r.nsent, s2s_out_kind(o)->bounce_unacked,
		    "the stream to the next hop ended before it acknowledged the stanza (XEP-0198)");
	s2s_out_bounce_span(o, &q, q.r.nsent, q.head + q.r.sent_bytes, sm_queue_unsent(&q.r),
	    condition, text);
	s2s_out_queue_free(&q);
	s2s_in_custody_report(o->edge);
}

static void
s2s_out_close_handles(struct s2s_out *o)
{
	if (o->state == S2S_OUT_CLOSED)
		return;
	s2s_out_enter_state(o, S2S_OUT_CLOSED);
	s2s_out_unroute(o);
	if (o->dial != NULL) {
		o->dial_ops->free(o->dial);
		o->dial = NULL;
	}
	if (o->conn != NULL)
		s2s_conn_abort(o->conn, "closed");	/* its on_closed counts down */
	uv_close((uv_handle_t *)&o->timer, s2s_out_on_handle_closed);
	uv_close((uv_handle_t *)&o->keepalive, s2s_out_on_handle_closed);
	uv_close((uv_handle_t *)&o->flush_check, s2s_out_on_handle_closed);
	uv_close((uv_handle_t *)&o->sm_timer, s2s_out_on_handle_closed);
}

/* The one way out after connecting.  condition: the bounce for what is
 * still queued; reason is logged. */
static void
s2s_out_close(struct s2s_out *o, const char *condition, const char *reason)
{
	if (o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		return;
	o->later_condition = NULL;	/* this close is the one it asked for */
	s2s_out_unroute(o);
	s2s_out_bidi_reset(&o->bidi);	/* nothing more comes in */
	s2s_out_verify_finish(o, DIALBACK_ERROR, strcmp(condition, "remote-server-timeout") == 0, reason);
	log_event(LOG_INFO, "s2s_out.close", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer[0] ? o->peer : NULL, "reason", reason,
	    "state", s2s_out_state_names[o->state], NULL);
	s2s_out_bounce_queue(o, condition, reason);
	router_wake_waiters(&o->route);
	{
		char n1[24], n2[24];

		snprintf(n1, sizeof(n1), "%llu", (unsigned long long)o->stanzas_out);
		snprintf(n2, sizeof(n2), "%llu", (unsigned long long)o->bounced);
		log_event(LOG_INFO, "s2s_out.closed", "kind", s2s_out_kind_name(o), "local", o->local,
		    "remote", o->remote, "stanzas_out", n1, "bounced", n2, NULL);
	}
	uv_timer_stop(&o->timer);
	uv_timer_stop(&o->keepalive);
	uv_timer_stop(&o->sm_timer);
	if (o->conn == NULL) {
		s2s_out_close_handles(o);
		return;
	}
	/* The connection flushes (close_notify, half-close, bounded in
	 * time); its on_closed closes the rest. */
	s2s_out_enter_state(o, S2S_OUT_CLOSING);
	s2s_conn_close(o->conn, reason);
}

static void
s2s_out_fail(struct s2s_out *o, const char *condition, const char *reason)
{
	if (o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		return;
	/* Verification streams have their own counters (dialback.verify). */
	if (o->state != S2S_OUT_ESTABLISHED && s2s_out_kind(o)->carries_stanzas)
		o->edge->stats.streams_out_failed++;
	o->fail_condition = condition;
	snprintf(o->fail_reason, sizeof(o->fail_reason), "%s", reason);
	log_event(LOG_WARN, "s2s_out.failed", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer[0] ? o->peer : NULL, "condition", condition,
	    "reason", reason, NULL);
	s2s_out_close(o, condition, reason);
}

static void s2s_out_on_timer(uv_timer_t *t);

/* Drops a failure recorded by s2s_out_fail_later (the stream is being
 * closed or reset anyway); the timer it borrowed keeps the connect
 * deadline again, with what is left of it. */
static void
s2s_out_clear_later(struct s2s_out *o)
{
	uint64_t now, deadline;

	if (o->later_condition == NULL)
		return;
	o->later_condition = NULL;
	now = uv_now(o->edge->loop);
	deadline = o->started_ms + (uint64_t)o->edge->cfg->limits.connect_timeout_ms;
	uv_timer_start(&o->timer, s2s_out_on_timer, deadline > now ? deadline - now : 0, 0);
}

/*
 * This target failed before the stream was established: drop the
 * connection and go on with the next candidate of the connect sequence,
 * or fail when there is none (the sequence then reports it).  Failures
 * of authentication itself (dialback refused) are final, not retried.
 */
static void
s2s_out_retry(struct s2s_out *o, const char *condition, const char *reason)
{
	int again;

	if (o->dial == NULL || o->state == S2S_OUT_ESTABLISHED || o->state == S2S_OUT_CLOSING ||
	    o->state == S2S_OUT_CLOSED) {
		s2s_out_fail(o, condition, reason);
		return;
	}
	s2s_out_clear_later(o);
	log_event(LOG_INFO, "s2s_out.next_target", "remote", o->remote, "peer", o->peer,
	    "reason", reason, NULL);
	snprintf(o->fail_reason, sizeof(o->fail_reason), "%s: %s", o->peer, reason);
	/* A peer that refused our certificate in TLS gets the same address
	 * again without one (cert_fallback.c); the failed TLS connection is
	 * still there to ask. */
	again = o->fallback_pending || (o->conn != NULL &&
	    cert_fallback_wanted(s2s_conn_tls_any(o->conn), o->tls_no_cert,
	    s2s_out_kind(o)->policy_auth, o->edge->cfg, s2s_out_policy(o), o->remote, o->peer));
	o->fallback_pending = 0;
	o->tls_no_cert |= again;
	/* No callback of the old connection reaches us any more; it is
	 * freed from its own close callback, never inside this one.  (It
	 * may be gone already: a failure acted on from the loop.) */
	if (o->conn != NULL) {
		s2s_conn_detach(o->conn);
		o->conn = NULL;
		o->handles_open--;
	}
	o->pkix_ok = 0;
	o->sasl_done = 0;
	o->peer_has_db = 0;
	s2s_out_bidi_reset(&o->bidi);
	o->peer_offers_sm = 0;
	o->stream_id[0] = '\0';
	o->peer[0] = '\0';
	s2s_out_enter_state(o, S2S_OUT_CONNECTING);
	if (again)
		o->dial_ops->again(o->dial);
	else
		o->dial_ops->next(o->dial);
}

/* --- output ------------------------------------------------------------- */

/* Stream bytes to the current connection: 0, or -1 when not sent (no
 * connection, or it is closing after the call: its on_closing recorded
 * why, acted on from the loop). */
static int
s2s_out_send(struct s2s_out *o, const char *data, size_t len)
{
	if (o->conn == NULL)
		return -1;
	return s2s_conn_send(o->conn, data, len);
}

static int
s2s_out_sendstr(struct s2s_out *o, const char *s)
{
	return s2s_out_send(o, s, strlen(s));
}

static void
s2s_out_send_header(struct s2s_out *o)
{
	char hdr[1024];
	int n;

	/* XEP-0220 §2.4.1: xmlns:db announces dialback. */
	n = snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='" NS_STREAMS "' xmlns:db='" NS_DIALBACK "' from='%s' to='%s' "
	    "version='1.0'>", o->local, o->remote);
	if (n > 0 && (size_t)n < sizeof(hdr))
		s2s_out_send(o, hdr, (size_t)n);
}

/* Settles the first n stanzas of the queue for their sources and drops
 * them (acknowledged by the peer, or written toward one without
 * XEP-0198). */
static void
s2s_out_settle_head(struct s2s_out *o, size_t n)
{
	size_t i, bytes;

	for (i = 0; i < n; i++)
		s2s_in_custody_settle(o->edge, &sm_queue_at(&o->q.r, i)->tag);
	bytes = s2s_out_queue_pop(&o->q, n);
	o->q_bytes -= bytes;
	o->q_count -= n;
}

static void s2s_out_on_sm_timer(uv_timer_t *t);
static void s2s_out_on_sm_answer(struct s2s_out *o, int enabled, const char *result);

/* How long an <enable/> the peer never offered may wait for its answer
 * (Prosody answers at once; a server without XEP-0198 may never). */
#define S2S_OUT_SM_UNOFFERED_WAIT_MS 3000

/* The sm timer's period: requests by time, and a tenth of the custody
 * bound (a stanza is bounced at most 10 % after it). */
static uint64_t
s2s_out_sm_period(const struct s2s_out *o)
{
	const struct config_limits *lim = &o->edge->cfg->limits;
	uint64_t every = (uint64_t)lim->sm_request_every_ms, tenth = (uint64_t)lim->sm_settle_timeout_ms / 10;

	return every < tenth ? every : tenth;
}

/* The sm timer runs while the stream holds stanzas (written and not
 * acknowledged, or not written): acks requested by time, and the custody
 * bound. */
static void
s2s_out_sm_timer_update(struct s2s_out *o)
{
	uint64_t every = s2s_out_sm_period(o);

	if (o->state != S2S_OUT_ESTABLISHED || o->later_condition != NULL ||
	    (o->q.r.count == 0 && o->q.cap == 0)) {
		uv_timer_stop(&o->sm_timer);
		return;
	}
	if (!uv_is_active((uv_handle_t *)&o->sm_timer))
		uv_timer_start(&o->sm_timer, s2s_out_on_sm_timer, every, every);
}

/* <r/> when the policy says so (XEP-0198 §4).  While the daemon shuts
 * down, after every write: each stanza the peer acknowledges is one the
 * edge need not bounce (and its source's last <a h/> can count). */
#define S2S_OUT_SM_R "<r xmlns='" SM_NS "'/>"

/* 1 when the policy wants an <r/> once the counts of q are what they
 * say (q: the stream's ring, or a copy counting a batch not yet sent). */
static int
s2s_out_sm_wants_request(const struct s2s_out *o, const struct sm_queue *q)
{
	const struct config_limits *lim = &o->edge->cfg->limits;
	struct sm_request_policy pol = {
		.every_stanzas = (uint32_t)lim->sm_request_every_stanzas,
		.every_bytes = (size_t)lim->sm_request_every_bytes,
		.every_ms = (uint64_t)lim->sm_request_every_ms,
	};

	if (o->edge->shutting_down) {
		pol.every_stanzas = 1;
		pol.every_bytes = 1;
	}
	return o->sm_state == S2S_OUT_SM_ON && o->later_condition == NULL &&
	    sm_queue_want_request(q, &pol, o->sm_clock_ms);
}

static void
s2s_out_sm_maybe_request(struct s2s_out *o)
{
	if (!s2s_out_sm_wants_request(o, &o->q.r))
		return;
	sm_queue_requested(&o->q.r, o->sm_clock_ms);
	(void)s2s_out_sendstr(o, S2S_OUT_SM_R);
}

/* The <r/> a batch about to be sent will call for rides in the batch's
 * last TLS record instead of one of its own (issue 18, relay CPU: with
 * acks flowing, nearly every flush ended with a 26-byte record, a
 * quarter more records at 300-byte stanzas).  Only for the batch at the
 * queue's tail, whose last record has room: the <r/> is written into the
 * free space past the tail, not counted as queued (nothing else is ever
 * sent from there).  Returns the bytes to add to the send (0: none). */
static size_t
s2s_out_sm_request_rides(struct s2s_out *o, size_t at, size_t len, size_t n)
{
	static const char r[] = S2S_OUT_SM_R;
	struct tls_conn *tls = s2s_conn_tls(o->conn);
	struct sm_queue after = o->q.r;	/* its counts only: mark_sent touches no ring */
	size_t rmax, last;

	if (tls == NULL || at + len != o->q.tail || o->q.cap - o->q.tail < sizeof(r) - 1)
		return 0;
	rmax = tls_conn_record_plaintext_max(tls);
	last = rmax > 0 ? len % rmax : 0;
	if (last == 0 || last + sizeof(r) - 1 > rmax)
		return 0;
	sm_queue_mark_sent(&after, n, len);
	if (!s2s_out_sm_wants_request(o, &after))
		return 0;
	memcpy(o->q.buf + o->q.tail, r, sizeof(r) - 1);
	return sizeof(r) - 1;
}

/* Moves queued stanzas to the socket while the socket's own backlog is
 * under limits.send_queue_bytes; wakes paused senders once the queue is
 * down to half of limits.route_queue_bytes.  Stanzas go out in batches of
 * up to one TLS record's worth: one record, one write for many small
 * stanzas (tests/bench/run_relay.sh measured the cost per record).  With
 * XEP-0198 on, written stanzas stay in the queue until acknowledged (and
 * count against limits.route_queue_bytes: a peer that does not ack slows
 * its senders); without, they are settled as written ("unconfirmed").
 * Nothing is written while <enable/> waits for its answer. */
static void
s2s_out_flush_queue(struct s2s_out *o)
{
	const struct config_limits *lim = &o->edge->cfg->limits;
	int sent = 0;

	while (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL &&
	    o->sm_state != S2S_OUT_SM_ENABLING && sm_queue_unsent(&o->q.r) > 0 &&
	    o->conn != NULL && s2s_conn_queued(o->conn) < (size_t)lim->send_queue_bytes) {
		size_t len = 0, n = 0, i0 = o->q.r.nsent, at = o->q.head + o->q.r.sent_bytes, rlen;

		/* Whole stanzas, a record's worth (a large one alone): one
		 * contiguous span of the queue, one record, one write. */
		while (i0 + n < o->q.r.count &&
		    (n == 0 || len + s2s_out_queue_len(&o->q, i0 + n) <= S2S_CONN_RECORD_MAX))
			len += s2s_out_queue_len(&o->q, i0 + n++);
		rlen = s2s_out_sm_request_rides(o, at, len, n);
		if (s2s_conn_send(o->conn, o->q.buf + at, len + rlen) == 0) {
			sm_queue_mark_sent(&o->q.r, n, len);
			if (rlen > 0)
				sm_queue_requested(&o->q.r, o->sm_clock_ms);
			sent = 1;
			o->stanzas_out += n;
			o->edge->stats.stanzas_delivered += n;
			s2s_out_toward(o)->delivered += n;
			if (o->sm_state != S2S_OUT_SM_ON) {
				/* Handed to TCP: as far as xmpp-edge can know. */
				o->stanzas_unconfirmed += n;
				o->edge->stats.stanzas_unconfirmed += n;
				s2s_out_toward(o)->unconfirmed += n;
				s2s_out_settle_head(o, n);
			}
			continue;
		}
		/* The stream broke under them: they stay queued and go back
		 * with the rest when the failure is acted on (s2s_out_close
		 * bounces the whole queue). */
		s2s_out_fail_later(o, s2s_out_condition(o), "write failed", 0);
		return;
	}
	if (sent)
		s2s_out_sm_maybe_request(o);
	if (o->q_bytes <= (size_t)lim->route_queue_bytes / 2)
		router_wake_waiters(&o->route);
	s2s_in_custody_report(o->edge);
	s2s_out_sm_timer_update(o);
	/* Idle means no stanza for a while: keepalives do not count. */
	if (sent && o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL)
		uv_timer_again(&o->timer);
}

/* After the loop's I/O callbacks of this turn: what they queued goes out
 * together. */
static void
s2s_out_on_flush_check(uv_check_t *h)
{
	struct s2s_out *o = h->data;

	uv_check_stop(h);
	s2s_out_flush_queue(o);
}

int
s2s_out_enqueue(struct s2s_out *o, const char *data, size_t len)
{
	return s2s_out_enqueue_tagged(o, data, len, NULL);
}

size_t
s2s_out_in_flight(const struct s2s_out *o)
{
	return o->q.r.count;
}

/* bounce: the stanza is a bounce, taken past the hard bound (router.h,
 * "Bounces and the queue bound": at most one per stanza the edge read,
 * and their senders pause like any other's). */
static int
s2s_out_enqueue_as(struct s2s_out *o, const char *data, size_t len, const struct sm_tag *tag,
    int bounce)
{
	const struct config_limits *lim = &o->edge->cfg->limits;

	if (!bounce && o->q_bytes + len > 2 * (size_t)lim->route_queue_bytes)
		return -1;
	if (s2s_out_queue_push(&o->q, data, len, tag, o->sm_clock_ms) < 0)
		return -1;
	o->q_bytes += len;
	o->q_count++;
	if (o->state == S2S_OUT_ESTABLISHED && !uv_is_active((uv_handle_t *)&o->flush_check))
		uv_check_start(&o->flush_check, s2s_out_on_flush_check);
	return o->q_bytes > (size_t)lim->route_queue_bytes ? 1 : 0;
}

int
s2s_out_enqueue_tagged(struct s2s_out *o, const char *data, size_t len, const struct sm_tag *tag)
{
	return s2s_out_enqueue_as(o, data, len, tag, 0);
}

/* The routing table's way in (router.h). */
static int
s2s_out_route_enqueue(struct route_slot *r, const char *data, size_t len,
    const struct sm_tag *tag, int bounce)
{
	return s2s_out_enqueue_as(s2s_out_of_route(r), data, len, tag, bounce);
}

/* --- timers --------------------------------------------------------------- */

static int
s2s_out_idle_s(const struct s2s_out *o)
{
	if (s2s_out_policy(o)->idle_timeout_s > 0)
		return s2s_out_policy(o)->idle_timeout_s;
	return o->edge->cfg->limits.idle_timeout_s;
}

/* Records a failure seen where the stream must not be closed (inside a
 * send or a TLS callback, see the rule at struct s2s_out); the deadline
 * timer, run at once, acts on it from the loop.  The first one counts. */
static void
s2s_out_fail_later(struct s2s_out *o, const char *condition, const char *reason, int retry)
{
	if (o->later_condition != NULL || o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		return;
	o->later_condition = condition;
	o->later_retry = retry;
	snprintf(o->later_reason, sizeof(o->later_reason), "%s", reason);
	uv_timer_stop(&o->keepalive);
	uv_timer_start(&o->timer, s2s_out_on_timer, 0, 0);
}

/* 1 while events from the peer should still be handled. */
static int
s2s_out_is_live(const struct s2s_out *o)
{
	return o->state != S2S_OUT_CLOSING && o->state != S2S_OUT_CLOSED && o->later_condition == NULL;
}

static void
s2s_out_on_timer(uv_timer_t *t)
{
	struct s2s_out *o = t->data;

	if (o->later_condition != NULL) {
		const char *condition = o->later_condition;
		char reason[sizeof(o->later_reason)];

		memcpy(reason, o->later_reason, sizeof(reason));
		if (o->later_retry && o->state != S2S_OUT_ESTABLISHED)
			s2s_out_retry(o, condition, reason);
		else
			s2s_out_fail(o, condition, reason);
		return;
	}
	if (o->state == S2S_OUT_ESTABLISHED) {
		if (o->q.r.count > 0 || (o->conn != NULL && s2s_conn_queued(o->conn) > 0)) {
			uv_timer_again(&o->timer);	/* busy, not idle */
			return;
		}
		/* RFC 6120 §4.4: an orderly close of an idle stream. */
		s2s_out_sendstr(o, "</stream:stream>");
		s2s_out_close(o, "remote-server-not-found", "idle");
		return;
	}
	s2s_out_fail(o, "remote-server-timeout",
	    "not established within limits.connect_timeout_ms");
}

static void
s2s_out_on_keepalive(uv_timer_t *t)
{
	struct s2s_out *o = t->data;

	/* RFC 6120 §4.6.1: whitespace keepalive (Lync: EnableKeepAlive). */
	if (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && o->conn != NULL &&
	    s2s_conn_queued(o->conn) == 0)
		s2s_out_sendstr(o, " ");
}

/*
 * The custody bound (limits.sm_settle_timeout_ms) and <r/> by time.  The
 * oldest stanza is at the head.  Not written yet (the peer reads slowly):
 * it and every other one that old are bounced (remote-server-timeout, or
 * service-unavailable toward the gateway) and so settled.  Written and
 * not acknowledged: the peer is not answering <r/>, so the stream is
 * ended; its close bounces what was not acknowledged (never written
 * again, see s2s_out_bounce_queue).
 */
static void
s2s_out_on_sm_timer(uv_timer_t *t)
{
	struct s2s_out *o = t->data;
	uint64_t now, limit = (uint64_t)o->edge->cfg->limits.sm_settle_timeout_ms;
	size_t n = 0, bytes = 0;

	o->sm_clock_ms += s2s_out_sm_period(o);
	now = o->sm_clock_ms;
	if (o->state != S2S_OUT_ESTABLISHED || o->later_condition != NULL)
		return;
	s2s_out_queue_trim(&o->q);
	if (o->sm_state == S2S_OUT_SM_ENABLING && o->sm_unoffered &&
	    now >= o->sm_enable_sent_ms + S2S_OUT_SM_UNOFFERED_WAIT_MS) {
		/* A gateway without XEP-0198 may ignore what it never
		 * offered (XEP-0198 §3 only obliges an answer to an offer):
		 * go on without it, and do not ask this gateway again. */
		o->edge->gateway_sm_unanswered = 1;
		o->edge->gateway_sm_answered = 0;	/* another gateway now */
		s2s_out_on_sm_answer(o, 0, "unanswered");
		return;
	}
	if (o->q.r.count > 0 && now >= sm_queue_at(&o->q.r, 0)->queued_ms + limit) {
		if (o->q.r.nsent > 0) {
			o->edge->stats.stanzas_settle_timeout += o->q.r.nsent;
			s2s_out_fail(o, s2s_out_kind(o)->bounce_unacked,
			    "no acknowledgement within limits.sm_settle_timeout_ms");
			return;
		}
		while (n < o->q.r.count && now >= sm_queue_at(&o->q.r, n)->queued_ms + limit)
			bytes += s2s_out_queue_len(&o->q, n++);
		log_event(LOG_WARN, "s2s_out.settle_timeout", "kind", s2s_out_kind_name(o),
		    "local", o->local, "remote", o->remote, NULL);
		o->edge->stats.stanzas_settle_timeout += n;
		/* The span is copied out first (s2s_out_queue_copy_span). */
		{
			struct s2s_out_queue q;

			s2s_out_queue_copy_span(o, 0, o->q.head, n, &q);
			(void)s2s_out_queue_pop(&o->q, n);
			o->q_bytes -= bytes;
			o->q_count -= n;
			s2s_out_bounce_span(o, &q, 0, q.head, q.r.count, s2s_out_kind(o)->bounce_unacked,
			    "not written to the next hop within limits.sm_settle_timeout_ms");
			s2s_out_queue_free(&q);
		}
		s2s_in_custody_report(o->edge);
		router_wake_waiters(&o->route);
	}
	s2s_out_sm_maybe_request(o);
	s2s_out_sm_timer_update(o);
}

/* --- XEP-0198 answers ------------------------------------------------------- */

/* <enabled/> or <failed/> to our <enable/>. */
static void
s2s_out_on_sm_answer(struct s2s_out *o, int enabled, const char *result)
{
	o->sm_state = enabled ? S2S_OUT_SM_ON : S2S_OUT_SM_FAILED;
	if (enabled) {
		sm_queue_enable(&o->q.r);
		o->edge->stats.sm_streams_out++;
		if (o->sm_unoffered)
			o->edge->gateway_sm_answered = 1;
	}
	log_event(LOG_INFO, "s2s_out.sm", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "result", result, "offered", o->peer_offers_sm ? "yes" : "no", NULL);
	s2s_out_flush_queue(o);
}

/* <a h/>: the first stanzas it covers are settled; a hostile h ends the
 * stream (XEP-0198 §4), and what was not acknowledged is bounced. */
static void
s2s_out_on_sm_ack(struct s2s_out *o, const struct xmlstream_event *ev)
{
	char text[SM_H_TEXT_MAX + 1], out[1024];
	enum sm_ack_result r;
	uint32_t h, newly;
	size_t len;

	if (xmlelem_attr(ev, "h", text, sizeof(text)) < 0 || sm_h_parse(text, strlen(text), &h) < 0) {
		if (stream_error_write(out, sizeof(out), STREAM_ERR_INVALID_XML,
		    "<a/> without a valid 'h' (XEP-0198 §4)", &len) == 0) {
			o->edge->stats.stream_errors_sent++;
			(void)s2s_out_send(o, out, len);
		}
		s2s_out_fail(o, s2s_out_kind(o)->bounce_unacked, "<a/> without a valid 'h'");
		return;
	}
	r = sm_queue_ack(&o->q.r, h, &newly);
	if (r != SM_ACK_OK) {
		char sent[SM_H_TEXT_MAX];

		sm_h_format(o->q.r.h_sent, sent);
		log_event(LOG_WARN, "s2s_out.sm_bad_ack", "remote", o->remote, "h", text, "sent", sent, NULL);
		if (sm_ack_error_write(r, h, o->q.r.h_sent, out, sizeof(out), &len) == 0) {
			o->edge->stats.stream_errors_sent++;
			(void)s2s_out_send(o, out, len);
		}
		s2s_out_fail(o, s2s_out_kind(o)->bounce_unacked, r == SM_ACK_TOO_HIGH ?
		    "handled-count-too-high" : "the peer's h went backwards");
		return;
	}
	if (newly > o->q.r.nsent)
		newly = (uint32_t)o->q.r.nsent;	/* cannot happen: h_sent - h_acked == nsent */
	o->stanzas_acked += newly;
	o->edge->stats.stanzas_acked += newly;
	s2s_out_toward(o)->acked += newly;
	s2s_out_settle_head(o, newly);
	s2s_out_sm_maybe_request(o);
	if (o->q_bytes <= (size_t)o->edge->cfg->limits.route_queue_bytes / 2)
		router_wake_waiters(&o->route);
	s2s_in_custody_report(o->edge);
	s2s_out_sm_timer_update(o);
	if (o->shutdown_wait_ack && o->q.r.count == 0 && s2s_out_is_live(o)) {
		/* Shutting down, and the peer has everything: goodbye. */
		s2s_out_sendstr(o, "</stream:stream>");
		s2s_out_close(o, s2s_out_kind(o)->bounce_shutdown, "xmpp-edge is shutting down");
	}
}

/* An element of XEP-0198 on an established stream: 0 if handled. */
static int
s2s_out_on_sm_element(struct s2s_out *o, const struct xmlstream_event *ev)
{
	if (!xmlstream_str_eq(&ev->ns, SM_NS))
		return -1;
	if (o->sm_state == S2S_OUT_SM_ENABLING && xmlstream_str_eq(&ev->name, "enabled"))
		s2s_out_on_sm_answer(o, 1, "enabled");
	else if (o->sm_state == S2S_OUT_SM_ENABLING && xmlstream_str_eq(&ev->name, "failed"))
		s2s_out_on_sm_answer(o, 0, "failed");
	else if (o->sm_state == S2S_OUT_SM_ON && xmlstream_str_eq(&ev->name, "a"))
		s2s_out_on_sm_ack(o, ev);
	else if (o->sm_state == S2S_OUT_SM_ON && xmlstream_str_eq(&ev->name, "r"))
		/* Nothing inward on a stream we opened: we handled none. */
		(void)s2s_out_sendstr(o, "<a xmlns='" SM_NS "' h='0'/>");
	else
		log_event(LOG_DEBUG, "s2s_out.sm_ignored", "remote", o->remote,
		    "sm", s2s_out_sm_names[o->sm_state], NULL);
	return 0;
}

/* --- negotiation ----------------------------------------------------------- */

static void
s2s_out_established(struct s2s_out *o, const char *method)
{
	int ka = s2s_out_policy(o)->keepalive_s;
	uint64_t idle = (uint64_t)s2s_out_idle_s(o) * 1000;

	if (o->later_condition != NULL)
		return;	/* failing: the timer below carries that */
	o->auth_method = method;
	if (o->dial != NULL) {
		o->dial_ops->free(o->dial);
		o->dial = NULL;
	}
	s2s_out_enter_state(o, S2S_OUT_ESTABLISHED);
	router_slot_ready(o->edge, &o->route);
	log_event(LOG_INFO, "s2s_out.established", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer, "method", method,
	    "tls", s2s_conn_tls(o->conn) != NULL ? tls_conn_version(s2s_conn_tls(o->conn)) : "none",
	    "bidi", o->bidi.requested ? "yes" : "no", NULL);
	/* XEP-0288: bidi was asked for only with a certificate valid for
	 * remote, which is what authenticates the other direction. */
	if (o->bidi.requested)
		(void)s2s_out_bidi_authenticate(&o->bidi, o->remote, "reverse-certificate");
	uv_timer_stop(&o->timer);
	uv_timer_start(&o->timer, s2s_out_on_timer, idle, idle);
	if (ka > 0)
		uv_timer_start(&o->keepalive, s2s_out_on_keepalive, (uint64_t)ka * 1000,
		    (uint64_t)ka * 1000);
	/* XEP-0198 §3: enabled when the peer offered it (or, toward the
	 * gateway, asked anyway: see sm_enable_unoffered).  Stanzas wait for
	 * the answer, so that h counts every one of them or none. */
	o->sm_unoffered = !o->peer_offers_sm && s2s_out_kind(o)->sm_enable_unoffered &&
	    !o->edge->gateway_sm_unanswered;
	if ((o->peer_offers_sm || o->sm_unoffered) && s2s_out_kind(o)->carries_stanzas) {
		o->sm_state = S2S_OUT_SM_ENABLING;
		o->sm_enable_sent_ms = o->sm_clock_ms;
		if (s2s_out_sendstr(o, "<enable xmlns='" SM_NS "'/>") < 0)
			return;
	}
	s2s_out_flush_queue(o);
}

static void
s2s_out_send_dialback(struct s2s_out *o)
{
	char out[DIALBACK_MSG_MAX];
	int n;

	n = dialback_result_write(&o->edge->dialback, o->local, o->remote, o->stream_id, out,
	    sizeof(out));
	if (n < 0) {
		s2s_out_fail(o, "remote-server-not-found", "no dialback secret");
		return;
	}
	log_event(LOG_INFO, "s2s_out.auth", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "method", "dialback", "result", "sent", NULL);
	s2s_out_enter_state(o, S2S_OUT_WAIT_DIALBACK);
	s2s_out_send(o, out, (size_t)n);
}

static void
s2s_out_send_sasl_external(struct s2s_out *o)
{
	char out[SASL_EXTERNAL_AUTH_MAX];
	int n;

	/* XEP-0178 §3: the authorization identity is our domain. */
	if ((n = sasl_external_auth_write(o->local, out, sizeof(out))) < 0)
		return;
	s2s_out_enter_state(o, S2S_OUT_WAIT_SASL);
	s2s_out_send(o, out, (size_t)n);
}

static int s2s_out_tls_begin(struct s2s_out *o);

/* XEP-0288 §2.2: after TLS, before SASL or dialback.  A failed send is
 * acted on from the loop (the rule at struct s2s_out). */
static void
s2s_out_request_bidi(struct s2s_out *o)
{
	o->bidi.requested = 1;
	log_event(LOG_INFO, "s2s_out.bidi", "local", o->local, "remote", o->remote,
	    "peer", o->peer, NULL);
	s2s_out_sendstr(o, "<bidi xmlns='" NS_BIDI "'/>");
}

/* XEP-0220, Receiving Server: the question to the authoritative server. */
static void
s2s_out_send_verify(struct s2s_out *o)
{
	char out[DIALBACK_KEY_MAX + DIALBACK_MSG_MAX];
	int n;

	if (o->verify_q == NULL)
		return;	/* only S2S_OUT_VERIFY asks, and it has one */
	n = dialback_verify_write(o->local, o->remote, o->verify_q->id, o->verify_q->key, out,
	    sizeof(out));
	if (n < 0)
		return;	/* checked to be tokens at the start: cannot happen */
	s2s_out_enter_state(o, S2S_OUT_WAIT_VERIFY);
	s2s_out_send(o, out, (size_t)n);
}

/* XEP-0220, Authoritative Server's answer: it names our id and both domains the other
 * way round; the stream has served its purpose either way. */
static void
s2s_out_on_verify_answer(struct s2s_out *o, const struct xmlstream_event *ev)
{
	const char *why;
	enum dialback_verdict v = dialback_verify_verdict(ev, o->local, o->remote,
	    o->verify_q != NULL ? o->verify_q->id : "", &why);

	s2s_out_verify_finish(o, v, 0, why);
	s2s_out_sendstr(o, "</stream:stream>");
	s2s_out_close(o, "remote-server-not-found", "verification done");
}

/* What the policy lets us do once features are in (policy.c decides,
 * as it does for `probe`). */
static void
s2s_out_on_features(struct s2s_out *o, const struct xmlstream_event *ev)
{
	const struct config_partner *p = s2s_out_policy(o);
	struct s2s_features feat;
	struct policy_offer f;
	struct policy_decision d;

	/* Unreadable features offer nothing: the decisions below say what
	 * that means under the policy. */
	(void)s2s_features_read(ev, &feat);
	o->peer_offers_sm = feat.sm;
	f = (struct policy_offer){
		.tls_open = s2s_conn_tls(o->conn) != NULL,
		.pkix_ok = o->pkix_ok,
		.offers_tls = feat.starttls,
		.tls_required = feat.starttls_required,
		.offers_external = feat.sasl_external,
		.offers_dialback = feat.dialback || o->peer_has_db,
	};

	if (!s2s_conn_tls_started(o->conn) && !s2s_out_kind(o)->pinned) {
		d = policy_outbound_tls(p, &f);
		if (d.step == POLICY_OUT_STARTTLS) {
			/* State first: the send may fail (the rule at struct
			 * s2s_out), and must not be overwritten after. */
			s2s_out_enter_state(o, S2S_OUT_WAIT_PROCEED);
			s2s_out_sendstr(o, "<starttls xmlns='" NS_TLS "'/>");
			return;
		}
		if (d.step == POLICY_OUT_REFUSE) {
			if (policy_refusal_try_next(d.refusal))
				s2s_out_retry(o, "remote-server-not-found", policy_refusal_str(d.refusal));
			else
				s2s_out_fail(o, "remote-server-not-found", policy_refusal_str(d.refusal));
			return;
		}
	}
	if (s2s_out_kind(o)->asks_verify) {
		s2s_out_send_verify(o);
		return;
	}
	if (o->sasl_done) {
		s2s_out_established(o, "sasl-external");
		return;
	}
	if (s2s_out_kind(o)->policy_auth) {
		d = policy_outbound_auth(p, o->edge->cfg->dialback.enabled, &f);
		if (d.step != POLICY_OUT_REFUSE &&
		    s2s_out_bidi_wanted(&o->bidi, o->remote, feat.bidi, o->pkix_ok))
			s2s_out_request_bidi(o);
		if (d.step == POLICY_OUT_SASL_EXTERNAL)
			s2s_out_send_sasl_external(o);
		else if (d.step == POLICY_OUT_DIALBACK)
			s2s_out_send_dialback(o);
		else
			s2s_out_fail(o, "remote-server-not-found", policy_refusal_str(d.refusal));
		return;
	}
	/* The gateway: known by its pin, no partner entry applies. */
	if (!f.offers_dialback || !o->edge->cfg->dialback.enabled) {
		s2s_out_fail(o, "remote-server-not-found", "no authentication method in common");
		return;
	}
	s2s_out_send_dialback(o);
}

static void
s2s_out_on_sasl_answer(struct s2s_out *o, const struct xmlstream_event *ev)
{
	if (xmlstream_str_eq(&ev->name, "success")) {
		log_event(LOG_INFO, "s2s_out.auth", "kind", s2s_out_kind_name(o), "local", o->local,
		    "remote", o->remote, "method", "sasl-external", "result", "valid", NULL);
		o->sasl_done = 1;
		/* RFC 6120 §6.4.6: a new stream on the same TLS. */
		s2s_conn_restart(o->conn);
		s2s_out_enter_state(o, S2S_OUT_WAIT_FEATURES);
		s2s_out_send_header(o);
		return;
	}
	log_event(LOG_INFO, "s2s_out.auth", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "method", "sasl-external", "result", "failed", NULL);
	/* XEP-0178 §3: a failure may fall back to dialback. */
	if (policy_outbound_may_fall_back(s2s_out_policy(o), o->edge->cfg->dialback.enabled)) {
		s2s_out_send_dialback(o);
		return;
	}
	s2s_out_fail(o, "remote-server-not-found", "SASL EXTERNAL refused and no dialback fallback");
}

static void
s2s_out_on_dialback_answer(struct s2s_out *o, const struct xmlstream_event *ev)
{
	if (!xmlstream_str_eq(&ev->from, o->remote) || !xmlstream_str_eq(&ev->to, o->local))
		return;	/* another pair's answer (piggybacking): not ours */
	if (xmlstream_str_eq(&ev->stanza_type, "valid")) {
		log_event(LOG_INFO, "s2s_out.auth", "kind", s2s_out_kind_name(o), "local", o->local,
		    "remote", o->remote, "method", "dialback", "result", "valid", NULL);
		s2s_out_established(o, "dialback");
		return;
	}
	log_event(LOG_INFO, "s2s_out.auth", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "method", "dialback", "result",
	    xmlstream_str_eq(&ev->stanza_type, "invalid") ? "invalid" : "error", NULL);
	/* XEP-0220 §2.5: after a dialback error the queued stanzas go back
	 * with <remote-server-timeout/>; a plain refusal is "not found"
	 * for the sender (or "unavailable" when it is the gateway). */
	s2s_out_fail(o, xmlstream_str_eq(&ev->stanza_type, "error") ? "remote-server-timeout" :
	    s2s_out_condition(o),
	    xmlstream_str_eq(&ev->stanza_type, "error") ? "dialback error from the receiving server" :
	    "dialback refused by the receiving server");
}

static void
s2s_out_on_header(void *ud, const struct xmlstream_event *ev)
{
	struct s2s_out *o = ud;
	size_t i;

	if (!s2s_out_is_live(o))
		return;

	if (ev->id.p == NULL || ev->id.len == 0 || ev->id.len >= sizeof(o->stream_id)) {
		s2s_out_fail(o, "remote-server-not-found", "the receiving stream has no usable id");
		return;
	}
	memcpy(o->stream_id, ev->id.p, ev->id.len);
	o->stream_id[ev->id.len] = '\0';
	/* The id goes into our dialback key and comes back in db:verify:
	 * any byte is hashed safely, but keep it printable. */
	for (i = 0; i < ev->id.len; i++)
		if ((unsigned char)o->stream_id[i] < 0x21 || o->stream_id[i] == '\'' ||
		    o->stream_id[i] == '<' || o->stream_id[i] == '&') {
			s2s_out_fail(o, "remote-server-not-found", "unusable stream id");
			return;
		}
	o->peer_has_db = 0;
	for (i = 0; i < ev->nprefixes; i++)
		if (xmlstream_str_eq(&ev->prefixes[i].prefix, "db") && xmlstream_str_eq(&ev->prefixes[i].uri, NS_DIALBACK))
			o->peer_has_db = 1;
}

/* The element's name if it is a stanza (RFC 6120 §8), else NULL. */
static const char *
s2s_out_stanza_name(const struct xmlstream_event *ev)
{
	static const char *const names[] = { "message", "presence", "iq" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (xmlstream_str_eq(&ev->name, names[i]))
			return names[i];
	return NULL;
}

/*
 * A stanza on a stream we opened.  RFC 6120 §2.4: without XEP-0288
 * (negotiated, s2s_out_bidi.c; before then the same) a server-to-server stream carries
 * stanzas one way, from the entity that opened it; the receiving server
 * has no say in which addresses a stanza may carry here, so nothing it
 * sends is routed, bounced or answered (issue 14, finding 2: a bounce
 * with from/to swapped delivered a forged 'from' to the gateway, and
 * made us open streams to any domain the peer named).  The element is a
 * protocol violation whatever the state or kind of the stream:
 * <unsupported-stanza-type/> (RFC 6120 §4.9.3.24, a first-level child
 * the side that gets it does not support on this stream) and the stream
 * ends; what we had queued goes back to its senders as for any failure.
 */
static void
s2s_out_refuse_stanza(struct s2s_out *o, const char *element)
{
	char out[STREAM_ERROR_TEXT_MAX + 512];
	size_t len;

	o->edge->stats.stanzas_wrong_direction++;
	log_event(LOG_WARN, "s2s_out.stanza_refused", "kind", s2s_out_kind_name(o),
	    "local", o->local, "remote", o->remote, "peer", o->peer[0] ? o->peer : NULL,
	    "element", element, "state", s2s_out_state_names[o->state],
	    "reason", "stanza on a stream xmpp-edge opened (RFC 6120 §2.4)", NULL);
	if (stream_error_write(out, sizeof(out), STREAM_ERR_UNSUPPORTED_STANZA_TYPE,
	    "stanzas are not accepted on a stream xmpp-edge opened", &len) == 0) {
		o->edge->stats.stream_errors_sent++;
		s2s_out_send(o, out, len);
	}
	/* A failed send only recorded a failure for later: this one, with
	 * the reason that matters, is acted on now. */
	s2s_out_fail(o, s2s_out_condition(o), "the receiving server sent a stanza on our stream");
}

/* The receiving server's stanza on a stream with XEP-0288 (established):
 * s2s_out_bidi.c checks and routes it, or it ends the stream. */
static void
s2s_out_on_bidi_stanza(struct s2s_out *o, const struct xmlstream_event *ev)
{
	char out[STREAM_ERROR_TEXT_MAX + 512];
	enum stream_error_cond cond;
	const char *text;
	size_t len;

	switch (s2s_out_bidi_on_stanza(&o->bidi, s2s_conn_xmlstream(o->conn), ev, &cond, &text)) {
	case S2S_OUT_BIDI_ROUTED:
		break;
	case S2S_OUT_BIDI_PAUSE:
		/* Routing queued elsewhere (or here: a bounce) and sent
		 * nothing now; still, only a live stream is paused. */
		if (s2s_out_is_live(o) && o->conn != NULL)
			s2s_conn_read_stop(o->conn);
		break;
	case S2S_OUT_BIDI_REFUSED:
		if (stream_error_write(out, sizeof(out), cond, text, &len) == 0) {
			o->edge->stats.stream_errors_sent++;
			s2s_out_send(o, out, len);
		}
		s2s_out_fail(o, s2s_out_condition(o), text);
		return;
	}
	/* The stream is in use: not idle. */
	if (s2s_out_is_live(o))
		uv_timer_again(&o->timer);
}

/*
 * XEP-0288 §2.2: on a bidirectional stream the receiving server may ask
 * by dialback to send for further domains of its own.  xmpp-edge takes
 * no such proof on its own streams (s2s_out_bidi.c says why); the answer
 * is a dialback error (XEP-0220 §2.5, which §2.2 requires of a bidi peer
 * using dialback), so the peer opens a stream of its own for that domain
 * at once instead of waiting for an answer that never comes.  The stream
 * stays.
 */
static void
s2s_out_refuse_reverse_dialback(struct s2s_out *o, const struct xmlstream_event *ev)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX], out[DIALBACK_MSG_MAX];
	int n;

	if (router_jid_domain(&ev->from, from, sizeof(from)) < 0 ||
	    router_jid_domain(&ev->to, to, sizeof(to)) < 0)
		return;	/* nothing to address an answer to */
	log_event(LOG_INFO, "s2s_out.bidi_dialback_refused", "local", o->local, "remote", o->remote,
	    "domain", from, "to", to, NULL);
	n = dialback_result_answer_write(to, from, NULL, "feature-not-implemented", out, sizeof(out));
	if (n > 0)
		s2s_out_send(o, out, (size_t)n);
}

/* A destination took our paused stream's stanzas again. */
static void
s2s_out_on_bidi_resume(struct route_waiter *w)
{
	struct s2s_out *o = (struct s2s_out *)((char *)w - offsetof(struct s2s_out, bidi.waiter));

	if (s2s_out_is_live(o) && o->conn != NULL)
		(void)s2s_conn_read_start(o->conn);	/* a failure is recorded for later */
}

static void
s2s_out_on_element(void *ud, const struct xmlstream_event *ev)
{
	struct s2s_out *o = ud;
	const char *stanza;

	if (!s2s_out_is_live(o))
		return;

	if (xmlstream_str_eq(&ev->name, "error") && xmlstream_str_eq(&ev->ns, NS_STREAMS)) {
		char c[48], cond[64];

		/* RFC 6120 §4.9.3: the defined condition, as an element. */
		if (s2s_stream_error_condition(ev, c, sizeof(c)) == 0)
			snprintf(cond, sizeof(cond), "peer sent <%s/>", c);
		else
			snprintf(cond, sizeof(cond), "peer sent <stream error/>");
		s2s_out_retry(o, s2s_out_condition(o), cond);
		return;
	}
	if ((stanza = s2s_out_stanza_name(ev)) != NULL) {
		if (o->bidi.requested && o->state == S2S_OUT_ESTABLISHED)
			s2s_out_on_bidi_stanza(o, ev);
		else
			s2s_out_refuse_stanza(o, stanza);
		return;
	}
	switch (o->state) {
	case S2S_OUT_WAIT_FEATURES:
		if (xmlstream_str_eq(&ev->name, "features") && xmlstream_str_eq(&ev->ns, NS_STREAMS)) {
			s2s_out_on_features(o, ev);
			return;
		}
		break;
	case S2S_OUT_WAIT_PROCEED:
		if (xmlstream_str_eq(&ev->name, "proceed") && xmlstream_str_eq(&ev->ns, NS_TLS)) {
			if (s2s_conn_buffered(o->conn) > 0) {
				s2s_out_fail(o, "remote-server-not-found", "data after <proceed/>");
				return;
			}
			if (s2s_out_tls_begin(o) < 0)
				s2s_out_fail(o, "remote-server-not-found", "TLS setup failed");
			return;
		}
		s2s_out_retry(o, "remote-server-not-found", "STARTTLS refused");
		return;
	case S2S_OUT_WAIT_SASL:
		if (xmlstream_str_eq(&ev->ns, NS_SASL)) {
			s2s_out_on_sasl_answer(o, ev);
			return;
		}
		break;
	case S2S_OUT_WAIT_VERIFY:
		if (xmlstream_str_eq(&ev->name, "verify") && xmlstream_str_eq(&ev->ns, NS_DIALBACK)) {
			s2s_out_on_verify_answer(o, ev);
			return;
		}
		break;
	case S2S_OUT_WAIT_DIALBACK:
	case S2S_OUT_ESTABLISHED:
		if (o->state == S2S_OUT_ESTABLISHED && s2s_out_on_sm_element(o, ev) == 0)
			return;
		if (xmlstream_str_eq(&ev->name, "result") && xmlstream_str_eq(&ev->ns, NS_DIALBACK)) {
			if (o->state == S2S_OUT_WAIT_DIALBACK)
				s2s_out_on_dialback_answer(o, ev);
			else if (o->bidi.requested && ev->stanza_type.p == NULL)
				s2s_out_refuse_reverse_dialback(o, ev);
			return;
		}
		break;
	default:
		break;
	}
	log_event(LOG_DEBUG, "s2s_out.ignored", "remote", o->remote, "state",
	    s2s_out_state_names[o->state], NULL);
}

static void
s2s_out_on_stream_close(void *ud)
{
	struct s2s_out *o = ud;

	if (!s2s_out_is_live(o))
		return;
	s2s_out_sendstr(o, "</stream:stream>");
	s2s_out_close(o, s2s_out_condition(o), "peer closed the stream");
}

/* The tokenizer refused the peer's bytes: our stream error, then out. */
static void
s2s_out_on_parse_error(void *ud, const struct xmlstream_event *ev)
{
	struct s2s_out *o = ud;
	char out[STREAM_ERROR_TEXT_MAX + 512];
	size_t len;

	if (!s2s_out_is_live(o))
		return;
	if (stream_error_write(out, sizeof(out), ev->cond, ev->text, &len) == 0)
		s2s_out_send(o, out, len);
	s2s_out_fail(o, s2s_out_condition(o), ev->text ? ev->text : "malformed stream");
}

/* --- TLS --------------------------------------------------------------------- */

/* TLS is up (the transport restarted the tokenizer). */
static void
s2s_out_on_tls(void *ud, const struct tls_verify_result *r)
{
	struct s2s_out *o = ud;
	struct tls_conn *tls = s2s_conn_tls(o->conn);

	if (!s2s_out_is_live(o))
		return;
	o->pkix_ok = r->status == TLS_VERIFY_OK;
	if (!s2s_out_kind(o)->pinned) {
		char why[320];

		switch (s2s_dane_out_verify(s2s_out_policy(o)->dane, &o->dane, tls, o->remote,
		    o->pkix_ok, why, sizeof(why), NULL)) {
		case S2S_DANE_REFUSED:
			s2s_out_retry(o, "remote-server-not-found", why);
			return;
		case S2S_DANE_AUTHENTICATED:
			o->pkix_ok = 1;
			break;
		case S2S_DANE_NOT_APPLICABLE:
			break;
		}
	}
	log_event(o->pkix_ok ? LOG_INFO : LOG_WARN,
	    s2s_out_kind(o)->tls_event, "kind", s2s_out_kind_name(o),
	    "remote", o->remote, "peer", o->peer, "version", tls_conn_version(tls),
	    "cipher", tls_conn_ciphersuite(tls),
	    "certificate", tls_verify_status_str(r->status), "detail", r->detail,
	    "resumed", tls_conn_resumed(tls) ? "yes" : NULL, NULL);
	if (s2s_out_kind(o)->pinned && !o->pkix_ok) {
		/* tls/ refuses an unpinned gateway already; never trust a
		 * gateway on anything but its pin. */
		s2s_out_fail(o, s2s_out_condition(o), "gateway key not pinned");
		return;
	}
	if (!s2s_out_kind(o)->pinned && !o->pkix_ok && s2s_out_policy(o)->require_valid_certificate) {
		s2s_out_retry(o, "remote-server-not-found",
		    "certificate not valid for the domain (policy require_valid_certificate)");
		return;
	}
	/* RFC 6120 §5.4.3.3: a new stream inside TLS. */
	s2s_out_enter_state(o, S2S_OUT_WAIT_FEATURES);
	s2s_out_send_header(o);
}

/*
 * The connection is closing.  Our own closes come with the stream already
 * CLOSING (ignored here); the rest are the transport's.  The peer going
 * away (EOF, reset, close_notify) comes from a read, never from inside a
 * send: acted on now.  A local failure (send queue full, write or TLS
 * failure) may come from inside a send: recorded, and acted on from the
 * loop (the rule at struct s2s_out).
 */
static void
s2s_out_on_closing(void *ud, const char *reason, int peer_gone)
{
	struct s2s_out *o = ud;

	if (o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		return;
	if (peer_gone && o->later_condition == NULL) {
		if (o->state == S2S_OUT_ESTABLISHED)
			s2s_out_close(o, s2s_out_condition(o), reason);
		else
			s2s_out_retry(o, s2s_out_condition(o), reason);
		return;
	}
	if (strncmp(reason, "TLS failed", 10) == 0) {
		/* Asked now, while the failed TLS is still there: the
		 * connection may be gone when the retry runs. */
		o->fallback_pending = cert_fallback_wanted(s2s_conn_tls_any(o->conn), o->tls_no_cert,
		    s2s_out_kind(o)->policy_auth, o->edge->cfg, s2s_out_policy(o), o->remote, o->peer);
		s2s_out_fail_later(o, s2s_out_condition(o), reason, 1);
		return;
	}
	s2s_out_fail_later(o, s2s_out_condition(o), reason, 0);
}

/* The connection's handles are closed. */
static void
s2s_out_on_conn_closed(void *ud)
{
	struct s2s_out *o = ud;

	o->conn = NULL;
	/* Our own close has flushed: the timers go too.  Otherwise the
	 * connection failed by itself and its failure, recorded by
	 * on_closing, is acted on from the loop (retry or fail). */
	if (o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		s2s_out_close_handles(o);
	s2s_out_handle_closed(o);
}

static void
s2s_out_on_written(void *ud)
{
	struct s2s_out *o = ud;

	if (o->state == S2S_OUT_ESTABLISHED)
		s2s_out_flush_queue(o);
}

static const struct s2s_conn_callbacks s2s_out_conn_callbacks = {
	.on_header = s2s_out_on_header,
	.on_element = s2s_out_on_element,
	.on_stream_close = s2s_out_on_stream_close,
	.on_parse_error = s2s_out_on_parse_error,
	.on_tls = s2s_out_on_tls,
	.on_written = s2s_out_on_written,
	.on_closing = s2s_out_on_closing,
	.on_closed = s2s_out_on_conn_closed,
};

static int
s2s_out_tls_begin(struct s2s_out *o)
{
	struct tls_conn_params params = {
		.role = s2s_out_kind(o)->tls_role,
		.direct_tls = o->direct_tls,
		/* The gateway is named by configuration and shown no domain
		 * certificate of ours but the internal one. */
		.peer_domain = s2s_out_kind(o)->pinned ? o->edge->cfg->gateway.server_name : o->remote,
		.local_domain = s2s_out_kind(o)->pinned ? NULL : o->local,
		.no_client_cert = o->tls_no_cert,
		/* Where DANE judges the partner's whole chain: full
		 * handshakes.  Elsewhere (no authenticated TLSA records, the
		 * common case) PKIX or dialback decide, and a resumed
		 * session keeps what they look at. */
		.no_resume = s2s_dane_out_needs_chain(s2s_out_policy(o)->dane, &o->dane),
	};
	char err[256];

	/* State first: the handshake's first flight may fail the send. */
	s2s_out_enter_state(o, S2S_OUT_TLS_HANDSHAKE);
	if (s2s_conn_starttls(o->conn, &params, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "s2s_out.tls_failed", "remote", o->remote, "reason", err, NULL);
		return -1;
	}
	return 0;
}

/* --- connection ---------------------------------------------------------- */

/* TCP is up (either way of connecting): read, then TLS or the header. */
static void
s2s_out_on_tcp_ready(struct s2s_out *o)
{
	const char *cond = s2s_out_condition(o);

	log_event(LOG_INFO, "s2s_out.connect", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer, "tls", o->direct_tls ? "direct" : "starttls", NULL);
	if (s2s_conn_read_start(o->conn) < 0)
		return;	/* closing: its on_closing recorded why */
	if (o->direct_tls) {
		if (s2s_out_tls_begin(o) < 0)
			s2s_out_fail(o, cond, "TLS setup failed");
		return;
	}
	s2s_out_enter_state(o, S2S_OUT_WAIT_FEATURES);
	s2s_out_send_header(o);
}

static void
s2s_out_on_dial(void *arg, const struct s2s_dial_result *r)
{
	struct s2s_out *o = arg;
	const struct config_limits *lim = &o->edge->cfg->limits;
	struct s2s_conn_params cp;

	if (r->err != DNS_OK) {
		char reason[sizeof(o->fail_reason) + 64];

		if (o->dial != NULL)
			o->dial_ops->free(o->dial);
		o->dial = NULL;
		/* After a target failed beyond TCP, say how it failed. */
		snprintf(reason, sizeof(reason), "%s%s%s", dns_error_str(r->err),
		    o->fail_reason[0] ? "; last target: " : "", o->fail_reason);
		/* RFC 6120 §8.3.3.17: a remote domain that did not answer in
		 * time is a timeout for its senders. */
		s2s_out_fail(o, !s2s_out_kind(o)->pinned && dns_error_is_timeout(r->err) ?
		    "remote-server-timeout" : s2s_out_condition(o), reason);
		return;
	}
	/* The sequence is kept until the stream is established: a target
	 * whose TLS or stream fails makes way for the next (RFC 6120
	 * §3.2.1, XEP-0368 §3). */
	snprintf(o->peer, sizeof(o->peer), "%s", r->peer);
	o->direct_tls = r->direct_tls;
	/* flush_queue sends while less than limits.send_queue_bytes is
	 * pending; one batch or one large stanza may go past that by its
	 * own size, which is not a reason to close. */
	s2s_conn_params_init(&cp, o->edge->loop, o->edge->certs, o->edge->read_buf,
	    sizeof(o->edge->read_buf), (size_t)lim->send_queue_bytes + (size_t)lim->stanza_size + 65536,
	    o->peer);
	cp.pipe_pool = &o->edge->pipe_pool;
	cp.flusher = &o->edge->conn_flusher;
	o->conn = s2s_conn_new(&cp, r->pipe, &s2s_out_conn_callbacks, o);
	if (o->conn == NULL) {
		s2s_out_fail_later(o, "resource-constraint", "out of memory", 1);
		return;
	}
	o->handles_open++;
	s2s_dane_target_set(&o->dane, r->cand);
	s2s_out_on_tcp_ready(o);
}

/* A configured address (the gateway, or a partner's `connect`): the same
 * connect sequence with one candidate, so timeouts and logs are alike. */
static int
s2s_out_connect_addr(struct s2s_out *o, const char *addr, int direct_tls, char *err, size_t errlen)
{
	struct s2s_dialer real, *dialer = s2s_out_dialer(o->edge, &real);
	struct s2s_dial_target t;
	struct sockaddr_storage ss;
	char why[128];

	if (netaddr_parse(addr, &ss, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", addr, why);
		return -1;
	}
	memset(&t, 0, sizeof(t));
	t.domain = o->remote;
	t.addr = (struct sockaddr *)&ss;
	t.tls = direct_tls ? DNS_TLS_DIRECT : DNS_TLS_STARTTLS;
	o->dial_ops = dialer->ops;
	if (dialer->ops->start(dialer->impl, &t, s2s_out_on_dial, o, &o->dial) != DNS_OK) {
		o->dial = NULL;
		snprintf(err, errlen, "%s: cannot start the connection", addr);
		return -1;
	}
	return 0;
}

/* Every listener list, the metrics endpoint and the gateway fit. */
_Static_assert(4 * CONFIG_MAX_LISTEN + 2 <= DNS_AVOID_MAX, "DNS_AVOID_MAX too small for the listeners");

static void
s2s_out_avoid_list(struct dns_avoid *av, const char (*addrs)[CONFIG_ADDR_MAX], size_t n,
    const char *what)
{
	struct sockaddr_storage ss;
	char why[128];
	size_t i;

	for (i = 0; i < n; i++)
		if (netaddr_parse(addrs[i], &ss, why, sizeof(why)) == 0)
			dns_avoid_add(av, (struct sockaddr *)&ss, what);
}

void
s2s_out_avoid_own(const struct config *cfg, struct dns_avoid *av)
{
	const struct config_listen *l = &cfg->listen;

	memset(av, 0, sizeof(*av));
	s2s_out_avoid_list(av, l->starttls, l->starttls_count, "one of xmpp-edge's own listeners");
	s2s_out_avoid_list(av, l->direct_tls, l->direct_tls_count, "one of xmpp-edge's own listeners");
	s2s_out_avoid_list(av, l->internal, l->internal_count, "one of xmpp-edge's own listeners");
	s2s_out_avoid_list(av, l->internal_starttls, l->internal_starttls_count,
	    "one of xmpp-edge's own listeners");
	if (cfg->metrics.listen[0] != '\0')
		s2s_out_avoid_list(av, &cfg->metrics.listen, 1, "xmpp-edge's metrics endpoint");
	if (cfg->gateway.enabled)
		s2s_out_avoid_list(av, &cfg->gateway.address, 1, "the internal gateway");
}

struct s2s_out *
s2s_out_start(struct edge *edge, enum s2s_out_kind kind, const char *local, const char *remote,
    const char **condition, char *err, size_t errlen)
{
	const struct config *cfg = edge->cfg;
	struct s2s_dialer real, *dialer;
	struct s2s_dial_target target;
	struct dns_avoid avoid;
	struct s2s_out *o;
	enum dns_error de;

	*condition = s2s_out_kinds[kind].bounce;
	/* Outgoing streams are bounded like inbound ones: peers can make us
	 * open them (dialback checks, bounces), so they must not be free. */
	if (edge->out_stream_count >= (size_t)cfg->limits.max_streams) {
		snprintf(err, errlen, "limits.max_streams outgoing streams already open");
		*condition = "resource-constraint";
		return NULL;
	}
	if (!edge->dialback.loaded && cfg->dialback.enabled) {
		snprintf(err, errlen, "no dialback secret loaded");
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		*condition = "resource-constraint";
		return NULL;
	}
	o->edge = edge;
	o->kind = kind;
	o->started_ms = uv_now(edge->loop);
	o->state = S2S_OUT_CONNECTING;
	snprintf(o->local, sizeof(o->local), "%s", local);
	snprintf(o->remote, sizeof(o->remote), "%s", remote);
	router_slot_init(&o->route, kind, o->local, o->remote, s2s_out_route_enqueue);
	s2s_out_bidi_init(&o->bidi, edge, o->local, s2s_out_on_bidi_resume);
	uv_timer_init(edge->loop, &o->timer);
	uv_timer_init(edge->loop, &o->keepalive);
	uv_check_init(edge->loop, &o->flush_check);
	uv_timer_init(edge->loop, &o->sm_timer);
	o->timer.data = o;
	o->keepalive.data = o;
	o->flush_check.data = o;
	o->sm_timer.data = o;
	o->handles_open = 4;
	o->next = edge->out_streams;
	if (o->next)
		o->next->prev = o;
	edge->out_streams = o;
	edge->out_stream_count++;
	if (s2s_out_kind(o)->carries_stanzas) {
		edge->stats.streams_out++;
		router_table_add(edge, &o->route);
	}
	uv_timer_start(&o->timer, s2s_out_on_timer, (uint64_t)cfg->limits.connect_timeout_ms, 0);
	log_event(LOG_INFO, "s2s_out.start", "kind", s2s_out_kind_name(o), "local", local,
	    "remote", remote, NULL);
	if (edge->dns == NULL && edge->dialer == NULL) {
		snprintf(err, errlen, "no resolver");
		goto fail;
	}
	if (s2s_out_kind(o)->pinned) {
		if (s2s_out_connect_addr(o, cfg->gateway.address, 1, err, errlen) < 0)
			goto fail;
		return o;
	}
	if (s2s_out_policy(o)->connect[0] != '\0') {
		if (s2s_out_connect_addr(o, s2s_out_policy(o)->connect, s2s_out_policy(o)->connect_direct_tls,
		    err, errlen) < 0)
			goto fail;
		return o;
	}
	/* DNS chooses the address from here on: the address policy applies. */
	s2s_out_avoid_own(cfg, &avoid);
	memset(&target, 0, sizeof(target));
	target.domain = remote;
	target.avoid = &avoid;
	target.want_tlsa = s2s_out_policy(o)->dane != POLICY_DANE_OFF;
	dialer = s2s_out_dialer(edge, &real);
	o->dial_ops = dialer->ops;
	de = dialer->ops->start(dialer->impl, &target, s2s_out_on_dial, o, &o->dial);
	if (de != DNS_OK) {
		o->dial = NULL;
		snprintf(err, errlen, "%s", dns_error_str(de));
		goto fail;
	}
	if (o->state == S2S_OUT_CLOSED || o->state == S2S_OUT_CLOSING) {
		/* Failed at once (a cached DNS failure): the caller bounces
		 * with the condition the failure chose. */
		*condition = o->fail_condition != NULL ? o->fail_condition : "remote-server-not-found";
		snprintf(err, errlen, "%s", o->fail_reason);
		return NULL;
	}
	return o;
fail:
	/* Nothing is queued yet: the caller bounces its stanza itself. */
	s2s_out_close_handles(o);
	return NULL;
}

void
s2s_out_shutdown_begin(struct s2s_out *o)
{
	if (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL)
		s2s_out_sm_maybe_request(o);
}

/*
 * What an established stream has queued can still be delivered (bounces
 * that other streams' shutdown just queued here among them): it goes out
 * before our close, as far as the send queue takes it.  With XEP-0198 on
 * and stanzas written but not acknowledged, the first call only asks
 * (<r/>) and leaves the stream open: closing now would bounce stanzas the
 * peer may well have, and its source's peer would hear of a failure for a
 * message that arrived.  The <a h/> that covers everything closes it
 * (s2s_out_on_sm_ack); a second call closes at once, and the close
 * bounces what is still not acknowledged.
 */
void
s2s_out_shutdown(struct s2s_out *o)
{
	if (o->state == S2S_OUT_ESTABLISHED)
		s2s_out_flush_queue(o);
	if (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && !o->shutdown_wait_ack &&
	    o->sm_state == S2S_OUT_SM_ON && o->q.r.count > 0) {
		o->shutdown_wait_ack = 1;
		s2s_out_sm_maybe_request(o);
		return;
	}
	if (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && o->q.r.count == 0)
		s2s_out_sendstr(o, "</stream:stream>");
	s2s_out_close(o, s2s_out_kind(o)->bounce_shutdown, "xmpp-edge is shutting down");
}

int
s2s_out_is_established(const struct s2s_out *o)
{
	return o->state == S2S_OUT_ESTABLISHED;
}

void
s2s_out_abort(struct s2s_out *o)
{
	s2s_out_close_handles(o);
}

size_t
s2s_out_queued_stanzas(const struct s2s_out *o)
{
	return sm_queue_unsent(&o->q.r);
}

/* Puts entry i of q (its bytes at data) back into o's queue with its tag
 * and age; bounces it when that fails (out of memory). */
static void
s2s_out_requeue(struct s2s_out *o, const struct s2s_out_queue *q, size_t i, const char *data,
    size_t len, const char *condition, const char *text)
{
	const struct sm_entry *e = sm_queue_at(&q->r, i);

	if (s2s_out_queue_push(&o->q, data, len, &e->tag, e->queued_ms) == 0) {
		o->q_bytes += len;
		o->q_count++;
		return;
	}
	s2s_out_bounce_one(o, data, len, &e->tag, condition, text);
}

/*
 * The shutdown's BOUNCE step (daemon.c): the first max stanzas not written
 * yet go back to their senders; the stream stays open.  Written ones that
 * wait for the peer's <a h/> (XEP-0198) stay, with their place in h: the
 * CLOSE step's close bounces what is still unacknowledged then.
 */
size_t
s2s_out_bounce_queued(struct s2s_out *o, size_t max)
{
	static const char text[] = "xmpp-edge is shutting down and this stanza could not be "
	    "delivered in time";
	const char *condition = s2s_out_kind(o)->bounce_shutdown;
	struct s2s_out_queue q = o->q;
	size_t nsent = q.r.nsent, unsent = sm_queue_unsent(&q.r);
	size_t n = unsent < max ? unsent : max, i, at, len;

	if (n == 0 || o->state == S2S_OUT_CLOSED)
		return 0;
	/* Out of o first, as in s2s_out_bounce_queue; what stays goes back
	 * in, in its order, before any bounce is routed. */
	memset(&o->q, 0, sizeof(o->q));
	o->q_bytes = 0;
	o->q_count = 0;
	sm_queue_init(&o->q.r);
	o->q.r.counting = q.r.counting;
	o->q.r.h_acked = q.r.h_acked;
	for (i = 0, at = q.head; i < nsent; i++, at += len) {
		len = s2s_out_queue_len(&q, i);
		s2s_out_requeue(o, &q, i, q.buf + at, len, s2s_out_kind(o)->bounce_unacked, text);
	}
	/* They were written: h and the request policy stay as they were
	 * (mark_sent would count them again). */
	sm_queue_mark_sent(&o->q.r, o->q.r.count, o->q.r.bytes);
	o->q.r.h_sent = q.r.h_sent;
	o->q.r.req_stanzas = q.r.req_stanzas;
	o->q.r.req_bytes = q.r.req_bytes;
	o->q.r.req_ms = q.r.req_ms;
	o->q.r.req_outstanding = q.r.req_outstanding;
	at = q.head + q.r.sent_bytes;
	for (i = nsent; i < nsent + n; i++)
		at += s2s_out_queue_len(&q, i);
	for (i = nsent + n; i < q.r.count; i++, at += len) {
		len = s2s_out_queue_len(&q, i);
		s2s_out_requeue(o, &q, i, q.buf + at, len, condition, text);
	}
	s2s_out_bounce_span(o, &q, nsent, q.head + q.r.sent_bytes, n, condition, text);
	s2s_out_queue_free(&q);
	router_wake_waiters(&o->route);
	s2s_in_custody_report(o->edge);
	return n;
}

/* --- what `status` and the metrics see (stream_info.h) ------------------ */

#include "stream_info.h"

void
s2s_out_info(const struct s2s_out *o, struct stream_info *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->started_ms = o->started_ms;
	out->direction = "out";
	out->kind = s2s_out_kind_name(o);
	out->state = s2s_out_state_names[o->state];
	out->peer = o->peer;
	if (o->conn != NULL && s2s_conn_tls(o->conn) != NULL) {
		out->tls_version = tls_conn_version(s2s_conn_tls(o->conn));
		out->cipher = tls_conn_ciphersuite(s2s_conn_tls(o->conn));
	}
	out->stream_id = o->stream_id;
	out->pairs[0].local = o->local;
	out->pairs[0].remote = o->remote;
	out->pairs[0].auth = o->state == S2S_OUT_ESTABLISHED ? o->auth_method : NULL;
	out->npairs = 1;
	out->stanzas_out = o->stanzas_out;
	out->bounced = o->bounced;
	out->queue_bytes = o->q_bytes;
	out->queue_stanzas = o->q_count;
	out->send_queue_bytes = o->conn != NULL ? s2s_conn_queued(o->conn) : 0;
	out->tcp = o->conn != NULL ? s2s_conn_tcp(o->conn) : NULL;
	out->established = o->state == S2S_OUT_ESTABLISHED;
	out->bidi = o->bidi.requested;
	out->stanzas_in = o->bidi.stanzas_in;
	out->routed = o->bidi.routed;
	for (i = 0; i < o->bidi.npairs && out->npairs < STREAM_INFO_PAIRS_MAX; i++) {
		/* The other direction's pairs (XEP-0288): remote -> local. */
		out->pairs[out->npairs].local = o->local;
		out->pairs[out->npairs].remote = o->bidi.pairs[i].remote;
		out->pairs[out->npairs].auth = o->bidi.pairs[i].method;
		out->npairs++;
	}
	out->sm = s2s_out_sm_names[o->sm_state];
	out->sm_acked = o->stanzas_acked;
	out->unconfirmed = o->stanzas_unconfirmed;
	out->sm_unacked = o->q.r.nsent;
}

struct s2s_out *
s2s_out_verify_start(struct edge *edge, const char *local, const char *remote,
    const char *stream_id, const char *key, dialback_verify_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct s2s_out_verify_question *q;
	const char *condition;
	struct s2s_out *o;

	if (!dialback_is_token(key, DIALBACK_KEY_MAX) || !dialback_is_token(stream_id, S2S_OUT_ID_MAX - 1)) {
		snprintf(err, errlen, "malformed dialback key or stream id");
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(q->id, sizeof(q->id), "%s", stream_id);
	snprintf(q->key, sizeof(q->key), "%s", key);
	o = s2s_out_start(edge, S2S_OUT_VERIFY, local, remote, &condition, err, errlen);
	if (o == NULL) {
		free(q);
		return NULL;
	}
	o->verify_q = q;	/* the stream's from here, freed with it */
	o->verify_cb = cb;
	o->verify_arg = arg;
	log_event(LOG_INFO, "dialback.verify_start", "remote", remote, "local", local, NULL);
	return o;
}

void
s2s_out_verify_cancel(struct s2s_out *o)
{
	o->verify_cb = NULL;
	if (o->state == S2S_OUT_ESTABLISHED || o->state == S2S_OUT_WAIT_VERIFY)
		s2s_out_sendstr(o, "</stream:stream>");
	s2s_out_close(o, "remote-server-not-found", "verification cancelled");
}

void
s2s_out_policy_reloaded(struct edge *edge)
{
	struct s2s_out *o, *next;

	for (o = edge->out_streams; o != NULL; o = next) {
		const char *text;

		/* A bounce may start a stream (to the gateway): it is listed
		 * at the head, behind the walk. */
		next = o->next;
		if (o->kind != S2S_OUT_REMOTE || o->state == S2S_OUT_CLOSING ||
		    o->state == S2S_OUT_CLOSED || sm_queue_unsent(&o->q.r) == 0)
			continue;
		/* The texts the router gives a new stanza for the same
		 * destination (router_destination), so that a stanza queued
		 * before the reload and one sent after read alike. */
		if (!s2s_out_policy(o)->allow)
			text = "federation with this domain is not allowed by policy";
		else if (blocklist_refuses(edge, o->remote, "queued"))
			text = BLOCKLIST_REFUSAL_TEXT;
		else
			continue;
		log_event(LOG_INFO, "s2s_out.policy_refused", "local", o->local, "remote", o->remote,
		    "reason", text, NULL);
		s2s_out_bounce_unsent(o, "not-allowed", text);
	}
}
