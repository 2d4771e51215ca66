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
 * the queue itself holds at most twice limits.route_queue_bytes, and
 * senders are paused past limits.route_queue_bytes (router.h).
 */
#include "s2s_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "sasl_external.h"
#include "stream_error.h"
#include "tls.h"
#include "xmlelem.h"
#include "xmlstream.h"

/* Nothing that arrives on an outgoing stream is routed (RFC 6120 §2.4, see
 * s2s_out_refuse_stanza): this file may bounce what it queued itself
 * (router_bounce_bytes, stanzas from our own authenticated side), never an
 * element the peer sent.  The compiler holds us to it. */
#pragma GCC poison router_route router_route_bytes router_bounce_event

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define S2S_OUT_ID_MAX 128

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
 * The stanzas waiting for the stream: their bytes back to back in one
 * buffer (each a standalone element, the one copy the router makes of a
 * stanza), their lengths in a ring.  Both grow to the stream's high-water
 * mark and are reused, so a warm stream allocates nothing per stanza; a
 * batch for the socket is a contiguous span, handed to TLS as it is.  A
 * buffer grown past S2S_OUT_QUEUE_KEEP is let go when the queue empties.
 */
#define S2S_OUT_QUEUE_KEEP (64 * 1024)

struct s2s_out_queue {
	char *buf;
	size_t head, tail, cap;		/* bytes [head, tail) are queued */
	size_t *lens;
	size_t first, count, lcap;	/* ring of the stanzas' lengths */
};

static int
s2s_out_queue_push(struct s2s_out_queue *q, const char *data, size_t len)
{
	if (q->tail + len > q->cap && q->head > 0) {
		memmove(q->buf, q->buf + q->head, q->tail - q->head);
		q->tail -= q->head;
		q->head = 0;
	}
	if (q->tail + len > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		char *b;

		while (cap < q->tail + len)
			cap *= 2;
		if ((b = realloc(q->buf, cap)) == NULL)
			return -1;
		q->buf = b;
		q->cap = cap;
	}
	if (q->count == q->lcap) {
		size_t n = q->lcap ? q->lcap * 2 : 64, i;
		size_t *l = malloc(n * sizeof(*l));

		if (l == NULL)
			return -1;
		for (i = 0; i < q->count; i++)
			l[i] = q->lens[(q->first + i) % q->lcap];
		free(q->lens);
		q->lens = l;
		q->first = 0;
		q->lcap = n;
	}
	memcpy(q->buf + q->tail, data, len);
	q->tail += len;
	q->lens[(q->first + q->count) % q->lcap] = len;
	q->count++;
	return 0;
}

static size_t
s2s_out_queue_len(const struct s2s_out_queue *q, size_t i)
{
	return q->lens[(q->first + i) % q->lcap];
}

/* Drops the first n stanzas (bytes of them). */
static void
s2s_out_queue_pop(struct s2s_out_queue *q, size_t n, size_t bytes)
{
	q->head += bytes;
	q->first = (q->first + n) % q->lcap;
	q->count -= n;
	if (q->count > 0)
		return;
	q->head = q->tail = q->first = 0;
	if (q->cap > S2S_OUT_QUEUE_KEEP) {
		free(q->buf);
		q->buf = NULL;
		q->cap = 0;
	}
}

static void
s2s_out_queue_free(struct s2s_out_queue *q)
{
	free(q->buf);
	free(q->lens);
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

	/* S2S_OUT_VERIFY: the question and who waits for the answer. */
	dialback_verify_cb verify_cb;		/* NULL once answered or cancelled */
	void *verify_arg;
	char verify_id[S2S_OUT_ID_MAX];
	char verify_key[DIALBACK_KEY_MAX + 1];

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
};

static const struct s2s_out_kind_info s2s_out_kinds[] = {
	[S2S_OUT_REMOTE] = {
		.name = "remote", .bounce = "remote-server-not-found",
		.bounce_shutdown = "remote-server-timeout", .tls_event = "s2s_out.tls",
		.tls_role = TLS_ROLE_EXTERNAL_CLIENT, .policy_auth = 1, .carries_stanzas = 1,
	},
	[S2S_OUT_GATEWAY] = {
		.name = "gateway", .bounce = "service-unavailable",
		.bounce_shutdown = "service-unavailable", .tls_event = "s2s_out.tls",
		.tls_role = TLS_ROLE_INTERNAL_CLIENT, .pinned = 1, .carries_stanzas = 1,
	},
	[S2S_OUT_VERIFY] = {
		.name = "verify", .bounce = "remote-server-not-found",
		.bounce_shutdown = "remote-server-timeout", .tls_event = "dialback.verify_tls",
		.tls_role = TLS_ROLE_EXTERNAL_CLIENT, .asks_verify = 1,
	},
};

static const struct s2s_out_kind_info *
s2s_out_kind(const struct s2s_out *o)
{
	return &s2s_out_kinds[o->kind];
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
	if (o->q.count > 0) {
		o->edge->stats.stanzas_unbounceable += o->q.count;
		log_event(LOG_ERROR, "s2s_out.stanza_lost", "remote", o->remote, NULL);
	}
	s2s_out_queue_free(&o->q);
	s2s_dane_target_clear(&o->dane);
	free(o);
}

static void
s2s_out_on_handle_closed(uv_handle_t *h)
{
	s2s_out_handle_closed(h->data);
}

/* Bounces the first n stanzas of q (their bytes from 'at'). */
static void
s2s_out_bounce_span(struct s2s_out *o, const struct s2s_out_queue *q, size_t at, size_t n,
    const char *condition, const char *text)
{
	size_t i, len;

	for (i = 0; i < n; i++, at += len) {
		len = s2s_out_queue_len(q, i);
		o->bounced += router_bounce_bytes(o->edge, q->buf + at, len,
		    stanza_error_from_name(condition), text);
	}
}

/* Bounces whatever is still queued (condition set by the failure).  The
 * queue is taken out of o first: a bounce routes, and nothing it does may
 * grow the buffer being read. */
static void
s2s_out_bounce_queue(struct s2s_out *o, const char *condition, const char *text)
{
	struct s2s_out_queue q = o->q;

	memset(&o->q, 0, sizeof(o->q));
	o->q_bytes = 0;
	o->q_count = 0;
	s2s_out_bounce_span(o, &q, q.head, q.count, condition, text);
	s2s_out_queue_free(&q);
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

/* Moves queued stanzas to the socket while the socket's own backlog is
 * under limits.send_queue_bytes; wakes paused senders once the queue is
 * down to half of limits.route_queue_bytes.  Stanzas go out in batches of
 * up to one TLS record's worth: one record, one write for many small
 * stanzas (tests/bench/run_relay.sh measured the cost per record). */
static void
s2s_out_flush_queue(struct s2s_out *o)
{
	const struct config_limits *lim = &o->edge->cfg->limits;
	int sent = 0;

	while (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && o->q.count > 0 &&
	    o->conn != NULL && s2s_conn_queued(o->conn) < (size_t)lim->send_queue_bytes) {
		size_t len = 0, n = 0, at = o->q.head;

		/* Whole stanzas, a record's worth (a large one alone): one
		 * contiguous span of the queue, one record, one write. */
		while (n < o->q.count && (n == 0 || len + s2s_out_queue_len(&o->q, n) <= S2S_CONN_RECORD_MAX))
			len += s2s_out_queue_len(&o->q, n++);
		if (s2s_conn_send(o->conn, o->q.buf + at, len) == 0) {
			s2s_out_queue_pop(&o->q, n, len);
			o->q_bytes -= len;
			o->q_count -= n;
			sent = 1;
			o->stanzas_out += n;
			o->edge->stats.stanzas_delivered += n;
			continue;
		}
		/* The stream broke under them: they stay queued and go back
		 * with the rest when the failure is acted on (s2s_out_close
		 * bounces the whole queue). */
		s2s_out_fail_later(o, s2s_out_condition(o), "write failed", 0);
		return;
	}
	if (o->q_bytes <= (size_t)lim->route_queue_bytes / 2)
		router_wake_waiters(&o->route);
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
	const struct config_limits *lim = &o->edge->cfg->limits;

	if (o->q_bytes + len > 2 * (size_t)lim->route_queue_bytes)
		return -1;
	if (s2s_out_queue_push(&o->q, data, len) < 0)
		return -1;
	o->q_bytes += len;
	o->q_count++;
	if (o->state == S2S_OUT_ESTABLISHED && !uv_is_active((uv_handle_t *)&o->flush_check))
		uv_check_start(&o->flush_check, s2s_out_on_flush_check);
	return o->q_bytes > (size_t)lim->route_queue_bytes ? 1 : 0;
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
		if (o->q.count > 0 || (o->conn != NULL && s2s_conn_queued(o->conn) > 0)) {
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
	log_event(LOG_INFO, "s2s_out.established", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer, "method", method,
	    "tls", s2s_conn_tls(o->conn) != NULL ? tls_conn_version(s2s_conn_tls(o->conn)) : "none", NULL);
	uv_timer_stop(&o->timer);
	uv_timer_start(&o->timer, s2s_out_on_timer, idle, idle);
	if (ka > 0)
		uv_timer_start(&o->keepalive, s2s_out_on_keepalive, (uint64_t)ka * 1000,
		    (uint64_t)ka * 1000);
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

/* XEP-0220, Receiving Server: the question to the authoritative server. */
static void
s2s_out_send_verify(struct s2s_out *o)
{
	char out[DIALBACK_KEY_MAX + DIALBACK_MSG_MAX];
	int n;

	n = dialback_verify_write(o->local, o->remote, o->verify_id, o->verify_key, out, sizeof(out));
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
	enum dialback_verdict v = dialback_verify_verdict(ev, o->local, o->remote, o->verify_id, &why);

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
 * (which xmpp-edge does not negotiate) a server-to-server stream carries
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
		if (xmlstream_str_eq(&ev->name, "result") && xmlstream_str_eq(&ev->ns, NS_DIALBACK)) {
			if (o->state == S2S_OUT_WAIT_DIALBACK)
				s2s_out_on_dialback_answer(o, ev);
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
	    "certificate", tls_verify_status_str(r->status), "detail", r->detail, NULL);
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
	router_slot_init(&o->route, kind, o->local, o->remote);
	uv_timer_init(edge->loop, &o->timer);
	uv_timer_init(edge->loop, &o->keepalive);
	uv_check_init(edge->loop, &o->flush_check);
	o->timer.data = o;
	o->keepalive.data = o;
	o->flush_check.data = o;
	o->handles_open = 3;
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
s2s_out_shutdown(struct s2s_out *o)
{
	/* What an established stream has queued can still be delivered
	 * (bounces that other streams' shutdown just queued here among
	 * them): it goes out before our close, as far as the send queue
	 * takes it; the rest is bounced by the close. */
	if (o->state == S2S_OUT_ESTABLISHED)
		s2s_out_flush_queue(o);
	if (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && o->q.count == 0)
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
	return o->q.count;
}

size_t
s2s_out_bounce_queued(struct s2s_out *o, size_t max)
{
	static const char text[] = "xmpp-edge is shutting down and this stanza could not be "
	    "delivered in time";
	const char *condition = s2s_out_kind(o)->bounce_shutdown;
	struct s2s_out_queue q = o->q;
	size_t n = q.count < max ? q.count : max, i, at, len;

	if (n == 0 || o->state == S2S_OUT_CLOSED)
		return 0;
	/* Out of o first, as in s2s_out_bounce_queue; the stanzas past the
	 * first n go back in, in their order, before any bounce is routed. */
	memset(&o->q, 0, sizeof(o->q));
	o->q_bytes = 0;
	o->q_count = 0;
	for (i = 0, at = q.head; i < n; i++)
		at += s2s_out_queue_len(&q, i);
	for (i = n; i < q.count; i++, at += len) {
		len = s2s_out_queue_len(&q, i);
		if (s2s_out_queue_push(&o->q, q.buf + at, len) == 0) {
			o->q_bytes += len;
			o->q_count++;
		} else {
			o->bounced += router_bounce_bytes(o->edge, q.buf + at, len,
			    stanza_error_from_name(condition), text);
		}
	}
	s2s_out_bounce_span(o, &q, q.head, n, condition, text);
	s2s_out_queue_free(&q);
	router_wake_waiters(&o->route);
	return n;
}

/* --- what `status` and the metrics see (stream_info.h) ------------------ */

#include "stream_info.h"

void
s2s_out_info(const struct s2s_out *o, struct stream_info *out)
{
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
}

struct s2s_out *
s2s_out_verify_start(struct edge *edge, const char *local, const char *remote,
    const char *stream_id, const char *key, dialback_verify_cb cb, void *arg,
    char *err, size_t errlen)
{
	const char *condition;
	struct s2s_out *o;

	if (!dialback_is_token(key, DIALBACK_KEY_MAX) || !dialback_is_token(stream_id, S2S_OUT_ID_MAX - 1)) {
		snprintf(err, errlen, "malformed dialback key or stream id");
		return NULL;
	}
	o = s2s_out_start(edge, S2S_OUT_VERIFY, local, remote, &condition, err, errlen);
	if (o == NULL)
		return NULL;
	snprintf(o->verify_id, sizeof(o->verify_id), "%s", stream_id);
	snprintf(o->verify_key, sizeof(o->verify_key), "%s", key);
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
