/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xmlstream_tables.c - the tokenizer's tables grow on demand and stay
 * within the limits (issue 18, memory per idle stream).
 *
 * Each table (attributes, open elements, namespace bindings, decoded
 * attribute values, header prefixes) is tried exactly at the limit that
 * bounds it and one past it: at the limit the element is accepted and the
 * table holds no more entries than the limit; one past, the stream fails
 * with policy-violation and the table still holds no more.  Once an
 * element that needed a large table is complete, the table goes back to
 * a few entries, so an idle stream costs little.
 */
#include "test.h"
#include "xmlstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XTT_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' " \
	"xmlns:db='jabber:server:dialback' to='a.example' from='b.example' " \
	"version='1.0'>"
/* Bindings the header puts in scope: the default namespace, stream, db. */
#define XTT_HDR_BINDINGS 3

/* What an idle stream may hold: the struct, a small buffer, a few
 * entries per table (was 38.7 KB of tables alone). */
#define XTT_IDLE_MAX 4096

/* A stream with the post-authentication limits, attrs_max and depth_max
 * set (0: the default). */
static struct xmlstream *
xtt_new(size_t attrs_max, size_t depth_max)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;

	xmlstream_limits_postauth(&lim);
	if (attrs_max > 0)
		lim.attrs_max = attrs_max;
	if (depth_max > 0)
		lim.depth_max = depth_max;
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	return s;
}

/* The same, after the stream header. */
static struct xmlstream *
xtt_open(size_t attrs_max, size_t depth_max)
{
	struct xmlstream_event ev;
	struct xmlstream *s = xtt_new(attrs_max, depth_max);

	REQUIRE(xmlstream_feed(s, XTT_HDR, strlen(XTT_HDR)) == strlen(XTT_HDR));
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_STREAM_OPEN);
	return s;
}

/* Feeds all of in (which must fit) and returns the next event. */
static enum xmlstream_event_type
xtt_feed_next(struct xmlstream *s, const char *in, size_t len,
    struct xmlstream_event *ev)
{
	size_t off = 0, took;

	while (off < len) {
		took = xmlstream_feed(s, in + off, len - off);
		if (took == 0)
			break;
		off += took;
	}
	return xmlstream_next(s, ev);
}

/* "<message" + n attributes " aK='v'" + "/>" into a malloc'd string. */
static char *
xtt_attrs_element(size_t n, size_t *len)
{
	size_t cap = 32 + n * 16, i;
	char *p = malloc(cap);
	int w;

	REQUIRE(p != NULL);
	*len = (size_t)snprintf(p, cap, "<message");
	for (i = 0; i < n; i++) {
		w = snprintf(p + *len, cap - *len, " a%zu='v'", i);
		*len += (size_t)w;
	}
	*len += (size_t)snprintf(p + *len, cap - *len, "/>");
	return p;
}

static size_t
xtt_table(const struct xmlstream *s, int which)
{
	struct xmlstream_table_sizes t;

	xmlstream_table_sizes(s, &t);
	switch (which) {
	case 'a': return t.attrs;
	case 'o': return t.open;
	case 'n': return t.ns;
	case 'd': return t.dec;
	default: return t.header_prefixes;
	}
}

/* A fresh stream after its header, and after ordinary stanzas, holds a
 * few KB (the tables were sized for the ceilings: 38.7 KB). */
TEST(xmlstream_tables_idle_stream_small)
{
	static const char st[] = "<message to='c.example' from='d.example' "
	    "type='chat' id='x1' xml:lang='en'><body>hi</body>"
	    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
	    "<presence to='c.example' from='d.example'><c xmlns='"
	    "http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>"
	    "</presence>";
	struct xmlstream_event ev;
	struct xmlstream *s;

	s = xtt_open(0, 0);
	CHECK(xmlstream_memory(s) <= XTT_IDLE_MAX);
	CHECK_INT_EQ(xtt_feed_next(s, st, sizeof(st) - 1, &ev),
	    XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	CHECK(xmlstream_memory(s) <= XTT_IDLE_MAX);
	xmlstream_free(s);
}

/* limits.attrs_max: exactly at it the element passes and the table is
 * exactly that large (grown 8 -> 16 -> 20, capped at the limit); one
 * past it fails, the table no larger. */
TEST(xmlstream_tables_attrs_at_limit)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	char *el;
	size_t len;

	s = xtt_open(20, 0);
	el = xtt_attrs_element(20, &len);
	CHECK_INT_EQ(xtt_feed_next(s, el, len, &ev), XMLSTREAM_EV_ELEMENT);
	free(el);
	/* Back to a few entries (16 are kept) once the element is complete. */
	CHECK(xtt_table(s, 'a') <= 16);
	el = xtt_attrs_element(21, &len);
	CHECK_INT_EQ(xtt_feed_next(s, el, len, &ev), XMLSTREAM_EV_ERROR);
	free(el);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK_STR_EQ(ev.text, "attribute count limit of 20 exceeded");
	CHECK_INT_EQ(xtt_table(s, 'a'), 20);
	xmlstream_free(s);
}

/* The largest limit allowed (the ceiling) grows the table to the
 * ceiling and no further. */
TEST(xmlstream_tables_attrs_at_ceiling)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	char *el;
	size_t len;

	s = xtt_open(XMLSTREAM_ATTRS_MAX_CEILING, 0);
	el = xtt_attrs_element(XMLSTREAM_ATTRS_MAX_CEILING + 1, &len);
	CHECK_INT_EQ(xtt_feed_next(s, el, len, &ev), XMLSTREAM_EV_ERROR);
	free(el);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK_INT_EQ(xtt_table(s, 'a'), XMLSTREAM_ATTRS_MAX_CEILING);
	xmlstream_free(s);
}

/* limits.depth_max: the open-element table at the edge (grown 8 -> 16
 * -> 32 -> 40), back to 16 entries after the element. */
TEST(xmlstream_tables_depth_at_limit)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	char in[512];
	size_t len, i;

	s = xtt_open(0, 40);
	len = 0;
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "<e>");
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "</e>");
	CHECK_INT_EQ(xtt_feed_next(s, in, len, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK(xtt_table(s, 'o') <= 16);
	len = 0;
	for (i = 0; i < 41; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "<e>");
	CHECK_INT_EQ(xtt_feed_next(s, in, len, &ev), XMLSTREAM_EV_ERROR);
	CHECK_STR_EQ(ev.text, "nesting depth limit of 40 exceeded");
	CHECK_INT_EQ(xtt_table(s, 'o'), 40);
	xmlstream_free(s);
}

/* "<eK xmlns:pJ='u:J' ...>" declaring n prefixes. */
static size_t
xtt_decls(char *out, size_t cap, size_t k, size_t n)
{
	size_t len = (size_t)snprintf(out, cap, "<e%zu", k), j;

	for (j = 0; j < n; j++)
		len += (size_t)snprintf(out + len, cap - len,
		    " xmlns:p%zu_%zu='u:%zu'", k, j, j);
	len += (size_t)snprintf(out + len, cap - len, ">");
	return len;
}

/* XMLSTREAM_NS_MAX bindings in scope at once, the header's included:
 * 120 + 120 + the rest on three nested elements. */
static enum xmlstream_event_type
xtt_ns_nested(struct xmlstream *s, size_t last, struct xmlstream_event *ev)
{
	static char in[3 * 128 * 32 + 64];
	size_t len = 0;

	len += xtt_decls(in + len, sizeof(in) - len, 0, 120);
	len += xtt_decls(in + len, sizeof(in) - len, 1, 120);
	len += xtt_decls(in + len, sizeof(in) - len, 2, last);
	len += (size_t)snprintf(in + len, sizeof(in) - len, "</e2></e1></e0>");
	return xtt_feed_next(s, in, len, ev);
}

TEST(xmlstream_tables_ns_at_limit)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	size_t last = XMLSTREAM_NS_MAX - XTT_HDR_BINDINGS - 240;

	s = xtt_open(XMLSTREAM_ATTRS_MAX_CEILING, 0);
	CHECK_INT_EQ(xtt_ns_nested(s, last, &ev), XMLSTREAM_EV_ELEMENT);
	/* Back to the header's bindings and a few spare entries. */
	CHECK(xtt_table(s, 'n') <= 16);
	CHECK_INT_EQ(xtt_ns_nested(s, last + 1, &ev), XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK(strstr(ev.text, "namespace declaration limit of 256") != NULL);
	CHECK_INT_EQ(xtt_table(s, 'n'), XMLSTREAM_NS_MAX);
	xmlstream_free(s);
}

/* XMLSTREAM_DECODE_MAX: a 'to' that needs decoding (a reference inside)
 * of exactly that many bytes as received passes, one more fails. */
static enum xmlstream_event_type
xtt_decode(struct xmlstream *s, size_t vlen, struct xmlstream_event *ev)
{
	char *in = malloc(vlen + 64);
	size_t len;
	enum xmlstream_event_type t;

	REQUIRE(in != NULL);
	len = (size_t)snprintf(in, 64, "<message to='&amp;");
	memset(in + len, 'x', vlen - 5);
	len += vlen - 5;
	len += (size_t)snprintf(in + len, 64, "'/>");
	t = xtt_feed_next(s, in, len, ev);
	free(in);
	return t;
}

TEST(xmlstream_tables_decode_at_limit)
{
	struct xmlstream_event ev;
	struct xmlstream *s;

	s = xtt_open(0, 0);
	CHECK_INT_EQ(xtt_decode(s, XMLSTREAM_DECODE_MAX, &ev),
	    XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(ev.to.len, XMLSTREAM_DECODE_MAX - 4);
	CHECK(ev.to.p != NULL && ev.to.p[0] == '&' && ev.to.p[1] == 'x');
	CHECK(xtt_table(s, 'd') <= XMLSTREAM_DECODE_MAX);
	/* The next small element lets the arena go back. */
	CHECK_INT_EQ(xtt_feed_next(s, "<iq/>", 5, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK(xtt_table(s, 'd') <= 1024);
	CHECK_INT_EQ(xtt_decode(s, XMLSTREAM_DECODE_MAX + 1, &ev),
	    XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK(strstr(ev.text, "decoded attribute value limit") != NULL);
	CHECK(xtt_table(s, 'd') <= XMLSTREAM_DECODE_MAX);
	xmlstream_free(s);
}

/* Header prefixes: the OPEN event's table is as large as the prefixes
 * declared, XMLSTREAM_HEADER_PREFIXES_MAX at most. */
static enum xmlstream_event_type
xtt_header_prefixes(size_t n, struct xmlstream *s, struct xmlstream_event *ev)
{
	char in[4096];
	size_t len, i;

	len = (size_t)snprintf(in, sizeof(in), "<stream:stream "
	    "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/"
	    "streams' version='1.0'");
	for (i = 1; i < n; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len,
		    " xmlns:h%zu='u:%zu'", i, i);
	len += (size_t)snprintf(in + len, sizeof(in) - len, ">");
	return xtt_feed_next(s, in, len, ev);
}

TEST(xmlstream_tables_header_prefixes_at_limit)
{
	struct xmlstream_event ev;
	struct xmlstream *s;

	s = xtt_new(XMLSTREAM_ATTRS_MAX_CEILING, 0);
	CHECK_INT_EQ(xtt_header_prefixes(XMLSTREAM_HEADER_PREFIXES_MAX, s, &ev),
	    XMLSTREAM_EV_STREAM_OPEN);
	CHECK_INT_EQ(ev.nprefixes, XMLSTREAM_HEADER_PREFIXES_MAX);
	CHECK(xmlstream_str_eq(&ev.prefixes[XMLSTREAM_HEADER_PREFIXES_MAX - 1].prefix,
	    "h31"));
	CHECK_INT_EQ(xtt_table(s, 'h'), XMLSTREAM_HEADER_PREFIXES_MAX);
	xmlstream_free(s);

	s = xtt_new(XMLSTREAM_ATTRS_MAX_CEILING, 0);
	CHECK_INT_EQ(xtt_header_prefixes(XMLSTREAM_HEADER_PREFIXES_MAX + 1, s,
	    &ev), XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK(xtt_table(s, 'h') <= XMLSTREAM_HEADER_PREFIXES_MAX);
	xmlstream_free(s);
}

/* Limits lowered between elements after a table grew: the table went
 * back to a few entries and now grows to the new limit, not past it. */
TEST(xmlstream_tables_limits_lowered_mid_stream)
{
	struct xmlstream_limits lim;
	struct xmlstream_event ev;
	struct xmlstream *s;
	char *el;
	size_t len;

	s = xtt_open(XMLSTREAM_ATTRS_MAX_CEILING, 0);
	el = xtt_attrs_element(100, &len);
	CHECK_INT_EQ(xtt_feed_next(s, el, len, &ev), XMLSTREAM_EV_ELEMENT);
	free(el);
	xmlstream_limits_postauth(&lim);
	lim.attrs_max = 10;
	REQUIRE(xmlstream_set_limits(s, &lim) == 0);
	el = xtt_attrs_element(10, &len);
	CHECK_INT_EQ(xtt_feed_next(s, el, len, &ev), XMLSTREAM_EV_ELEMENT);
	free(el);
	el = xtt_attrs_element(11, &len);
	CHECK_INT_EQ(xtt_feed_next(s, el, len, &ev), XMLSTREAM_EV_ERROR);
	free(el);
	CHECK_STR_EQ(ev.text, "attribute count limit of 10 exceeded");
	CHECK_INT_EQ(xtt_table(s, 'a'), 10);
	xmlstream_free(s);
}

/* A restart (after STARTTLS or SASL) keeps the stream usable: the new
 * header is parsed into the tables the old one left. */
TEST(xmlstream_tables_after_restart)
{
	static const char db[] = "<db:result to='a.example' "
	    "from='b.example'>k</db:result>";
	struct xmlstream_event ev;
	struct xmlstream *s;

	s = xtt_open(0, 0);
	xmlstream_restart(s);
	CHECK_INT_EQ(xtt_feed_next(s, XTT_HDR, strlen(XTT_HDR), &ev),
	    XMLSTREAM_EV_STREAM_OPEN);
	CHECK_INT_EQ(ev.nprefixes, 2);
	CHECK_INT_EQ(xtt_feed_next(s, db, sizeof(db) - 1, &ev),
	    XMLSTREAM_EV_ELEMENT);
	CHECK(xmlstream_memory(s) <= XTT_IDLE_MAX);
	xmlstream_free(s);
}
