/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_conn_tls.c - the transport's TLS path (proxy/s2s_conn.c) over
 * the memory pipe, against an in-memory TLS peer (tls_fixture.h), on a
 * real loop (issue 18, relay CPU):
 *   - the records one loop turn produces (stanza batches, an XEP-0198
 *     <r/>) go out in one write, not one write per record;
 *   - records the peer sent in one go are all decrypted, straight into
 *     the tokenizer's buffer, and delivered in order;
 *   - a busy stream's tokenizer buffer keeps its size from read to read
 *     (no realloc per read) and shrinks once the stream is quiet.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "s2s_conn.h"
#include "tls.h"
#include "tls_fixture.h"

#define CT_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>"

struct ct {
	uv_loop_t loop;
	struct tls_fx fx;
	struct tls_certstore *ss, *cs;
	struct tls_fx_end srv;		/* the peer: a TLS server in memory */
	struct s2s_pipe *pipe;
	struct s2s_conn *conn;
	int tls_up, headers, elements, order_errors, closed;
	uint8_t rbuf[64 * 1024];	/* the loop's shared read buffer */
};

static void
ct_on_header(void *ud, const struct xmlstream_event *ev)
{
	(void)ev;
	((struct ct *)ud)->headers++;
}

/* Elements carry id='N', N counting from 0: order is checked here. */
static void
ct_on_element(void *ud, const struct xmlstream_event *ev)
{
	struct ct *t = ud;
	char id[16];

	snprintf(id, sizeof(id), "%.*s", (int)ev->id.len, ev->id.p);
	if (atoi(id) != t->elements)
		t->order_errors++;
	t->elements++;
}

static void
ct_on_tls(void *ud, const struct tls_verify_result *r)
{
	(void)r;
	((struct ct *)ud)->tls_up = 1;
}

static void
ct_on_closed(void *ud)
{
	struct ct *t = ud;

	t->closed = 1;
	t->conn = NULL;
}

static const struct s2s_conn_callbacks ct_callbacks = {
	.on_header = ct_on_header,
	.on_element = ct_on_element,
	.on_tls = ct_on_tls,
	.on_closed = ct_on_closed,
};

/* One round: the loop once, our output to the peer, the peer's to us. */
static void
ct_pump(struct ct *t)
{
	size_t n;
	const char *out;

	uv_run(&t->loop, UV_RUN_NOWAIT);
	out = s2s_pipe_mem_peer_output(t->pipe, &n);
	if (n > 0) {
		uint8_t *copy = malloc(n);

		REQUIRE(copy != NULL);
		memcpy(copy, out, n);
		s2s_pipe_mem_peer_consume(t->pipe, n);
		tls_conn_feed(t->srv.conn, copy, n);
		free(copy);
	}
	if (t->srv.out_len > 0) {
		REQUIRE(s2s_pipe_mem_peer_send(t->pipe, t->srv.out, t->srv.out_len) == 0);
		t->srv.out_len = 0;
	}
}

static void
ct_setup(struct ct *t)
{
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = "example.com", .local_domain = "example.net" };
	struct s2s_conn_params params;
	char err[256];
	int i;

	memset(t, 0, sizeof(*t));
	REQUIRE(uv_loop_init(&t->loop) == 0);
	REQUIRE(tls_fx_setup(&t->fx) == 0);
	REQUIRE(tls_fx_ca(&t->fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&t->fx, "srv", "example.com", "ca") == 0);
	REQUIRE(tls_fx_leaf(&t->fx, "cli", "example.net", "ca") == 0);
	t->ss = tls_fx_store(&t->fx, "example.com", "srv", "ca", NULL, NULL, 0);
	t->cs = tls_fx_store(&t->fx, "example.net", "cli", "ca", NULL, NULL, 0);
	REQUIRE(t->ss != NULL && t->cs != NULL);
	REQUIRE(tls_fx_end_new(&t->srv, t->ss, &sp) == 0);

	t->pipe = s2s_pipe_mem_new(&t->loop);
	REQUIRE(t->pipe != NULL);
	s2s_conn_params_init(&params, &t->loop, t->cs, t->rbuf, sizeof(t->rbuf), 4 * 1024 * 1024,
	    "192.0.2.1:5269");
	t->conn = s2s_conn_new(&params, t->pipe, &ct_callbacks, t);
	REQUIRE(t->conn != NULL);
	REQUIRE(s2s_conn_read_start(t->conn) == 0);
	REQUIRE(s2s_conn_starttls(t->conn, &cp, err, sizeof(err)) == 0);
	for (i = 0; i < 200 && !(t->tls_up && t->srv.handshakes); i++)
		ct_pump(t);
	REQUIRE(t->tls_up && t->srv.handshakes == 1);
	/* The peer's stream header, so that stanzas are elements. */
	REQUIRE(tls_conn_write(t->srv.conn, (const uint8_t *)CT_HDR, strlen(CT_HDR)) == 0);
	for (i = 0; i < 50 && t->headers == 0; i++)
		ct_pump(t);
	REQUIRE(t->headers == 1);
	for (i = 0; i < 20; i++)	/* tickets and the like settle */
		ct_pump(t);
}

static void
ct_teardown(struct ct *t)
{
	if (t->conn != NULL)
		s2s_conn_abort(t->conn, "test over");
	s2s_pipe_mem_release(t->pipe);
	CHECK_INT_EQ(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	CHECK(t->closed);
	CHECK_INT_EQ(uv_loop_close(&t->loop), 0);
	tls_fx_end_free(&t->srv);
	tls_certstore_unref(t->ss);
	tls_certstore_unref(t->cs);
	tls_fx_teardown(&t->fx);
}

/* n stanzas of 417 bytes with ids first.. into buf; returns the length. */
static size_t
ct_stanzas(char *buf, size_t first, size_t n)
{
	size_t len = 0, i;

	for (i = first; i < first + n; i++) {
		int k = snprintf(buf + len, 128, "<message to='u@example.com' from='v@example.net' "
		    "id='%05zu'><body>", i);

		memset(buf + len + k, 'x', 400 - (size_t)k);
		memcpy(buf + len + 400, "</body></message>", 17);
		len += 417;
	}
	return len;
}

TEST(s2s_conn_tls_records_of_one_turn_in_one_write)
{
	static char batch[3][16384];
	struct ct t;
	size_t blen[3], total = 0, writes0, got = 0, i;
	uint64_t records0;
	int k;

	ct_setup(&t);
	writes0 = s2s_pipe_mem_writes(t.pipe);
	records0 = tls_conn_records_out(s2s_conn_tls(t.conn));
	/* What s2s_out's flush does in one turn: batches of whole stanzas
	 * up to one record's worth each, then XEP-0198's <r/>. */
	for (i = 0; i < 3; i++) {
		blen[i] = ct_stanzas(batch[i], i * 39, 39);	/* 16 263 bytes */
		REQUIRE(s2s_conn_send(t.conn, batch[i], blen[i]) == 0);
		total += blen[i];
	}
	REQUIRE(s2s_conn_sendstr(t.conn, "<r xmlns='urn:xmpp:sm:3'/>") == 0);
	total += strlen("<r xmlns='urn:xmpp:sm:3'/>");
	/* Nothing reached the pipe as a write yet: gathered until the end
	 * of the loop turn. */
	CHECK_INT_EQ(s2s_pipe_mem_writes(t.pipe) - writes0, 0);
	CHECK(s2s_conn_queued(t.conn) > total);
	for (k = 0; k < 50 && t.srv.plain_len < total; k++)
		ct_pump(&t);
	/* One write for all of it; the records are mbedTLS's largest
	 * (MBEDTLS_SSL_OUT_CONTENT_LEN plaintext each) plus the <r/>. */
	CHECK_INT_EQ(s2s_pipe_mem_writes(t.pipe) - writes0, 1);
	{
		REQUIRE(tls_conn_record_plaintext_max(s2s_conn_tls(t.conn)) >= 4096);
		size_t rec = tls_conn_record_plaintext_max(s2s_conn_tls(t.conn));
		uint64_t records = tls_conn_records_out(s2s_conn_tls(t.conn)) - records0;

		for (i = 0; i < 3; i++)
			got += (blen[i] + rec - 1) / rec;
		CHECK_INT_EQ(records, got + 1);
	}
	REQUIRE(t.srv.plain_len == total);
	for (i = 0, got = 0; i < 3; i++) {
		CHECK(memcmp(t.srv.plain + got, batch[i], blen[i]) == 0);
		got += blen[i];
	}
	CHECK(memcmp(t.srv.plain + got, "<r xmlns='urn:xmpp:sm:3'/>", 26) == 0);
	/* Everything written: the queue is empty again. */
	for (k = 0; k < 10; k++)
		ct_pump(&t);
	CHECK_INT_EQ(s2s_conn_queued(t.conn), 0);
	ct_teardown(&t);
}

TEST(s2s_conn_tls_records_read_together_decrypted_in_order)
{
	static char stanzas[200 * 417];
	struct ct t;
	size_t len, cap1 = 0, cap;
	int k, round;

	ct_setup(&t);
	/* 200 stanzas in full records, all in the pipe at once: one read of
	 * the shared buffer takes several records, decrypted one after the
	 * other into the tokenizer. */
	for (round = 0; round < 4; round++) {
		len = ct_stanzas(stanzas, (size_t)round * 200, 200);
		REQUIRE(tls_conn_write(t.srv.conn, (const uint8_t *)stanzas, len) == 0);
		for (k = 0; k < 50 && t.elements < (round + 1) * 200; k++)
			ct_pump(&t);
		CHECK_INT_EQ(t.elements, (round + 1) * 200);
		cap = xmlstream_buffer_size(s2s_conn_xmlstream(t.conn));
		/* Busy: the buffer keeps its high-water size from read to
		 * read (it grew for the first burst, then stays). */
		if (round == 1)
			cap1 = cap;
		else if (round > 1)
			CHECK_INT_EQ(cap, cap1);
	}
	CHECK(cap1 > XMLSTREAM_BUF_INITIAL);
	CHECK_INT_EQ(t.order_errors, 0);
	ct_teardown(&t);
}
