/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_bidi.c - XEP-0288 bidirectional streams through the real
 * sessions (s2s_in, s2s_in_bidi, s2s_out, s2s_out_bidi, router) with
 * scripted remote servers and gateway (session_fixture.h,
 * session_gateway.h), both roles:
 *   - inbound (we receive): <bidi/> offered, taken once and only before
 *     authentication; the authenticated pair then carries the gateway's
 *     stanzas back, so a partner we cannot dial (no DNS) federates both
 *     ways; when the stream goes, the route goes with it;
 *   - outgoing (we initiate): <bidi/> requested only when offered and the
 *     certificate is valid for the domain; the receiving server's stanzas
 *     are then taken from that domain to ours only, anything else ends
 *     the stream and routes nothing; without bidi the old rule stays.
 */
#include "test.h"

#include "router.h"
#include "s2s_in_int.h"
#include "session_gateway.h"
#include "s2s_out_bidi.h"
#include "sm.h"
#include "stream_info.h"

#define SB_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define SB_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define SB_NS_DB "jabber:server:dialback"
#define SB_BIDI "<bidi xmlns='urn:xmpp:bidi'/>"
#define SB_BIDI_FEATURE "<bidi xmlns='urn:xmpp:features:bidi'/>"

/* t.example (TLS required in SG_CONFIG) with a certificate our CA signed. */
static struct tls_certstore *
sb_tstore(struct sg *g)
{
	struct tls_certstore *ts;

	REQUIRE(tls_fx_leaf(&g->fx, "tcert", "t.example", "ca") == 0);
	ts = tls_fx_store(&g->fx, "t.example", "tcert", "ca", NULL, NULL, 0);
	REQUIRE(ts != NULL);
	return ts;
}

/* 1 if the features element just read offers XEP-0288. */
static int
sb_offers_bidi(const struct sf_peer *p)
{
	return p->ev.raw != NULL && strstr(p->ev.raw, "urn:xmpp:features:bidi") != NULL;
}

/* The inbound stream that negotiated bidi (there is one at most). */
static const struct s2s_in *
sb_bidi_stream(struct sg *g)
{
	const struct s2s_in *s;

	for (s = g->sf.edge->streams; s != NULL; s = s2s_in_next(s))
		if (s->bidi)
			return s;
	REQUIRE(!"no bidirectional inbound stream");
	return NULL;
}

/* The stream we open to the gateway for t.example (the first one) takes
 * its next stanza: the message id.  Returns the gateway's peer (p->ev is
 * that message). */
static struct sf_peer *
sb_gateway_gets(struct sg *g, const char *id)
{
	struct sf_peer *gw;

	SG_PEER(g, gw, sg_wait_out(g, "a.example"));
	SG_OK(g, sg_gateway_out_accept(g, gw, "t.example"));
	SG_OK(g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, id);
	return gw;
}

/* --- inbound ------------------------------------------------------------ */

/* t.example connects, STARTTLS with its certificate, and waits at the
 * authentication features (read into p->ev). */
static struct sf_peer *
sb_in_t_features(struct sg *g, struct tls_certstore *ts)
{
	struct sf_peer *in;

	SG_PEER(g, in, sf_peer_accept(&g->sf, NULL, NULL));
	SG_OK(g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	SG_OK(g, sf_peer_send(in, "<starttls xmlns='" SB_NS_TLS "'/>"));
	SG_OK(g, sf_peer_expect(in, "proceed", SB_NS_TLS));
	SG_OK(g, sf_peer_tls(in, ts, TLS_ROLE_EXTERNAL_CLIENT, "a.example"));
	SG_OK(g, sf_peer_tls_wait(in));
	sf_peer_restart(in);
	SG_OK(g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	return in;
}

/* ... then (bidi: after asking for it) SASL EXTERNAL and the restart. */
static struct sf_peer *
sb_in_t(struct sg *g, struct tls_certstore *ts, int bidi)
{
	struct sf_peer *in = sb_in_t_features(g, ts);

	CHECK(sb_offers_bidi(in));
	if (bidi)
		SG_OK(g, sf_peer_send(in, SB_BIDI));
	SG_OK(g, sf_peer_send(in, "<auth xmlns='" SB_NS_SASL "' mechanism='EXTERNAL'>=</auth>"));
	SG_OK(g, sf_peer_expect(in, "success", SB_NS_SASL));
	sf_peer_restart(in);
	SG_OK(g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	return in;
}

/* t.example, which cannot be dialled (no DNS), connects with its
 * certificate (asking for bidi or not) and the gateway opens its stream
 * toward it (*gwin). */
static struct sf_peer *
sb_unreachable_t(struct sg *g, struct tls_certstore **ts, int bidi, struct sf_peer **gwin)
{
	static const struct sf_dial_step nodns[] = { { SF_DIAL_FAIL_NOW, DNS_ERR_NXDOMAIN } };
	struct sf_peer *in;

	sg_begin(g, SG_CONFIG(""));
	sf_dial_script(&g->sf, "t.example", nodns, 1);
	*ts = sb_tstore(g);
	in = sb_in_t(g, *ts, bidi);
	SG_PEER(g, *gwin, sg_gateway_in(g, "a.example", "t.example"));
	return in;
}

/* The partner cannot be dialled (no DNS): with bidi the gateway's stanza
 * goes back over the partner's own stream; the partner's goes in as
 * always; nothing is dialled for it. */
TEST(session_bidi_in_partner_reachable_only_inbound)
{
	struct tls_certstore *ts;
	struct stream_info si;
	struct sf_peer *in, *gwin;
	struct sg g;

	in = sb_unreachable_t(&g, &ts, 1, &gwin);
	/* Partner -> gateway, as on any inbound stream. */
	SG_OK(&g, sf_peer_send(in, "<message from='u@t.example' to='v@a.example' id='in1'/>"));
	(void)sb_gateway_gets(&g, "in1");
	/* Gateway -> partner: back over the partner's stream. */
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='back1'/>"));
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='back2'/>"));
	SG_OK(&g, sf_peer_expect(in, "message", NULL));
	CHECK_STR_EQ(in->ev.id, "back1");
	CHECK_STR_EQ(in->ev.from, "v@a.example");
	SG_OK(&g, sf_peer_expect(in, "message", NULL));
	CHECK_STR_EQ(in->ev.id, "back2");
	CHECK(sf_peer_out(&g.sf, "t.example") == NULL);	/* never dialled */
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_out, 2);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	/* What status shows for it. */
	s2s_in_info(sb_bidi_stream(&g), &si);
	CHECK_INT_EQ(si.bidi, 1);
	CHECK_INT_EQ(si.stanzas_out, 2);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* The same partner without asking for bidi: the gateway's stanza needs
 * a stream of ours, which cannot be had, and bounces (the control case:
 * the route above is bidi's doing). */
TEST(session_bidi_in_without_request_bounces)
{
	struct tls_certstore *ts;
	struct sf_peer *in, *gwin, *gw;
	struct sg g;

	in = sb_unreachable_t(&g, &ts, 0, &gwin);
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='back1'/>"));
	gw = sb_gateway_gets(&g, "back1");
	CHECK_STR_EQ(gw->ev.stype, "error");
	CHECK_STR_EQ(gw->ev.cond, "remote-server-not-found");
	CHECK_INT_EQ(sf_peer_poll(in), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_out, 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Dialback (XEP-0288 §2.2: the inverse of the pair the partner proved):
 * b.example in the clear, its key checked with its authoritative server;
 * then the gateway's stanza goes back on the same stream, and the only
 * stream dialled to b.example is the verification. */
TEST(session_bidi_in_dialback_pair_routes_back)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sf_peer *in, *auth, *gwin;
	struct sg g;

	sg_begin(&g, SG_CONFIG(""));
	sf_dial_script(&g.sf, "b.example", s, 1);
	SG_PEER(&g, in, sf_peer_accept(&g.sf, NULL, NULL));
	SG_OK(&g, sf_peer_send_header(in, "b.example", "a.example"));
	SG_OK(&g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	CHECK(sb_offers_bidi(in));
	SG_OK(&g, sf_peer_send(in, SB_BIDI "<db:result from='b.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>"));
	SG_PEER(&g, auth, sg_wait_out(&g, "b.example"));
	SG_OK(&g, sg_remote_answer(&g, auth, "b.example", "valid"));
	SG_OK(&g, sf_peer_expect(in, "result", SB_NS_DB));
	CHECK_STR_EQ(in->ev.stype, "valid");
	SG_PEER(&g, gwin, sg_gateway_in(&g, "a.example", "b.example"));
	SG_OK(&g, sf_peer_send(gwin, "<iq from='a.example' to='b.example' id='ping' type='get'>"
	    "<ping xmlns='urn:xmpp:ping'/></iq>"));
	SG_OK(&g, sf_peer_expect(in, "iq", NULL));
	CHECK_STR_EQ(in->ev.id, "ping");
	CHECK(sf_peer_out(&g.sf, "b.example") == auth);	/* the verification only */
	sg_end(&g);
}

/* When the partner's stream goes, so does its route: the next stanza
 * needs a stream of ours (here: cannot be had, bounced), never the dead
 * stream. */
TEST(session_bidi_in_route_leaves_with_the_stream)
{
	struct tls_certstore *ts;
	struct sf_peer *in, *gwin, *gw;
	struct sg g;

	in = sb_unreachable_t(&g, &ts, 1, &gwin);
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='back1'/>"));
	SG_OK(&g, sf_peer_expect(in, "message", NULL));
	SG_OK(&g, sf_peer_send(in, "</stream:stream>"));
	SG_OK(&g, sf_peer_expect_closed(in));
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='back2'/>"));
	gw = sb_gateway_gets(&g, "back2");
	CHECK_STR_EQ(gw->ev.cond, "remote-server-not-found");
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_out, 1);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Hostile: <bidi/> twice, after authentication, or where it was not
 * offered is a <policy-violation/>, and nothing is routed back. */
static void
sb_in_bad_request(int when)
{
	struct tls_certstore *ts;
	struct sf_peer *in;
	struct sg g;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	if (when == 0) {
		in = sb_in_t_features(&g, ts);
		SG_OK(&g, sf_peer_send(in, SB_BIDI SB_BIDI));
	} else if (when == 1) {
		in = sb_in_t(&g, ts, 1);
		SG_OK(&g, sf_peer_send(in, "<message from='u@t.example' to='v@a.example' id='in1'/>"));
		SG_OK(&g, sf_peer_send(in, SB_BIDI));
	} else {
		/* Before TLS nothing was offered (TLS is required for t). */
		SG_PEER(&g, in, sf_peer_accept(&g.sf, NULL, NULL));
		SG_OK(&g, sf_peer_send_header(in, "t.example", "a.example"));
		SG_OK(&g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
		CHECK(!sb_offers_bidi(in));
		SG_OK(&g, sf_peer_send(in, SB_BIDI));
	}
	SG_OK(&g, sf_peer_expect_stream_error(in, "policy-violation"));
	CHECK_INT_EQ(sf_log_count(&g.sf, "s2s_in.bidi_refused"), 1);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_out, 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}

TEST(session_bidi_in_requested_twice_refused)
{
	sb_in_bad_request(0);
}

TEST(session_bidi_in_requested_after_stanzas_refused)
{
	sb_in_bad_request(1);
}

TEST(session_bidi_in_requested_unoffered_refused)
{
	sb_in_bad_request(2);
}

/* policy bidi false: not offered, and asking anyway is refused. */
TEST(session_bidi_in_policy_off_not_offered)
{
	struct sf_peer *in;
	struct sg g;

	sg_begin(&g, "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\","
	    " \"cert\": \"/c\", \"key\": \"/k\"}], \"policy\": {\"partners\": {"
	    "\"b.example\": {\"tls\": \"disabled\", \"bidi\": false}}}}");
	SG_PEER(&g, in, sf_peer_accept(&g.sf, NULL, NULL));
	SG_OK(&g, sf_peer_send_header(in, "b.example", "a.example"));
	SG_OK(&g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	CHECK(!sb_offers_bidi(in));
	SG_OK(&g, sf_peer_send(in, SB_BIDI));
	SG_OK(&g, sf_peer_expect_stream_error(in, "policy-violation"));
	sg_end(&g);
}

/* --- outgoing ----------------------------------------------------------- */

/* Our stream to t.example for the gateway's stanza k1: STARTTLS with
 * t.example's certificate (valid: our CA), features offering dialback and
 * (offer) bidi.  *asked: whether <bidi/> came before our <db:result/>,
 * which is answered valid; k1 is read. */
static struct sf_peer *
sb_out_t(struct sg *g, struct tls_certstore *ts, const char *peer_domain, int offer, int *asked)
{
	static const struct sf_dial_step s[] = { { SF_DIAL_PEER, DNS_OK } };
	struct sf_peer *gwin, *out;

	sf_dial_script(&g->sf, "t.example", s, 1);
	SG_PEER(g, gwin, sg_gateway_in(g, "a.example", "t.example"));
	SG_OK(g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='k1'/>"));
	SG_PEER(g, out, sg_wait_out(g, "t.example"));
	SG_OK(g, sf_peer_send_header(out, "t.example", "a.example"));
	SG_OK(g, sf_peer_send(out, "<stream:features><starttls xmlns='" SB_NS_TLS "'><required/>"
	    "</starttls>" SB_BIDI_FEATURE "</stream:features>"));
	SG_OK(g, sf_peer_expect(out, "starttls", SB_NS_TLS));
	SG_OK(g, sf_peer_send(out, "<proceed xmlns='" SB_NS_TLS "'/>"));
	SG_OK(g, sf_peer_tls(out, ts, TLS_ROLE_EXTERNAL_SERVER, peer_domain));
	SG_OK(g, sf_peer_tls_wait(out));
	sf_peer_restart(out);
	SG_OK(g, sf_peer_send_header(out, "t.example", "a.example"));
	SG_OK(g, sf_peer_sendf(out, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'>"
	    "<errors/></dialback>%s</stream:features>", offer ? SB_BIDI_FEATURE : ""));
	REQUIRE(sf_peer_next(out) == XMLSTREAM_EV_ELEMENT);
	*asked = strcmp(out->ev.name, "bidi") == 0 && strcmp(out->ev.ns, "urn:xmpp:bidi") == 0;
	if (*asked)
		REQUIRE(sf_peer_next(out) == XMLSTREAM_EV_ELEMENT);
	CHECK_STR_EQ(out->ev.name, "result");
	CHECK_STR_EQ(out->ev.ns, SB_NS_DB);
	return out;
}

/* ... the dialback answer, and k1 arrives. */
static void
sb_out_established(struct sg *g, struct sf_peer *out)
{
	SG_OK(g, sf_peer_send(out, "<db:result from='t.example' to='a.example' type='valid'/>"));
	SG_OK(g, sf_peer_expect(out, "message", NULL));
	CHECK_STR_EQ(out->ev.id, "k1");
}

/* Offered, certificate valid: asked for; the receiving server's stanza
 * from its domain to ours goes to the gateway. */
TEST(session_bidi_out_partner_stanza_routed)
{
	struct tls_certstore *ts;
	struct stream_info si;
	struct sf_peer *out, *gw;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 1, &asked);
	CHECK_INT_EQ(asked, 1);
	sb_out_established(&g, out);
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example/r' to='v@a.example' id='rev1'/>"));
	gw = sb_gateway_gets(&g, "rev1");
	CHECK_STR_EQ(gw->ev.from, "u@t.example/r");
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 1);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_wrong_direction, 0);
	{
		const struct s2s_out *o;
		int found = 0;

		for (o = g.sf.edge->out_streams; o != NULL; o = s2s_out_next(o)) {
			s2s_out_info(o, &si);
			if (si.bidi && (found = 1))
				break;
		}
		REQUIRE(found);
	}
	CHECK_INT_EQ(si.routed, 1);
	CHECK_INT_EQ(si.npairs, 2);
	CHECK_STR_EQ(si.pairs[1].auth, "reverse-certificate");
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Hostile stanzas after bidi: a forged 'from' (another domain, or one of
 * ours), a 'to' that is not our stream's domain, no 'to': each a stream
 * error, counted, nothing routed or bounced for it. */
static void
sb_out_hostile(const char *stanza, const char *cond)
{
	struct tls_certstore *ts;
	struct sf_peer *out, *p;
	struct sg g;
	uint64_t routed;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 1, &asked);
	REQUIRE(asked);
	sb_out_established(&g, out);
	routed = g.sf.edge->stats.stanzas_routed;
	SG_OK(&g, sf_peer_send(out, stanza));
	SG_OK(&g, sf_peer_expect_stream_error(out, cond));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, routed);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_refused, 1);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK(sf_peer_out(&g.sf, "a.example") == NULL);	/* nothing went to the gateway */
	for (p = g.sf.peers; p != NULL; p = p->next)
		while (sf_peer_next(p) == XMLSTREAM_EV_ELEMENT)
			CHECK(strcmp(p->ev.id, "forged") != 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}

TEST(session_bidi_out_forged_from_refused)
{
	sb_out_hostile("<message from='u@b.example' to='v@a.example' id='forged'/>", "invalid-from");
}

TEST(session_bidi_out_from_hosted_refused)
{
	sb_out_hostile("<message from='boss@a.example' to='v@a.example' id='forged'/>", "invalid-from");
}

TEST(session_bidi_out_to_elsewhere_refused)
{
	sb_out_hostile("<message from='u@t.example' to='v@c.example' id='forged'/>", "host-unknown");
}

TEST(session_bidi_out_no_to_refused)
{
	sb_out_hostile("<message from='u@t.example' id='forged'/>", "improper-addressing");
}

/* A stanza after <bidi/> but before our stream is established: refused
 * as on any stream we opened (RFC 6120 §2.4); k1 bounces once. */
TEST(session_bidi_out_stanza_before_established_refused)
{
	struct tls_certstore *ts;
	struct sf_peer *out, *gw;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 1, &asked);
	REQUIRE(asked);
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example' to='v@a.example' id='forged'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(out, "unsupported-stanza-type"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_wrong_direction, 1);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 0);
	gw = sb_gateway_gets(&g, "k1");
	CHECK_STR_EQ(gw->ev.stype, "error");
	CHECK_INT_EQ(sf_peer_next(gw), XMLSTREAM_EV_NONE);	/* forged: nowhere */
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Not offered: not asked, and the old rule holds once established. */
TEST(session_bidi_out_not_offered_keeps_one_direction)
{
	struct tls_certstore *ts;
	struct sf_peer *out;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 0, &asked);
	CHECK_INT_EQ(asked, 0);
	sb_out_established(&g, out);
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example' to='v@a.example' id='forged'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(out, "unsupported-stanza-type"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_wrong_direction, 1);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 0);
	CHECK(sf_peer_out(&g.sf, "a.example") == NULL);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Offered, but the certificate is not valid for t.example (it names
 * b.example): nothing would authenticate the other direction, so bidi is
 * not asked for.  (t.example's policy does not require a valid
 * certificate: dialback authenticates our direction.) */
TEST(session_bidi_out_invalid_certificate_not_asked)
{
	struct sf_peer *out;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	out = sb_out_t(&g, g.gw_store, NULL, 1, &asked);	/* b.example's certificate */
	CHECK_INT_EQ(asked, 0);
	sb_out_established(&g, out);
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example' to='v@a.example' id='forged'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(out, "unsupported-stanza-type"));
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 0);
	sg_end(&g);
}

/* The receiving server asks by dialback to speak for another domain on
 * our bidi stream (XEP-0288 §2.2 piggybacking): a dialback error, the
 * stream stays, and that domain's stanzas are still refused. */
TEST(session_bidi_out_reverse_dialback_refused)
{
	struct tls_certstore *ts;
	struct sf_peer *out;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 1, &asked);
	REQUIRE(asked);
	sb_out_established(&g, out);
	SG_OK(&g, sf_peer_send(out, "<db:result from='conf.t.example' to='a.example'>"
	    "00112233445566778899aabbccddeeff</db:result>"));
	SG_OK(&g, sf_peer_expect(out, "result", SB_NS_DB));
	CHECK_STR_EQ(out->ev.from, "a.example");
	CHECK_STR_EQ(out->ev.to, "conf.t.example");
	CHECK_STR_EQ(out->ev.stype, "error");
	CHECK_STR_EQ(out->ev.cond, "feature-not-implemented");
	CHECK(sf_peer_out(&g.sf, "conf.t.example") == NULL);	/* no check was started */
	SG_OK(&g, sf_peer_send(out, "<message from='u@conf.t.example' to='v@a.example' id='forged'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(out, "invalid-from"));
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Our stream to the partner is still connecting (a firewall drops our
 * SYN: the dial never answers) when the partner's bidi stream comes up:
 * the next stanza takes the working stream, it does not wait behind the
 * doomed one.  What was queued there before goes back when it fails. */
TEST(session_bidi_in_preferred_over_connecting_stream)
{
	static const struct sf_dial_step hang[] = { { SF_DIAL_HANG, DNS_OK } };
	struct tls_certstore *ts;
	struct sf_peer *in, *gwin, *gw;
	struct sg g;

	sg_begin(&g, SG_CONFIG(""));
	sf_dial_script(&g.sf, "t.example", hang, 1);
	ts = sb_tstore(&g);
	SG_PEER(&g, gwin, sg_gateway_in(&g, "a.example", "t.example"));
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='early'/>"));
	sf_settle(&g.sf);
	in = sb_in_t(&g, ts, 1);
	/* The stream to the gateway, up before the deadline below. */
	SG_OK(&g, sf_peer_send(in, "<message from='u@t.example' to='v@a.example' id='in1'/>"));
	gw = sb_gateway_gets(&g, "in1");
	SG_OK(&g, sf_peer_send(gwin, "<message from='v@a.example' to='u@t.example' id='late'/>"));
	SG_OK(&g, sf_peer_expect(in, "message", NULL));
	CHECK_STR_EQ(in->ev.id, "late");
	/* limits.connect_timeout_ms: 'early' comes back, once. */
	(void)sf_advance(&g.sf, 30000);
	SG_OK(&g, sf_peer_expect(gw, "message", NULL));
	CHECK_STR_EQ(gw->ev.id, "early");
	CHECK_STR_EQ(gw->ev.stype, "error");
	CHECK_STR_EQ(gw->ev.cond, "remote-server-timeout");
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_out, 1);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* The partner's bidirectional stream is the way back for the bounces of
 * its own stanzas.  When it cannot take one more (its connection's send
 * queue is at limits.send_queue_bytes: the partner does not read), the
 * bounce goes where it would without that stream, over an outgoing
 * stream the proxy opens to the partner, whose queue takes bounces past
 * its cap: none is lost, so the partner's stanzas are not left
 * unacknowledged (custody) and its stream does not end. */
#define SB_FULL_LIMITS "\"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 600000, " \
	"\"route_queue_bytes\": 65536, \"send_queue_bytes\": 65536, " \
	"\"sm_settle_timeout_ms\": 600000, \"sm_request_every_ms\": 600000"
#define SB_FULL_STANZAS 600

TEST(session_bidi_in_full_bounce_takes_new_stream)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step gw_hang = { SF_DIAL_HANG, DNS_OK };
	struct tls_certstore *ts;
	struct sf_peer *in;
	struct sg g;
	size_t on_bidi = 0;
	int i, stream_error = 0;

	sg_begin(&g, SG_CONFIG(SB_FULL_LIMITS));
	sf_dial_script(&g.sf, "a.example", &gw_hang, 1);
	sf_dial_script(&g.sf, "t.example", peer, 1);
	ts = sb_tstore(&g);
	in = sb_in_t(&g, ts, 1);
	SG_OK(&g, sf_peer_send(in, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "enabled", SM_NS));
	sf_peer_stall(in, 1);	/* the proxy's writes to it stay pending */
	/* Stanzas for the gateway wait for it (under route_queue_bytes). */
	for (i = 0; i < SB_FULL_STANZAS; i++)
		SG_OK(&g, sf_peer_sendf(in, "<message from='u@t.example/r' to='v@a.example' id='f%d'/>", i));
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), SB_FULL_STANZAS);
	CHECK(sf_peer_out(&g.sf, "t.example") == NULL);
	/* limits.connect_timeout_ms: the gateway's stream fails and bounces
	 * every one of them, far more than the partner's stream can take. */
	(void)sf_advance(&g.sf, 6000);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, SB_FULL_STANZAS);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_unbounceable, 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, 0);
	CHECK_INT_EQ(sf_log_count(&g.sf, "route.bounce_undeliverable"), 0);
	CHECK_INT_EQ(sf_log_count(&g.sf, "route.bounce_new_stream"), 1);
	CHECK(sf_peer_out(&g.sf, "t.example") != NULL);
	CHECK(router_in_flight(g.sf.edge) > 0);		/* the rest, on the new stream */
	/* The partner reads again: the bounces the stream took, and no
	 * stream error. */
	sf_peer_stall(in, 0);
	while (sf_peer_next(in) == XMLSTREAM_EV_ELEMENT) {
		if (strcmp(in->ev.name, "message") == 0 && strcmp(in->ev.stype, "error") == 0)
			on_bidi++;
		if (strcmp(in->ev.name, "error") == 0 && strcmp(in->ev.ns, XMLSTREAM_NS_STREAMS) == 0)
			stream_error = 1;
	}
	CHECK(!stream_error);
	CHECK(!sf_peer_closed(in));
	CHECK(on_bidi > 0);
	CHECK_INT_EQ(on_bidi + router_in_flight(g.sf.edge), SB_FULL_STANZAS);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* The same, but the blocklist's file lists t.example while its stanzas
 * wait for the gateway (a reload at the worst moment).  The bounces may
 * not go to t.example at all, neither over its bidirectional stream nor
 * over a stream the proxy would open (router_start_stream checks the
 * blocklist for the bounce fallback too): they have no way back, so no
 * connection is made to t.example, none of the stanzas is acknowledged
 * (custody kept) and t.example's stream ends: it bounces or resends them
 * itself. */
TEST(session_bidi_in_full_bounce_to_blocklisted_opens_nothing)
{
	static const struct sf_dial_step peer[] = { { SF_DIAL_PEER, DNS_OK } };
	static const struct sf_dial_step gw_hang = { SF_DIAL_HANG, DNS_OK };
	struct tls_certstore *ts;
	struct sf_peer *in;
	struct sg g;
	int i, stream_error = 0, acked_above_zero = 0;

	sg_begin(&g, SG_CONFIG(SB_FULL_LIMITS));
	sf_dial_script(&g.sf, "a.example", &gw_hang, 1);
	sf_dial_script(&g.sf, "t.example", peer, 1);
	ts = sb_tstore(&g);
	in = sb_in_t(&g, ts, 1);
	SG_OK(&g, sf_peer_send(in, "<enable xmlns='" SM_NS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "enabled", SM_NS));
	sf_peer_stall(in, 1);
	for (i = 0; i < SB_FULL_STANZAS; i++)
		SG_OK(&g, sf_peer_sendf(in, "<message from='u@t.example/r' to='v@a.example' id='f%d'/>", i));
	sf_settle(&g.sf);
	CHECK_INT_EQ(router_in_flight(g.sf.edge), SB_FULL_STANZAS);
	SG_OK(&g, sf_blocklist_reload(&g.sf, "t.example\n"));
	(void)sf_advance(&g.sf, 6000);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_bounced, 0);
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_custody_kept, SB_FULL_STANZAS);
	CHECK_INT_EQ(sf_log_count(&g.sf, "route.bounce_new_stream"), 0);
	CHECK(sf_peer_out(&g.sf, "t.example") == NULL);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_out, 0);
	sf_peer_stall(in, 0);
	SG_OK(&g, sf_peer_send(in, "<r xmlns='" SM_NS "'/>"));
	while (sf_peer_next(in) == XMLSTREAM_EV_ELEMENT) {
		if (strcmp(in->ev.name, "message") == 0)
			CHECK(!"a bounce went to the blocklisted domain");
		if (strcmp(in->ev.name, "a") == 0 && strstr(in->ev.raw, "h='0'") == NULL)
			acked_above_zero = 1;
		if (strcmp(in->ev.name, "error") == 0 && strcmp(in->ev.ns, XMLSTREAM_NS_STREAMS) == 0)
			stream_error = 1;
	}
	CHECK(stream_error);
	CHECK(!acked_above_zero);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* Our stream to t.example negotiated bidi and carried t.example's rev1
 * to the gateway; the blocklist's file then lists t.example: its next
 * stanza on our stream ends it with <policy-violation/>, nothing more
 * reaches the gateway (s2s_out_bidi.c checks each stanza). */
TEST(session_bidi_out_blocklist_reload_refuses_partner_stanza)
{
	struct tls_certstore *ts;
	struct sf_peer *out, *gw;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 1, &asked);
	REQUIRE(asked);
	sb_out_established(&g, out);
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example/r' to='v@a.example' id='rev1'/>"));
	gw = sb_gateway_gets(&g, "rev1");
	SG_OK(&g, sf_blocklist_reload(&g.sf, "t.example\n"));
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example/r' to='v@a.example' id='rev2'/>"));
	SG_OK(&g, sf_peer_expect_stream_error(out, "policy-violation"));
	CHECK_INT_EQ(g.sf.edge->stats.bidi_refused, 1);
	CHECK_INT_EQ(g.sf.edge->stats.bidi_stanzas_in, 1);
	while (sf_peer_next(gw) == XMLSTREAM_EV_ELEMENT)
		CHECK(strcmp(gw->ev.id, "rev2") != 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* A reload at the worst moment of a handshake: TLS is done and the
 * features offered SASL EXTERNAL to t.example when the blocklist lists
 * it.  Its <auth/> may succeed (the certificate is still valid for it),
 * but the restarted stream's header is checked again and refused with
 * <policy-violation/>: no stanza is read in between. */
TEST(session_in_blocklist_reload_mid_sasl_refused)
{
	struct tls_certstore *ts;
	struct sf_peer *in;
	struct sg g;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	in = sb_in_t_features(&g, ts);
	SG_OK(&g, sf_blocklist_reload(&g.sf, "t.example\n"));
	SG_OK(&g, sf_peer_send(in, "<auth xmlns='" SB_NS_SASL "' mechanism='EXTERNAL'>=</auth>"));
	SG_OK(&g, sf_peer_expect(in, "success", SB_NS_SASL));
	sf_peer_restart(in);
	SG_OK(&g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(&g, sf_peer_expect_stream_error(in, "policy-violation"));
	CHECK_INT_EQ(g.sf.edge->stats.stanzas_routed, 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* The established outgoing stream to t.example (there is one). */
static const struct s2s_out *
sb_out_stream(struct sg *g)
{
	const struct s2s_out *o;
	struct stream_info si;

	for (o = g->sf.edge->out_streams; o != NULL; o = s2s_out_next(o)) {
		s2s_out_info(o, &si);
		if (si.npairs > 0 && strcmp(si.pairs[0].remote, "t.example") == 0)
			return o;
	}
	REQUIRE(!"no outgoing stream to t.example");
	return NULL;
}

/* Issue 18 (memory per idle stream): a stream that did not negotiate
 * XEP-0288 carries no room for its pairs (2 KiB of domain names were
 * embedded in every outgoing stream); one that did gets it with its
 * first pair, and its stanzas still route. */
TEST(session_bidi_out_pairs_only_when_negotiated)
{
	struct tls_certstore *ts;
	struct sf_peer *out, *gw;
	size_t plain, with_bidi;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 0, &asked);
	CHECK_INT_EQ(asked, 0);
	sb_out_established(&g, out);
	plain = s2s_out_memory(sb_out_stream(&g));
	/* Struct (2 432 bytes), 512-byte queue buffer and its ring (256):
	 * was 5 688 with the pairs embedded, 3 592 with the dialback
	 * verify question embedded (only S2S_OUT_VERIFY streams have one). */
	CHECK(plain <= 3328);
	tls_certstore_unref(ts);
	sg_end(&g);

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 1, &asked);
	CHECK_INT_EQ(asked, 1);
	sb_out_established(&g, out);
	with_bidi = s2s_out_memory(sb_out_stream(&g));
	CHECK(with_bidi >= plain + S2S_OUT_BIDI_PAIRS_MAX * CONFIG_DOMAIN_MAX);
	SG_OK(&g, sf_peer_send(out, "<message from='u@t.example/r' to='v@a.example' id='rev2'/>"));
	gw = sb_gateway_gets(&g, "rev2");
	CHECK_STR_EQ(gw->ev.from, "u@t.example/r");
	tls_certstore_unref(ts);
	sg_end(&g);
}

/* The gateway's inbound stream (the only inbound peer). */
static struct sf_peer *
sb_gateway_peer(struct sg *g)
{
	struct sf_peer *p;

	for (p = g->sf.peers; p != NULL; p = p->next)
		if (p->role == SF_PEER_IN)
			return p;
	REQUIRE(!"no inbound peer");
	return NULL;
}

/* Issue 18: an outgoing stream that went idle gives its queue buffer back
 * after a whole tick of the sm timer with nothing queued (any size, not
 * only a large one), and the timer stops; the next stanza still goes out
 * on it. */
TEST(session_out_idle_stream_gives_its_queue_back)
{
	struct tls_certstore *ts;
	struct sf_peer *out;
	size_t busy, idle;
	struct sg g;
	int asked;

	sg_begin(&g, SG_CONFIG(""));
	ts = sb_tstore(&g);
	out = sb_out_t(&g, ts, NULL, 0, &asked);
	sb_out_established(&g, out);
	busy = s2s_out_memory(sb_out_stream(&g));
	(void)sf_advance(&g.sf, 2500);
	idle = s2s_out_memory(sb_out_stream(&g));
	CHECK(idle + 512 <= busy);
	SG_OK(&g, sf_peer_send(sb_gateway_peer(&g),
	    "<message from='v@a.example' to='u@t.example' id='k2'/>"));
	SG_OK(&g, sf_peer_expect(out, "message", NULL));
	CHECK_STR_EQ(out->ev.id, "k2");
	CHECK_INT_EQ(out->parse_failed, 0);
	tls_certstore_unref(ts);
	sg_end(&g);
}
