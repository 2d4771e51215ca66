/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_out.c - an outgoing server-to-server stream, see s2s_out.h.
 *
 *   S2S_OUT_CONNECTING      DNS + TCP (dns_connect), or the same sequence
 *                           with a configured address (gateway, partner
 *                           `connect`)
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
 * Every byte from the peer goes through the stream tokenizer.  Failure
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
#include "dialback_key.h"
#include "dns.h"
#include "log.h"
#include "netaddr.h"
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
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define S2S_OUT_FLUSH_MS 2000
#define S2S_OUT_ID_MAX 128
#define S2S_OUT_BATCH_MAX 16384	/* bytes of stanzas per write: one TLS record */

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

/* One queued stanza, standalone bytes. */
struct s2s_out_item {
	struct s2s_out_item *next;
	size_t len;
	char data[];
};

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

	struct dns_connect *dc;
	uv_tcp_t *tcp;				/* malloc'd; counted in handles_open */
	uv_timer_t timer;			/* deadline, then idle */
	uv_timer_t keepalive;
	uv_check_t flush_check;			/* writes the queue after this loop turn's reads */
	int handles_open;
	int routable;				/* in edge->out_index for new stanzas */
	struct s2s_out *index_next;		/* its bucket's chain */

	struct xmlstream *xs;
	struct tls_conn *tls;
	int direct_tls;
	int tls_open;
	int pkix_ok;				/* peer certificate valid for remote */
	int tls_no_cert;			/* the peer refused ours: present none */
	int sasl_done;
	int peer_has_db;			/* header declared xmlns:db */
	const char *auth_method;		/* once established */

	struct s2s_out_item *q_head, *q_tail;
	size_t q_bytes, q_count;
	size_t wq_bytes;			/* handed to uv_write, not yet done */
	struct route_waiter waiters;		/* list head (sentinel) */

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

struct s2s_out_write {
	uv_write_t req;
	struct s2s_out *o;
	size_t len;
	char data[];
};

static void s2s_out_fail(struct s2s_out *o, const char *condition, const char *reason);
static void s2s_out_fail_later(struct s2s_out *o, const char *condition, const char *reason,
    int retry);
static void s2s_out_flush_queue(struct s2s_out *o);

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
	return config_policy_for(o->edge->cfg, o->kind == S2S_OUT_GATEWAY ? o->local : o->remote);
}

static const char *
s2s_out_kind_name(const struct s2s_out *o)
{
	return o->kind == S2S_OUT_GATEWAY ? "gateway" : o->kind == S2S_OUT_VERIFY ? "verify" : "remote";
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

/* --- table ------------------------------------------------------------- */

/* FNV-1a over kind, local and remote: the bucket of a domain pair.  Every
 * stanza is routed through this lookup, so it must not grow with the
 * number of streams. */
static size_t
s2s_out_bucket(enum s2s_out_kind kind, const char *local, const char *remote)
{
	uint32_t h = 2166136261u ^ (uint32_t)kind;
	const unsigned char *p;

	for (p = (const unsigned char *)local; *p; p++)
		h = (h ^ *p) * 16777619u;
	h = (h ^ ' ') * 16777619u;
	for (p = (const unsigned char *)remote; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % EDGE_OUT_INDEX_BUCKETS;
}

struct s2s_out *
s2s_out_find(struct edge *edge, enum s2s_out_kind kind, const char *local, const char *remote)
{
	struct s2s_out *o;

	for (o = edge->out_index[s2s_out_bucket(kind, local, remote)]; o != NULL; o = o->index_next)
		if (o->kind == kind && strcmp(o->local, local) == 0 && strcmp(o->remote, remote) == 0)
			return o;
	return NULL;
}

static void
s2s_out_index_add(struct s2s_out *o)
{
	struct s2s_out **b = &o->edge->out_index[s2s_out_bucket(o->kind, o->local, o->remote)];

	o->index_next = *b;
	*b = o;
	o->routable = 1;
}

/* Takes o out of the routing table: new stanzas start a new stream. */
static void
s2s_out_unroute(struct s2s_out *o)
{
	struct s2s_out **pp;

	if (!o->routable)
		return;
	o->routable = 0;
	for (pp = &o->edge->out_index[s2s_out_bucket(o->kind, o->local, o->remote)]; *pp != NULL;
	    pp = &(*pp)->index_next)
		if (*pp == o) {
			*pp = o->index_next;
			break;
		}
	o->index_next = NULL;
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
		    config_policy_for(edge->cfg, o->kind == S2S_OUT_GATEWAY ? o->local : o->remote) == p)
			n++;
	return n;
}

/* --- waiters (backpressure) ---------------------------------------------- */

void
s2s_out_add_waiter(struct s2s_out *o, struct route_waiter *w)
{
	if (w->on == o)
		return;
	route_waiter_cancel(w);
	w->on = o;
	w->next = o->waiters.next;
	w->prev = &o->waiters;
	o->waiters.next->prev = w;
	o->waiters.next = w;
}

void
route_waiter_cancel(struct route_waiter *w)
{
	if (w->on == NULL)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->on = NULL;
}

static void
s2s_out_wake_waiters(struct s2s_out *o)
{
	while (o->waiters.next != &o->waiters) {
		struct route_waiter *w = o->waiters.next;

		route_waiter_cancel(w);
		w->resume(w);
	}
}

/* --- closing ------------------------------------------------------------ */

static void
s2s_out_on_handle_closed(uv_handle_t *h)
{
	struct s2s_out *o = h->data;

	/* The timers are part of the struct; a TCP handle (the current one,
	 * or one dropped for the next target) is malloc'd. */
	if (h != (uv_handle_t *)&o->timer && h != (uv_handle_t *)&o->keepalive &&
	    h != (uv_handle_t *)&o->flush_check) {
		if ((uv_handle_t *)o->tcp == h)
			o->tcp = NULL;
		free(h);
	}
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
	while (o->q_head != NULL) {
		struct s2s_out_item *it = o->q_head;

		o->q_head = it->next;
		o->edge->stats.stanzas_unbounceable++;
		log_event(LOG_ERROR, "s2s_out.stanza_lost", "remote", o->remote, NULL);
		free(it);
	}
	if (o->tls != NULL)
		tls_conn_free(o->tls);
	xmlstream_free(o->xs);
	free(o);
}

/* Bounces whatever is still queued (condition set by the failure). */
static void
s2s_out_bounce_queue(struct s2s_out *o, const char *condition, const char *text)
{
	struct s2s_out_item *it;

	while ((it = o->q_head) != NULL) {
		o->q_head = it->next;
		o->q_bytes -= it->len;
		o->q_count--;
		o->bounced += router_bounce_bytes(o->edge, it->data, it->len, condition,
		    strcmp(condition, "remote-server-timeout") == 0 ? "wait" : "cancel", text);
		free(it);
	}
	o->q_tail = NULL;
}

static void
s2s_out_close_handles(struct s2s_out *o)
{
	if (o->state == S2S_OUT_CLOSED)
		return;
	s2s_out_enter_state(o, S2S_OUT_CLOSED);
	s2s_out_unroute(o);
	if (o->dc != NULL) {
		dns_connect_free(o->dc);
		o->dc = NULL;
	}
	if (o->tcp != NULL && !uv_is_closing((uv_handle_t *)o->tcp))
		uv_close((uv_handle_t *)o->tcp, s2s_out_on_handle_closed);
	uv_close((uv_handle_t *)&o->timer, s2s_out_on_handle_closed);
	uv_close((uv_handle_t *)&o->keepalive, s2s_out_on_handle_closed);
	uv_close((uv_handle_t *)&o->flush_check, s2s_out_on_handle_closed);
}

static void
s2s_out_on_shutdown(uv_shutdown_t *req, int status)
{
	struct s2s_out *o = req->data;

	free(req);
	(void)status;
	s2s_out_close_handles(o);
}

static void
s2s_out_on_flush_timeout(uv_timer_t *t)
{
	s2s_out_close_handles(t->data);
}

/* The one way out after connecting.  condition: the bounce for what is
 * still queued; reason is logged. */
static void
s2s_out_close(struct s2s_out *o, const char *condition, const char *reason)
{
	uv_shutdown_t *req;

	if (o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		return;
	o->later_condition = NULL;	/* this close is the one it asked for */
	s2s_out_unroute(o);
	s2s_out_verify_finish(o, DIALBACK_ERROR, strcmp(condition, "remote-server-timeout") == 0, reason);
	log_event(LOG_INFO, "s2s_out.close", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer[0] ? o->peer : NULL, "reason", reason,
	    "state", s2s_out_state_names[o->state], NULL);
	s2s_out_bounce_queue(o, condition, reason);
	s2s_out_wake_waiters(o);
	{
		char n1[24], n2[24];

		snprintf(n1, sizeof(n1), "%llu", (unsigned long long)o->stanzas_out);
		snprintf(n2, sizeof(n2), "%llu", (unsigned long long)o->bounced);
		log_event(LOG_INFO, "s2s_out.closed", "kind", s2s_out_kind_name(o), "local", o->local,
		    "remote", o->remote, "stanzas_out", n1, "bounced", n2, NULL);
	}
	uv_timer_stop(&o->timer);
	uv_timer_stop(&o->keepalive);
	if (o->tcp == NULL) {
		s2s_out_close_handles(o);
		return;
	}
	s2s_out_enter_state(o, S2S_OUT_CLOSING);
	uv_read_stop((uv_stream_t *)o->tcp);
	if (o->tls != NULL)
		tls_conn_close(o->tls);
	req = malloc(sizeof(*req));
	if (req != NULL) {
		req->data = o;
		if (uv_shutdown(req, (uv_stream_t *)o->tcp, s2s_out_on_shutdown) == 0) {
			uv_timer_start(&o->timer, s2s_out_on_flush_timeout, S2S_OUT_FLUSH_MS, 0);
			return;
		}
		free(req);
	}
	s2s_out_close_handles(o);
}

static void
s2s_out_fail(struct s2s_out *o, const char *condition, const char *reason)
{
	if (o->state == S2S_OUT_CLOSING || o->state == S2S_OUT_CLOSED)
		return;
	/* Verification streams have their own counters (dialback.verify). */
	if (o->state != S2S_OUT_ESTABLISHED && o->kind != S2S_OUT_VERIFY)
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

	if (o->dc == NULL || o->state == S2S_OUT_ESTABLISHED || o->state == S2S_OUT_CLOSING ||
	    o->state == S2S_OUT_CLOSED || o->tcp == NULL) {
		s2s_out_fail(o, condition, reason);
		return;
	}
	s2s_out_clear_later(o);
	log_event(LOG_INFO, "s2s_out.next_target", "remote", o->remote, "peer", o->peer,
	    "reason", reason, NULL);
	snprintf(o->fail_reason, sizeof(o->fail_reason), "%s: %s", o->peer, reason);
	again = cert_fallback_wanted(o->tls, o->tls_no_cert, o->kind == S2S_OUT_REMOTE,
	    o->edge->cfg, s2s_out_policy(o), o->remote, o->peer);
	o->tls_no_cert |= again;
	uv_read_stop((uv_stream_t *)o->tcp);
	uv_close((uv_handle_t *)o->tcp, s2s_out_on_handle_closed);
	o->tcp = NULL;
	if (o->tls != NULL) {
		tls_conn_free(o->tls);	/* deferred if we are inside its callback */
		o->tls = NULL;
	}
	o->tls_open = 0;
	o->pkix_ok = 0;
	o->sasl_done = 0;
	o->peer_has_db = 0;
	o->stream_id[0] = '\0';
	o->peer[0] = '\0';
	/* A fresh parser for the next connection; the loops feeding the old
	 * one stop on S2S_OUT_CONNECTING. */
	xmlstream_free(o->xs);
	o->xs = xmlstream_new(NULL, XMLSTREAM_NS_SERVER);
	if (o->xs == NULL) {
		s2s_out_fail(o, "resource-constraint", "out of memory");
		return;
	}
	s2s_out_enter_state(o, S2S_OUT_CONNECTING);
	if (again)
		dns_connect_again(o->dc);
	else
		dns_connect_next(o->dc);
}

/* --- output ------------------------------------------------------------- */

static void
s2s_out_on_write(uv_write_t *req, int status)
{
	struct s2s_out_write *w = (struct s2s_out_write *)req;
	struct s2s_out *o = w->o;

	o->wq_bytes -= w->len;
	free(w);
	(void)status;	/* a failed write shows up as a read error */
	if (o->state == S2S_OUT_ESTABLISHED)
		s2s_out_flush_queue(o);
}

static int
s2s_out_send_raw(struct s2s_out *o, const void *data, size_t len)
{
	struct s2s_out_write *w;
	uv_buf_t buf;

	if (o->tcp == NULL || o->state == S2S_OUT_CLOSED)
		return -1;
	w = malloc(sizeof(*w) + len);
	if (w == NULL) {
		s2s_out_fail_later(o, "resource-constraint", "out of memory", 0);
		return -1;
	}
	w->o = o;
	w->len = len;
	memcpy(w->data, data, len);
	buf = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)o->tcp, &buf, 1, s2s_out_on_write) != 0) {
		free(w);
		s2s_out_fail_later(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
		    "remote-server-not-found", "write failed", 0);
		return -1;
	}
	o->wq_bytes += len;
	return 0;
}

static int
s2s_out_send(struct s2s_out *o, const char *data, size_t len)
{
	if (o->tls == NULL)
		return s2s_out_send_raw(o, data, len);
	if (!o->tls_open)
		return -1;
	return tls_conn_write(o->tls, (const uint8_t *)data, len);
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
	char batch[S2S_OUT_BATCH_MAX];
	int sent = 0;

	while (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && o->q_head != NULL &&
	    o->wq_bytes < (size_t)lim->send_queue_bytes) {
		struct s2s_out_item *it, *taken = o->q_head, *last = NULL;
		size_t len = 0, n = 0;
		const char *data;

		/* Take whole stanzas while they fit; a large one alone. */
		for (it = o->q_head; it != NULL && (n == 0 || len + it->len <= sizeof(batch)); it = it->next) {
			len += it->len;
			n++;
			last = it;
		}
		o->q_head = last->next;
		if (o->q_head == NULL)
			o->q_tail = NULL;
		last->next = NULL;
		o->q_bytes -= len;
		o->q_count -= n;
		if (n == 1) {
			data = taken->data;
		} else {
			size_t off = 0;

			for (it = taken; it != NULL; it = it->next) {
				memcpy(batch + off, it->data, it->len);
				off += it->len;
			}
			data = batch;
		}
		if (s2s_out_send(o, data, len) == 0) {
			sent = 1;
			o->stanzas_out += n;
			o->edge->stats.stanzas_delivered += n;
			while ((it = taken) != NULL) {
				taken = it->next;
				free(it);
			}
			continue;
		}
		/* The stream broke under them: these go back now (they are
		 * off the queue), the rest when the failure is acted on. */
		while ((it = taken) != NULL) {
			taken = it->next;
			o->bounced += router_bounce_bytes(o->edge, it->data, it->len,
			    o->kind == S2S_OUT_GATEWAY ? "service-unavailable" : "remote-server-not-found",
			    "cancel", "the stream failed");
			free(it);
		}
		s2s_out_fail_later(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
		    "remote-server-not-found", "write failed", 0);
		return;
	}
	if (o->q_bytes <= (size_t)lim->route_queue_bytes / 2)
		s2s_out_wake_waiters(o);
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
	struct s2s_out_item *it;

	if (o->q_bytes + len > 2 * (size_t)lim->route_queue_bytes)
		return -1;
	it = malloc(sizeof(*it) + len);
	if (it == NULL)
		return -1;
	it->next = NULL;
	it->len = len;
	memcpy(it->data, data, len);
	if (o->q_tail != NULL)
		o->q_tail->next = it;
	else
		o->q_head = it;
	o->q_tail = it;
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
		if (o->q_head != NULL || o->wq_bytes > 0) {
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
	if (o->state == S2S_OUT_ESTABLISHED && o->later_condition == NULL && o->wq_bytes == 0)
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
	if (o->dc != NULL) {
		dns_connect_free(o->dc);
		o->dc = NULL;
	}
	s2s_out_enter_state(o, S2S_OUT_ESTABLISHED);
	log_event(LOG_INFO, "s2s_out.established", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer, "method", method,
	    "tls", o->tls != NULL ? tls_conn_version(o->tls) : "none", NULL);
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
	char key[DIALBACK_KEY_HEX_LEN + 1], out[1024];
	int n;

	/* XEP-0185: bound to the receiver, us and the receiver's stream id. */
	if (dialback_key_make(&o->edge->dialback, o->remote, o->local, o->stream_id, key) < 0) {
		s2s_out_fail(o, "remote-server-not-found", "no dialback secret");
		return;
	}
	n = snprintf(out, sizeof(out), "<db:result from='%s' to='%s'>%s</db:result>",
	    o->local, o->remote, key);
	if (n < 0 || (size_t)n >= sizeof(out))
		return;
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
	char out[DIALBACK_KEY_MAX + 1024];
	int n;

	/* Key and id were checked to be plain tokens: no escaping needed. */
	n = snprintf(out, sizeof(out), "<db:verify from='%s' to='%s' id='%s'>%s</db:verify>",
	    o->local, o->remote, o->verify_id, o->verify_key);
	if (n < 0 || (size_t)n >= sizeof(out))
		return;
	s2s_out_enter_state(o, S2S_OUT_WAIT_VERIFY);
	s2s_out_send(o, out, (size_t)n);
}

/* XEP-0220, Authoritative Server's answer: it names our id and both domains the other
 * way round; the stream has served its purpose either way. */
static void
s2s_out_on_verify_answer(struct s2s_out *o, const struct xmlstream_event *ev)
{
	if (!xmlstream_str_eq(&ev->id, o->verify_id) || !xmlstream_str_eq(&ev->from, o->remote) ||
	    !xmlstream_str_eq(&ev->to, o->local))
		s2s_out_verify_finish(o, DIALBACK_ERROR, 0, "answer does not match the request");
	else if (xmlstream_str_eq(&ev->stanza_type, "valid"))
		s2s_out_verify_finish(o, DIALBACK_VALID, 0, "the authoritative server confirmed the key");
	else if (xmlstream_str_eq(&ev->stanza_type, "invalid"))
		s2s_out_verify_finish(o, DIALBACK_INVALID, 0, "the authoritative server denied the key");
	else
		s2s_out_verify_finish(o, DIALBACK_ERROR, 0, "the authoritative server answered with an error");
	s2s_out_sendstr(o, "</stream:stream>");
	s2s_out_close(o, "remote-server-not-found", "verification done");
}

/* What the policy lets us do once features are in. */
static void
s2s_out_on_features(struct s2s_out *o, const struct xmlstream_event *ev)
{
	const struct config_partner *p = s2s_out_policy(o);
	int offers_tls = xmlelem_contains(ev, NS_TLS);
	int offers_external = xmlelem_contains(ev, NS_SASL) && xmlelem_contains(ev, ">EXTERNAL<");
	int offers_dialback = xmlelem_contains(ev, NS_DIALBACK_FEATURE) || o->peer_has_db;

	if (o->tls == NULL && o->kind != S2S_OUT_GATEWAY) {
		if (offers_tls && p->tls != POLICY_TLS_DISABLED) {
			/* State first: the send may fail (the rule at struct
			 * s2s_out), and must not be overwritten after. */
			s2s_out_enter_state(o, S2S_OUT_WAIT_PROCEED);
			s2s_out_sendstr(o, "<starttls xmlns='" NS_TLS "'/>");
			return;
		}
		if (p->tls == POLICY_TLS_REQUIRED) {
			s2s_out_retry(o, "remote-server-not-found", "the remote server offers no STARTTLS");
			return;
		}
		if (offers_tls && xmlelem_contains(ev, "<required")) {
			s2s_out_fail(o, "remote-server-not-found",
			    "the remote server requires TLS, which policy disables");
			return;
		}
	}
	if (o->kind == S2S_OUT_VERIFY) {
		s2s_out_send_verify(o);
		return;
	}
	if (o->sasl_done) {
		s2s_out_established(o, "sasl-external");
		return;
	}
	if (o->kind == S2S_OUT_REMOTE && o->tls_open && offers_external &&
	    p->sasl_external != POLICY_SASL_DISABLED) {
		s2s_out_send_sasl_external(o);
		return;
	}
	if (o->kind == S2S_OUT_REMOTE && p->sasl_external == POLICY_SASL_REQUIRED) {
		s2s_out_fail(o, "remote-server-not-found", "SASL EXTERNAL required by policy, not offered");
		return;
	}
	if (!offers_dialback || !o->edge->cfg->dialback.enabled ||
	    (o->kind == S2S_OUT_REMOTE && !p->dialback)) {
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
		xmlstream_restart(o->xs);
		s2s_out_enter_state(o, S2S_OUT_WAIT_FEATURES);
		s2s_out_send_header(o);
		return;
	}
	log_event(LOG_INFO, "s2s_out.auth", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "method", "sasl-external", "result", "failed", NULL);
	/* XEP-0178 §3: a failure may fall back to dialback. */
	if (s2s_out_policy(o)->dialback && o->edge->cfg->dialback.enabled &&
	    s2s_out_policy(o)->sasl_external != POLICY_SASL_REQUIRED) {
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
	    o->kind == S2S_OUT_GATEWAY ? "service-unavailable" : "remote-server-not-found",
	    xmlstream_str_eq(&ev->stanza_type, "error") ? "dialback error from the receiving server" :
	    "dialback refused by the receiving server");
}

static void
s2s_out_on_header(struct s2s_out *o, const struct xmlstream_event *ev)
{
	size_t i;

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
	s2s_out_fail(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
	    "remote-server-not-found", "the receiving server sent a stanza on our stream");
}

static void
s2s_out_on_element(struct s2s_out *o, const struct xmlstream_event *ev)
{
	const char *stanza;

	if (xmlstream_str_eq(&ev->name, "error") && xmlstream_str_eq(&ev->ns, NS_STREAMS)) {
		char cond[64] = "";
		const char *c = xmlelem_contains(ev, "remote-connection-failed") ? "remote-connection-failed" :
		    xmlelem_contains(ev, "host-unknown") ? "host-unknown" :
		    xmlelem_contains(ev, "policy-violation") ? "policy-violation" :
		    xmlelem_contains(ev, "not-authorized") ? "not-authorized" : "stream error";

		snprintf(cond, sizeof(cond), "peer sent <%s/>", c);
		s2s_out_retry(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
		    "remote-server-not-found", cond);
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
			if (xmlstream_buffered(o->xs) > 0) {
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
s2s_out_drain(struct s2s_out *o)
{
	struct xmlstream_event ev;
	enum xmlstream_event_type t;

	while (s2s_out_is_live(o) &&
	    o->state != S2S_OUT_TLS_HANDSHAKE && o->state != S2S_OUT_CONNECTING &&
	    (t = xmlstream_next(o->xs, &ev)) != XMLSTREAM_EV_NONE) {
		switch (t) {
		case XMLSTREAM_EV_STREAM_OPEN:
			s2s_out_on_header(o, &ev);
			break;
		case XMLSTREAM_EV_ELEMENT:
			s2s_out_on_element(o, &ev);
			break;
		case XMLSTREAM_EV_STREAM_CLOSE:
			s2s_out_sendstr(o, "</stream:stream>");
			s2s_out_close(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
			    "remote-server-not-found", "peer closed the stream");
			break;
		case XMLSTREAM_EV_ERROR: {
			char out[STREAM_ERROR_TEXT_MAX + 512];
			size_t len;

			if (stream_error_write(out, sizeof(out), ev.cond, ev.text, &len) == 0)
				s2s_out_send(o, out, len);
			s2s_out_fail(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
			    "remote-server-not-found", ev.text ? ev.text : "malformed stream");
			break;
		}
		default:
			break;
		}
	}
}

/* --- TLS --------------------------------------------------------------------- */

static void
s2s_out_tls_on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	s2s_out_send_raw(ud, data, len);
}

static void
s2s_out_tls_on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct s2s_out *o = ud;

	o->tls_open = 1;
	o->pkix_ok = r->status == TLS_VERIFY_OK;
	log_event(o->pkix_ok ? LOG_INFO : LOG_WARN,
	    o->kind == S2S_OUT_VERIFY ? "dialback.verify_tls" : "s2s_out.tls", "kind", s2s_out_kind_name(o),
	    "remote", o->remote, "peer", o->peer, "version", tls_conn_version(o->tls),
	    "cipher", tls_conn_ciphersuite(o->tls),
	    "certificate", tls_verify_status_str(r->status), "detail", r->detail, NULL);
	if (o->kind == S2S_OUT_GATEWAY && !o->pkix_ok) {
		/* tls/ refuses an unpinned gateway already; never trust a
		 * gateway on anything but its pin. */
		s2s_out_fail(o, "service-unavailable", "gateway key not pinned");
		return;
	}
	if (o->kind != S2S_OUT_GATEWAY && !o->pkix_ok && s2s_out_policy(o)->require_valid_certificate) {
		s2s_out_retry(o, "remote-server-not-found",
		    "certificate not valid for the domain (policy require_valid_certificate)");
		return;
	}
	/* RFC 6120 §5.4.3.3: a new stream inside TLS. */
	xmlstream_restart(o->xs);
	s2s_out_enter_state(o, S2S_OUT_WAIT_FEATURES);
	s2s_out_send_header(o);
}

static void
s2s_out_tls_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct s2s_out *o = ud;

	while (len > 0 && s2s_out_is_live(o) && o->state != S2S_OUT_CONNECTING) {
		size_t took = xmlstream_feed(o->xs, data, len);

		data += took;
		len -= took;
		s2s_out_drain(o);
		if (took == 0 && len > 0) {
			s2s_out_fail(o, "remote-server-not-found", "element too large");
			return;
		}
	}
}

static void
s2s_out_tls_on_close_notify(void *ud)
{
	struct s2s_out *o = ud;

	s2s_out_close(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
	    "remote-server-not-found", "peer sent TLS close_notify");
}

static void
s2s_out_tls_on_error(void *ud, const char *reason)
{
	struct s2s_out *o = ud;

	/* Possibly inside tls_conn_write, under a send: from the loop. */
	o->tls_open = 0;
	s2s_out_fail_later(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
	    "remote-server-not-found", reason, 1);
}

static const struct tls_conn_callbacks s2s_out_tls_callbacks = {
	.on_ciphertext = s2s_out_tls_on_ciphertext,
	.on_handshake = s2s_out_tls_on_handshake,
	.on_plaintext = s2s_out_tls_on_plaintext,
	.on_close_notify = s2s_out_tls_on_close_notify,
	.on_error = s2s_out_tls_on_error,
};

static int
s2s_out_tls_begin(struct s2s_out *o)
{
	struct tls_conn_params params = {
		.role = o->kind == S2S_OUT_GATEWAY ? TLS_ROLE_INTERNAL_CLIENT : TLS_ROLE_EXTERNAL_CLIENT,
		.direct_tls = o->direct_tls,
		.peer_domain = o->kind == S2S_OUT_GATEWAY ? o->edge->cfg->gateway.server_name : o->remote,
		.local_domain = o->kind == S2S_OUT_GATEWAY ? NULL : o->local,
		.peer_addr = o->peer,
		.no_client_cert = o->tls_no_cert,
	};
	char err[256];

	o->tls = tls_conn_new(o->edge->certs, &params, &s2s_out_tls_callbacks, o, err, sizeof(err));
	if (o->tls == NULL) {
		log_event(LOG_ERROR, "s2s_out.tls_failed", "remote", o->remote, "reason", err, NULL);
		return -1;
	}
	s2s_out_enter_state(o, S2S_OUT_TLS_HANDSHAKE);
	return tls_conn_start(o->tls);
}

/* --- connection ---------------------------------------------------------- */

static void
s2s_out_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct s2s_out *o = h->data;
	void *p = NULL;
	size_t n = 0;

	(void)suggested;
	if (o->tls != NULL) {
		*buf = uv_buf_init((char *)o->edge->read_buf, sizeof(o->edge->read_buf));
		return;
	}
	if (xmlstream_reserve(o->xs, &p, &n) < 0)
		n = 0;
	*buf = uv_buf_init(p, (unsigned)n);
}

static void
s2s_out_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct s2s_out *o = stream->data;
	const char *cond = o->kind == S2S_OUT_GATEWAY ? "service-unavailable" : "remote-server-not-found";

	if (nread < 0) {
		if (o->tls != NULL && nread == UV_EOF)
			tls_conn_eof(o->tls);
		if ((uv_stream_t *)o->tcp != stream)
			return;	/* the EOF already moved us to the next target */
		if (o->state == S2S_OUT_ESTABLISHED)
			s2s_out_close(o, cond, nread == UV_EOF ? "peer closed the connection" :
			    uv_strerror((int)nread));
		else
			s2s_out_retry(o, cond, nread == UV_EOF ? "peer closed the connection" :
			    uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	if (o->tls != NULL) {
		tls_conn_feed(o->tls, (const uint8_t *)buf->base, (size_t)nread);
	} else {
		xmlstream_commit(o->xs, (size_t)nread);
		s2s_out_drain(o);
	}
}

/* TCP is up (either way of connecting): read, then TLS or the header. */
static void
s2s_out_on_tcp_ready(struct s2s_out *o)
{
	const char *cond = o->kind == S2S_OUT_GATEWAY ? "service-unavailable" : "remote-server-not-found";

	o->tcp->data = o;
	log_event(LOG_INFO, "s2s_out.connect", "kind", s2s_out_kind_name(o), "local", o->local,
	    "remote", o->remote, "peer", o->peer, "tls", o->direct_tls ? "direct" : "starttls", NULL);
	if (uv_read_start((uv_stream_t *)o->tcp, s2s_out_on_alloc, s2s_out_on_read) != 0) {
		s2s_out_fail(o, cond, "read failed");
		return;
	}
	if (o->direct_tls) {
		if (s2s_out_tls_begin(o) < 0)
			s2s_out_fail(o, cond, "TLS setup failed");
		return;
	}
	s2s_out_enter_state(o, S2S_OUT_WAIT_FEATURES);
	s2s_out_send_header(o);
}

static void
s2s_out_on_dns_connect(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *cand, void *arg)
{
	struct s2s_out *o = arg;

	(void)dc;
	if (err != DNS_OK) {
		char reason[sizeof(o->fail_reason) + 64];

		dns_connect_free(o->dc);
		o->dc = NULL;
		/* After a target failed beyond TCP, say how it failed. */
		snprintf(reason, sizeof(reason), "%s%s%s", dns_error_str(err),
		    o->fail_reason[0] ? "; last target: " : "", o->fail_reason);
		s2s_out_fail(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" :
		    dns_error_is_timeout(err) ? "remote-server-timeout" : "remote-server-not-found",
		    reason);
		return;
	}
	/* The sequence is kept until the stream is established: a target
	 * whose TLS or stream fails makes way for the next (RFC 6120
	 * §3.2.1, XEP-0368 §3). */
	o->tcp = tcp;
	o->handles_open++;
	snprintf(o->peer, sizeof(o->peer), "%s:%u", cand->addr_str, cand->port);
	o->direct_tls = cand->tls == DNS_TLS_DIRECT;
	s2s_out_on_tcp_ready(o);
}

/* A configured address (the gateway, or a partner's `connect`): the same
 * connect sequence with one candidate, so timeouts and logs are alike. */
static int
s2s_out_connect_addr(struct s2s_out *o, const char *addr, int direct_tls, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char why[128];

	if (netaddr_parse(addr, &ss, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", addr, why);
		return -1;
	}
	if (dns_connect_start_static(o->edge->dns, o->remote, (struct sockaddr *)&ss,
	    direct_tls ? DNS_TLS_DIRECT : DNS_TLS_STARTTLS, s2s_out_on_dns_connect, o, &o->dc) != DNS_OK) {
		o->dc = NULL;
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
	struct dns_avoid avoid;
	struct s2s_out *o;
	enum dns_error de;

	*condition = kind == S2S_OUT_GATEWAY ? "service-unavailable" : "remote-server-not-found";
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
	o->waiters.next = o->waiters.prev = &o->waiters;
	o->xs = xmlstream_new(NULL, XMLSTREAM_NS_SERVER);
	if (o->xs == NULL) {
		free(o);
		snprintf(err, errlen, "out of memory");
		*condition = "resource-constraint";
		return NULL;
	}
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
	if (kind != S2S_OUT_VERIFY)
		edge->stats.streams_out++;
	if (kind != S2S_OUT_VERIFY)	/* a verification carries no stanzas */
		s2s_out_index_add(o);
	uv_timer_start(&o->timer, s2s_out_on_timer, (uint64_t)cfg->limits.connect_timeout_ms, 0);
	log_event(LOG_INFO, "s2s_out.start", "kind", s2s_out_kind_name(o), "local", local,
	    "remote", remote, NULL);
	if (edge->dns == NULL) {
		snprintf(err, errlen, "no resolver");
		goto fail;
	}
	if (kind == S2S_OUT_GATEWAY) {
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
	de = dns_connect_start_avoiding(edge->dns, remote, &avoid, s2s_out_on_dns_connect, o, &o->dc);
	if (de != DNS_OK) {
		o->dc = NULL;
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
	if (o->state == S2S_OUT_ESTABLISHED && o->q_head == NULL)
		s2s_out_sendstr(o, "</stream:stream>");
	s2s_out_close(o, o->kind == S2S_OUT_GATEWAY ? "service-unavailable" : "remote-server-timeout",
	    "xmpp-edge is shutting down");
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
	if (o->tls != NULL && o->tls_open) {
		out->tls_version = tls_conn_version(o->tls);
		out->cipher = tls_conn_ciphersuite(o->tls);
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
	out->send_queue_bytes = o->wq_bytes;
	out->tcp = o->tcp;
	out->established = o->state == S2S_OUT_ESTABLISHED;
}

/* Keys and stream ids travel verbatim into the XML we write: only plain
 * tokens (hex keys per XEP-0185, ids of letters, digits, -_.=+/). */
static int
s2s_out_is_token(const char *t, size_t max)
{
	size_t n = strlen(t), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/'))
			return 0;
	}
	return 1;
}

struct s2s_out *
s2s_out_verify_start(struct edge *edge, const char *local, const char *remote,
    const char *stream_id, const char *key, dialback_verify_cb cb, void *arg,
    char *err, size_t errlen)
{
	const char *condition;
	struct s2s_out *o;

	if (!s2s_out_is_token(key, DIALBACK_KEY_MAX) || !s2s_out_is_token(stream_id, S2S_OUT_ID_MAX - 1)) {
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
