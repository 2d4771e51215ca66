/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_wire.c - what a stream set-up costs on the wire, through
 * the real sessions (session_fixture.h, session_gateway.h): issue 18,
 * "Fewer writes".
 *   - every stream (re)start (RFC 6120 §4.3.1 before TLS, §5.4.3.3 after
 *     TLS, §6.4.6 after SASL) answers the peer's header with our header
 *     and the features in one write and, inside TLS, one record;
 *   - every stream of the loop shares one prepare handle (the flusher,
 *     s2s_conn.h), none of its own.
 * Records are counted in what the proxy wrote (RFC 8446 §5.1: 5-byte
 * record headers) before the peer decrypts it; writes are the memory
 * pipe's submitted writes (what a socket sees as write system calls).
 */
#include "test.h"

#include <string.h>

#include "session_gateway.h"

#define SW_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define SW_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

/* t.example (TLS required in SG_CONFIG) with a certificate our CA signed. */
static struct tls_certstore *
sw_tstore(struct sg *g)
{
	struct tls_certstore *ts;

	REQUIRE(tls_fx_leaf(&g->fx, "tcert", "t.example", "ca") == 0);
	ts = tls_fx_store(&g->fx, "t.example", "tcert", "ca", NULL, NULL, 0);
	REQUIRE(ts != NULL);
	return ts;
}

/* Runs the loop and lets the peer read until nothing more comes. */
static void
sw_settle(struct sf_peer *p)
{
	int i;

	for (i = 0; i < 16; i++) {
		uv_run(p->sf->loop, UV_RUN_NOWAIT);
		(void)sf_peer_poll(p);
	}
}

/* TLS records in the proxy's output not read yet (0 when it is not a
 * whole number of records). */
static size_t
sw_records(struct sf_peer *p)
{
	size_t len, at = 0, n = 0;
	const unsigned char *b = (const unsigned char *)s2s_pipe_mem_peer_output(p->pipe, &len);

	while (at + 5 <= len) {
		at += 5 + ((size_t)b[at + 3] << 8 | b[at + 4]);
		n++;
	}
	return at == len ? n : 0;
}

/* The peer sends its header; the proxy's answer (header and features)
 * must come in one write and, inside TLS, in one record.  The features
 * are read into p->ev. */
static void
sw_restart_answer_is_one_write(struct sg *g, struct sf_peer *p, int tls)
{
	size_t writes0, len;
	int i;

	sw_settle(p);
	writes0 = s2s_pipe_mem_writes(p->pipe);
	SG_OK(g, sf_peer_send_header(p, "t.example", "a.example"));
	for (i = 0; i < 16; i++)
		uv_run(g->sf.loop, UV_RUN_NOWAIT);
	(void)s2s_pipe_mem_peer_output(p->pipe, &len);
	CHECK(len > 0);
	CHECK_INT_EQ(s2s_pipe_mem_writes(p->pipe) - writes0, 1);
	if (tls)
		CHECK_INT_EQ(sw_records(p), 1);
	SG_OK(g, sf_peer_expect(p, "features", XMLSTREAM_NS_STREAMS));
}

/* t.example's inbound stream, STARTTLS and SASL EXTERNAL: each of the
 * three headers is answered in one write, the two inside TLS in one
 * record each (before: our header and the features were two records). */
TEST(session_wire_restarts_answered_in_one_write_one_record)
{
	struct tls_certstore *ts;
	struct sf_peer *in;
	struct sg g;

	sg_begin(&g, SG_CONFIG(""));
	ts = sw_tstore(&g);
	SG_PEER(&g, in, sf_peer_accept(&g.sf, NULL, NULL));
	sw_restart_answer_is_one_write(&g, in, 0);
	SG_OK(&g, sf_peer_send(in, "<starttls xmlns='" SW_NS_TLS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "proceed", SW_NS_TLS));
	SG_OK(&g, sf_peer_tls(in, ts, TLS_ROLE_EXTERNAL_CLIENT, "a.example"));
	SG_OK(&g, sf_peer_tls_wait(in));
	sf_peer_restart(in);
	sw_restart_answer_is_one_write(&g, in, 1);
	SG_OK(&g, sf_peer_send(in, "<auth xmlns='" SW_NS_SASL "' mechanism='EXTERNAL'>=</auth>"));
	SG_OK(&g, sf_peer_expect(in, "success", SW_NS_SASL));
	sf_peer_restart(in);
	sw_restart_answer_is_one_write(&g, in, 1);
	tls_certstore_unref(ts);
	sg_end(&g);
}

static void
sw_count_prepare(uv_handle_t *h, void *arg)
{
	if (h->type == UV_PREPARE && !uv_is_closing(h))
		(*(size_t *)arg)++;
}

/* Eight inbound streams, each answered (output gathered in the same
 * turns): one prepare handle on the loop, the edge's flusher's (before:
 * one per connection, idle ones included). */
TEST(session_wire_streams_share_one_prepare_handle)
{
	struct sf_peer *in[8];
	size_t nprep = 0;
	struct sg g;
	int i;

	sg_begin(&g, SG_CONFIG(""));
	for (i = 0; i < 8; i++) {
		SG_PEER(&g, in[i], sf_peer_accept(&g.sf, NULL, NULL));
		SG_OK(&g, sf_peer_send_header(in[i], "t.example", "a.example"));
	}
	for (i = 0; i < 8; i++)
		SG_OK(&g, sf_peer_expect(in[i], "features", XMLSTREAM_NS_STREAMS));
	uv_walk(g.sf.loop, sw_count_prepare, &nprep);
	CHECK_INT_EQ(nprep, 1);
	CHECK_INT_EQ(g.sf.edge->conn_flusher.attached, 8);
	sg_end(&g);
}
