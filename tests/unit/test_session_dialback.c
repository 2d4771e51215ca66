/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_dialback.c - dialback through the real sessions (s2s_in,
 * s2s_in_auth, s2s_out verification streams, router) with scripted remote
 * servers and gateway (session_fixture.h, session_gateway.h): pairs
 * multiplexed on one stream (XEP-0220 §2.6), each checked, each under its
 * own partner policy, and only authenticated pairs routed.
 */
#include "test.h"

#include "session_gateway.h"

#define SD_NS_DB "jabber:server:dialback"


/* The peer's next element is our <db:result/> for (a.example -> remote)
 * of type type (and, for an error, with condition cond). */
static int
sd_expect_result(struct sg *g, struct sf_peer *p, const char *remote, const char *type,
    const char *cond)
{
	if (sf_peer_expect(p, "result", SD_NS_DB) < 0)
		return -1;
	if (strcmp(p->ev.from, "a.example") != 0 || strcmp(p->ev.to, remote) != 0 ||
	    strcmp(p->ev.stype, type) != 0 || (cond != NULL && strcmp(p->ev.cond, cond) != 0)) {
		snprintf(g->sf.err, sizeof(g->sf.err), "unexpected answer %s", p->ev.raw);
		return -1;
	}
	return 0;
}

/* b.example authenticated by its authoritative server; the stanza goes
 * to the gateway over the stream that speaks for b.example.  Returns the
 * inbound peer and the gateway's peer. */
static void
sd_authenticate_b(struct sg *g, struct sf_peer **in, struct sf_peer **gw)
{
	struct sf_peer *auth;
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };

	sf_dial_script(&g->sf, "b.example", &peer, 1);
	SG_PEER(g, *in, sg_remote_in(g, "b.example"));
	SG_PEER(g, auth, sg_wait_out(g, "b.example"));
	SG_OK(g, sg_remote_answer(g, auth, "b.example", "valid"));
	SG_OK(g, sd_expect_result(g, *in, "b.example", "valid", NULL));
	SG_OK(g, sf_peer_send(*in, "<message from='u@b.example' to='v@a.example' id='m1'><body>1</body></message>"));
	SG_PEER(g, *gw, sg_wait_out(g, "a.example"));
	SG_OK(g, sg_gateway_out_accept(g, *gw, "b.example"));
	SG_OK(g, sf_peer_expect(*gw, "message", NULL));
	CHECK_STR_EQ((*gw)->ev.id, "m1");
	CHECK_STR_EQ((*gw)->ev.from, "u@b.example");
}

/*
 * XEP-0220 §2.6: a second pair piggybacked on an authenticated stream
 * whose check fails (its authoritative server cannot be reached): that
 * pair gets a dialback error, the stream and the first pair go on, and a
 * stanza from the failed pair routes nothing (invalid-from ends the
 * stream; RFC 6120 §4.9.3.9).
 */
TEST(session_dialback_piggyback_error_pair_routes_nothing)
{
	struct sg g;
	struct sf_peer *in, *gw;
	static const struct sf_dial_step unreachable = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };

	sg_begin(&g, SG_CONFIG(""));
	sd_authenticate_b(&g, &in, &gw);
	sf_dial_script(&g.sf, "c.example", &unreachable, 1);
	SG_OK(&g, sf_peer_send(in, "<db:result from='c.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>"));
	/* RFC 6120 §8.3.3.17: resolved, not reachable. */
	SG_OK(&g, sd_expect_result(&g, in, "c.example", "error", "remote-server-timeout"));
	/* b.example's pair still works. */
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m2'/>"));
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "m2");
	/* c.example's does not. */
	SG_OK(&g, sf_peer_send(in, "<message from='u@c.example' to='v@a.example' id='m3'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "invalid-from"));
	CHECK_INT_EQ(sf_peer_next(gw), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_delivered, 2);
	CHECK_INT_EQ(g.sf.routed_by_inbound, 2);	/* what s2s_in.close says */
	sg_end(&g);
}

/* A stanza of a piggybacked pair whose check is still running: not
 * routed (invalid-from), and the check is dropped with the stream. */
TEST(session_dialback_piggyback_pair_under_check_routes_nothing)
{
	struct sg g;
	struct sf_peer *in, *gw;
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };

	sg_begin(&g, SG_CONFIG(""));
	sd_authenticate_b(&g, &in, &gw);
	sf_dial_script(&g.sf, "c.example", &peer, 1);
	SG_OK(&g, sf_peer_send(in, "<db:result from='c.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>"
	    "<message from='u@c.example' to='v@a.example' id='early'/>"));
	/* The stanza of the pair being checked ends the stream before the
	 * answer can come: invalid-from, nothing routed. */
	SG_OK(&g, sf_peer_expect_stream_error(in, "invalid-from"));
	CHECK_INT_EQ(sf_log_count(&g.sf, "dialback.verify_start"), 2);
	CHECK_INT_EQ(sf_peer_next(gw), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 1);
	sg_end(&g);
}

/* The piggybacked key is invalid: XEP-0220 §2.4, the stream is closed
 * (not-authorized) after the invalid answer; what the valid pair sent
 * before was delivered, nothing of the invalid one. */

TEST(session_dialback_piggyback_invalid_key_closes_stream)
{
	struct sg g;
	struct sf_peer *in, *gw, *auth;
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };

	sg_begin(&g, SG_CONFIG(""));
	sd_authenticate_b(&g, &in, &gw);
	sf_dial_script(&g.sf, "c.example", &peer, 1);
	SG_OK(&g, sf_peer_send(in, "<db:result from='c.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>"));
	SG_PEER(&g, auth, sg_wait_out(&g, "c.example"));
	SG_OK(&g, sg_remote_answer(&g, auth, "c.example", "invalid"));
	SG_OK(&g, sd_expect_result(&g, in, "c.example", "invalid", NULL));
	SG_OK(&g, sf_peer_expect_stream_error(in, "not-authorized"));
	CHECK_INT_EQ(sf_peer_next(gw), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 1);
	sg_end(&g);
}

/*
 * Policy per pair (issue 14, finding 8): d.example's partner entry
 * refuses dialback.  Piggybacked on b.example's authenticated stream, its
 * claim is refused with policy-violation without any check being started
 * (no connection to d.example), and its stanzas are not routed.
 */
TEST(session_dialback_piggyback_policy_of_the_pair)
{
	struct sg g;
	struct sf_peer *in, *gw;
	uint64_t dials;

	sg_begin(&g, SG_CONFIG(""));
	sd_authenticate_b(&g, &in, &gw);
	dials = g.sf.dials_started;
	SG_OK(&g, sf_peer_send(in, "<db:result from='d.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>"));
	SG_OK(&g, sd_expect_result(&g, in, "d.example", "error", "policy-violation"));
	CHECK_INT_EQ(g.sf.dials_started, dials);
	CHECK(sf_peer_out(&g.sf, "d.example") == NULL);
	/* A refused partner (allow: false) the same, with not-allowed. */
	SG_OK(&g, sf_peer_send(in, "<db:result from='evil.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>"));
	SG_OK(&g, sd_expect_result(&g, in, "evil.example", "error", "not-allowed"));
	CHECK_INT_EQ(g.sf.dials_started, dials);
	SG_OK(&g, sf_peer_send(in, "<message from='u@d.example' to='v@a.example' id='m3'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "invalid-from"));
	CHECK_INT_EQ(sf_peer_next(gw), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 1);
	sg_end(&g);
}

/* A stream from outside that authenticates clocks the admission window's
 * growth (admission.h: one slot per finished handshake); one that closes
 * before authenticating does not. */
TEST(session_dialback_authenticated_stream_clocks_admission)
{
	struct sg g;
	struct sf_peer *in, *gw, *quitter;

	sg_begin(&g, SG_CONFIG(""));
	CHECK_INT_EQ((int)g.sf.edge->admission.done, 0);
	quitter = sf_peer_accept(&g.sf, NULL, NULL);
	REQUIRE(quitter != NULL);
	CHECK_INT_EQ((int)g.sf.edge->streams_unauthenticated, 1);
	sf_peer_eof(quitter);
	sf_settle(&g.sf);
	CHECK_INT_EQ((int)g.sf.edge->streams_unauthenticated, 0);
	CHECK_INT_EQ((int)g.sf.edge->admission.done, 0);
	sd_authenticate_b(&g, &in, &gw);
	CHECK_INT_EQ((int)g.sf.edge->admission.done, 1);
	sg_end(&g);
}
