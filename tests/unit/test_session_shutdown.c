/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_shutdown.c - the steps of a graceful shutdown on real
 * sessions (daemon.c's edge_shutdown drives the same calls):
 * s2s_in_shutdown_begin tells an authenticated stream <system-shutdown/>
 * and our close but goes on reading and routing it until its peer closes
 * (RFC 6120 §4.4), router_in_flight counts what waits for an outgoing
 * stream, and s2s_out_bounce_queued bounces only what was queued, leaving
 * the stream open for the bounces behind it.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "router.h"
#include "s2s_in.h"
#include "s2s_out.h"
#include "session_gateway.h"

#define SS_LIMITS "\"connect_timeout_ms\": 60000, \"handshake_timeout_ms\": 600000"

TEST(session_shutdown_reads_to_the_peers_close)
{
	static const struct sf_dial_step hang[] = { { SF_DIAL_HANG, DNS_OK } };
	struct sg g;
	struct sf_peer *in, *gw;
	struct s2s_in *s, *next;
	struct s2s_out *o;
	size_t n = 0;

	sg_begin(&g, SG_CONFIG(SS_LIMITS));
	sf_dial_script(&g.sf, "b.example", hang, 1);
	SG_PEER(&g, in, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(in, "<message from='u@a.example/r' to='x@b.example' id='h1'/>"));
	sf_settle(&g.sf);
	/* Waiting for a stream that does not come up: in flight. */
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 1);
	for (s = g.sf.edge->streams; s != NULL; s = next) {
		next = s2s_in_next(s);
		s2s_in_shutdown_begin(s);
	}
	SG_OK(&g, sf_peer_expect(in, "error", XMLSTREAM_NS_STREAMS));
	CHECK_STR_EQ(in->ev.cond, "system-shutdown");
	CHECK_INT_EQ(sf_peer_next(in), XMLSTREAM_EV_STREAM_CLOSE);
	/* Written before the gateway saw our close: still routed. */
	SG_OK(&g, sf_peer_send(in, "<message from='u@a.example/r' to='x@b.example' id='h2'/>"));
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 2);
	/* Its close ends the stream, with nothing more from us. */
	SG_OK(&g, sf_peer_send(in, "</stream:stream>"));
	sf_settle(&g.sf);
	CHECK(sf_peer_closed(in));
	CHECK_INT_EQ(g.sf.edge->stream_count, 0);
	/* The deadline: both go back to the sender, over a stream back to
	 * the gateway that the bounce starts. */
	for (o = g.sf.edge->out_streams; o != NULL; o = s2s_out_next(o))
		n += s2s_out_bounce_queued(o, (size_t)-1);
	CHECK_INT_EQ(n, 2);
	SG_PEER(&g, gw, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_gateway_out_accept(&g, gw, "b.example"));
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "h1");
	CHECK_STR_EQ(gw->ev.cond, "remote-server-timeout");
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "h2");
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	sg_end(&g);
}

/*
 * s2s_out_bounce_queued with a bound: only the first stanzas go back, the
 * rest stays queued in order (what the shutdown's bounce step relies on
 * when bounces are queued behind a stream's own stanzas).
 */
TEST(session_shutdown_bounce_only_what_was_queued)
{
	static const struct sf_dial_step hang[] = { { SF_DIAL_HANG, DNS_OK } };
	struct sg g;
	struct sf_peer *in, *gw;
	struct s2s_out *o, *target = NULL;

	sg_begin(&g, SG_CONFIG(SS_LIMITS));
	sf_dial_script(&g.sf, "b.example", hang, 1);
	SG_PEER(&g, in, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(in, "<message from='u@a.example/r' to='x@b.example' id='q1'/>"
	    "<message from='u@a.example/r' to='x@b.example' id='q2'/>"
	    "<message from='u@a.example/r' to='x@b.example' id='q3'/>"));
	sf_settle(&g.sf);
	for (o = g.sf.edge->out_streams; o != NULL; o = s2s_out_next(o))
		if (s2s_out_queued_stanzas(o) > 0)
			target = o;
	CHECK(target != NULL);
	CHECK_INT_EQ(s2s_out_bounce_queued(target, 2), 2);
	CHECK_INT_EQ(s2s_out_queued_stanzas(target), 1);
	SG_PEER(&g, gw, sg_wait_out(&g, "a.example"));
	SG_OK(&g, sg_gateway_out_accept(&g, gw, "b.example"));
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "q1");
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "q2");
	/* The third is still the stream's, bounced by the end's shutdown. */
	CHECK_INT_EQ(s2s_out_queued_stanzas(target), 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 2);
	sg_end(&g);
}
