/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_features.c - reading <stream:features/> and <stream:error/>
 * as elements (proxy/s2s_features.c), where main searched the bytes for
 * "<required", ">EXTERNAL<" and condition names (issue 16, item 3).  Each
 * confusing input below is one the substring search got wrong; the test
 * says so with xmlelem_contains, the old decision.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "s2s_features.h"
#include "xmlelem.h"
#include "xmlstream.h"

#define TF_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

/* Parses TF_HDR + element; *ev is the element (valid while s lives). */
static struct xmlstream *
tf_parse(const char *element, struct xmlstream_event *ev)
{
	struct xmlstream *s = xmlstream_new(NULL, NULL);
	char in[4096];
	int n;

	REQUIRE(s != NULL);
	n = snprintf(in, sizeof(in), "%s%s", TF_HDR, element);
	REQUIRE(n > 0 && (size_t)n < sizeof(in));
	REQUIRE(xmlstream_feed(s, in, (size_t)n) == (size_t)n);
	REQUIRE(xmlstream_next(s, ev) == XMLSTREAM_EV_STREAM_OPEN);
	REQUIRE(xmlstream_next(s, ev) == XMLSTREAM_EV_ELEMENT);
	return s;
}

TEST(s2s_features_reads_the_usual_offers)
{
	struct xmlstream_event ev;
	struct s2s_features f;
	struct xmlstream *s = tf_parse("<stream:features>"
	    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
	    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
	    "<mechanism>EXTERNAL</mechanism></mechanisms>"
	    "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>", &ev);

	REQUIRE(s2s_features_read(&ev, &f) == 0);
	CHECK(f.starttls);
	CHECK(f.starttls_required);
	CHECK(f.sasl_external);
	CHECK(f.dialback);
	xmlstream_free(s);
}

TEST(s2s_features_empty_and_self_closing)
{
	struct xmlstream_event ev;
	struct s2s_features f;
	struct xmlstream *s = tf_parse("<stream:features/>", &ev);

	REQUIRE(s2s_features_read(&ev, &f) == 0);
	CHECK(!f.starttls && !f.starttls_required && !f.sasl_external && !f.dialback);
	xmlstream_free(s);
	s = tf_parse("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>", &ev);
	REQUIRE(s2s_features_read(&ev, &f) == 0);
	CHECK(f.starttls);
	CHECK(!f.starttls_required);
	xmlstream_free(s);
}

/* <required/> outside <starttls/> does not make TLS required; an
 * EXTERNAL that is not a SASL <mechanism/> is not SASL EXTERNAL. */
TEST(s2s_features_not_fooled_by_lookalikes)
{
	struct xmlstream_event ev;
	struct s2s_features f;
	struct xmlstream *s = tf_parse("<stream:features>"
	    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	    "<other xmlns='urn:example:x' note='a &gt;EXTERNAL&lt;'><required/></other>"
	    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
	    "<hint xmlns='urn:example:y'>EXTERNAL</hint></stream:features>", &ev);

	/* What main decided on: both substrings are there. */
	CHECK(xmlelem_contains(&ev, "<required"));
	CHECK(xmlelem_contains(&ev, ">EXTERNAL<"));
	REQUIRE(s2s_features_read(&ev, &f) == 0);
	CHECK(f.starttls);
	CHECK(!f.starttls_required);
	CHECK(!f.sasl_external);
	CHECK(!f.dialback);
	xmlstream_free(s);
}

TEST(s2s_stream_error_condition_is_the_element_not_the_text)
{
	struct xmlstream_event ev;
	char cond[48];
	struct xmlstream *s = tf_parse("<stream:error>"
	    "<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
	    "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>host-unknown</text></stream:error>", &ev);

	CHECK(xmlelem_contains(&ev, "host-unknown"));	/* main's answer */
	REQUIRE(s2s_stream_error_condition(&ev, cond, sizeof(cond)) == 0);
	CHECK_STR_EQ(cond, "undefined-condition");
	xmlstream_free(s);
	s = tf_parse("<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x</text>"
	    "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", &ev);
	REQUIRE(s2s_stream_error_condition(&ev, cond, sizeof(cond)) == 0);
	CHECK_STR_EQ(cond, "host-unknown");
	xmlstream_free(s);
	s = tf_parse("<stream:error/>", &ev);
	CHECK(s2s_stream_error_condition(&ev, cond, sizeof(cond)) < 0);
	xmlstream_free(s);
}
