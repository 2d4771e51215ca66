/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_in_int.h - what the files of the inbound stream role share:
 * s2s_in.c (the stream: bytes, TLS, header, life cycle) and s2s_in_auth.c
 * (authenticating the remote server: SASL EXTERNAL, dialback) and
 * s2s_in_bidi.c (XEP-0288: the stream as a destination for our stanzas).
 * Not for other modules: they use s2s_in.h.
 */
#ifndef XE_S2S_IN_INT_H
#define XE_S2S_IN_INT_H

#include <netinet/in.h>

#include "dialback.h"
#include "dialback_budget.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "router.h"
#include "s2s_conn.h"
#include "s2s_out.h"
#include "s2s_in.h"
#include "sm.h"
#include "stream_error.h"
#include "tls.h"
#include "xmlstream.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define STREAM_ID_BYTES 16
#define S2S_IN_OUT_MAX 2048	/* largest control message we compose */
#define S2S_IN_CHECKS_MAX 4	/* dialback checks one stream may have running */
#define S2S_IN_PAIRS_MAX 16	/* domain pairs one stream may authenticate
				   (dialback multiplexing, XEP-0220 §2.6) */

enum s2s_in_state {
	S2S_IN_WAIT_HEADER,
	S2S_IN_WAIT_STARTTLS,
	S2S_IN_TLS_HANDSHAKE,
	S2S_IN_WAIT_AUTH,
	S2S_IN_WAIT_DIALBACK,
	S2S_IN_ESTABLISHED,
	S2S_IN_GATEWAY_AUTH,
	S2S_IN_GATEWAY_OPEN,
	S2S_IN_CLOSING,
	S2S_IN_CLOSED,
};

/*
 * A stream's part in a graceful shutdown (daemon.c's steps), beside its
 * protocol state:
 *
 *   S2S_IN_DRAIN_NONE      running
 *   S2S_IN_DRAIN_SETTLING  XEP-0198 on: no stanza is taken any more (read,
 *                          not routed, not counted in h: the peer still
 *                          holds it and bounces or resends it itself);
 *                          <r/> is answered; waits until every stanza it
 *                          took is settled (custody empty)
 *   S2S_IN_DRAIN_TOLD      our last <a h/> (XEP-0198), <system-shutdown/>
 *                          and </stream:stream> are out; nothing more is
 *                          sent; read until the peer closes its side (RFC
 *                          6120 §4.4): without XEP-0198 its stanzas are
 *                          still routed, with it they are not taken
 */
enum s2s_in_drain {
	S2S_IN_DRAIN_NONE,
	S2S_IN_DRAIN_SETTLING,
	S2S_IN_DRAIN_TOLD,
};

/*
 * Life and death of struct s2s_in and struct s2s_in_pair: the deferred
 * free (the libuv rule: closing is a request, freeing happens in the close
 * callback).
 *
 *  1. Nothing is freed inside a send.  Any s2s_in_send() may close the
 *     stream (the peer stopped reading and limits.send_queue_bytes is
 *     reached, a write failed, TLS failed).  Closing is the transport's
 *     request (s2s_conn.h): its on_closing (s2s_in_on_closing) only marks
 *     the stream S2S_IN_CLOSING and cancels its running dialback checks;
 *     the pairs and the struct are freed in s2s_in_on_closed(), from the
 *     handles' close callbacks, which never run inside one of our calls.  A pointer to the stream or to
 *     one of its pairs therefore stays valid until the current callback
 *     returns, whatever it sent.
 *  2. Valid is not alive: after every call that may send (s2s_in_send and
 *     its wrappers, s2s_in_fail, s2s_in_close, anything that calls them),
 *     re-check before changing per-stream or per-pair state:
 *         if (s2s_in_send(...) < 0)
 *                 return;
 *     s2s_in_send() returns -1 whenever the stream is closing after it
 *     (also when it already was), so this one test suffices; code that
 *     did not send itself tests s2s_in_is_closing().  A closing stream
 *     must never be put back into another state (s2s_in_enter_state
 *     refuses and logs s2s_in.state_refused: a missed check is a bug).
 *  3. A running dialback check (pair->verify) is detached when the stream
 *     closes: s2s_out_verify_cancel() guarantees its callback never runs,
 *     and the callback itself also does nothing on a closing stream.  A
 *     pair is removed from a live stream only by s2s_in_pair_remove(),
 *     never while a caller up the stack still holds it.
 */

/* A (remote, local) domain pair of a stream: being checked by dialback,
 * or authenticated.  For the gateway's streams 'remote' is the hosted
 * domain it speaks for.  Owned by its stream (freed in s2s_in_on_closed,
 * see above). */
struct s2s_in_pair {
	struct s2s_in_pair *next;
	struct s2s_in *s;
	struct s2s_out *verify;		/* running check (S2S_OUT_VERIFY), or NULL */
	int valid;
	const char *method;		/* how it became valid (static string) */
	char remote[CONFIG_DOMAIN_MAX];
	char local[CONFIG_DOMAIN_MAX];
	/* XEP-0288: local -> remote over this stream, listed while the pair
	 * is valid on a bidirectional stream (s2s_in_bidi.c). */
	struct route_slot route;
};

struct s2s_in {
	struct edge *edge;
	struct listener *listener;
	enum s2s_in_state state;
	/* Bytes, TLS, tokenizer, write queue, deadline (handshake, then
	 * idle); it outlives s by nothing: freed right after on_closed. */
	struct s2s_conn *conn;
	int pkix_ok;			/* certificate valid for 'from' (SASL EXTERNAL):
					   PKIX, or a TLSA match (s2s_dane.c) */
	struct s2s_dane_in *dane_in;	/* the one TLSA lookup of this stream, running */
	int dane_done;			/* ... done: never a second one */
	int dane_ok;			/* ... and a TLSA record matched */
	char authed_domain[CONFIG_DOMAIN_MAX];	/* the first authenticated */
	struct s2s_in_pair *pairs;	/* owned list */
	size_t npairs;
	/* The pair the stream's last stanza was addressed with, once its
	 * checks passed (issue 18, relay CPU): a stanza whose 'from' and
	 * 'to' domains are byte for byte this pair's remote and local (so
	 * canonical already) passes the same checks again while the
	 * configuration is the one they ran under (edge->cfg_generation),
	 * without canonicalising both JIDs' domains and walking the pairs.
	 * Cleared when the pair goes (s2s_in_pair_remove); pairs only ever
	 * become valid, never invalid again. */
	const struct s2s_in_pair *route_pair;
	uint64_t route_pair_generation;
	struct route_waiter waiter;	/* paused by a full destination */
	struct ratelimit_stream rate;	/* paused by a rate limit (external only) */
	uint64_t stanzas, routed;	/* counted for the close log */
	int bidi_offered;		/* XEP-0288: our features offered <bidi/> */
	int bidi;			/* ... and the partner asked for it */
	uint64_t bidi_stanzas_out;	/* our stanzas written back on it */
	uint64_t started_ms;		/* uv_now() at accept */
	int header_sent;
	/* Graceful shutdown (s2s_in_shutdown_begin, s2s_in_drain_*). */
	enum s2s_in_drain drain;
	uint64_t drain_left;		/* stanzas read and not taken since (XEP-0198) */
	char peer[NETADDR_TEXT_MAX];
	struct sockaddr_storage peer_addr;
	char local_domain[CONFIG_DOMAIN_MAX];
	char remote_domain[CONFIG_DOMAIN_MAX];
	char stream_id[STREAM_ID_BYTES * 2 + 1];
	/* Dialback budgets (limits.dialback_*; dialback_budget.h). */
	size_t verifies_preauth;	/* <db:verify/> asked before authentication */
	struct dialback_rate check_rate;	/* checks started */
	size_t check_failures;		/* checks that failed, in the stream's life */
	int counted_unauthenticated;	/* in edge->streams_unauthenticated */
	int counted_prefixes;		/* in edge->peer_prefixes */
	/* XEP-0198 (s2s_in_sm.c): off until the peer's <enable/>; then
	 * every stanza is in custody until its destination settles it, and
	 * <a h/> counts the leading settled ones. */
	int sm_on;
	uint32_t sm_h_sent;		/* XEP-0198: our bidi stanzas since <enabled/>, mod 2^32 */
	uint32_t sm_slot, sm_gen;	/* in edge->sm_registry */
	struct sm_custody custody;
	int sm_ack_owed;		/* asked (<r/>), not all it sent is covered yet */
	uint64_t sm_ack_sent_ms;	/* uv_now() at our last <a h/> */
	int sm_paused;			/* reading stopped: SM_CUSTODY_MAX in flight */
	int sm_custody_lost;		/* a stanza can be neither settled nor bounced:
					 * the stream is ended (s2s_in_custody_keep) */
	/* The gateway's stream after SASL: Prosody 0.12 sends <enable/> on
	 * it or not by the order of two equal-priority handlers of its
	 * features event (mod_s2s's, which ends the event, and mod_smacks's;
	 * a hash order that differs from one Prosody process to the next).
	 * When it has not by sm_ask_after_ms (uv_now) and the gateway has
	 * answered our unoffered <enable/> (edge->gateway_sm_answered), we
	 * send <enable/> ourselves: Prosody's handle_enable takes it on its
	 * outgoing stream too, and from its <enabled/> on queues its
	 * stanzas until we acknowledge them. */
	uint64_t sm_ask_after_ms;	/* 0: not a candidate */
	int sm_asked;			/* our <enable/> sent, no answer yet */
	struct s2s_in *next, *prev;
};

/* s2s_in.c */
/* Closing or closed: nothing may be sent, read or changed any more but
 * what s2s_in_on_closed() frees. */
static inline int
s2s_in_is_closing(const struct s2s_in *s)
{
	return s->state == S2S_IN_CLOSING || s->state == S2S_IN_CLOSED;
}
/* The gateway's side (internal or internal_starttls listener). */
static inline int
s2s_in_is_internal(const struct s2s_in *s)
{
	return listener_is_internal(s->listener);
}
void s2s_in_enter_state(struct s2s_in *s, enum s2s_in_state next);
/* 0, or -1 when the bytes were not sent or the stream is closing after
 * the call (see the rule above). */
int s2s_in_send(struct s2s_in *s, const char *data, size_t len);
int s2s_in_sendstr(struct s2s_in *s, const char *str);
void s2s_in_fail(struct s2s_in *s, enum stream_error_cond cond, const char *text);
void s2s_in_close(struct s2s_in *s, const char *reason);
void s2s_in_on_timeout(void *ud);
/* Reading starts again unless something (a full destination, a rate
 * limit, custody) still holds it. */
void s2s_in_read_resume(struct s2s_in *s);
/* TLS, once its handshake completed; else NULL. */
static inline struct tls_conn *
s2s_in_tls(const struct s2s_in *s)
{
	return s2s_conn_tls(s->conn);
}
int s2s_in_take_domain(const struct xmlstream_str *v, char *out, size_t cap);

/* s2s_in_sm.c (XEP-0198 on inbound streams, custody) */
/* The <sm/> feature for our stream features. */
#define S2S_IN_SM_FEATURE "<sm xmlns='" SM_NS "'/>"
/* Handles <enable/>, <r/>, <a/> on an authenticated stream: 0 if ev was
 * one (the stream may be closing after), -1 if not a XEP-0198 element. */
int s2s_in_sm_on_element(struct s2s_in *s, const struct xmlstream_event *ev);
/* How long the gateway's stream may go without its own <enable/> after
 * the features that offered it, milliseconds. */
#define S2S_IN_SM_ASK_AFTER_MS 1000
/* Before each element on an established stream: our own <enable/> on the
 * gateway's stream when it is due (sm_ask_after_ms).  -1 if the send
 * failed (the stream is closing). */
int s2s_in_sm_maybe_ask(struct s2s_in *s);
/* A stanza is about to be routed: its custody tag (slot 0 when the
 * stream has no XEP-0198).  -1 when custody cannot take it (out of
 * memory): the stream fails. */
int s2s_in_sm_take(struct s2s_in *s, struct sm_tag *tag);
/* After routing: pauses reading while custody is full. */
void s2s_in_sm_after_route(struct s2s_in *s);
/* The stream is closing: late settles find nobody (the registry's
 * generation moves on). */
void s2s_in_sm_detach(struct s2s_in *s);
/* From s2s_in_free() only. */
void s2s_in_sm_free(struct s2s_in *s);
/* A stanza read on a stream that takes no more (S2S_IN_DRAIN_SETTLING,
 * or TOLD with XEP-0198 on): 1 when it is left with the peer (not routed,
 * not counted in h), 0 when it is to be routed as usual. */
int s2s_in_sm_drain_refuses(struct s2s_in *s);
/* Shutdown: a XEP-0198 stream stops taking stanzas and says goodbye once
 * its custody is empty (now, if it is).  0 when it did so, -1 when the
 * stream has no XEP-0198 (the caller tells it at once). */
int s2s_in_sm_drain_begin(struct s2s_in *s);
/* Our last <a h/> (XEP-0198 on), <system-shutdown/> and our close, in
 * one write; the stream is TOLD after it.  -1 when the stream is closing
 * after the send. */
int s2s_in_drain_tell(struct s2s_in *s);

/* s2s_in_auth.c */
/* After the header inside TLS: checks the certificate against 'from' and
 * sends the authentication features the partner's policy allows. */
void s2s_in_auth_offer(struct s2s_in *s);
/* The remote domain is authenticated: post-auth limits, idle timer. */
void s2s_in_auth_established(struct s2s_in *s);
/* The gateway's stream (internal listener, key pinned) after its header:
 * offers SASL EXTERNAL and dialback, both granted for hosted domains. */
void s2s_in_auth_offer_gateway(struct s2s_in *s);
/* Handles a negotiation element (<auth/>, <db:result/>, <db:verify/>)
 * in any state after the header; 0 if it was one, -1 if not. */
int s2s_in_auth_on_element(struct s2s_in *s, const struct xmlstream_event *ev);
/* 1 if (remote, local) is an authenticated pair of s; with local NULL,
 * whether remote is authenticated for any pair. */
int s2s_in_auth_pair_valid(const struct s2s_in *s, const char *remote, const char *local);
/* The valid pair remote -> local of s, or NULL. */
const struct s2s_in_pair *s2s_in_auth_pair_find(const struct s2s_in *s, const char *remote,
    const char *local);
/* Stream closing: cancels the running dialback checks (their callbacks
 * will not run); the pairs stay until s2s_in_auth_free(). */
void s2s_in_auth_detach(struct s2s_in *s);
/* From s2s_in_on_closed() only: frees the pairs. */
void s2s_in_auth_free(struct s2s_in *s);

/* s2s_in_bidi.c (XEP-0288) */
/* Whether the features offer <bidi/> to this stream's partner. */
int s2s_in_bidi_offered(const struct s2s_in *s);
/* Handles <bidi xmlns='urn:xmpp:bidi'/> in any state after the header
 * (the stream may fail); 0 if it was one, -1 if not. */
int s2s_in_bidi_on_element(struct s2s_in *s, const struct xmlstream_event *ev);
/* TLS started: an earlier offer or request does not count. */
void s2s_in_bidi_tls_started(struct s2s_in *s);
/* Pair p became valid: on an established bidirectional stream it takes
 * our stanzas for local -> remote. */
void s2s_in_bidi_pair_valid(struct s2s_in *s, struct s2s_in_pair *p);
/* The stream is established: the same for every valid pair. */
void s2s_in_bidi_established(struct s2s_in *s);
/* The transport wrote: paused senders go on once the queue is down. */
void s2s_in_bidi_on_written(void *ud);
/* Closing: the pairs take no more stanzas. */
void s2s_in_bidi_detach(struct s2s_in *s);
/* p is being freed (never inside a send): out of the table, its paused
 * senders resumed. */
void s2s_in_bidi_pair_free(struct s2s_in *s, struct s2s_in_pair *p);

#endif
