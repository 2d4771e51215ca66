/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_bounce_full.c - no bounce is dropped (issue 21), with the
 * real session code over the memory pipe (session_gateway.h).
 *
 * A partner (b.example, XEP-0198 on its stream into the proxy) sends
 * stanzas for the gateway, which cannot be reached: each is bounced back
 * to b.example over the stream the proxy opens to it.  That stream's
 * receiver does not read (it has not even answered our header yet), so
 * the bounces pile up in its queue:
 *   - past twice limits.route_queue_bytes every bounce must still be
 *     queued (and the partner's stream paused, which bounds them): every
 *     stanza comes back once the receiver reads, none is counted as
 *     undeliverable;
 *   - when a bounce has no way back at all (the dial to b.example fails
 *     at once), the stanza is neither delivered nor bounced: it must not
 *     be acknowledged (XEP-0198 h stays below it) and the stream ends, so
 *     the partner keeps custody and bounces or resends it itself.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "session_gateway.h"
#include "sm.h"

#define TBF_NS_DB "jabber:server:dialback"
/* The smallest queues the schema allows: the cap is 2 x 65536 bytes. */
#define TBF_LIMITS "\"connect_timeout_ms\": 600000, \"handshake_timeout_ms\": 600000, " \
	"\"route_queue_bytes\": 65536, \"send_queue_bytes\": 65536, " \
	"\"sm_settle_timeout_ms\": 600000, \"sm_request_every_ms\": 600000"
/* Enough stanzas for their bounces (about 300 bytes each) to pass
 * twice limits.route_queue_bytes. */
#define TBF_STANZAS 4000

/* b.example's stream into the proxy, authenticated by dialback (the
 * check answered on the first connection the proxy makes to b.example),
 * with XEP-0198 enabled.  *verify: that first connection. */
static void
tbf_partner_in_sm(struct sg *g, struct sf_peer **in, struct sf_peer **verify)
{
	SG_PEER(g, *in, sg_remote_in(g, "b.example"));
	SG_PEER(g, *verify, sg_wait_out(g, "b.example"));
	SG_OK(g, sg_remote_answer(g, *verify, "b.example", "valid"));
	SG_OK(g, sf_peer_expect(*in, "result", TBF_NS_DB));
	CHECK_STR_EQ((*in)->ev.stype, "valid");
	SG_OK(g, sf_peer_send(*in, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(g, sf_peer_expect(*in, "enabled", SM_NS));
}

/* A connection to domain other than not (the one made before). */
static struct sf_peer *
tbf_wait_new_out(struct sg *g, const char *domain, const struct sf_peer *not)
{
	struct sf_peer *p;
	int i;

	for (i = 0; i < SF_TURNS_MAX; i++) {
		p = sf_peer_out(&g->sf, domain);
		if (p != NULL && p != not)
			return p;
		uv_run(g->sf.loop, UV_RUN_NOWAIT);
	}
	snprintf(g->sf.err, sizeof(g->sf.err), "no second connection to %s was made", domain);
	return NULL;
}

/* b.example's stanza number i, for the gateway's side. */
static int
tbf_send_stanza(struct sf_peer *in, int i)
{
	return sf_peer_sendf(in, "<message from='x@b.example/r' to='u@a.example' id='p%d' type='chat'>"
	    "<body>hi</body></message>", i);
}

/* Every bounce is queued, however full the way back: TBF_STANZAS
 * stanzas, their bounces far past twice limits.route_queue_bytes while
 * the receiver does not read, all come back once it does, in order. */
TEST(session_bounce_full_queue_keeps_bounces)
{
	static const struct sf_dial_step b_steps[] = { { SF_DIAL_PEER, DNS_OK }, { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step gw_down = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };
	struct sg g;
	struct sf_peer *in, *verify, *back;
	char want[32];
	int i, bounced = 0, in_order = 1;

	sg_begin(&g, SG_CONFIG(TBF_LIMITS));
	/* The gateway cannot be reached (every later dial fails too: the
	 * script has no more candidates): every stanza for it is bounced. */
	sf_dial_script(&g.sf, "a.example", &gw_down, 1);
	sf_dial_script(&g.sf, "b.example", b_steps, 2);
	tbf_partner_in_sm(&g, &in, &verify);
	for (i = 0; i < TBF_STANZAS; i++)
		SG_OK(&g, tbf_send_stanza(in, i));
	SG_PEER(&g, back, tbf_wait_new_out(&g, "b.example", verify));
	/* Let the proxy read what it will while nobody reads its bounces. */
	for (i = 0; i < 50; i++)
		sf_settle(&g.sf);
	CHECK_INT_EQ(sf_log_count(&g.sf, "route.bounce_undeliverable"), 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	/* Bounded: the partner's stream was paused by the full way back, not
	 * read to its end, and the queue holds bounces of what was read. */
	CHECK(g.sf.edge->stats.reads_paused > 0);
	CHECK(g.sf.edge->stats.stanzas_in < TBF_STANZAS);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), g.sf.edge->stats.stanzas_in - 2);	/* and <db:result/>, <enable/> */
	fprintf(stderr, "  read %llu of %d stanzas while the way back was full\n",
	    (unsigned long long)g.sf.edge->stats.stanzas_in, TBF_STANZAS);
	/* The receiver answers and reads: every bounce, in order. */
	SG_OK(&g, sg_remote_answer(&g, back, "b.example", "valid"));
	for (i = 0; i < TBF_STANZAS; i++) {
		if (sf_peer_next(back) != XMLSTREAM_EV_ELEMENT || strcmp(back->ev.name, "message") != 0)
			break;
		snprintf(want, sizeof(want), "p%d", i);
		if (strcmp(back->ev.stype, "error") == 0 && strcmp(back->ev.cond, "service-unavailable") == 0)
			bounced++;
		if (strcmp(back->ev.id, want) != 0)
			in_order = 0;
	}
	CHECK_INT_EQ(bounced, TBF_STANZAS);
	CHECK(in_order);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, TBF_STANZAS);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	CHECK_INT_EQ(sf_log_count(&g.sf, "route.bounce_undeliverable"), 0);
	/* And the partner hears that all of them are handled. */
	SG_OK(&g, sf_peer_send(in, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "a", SM_NS));
	snprintf(want, sizeof(want), "h='%d'", TBF_STANZAS);
	CHECK(strstr(in->ev.raw, want) != NULL);
	sg_end(&g);
}

/* A bounce with no way back (the connection to b.example fails at once):
 * the stanza is neither delivered nor bounced, so XEP-0198 must not
 * count it: no <a/> with h above 0, and the stream ends (the partner
 * keeps custody: it bounces, or resends, what we never acknowledged). */
TEST(session_bounce_no_route_keeps_custody)
{
	static const struct sf_dial_step b_steps[] = { { SF_DIAL_PEER, DNS_OK },
	    { SF_DIAL_FAIL_NOW, DNS_ERR_NO_ADDRESSES } };
	static const struct sf_dial_step gw_down = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };
	struct sg g;
	struct sf_peer *in, *verify;
	enum xmlstream_event_type t;
	int acked_above_zero = 0, stream_error = 0;

	sg_begin(&g, SG_CONFIG(TBF_LIMITS));
	sf_dial_script(&g.sf, "a.example", &gw_down, 1);
	sf_dial_script(&g.sf, "b.example", b_steps, 2);
	tbf_partner_in_sm(&g, &in, &verify);
	SG_OK(&g, tbf_send_stanza(in, 1));
	SG_OK(&g, sf_peer_send(in, "<r xmlns='" SM_NS "'/>"));
	while ((t = sf_peer_next(in)) == XMLSTREAM_EV_ELEMENT) {
		if (strcmp(in->ev.name, "a") == 0 && strstr(in->ev.raw, "h='0'") == NULL)
			acked_above_zero = 1;
		if (strcmp(in->ev.name, "error") == 0 && strcmp(in->ev.ns, XMLSTREAM_NS_STREAMS) == 0) {
			stream_error = 1;
			CHECK_STR_EQ(in->ev.cond, "internal-server-error");
		}
	}
	CHECK(!acked_above_zero);
	CHECK(stream_error);
	CHECK(sf_peer_closed(in) || in->closed_seen);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	sg_end(&g);
}

/* SG_CONFIG's configuration after an operator's reload that stops
 * federating with b.example. */
#define TBF_RELOAD_LIMITS "\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, " \
	"\"sm_settle_timeout_ms\": 600000, \"sm_request_every_ms\": 600000"
#define TBF_RELOADED "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" TBF_RELOAD_LIMITS "}," \
	" \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {\"b.example\": {\"allow\": false}}}}"

/* A reload (SIGHUP) while a partner's stanza waits for the gateway
 * turns federation with the partner off; then the gateway cannot be
 * reached, and the bounce may not go back (policy).  The stanza is
 * neither delivered nor bounced: the partner must not hear it was
 * handled. */
TEST(session_bounce_policy_reload_keeps_custody)
{
	static const struct sf_dial_step b_steps[] = { { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step gw_hang = { SF_DIAL_HANG, DNS_OK };
	char err[CONFIG_ERR_MAX] = "";
	struct config *next, *old;
	struct sg g;
	struct sf_peer *in, *verify;
	enum xmlstream_event_type t;
	int acked_above_zero = 0, stream_error = 0;

	sg_begin(&g, SG_CONFIG(TBF_RELOAD_LIMITS));
	sf_dial_script(&g.sf, "a.example", &gw_hang, 1);
	sf_dial_script(&g.sf, "b.example", b_steps, 1);
	tbf_partner_in_sm(&g, &in, &verify);
	SG_OK(&g, tbf_send_stanza(in, 1));
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);	/* waits for the gateway */
	/* The reload, as edge_reload swaps the configuration. */
	next = config_parse("reload.json", TBF_RELOADED, strlen(TBF_RELOADED), 0, err, sizeof(err));
	if (next == NULL)
		fprintf(stderr, "  config: %s\n", err);
	REQUIRE(next != NULL);
	old = g.sf.edge->cfg;
	g.sf.edge->cfg = next;
	config_free(old);
	/* The gateway's connect deadline passes. */
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
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 1);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	sg_end(&g);
}

/* An error stanza that cannot be delivered is never answered with an
 * error (RFC 6120 §8.3.1): logged, counted, and settled (nobody could do
 * more with it), so it does not hold back the partner's acks. */
TEST(session_bounce_error_stanza_counted_and_settled)
{
	static const struct sf_dial_step b_steps[] = { { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step gw_down = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };
	struct sg g;
	struct sf_peer *in, *verify;

	sg_begin(&g, SG_CONFIG(TBF_LIMITS));
	sf_dial_script(&g.sf, "a.example", &gw_down, 1);
	sf_dial_script(&g.sf, "b.example", b_steps, 1);
	tbf_partner_in_sm(&g, &in, &verify);
	SG_OK(&g, sf_peer_send(in, "<message from='x@b.example/r' to='u@a.example' id='e1' type='error'>"
	    "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
	    "</message><r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "a", SM_NS));
	if (strstr(in->ev.raw, "h='1'") == NULL) {
		/* The <r/> may be answered before the gateway's dial fails. */
		SG_OK(&g, sf_peer_expect(in, "a", SM_NS));
	}
	CHECK(strstr(in->ev.raw, "h='1'") != NULL);
	CHECK_INT_EQ(sf_log_count(&g.sf, "route.error_not_bounced"), 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 0);
	CHECK(!sf_peer_closed(in));
	sg_end(&g);
}
