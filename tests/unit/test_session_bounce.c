/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_bounce.c - a stanza that cannot be delivered goes back to
 * its sender, once, with the RFC 6120 §8.3.3 condition of the failure,
 * whatever the failure: DNS, connect, TLS, authentication, a stream error
 * from the remote server, a full queue, the connect deadline, shutdown.
 *
 * The gateway (session_gateway.h) sends from u@a.example to a remote
 * domain; the outgoing stream fails as scripted; the bounce must arrive
 * on the stream the proxy opens back to the gateway, addressed to the
 * sender with 'id' kept, exactly once, and nothing else with it.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "session_gateway.h"

#define SB_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define SB_LIMITS "\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, " \
	"\"route_queue_bytes\": 65536, \"send_queue_bytes\": 65536"

/* The next element on the gateway's stream is the bounce of stanza id:
 * a message of type error from 'from' to 'to' (the sender), condition
 * cond of type etype.  0 or -1. */
static int
sb_expect_bounce(struct sg *g, struct sf_peer *gw, const char *id, const char *from,
    const char *to, const char *cond, const char *etype)
{
	if (sf_peer_expect(gw, "message", NULL) < 0)
		return -1;
	if (strcmp(gw->ev.stype, "error") != 0 || strcmp(gw->ev.id, id) != 0 ||
	    strcmp(gw->ev.from, from) != 0 || strcmp(gw->ev.to, to) != 0 ||
	    strcmp(gw->ev.cond, cond) != 0 || strcmp(gw->ev.error_type, etype) != 0) {
		snprintf(g->sf.err, sizeof(g->sf.err), "expected the %s bounce of %s (%s) to %s, got "
		    "cond %s type %s: %s", cond, id, etype, to, gw->ev.cond, gw->ev.error_type, gw->ev.raw);
		return -1;
	}
	return 0;
}

/* Nothing more arrives on p. */
static void
sb_expect_nothing(struct sg *g, struct sf_peer *p)
{
	enum xmlstream_event_type t = sf_peer_next(p);

	if (t != XMLSTREAM_EV_NONE)
		fprintf(stderr, "  peer %d: unexpected %s\n", p->index, p->ev.raw ? p->ev.raw : p->ev.name);
	CHECK_INT_EQ(t, XMLSTREAM_EV_NONE);
	(void)g;
}

/* The gateway's stanza to x@remote; the dialer answers for remote with
 * steps.  Returns the gateway's inbound peer. */
static struct sf_peer *
sb_send_from_gateway(struct sg *g, const char *remote, const struct sf_dial_step *steps,
    size_t nsteps, const char *id)
{
	struct sf_peer *in;

	sf_dial_script(&g->sf, remote, steps, nsteps);
	SG_PEER(g, in, sg_gateway_in(g, "a.example", remote));
	SG_OK(g, sf_peer_sendf(in, "<message from='u@a.example/r' to='x@%s' id='%s' type='chat'>"
	    "<body>hello</body></message>", remote, id));
	return in;
}

/* The stream back to the gateway for remote's bounces, negotiated. */
static struct sf_peer *
sb_gateway_back(struct sg *g, const char *remote)
{
	struct sf_peer *gw;

	SG_PEER(g, gw, sg_wait_out(g, "a.example"));
	SG_OK(g, sg_gateway_out_accept(g, gw, remote));
	return gw;
}

/* One failure kind end to end: the stanza, the scripted failure, the
 * bounce, once. */
static void
sb_one(const struct sf_dial_step *steps, size_t nsteps, const char *cond, const char *etype)
{
	struct sg g;
	struct sf_peer *gw;

	sg_begin(&g, SG_CONFIG(SB_LIMITS));
	(void)sb_send_from_gateway(&g, "b.example", steps, nsteps, "k1");
	gw = sb_gateway_back(&g, "b.example");
	SG_OK(&g, sb_expect_bounce(&g, gw, "k1", "x@b.example", "u@a.example/r", cond, etype));
	sb_expect_nothing(&g, gw);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	/* Per way: the stanza was on its way to a remote server; its bounce
	 * went the other way, written toward the gateway. */
	CHECK_INT_EQ(g.sf.edge->stats.toward[EDGE_TOWARD_REMOTE].bounced, 1);
	CHECK_INT_EQ(g.sf.edge->stats.toward[EDGE_TOWARD_GATEWAY].bounced, 0);
	CHECK_INT_EQ(g.sf.edge->stats.toward[EDGE_TOWARD_GATEWAY].delivered, 1);
	CHECK_INT_EQ(g.sf.edge->stats.toward[EDGE_TOWARD_REMOTE].delivered, 0);
	sg_end(&g);
}

/* RFC 6120 §8.3.3.16: the domain does not exist. */
TEST(session_bounce_dns_nxdomain)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_FAIL, DNS_ERR_NXDOMAIN } };

	sb_one(s, 1, "remote-server-not-found", "cancel");
}

/* The same known at once: the dialer refuses to start (a name that
 * cannot be queried). */
TEST(session_bounce_dns_failure_known_at_once)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_FAIL_NOW, DNS_ERR_BAD_NAME } };

	sb_one(s, 1, "remote-server-not-found", "cancel");
}

/* §8.3.3.17: the resolver did not answer in time: the server may exist. */
TEST(session_bounce_dns_timeout)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_FAIL, DNS_ERR_TIMEOUT } };

	sb_one(s, 1, "remote-server-timeout", "wait");
}

/* §8.3.3.17: resolved, but every address refused the connection. */
TEST(session_bounce_connect_refused)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED } };

	sb_one(s, 1, "remote-server-timeout", "wait");
}

/* The connect deadline (limits.connect_timeout_ms) passes with no answer:
 * §8.3.3.17. */
TEST(session_bounce_connect_deadline)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_HANG, DNS_OK } };
	struct sg g;
	struct sf_peer *gw;

	sg_begin(&g, SG_CONFIG(SB_LIMITS));
	(void)sb_send_from_gateway(&g, "b.example", s, 1, "k1");
	sf_settle(&g.sf);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	/* Time passes: only the connect deadline is due within it. */
	CHECK(sf_advance(&g.sf, 5000) >= 1);
	gw = sb_gateway_back(&g, "b.example");
	SG_OK(&g, sb_expect_bounce(&g, gw, "k1", "x@b.example", "u@a.example/r",
	    "remote-server-timeout", "wait"));
	sb_expect_nothing(&g, gw);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	sg_end(&g);
}

/* The outgoing stream connects and then fails as provoke makes it fail
 * (on the receiving server's peer); the bounce arrives once. */
static void
sb_remote_fails(const char *remote, void (*provoke)(struct sg *, struct sf_peer *),
    const char *cond, const char *etype)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };
	char from[64];
	struct sg g;
	struct sf_peer *out, *gw;

	snprintf(from, sizeof(from), "x@%s", remote);
	sg_begin(&g, SG_CONFIG(SB_LIMITS));
	(void)sb_send_from_gateway(&g, remote, s, 1, "k1");
	SG_PEER(&g, out, sg_wait_out(&g, remote));
	provoke(&g, out);
	gw = sb_gateway_back(&g, remote);
	SG_OK(&g, sb_expect_bounce(&g, gw, "k1", from, "u@a.example/r", cond, etype));
	sb_expect_nothing(&g, gw);
	CHECK(sf_peer_closed(out));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	sg_end(&g);
}

static void
sb_dialback_invalid(struct sg *g, struct sf_peer *out)
{
	SG_OK(g, sg_remote_answer(g, out, "b.example", "invalid"));
}

static void
sb_dialback_error(struct sg *g, struct sf_peer *out)
{
	SG_OK(g, sg_remote_answer(g, out, "b.example", "error"));
}

static void
sb_stream_error(struct sg *g, struct sf_peer *out)
{
	SG_OK(g, sf_peer_send_header(out, "b.example", "a.example"));
	SG_OK(g, sf_peer_send(out, "<stream:error><host-unknown "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"));
}

/* Garbage answers our ClientHello after <proceed/>. */
static void
sb_tls_garbage(struct sg *g, struct sf_peer *out)
{
	SG_OK(g, sf_peer_send_header(out, "t.example", "a.example"));
	SG_OK(g, sf_peer_send(out, "<stream:features><starttls xmlns='" SB_NS_TLS "'><required/>"
	    "</starttls></stream:features>"));
	SG_OK(g, sf_peer_expect(out, "starttls", SB_NS_TLS));
	SG_OK(g, sf_peer_send(out, "<proceed xmlns='" SB_NS_TLS "'/>"));
	sf_settle(&g->sf);
	SG_OK(g, sf_peer_send(out, "HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS at all\r\n"));
}

/* The receiving server refuses our dialback key (XEP-0220 §2.1.3):
 * §8.3.3.16 for the sender. */
TEST(session_bounce_auth_refused)
{
	sb_remote_fails("b.example", sb_dialback_invalid, "remote-server-not-found", "cancel");
}

/* A dialback error (XEP-0220 §2.5: "remote-server-timeout" for what
 * was queued). */
TEST(session_bounce_auth_error)
{
	sb_remote_fails("b.example", sb_dialback_error, "remote-server-timeout", "wait");
}

/* The receiving server ends the stream with an error before we are
 * authenticated: the next candidate is tried; with none left, the
 * sender hears §8.3.3.17 (resolved, no stream could be established). */
TEST(session_bounce_stream_error_from_remote)
{
	sb_remote_fails("b.example", sb_stream_error, "remote-server-timeout", "wait");
}

/* TLS fails toward a partner that requires TLS: no plaintext fallback,
 * the candidate is dropped, the sender hears §8.3.3.17. */
TEST(session_bounce_tls_failure)
{
	sb_remote_fails("t.example", sb_tls_garbage, "remote-server-timeout", "wait");
}

/* A message of about size bytes (malloc'd). */
static char *
sb_big_message(const char *from, const char *to, const char *id, size_t size)
{
	char *m = malloc(size + 256), *p;
	int n;

	REQUIRE(m != NULL);
	n = snprintf(m, 256, "<message from='%s' to='%s' id='%s'><body>", from, to, id);
	p = m + n;
	memset(p, 'x', size);
	p += size;
	strcpy(p, "</body></message>");
	return m;
}

/*
 * The queue toward a domain is at its bound (twice limits.route_queue_bytes)
 * while the receiving server does not read: a sender that was not paused
 * yet gets its stanza back with resource-constraint (§8.3.3.18, type
 * 'wait': the sender may retry); what was queued before is delivered once
 * the receiver reads again, and nothing is delivered twice.
 */
TEST(session_bounce_queue_full)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sg g;
	struct sf_peer *a, *b, *out, *gw;
	char *m;

	sg_begin(&g, SG_CONFIG(SB_LIMITS));
	a = sb_send_from_gateway(&g, "b.example", s, 1, "q0");
	SG_PEER(&g, out, sg_wait_out(&g, "b.example"));
	sf_peer_stall(out, 1);		/* it reads what we wrote, our writes stay pending */
	SG_OK(&g, sg_remote_answer(&g, out, "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(out, "message", NULL));
	CHECK_STR_EQ(out->ev.id, "q0");
	/* 70 KB pending on the connection, then 70 KB queued: over
	 * route_queue_bytes, the sender is paused. */
	m = sb_big_message("u@a.example/r", "x@b.example", "q1", 70000);
	SG_OK(&g, sf_peer_send(a, m));
	free(m);
	sf_settle(&g.sf);
	m = sb_big_message("u@a.example/r", "x@b.example", "q2", 70000);
	SG_OK(&g, sf_peer_send(a, m));
	free(m);
	sf_settle(&g.sf);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK(g.sf.edge->stats.reads_paused >= 1);
	/* Another stream of the gateway: 70 KB more is past the bound. */
	SG_PEER(&g, b, sg_gateway_in(&g, "a.example", "b.example"));
	m = sb_big_message("w@a.example/r", "x@b.example", "q3", 70000);
	SG_OK(&g, sf_peer_send(b, m));
	free(m);
	gw = sb_gateway_back(&g, "b.example");
	SG_OK(&g, sb_expect_bounce(&g, gw, "q3", "x@b.example", "w@a.example/r",
	    "resource-constraint", "wait"));
	sb_expect_nothing(&g, gw);
	/* The receiver reads again: q1 and q2, once each, and not q3. */
	sf_peer_stall(out, 0);
	SG_OK(&g, sf_peer_expect(out, "message", NULL));
	CHECK_STR_EQ(out->ev.id, "q1");
	SG_OK(&g, sf_peer_expect(out, "message", NULL));
	CHECK_STR_EQ(out->ev.id, "q2");
	sb_expect_nothing(&g, out);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_delivered, 4);	/* q0..q2 and the bounce */
	sg_end(&g);
}

/*
 * Graceful shutdown with a stanza queued on a stream still connecting:
 * it is bounced (§8.3.3.17, the sender may retry later), and the bounce
 * reaches the gateway over the stream back to it that is still up, before
 * that one closes too.
 */
TEST(session_bounce_shutdown)
{
	static const struct sf_dial_step nx[] = { { SF_DIAL_FAIL, DNS_ERR_NXDOMAIN } };
	static const struct sf_dial_step hang[] = { { SF_DIAL_HANG, DNS_OK } };
	struct sg g;
	struct sf_peer *in, *gw;

	sg_begin(&g, SG_CONFIG(SB_LIMITS));
	/* A first bounce opens the stream back to the gateway. */
	in = sb_send_from_gateway(&g, "b.example", nx, 1, "k0");
	gw = sb_gateway_back(&g, "b.example");
	SG_OK(&g, sb_expect_bounce(&g, gw, "k0", "x@b.example", "u@a.example/r",
	    "remote-server-not-found", "cancel"));
	/* The next stanza waits for a connection that does not come. */
	sf_dial_script(&g.sf, "b.example", hang, 1);
	SG_OK(&g, sf_peer_send(in, "<message from='u@a.example/r' to='x@b.example' id='k1'/>"));
	sf_settle(&g.sf);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 1);
	sf_shutdown(&g.sf);
	SG_OK(&g, sb_expect_bounce(&g, gw, "k1", "x@b.example", "u@a.example/r",
	    "remote-server-timeout", "wait"));
	SG_OK(&g, sf_peer_expect_closed(gw));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	sg_end(&g);
}
