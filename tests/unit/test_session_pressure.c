/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_pressure.c - a send that fills the write queue during
 * authentication (issue 14, the use-after-free path): the peer stops
 * reading, its own pipelined <db:verify/> questions fill our queue to
 * within a few bytes of limits.send_queue_bytes, and then the one message
 * that authenticates the stream - the dialback answer <db:result
 * type='valid'/>, SASL's <success/> - is the send that overflows.  The
 * stream must be closed once, the pair must not be marked, nothing after
 * it may be handled (no state change on the closing stream, no stanza
 * routed) and it must be freed once, from the loop (ASan watches).
 *
 * The room is measured, not guessed: the test reads the transport's queue
 * (s2s_in_int.h) and sizes the last answer by the length of the id it
 * echoes, so the overflowing send is exactly the one under test.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "s2s_in_int.h"
#include "session_gateway.h"

#define SP_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define SP_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define SP_QUEUE 65536
#define SP_LIMITS "\"send_queue_bytes\": 65536, \"dialback_verify_preauth_max\": 1000000"
/* Our answer to a <db:verify/> from asker with an id of n bytes. */
#define SP_ANSWER_FIXED(asker) (strlen("<db:verify from='a.example' to='' id='' type='invalid'/>") + \
	strlen(asker))

static struct s2s_in *
sp_stream(struct sg *g)
{
	REQUIRE(g->sf.edge->streams != NULL);
	return g->sf.edge->streams;
}

static size_t
sp_room(struct sg *g)
{
	return SP_QUEUE - s2s_conn_queued(sp_stream(g)->conn);
}

static int
sp_verify(struct sf_peer *p, const char *asker, size_t idlen)
{
	char id[128];

	REQUIRE(idlen > 0 && idlen < sizeof(id));
	memset(id, 'i', idlen);
	id[idlen] = '\0';
	return sf_peer_sendf(p, "<db:verify from='%s' to='a.example' id='%s'>0badc0de</db:verify>",
	    asker, id);
}

/*
 * Fills the stalled peer's stream with answers until the room left is
 * below msg_len plus the record overhead, and above nothing: the next send
 * of msg_len bytes, and not an answer, overflows.  Returns that room.
 */
static size_t
sp_fill(struct sg *g, struct sf_peer *p, const char *asker, size_t msg_len)
{
	size_t fixed = SP_ANSWER_FIXED(asker), before, o, room, a, k, i;

	/* The per-send overhead (a TLS record's header and tag; 0 in the
	 * clear), from one answer. */
	before = sp_room(g);
	SG_OK(g, sp_verify(p, asker, 1));
	sf_settle(&g->sf);
	REQUIRE(sp_room(g) < before);
	o = before - sp_room(g) - (fixed + 1);
	REQUIRE(o < 64);
	for (;;) {
		room = sp_room(g);
		REQUIRE(room >= msg_len + o);	/* still above the window */
		/* The last answer: its id sized to leave half the message's
		 * worth of room. */
		if (room <= fixed + 127 + o + (msg_len + o) / 2) {
			a = room - o - (msg_len + o) / 2;
			REQUIRE(a > fixed && a - fixed < 128);
			SG_OK(g, sp_verify(p, asker, a - fixed));
			sf_settle(&g->sf);
			break;
		}
		/* Many at once while far, one at a time when near. */
		k = room > fixed + 127 + o + msg_len ?
		    (room - (fixed + 127 + o + msg_len)) / (fixed + 1 + o) : 0;	/* never below 0 */
		if (k > 64)
			k = 64;
		if (k == 0)
			k = 1;
		for (i = 0; i < k; i++)
			SG_OK(g, sp_verify(p, asker, 1));
		sf_settle(&g->sf);
	}
	room = sp_room(g);
	REQUIRE(room < msg_len + o);
	REQUIRE(!s2s_in_is_closing(sp_stream(g)));
	return room;
}

/* What must hold after the overflowing send, whatever it was. */
static void
sp_check_closed_once(struct sg *g)
{
	CHECK_INT_EQ(g->sf.closes_queue_full, 1);
	CHECK_INT_EQ(sf_log_count(&g->sf, "s2s_in.close"), 1);
	CHECK_INT_EQ(sf_log_count(&g->sf, "s2s_in.state_refused"), 0);
	CHECK_INT_EQ(sf_log_count(&g->sf, "s2s_in.auth"), 0);	/* no pair marked */
	CHECK_INT_EQ(g->sf.edge->stats.stanzas_routed, 0);
	CHECK_INT_EQ(g->sf.routed_by_inbound, 0);
	sg_end(g);
}

/* Receiving server: the authoritative server's "valid" comes while our
 * queue toward the initiating server is full; <db:result type='valid'/>
 * is the send that overflows. */
TEST(session_pressure_dialback_valid_answer_overflows)
{
	static const struct sf_dial_step peer = { SF_DIAL_PEER, DNS_OK };
	const char *answer = "<db:result from='a.example' to='b.example' type='valid'/>";
	struct sg g;
	struct sf_peer *in, *auth;

	sg_begin(&g, SG_CONFIG(SP_LIMITS));
	sf_dial_script(&g.sf, "b.example", &peer, 1);
	in = sg_remote_in(&g, "b.example");
	REQUIRE(in != NULL);
	auth = sg_wait_out(&g, "b.example");
	REQUIRE(auth != NULL);
	sf_peer_stall(in, 1);
	(void)sp_fill(&g, in, "b.example", strlen(answer));
	CHECK_INT_EQ(g.sf.closes_queue_full, 0);
	SG_OK(&g, sg_remote_answer(&g, auth, "b.example", "valid"));
	sf_settle(&g.sf);
	CHECK(sf_log_count(&g.sf, "dialback.verify") == 1);
	sp_check_closed_once(&g);
}

/* SASL EXTERNAL (XEP-0178): the certificate is valid for t.example, and
 * <success/> is the send that overflows (inside TLS: the record is the
 * unit). */
TEST(session_pressure_sasl_success_overflows)
{
	const char *success = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
	struct tls_certstore *tstore;
	struct sg g;
	struct sf_peer *in;

	sg_begin(&g, SG_CONFIG(SP_LIMITS));
	REQUIRE(tls_fx_leaf(&g.fx, "tcert", "t.example", "ca") == 0);
	tstore = tls_fx_store(&g.fx, "t.example", "tcert", "ca", NULL, NULL, 0);
	REQUIRE(tstore != NULL);
	in = sf_peer_accept(&g.sf, NULL, NULL);
	REQUIRE(in != NULL);
	SG_OK(&g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(&g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	SG_OK(&g, sf_peer_send(in, "<starttls xmlns='" SP_NS_TLS "'/>"));
	SG_OK(&g, sf_peer_expect(in, "proceed", SP_NS_TLS));
	SG_OK(&g, sf_peer_tls(in, tstore, TLS_ROLE_EXTERNAL_CLIENT, "a.example"));
	SG_OK(&g, sf_peer_tls_wait(in));
	sf_peer_restart(in);
	SG_OK(&g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(&g, sf_peer_expect(in, "features", XMLSTREAM_NS_STREAMS));
	REQUIRE(strstr(in->ev.raw, ">EXTERNAL<") != NULL);
	sf_peer_stall(in, 1);
	(void)sp_fill(&g, in, "t.example", strlen(success));
	CHECK_INT_EQ(g.sf.closes_queue_full, 0);
	/* The auth, and what a pipelining peer sends behind it. */
	SG_OK(&g, sf_peer_send(in, "<auth xmlns='" SP_NS_SASL "' mechanism='EXTERNAL'>=</auth>"));
	SG_OK(&g, sf_peer_send_header(in, "t.example", "a.example"));
	SG_OK(&g, sf_peer_send(in, "<message from='u@t.example' to='v@a.example' id='after'/>"));
	sf_settle(&g.sf);
	sp_check_closed_once(&g);
	tls_certstore_unref(tstore);
}
