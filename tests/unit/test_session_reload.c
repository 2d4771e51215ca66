/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_reload.c - what a configuration reload (SIGHUP, `reload`
 * on the control socket) does to stanzas already on their way, with the
 * real session code over the memory pipe (session_gateway.h).
 *
 * A reload that stops federation with a partner refuses the stanzas the
 * gateway sends it from then on (router.c, <not-allowed/>); those queued
 * toward it before, on a stream still being set up, must not slip
 * through: they are bounced the same way (s2s_out_policy_reloaded), their
 * custody (XEP-0198) going with the bounces, and the stream itself is
 * left to end as any idle stream does.  A stream from that partner which
 * authenticated before the reload delivers nothing more to the gateway:
 * its next stanza ends it with <policy-violation/>.
 */
#include "test.h"

#include <string.h>

#include "router.h"
#include "session_gateway.h"
#include "sm.h"

#define TRL_LIMITS "\"connect_timeout_ms\": 600000, \"handshake_timeout_ms\": 600000, " \
	"\"sm_settle_timeout_ms\": 600000, \"sm_request_every_ms\": 600000"
/* SG_CONFIG after the operator's reload: b.example may no longer
 * federate; the other partners are as before. */
#define TRL_RELOADED "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" TRL_LIMITS "}," \
	" \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {" \
	"\"b.example\": {\"allow\": false, \"tls\": \"disabled\"}, \"c.example\": {\"tls\": \"disabled\"}}}}"

static int
trl_message(struct sf_peer *p, const char *to_domain, const char *id)
{
	return sf_peer_sendf(p, "<message from='u@a.example/r' to='x@%s' id='%s' type='chat'>"
	    "<body>hi</body></message>", to_domain, id);
}

/*
 * Two stanzas from the gateway wait on the stream to b.example, which is
 * connected but not yet authenticated, and one on c.example's (dial not
 * answered).  The reload turns b.example off: both of its stanzas come
 * back to the gateway with <not-allowed/> (type cancel), which settles
 * them for the gateway's XEP-0198 (the bounces carried their custody);
 * once b.example's stream is authenticated nothing is delivered on it;
 * c.example's stanza still waits for its stream.
 */
static void
trl_bounces_queued(const char *blocklist)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step hang[] = { { SF_DIAL_HANG, DNS_OK } };
	struct sg g;
	struct sf_peer *gw, *gwc, *out, *back;
	enum xmlstream_event_type t;

	sg_begin(&g, SG_CONFIG(TRL_LIMITS));
	sf_dial_script(&g.sf, "b.example", peer, 1);
	sf_dial_script(&g.sf, "c.example", hang, 1);
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(gw, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(gw, "enabled", SM_NS));
	SG_OK(&g, trl_message(gw, "b.example", "m1"));
	SG_OK(&g, trl_message(gw, "b.example", "m2"));
	SG_PEER(&g, gwc, sg_gateway_in(&g, "a.example", "c.example"));
	SG_OK(&g, trl_message(gwc, "c.example", "m3"));
	SG_PEER(&g, out, sg_wait_out(&g, "b.example"));
	sf_settle(&g.sf);
	SG_OK(&g, sg_ask_ack(&g, gw, 0));
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 3);

	if (blocklist != NULL) {
		SG_OK(&g, sf_blocklist_reload(&g.sf, blocklist));
		CHECK_INT_EQ(sf_log_count(&g.sf, "blocklist.reloaded"), 1);
	} else {
		SG_OK(&g, sf_reload(&g.sf, TRL_RELOADED));
	}
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_out.policy_refused"), 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 2);
	/* The stream back to the gateway (no XEP-0198 there: the gateway
	 * refuses the <enable/> the proxy sends it anyway). */
	SG_PEER(&g, back, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(back, "a.example", "b.example", 1, 0));
	SG_OK(&g, sf_peer_expect(back, "enable", SM_NS));
	SG_OK(&g, sf_peer_send(back, "<failed xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_not_allowed(&g, back, "m1", "x@b.example", "u@a.example/r",
	    blocklist != NULL ? "blocklist" : NULL));
	SG_OK(&g, sg_expect_not_allowed(&g, back, "m2", "x@b.example", "u@a.example/r",
	    blocklist != NULL ? "blocklist" : NULL));
	/* Written to the gateway: the bounces settled the stanzas. */
	SG_OK(&g, sg_ask_ack(&g, gw, 2));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 0);

	/* b.example's stream comes up: nothing is left to deliver on it. */
	SG_OK(&g, sg_remote_answer(&g, out, "b.example", "valid"));
	while ((t = sf_peer_next(out)) == XMLSTREAM_EV_ELEMENT)
		CHECK(strcmp(out->ev.name, "message") != 0);
	CHECK_INT_EQ(g.sf.edge->stats.toward[EDGE_TOWARD_REMOTE].delivered, 0);
	/* c.example is still allowed: its stanza still waits. */
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	sg_end(&g);
}

TEST(session_reload_policy_bounces_queued)
{
	trl_bounces_queued(NULL);
}

/* The same when the blocklist's file now lists b.example (reloaded on its
 * own): the bounces carry the blocklist's text.  Before, the stanzas
 * stayed queued and went out to b.example once its stream was
 * authenticated. */
TEST(session_blocklist_reload_bounces_queued)
{
	trl_bounces_queued("# the operator's feed\nb.example\n");
}

/* A stanza the gateway sends after the reload is refused at once, with
 * the same condition (router.c): the reload and the router agree. */
TEST(session_reload_policy_refuses_new)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sg g;
	struct sf_peer *gw, *back;

	sg_begin(&g, SG_CONFIG(TRL_LIMITS));
	sf_dial_script(&g.sf, "b.example", peer, 1);
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_reload(&g.sf, TRL_RELOADED));
	SG_OK(&g, trl_message(gw, "b.example", "m1"));
	SG_PEER(&g, back, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(back, "a.example", "b.example", 1, 0));
	SG_OK(&g, sf_peer_expect(back, "enable", SM_NS));
	SG_OK(&g, sf_peer_send(back, "<failed xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_not_allowed(&g, back, "m1", "x@b.example", "u@a.example/r", NULL));
	CHECK(sf_peer_out(&g.sf, "b.example") == NULL);
	sg_end(&g);
}

/*
 * b.example's own stream authenticated before the reload and delivered
 * m1; after the reload turns b.example off, its next stanza is not
 * delivered to the gateway: the stream ends with <policy-violation/>
 * (the peer keeps the stanza and bounces it).  Before, the stream kept
 * routing to the gateway until it idled out.
 */
TEST(session_reload_policy_ends_inbound_stream)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sg g;
	struct sf_peer *in, *gw;
	enum xmlstream_event_type t;

	sg_begin(&g, SG_CONFIG(TRL_LIMITS));
	sf_dial_script(&g.sf, "b.example", peer, 1);
	SG_PEER(&g, in, sg_remote_in(&g, "b.example"));
	SG_OK(&g, sg_remote_answer(&g, sg_wait_out(&g, "b.example"), "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", "jabber:server:dialback"));
	CHECK_STR_EQ(in->ev.stype, "valid");
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m1'/>"));
	SG_PEER(&g, gw, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_gateway_out_accept(&g, gw, "b.example"));
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "m1");

	SG_OK(&g, sf_reload(&g.sf, TRL_RELOADED));
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m2'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "policy-violation"));
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_in.policy_refused"), 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 1);
	while ((t = sf_peer_next(gw)) == XMLSTREAM_EV_ELEMENT)
		CHECK(strcmp(gw->ev.name, "message") != 0);
	sg_end(&g);
}
