/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_direction.c - a stanza arriving on a stream xmpp-edge
 * opened (RFC 6120 §2.4; issue 14, finding 2): refused with
 * <unsupported-stanza-type/> in every state and for every kind of
 * outgoing stream, nothing routed or bounced for it, while what we had
 * queued goes back to its senders once.
 */
#include "test.h"

#include "session_gateway.h"

/* The stanza the receiving server must not get through: forged 'from'
 * of a hosted domain, to a hosted domain (the gateway would take it). */
#define SW_FORGED "<message from='boss@a.example' to='victim@a.example' id='forged'><body>x</body></message>"

/* No peer ever got the forged stanza or anything answering it. */
static void
sw_check_forged_nowhere(struct sg *g)
{
	struct sf_peer *p;

	for (p = g->sf.peers; p != NULL; p = p->next)
		while (sf_peer_next(p) == XMLSTREAM_EV_ELEMENT)
			CHECK(strcmp(p->ev.id, "forged") != 0);
	CHECK_INT_EQ(g->sf.edge->stats.stanzas_wrong_direction, 1);
}

/* On a remote stream: after the header (negotiating), or once
 * established (after our stanza went out). */
static void
sw_remote(int established)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sg g;
	struct sf_peer *in, *out, *gw;
	uint64_t routed;

	sg_begin(&g, SG_CONFIG(""));
	sf_dial_script(&g.sf, "b.example", s, 1);
	in = sg_gateway_in(&g, "a.example", "b.example");
	REQUIRE(in != NULL);
	SG_OK(&g, sf_peer_send(in, "<message from='u@a.example/r' to='x@b.example' id='k1'/>"));
	out = sg_wait_out(&g, "b.example");
	REQUIRE(out != NULL);
	if (established) {
		SG_OK(&g, sg_remote_answer(&g, out, "b.example", "valid"));
		SG_OK(&g, sf_peer_expect(out, "message", NULL));
		CHECK_STR_EQ(out->ev.id, "k1");
	} else {
		SG_OK(&g, sf_peer_send_header(out, "b.example", "a.example"));
	}
	routed = g.sf.edge->stats.stanzas_routed;
	SG_OK(&g, sf_peer_send(out, SW_FORGED));
	SG_OK(&g, sf_peer_expect_stream_error(out, "unsupported-stanza-type"));
	if (!established) {
		/* k1 was still queued: it goes back once (§8.3.3.16). */
		gw = sg_wait_out(&g, "a.example");
		REQUIRE(gw != NULL);
		SG_OK(&g, sg_gateway_out_accept(&g, gw, "b.example"));
		SG_OK(&g, sf_peer_expect(gw, "message", NULL));
		CHECK_STR_EQ(gw->ev.id, "k1");
		CHECK_STR_EQ(gw->ev.stype, "error");
		CHECK_STR_EQ(gw->ev.cond, "remote-server-not-found");
		routed++;	/* the bounce */
	}
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, routed);
	sw_check_forged_nowhere(&g);
	sg_end(&g);
}

TEST(session_direction_stanza_on_negotiating_stream_refused)
{
	sw_remote(0);
}

TEST(session_direction_stanza_on_established_stream_refused)
{
	sw_remote(1);
}

/* On a verification stream, in place of the answer: the check fails
 * (a dialback error for the pair), the forged stanza goes nowhere. */
TEST(session_direction_stanza_on_verify_stream_refused)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sg g;
	struct sf_peer *in, *auth;

	sg_begin(&g, SG_CONFIG(""));
	sf_dial_script(&g.sf, "b.example", s, 1);
	in = sg_remote_in(&g, "b.example");
	REQUIRE(in != NULL);
	auth = sg_wait_out(&g, "b.example");
	REQUIRE(auth != NULL);
	SG_OK(&g, sf_peer_send_header(auth, "b.example", "a.example"));
	SG_OK(&g, sf_peer_send(auth, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
	    "</stream:features>"));
	SG_OK(&g, sf_peer_expect(auth, "verify", "jabber:server:dialback"));
	SG_OK(&g, sf_peer_send(auth, SW_FORGED));
	SG_OK(&g, sf_peer_expect_stream_error(auth, "unsupported-stanza-type"));
	SG_OK(&g, sf_peer_expect(in, "result", "jabber:server:dialback"));
	CHECK_STR_EQ(in->ev.stype, "error");
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 0);
	sw_check_forged_nowhere(&g);
	sg_end(&g);
}

/* On the stream to the gateway: refused the same way. */
TEST(session_direction_stanza_on_gateway_stream_refused)
{
	struct sg g;
	struct sf_peer *in, *gw;
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };

	sg_begin(&g, SG_CONFIG(""));
	sf_dial_script(&g.sf, "b.example", s, 1);
	in = sg_remote_in(&g, "b.example");
	REQUIRE(in != NULL);
	REQUIRE(sg_wait_out(&g, "b.example") != NULL);
	SG_OK(&g, sg_remote_answer(&g, sf_peer_out(&g.sf, "b.example"), "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", "jabber:server:dialback"));
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m1'/>"));
	gw = sg_wait_out(&g, "a.example");
	REQUIRE(gw != NULL);
	SG_OK(&g, sg_gateway_out_accept(&g, gw, "b.example"));
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "m1");
	SG_OK(&g, sf_peer_send(gw, "<message from='v@a.example' to='u@b.example' id='forged'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(gw, "unsupported-stanza-type"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 1);
	sw_check_forged_nowhere(&g);
	sg_end(&g);
}
