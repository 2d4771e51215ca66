/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_blocklist_reload.c - the blocklist reloaded on its own
 * (its file polled, blocklist_edge.c; sf_blocklist_reload runs the same
 * blocklist_apply) holds on every path a stanza may already be on, with
 * the real session code over the memory pipe (session_gateway.h).
 *
 * The rule: nothing from a domain listed by the reload reaches the
 * gateway, nothing goes out to one, and a stanza that was on its way is
 * bounced with the router's own error, never dropped:
 *   - stanzas queued toward a newly listed domain, not written yet, go
 *     back to the gateway (<not-allowed/>), their XEP-0198 custody with
 *     their bounces (s2s_out_policy_reloaded, as for a configuration
 *     reload that no longer allows a partner, test_session_reload.c);
 *   - an inbound stream from a newly listed domain, authenticated
 *     before, ends with <policy-violation/> at its next stanza, though
 *     the stream kept the routing checks of its last stanza (s2s_in.c:
 *     the reload drops them, edge->cfg_generation);
 *   - the gateway's stream, which kept its last pair's checks too, gets
 *     its next stanza for the listed domain bounced;
 *   - a dialback check under way when the reload comes is answered
 *     <not-allowed/>, not valid (s2s_in_auth.c), the same for a
 *     configuration reload;
 *   - a bounce toward a listed domain has no way back: no stream is
 *     opened to it, the stanza's custody is kept and its stream ended
 *     (the peer bounces or resends it).
 * And the contact set (strangers), changed at runtime by `strangers
 * clear`, holds on a stream that kept its last pair's checks.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "router.h"
#include "s2s_in_int.h"
#include "session_gateway.h"
#include "sm.h"
#include "strangers.h"

#define TBR_NS_DB "jabber:server:dialback"
#define TBR_LIMITS "\"connect_timeout_ms\": 600000, \"handshake_timeout_ms\": 600000, " \
	"\"sm_settle_timeout_ms\": 600000, \"sm_request_every_ms\": 600000"
/* b.example listed; and a wildcard entry that lists it as well. */
#define TBR_LIST_B "# the operator's feed\nb.example\n"
#define TBR_LIST_WILD "*.b.example\nb.example # and the domain itself\n"
/* SG_CONFIG after a configuration reload that no longer allows b.example. */
#define TBR_B_REFUSED "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" TBR_LIMITS "}," \
	" \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {" \
	"\"b.example\": {\"allow\": false, \"tls\": \"disabled\"}, \"c.example\": {\"tls\": \"disabled\"}}}}"

static int
tbr_message(struct sf_peer *p, const char *to_domain, const char *id)
{
	return sf_peer_sendf(p, "<message from='u@a.example/r' to='x@%s' id='%s' type='chat'>"
	    "<body>hi</body></message>", to_domain, id);
}

/* The stream back to the gateway the proxy opens for bounces (the
 * gateway refuses the <enable/> the proxy sends it). */
static struct sf_peer *
tbr_gateway_back(struct sg *g, const char *remote)
{
	struct sf_peer *back = sg_wait_out(g, "a.example");

	if (back == NULL || sg_sm_accept(back, "a.example", remote, 1, 0) < 0 ||
	    sf_peer_expect(back, "enable", SM_NS) < 0 ||
	    sf_peer_send(back, "<failed xmlns='" SM_NS "'/>") < 0)
		return NULL;
	return back;
}

/* session_blocklist_reload_bounces_queued is in test_session_reload.c:
 * the configuration reload's scenario with a blocklist reload. */

/* A reload that lists nothing new bounces nothing: queued stanzas for
 * allowed partners stay queued (the walk is not a flush). */
TEST(session_blocklist_reload_unrelated_keeps_queued)
{
	static const struct sf_dial_step hang[] = { { SF_DIAL_HANG, DNS_OK } };
	struct sg g;
	struct sf_peer *gw;

	sg_begin(&g, SG_CONFIG(TBR_LIMITS));
	sf_dial_script(&g.sf, "b.example", hang, 1);
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, tbr_message(gw, "b.example", "m1"));
	sf_settle(&g.sf);
	SG_OK(&g, sf_blocklist_reload(&g.sf, "spam.example\n*.b.example\n"));
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_out.policy_refused"), 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	sg_end(&g);
}

/* b.example's stream, authenticated by dialback, with m1 relayed to the
 * gateway (the stream keeps that pair's checks).  *gwo: the gateway's. */
static struct sf_peer *
tbr_partner_relaying(struct sg *g, struct sf_peer **gwo)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sf_peer *in;

	sf_dial_script(&g->sf, "b.example", peer, 1);
	SG_PEER(g, in, sg_remote_in(g, "b.example"));
	SG_OK(g, sg_remote_answer(g, sg_wait_out(g, "b.example"), "b.example", "valid"));
	SG_OK(g, sf_peer_expect(in, "result", TBR_NS_DB));
	CHECK_STR_EQ(in->ev.stype, "valid");
	SG_OK(g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m1'/>"));
	SG_PEER(g, *gwo, sg_wait_out(g, "a.example"));
	SG_OK(g, sg_gateway_out_accept(g, *gwo, "b.example"));
	SG_OK(g, sf_peer_expect(*gwo, "message", NULL));
	CHECK_STR_EQ((*gwo)->ev.id, "m1");
	REQUIRE(g->sf.edge->streams != NULL && g->sf.edge->streams->route_pair != NULL);
	return in;
}

/*
 * b.example's stream authenticated before the blocklist listed it; its
 * next stanza, addressed as the last (the stream's kept checks would
 * serve it), ends the stream with <policy-violation/> as after a
 * configuration reload; nothing more reaches the gateway.  Before, the
 * kept checks passed it to the router, which bounced it back to
 * b.example and kept the stream open for more.
 */
TEST(session_blocklist_reload_ends_inbound_stream)
{
	struct sg g;
	struct sf_peer *in, *gw;
	enum xmlstream_event_type t;

	sg_begin(&g, SG_CONFIG(TBR_LIMITS));
	in = tbr_partner_relaying(&g, &gw);
	SG_OK(&g, sf_blocklist_reload(&g.sf, TBR_LIST_WILD));
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m2'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "policy-violation"));
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_in.policy_refused"), 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	while ((t = sf_peer_next(gw)) == XMLSTREAM_EV_ELEMENT)
		CHECK(strcmp(gw->ev.name, "message") != 0);
	sg_end(&g);
}

/* An entry for another domain changes nothing for b.example's stream,
 * though its kept checks were dropped: the next stanza is checked in
 * full and relayed. */
TEST(session_blocklist_reload_other_domain_keeps_stream)
{
	struct sg g;
	struct sf_peer *in, *gw;

	sg_begin(&g, SG_CONFIG(TBR_LIMITS));
	in = tbr_partner_relaying(&g, &gw);
	SG_OK(&g, sf_blocklist_reload(&g.sf, "c.example\n"));
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m2'/>"));
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "m2");
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_in.policy_refused"), 0);
	sg_end(&g);
}

/*
 * The gateway's stream relayed m1 to b.example (its kept checks are for
 * that pair); after the blocklist lists b.example, m2 on the same pair
 * is bounced (<not-allowed/>) and nothing more goes out to b.example.
 * This held before: the router asks the blocklist about every stanza's
 * destination; the test keeps it so.
 */
TEST(session_blocklist_reload_gateway_kept_pair)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	struct sf_peer *gw, *b, *back;
	struct sg g;

	sg_begin(&g, SG_CONFIG(TBR_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, tbr_message(gw, "b.example", "m1"));
	SG_PEER(&g, b, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_sm_accept(b, "b.example", "a.example", 0, 0));
	SG_OK(&g, sf_peer_expect(b, "message", NULL));
	CHECK_STR_EQ(b->ev.id, "m1");
	REQUIRE(g.sf.edge->streams != NULL && g.sf.edge->streams->route_pair != NULL);
	SG_OK(&g, sf_blocklist_reload(&g.sf, TBR_LIST_B));
	SG_OK(&g, tbr_message(gw, "b.example", "m2"));
	SG_PEER(&g, back, tbr_gateway_back(&g, "b.example"));
	SG_OK(&g, sg_expect_not_allowed(&g, back, "m2", "x@b.example", "u@a.example/r", "blocklist"));
	CHECK_INT_EQ(sf_peer_next(b), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(g.sf.edge->stats.toward[EDGE_TOWARD_REMOTE].delivered, 1);
	sg_end(&g);
}

/*
 * b.example asks to be authenticated by dialback; the check goes to its
 * authoritative server, and while it runs a reload refuses b.example.
 * The check's valid answer must not authenticate it: the stream hears
 * <db:result type='error'> with <not-allowed/> (the answer to asking
 * now), and a stanza from b.example is refused as from an
 * unauthenticated domain.  Before, it heard type='valid' and its
 * stanzas reached the router.  reload: 0 the blocklist, 1 the
 * configuration.
 */
static void
tbr_reload_mid_dialback(int config_reload)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sf_peer *in, *auth;
	struct sg g;

	sg_begin(&g, SG_CONFIG(TBR_LIMITS));
	sf_dial_script(&g.sf, "b.example", peer, 1);
	SG_PEER(&g, in, sg_remote_in(&g, "b.example"));
	SG_PEER(&g, auth, sg_wait_out(&g, "b.example"));
	sf_settle(&g.sf);
	if (config_reload)
		SG_OK(&g, sf_reload(&g.sf, TBR_B_REFUSED));
	else
		SG_OK(&g, sf_blocklist_reload(&g.sf, TBR_LIST_B));
	SG_OK(&g, sg_remote_answer(&g, auth, "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", TBR_NS_DB));
	CHECK_STR_EQ(in->ev.stype, "error");
	CHECK_STR_EQ(in->ev.cond, "not-allowed");
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_in.auth"), 1);
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m1'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "not-authorized"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 0);
	sg_end(&g);
}

TEST(session_blocklist_reload_mid_dialback_refuses)
{
	tbr_reload_mid_dialback(0);
}

TEST(session_reload_mid_dialback_refuses)
{
	tbr_reload_mid_dialback(1);
}

/*
 * b.example's stanza (XEP-0198 on its stream) waits for the gateway,
 * which does not answer; the blocklist then lists b.example, and the
 * gateway's connect deadline passes.  The bounce would go to b.example:
 * it has no way back (router_start_stream opens no stream to a listed
 * domain), so no connection is made to b.example, the stanza is not
 * acknowledged and b.example's stream ends (it keeps custody).
 */
TEST(session_blocklist_reload_bounce_has_no_way_back)
{
	static const struct sf_dial_step b_steps[] = { { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step gw_hang = { SF_DIAL_HANG, DNS_OK };
	struct sg g;
	struct sf_peer *in, *verify;
	enum xmlstream_event_type t;
	int acked_above_zero = 0, stream_error = 0;

	sg_begin(&g, SG_CONFIG("\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, "
	    "\"sm_settle_timeout_ms\": 600000, \"sm_request_every_ms\": 600000"));
	sf_dial_script(&g.sf, "a.example", &gw_hang, 1);
	sf_dial_script(&g.sf, "b.example", b_steps, 1);
	SG_PEER(&g, in, sg_remote_in(&g, "b.example"));
	SG_PEER(&g, verify, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_remote_answer(&g, verify, "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", TBR_NS_DB));
	CHECK_STR_EQ(in->ev.stype, "valid");
	SG_OK(&g, sf_peer_send(in, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "enabled", SM_NS));
	SG_OK(&g, sf_peer_send(in, "<message from='u@b.example' to='v@a.example' id='m1'/>"));
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	SG_OK(&g, sf_blocklist_reload(&g.sf, TBR_LIST_B));
	/* Queued toward the gateway, not toward b.example: it stays. */
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	(void)sf_advance(&g.sf, 6000);
	SG_OK(&g, sf_peer_send(in, "<r xmlns='" SM_NS "'/>"));
	while ((t = sf_peer_next(in)) == XMLSTREAM_EV_ELEMENT) {
		if (strcmp(in->ev.name, "a") == 0 && strstr(in->ev.raw, "h='0'") == NULL)
			acked_above_zero = 1;
		if (strcmp(in->ev.name, "error") == 0 && strcmp(in->ev.ns, XMLSTREAM_NS_STREAMS) == 0)
			stream_error = 1;
	}
	CHECK(!acked_above_zero);
	CHECK(stream_error);
	CHECK(sf_peer_out(&g.sf, "b.example") == verify);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	sg_end(&g);
}

/* --- the strangers list changes at runtime ---------------------------------- */

/* SG_CONFIG with b.example's users let in only as contacts (strangers:
 * refuse), the contact set kept in state_dir. */
#define TBR_STRANGERS_CONFIG "{\"state_dir\": \"%s\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" TBR_LIMITS "}," \
	" \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {" \
	"\"b.example\": {\"tls\": \"disabled\", \"strangers\": \"refuse\"}}}}"

/*
 * x@b.example is a contact (the gateway wrote to it) and its message
 * reaches the gateway over b.example's stream, which keeps that pair's
 * checks.  `strangers clear` empties the set: the next message, addressed
 * as the last, is refused (strangers.refused, not relayed).  This held
 * before (the router asks the set about every stanza, the stream's kept
 * checks are not about contacts); the test keeps it so.
 */
TEST(session_strangers_clear_takes_effect_on_kept_pair)
{
	static const struct sf_dial_step b_steps[] = { { SF_DIAL_PEER, DNS_OK },
	    { SF_DIAL_HANG, DNS_OK } };
	char dir[] = "/tmp/xe-strangers-XXXXXX", config[2048], path[sizeof(dir) + 64];
	struct sf_peer *in, *gw, *gwo;
	size_t outlen = 0;
	char *out;
	struct sg g;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(config, sizeof(config), TBR_STRANGERS_CONFIG, dir);
	sg_begin(&g, config);
	strangers_start(g.sf.edge);
	REQUIRE(g.sf.edge->strangers != NULL);
	sf_dial_script(&g.sf, "b.example", b_steps, 2);
	SG_PEER(&g, in, sg_remote_in(&g, "b.example"));
	SG_OK(&g, sg_remote_answer(&g, sg_wait_out(&g, "b.example"), "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", TBR_NS_DB));
	CHECK_STR_EQ(in->ev.stype, "valid");
	/* The gateway writes to x@b.example: a contact from now on. */
	SG_PEER(&g, gw, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, tbr_message(gw, "b.example", "g1"));
	sf_settle(&g.sf);
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example/r' to='u@a.example' id='m1'/>"));
	SG_PEER(&g, gwo, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_gateway_out_accept(&g, gwo, "b.example"));
	SG_OK(&g, sf_peer_expect(gwo, "message", NULL));
	CHECK_STR_EQ(gwo->ev.id, "m1");
	REQUIRE(g.sf.edge->streams != NULL);

	out = strangers_control(g.sf.edge, "clear", &outlen);
	REQUIRE(out != NULL);
	CHECK(strstr(out, "\"cleared\":1") != NULL);
	free(out);
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example/r' to='u@a.example' id='m2'/>"));
	sf_settle(&g.sf);
	CHECK_INT_EQ(sf_log_count(&g.sf, "strangers.refused"), 1);
	CHECK_INT_EQ(sf_peer_next(gwo), XMLSTREAM_EV_NONE);
	strangers_stop(g.sf.edge);
	sg_end(&g);
	snprintf(path, sizeof(path), "%s/%s", dir, STRANGERS_FILE);
	(void)unlink(path);
	(void)rmdir(dir);
}
