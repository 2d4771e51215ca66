/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_drain.c - a graceful shutdown on streams with XEP-0198
 * (issue 21, item 4), with the real session code over the memory pipe
 * (session_gateway.h), driven by the calls daemon.c's steps make:
 *   - DRAIN: an inbound stream with XEP-0198 takes no stanza any more
 *     (read, not routed, not counted in h), answers <r/>, and once every
 *     stanza it took is settled sends its last <a h/> -- equal to what
 *     the next hop acknowledged -- then <system-shutdown/> and its close;
 *   - a stanza the edge bounces counts in that h;
 *   - an outgoing stream with stanzas unacknowledged asks for an <a h/>
 *     before it closes, instead of bouncing what the peer has.
 * Every test here fails on a shutdown that tells <system-shutdown/> at
 * once (the peer then bounces what the edge delivered: "both" in
 * tests/faults).
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "router.h"
#include "s2s_in.h"
#include "s2s_out.h"
#include "session_gateway.h"
#include "sm.h"

#define TDR_LIMITS "\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, " \
	"\"sm_settle_timeout_ms\": 5000, \"sm_request_every_ms\": 1000"

static int
tdr_message(struct sf_peer *p, const char *id)
{
	return sf_peer_sendf(p, "<message from='u@a.example/r' to='x@b.example' id='%s' type='chat'>"
	    "<body>hi</body></message>", id);
}

static void
tdr_expect_nothing(struct sf_peer *p)
{
	enum xmlstream_event_type t = sf_peer_next(p);

	if (t != XMLSTREAM_EV_NONE)
		fprintf(stderr, "  peer %d: unexpected %s\n", p->index, p->ev.raw ? p->ev.raw : p->ev.name);
	CHECK_INT_EQ(t, XMLSTREAM_EV_NONE);
}

/* <system-shutdown/> and the end of our stream (the connection stays:
 * the peer's side is read on until it closes). */
static void
tdr_expect_goodbye(struct sg *g, struct sf_peer *p)
{
	SG_OK(g, sf_peer_expect(p, "error", XMLSTREAM_NS_STREAMS));
	CHECK_STR_EQ(p->ev.cond, "system-shutdown");
	CHECK_INT_EQ(sf_peer_next(p), XMLSTREAM_EV_STREAM_CLOSE);
}

/* daemon.c's edge_shutdown, its DRAIN step: the calls on the streams. */
static void
tdr_drain_begin(struct sg *g)
{
	struct edge *edge = g->sf.edge;
	struct s2s_in *s, *next;
	struct s2s_out *o;

	edge->shutting_down = 1;
	edge->shutdown_phase = EDGE_SHUTDOWN_DRAIN;
	edge->shutting_down_since = (int64_t)uv_now(edge->loop);
	for (s = edge->streams; s != NULL; s = next) {
		next = s2s_in_next(s);
		s2s_in_shutdown_begin(s);
	}
	for (o = edge->out_streams; o != NULL; o = s2s_out_next(o))
		s2s_out_shutdown_begin(o);
	sf_settle(&g->sf);
}

/*
 * The gateway's stream (XEP-0198 on) sends m1, m2 to b.example; the
 * proxy's stream to b.example (XEP-0198 on) writes both.  *gw, *b.
 */
static void
tdr_two_in_flight(struct sg *g, struct sf_peer **gw, struct sf_peer **b)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };

	sf_dial_script(&g->sf, "b.example", &peer, 1);
	SG_PEER(g, *gw, sg_gateway_in(g, "a.example", "b.example"));
	SG_OK(g, sf_peer_send(*gw, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(g, sf_peer_expect(*gw, "enabled", SM_NS));
	SG_OK(g, tdr_message(*gw, "m1"));
	SG_OK(g, tdr_message(*gw, "m2"));
	SG_PEER(g, *b, sg_wait_out(g, "b.example"));
	SG_OK(g, sg_sm_accept(*b, "b.example", "a.example", 0, 1));
	SG_OK(g, sf_peer_expect(*b, "message", NULL));
	CHECK_STR_EQ((*b)->ev.id, "m1");
	SG_OK(g, sf_peer_expect(*b, "message", NULL));
	CHECK_STR_EQ((*b)->ev.id, "m2");
	SG_OK(g, sf_peer_expect(*b, "r", SM_NS));
}

/*
 * SIGTERM with two stanzas delivered and not yet acknowledged by the next
 * hop: the previous hop hears nothing final until the next hop
 * acknowledges, then exactly <a h='2'/>, <system-shutdown/> and our
 * close.  What it sent after the drain began (m3, and m4 after our
 * goodbye) is neither acknowledged nor routed: it still holds them.
 */
TEST(session_drain_sm_last_ack_covers_delivered)
{
	struct sg g;
	struct sf_peer *gw, *b;

	sg_begin(&g, SG_CONFIG(TDR_LIMITS));
	tdr_two_in_flight(&g, &gw, &b);
	tdr_drain_begin(&g);
	/* Still open, still answering: h counts none of the two yet. */
	SG_OK(&g, tdr_message(gw, "m3"));
	SG_OK(&g, sf_peer_send(gw, "<r xmlns='" SM_NS "'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 0));
	tdr_expect_nothing(gw);
	tdr_expect_nothing(b);		/* m3 not routed */
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 2);
	/* The next hop acknowledges both: the last <a h/>, then goodbye. */
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='2'/>"));
	SG_OK(&g, sg_expect_ack(&g, gw, 2));
	tdr_expect_goodbye(&g, gw);
	/* Written before it saw our close: read, not taken. */
	SG_OK(&g, tdr_message(gw, "m4"));
	SG_OK(&g, sf_peer_send(gw, "</stream:stream>"));
	sf_settle(&g.sf);
	CHECK(sf_peer_closed(gw));
	CHECK_INT_EQ(g.sf.edge->stream_count, 0);
	tdr_expect_nothing(b);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 2);
	CHECK_INT_EQ(g.sf.edge->stats.shutdown_left_with_peer, 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	sg_end(&g);
}

/* Nothing in custody when the drain begins: the last <a h/> and the
 * goodbye go out at once. */
TEST(session_drain_sm_nothing_in_flight)
{
	struct sg g;
	struct sf_peer *gw, *b;

	sg_begin(&g, SG_CONFIG(TDR_LIMITS));
	tdr_two_in_flight(&g, &gw, &b);
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='2'/>"));
	sf_settle(&g.sf);
	tdr_expect_nothing(gw);		/* not asked: no <a/> yet */
	tdr_drain_begin(&g);
	SG_OK(&g, sg_expect_ack(&g, gw, 2));
	tdr_expect_goodbye(&g, gw);
	sg_end(&g);
}

/*
 * The next hop never acknowledges: at the end the outgoing stream is
 * closed (the first s2s_out_shutdown asks, the second closes), its
 * unacknowledged stanzas are bounced, and the bounce counts in the last
 * h the gateway hears (it must not bounce them a second time).
 */
TEST(session_drain_sm_bounced_count_in_h)
{
	struct sg g;
	struct sf_peer *gw, *b, *back;
	struct s2s_out *o;
	int pass;

	sg_begin(&g, SG_CONFIG(TDR_LIMITS));
	tdr_two_in_flight(&g, &gw, &b);
	tdr_drain_begin(&g);
	tdr_expect_nothing(gw);
	/* The CLOSE step, then its forced end (daemon.c). */
	for (pass = 0; pass < 2; pass++) {
		for (o = g.sf.edge->out_streams; o != NULL; o = s2s_out_next(o))
			s2s_out_shutdown(o);
		sf_settle(&g.sf);
		if (pass == 0) {
			CHECK(!sf_peer_closed(b));	/* waits for its <a h/> */
			tdr_expect_nothing(gw);
		}
	}
	/* The bounces go back to the gateway on a stream of their own. */
	SG_PEER(&g, back, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_sm_accept(back, "a.example", "b.example", 1, 0));
	SG_OK(&g, sf_peer_expect(back, "enable", SM_NS));
	SG_OK(&g, sf_peer_send(back, "<failed xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(back, "message", NULL));
	CHECK_STR_EQ(back->ev.id, "m1");
	CHECK_STR_EQ(back->ev.cond, "remote-server-timeout");
	SG_OK(&g, sg_expect_ack(&g, gw, 2));
	tdr_expect_goodbye(&g, gw);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 2);
	sg_end(&g);
}

/* An outgoing stream with a stanza unacknowledged, closed by the
 * shutdown: it asks (<r/>) and closes once the <a h/> comes, bouncing
 * nothing; the source hears h='2' and goodbye. */
TEST(session_drain_sm_outgoing_waits_for_ack)
{
	struct sg g;
	struct sf_peer *gw, *b;
	struct s2s_out *o;

	sg_begin(&g, SG_CONFIG(TDR_LIMITS));
	tdr_two_in_flight(&g, &gw, &b);
	tdr_drain_begin(&g);
	for (o = g.sf.edge->out_streams; o != NULL; o = s2s_out_next(o))
		s2s_out_shutdown(o);
	sf_settle(&g.sf);
	CHECK(!sf_peer_closed(b));
	tdr_expect_nothing(b);		/* its <r/> is still outstanding */
	SG_OK(&g, sf_peer_send(b, "<a xmlns='" SM_NS "' h='2'/>"));
	CHECK_INT_EQ(sf_peer_next(b), XMLSTREAM_EV_STREAM_CLOSE);
	SG_OK(&g, sg_expect_ack(&g, gw, 2));
	tdr_expect_goodbye(&g, gw);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_acked, 2);
	sg_end(&g);
}
