/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bounce.c - stanza error replies (proxy/bounce.c).
 *
 * RFC 6120 §8.3: the error goes back with the same 'id' and the
 * addresses swapped.  The sender matches the id byte for byte, so the
 * attributes must come back exactly as they were sent, character
 * references included (issue 14 finding 9).
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "bounce.h"
#include "xmlstream.h"
#include "xmlstream_check.h"

#define TB_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

/* Parses TB_HDR + stanza and returns the stream; *ev is the element. */
static struct xmlstream *
tb_parse(const char *stanza, struct xmlstream_event *ev)
{
	struct xmlstream *s = xmlstream_new(NULL, NULL);
	char in[4096];
	int n;

	REQUIRE(s != NULL);
	n = snprintf(in, sizeof(in), "%s%s", TB_HDR, stanza);
	REQUIRE(n > 0 && (size_t)n < sizeof(in));
	REQUIRE(xmlstream_feed(s, in, (size_t)n) == (size_t)n);
	REQUIRE(xmlstream_next(s, ev) == XMLSTREAM_EV_STREAM_OPEN);
	REQUIRE(xmlstream_next(s, ev) == XMLSTREAM_EV_ELEMENT);
	return s;
}

static int
tb_contains(const char *out, size_t len, const char *want)
{
	size_t n = strlen(want), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(out + i, want, n) == 0)
			return 1;
	return 0;
}

TEST(bounce_keeps_id_and_addresses_byte_exact)
{
	struct xmlstream_event ev, back;
	struct xmlstream *s, *r;
	char out[BOUNCE_MAX];
	size_t len;

	s = tb_parse("<message from='u@b.example/r&#9;x' to=\"v@a.example/it's\""
	    " id='a&#9;&#10;&amp;&apos;\"b\tc' type='chat'><body>hi</body>"
	    "</message>", &ev);
	REQUIRE(bounce_write(&ev, STANZA_ERR_SERVICE_UNAVAILABLE, "gone\x01",
	    out, sizeof(out), &len) == BOUNCE_WRITTEN);
	CHECK(tb_contains(out, len, " id='a&#9;&#10;&amp;&apos;\"b\tc'"));
	CHECK(tb_contains(out, len, " from=\"v@a.example/it's\""));
	CHECK(tb_contains(out, len, " to='u@b.example/r&#9;x'"));
	/* The bounce parses to the same decoded and raw values. */
	r = tb_parse(out, &back);
	CHECK(back.id.len == ev.id.len &&
	    memcmp(back.id.p, ev.id.p, ev.id.len) == 0);
	CHECK(back.id_quoted.len == ev.id_quoted.len &&
	    memcmp(back.id_quoted.p, ev.id_quoted.p, ev.id_quoted.len) == 0);
	CHECK(back.to.len == ev.from.len &&
	    memcmp(back.to.p, ev.from.p, ev.from.len) == 0);
	CHECK(back.from.len == ev.to.len &&
	    memcmp(back.from.p, ev.to.p, ev.to.len) == 0);
	CHECK(xmlstream_str_eq(&back.stanza_type, "error"));
	xmlstream_free(r);
	xmlstream_free(s);
}

/* The text is ours but may quote a peer: escaped, never raw. */
TEST(bounce_text_escaped)
{
	struct xmlstream_event ev, back;
	struct xmlstream *s, *r;
	char out[BOUNCE_MAX], why[256];
	size_t len;

	s = tb_parse("<iq to='a.example' from='b.example' id='1' type='get'/>",
	    &ev);
	REQUIRE(bounce_write(&ev, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
	    "peer said </text><x/>\x01\xff", out, sizeof(out),
	    &len) == BOUNCE_WRITTEN);
	CHECK(tb_contains(out, len, "peer said &lt;/text&gt;&lt;x/&gt;"
	    "\xef\xbf\xbd\xef\xbf\xbd</text>"));
	r = tb_parse(out, &back);
	CHECK_INT_EQ(xmlstream_check_element(r, &back, why, sizeof(why)), 0);
	xmlstream_free(r);
	xmlstream_free(s);
}

TEST(bounce_not_for_errors_or_non_stanzas)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	char out[BOUNCE_MAX];
	size_t len;

	s = tb_parse("<message type='error' id='x'/>", &ev);
	CHECK_INT_EQ(bounce_write(&ev, STANZA_ERR_SERVICE_UNAVAILABLE, NULL,
	    out, sizeof(out), &len), BOUNCE_IS_ERROR);
	xmlstream_free(s);
	s = tb_parse("<db:result xmlns:db='jabber:server:dialback'/>", &ev);
	CHECK_INT_EQ(bounce_write(&ev, STANZA_ERR_SERVICE_UNAVAILABLE, NULL,
	    out, sizeof(out), &len), BOUNCE_NOT_A_STANZA);
	xmlstream_free(s);
}

/* The condition and its type come from one table: a resource-constraint
 * says "wait" (RFC 6120 §8.3.3.18), the others what §8.3.3 gives them. */
TEST(bounce_condition_and_type_from_the_table)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	char out[BOUNCE_MAX];
	size_t len;

	s = tb_parse("<message to='a.example' from='b.example' id='q'/>", &ev);
	REQUIRE(bounce_write(&ev, STANZA_ERR_RESOURCE_CONSTRAINT, NULL,
	    out, sizeof(out), &len) == BOUNCE_WRITTEN);
	CHECK(tb_contains(out, len, "<error type='wait'><resource-constraint "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"));
	REQUIRE(bounce_write(&ev, STANZA_ERR_NOT_ALLOWED, NULL,
	    out, sizeof(out), &len) == BOUNCE_WRITTEN);
	CHECK(tb_contains(out, len, "<error type='cancel'><not-allowed "));
	REQUIRE(bounce_write(&ev, STANZA_ERR_REMOTE_SERVER_TIMEOUT, NULL,
	    out, sizeof(out), &len) == BOUNCE_WRITTEN);
	CHECK(tb_contains(out, len, "<error type='wait'><remote-server-timeout "));
	xmlstream_free(s);
}

/* The cap edge: the exact size fits, one byte less is refused whole. */
TEST(bounce_cap_edge)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	char out[BOUNCE_MAX], small[BOUNCE_MAX];
	size_t len, len2;

	s = tb_parse("<presence to='a.example' from='b.example' id='p1'/>", &ev);
	REQUIRE(bounce_write(&ev, STANZA_ERR_SERVICE_UNAVAILABLE, "why",
	    out, sizeof(out), &len) == BOUNCE_WRITTEN);
	CHECK_INT_EQ(bounce_write(&ev, STANZA_ERR_SERVICE_UNAVAILABLE, "why",
	    small, len, &len2), BOUNCE_WRITTEN);
	CHECK_INT_EQ(len2, len);
	CHECK(memcmp(small, out, len) == 0);
	CHECK_INT_EQ(bounce_write(&ev, STANZA_ERR_SERVICE_UNAVAILABLE, "why",
	    small, len - 1, &len2), BOUNCE_TOO_LONG);
	xmlstream_free(s);
}
