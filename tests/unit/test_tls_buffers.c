/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_buffers.c - an idle TLS session holds no record buffers
 * (tls_conn.c, conn_buffers_release; issue 18) and loses nothing by it:
 * the sequence numbers kept in the buffers survive every release, a
 * partial record keeps its buffer until it is complete, and close_notify
 * still goes out from an idle session.
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_fixture.h"

struct tb_pair {
	struct tls_fx fx;
	struct tls_certstore *ss, *cs;
	struct tls_fx_end srv, cli;
};

static void
tb_setup(struct tb_pair *p, int direct)
{
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = "example.com", .local_domain = "example.net",
	    .direct_tls = direct };

	memset(p, 0, sizeof(*p));
	REQUIRE(tls_fx_setup(&p->fx) == 0);
	REQUIRE(tls_fx_ca(&p->fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&p->fx, "srv", "example.com", "ca") == 0);
	REQUIRE(tls_fx_leaf(&p->fx, "cli", "example.net", "ca") == 0);
	p->ss = tls_fx_store(&p->fx, "example.com", "srv", "ca", NULL, NULL, 0);
	p->cs = tls_fx_store(&p->fx, "example.net", "cli", "ca", NULL, NULL, 0);
	REQUIRE(p->ss != NULL && p->cs != NULL);
	REQUIRE(tls_fx_end_new(&p->srv, p->ss, &sp) == 0);
	REQUIRE(tls_fx_end_new(&p->cli, p->cs, &cp) == 0);
	tls_conn_start(p->cli.conn);
	tls_fx_pump(&p->cli, &p->srv);
	REQUIRE(p->cli.handshakes == 1 && p->srv.handshakes == 1);
}

static void
tb_teardown(struct tb_pair *p)
{
	tls_fx_end_free(&p->cli);
	tls_fx_end_free(&p->srv);
	tls_certstore_unref(p->ss);
	tls_certstore_unref(p->cs);
	tls_fx_teardown(&p->fx);
}

/* Sends text from one end, pumps, and checks the other received it. */
static void
tb_say(struct tb_pair *p, struct tls_fx_end *from, struct tls_fx_end *to,
    const char *text)
{
	size_t n = strlen(text);

	free(to->plain);
	to->plain = NULL;
	to->plain_len = 0;
	CHECK_INT_EQ(tls_conn_write(from->conn, (const uint8_t *)text, n), 0);
	tls_fx_pump(&p->cli, &p->srv);
	CHECK_INT_EQ(to->plain_len, n);
	CHECK(to->plain != NULL && memcmp(to->plain, text, n) == 0);
}

/* Established and idle, both sides hold no record buffers; hundreds of
 * records each way, with the buffers given back between every two, all
 * decrypt (the sequence numbers moved with them) and arrive in order. */
TEST(tls_buffers_released_between_records)
{
	struct tb_pair p;
	char msg[600];
	int i, direct;

	for (direct = 0; direct <= 1; direct++) {
		tb_setup(&p, direct);
		CHECK_INT_EQ(tls_conn_record_buffers(p.srv.conn), 0);
		CHECK_INT_EQ(tls_conn_record_buffers(p.cli.conn), 0);
		for (i = 0; i < 300; i++) {
			snprintf(msg, sizeof(msg), "<message id='%d'>%*s</message>",
			    i, i % 500, "x");
			tb_say(&p, &p.cli, &p.srv, msg);
			tb_say(&p, &p.srv, &p.cli, msg);
			CHECK_INT_EQ(tls_conn_record_buffers(p.srv.conn), 0);
			CHECK_INT_EQ(tls_conn_record_buffers(p.cli.conn), 0);
		}
		CHECK_INT_EQ(p.srv.errors, 0);
		CHECK_INT_EQ(p.cli.errors, 0);
		CHECK_INT_EQ(tls_conn_state(p.srv.conn), TLS_OPEN);
		tb_teardown(&p);
	}
}

/* Issue 18: mbedTLS keeps its TLS 1.3 handshake structure for the life
 * of a session; the server gives it back once the handshake is over, the
 * client once the server's first data came (its tickets come before).
 * Records keep flowing both ways after. */
TEST(tls_buffers_handshake_state_released)
{
	struct tb_pair p;
	char msg[200];
	int i, direct;

	for (direct = 0; direct <= 1; direct++) {
		tb_setup(&p, direct);
		CHECK_INT_EQ(tls_conn_handshake_held(p.srv.conn), 0);
		CHECK_INT_EQ(tls_conn_handshake_held(p.cli.conn), 1);
		tb_say(&p, &p.cli, &p.srv, "<stream:stream>");
		CHECK_INT_EQ(tls_conn_handshake_held(p.cli.conn), 1);
		tb_say(&p, &p.srv, &p.cli, "<stream:stream>");
		CHECK_INT_EQ(tls_conn_handshake_held(p.cli.conn), 0);
		for (i = 0; i < 100; i++) {
			snprintf(msg, sizeof(msg), "<message id='%d'>%*s</message>",
			    i, i, "x");
			tb_say(&p, &p.cli, &p.srv, msg);
			tb_say(&p, &p.srv, &p.cli, msg);
		}
		CHECK_INT_EQ(p.srv.errors, 0);
		CHECK_INT_EQ(p.cli.errors, 0);
		CHECK_INT_EQ(tls_conn_state(p.srv.conn), TLS_OPEN);
		CHECK_INT_EQ(tls_conn_state(p.cli.conn), TLS_OPEN);
		tb_teardown(&p);
	}
}

/* Half a record received: the input buffer holds it (the session is not
 * idle) until the rest comes; then the plaintext is delivered whole and
 * the buffers go back. */
TEST(tls_buffers_kept_for_partial_record)
{
	static const char text[] = "<presence from='a.example'/>";
	struct tb_pair p;
	uint8_t *rec;
	size_t len, half;

	tb_setup(&p, 1);
	CHECK_INT_EQ(tls_conn_write(p.cli.conn, (const uint8_t *)text,
	    sizeof(text) - 1), 0);
	len = p.cli.out_len;
	REQUIRE(len > 10);
	rec = malloc(len);
	REQUIRE(rec != NULL);
	memcpy(rec, p.cli.out, len);
	p.cli.out_len = 0;
	half = len / 2;
	CHECK_INT_EQ(tls_conn_feed(p.srv.conn, rec, half), 0);
	CHECK_INT_EQ(p.srv.plain_len, 0);
	CHECK(tls_conn_record_buffers(p.srv.conn) > 0);
	CHECK_INT_EQ(tls_conn_feed(p.srv.conn, rec + half, len - half), 0);
	CHECK_INT_EQ(p.srv.plain_len, sizeof(text) - 1);
	CHECK(p.srv.plain != NULL &&
	    memcmp(p.srv.plain, text, sizeof(text) - 1) == 0);
	CHECK_INT_EQ(tls_conn_record_buffers(p.srv.conn), 0);
	free(rec);
	tb_teardown(&p);
}

/* An idle session (buffers given back) still closes properly: the
 * close_notify is written and the peer sees it. */
TEST(tls_buffers_close_notify_from_idle)
{
	struct tb_pair p;

	tb_setup(&p, 0);
	tb_say(&p, &p.cli, &p.srv, "<stream:stream>");
	CHECK_INT_EQ(tls_conn_record_buffers(p.srv.conn), 0);
	tls_conn_close(p.srv.conn);
	tls_fx_pump(&p.cli, &p.srv);
	CHECK_INT_EQ(p.cli.close_notify, 1);
	CHECK_INT_EQ(p.cli.errors, 0);
	tb_teardown(&p);
}
