/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_session.c - the session code (s2s_in, s2s_in_auth, router) on
 * a real libuv loop, its peer scripted through the memory pipe
 * (proxy/s2s_conn.h).
 *
 * Outgoing streams get their connection from a scripted dialer (one
 * memory pipe, handed over from the loop).
 *
 * Each test ends as libuv's do: the loop runs empty and uv_loop_close()
 * returns 0 (nothing left open), and the edge counts no stream; under
 * ASan a free too early or twice is a failure of its own.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "config.h"
#include "dialback.h"
#include "edge.h"
#include "log.h"
#include "s2s_conn.h"
#include "s2s_dial.h"
#include "s2s_in.h"
#include "s2s_out.h"

#define TS_CONFIG "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {\"dialback_verify_preauth_max\": 1000000," \
	" \"send_queue_bytes\": 65536}, \"policy\": {\"partners\": {\"b.example\": {\"tls\": \"disabled\"}}}}"
#define TS_HDR "<?xml version='1.0'?><stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' " \
	"from='b.example' to='a.example' version='1.0'>"

struct ts_fixture {
	uv_loop_t loop;
	struct edge *edge;
	struct listener listener;
	struct s2s_pipe *peer;
	struct s2s_pipe *dial_pipe;	/* what the scripted dialer hands out */
	/* what the log said */
	int closes, queue_full_closes, state_refused, routed_events, auth_valid;
};

static void
ts_observe(void *arg, enum log_level level, const char *event, va_list ap)
{
	struct ts_fixture *f = arg;
	const char *k, *v;

	(void)level;
	if (strcmp(event, "s2s_in.state_refused") == 0)
		f->state_refused++;
	if (strncmp(event, "route.", 6) == 0)
		f->routed_events++;
	if (strcmp(event, "s2s_in.auth") == 0) {
		while ((k = va_arg(ap, const char *)) != NULL) {
			v = va_arg(ap, const char *);
			if (strcmp(k, "result") == 0 && v != NULL && strcmp(v, "valid") == 0)
				f->auth_valid++;
		}
		return;
	}
	if (strcmp(event, "s2s_in.close") != 0)
		return;
	f->closes++;
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (strcmp(k, "reason") == 0 && v != NULL && strcmp(v, "send queue full") == 0)
			f->queue_full_closes++;
	}
}

/* A loop and an edge with TS_CONFIG and a dialback secret; the log
 * observed into f. */
static void
ts_edge_init(struct ts_fixture *f)
{
	char err[CONFIG_ERR_MAX] = "";

	memset(f, 0, sizeof(*f));
	log_setup(LOG_ERROR, LOG_FORMAT_AUTO);
	log_set_observer(ts_observe, f);
	REQUIRE(uv_loop_init(&f->loop) == 0);
	f->edge = calloc(1, sizeof(*f->edge));
	REQUIRE(f->edge != NULL);
	prefix_count_init(&f->edge->peer_prefixes);
	f->edge->loop = &f->loop;
	f->edge->cfg = config_parse("t.json", TS_CONFIG, strlen(TS_CONFIG), 0, err, sizeof(err));
	if (f->edge->cfg == NULL)
		fprintf(stderr, "  config: %s\n", err);
	REQUIRE(f->edge->cfg != NULL);
	REQUIRE(dialback_secret_set(&f->edge->dialback, "0123456789abcdef0123456789abcdef", 32) == 0);
}

static void
ts_setup(struct ts_fixture *f, enum listener_kind kind)
{
	struct sockaddr_in peer;

	ts_edge_init(f);
	f->listener.edge = f->edge;
	f->listener.kind = kind;
	snprintf(f->listener.addr, sizeof(f->listener.addr), "memory");
	f->peer = s2s_pipe_mem_new(&f->loop);
	REQUIRE(f->peer != NULL);
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_port = htons(40000);
	inet_pton(AF_INET, "192.0.2.7", &peer.sin_addr);
	REQUIRE(s2s_in_start(&f->listener, f->peer, (struct sockaddr *)&peer) == 0);
	CHECK_INT_EQ(f->edge->stream_count, 1);
}

/* Runs the loop until it has nothing left: the stream must be gone. */
static void
ts_teardown(struct ts_fixture *f)
{
	s2s_pipe_mem_release(f->peer);
	CHECK_INT_EQ(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(f->edge->stream_count, 0);
	CHECK(f->edge->streams == NULL);
	CHECK_INT_EQ(f->edge->streams_unauthenticated, 0);
	CHECK_INT_EQ(uv_loop_close(&f->loop), 0);
	log_set_observer(NULL, NULL);
	prefix_count_clear(&f->edge->peer_prefixes);
	config_free(f->edge->cfg);
	free(f->edge);
}

/* Turns of the loop until the output holds want (or 200 turns). */
static int
ts_wait_output(struct ts_fixture *f, const char *want)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (strstr(s2s_pipe_mem_peer_output(f->peer, NULL), want) != NULL)
			return 1;
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	return 0;
}

/* The same for another scripted peer of f's loop. */
static int
ts_wait_output_of(struct ts_fixture *f, struct s2s_pipe *p, const char *want)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (strstr(s2s_pipe_mem_peer_output(p, NULL), want) != NULL)
			return 1;
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	return 0;
}

static size_t
ts_count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * Issue 14, the deferred free: dialback answers that overflow the send
 * queue during authentication.  The peer (the authoritative-server
 * role's asker) does not read and pipelines <db:verify/> questions, and a
 * stanza, behind its header; one of our answers overflows
 * limits.send_queue_bytes inside the element callback.  The stream must
 * be closed once, nothing after the overflowing answer may be handled
 * (no answer, no stanza routed, no state change on the closing stream),
 * and it must be freed once, from the loop, leaving nothing open.
 */
TEST(s2s_in_dialback_answer_overflow_closes_and_frees_once)
{
	struct ts_fixture f;
	char verify[256];
	size_t i, answers, out_len;
	const char *out;
	int n;

	ts_setup(&f, LISTENER_STARTTLS);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_HDR) == 0);
	REQUIRE(ts_wait_output(&f, "<dialback xmlns='urn:xmpp:features:dialback'>"));
	/* The peer stops reading; 1000 answers of ~100 bytes are well past
	 * the 64 KiB queue. */
	s2s_pipe_mem_set_stalled(f.peer, 1);
	for (i = 0; i < 1000; i++) {
		n = snprintf(verify, sizeof(verify), "<db:verify from='b.example' to='a.example' "
		    "id='id%zu'>00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:verify>", i);
		REQUIRE(n > 0 && (size_t)n < sizeof(verify));
		REQUIRE(s2s_pipe_mem_peer_send(f.peer, verify, (size_t)n) == 0);
	}
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer,
	    "<message from='u@b.example' to='v@a.example' id='after'/>") == 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	out = s2s_pipe_mem_peer_output(f.peer, &out_len);
	answers = ts_count(out, "<db:verify from='a.example' to='b.example'");
	CHECK(answers > 100 && answers < 1000);		/* it did overflow, mid-way */
	CHECK(out_len <= 65536 + 4096);			/* nothing past the bound */
	CHECK_INT_EQ(f.closes, 1);
	CHECK_INT_EQ(f.queue_full_closes, 1);
	CHECK_INT_EQ(f.state_refused, 0);
	CHECK_INT_EQ(f.routed_events, 0);
	CHECK_INT_EQ(f.edge->stats.stanzas_routed, 0);
	CHECK_INT_EQ(f.edge->stats.dialback_verify_answered, answers + 1);	/* the one that overflowed */
	ts_teardown(&f);
}

/* The peer's stream is refused before authentication when it sends a
 * stanza: not-authorized, closed, freed, nothing routed. */
TEST(s2s_in_stanza_before_auth_refused)
{
	struct ts_fixture f;

	ts_setup(&f, LISTENER_STARTTLS);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_HDR
	    "<message from='u@b.example' to='v@a.example' id='early'/>") == 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	CHECK(strstr(s2s_pipe_mem_peer_output(f.peer, NULL), "<not-authorized") != NULL);
	CHECK_INT_EQ(f.closes, 1);
	CHECK_INT_EQ(f.edge->stats.stanzas_routed, 0);
	ts_teardown(&f);
}

/* --- outgoing streams: a dialer that hands out one memory pipe ----------- */

struct ts_dial {
	uv_timer_t timer;
	struct s2s_pipe *pipe;		/* handed out at the first turn */
	s2s_dial_cb cb;
	void *arg;
	int failed;
};

static void
ts_dial_fire(uv_timer_t *t)
{
	struct ts_dial *d = t->data;
	struct s2s_dial_result r;

	memset(&r, 0, sizeof(r));
	if (d->pipe != NULL) {
		r.err = DNS_OK;
		r.pipe = d->pipe;
		r.peer = "192.0.2.9:5269";
		d->pipe = NULL;
	} else {
		r.err = DNS_ERR_CONNECT_FAILED;
		d->failed = 1;
	}
	d->cb(d->arg, &r);
}

static enum dns_error
ts_dial_start(void *impl, const struct s2s_dial_target *t, s2s_dial_cb cb, void *arg,
    struct s2s_dial **out)
{
	struct ts_fixture *f = impl;
	struct ts_dial *d = calloc(1, sizeof(*d));

	(void)t;
	REQUIRE(d != NULL);
	d->pipe = f->dial_pipe;
	f->dial_pipe = NULL;
	d->cb = cb;
	d->arg = arg;
	uv_timer_init(&f->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, ts_dial_fire, 0, 0);
	*out = (struct s2s_dial *)d;
	return DNS_OK;
}

static void
ts_dial_next(struct s2s_dial *sd)
{
	struct ts_dial *d = (struct ts_dial *)sd;

	uv_timer_start(&d->timer, ts_dial_fire, 0, 0);	/* no more candidates */
}

static void
ts_dial_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
ts_dial_free(struct s2s_dial *sd)
{
	struct ts_dial *d = (struct ts_dial *)sd;

	if (d->pipe != NULL)
		s2s_pipe_discard(d->pipe);	/* never handed out */
	uv_close((uv_handle_t *)&d->timer, ts_dial_closed);
}

static const struct s2s_dialer_ops ts_dial_ops = {
	.start = ts_dial_start,
	.next = ts_dial_next,
	.again = ts_dial_next,	/* one pipe only: as the next, none left */
	.free = ts_dial_free,
};

/* Gives f's edge the scripted dialer, handing out pipe once. */
static void
ts_use_dialer(struct ts_fixture *f, struct s2s_dialer *dialer, struct s2s_pipe *pipe)
{
	f->dial_pipe = pipe;
	dialer->ops = &ts_dial_ops;
	dialer->impl = f;
	f->edge->dialer = dialer;
}

/* An edge without inbound stream; the dialer hands out f->peer. */
static void
ts_setup_out(struct ts_fixture *f, struct s2s_dialer *dialer)
{
	ts_edge_init(f);
	f->peer = s2s_pipe_mem_new(&f->loop);
	REQUIRE(f->peer != NULL);
	f->dial_pipe = f->peer;
	dialer->ops = &ts_dial_ops;
	dialer->impl = f;
	f->edge->dialer = dialer;
}

static void
ts_teardown_out(struct ts_fixture *f)
{
	s2s_pipe_mem_release(f->peer);
	CHECK_INT_EQ(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(f->edge->out_stream_count, 0);
	CHECK(f->edge->out_streams == NULL);
	CHECK_INT_EQ(uv_loop_close(&f->loop), 0);
	log_set_observer(NULL, NULL);
	prefix_count_clear(&f->edge->peer_prefixes);
	config_free(f->edge->cfg);
	free(f->edge);
}

#define TS_PEER_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' " \
	"from='b.example' to='a.example' id='peer-stream-1' version='1.0'>" \
	"<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>" \
	"</stream:features>"

/*
 * RFC 6120 §2.4, issue 14 finding 2: a stream xmpp-edge opened carries
 * stanzas one way.  A stanza the receiving server sends on it, once the
 * stream is established, is refused with <unsupported-stanza-type/>, the
 * stream ends, and nothing is routed or bounced toward anyone.
 */
TEST(s2s_out_stanza_from_receiving_server_refused_not_routed)
{
	struct ts_fixture f;
	struct s2s_dialer dialer;
	struct s2s_out *o;
	const char *cond = NULL;
	char err[256];
	int i;

	ts_setup_out(&f, &dialer);
	o = s2s_out_start(f.edge, S2S_OUT_REMOTE, "a.example", "b.example", &cond, err, sizeof(err));
	if (o == NULL)
		fprintf(stderr, "  s2s_out_start: %s\n", err);
	REQUIRE(o != NULL);
	REQUIRE(ts_wait_output(&f, "to='b.example'"));		/* our header */
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_PEER_HDR) == 0);
	REQUIRE(ts_wait_output(&f, "<db:result from='a.example' to='b.example'>"));
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer,
	    "<db:result from='b.example' to='a.example' type='valid'/>") == 0);
	for (i = 0; i < 50 && !s2s_out_is_established(o); i++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	REQUIRE(s2s_out_is_established(o));
	s2s_pipe_mem_peer_consume(f.peer, (size_t)-1);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer,
	    "<message from='x@b.example' to='y@a.example' id='wrong-way'><body>hi</body></message>") == 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);	/* o is freed from here on */
	CHECK(strstr(s2s_pipe_mem_peer_output(f.peer, NULL), "<unsupported-stanza-type") != NULL);
	CHECK(s2s_pipe_mem_peer_saw_close(f.peer));
	CHECK_INT_EQ(f.edge->stats.stanzas_wrong_direction, 1);
	CHECK_INT_EQ(f.edge->stats.stanzas_routed, 0);
	CHECK_INT_EQ(f.edge->stats.stanzas_bounced, 0);
	CHECK_INT_EQ(f.routed_events, 0);
	ts_teardown_out(&f);
}

/* What follows "id='" in the first db:verify of out, into id. */
static int
ts_verify_id(const char *out, char *id, size_t cap)
{
	const char *p = strstr(out, "<db:verify "), *q, *e;

	if (p == NULL || (q = strstr(p, "id='")) == NULL || (e = strchr(q + 4, '\'')) == NULL ||
	    (size_t)(e - q - 4) >= cap)
		return -1;
	memcpy(id, q + 4, (size_t)(e - q - 4));
	id[e - q - 4] = '\0';
	return 0;
}

/*
 * Issue 14, the use-after-free itself: the receiving server's dialback
 * answer <db:result type='valid'/> overflows the send queue.  The
 * authoritative server (a second scripted peer, reached through the
 * dialer) confirms the key while the initiating peer has stopped reading
 * and its queue holds just less than one answer's room.  Sending the
 * answer closes the stream inside the verification's callback: the pair
 * must not be marked valid on the closing stream, the stream is closed
 * once and freed once, and both streams are gone when the loop ends.
 */
TEST(s2s_in_dialback_valid_answer_overflow_pair_not_marked)
{
	static const char answer[] = "<db:result from='a.example' to='b.example' type='valid'/>";
	struct ts_fixture f;
	struct s2s_dialer dialer;
	struct s2s_pipe *auth;
	char id[128], msg[512];
	size_t base, before;
	int n, i;

	ts_setup(&f, LISTENER_STARTTLS);
	auth = s2s_pipe_mem_new(&f.loop);
	REQUIRE(auth != NULL);
	ts_use_dialer(&f, &dialer, auth);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_HDR) == 0);
	REQUIRE(ts_wait_output(&f, "<dialback xmlns='urn:xmpp:features:dialback'>"));
	/* The initiating peer stops reading; its queue is filled with
	 * answers to <db:verify/> until less than one answer's room is left
	 * (pending == queued: nothing completes while stalled). */
	s2s_pipe_mem_set_stalled(f.peer, 1);
	before = s2s_pipe_mem_pending(f.peer);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, "<db:verify from='b.example' to='a.example' id='x'>"
	    "00</db:verify>") == 0);
	for (i = 0; i < 50 && s2s_pipe_mem_pending(f.peer) == before; i++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	base = s2s_pipe_mem_pending(f.peer) - before - 1;	/* an answer without its id */
	REQUIRE(base > 40 && base < 200);
	while (65536 - s2s_pipe_mem_pending(f.peer) >= sizeof(answer) - 1) {
		size_t room = 65536 - s2s_pipe_mem_pending(f.peer);
		/* Leave exactly one byte less than the answer needs. */
		size_t left = room - (sizeof(answer) - 2), want = left, idlen;

		/* Steps of base + 1 .. base + 100 bytes; the one before the
		 * last leaves at least base + 1 for the last (the features'
		 * size moves where the steps fall). */
		if (want > base + 100)
			want = want - (base + 1) < base + 100 ? want - (base + 1) : base + 100;
		REQUIRE(want > base);
		idlen = want - base;
		memset(id, 'i', idlen);
		id[idlen] = '\0';
		n = snprintf(msg, sizeof(msg), "<db:verify from='b.example' to='a.example' id='%s'>00"
		    "</db:verify>", id);
		REQUIRE(n > 0 && (size_t)n < sizeof(msg));
		before = s2s_pipe_mem_pending(f.peer);
		REQUIRE(s2s_pipe_mem_peer_send(f.peer, msg, (size_t)n) == 0);
		for (i = 0; i < 50 && s2s_pipe_mem_pending(f.peer) == before; i++)
			uv_run(&f.loop, UV_RUN_NOWAIT);
		REQUIRE(s2s_pipe_mem_pending(f.peer) == before + want);
	}
	CHECK_INT_EQ(65536 - s2s_pipe_mem_pending(f.peer), sizeof(answer) - 2);
	/* Now the claim, checked with the authoritative server. */
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, "<db:result from='b.example' to='a.example'>"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef</db:result>") == 0);
	REQUIRE(ts_wait_output_of(&f, auth, "to='b.example'"));
	REQUIRE(s2s_pipe_mem_peer_sendstr(auth, "<stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
	    "from='b.example' to='a.example' id='auth-1' version='1.0'><stream:features>"
	    "<dialback xmlns='urn:xmpp:features:dialback'/></stream:features>") == 0);
	REQUIRE(ts_wait_output_of(&f, auth, "<db:verify "));
	REQUIRE(ts_verify_id(s2s_pipe_mem_peer_output(auth, NULL), id, sizeof(id)) == 0);
	n = snprintf(msg, sizeof(msg), "<db:verify from='b.example' to='a.example' id='%s' "
	    "type='valid'/>", id);
	REQUIRE(n > 0 && (size_t)n < sizeof(msg));
	REQUIRE(s2s_pipe_mem_peer_send(auth, msg, (size_t)n) == 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	CHECK(strstr(s2s_pipe_mem_peer_output(f.peer, NULL), answer) == NULL);	/* never fit */
	CHECK_INT_EQ(f.closes, 1);
	CHECK_INT_EQ(f.queue_full_closes, 1);
	CHECK_INT_EQ(f.auth_valid, 0);		/* the pair was not marked */
	CHECK_INT_EQ(f.state_refused, 0);
	CHECK_INT_EQ(f.edge->out_stream_count, 0);
	s2s_pipe_mem_release(auth);
	ts_teardown(&f);
}

/*
 * The relay path's queue (s2s_out.c): stanzas queued before the stream is
 * established, of sizes around the record size, go out once it is, in
 * order and byte for byte (spans of the queue cut at record size); the queue is empty
 * after and the stream closes cleanly with nothing bounced.
 */
/* Issue 18 (relay CPU): the stanzas queued on an established stream in
 * one loop turn reach the socket in one write, not one per record-sized
 * batch (three batches of up to 16 KiB here, and one write each before
 * the transport gathered its output). */
TEST(s2s_out_stanzas_of_one_turn_go_out_in_one_write)
{
	struct ts_fixture f;
	struct s2s_dialer dialer;
	struct s2s_out *o;
	const char *cond = NULL, *out, *first;
	char err[256], stanza[512], *want;
	size_t wlen = 0, writes0, i;
	int k, n;

	ts_setup_out(&f, &dialer);
	o = s2s_out_start(f.edge, S2S_OUT_REMOTE, "a.example", "b.example", &cond, err, sizeof(err));
	REQUIRE(o != NULL);
	REQUIRE(ts_wait_output(&f, "to='b.example'"));
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_PEER_HDR) == 0);
	REQUIRE(ts_wait_output(&f, "<db:result from='a.example' to='b.example'>"));
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer,
	    "<db:result from='b.example' to='a.example' type='valid'/>") == 0);
	for (k = 0; k < 100 && !s2s_out_is_established(o); k++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	REQUIRE(s2s_out_is_established(o));
	for (k = 0; k < 10; k++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	s2s_pipe_mem_peer_consume(f.peer, (size_t)-1);
	writes0 = s2s_pipe_mem_writes(f.peer);
	want = malloc(64 * 1024);
	REQUIRE(want != NULL);
	/* 100 stanzas of 417 bytes: 41 700 bytes, three TLS-record batches. */
	for (i = 0; i < 100; i++) {
		n = snprintf(stanza, 128, "<message to='u@b.example' from='v@a.example' id='%03zu'><body>", i);
		memset(stanza + n, 'a' + (int)(i % 26), 417 - 17 - (size_t)n);
		n = 417 - 17;
		n += snprintf(stanza + n, 32, "</body></message>");
		REQUIRE(n == 417);
		REQUIRE(s2s_out_enqueue(o, stanza, (size_t)n) >= 0);
		memcpy(want + wlen, stanza, (size_t)n);
		wlen += (size_t)n;
	}
	/* The peer's view includes gathered bytes: a few more turns so
	 * that whatever would be submitted is. */
	for (k = 0; k < 100 && strlen(s2s_pipe_mem_peer_output(f.peer, NULL)) < wlen; k++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	for (k = 0; k < 5; k++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	out = s2s_pipe_mem_peer_output(f.peer, NULL);
	first = strstr(out, "<message");
	REQUIRE(first != NULL);
	CHECK_INT_EQ(strlen(first), wlen);
	CHECK(strncmp(first, want, wlen) == 0);
	CHECK_INT_EQ(s2s_pipe_mem_writes(f.peer) - writes0, 1);
	s2s_out_shutdown(o);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(f.edge->stats.stanzas_bounced, 0);
	free(want);
	ts_teardown_out(&f);
}

TEST(s2s_out_queue_delivers_in_order_across_records)
{
	struct ts_fixture f;
	struct s2s_dialer dialer;
	struct s2s_out *o;
	const char *cond = NULL, *out, *first;
	char err[256], *want, *stanza;
	size_t wlen = 0, i, sizes[] = { 100, 16000, 300, 20000, 1, 16384, 5000 };
	int k;

	ts_setup_out(&f, &dialer);
	o = s2s_out_start(f.edge, S2S_OUT_REMOTE, "a.example", "b.example", &cond, err, sizeof(err));
	REQUIRE(o != NULL);
	want = malloc(1024 * 1024);
	stanza = malloc(32 * 1024);
	REQUIRE(want != NULL && stanza != NULL);
	for (i = 0; i < 60; i++) {
		size_t body = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		int n = snprintf(stanza, 64, "<message to='u@b.example' from='v@a.example' id='%zu'><body>", i);

		memset(stanza + n, 'a' + (int)(i % 26), body);
		n += (int)body;
		n += snprintf(stanza + n, 32, "</body></message>");
		REQUIRE(s2s_out_enqueue(o, stanza, (size_t)n) >= 0);
		memcpy(want + wlen, stanza, (size_t)n);
		wlen += (size_t)n;
	}
	REQUIRE(ts_wait_output(&f, "to='b.example'"));
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_PEER_HDR) == 0);
	REQUIRE(ts_wait_output(&f, "<db:result from='a.example' to='b.example'>"));
	s2s_pipe_mem_peer_consume(f.peer, (size_t)-1);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer,
	    "<db:result from='b.example' to='a.example' type='valid'/>") == 0);
	for (k = 0; k < 400 && strlen(s2s_pipe_mem_peer_output(f.peer, NULL)) < wlen; k++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	out = s2s_pipe_mem_peer_output(f.peer, NULL);
	first = strstr(out, "<message");
	REQUIRE(first != NULL);
	CHECK_INT_EQ(strlen(first), wlen);
	CHECK(strncmp(first, want, wlen) == 0);
	CHECK_INT_EQ(f.edge->stats.stanzas_delivered, 60);
	CHECK_INT_EQ(f.edge->stats.toward[EDGE_TOWARD_REMOTE].delivered, 60);
	CHECK_INT_EQ(f.edge->stats.toward[EDGE_TOWARD_GATEWAY].delivered, 0);
	s2s_out_shutdown(o);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(f.edge->stats.stanzas_bounced, 0);
	free(want);
	free(stanza);
	ts_teardown_out(&f);
}
