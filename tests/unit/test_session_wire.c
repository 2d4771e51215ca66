/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_wire.c - what a stream set-up costs on the wire, through
 * the real sessions (session_fixture.h, session_gateway.h): issue 18,
 * "Fewer writes".
 *   - every stream (re)start (RFC 6120 §4.3.1 before TLS, §5.4.3.3 after
 *     TLS, §6.4.6 after SASL) answers the peer's header with our header
 *     and the features in one write and, inside TLS, one record;
 *   - the bytes in the clear before TLS (header, <starttls/>) do not grow
 *     the tokenizer's buffer by a read's worth (it was mapped, grown and
 *     unmapped at TLS start: three system calls per stream);
 *   - every stream of the loop shares one prepare handle (the flusher,
 *     s2s_conn.h), none of its own;
 *   - XEP-0198: the <r/> after a batch of stanzas rides in the batch's
 *     last TLS record (it was a record of its own after nearly every
 *     flush).
 * Records are counted in what the proxy wrote (RFC 8446 §5.1: 5-byte
 * record headers) before the peer decrypts it; writes are the memory
 * pipe's submitted writes (what a socket sees as write system calls).
 */
#include "test.h"

#include <string.h>

#include "s2s_in_int.h"
#include "session_gateway.h"
#include "sm.h"

#define SW_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define SW_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define SW_NS_DB "jabber:server:dialback"
#define SW_SM_LIMITS "\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, " \
	"\"sm_settle_timeout_ms\": 5000, \"sm_request_every_ms\": 1000"

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
	/* The header in the clear was copied in by its size: the tokenizer
	 * did not grow a read's worth (16 KiB and more) for 150 bytes. */
	REQUIRE(g.sf.edge->streams != NULL);
	CHECK(xmlstream_buffer_size(s2s_conn_xmlstream(g.sf.edge->streams->conn)) < 4096);
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

/* A partner's stanza relayed to the gateway over TLS with XEP-0198 on:
 * the stanza and the <r/> it calls for arrive in one record (before: two,
 * the <r/> alone in the second). */
TEST(session_wire_sm_request_rides_in_the_batch_record)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sf_peer *in, *auth, *gwo;
	size_t len;
	struct sg g;
	int i;

	sg_begin(&g, SG_CONFIG(SW_SM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, in, sg_remote_in(&g, "b.example"));
	SG_PEER(&g, auth, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_remote_answer(&g, auth, "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", SW_NS_DB));
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example' to='u@a.example' id='p1'><body>hi</body>"
	    "</message>"));
	SG_PEER(&g, gwo, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(gwo, "a.example", "b.example", 1, 1));
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p1");
	SG_OK(&g, sf_peer_expect(gwo, "r", SM_NS));
	SG_OK(&g, sf_peer_send(gwo, "<a xmlns='" SM_NS "' h='1'/>"));
	sw_settle(gwo);
	/* The request is answered: the next batch calls for one again. */
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example' to='u@a.example' id='p2'><body>hi</body>"
	    "</message>"));
	for (i = 0; i < 16; i++)
		uv_run(g.sf.loop, UV_RUN_NOWAIT);
	(void)s2s_pipe_mem_peer_output(gwo->pipe, &len);
	CHECK(len > 0);
	CHECK_INT_EQ(sw_records(gwo), 1);
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p2");
	SG_OK(&g, sf_peer_expect(gwo, "r", SM_NS));
	SG_OK(&g, sf_peer_send(gwo, "<a xmlns='" SM_NS "' h='2'/>"));
	sw_settle(gwo);
	sg_end(&g);
}

/* --- a stream's cached addressing checks and configuration reloads -------- */

/* SG_CONFIG with a.example no longer hosted (z.example instead), or with
 * b.example no longer allowed. */
#define SW_CONFIG_Z "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"z.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" SW_SM_LIMITS "}," \
	" \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}}"
#define SW_CONFIG_B_REFUSED "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" SW_SM_LIMITS "}," \
	" \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {\"b.example\": {\"tls\": \"disabled\", \"allow\": false}}}}"

/* What the daemon's reload does (daemon.c): the new configuration in
 * place of the old. */
static void
sw_reload(struct sg *g, const char *json)
{
	char err[256];
	struct config *next = config_parse("reload.json", json, strlen(json), 0, err, sizeof(err));

	if (next == NULL)
		fprintf(stderr, "  reload: %s\n", err);
	REQUIRE(next != NULL);
	edge_config_replace(g->sf.edge, next);
}

/* b.example's stream, authenticated by dialback, its first stanza for
 * a.example relayed to the gateway (the stream's checks passed and were
 * kept).  Returns the partner's stream; *gwo the gateway's. */
static struct sf_peer *
sw_partner_relaying(struct sg *g, struct sf_peer **gwo)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sf_peer *in, *auth;

	sf_dial_script(&g->sf, "b.example", &peer, 1);
	SG_PEER(g, in, sg_remote_in(g, "b.example"));
	SG_PEER(g, auth, sg_wait_out(g, "b.example"));
	SG_OK(g, sg_remote_answer(g, auth, "b.example", "valid"));
	SG_OK(g, sf_peer_expect(in, "result", SW_NS_DB));
	SG_OK(g, sf_peer_send(in, "<message from='x@b.example' to='u@a.example' id='p1'><body>hi</body>"
	    "</message>"));
	SG_PEER(g, *gwo, sg_wait_out(g, "a.example"));
	/* The gateway here refuses the <enable/> the proxy sends it. */
	SG_OK(g, sg_sm_accept(*gwo, "a.example", "b.example", 1, 0));
	SG_OK(g, sf_peer_expect(*gwo, "enable", SM_NS));
	SG_OK(g, sf_peer_send(*gwo, "<failed xmlns='" SM_NS "'/>"));
	SG_OK(g, sf_peer_expect(*gwo, "message", NULL));
	CHECK_STR_EQ((*gwo)->ev.id, "p1");
	REQUIRE(g->sf.edge->streams != NULL && g->sf.edge->streams->route_pair != NULL);
	return in;
}

/* The same addressing again after a reload that no longer hosts a.example:
 * the stream's kept verdict is not used, the stanza is refused as the
 * first one would be now (host-unknown), nothing reaches the gateway. */
TEST(session_wire_reload_unhosting_takes_effect_on_next_stanza)
{
	struct sf_peer *in, *gwo;
	struct sg g;

	sg_begin(&g, SG_CONFIG(SW_SM_LIMITS));
	in = sw_partner_relaying(&g, &gwo);
	sw_reload(&g, SW_CONFIG_Z);
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example' to='u@a.example' id='p2'><body>hi</body>"
	    "</message>"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "host-unknown"));
	CHECK_INT_EQ(sf_peer_next(gwo), XMLSTREAM_EV_NONE);
	sg_end(&g);
}

/* Without a reload the kept verdict serves the same addressing (the
 * stanza is relayed); a 'from' written otherwise (upper case: the same
 * domain once canonical) is checked in full and relayed too. */
TEST(session_wire_kept_verdict_serves_same_addressing)
{
	struct sf_peer *in, *gwo;
	struct sg g;

	sg_begin(&g, SG_CONFIG(SW_SM_LIMITS));
	in = sw_partner_relaying(&g, &gwo);
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example' to='u@a.example' id='p2'><body>hi</body>"
	    "</message><message from='x@B.Example' to='u@a.example' id='p3'><body>hi</body></message>"
	    "<message from='x@c.example' to='u@a.example' id='p4'/>"));
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p2");
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p3");
	/* c.example was never authenticated on this stream. */
	SG_OK(&g, sf_peer_expect_stream_error(in, "invalid-from"));
	sg_end(&g);
}

/* The gateway's stanzas for b.example: after a reload that refuses
 * b.example, the very next one is bounced (not-allowed), not relayed. */
TEST(session_wire_reload_refusing_partner_takes_effect_on_next_stanza)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sf_peer *gw, *b, *back;
	struct sg g;

	sg_begin(&g, SG_CONFIG(SW_SM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(gw, "<message from='u@a.example/r' to='x@b.example' id='m1'><body>hi</body>"
	    "</message>"));
	SG_PEER(&g, b, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_sm_accept(b, "b.example", "a.example", 0, 0));
	SG_OK(&g, sf_peer_expect(b, "message", NULL));
	CHECK_STR_EQ(b->ev.id, "m1");
	sw_reload(&g, SW_CONFIG_B_REFUSED);
	SG_OK(&g, sf_peer_send(gw, "<message from='u@a.example/r' to='x@b.example' id='m2'><body>hi</body>"
	    "</message>"));
	/* The bounce comes back on the stream the proxy opens to the
	 * gateway, which refuses XEP-0198 here. */
	SG_PEER(&g, back, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(back, "a.example", "b.example", 1, 0));
	SG_OK(&g, sf_peer_expect(back, "enable", SM_NS));
	SG_OK(&g, sf_peer_send(back, "<failed xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(back, "message", NULL));
	CHECK_STR_EQ(back->ev.id, "m2");
	CHECK_STR_EQ(back->ev.stype, "error");
	CHECK_STR_EQ(back->ev.cond, "not-allowed");
	CHECK_INT_EQ(sf_peer_next(b), XMLSTREAM_EV_NONE);
	sg_end(&g);
}
