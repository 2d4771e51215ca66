/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_sm.c - XEP-0198 on every leg, and custody (issue 21), with
 * the real session code over the memory pipe (session_gateway.h):
 *   - inbound: <sm/> offered, <enable/> -> <enabled/> without 'resume',
 *     a second <enable/> -> <failed/>, <r/> -> <a h/>, hostile <a/>,
 *     <r/> before <enable/>;
 *   - outgoing: <enable/> when offered, stanzas after <enabled/>, <r/>,
 *     <a h/> settles; a hostile h ends the stream;
 *   - custody: the inbound h moves only once the next hop acknowledged
 *     (or the stanza went to a peer without XEP-0198, or was bounced); in
 *     order with two destinations; the settle timeout bounces; a leg that
 *     dies bounces what it had not seen acknowledged and writes nothing
 *     twice; a source stream that closes first is not touched (ASan).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session_gateway.h"
#include "router.h"
#include "s2s_in_int.h"
#include "sm.h"

#define TSM_NS_DB "jabber:server:dialback"
#define TSM_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TSM_LIMITS "\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, " \
	"\"sm_settle_timeout_ms\": 5000, \"sm_request_every_ms\": 1000"

/* The gateway's stream for a.example -> remote, with XEP-0198 enabled. */
static struct sf_peer *
tsm_gateway_in_sm(struct sg *g, const char *remote)
{
	struct sf_peer *gw = sg_gateway_in(g, "a.example", remote);

	if (gw == NULL || sf_peer_send(gw, "<enable xmlns='" SM_NS "'/>") < 0 ||
	    sf_peer_expect(gw, "enabled", SM_NS) < 0)
		return NULL;
	return gw;
}

static int
tsm_message(struct sf_peer *p, const char *to_domain, const char *id)
{
	return sf_peer_sendf(p, "<message from='u@a.example/r' to='x@%s' id='%s' type='chat'>"
	    "<body>hi</body></message>", to_domain, id);
}

/* Nothing more arrives on p. */
static void
tsm_expect_nothing(struct sf_peer *p)
{
	enum xmlstream_event_type t = sf_peer_next(p);

	if (t != XMLSTREAM_EV_NONE)
		fprintf(stderr, "  peer %d: unexpected %s\n", p->index, p->ev.raw ? p->ev.raw : p->ev.name);
	CHECK_INT_EQ(t, XMLSTREAM_EV_NONE);
}

/*
 * One hop with custody: the gateway's stream (XEP-0198 on) sends m1 to
 * b.example; the proxy's stream to b.example is accepted (offering
 * XEP-0198 when sm) and m1 arrives there.  *gw, *b: the two peers.
 */
static void
tsm_one_hop(struct sg *g, struct sf_peer **gw, struct sf_peer **b, int sm)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };

	sf_dial_script(&g->sf, "b.example", &peer, 1);
	SG_PEER(g, *gw, tsm_gateway_in_sm(g, "b.example"));
	SG_OK(g, tsm_message(*gw, "b.example", "m1"));
	SG_PEER(g, *b, sg_wait_out(g, "b.example"));
	SG_OK(g, sg_sm_accept(*b, "b.example", "a.example", 0, sm));
	SG_OK(g, sf_peer_expect(*b, "message", NULL));
	CHECK_STR_EQ((*b)->ev.id, "m1");
}

/* <enable/> (asking for resumption) gets <enabled/> without 'resume'; a
 * second one <failed/>; <r/> gets <a h='0'/>; <a h='0'/> is fine. */
TEST(session_sm_inbound_enable)
{
	struct sg g;
	struct sf_peer *gw;
	char cond[SF_NAME_MAX];

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(gw, "<enable xmlns='" SM_NS "' resume='true'/>"));
	SG_OK(&g, sf_peer_expect(gw, "enabled", SM_NS));
	CHECK(strstr(gw->ev.raw, "resume") == NULL);
	SG_OK(&g, sf_peer_send(gw, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(gw, "failed", SM_NS));
	sf_first_child(gw->ev.raw, gw->ev.raw_len, NULL, cond, sizeof(cond));
	CHECK_STR_EQ(cond, "unexpected-request");
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/><a xmlns='" SM_NS "' h='0'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));
	tsm_expect_nothing(gw);
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_in, 1);
	sg_end(&g);
}

/* A partner's features offer <sm/> (dialback has no later features). */
TEST(session_sm_inbound_feature_offered)
{
	struct sg g;
	struct sf_peer *in;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	SG_PEER(&g, in, sf_peer_accept(&g.sf, NULL, NULL));
	SG_OK(&g, sf_peer_send_header(in, "b.example", "a.example"));
	SG_OK(&g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	CHECK(strstr(in->ev.raw, "<sm xmlns='urn:xmpp:sm:3'/>") != NULL);
	sg_end(&g);
}

/* XEP-0198 elements before <enable/> are refused. */
TEST(session_sm_inbound_r_before_enable)
{
	struct sg g;
	struct sf_peer *gw;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(gw, "unsupported-stanza-type"));
	sg_end(&g);
}

/* We send no stanzas on an inbound stream: h > 0 is too high. */
TEST(session_sm_inbound_ack_too_high)
{
	struct sg g;
	struct sf_peer *gw;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "b.example"));
	SG_OK(&g, sf_peer_send(gw, "<a xmlns='" SM_NS "' h='3'/>"));
	SG_OK(&g, sf_peer_expect(gw, "error", XMLSTREAM_NS_STREAMS));
	CHECK_STR_EQ(gw->ev.cond, "undefined-condition");
	CHECK(strstr(gw->ev.raw, "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='3' send-count='0'/>") != NULL);
	SG_OK(&g, sf_peer_expect_closed(gw));
	sg_end(&g);
}

/* h that is not a number, or overflows 32 bits. */
TEST(session_sm_inbound_ack_not_a_number)
{
	static const char *const bad[] = { "x", "-1", "4294967296", "", "1 " };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sg g;
		struct sf_peer *gw;

		sg_begin(&g, SG_CONFIG(TSM_LIMITS));
		SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "b.example"));
		SG_OK(&g, sf_peer_sendf(gw, "<a xmlns='" SM_NS "' h='%s'/>", bad[i]));
		SG_OK(&g, sf_peer_expect_stream_error(gw, "invalid-xml"));
		sg_end(&g);
	}
}

/* Custody: the gateway's stanza is acknowledged to the gateway only once
 * the remote server acknowledged it. */
TEST(session_sm_custody_waits_for_next_hop)
{
	struct sg g;
	struct sf_peer *gw, *b;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_one_hop(&g, &gw, &b, 1);
	SG_OK(&g, sf_peer_expect(b, "r", SM_NS));	/* the request policy: after a write */
	/* Not acknowledged by the next hop: h stays 0. */
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='1'/>"));
	/* Now it is, and the gateway hears it without asking again. */
	SG_OK(&g, sg_expect_ack(&g, gw, 1));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unconfirmed, 0);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_out, 1);
	/* The remote server asks us: we handled nothing on our stream. */
	SG_OK(&g, sf_peer_send(b, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, b, 0));
	sg_end(&g);
}

/* A next hop without XEP-0198: handed to TCP settles it (unconfirmed). */
TEST(session_sm_custody_unconfirmed_without_sm)
{
	struct sg g;
	struct sf_peer *gw, *b;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_one_hop(&g, &gw, &b, 0);
	tsm_expect_nothing(b);	/* no <enable/>, no <r/> */
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 1));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unconfirmed, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 0);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	sg_end(&g);
}

static struct sf_peer *tsm_expect_bounce(struct sg *g, const char *remote, const char *id,
    const char *cond);

/* A stanza that is bounced at once (policy) is settled once its bounce
 * is: the bounce carries its custody (here to a gateway stream without
 * XEP-0198: when written). */
TEST(session_sm_custody_bounce_settles)
{
	struct sg g;
	struct sf_peer *gw, *back;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "evil.example"));
	SG_OK(&g, tsm_message(gw, "evil.example", "m1"));
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));	/* the bounce waits for its stream */
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	SG_PEER(&g, back, tsm_expect_bounce(&g, "evil.example", "m1", "not-allowed"));
	SG_OK(&g, sg_expect_ack(&g, gw, 1));	/* unasked: h moved */
	sg_end(&g);
}

/* The bounce cannot be delivered either (the stream back to the gateway
 * fails): the stanza was neither delivered nor bounced, so it is never
 * acknowledged, and the gateway's stream ends so that the gateway bounces
 * it to its user itself. */
TEST(session_sm_custody_bounce_lost_kept)
{
	static const struct sf_dial_step gw_down = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };
	struct sg g;
	struct sf_peer *gw;
	enum xmlstream_event_type t;
	int acked = 0, stream_error = 0;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	sf_dial_script(&g.sf, "a.example", &gw_down, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "evil.example"));
	SG_OK(&g, tsm_message(gw, "evil.example", "m1"));
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	while ((t = sf_peer_next(gw)) == XMLSTREAM_EV_ELEMENT) {
		if (strcmp(gw->ev.name, "a") == 0 && strstr(gw->ev.raw, "h='0'") == NULL)
			acked = 1;
		if (strcmp(gw->ev.name, "error") == 0 && strcmp(gw->ev.ns, XMLSTREAM_NS_STREAMS) == 0) {
			stream_error = 1;
			CHECK_STR_EQ(gw->ev.cond, "internal-server-error");
		}
	}
	CHECK(!acked);
	CHECK(stream_error);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 1);
	sg_end(&g);
}

/* Acks are in order: one stream, two destinations; the second's ack
 * does not move h past the first's stanza; the first's moves it over
 * both. */
TEST(session_sm_custody_in_order_two_destinations)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sg g;
	struct sf_peer *gw, *b, *c;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	sf_dial_script(&g.sf, "c.example", &peer, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "b.example"));
	/* The same stream speaks for a.example toward c.example too. */
	SG_OK(&g, sf_peer_send(gw, "<db:result from='a.example' to='c.example'>" TSM_KEY "</db:result>"));
	SG_OK(&g, sf_peer_expect(gw, "result", TSM_NS_DB));
	CHECK_STR_EQ(gw->ev.stype, "valid");
	SG_OK(&g, tsm_message(gw, "b.example", "m1"));
	SG_OK(&g, tsm_message(gw, "c.example", "m2"));
	SG_PEER(&g, b, sg_wait_out(&g, "b.example"));
	SG_PEER(&g, c, sg_wait_out(&g, "c.example"));
	SG_OK(&g, sg_sm_accept(b, "b.example", "a.example", 0, 1));
	SG_OK(&g, sg_sm_accept(c, "c.example", "a.example", 0, 1));
	SG_OK(&g, sf_peer_expect(b, "message", NULL));
	SG_OK(&g, sf_peer_expect(c, "message", NULL));
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));
	/* c acknowledges m2: m1, before it, still holds h at 0. */
	SG_OK(&g, sf_peer_send(c, "<a xmlns='" SM_NS "' h='1'/>"));
	sf_settle(&g.sf);
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));
	/* b acknowledges m1: both are settled, unasked. */
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='1'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 2));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 2);
	sg_end(&g);
}

/* The stanza's bounce reaches the gateway on the stream the proxy opens
 * back to it; returns that peer. */
static struct sf_peer *
tsm_expect_bounce(struct sg *g, const char *remote, const char *id, const char *cond)
{
	struct sf_peer *back = sg_wait_out(g, "a.example");

	/* The gateway here offers no XEP-0198 and refuses the <enable/>
	 * the proxy sends it anyway (sm_enable_unoffered). */
	if (back == NULL || sg_sm_accept(back, "a.example", remote, 1, 0) < 0 ||
	    sf_peer_expect(back, "enable", SM_NS) < 0 ||
	    sf_peer_send(back, "<failed xmlns='" SM_NS "'/>") < 0 ||
	    sf_peer_expect(back, "message", NULL) < 0)
		return NULL;
	if (strcmp(back->ev.stype, "error") != 0 || strcmp(back->ev.id, id) != 0 ||
	    strcmp(back->ev.cond, cond) != 0) {
		snprintf(g->sf.err, sizeof(g->sf.err), "expected the %s bounce of %s, got %s", cond, id,
		    back->ev.raw);
		return NULL;
	}
	return back;
}

/* A bounce written to the gateway and never acknowledged: after
 * limits.sm_settle_timeout_ms its stream ends, and the bounce (an error,
 * never bounced in turn) is not delivered for sure, so the stanza it
 * answers is not acknowledged either: the gateway's stream ends instead. */
TEST(session_sm_custody_bounce_unacked_kept)
{
	struct sg g;
	struct sf_peer *gw, *back;
	enum xmlstream_event_type t;
	int acked = 0, stream_error = 0;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "evil.example"));
	SG_OK(&g, tsm_message(gw, "evil.example", "m1"));
	SG_PEER(&g, back, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(back, "a.example", "evil.example", 1, 1));
	SG_OK(&g, sf_peer_expect(back, "message", NULL));
	CHECK_STR_EQ(back->ev.stype, "error");
	CHECK_STR_EQ(back->ev.id, "m1");
	sf_settle(&g.sf);
	(void)sf_advance(&g.sf, 6000);
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	while ((t = sf_peer_next(gw)) == XMLSTREAM_EV_ELEMENT) {
		if (strcmp(gw->ev.name, "a") == 0 && strstr(gw->ev.raw, "h='0'") == NULL)
			acked = 1;
		if (strcmp(gw->ev.name, "error") == 0 && strcmp(gw->ev.ns, XMLSTREAM_NS_STREAMS) == 0)
			stream_error = 1;
	}
	CHECK(!acked);
	CHECK(stream_error);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 0);
	sg_end(&g);
}

/* Written, never acknowledged: after limits.sm_settle_timeout_ms the
 * stream ends and the stanza is bounced, which settles it. */
TEST(session_sm_settle_timeout_bounces)
{
	struct sg g;
	struct sf_peer *gw, *b, *back;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_one_hop(&g, &gw, &b, 1);
	sf_settle(&g.sf);
	(void)sf_advance(&g.sf, 3000);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);	/* not yet */
	(void)sf_advance(&g.sf, 3000);
	SG_PEER(&g, back, tsm_expect_bounce(&g, "b.example", "m1", "remote-server-timeout"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_settle_timeout, 1);
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 1));
	sg_end(&g);
}

/* The leg dies with a stanza written and not acknowledged: bounced with
 * remote-server-timeout, never written again (no new stream to b). */
TEST(session_sm_leg_dies_bounces_unacked)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK }, { SF_DIAL_PEER, DNS_OK } };
	struct sg g;
	struct sf_peer *gw, *b, *back;
	uint64_t dials;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_one_hop(&g, &gw, &b, 1);
	/* A second connection to b.example would be allowed: none is made. */
	sf_dial_script(&g.sf, "b.example", peer, 2);
	dials = g.sf.dials_started;
	sf_peer_reset(b);
	SG_PEER(&g, back, tsm_expect_bounce(&g, "b.example", "m1", "remote-server-timeout"));
	/* One dial more: the stream back to the gateway, none to b. */
	CHECK_INT_EQ(g.sf.dials_started, dials + 1);
	CHECK(sf_peer_out(&g.sf, "b.example") == b);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 1));
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	sg_end(&g);
}

/* The next hop's h above what was written: a stream error naming it,
 * and the stanza is bounced. */
TEST(session_sm_outgoing_ack_too_high)
{
	struct sg g;
	struct sf_peer *gw, *b, *back;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_one_hop(&g, &gw, &b, 1);
	SG_OK(&g, sf_peer_expect(b, "r", SM_NS));
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='5'/>"));
	SG_OK(&g, sf_peer_expect(b, "error", XMLSTREAM_NS_STREAMS));
	CHECK_STR_EQ(b->ev.cond, "undefined-condition");
	CHECK(strstr(b->ev.raw, "h='5' send-count='1'") != NULL);
	SG_PEER(&g, back, tsm_expect_bounce(&g, "b.example", "m1", "remote-server-timeout"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 0);
	sg_end(&g);
}

/* The source stream is gone before its stanza is acknowledged: the
 * settle finds nobody (generation), and nothing is touched (ASan). */
TEST(session_sm_source_closes_before_settle)
{
	struct sg g;
	struct sf_peer *gw, *b;
	int i;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_one_hop(&g, &gw, &b, 1);
	sf_peer_reset(gw);
	for (i = 0; i < 100 && g.sf.edge->streams != NULL; i++)
		uv_run(g.sf.loop, UV_RUN_NOWAIT);
	REQUIRE(g.sf.edge->streams == NULL);	/* freed */
	/* A new stream takes the slot: the old tag must not reach it. */
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "b.example"));
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='1'/>"));
	sf_settle(&g.sf);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 1);
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));
	tsm_expect_nothing(gw);
	sg_end(&g);
}

/* The other direction: a partner's stanza for the gateway, acknowledged
 * to the partner once the gateway acknowledged it. */
TEST(session_sm_custody_partner_to_gateway)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sg g;
	struct sf_peer *in, *auth, *gwo;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, in, sg_remote_in(&g, "b.example"));
	SG_PEER(&g, auth, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_remote_answer(&g, auth, "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", TSM_NS_DB));
	CHECK_STR_EQ(in->ev.stype, "valid");
	SG_OK(&g, sf_peer_send(in, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "enabled", SM_NS));
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example' to='u@a.example' id='p1'><body>hi</body>"
	    "</message><r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, in, 0));
	SG_PEER(&g, gwo, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(gwo, "a.example", "b.example", 1, 1));
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p1");
	SG_OK(&g, sf_peer_expect(gwo, "r", SM_NS));
	SG_OK(&g, sf_peer_send(gwo, "<a xmlns='" SM_NS "' h='1'/>"));
	SG_OK(&g, sg_expect_ack(&g, in, 1));
	sg_end(&g);
}

/* Not written within limits.sm_settle_timeout_ms (here: <enable/> never
 * answered, so nothing is written): bounced from the queue, which settles
 * it; the stream itself stays. */
TEST(session_sm_settle_timeout_unwritten_bounces)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sg g;
	struct sf_peer *gw, *b, *back;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "b.example"));
	SG_OK(&g, tsm_message(gw, "b.example", "m1"));
	SG_PEER(&g, b, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sf_peer_send_header(b, "b.example", "a.example"));
	SG_OK(&g, sf_peer_send(b, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
	    "<sm xmlns='" SM_NS "'/></stream:features>"));
	SG_OK(&g, sg_answer_result_valid(b));
	SG_OK(&g, sf_peer_expect(b, "enable", SM_NS));
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	(void)sf_advance(&g.sf, 3000);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);	/* not yet */
	(void)sf_advance(&g.sf, 3000);
	SG_PEER(&g, back, tsm_expect_bounce(&g, "b.example", "m1", "remote-server-timeout"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_settle_timeout, 1);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	CHECK(!sf_peer_closed(b));	/* only the stanza went */
	tsm_expect_nothing(b);		/* never written */
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 1));
	sg_end(&g);
}

/* A partner's stream into the proxy, authenticated by dialback, with
 * XEP-0198 enabled: *in. */
static void
tsm_partner_in_sm(struct sg *g, struct sf_peer **in)
{
	struct sf_peer *auth;

	SG_PEER(g, *in, sg_remote_in(g, "b.example"));
	SG_PEER(g, auth, sg_wait_out(g, "b.example"));
	SG_OK(g, sg_remote_answer(g, auth, "b.example", "valid"));
	SG_OK(g, sf_peer_expect(*in, "result", TSM_NS_DB));
	CHECK_STR_EQ((*in)->ev.stype, "valid");
	SG_OK(g, sf_peer_send(*in, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(g, sf_peer_expect(*in, "enabled", SM_NS));
}

/* Partner -> gateway: the partner's stream (XEP-0198 on) sends p1 for
 * a.example; the gateway's side of the proxy's stream offers no <sm/>,
 * answers the dialback, and reads the <enable/> the proxy sends anyway. */
static void
tsm_gateway_out_unoffered(struct sg *g, struct sf_peer **in, struct sf_peer **gwo)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };

	sf_dial_script(&g->sf, "b.example", &peer, 1);
	tsm_partner_in_sm(g, in);
	SG_OK(g, sf_peer_send(*in, "<message from='x@b.example' to='u@a.example' id='p1'><body>hi</body>"
	    "</message>"));
	SG_PEER(g, *gwo, sg_wait_out(g, "a.example"));
	SG_OK(g, sg_sm_accept(*gwo, "a.example", "b.example", 1, 0));
	SG_OK(g, sf_peer_expect(*gwo, "enable", SM_NS));
}

/* Toward the gateway, <enable/> goes out after dialback even though the
 * features had no <sm/>: Prosody 0.12 offers it only on a stream that is
 * authenticated when its features are sent, which a dialback stream
 * never is, and answers <enable/> once dialback made it one.  Custody
 * then works as with an offer. */
TEST(session_sm_gateway_out_enable_unoffered)
{
	struct sg g;
	struct sf_peer *in, *gwo;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_gateway_out_unoffered(&g, &in, &gwo);
	SG_OK(&g, sf_peer_send(in, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, in, 0));	/* p1 waits for the gateway */
	SG_OK(&g, sf_peer_send(gwo, "<enabled xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p1");
	SG_OK(&g, sf_peer_expect(gwo, "r", SM_NS));
	SG_OK(&g, sf_peer_send(gwo, "<a xmlns='" SM_NS "' h='1'/>"));
	SG_OK(&g, sg_expect_ack(&g, in, 1));
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_out, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unconfirmed, 0);
	sg_end(&g);
}

/* A gateway that leaves the unoffered <enable/> unanswered (a server
 * without XEP-0198 may ignore it) costs a bounded wait once: the stanza
 * goes out unconfirmed after S2S_OUT_SM_UNOFFERED_WAIT_MS, and later
 * streams to the gateway do not ask again.  <failed/> is plain OFF. */
TEST(session_sm_gateway_out_enable_unanswered)
{
	struct sg g;
	struct sf_peer *in, *gwo;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	tsm_gateway_out_unoffered(&g, &in, &gwo);
	sf_settle(&g.sf);
	tsm_expect_nothing(gwo);	/* held while the answer may come */
	CHECK_INT_EQ(g.sf.edge->gateway_sm_unanswered, 0);
	(void)sf_advance(&g.sf, 4000);
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "p1");
	CHECK_INT_EQ(g.sf.edge->gateway_sm_unanswered, 1);
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_out, 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unconfirmed, 1);
	SG_OK(&g, sf_peer_send(in, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, in, 1));
	tsm_expect_nothing(gwo);	/* no <r/>: not enabled */
	sg_end(&g);
}

/* The gateway's stream, authenticated by its pinned key with SASL
 * EXTERNAL and restarted: the features after the restart offer <sm/>. */
static struct sf_peer *
tsm_gateway_in_sasl(struct sg *g, const char *remote)
{
	struct sf_peer *p = sf_peer_accept(&g->sf, &g->sf.internal, "127.0.0.1");

	if (p == NULL || sf_peer_tls(p, g->gw_store, TLS_ROLE_INTERNAL_CLIENT, "edge-internal") < 0 ||
	    sf_peer_tls_wait(p) < 0 || sf_peer_send_header(p, "a.example", remote) < 0 ||
	    sf_peer_expect(p, "features", XMLSTREAM_NS_STREAMS) < 0 ||
	    sf_peer_send(p, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
	    "YS5leGFtcGxl</auth>") < 0 ||
	    sf_peer_expect(p, "success", "urn:ietf:params:xml:ns:xmpp-sasl") < 0)
		return NULL;
	sf_peer_restart(p);
	if (sf_peer_send_header(p, "a.example", remote) < 0 ||
	    sf_peer_expect(p, "features", XMLSTREAM_NS_STREAMS) < 0)
		return NULL;
	if (strstr(p->ev.raw, "urn:xmpp:sm:3") == NULL) {
		snprintf(g->sf.err, sizeof(g->sf.err), "no <sm/> after SASL: %s", p->ev.raw);
		return NULL;
	}
	return p;
}

/* The gateway's inbound stream that may be asked for XEP-0198 (its
 * window, sm_ask_after_ms, is set; there is one in these tests). */
static struct s2s_in *
tsm_ask_candidate(struct sg *g)
{
	struct s2s_in *s;

	for (s = g->sf.edge->streams; s != NULL; s = s2s_in_next(s))
		if (s->sm_ask_after_ms != 0)
			return s;
	REQUIRE(!"no inbound stream waiting to be asked for XEP-0198");
	return NULL;
}

/*
 * The window is on the loop's real clock (uv_now; a lazy check at the
 * next stanza, no timer).  Every step of a test takes real time, a whole
 * second of it on a loaded machine, so "within the window" cannot be a
 * step done soon enough after the stream opened: the test holds the
 * window open (its due time pushed out of reach) and gives it back
 * before waiting it out.  Returns the due time the stream was given.
 */
static uint64_t
tsm_hold_ask_window(struct sg *g)
{
	struct s2s_in *s = tsm_ask_candidate(g);
	uint64_t due = s->sm_ask_after_ms;

	/* Set when the stream opened (after SASL), one window ahead. */
	CHECK(due <= uv_now(g->sf.loop) + S2S_IN_SM_ASK_AFTER_MS);
	s->sm_ask_after_ms = UINT64_MAX;
	return due;
}

/* Waits out the window on the loop's own clock: until uv_now reaches the
 * stream's due time, which real time alone moves (hence sleeping; the
 * deadline only keeps a broken clock from hanging the run). */
static void
tsm_wait_ask_window(struct sg *g, uint64_t due)
{
	struct s2s_in *s = tsm_ask_candidate(g);
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	int naps = (S2S_IN_SM_ASK_AFTER_MS + 10000) / 10;

	if (due != 0)
		s->sm_ask_after_ms = due;
	uv_update_time(g->sf.loop);
	while (uv_now(g->sf.loop) < s->sm_ask_after_ms && naps-- > 0) {
		nanosleep(&nap, NULL);
		uv_update_time(g->sf.loop);
	}
	REQUIRE(uv_now(g->sf.loop) >= s->sm_ask_after_ms);
	sf_settle(&g->sf);
}

/* Prosody 0.12 enables XEP-0198 on its stream into us or not by a hash
 * order (s2s_in_int.h, sm_ask_after_ms).  A gateway that answered our
 * unoffered <enable/> gets ours on its stream when it has not sent its
 * own within the window: from its <enabled/> on, its stanzas are in
 * custody (h counts them from there) and its <r/> is answered. */
TEST(session_sm_gateway_in_enabled_by_us)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sg g;
	struct sf_peer *gw;
	uint64_t due;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sasl(&g, "b.example"));
	g.sf.edge->gateway_sm_answered = 1;
	due = tsm_hold_ask_window(&g);
	SG_OK(&g, tsm_message(gw, "b.example", "m1"));
	sf_settle(&g.sf);
	tsm_expect_nothing(gw);		/* within the window: its own may come */
	tsm_wait_ask_window(&g, due);
	SG_OK(&g, tsm_message(gw, "b.example", "m2"));
	SG_OK(&g, sf_peer_expect(gw, "enable", SM_NS));
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_in, 0);	/* not before its answer */
	SG_OK(&g, sf_peer_send(gw, "<enabled xmlns='" SM_NS "'/>"));
	SG_OK(&g, tsm_message(gw, "b.example", "m3"));
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));	/* m3 waits for b.example */
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_in, 1);
	sg_end(&g);
}

/* A gateway not known to take <enable/> (none answered ours: ejabberd)
 * is never sent one on its own streams. */
TEST(session_sm_gateway_in_not_asked_unknown)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sg g;
	struct sf_peer *gw;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sasl(&g, "b.example"));
	tsm_wait_ask_window(&g, 0);
	SG_OK(&g, tsm_message(gw, "b.example", "m1"));
	sf_settle(&g.sf);
	tsm_expect_nothing(gw);
	CHECK_INT_EQ(g.sf.edge->stats.sm_streams_in, 0);
	sg_end(&g);
}

/* limits.sm_ack_every_stanzas: an <a h/> goes out unasked once h moved
 * by that many since the last one (here 2: not after m1, after m2). */
TEST(session_sm_custody_batch_ack_unasked)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sg g;
	struct sf_peer *gw, *b;

	sg_begin(&g, SG_CONFIG(TSM_LIMITS ", \"sm_ack_every_stanzas\": 2"));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sm(&g, "b.example"));
	SG_OK(&g, tsm_message(gw, "b.example", "m1"));
	SG_OK(&g, tsm_message(gw, "b.example", "m2"));
	SG_OK(&g, tsm_message(gw, "b.example", "m3"));
	SG_PEER(&g, b, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_sm_accept(b, "b.example", "a.example", 0, 1));
	SG_OK(&g, sf_peer_expect(b, "message", NULL));
	SG_OK(&g, sf_peer_expect(b, "message", NULL));
	SG_OK(&g, sf_peer_expect(b, "message", NULL));
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='1'/>"));
	sf_settle(&g.sf);
	tsm_expect_nothing(gw);		/* h moved by 1 only */
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='2'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 2));
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='3'/>"));
	sf_settle(&g.sf);
	tsm_expect_nothing(gw);		/* 1 since the last: not yet */
	sg_end(&g);
}

/* Bounces toward the gateway past twice limits.route_queue_bytes (the
 * stream back to it is not even answered yet): all are kept, and the
 * gateway's own stream (after SASL: its stanzas flow in gateway_open) is
 * paused, so they stay bounded; once the gateway reads, every one comes. */
#define TSM_FLOOD 4000
TEST(session_sm_bounces_to_gateway_pause_it)
{
	static const struct sf_dial_step b_down = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };
	struct sg g;
	struct sf_peer *gw, *back;
	char id[16];
	int i, bounced = 0;

	sg_begin(&g, SG_CONFIG("\"route_queue_bytes\": 65536, \"send_queue_bytes\": 65536, "
	    "\"connect_timeout_ms\": 600000, \"handshake_timeout_ms\": 600000, "
	    "\"sm_settle_timeout_ms\": 600000"));
	/* b.example cannot be reached (later dials: no more candidates). */
	sf_dial_script(&g.sf, "b.example", &b_down, 1);
	SG_PEER(&g, gw, tsm_gateway_in_sasl(&g, "b.example"));
	for (i = 0; i < TSM_FLOOD; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		SG_OK(&g, tsm_message(gw, "b.example", id));
	}
	SG_PEER(&g, back, sg_wait_out(&g, "a.example"));
	for (i = 0; i < 50; i++)
		sf_settle(&g.sf);
	CHECK(g.sf.edge->stats.reads_paused > 0);
	CHECK(g.sf.edge->stats.stanzas_in < TSM_FLOOD);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	fprintf(stderr, "  read %llu of %d stanzas while the way back was full\n",
	    (unsigned long long)g.sf.edge->stats.stanzas_in, TSM_FLOOD);
	/* The gateway answers (no XEP-0198) and reads. */
	SG_OK(&g, sg_sm_accept(back, "a.example", "b.example", 1, 0));
	SG_OK(&g, sf_peer_expect(back, "enable", SM_NS));
	SG_OK(&g, sf_peer_send(back, "<failed xmlns='" SM_NS "'/>"));
	for (i = 0; i < TSM_FLOOD; i++) {
		if (sf_peer_next(back) != XMLSTREAM_EV_ELEMENT || strcmp(back->ev.name, "message") != 0)
			break;
		if (strcmp(back->ev.stype, "error") == 0)
			bounced++;
	}
	CHECK_INT_EQ(bounced, TSM_FLOOD);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	sg_end(&g);
}
