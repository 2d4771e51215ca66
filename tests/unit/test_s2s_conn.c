/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_conn.c - the stream transport (proxy/s2s_conn.c) over the
 * memory pipe, on a real libuv loop.
 *
 * Each test ends as libuv's own do: the loop runs empty and
 * uv_loop_close() returns 0, so nothing was left open; the sanitizers
 * catch a free too many or too early.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "s2s_conn.h"

#define TC_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' to='a.example' version='1.0'>"

struct tc_session {
	struct s2s_conn *conn;
	int headers, elements, closing, closed, stream_closes;
	char reason[128];
	int peer_gone;
	int reply_on_element;		/* answer each element with this many bytes */
	int send_after_close_rc;
};

static void
tc_on_header(void *ud, const struct xmlstream_event *ev)
{
	struct tc_session *s = ud;

	(void)ev;
	s->headers++;
}

static void
tc_on_element(void *ud, const struct xmlstream_event *ev)
{
	struct tc_session *s = ud;

	(void)ev;
	s->elements++;
	if (s->reply_on_element > 0) {
		char *big = malloc((size_t)s->reply_on_element);

		REQUIRE(big != NULL);
		memset(big, ' ', (size_t)s->reply_on_element);
		/* The send overflows the queue and closes: the connection
		 * and the session stay valid until on_closed (rule 1). */
		if (s2s_conn_send(s->conn, big, (size_t)s->reply_on_element) < 0)
			s->send_after_close_rc = s2s_conn_sendstr(s->conn, "<more/>");
		free(big);
	}
}

static void
tc_on_stream_close(void *ud)
{
	struct tc_session *s = ud;

	s->stream_closes++;
	s2s_conn_sendstr(s->conn, "</stream:stream>");
	s2s_conn_close(s->conn, "peer closed the stream");
}

static void
tc_on_closing(void *ud, const char *reason, int peer_gone)
{
	struct tc_session *s = ud;

	s->closing++;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->peer_gone = peer_gone;
}

static void
tc_on_closed(void *ud)
{
	struct tc_session *s = ud;

	s->closed++;
	s->conn = NULL;
}

static const struct s2s_conn_callbacks tc_callbacks = {
	.on_header = tc_on_header,
	.on_element = tc_on_element,
	.on_stream_close = tc_on_stream_close,
	.on_closing = tc_on_closing,
	.on_closed = tc_on_closed,
};

static struct s2s_pipe *
tc_open(uv_loop_t *loop, struct tc_session *s, size_t queue_max)
{
	struct s2s_conn_params params = {
		.loop = loop,
		.send_queue_max = queue_max,
		.default_ns = XMLSTREAM_NS_SERVER,
		.peer = "192.0.2.1:5269",
	};
	struct s2s_pipe *p = s2s_pipe_mem_new(loop);

	REQUIRE(p != NULL);
	memset(s, 0, sizeof(*s));
	s->conn = s2s_conn_new(&params, p, &tc_callbacks, s);
	REQUIRE(s->conn != NULL);
	REQUIRE(s2s_conn_read_start(s->conn) == 0);
	return p;
}

static void
tc_finish(uv_loop_t *loop, struct s2s_pipe *p)
{
	s2s_pipe_mem_release(p);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(uv_loop_close(loop), 0);
}

TEST(s2s_conn_events_and_orderly_close)
{
	uv_loop_t loop;
	struct tc_session s;
	struct s2s_pipe *p;

	REQUIRE(uv_loop_init(&loop) == 0);
	p = tc_open(&loop, &s, 65536);
	REQUIRE(s2s_pipe_mem_peer_sendstr(p, TC_HDR "<message to='a.example' from='b.example'/>"
	    "<presence/></stream:stream>") == 0);
	s2s_pipe_mem_peer_eof(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.headers, 1);
	CHECK_INT_EQ(s.elements, 2);
	CHECK_INT_EQ(s.stream_closes, 1);
	CHECK_INT_EQ(s.closing, 1);
	CHECK_INT_EQ(s.closed, 1);
	CHECK_STR_EQ(s.reason, "peer closed the stream");
	CHECK_STR_EQ(s2s_pipe_mem_peer_output(p, NULL), "</stream:stream>");
	CHECK(s2s_pipe_mem_peer_saw_shutdown(p));
	CHECK(s2s_pipe_mem_peer_saw_close(p));
	tc_finish(&loop, p);
}

/* A send that overflows the bounded queue inside an event callback closes
 * the connection there, frees nothing, reports on_closing once and
 * on_closed once, later, from the loop. */
TEST(s2s_conn_send_overflow_closes_once_frees_later)
{
	uv_loop_t loop;
	struct tc_session s;
	struct s2s_pipe *p;

	REQUIRE(uv_loop_init(&loop) == 0);
	p = tc_open(&loop, &s, 1024);
	s.reply_on_element = 2048;
	s2s_pipe_mem_set_stalled(p, 1);
	REQUIRE(s2s_pipe_mem_peer_sendstr(p, TC_HDR "<a/><b/><c/>") == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.elements, 1);	/* nothing delivered after the close */
	CHECK_INT_EQ(s.send_after_close_rc, -1);
	CHECK_INT_EQ(s.closing, 1);
	CHECK_INT_EQ(s.closed, 1);
	CHECK_STR_EQ(s.reason, "send queue full");
	CHECK_INT_EQ(s.peer_gone, 0);
	tc_finish(&loop, p);
}

/* A peer that stops reading cannot hold the connection open: the flush
 * after close is bounded by S2S_CONN_FLUSH_MS. */
TEST(s2s_conn_flush_is_bounded)
{
	uv_loop_t loop;
	struct tc_session s;
	struct s2s_pipe *p;
	uint64_t t0;

	REQUIRE(uv_loop_init(&loop) == 0);
	p = tc_open(&loop, &s, 65536);
	s2s_pipe_mem_set_stalled(p, 1);
	REQUIRE(s2s_conn_sendstr(s.conn, "<x/>") == 0);
	CHECK_INT_EQ(s2s_conn_queued(s.conn), 4);
	t0 = uv_now(&loop);
	s2s_conn_close(s.conn, "done");
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.closed, 1);
	CHECK(uv_now(&loop) - t0 >= S2S_CONN_FLUSH_MS);
	CHECK(!s2s_pipe_mem_peer_saw_shutdown(p));
	tc_finish(&loop, p);
}

/* Backpressure: while reading is stopped nothing more is delivered. */
TEST(s2s_conn_read_stop_holds_input)
{
	uv_loop_t loop;
	struct tc_session s;
	struct s2s_pipe *p;
	int i;

	REQUIRE(uv_loop_init(&loop) == 0);
	p = tc_open(&loop, &s, 65536);
	REQUIRE(s2s_pipe_mem_peer_sendstr(p, TC_HDR) == 0);
	for (i = 0; i < 10 && s.headers == 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(s.headers, 1);
	s2s_conn_read_stop(s.conn);
	REQUIRE(s2s_pipe_mem_peer_sendstr(p, "<a/>") == 0);
	for (i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(s.elements, 0);
	REQUIRE(s2s_conn_read_start(s.conn) == 0);
	for (i = 0; i < 10 && s.elements == 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(s.elements, 1);
	s2s_pipe_mem_peer_reset(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.closed, 1);
	CHECK_INT_EQ(s.peer_gone, 1);
	tc_finish(&loop, p);
}

/* The peer reads (and consumes) whatever it sees between loop turns, as
 * the session fixture's peers do, while the connection gathers one
 * turn's sends in the pipe's open write.  Every byte sent must come back
 * as written: s2s_conn_queued() returns to 0, or every session waiting
 * for its queue to drain (s2s_out_flush_queue, an idle deadline) waits
 * for ever.  The memory pipe once let the peer consume gathered bytes
 * before the flush, which then reported fewer bytes than were counted
 * (session_bounce_full_queue_keeps_bounces stalled at 789 of 4000). */
TEST(s2s_conn_queued_settles_when_the_peer_reads_every_turn)
{
	char want[64 * 8 + 1] = "", got[64 * 8 + 1] = "", item[16];
	uv_loop_t loop;
	struct tc_session s;
	struct s2s_pipe *p;
	const char *out;
	size_t len;
	int i;

	REQUIRE(uv_loop_init(&loop) == 0);
	p = tc_open(&loop, &s, 65536);
	for (i = 0; i < 64; i++) {
		snprintf(item, sizeof(item), "<m%d/>", i);
		REQUIRE(s2s_conn_sendstr(s.conn, item) == 0);
		strcat(want, item);
		/* The peer reads before the loop turn that flushes: what it
		 * sees is what earlier turns submitted, never this one's
		 * gathered bytes (a socket's peer cannot see them either). */
		out = s2s_pipe_mem_peer_output(p, &len);
		REQUIRE(strlen(got) + len < sizeof(got));
		strncat(got, out, len);
		s2s_pipe_mem_peer_consume(p, len);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	for (i = 0; i < 10 && s2s_conn_queued(s.conn) > 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	out = s2s_pipe_mem_peer_output(p, &len);
	REQUIRE(strlen(got) + len < sizeof(got));
	strncat(got, out, len);
	CHECK_INT_EQ(s2s_conn_queued(s.conn), 0);
	CHECK_STR_EQ(got, want);
	CHECK_INT_EQ(s2s_pipe_mem_pending(p), 0);
	s2s_conn_close(s.conn, "done");
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.closed, 1);
	tc_finish(&loop, p);
}

/* --- the loop's one flusher (struct s2s_conn_flusher) -------------------- */

static struct s2s_pipe *
tc_open_flusher(uv_loop_t *loop, struct tc_session *s, struct s2s_conn_flusher *f)
{
	struct s2s_conn_params params = {
		.loop = loop,
		.send_queue_max = 65536,
		.default_ns = XMLSTREAM_NS_SERVER,
		.peer = "192.0.2.1:5269",
		.flusher = f,
	};
	struct s2s_pipe *p = s2s_pipe_mem_new(loop);

	REQUIRE(p != NULL);
	memset(s, 0, sizeof(*s));
	s->conn = s2s_conn_new(&params, p, &tc_callbacks, s);
	REQUIRE(s->conn != NULL);
	REQUIRE(s2s_conn_read_start(s->conn) == 0);
	return p;
}

static void
tc_count_prepare(uv_handle_t *h, void *arg)
{
	if (h->type == UV_PREPARE && !uv_is_closing(h))
		(*(int *)arg)++;
}

/* Connections sharing a flusher share its one prepare handle; it exists
 * while one of them does, and each one's output still goes out once per
 * turn, in one write. */
TEST(s2s_conn_flusher_one_prepare_handle_for_many)
{
	struct s2s_conn_flusher f = { 0 };
	struct tc_session s[8];
	struct s2s_pipe *p[8];
	uv_loop_t loop;
	int i, nprep = 0;

	REQUIRE(uv_loop_init(&loop) == 0);
	for (i = 0; i < 8; i++)
		p[i] = tc_open_flusher(&loop, &s[i], &f);
	for (i = 0; i < 8; i++) {
		REQUIRE(s2s_conn_sendstr(s[i].conn, "<a/>") == 0);
		REQUIRE(s2s_conn_sendstr(s[i].conn, "<b/>") == 0);
	}
	uv_walk(&loop, tc_count_prepare, &nprep);
	CHECK_INT_EQ(nprep, 1);
	CHECK_INT_EQ(f.attached, 8);
	uv_run(&loop, UV_RUN_NOWAIT);
	for (i = 0; i < 8; i++) {
		CHECK_STR_EQ(s2s_pipe_mem_peer_output(p[i], NULL), "<a/><b/>");
		CHECK_INT_EQ(s2s_pipe_mem_writes(p[i]), 1);
	}
	for (i = 0; i < 8; i++)
		s2s_conn_close(s[i].conn, "done");
	uv_run(&loop, UV_RUN_DEFAULT);
	for (i = 0; i < 8; i++) {
		CHECK_INT_EQ(s[i].closed, 1);
		s2s_pipe_mem_release(p[i]);
	}
	CHECK(f.prep == NULL);
	CHECK_INT_EQ(f.attached, 0);
	CHECK_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

/* A connection that gathered output and closes in the same turn, after
 * the prepare phase (here from a check handle, as s2s_out's queue flush
 * runs), is freed by its close callbacks before the next prepare phase:
 * it must have left the flusher's list when it closed (ASan sees a use
 * after free otherwise).  The other connection's output still goes out. */
struct tc_closer {
	uv_check_t check;
	struct tc_session *doomed, *other;
};

static void
tc_closer_on_check(uv_check_t *h)
{
	struct tc_closer *k = h->data;

	uv_check_stop(h);
	REQUIRE(s2s_conn_sendstr(k->other->conn, "<kept/>") == 0);
	REQUIRE(s2s_conn_sendstr(k->doomed->conn, "<lost/>") == 0);
	s2s_conn_abort(k->doomed->conn, "closed while listed");
}

TEST(s2s_conn_flusher_connection_closed_while_listed)
{
	struct s2s_conn_flusher f = { 0 };
	struct tc_session doomed, other;
	struct s2s_pipe *pd, *po;
	struct tc_closer k;
	uv_loop_t loop;
	int i;

	REQUIRE(uv_loop_init(&loop) == 0);
	pd = tc_open_flusher(&loop, &doomed, &f);
	po = tc_open_flusher(&loop, &other, &f);
	uv_check_init(&loop, &k.check);
	k.check.data = &k;
	k.doomed = &doomed;
	k.other = &other;
	uv_check_start(&k.check, tc_closer_on_check);
	for (i = 0; i < 8 && (doomed.closed == 0 || s2s_pipe_mem_writes(po) == 0); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(doomed.closing, 1);
	CHECK_INT_EQ(doomed.closed, 1);
	CHECK_STR_EQ(s2s_pipe_mem_peer_output(po, NULL), "<kept/>");
	CHECK_INT_EQ(f.attached, 1);
	s2s_conn_close(other.conn, "done");
	uv_close((uv_handle_t *)&k.check, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(other.closed, 1);
	CHECK(f.prep == NULL);
	s2s_pipe_mem_release(pd);
	s2s_pipe_mem_release(po);
	CHECK_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

/* A flush that fails closes its connection inside the prepare callback;
 * its session, closing, closes another connection still on the list:
 * that one is taken off and never flushed after its close. */
struct tc_pair {
	struct tc_session a, b;
};

static void
tc_pair_on_closing(void *ud, const char *reason, int peer_gone)
{
	struct tc_pair *pr = ud;

	(void)peer_gone;
	pr->a.closing++;
	snprintf(pr->a.reason, sizeof(pr->a.reason), "%s", reason);
	s2s_conn_abort(pr->b.conn, "its partner failed");
}

static void
tc_pair_on_closed(void *ud)
{
	struct tc_pair *pr = ud;

	pr->a.closed++;
	pr->a.conn = NULL;
}

TEST(s2s_conn_flusher_failed_flush_closes_another_listed)
{
	static const struct s2s_conn_callbacks pair_cb = {
		.on_closing = tc_pair_on_closing,
		.on_closed = tc_pair_on_closed,
	};
	struct s2s_conn_params params = {
		.send_queue_max = 65536,
		.default_ns = XMLSTREAM_NS_SERVER,
		.peer = "192.0.2.1:5269",
	};
	struct s2s_conn_flusher f = { 0 };
	struct tc_pair pr;
	struct s2s_pipe *pa, *pb;
	uv_loop_t loop;

	REQUIRE(uv_loop_init(&loop) == 0);
	params.loop = &loop;
	params.flusher = &f;
	pb = tc_open_flusher(&loop, &pr.b, &f);
	memset(&pr.a, 0, sizeof(pr.a));
	pa = s2s_pipe_mem_new(&loop);
	REQUIRE(pa != NULL);
	pr.a.conn = s2s_conn_new(&params, pa, &pair_cb, &pr);
	REQUIRE(pr.a.conn != NULL);
	/* b first, a second: a is at the list's head, flushed first. */
	REQUIRE(s2s_conn_sendstr(pr.b.conn, "<b/>") == 0);
	REQUIRE(s2s_conn_sendstr(pr.a.conn, "<a/>") == 0);
	s2s_pipe_mem_fail_next_write(pa, UV_EPIPE);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(pr.a.closing, 1);
	CHECK_STR_EQ(pr.a.reason, "write failed");
	CHECK_INT_EQ(pr.a.closed, 1);
	CHECK_INT_EQ(pr.b.closing, 1);
	CHECK_STR_EQ(pr.b.reason, "its partner failed");
	CHECK_INT_EQ(pr.b.closed, 1);
	CHECK(f.prep == NULL);
	s2s_pipe_mem_release(pa);
	s2s_pipe_mem_release(pb);
	CHECK_INT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}
