/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xmlelem.c - attribute and text lookups on tokenized elements,
 * including the hostile shapes: '>' and '=' inside quoted values, a value
 * that looks like an attribute, children, oversize values.
 */
#include "test.h"

#include "xmlelem.h"
#include "xmlstream.h"

static const char hdr[] = "<stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='a.example' version='1.0'>";

/* Parses one element after a header; the stream stays alive for ev. */
static struct xmlstream *
parse_one(const char *elem, struct xmlstream_event *ev)
{
	struct xmlstream *s = xmlstream_new(NULL, NULL);

	if (s == NULL)
		return NULL;
	xmlstream_feed(s, hdr, sizeof(hdr) - 1);
	if (xmlstream_next(s, ev) != XMLSTREAM_EV_STREAM_OPEN)
		goto fail;
	xmlstream_feed(s, elem, strlen(elem));
	if (xmlstream_next(s, ev) != XMLSTREAM_EV_ELEMENT)
		goto fail;
	return s;
fail:
	xmlstream_free(s);
	return NULL;
}

TEST(xmlelem_attr_cases)
{
	static const struct {
		const char *elem, *name, *want;	/* want NULL: -1 */
	} cases[] = {
		{ "<auth xmlns='urn:x' mechanism='EXTERNAL'>=</auth>", "mechanism", "EXTERNAL" },
		{ "<auth mechanism=\"PLAIN\" xmlns='urn:x'/>", "mechanism", "PLAIN" },
		{ "<auth xmlns='urn:x' mechanism = 'SPACED'/>", "mechanism", "SPACED" },
		{ "<auth xmlns='urn:x' x=\"mechanism='FAKE'\" mechanism='REAL'/>", "mechanism", "REAL" },
		{ "<auth xmlns='urn:x' a='>' mechanism='AFTER_GT'/>", "mechanism", "AFTER_GT" },
		{ "<auth xmlns='urn:x' mechanismx='no'/>", "mechanism", NULL },
		{ "<auth xmlns='urn:x'>mechanism='in-text'</auth>", "mechanism", NULL },
		{ "<auth xmlns='urn:x' mechanism=''/>", "mechanism", "" },
	};
	struct xmlstream_event ev;
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xmlstream *s = parse_one(cases[i].elem, &ev);
		int r;

		REQUIRE(s != NULL);
		r = xmlelem_attr(&ev, cases[i].name, out, sizeof(out));
		if (cases[i].want == NULL) {
			CHECK_INT_EQ(r, -1);
		} else {
			CHECK_INT_EQ(r, 0);
			if (r == 0)
				CHECK_STR_EQ(out, cases[i].want);
		}
		xmlstream_free(s);
	}
}

TEST(xmlelem_attr_bounded)
{
	struct xmlstream_event ev;
	struct xmlstream *s = parse_one("<auth xmlns='urn:x' mechanism='0123456789'/>", &ev);
	char out[8];

	REQUIRE(s != NULL);
	CHECK_INT_EQ(xmlelem_attr(&ev, "mechanism", out, sizeof(out)), -1);
	xmlstream_free(s);
}

TEST(xmlelem_text_cases)
{
	static const struct {
		const char *elem, *want;
	} cases[] = {
		{ "<db:result xmlns:db='jabber:server:dialback' from='a' to='b'>abc123</db:result>", "abc123" },
		{ "<auth xmlns='urn:x' mechanism='EXTERNAL'>=</auth>", "=" },
		{ "<auth xmlns='urn:x'/>", "" },
		{ "<auth xmlns='urn:x'></auth>", "" },
		{ "<r xmlns='urn:x' v='a>b'>after-quoted-gt</r>", "after-quoted-gt" },
		{ "<r xmlns='urn:x'>x<child/>y</r>", NULL },
	};
	struct xmlstream_event ev;
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xmlstream *s = parse_one(cases[i].elem, &ev);
		int r;

		REQUIRE(s != NULL);
		r = xmlelem_text(&ev, out, sizeof(out));
		if (cases[i].want == NULL) {
			CHECK_INT_EQ(r, -1);
		} else {
			CHECK_INT_EQ(r, 0);
			if (r == 0)
				CHECK_STR_EQ(out, cases[i].want);
		}
		xmlstream_free(s);
	}
}

TEST(xmlelem_contains_and_str_eq)
{
	struct xmlstream_event ev;
	struct xmlstream *s = parse_one("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
	    "<mechanism>EXTERNAL</mechanism></mechanisms></stream:features>", &ev);
	struct xmlstream_str absent = { NULL, 0 }, empty = { "", 0 };

	REQUIRE(s != NULL);
	CHECK(xmlelem_contains(&ev, ">EXTERNAL<"));
	CHECK(xmlelem_contains(&ev, "urn:ietf:params:xml:ns:xmpp-sasl"));
	CHECK(!xmlelem_contains(&ev, "urn:ietf:params:xml:ns:xmpp-tls"));
	CHECK(xmlstream_str_eq(&ev.name, "features"));
	CHECK(!xmlstream_str_eq(&ev.name, "feature"));
	CHECK(!xmlstream_str_eq(&ev.name, "featuresX"));
	CHECK(!xmlstream_str_eq(&absent, ""));	/* absent is not empty */
	CHECK(xmlstream_str_eq(&empty, ""));
	xmlstream_free(s);
}
