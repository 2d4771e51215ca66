/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xmlstream_check.c - invariants of the tokenizer's output (see
 * xmlstream_check.h).
 *
 * The UTF-8 / Char check below is written apart from common/utf8.h on
 * purpose: an oracle that shared the tokenizer's decoder would share its
 * bugs.  It decodes by the bit patterns of RFC 3629 §3 and then refuses
 * overlong forms and everything outside XML 1.0 §2.2 Char by code point.
 */
#include "xmlstream_check.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_error.h"

/* The smallest header the proxy's own parser accepts; the default
 * namespace is only a placeholder, the copy under test declares its own
 * (xmlstream_element_write with_default_ns). */
static const char xc_header[] = "<stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

static int
xc_fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (cap > 0) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Length of the XML Char encoded at p[0..avail), 0 if there is none. */
static size_t
xc_char_len(const uint8_t *p, size_t avail)
{
	static const uint32_t shortest[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t n, i;

	if (p[0] < 0x80) {
		n = 1;
		cp = p[0];
	} else if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1fu;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0fu;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07u;
	} else
		return 0;
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if (n > 1 && cp < shortest[n])
		return 0;
	if (cp == 0x9 || cp == 0xa || cp == 0xd ||
	    (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	    (cp >= 0x10000 && cp <= 0x10ffff))
		return n;
	return 0;
}

/* Offset of the first byte of p[0..len) not in an XML Char, or len. */
static size_t
xc_first_bad(const uint8_t *p, size_t len, int allow_controls)
{
	size_t i = 0, n;

	while (i < len) {
		n = xc_char_len(p + i, len - i);
		if (n == 0 || (!allow_controls && p[i] < 0x20))
			return i;
		i += n;
	}
	return len;
}

/* The event fields a copy must keep. */
static const struct {
	const char	*what;
	size_t		 off;
} xc_fields[] = {
	{ "name", offsetof(struct xmlstream_event, name) },
	{ "namespace", offsetof(struct xmlstream_event, ns) },
	{ "'to'", offsetof(struct xmlstream_event, to) },
	{ "'from'", offsetof(struct xmlstream_event, from) },
	{ "'id'", offsetof(struct xmlstream_event, id) },
	{ "'type'", offsetof(struct xmlstream_event, stanza_type) },
	{ "raw 'id'", offsetof(struct xmlstream_event, id_quoted) },
};

static struct xmlstream_str
xc_field(const struct xmlstream_event *ev, size_t i)
{
	struct xmlstream_str v;

	memcpy(&v, (const char *)ev + xc_fields[i].off, sizeof(v));
	return v;
}

static int
xc_same(struct xmlstream_str a, struct xmlstream_str b)
{
	if (a.p == NULL || b.p == NULL)
		return a.p == b.p;
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/*
 * The re-parsing tokenizer and the copy's buffer are kept from one check
 * to the next: the fuzzer checks every element it finds, and creating a
 * tokenizer per element (its tables are ~40 KiB) halved its speed.  A
 * stream that ended cleanly (state "open", nothing buffered) is
 * restarted, any other is replaced, so no check sees another's state.
 */
static struct xmlstream *xc_stream;
static char *xc_copy;
static size_t xc_copy_cap;

static struct xmlstream *
xc_stream_fresh(void)
{
	struct xmlstream_limits lim;

	if (xc_stream != NULL && xmlstream_buffered(xc_stream) == 0 &&
	    strcmp(xmlstream_state_name(xc_stream), "open") == 0) {
		xmlstream_restart(xc_stream);
		return xc_stream;
	}
	xmlstream_free(xc_stream);
	lim.stanza_max = XMLSTREAM_STANZA_MAX_CEILING;
	lim.depth_max = XMLSTREAM_DEPTH_MAX_CEILING;
	lim.attrs_max = XMLSTREAM_ATTRS_MAX_CEILING;
	lim.name_max = XMLSTREAM_NAME_MAX_CEILING;
	return xc_stream = xmlstream_new(&lim, NULL);
}

/*
 * Feeds the minimal header and then bytes[0..len) to a fresh tokenizer
 * at its ceilings (the events point into it until the next check).
 * Collects up to max events after the header's; *n is their number.
 * Stops at the first error or when nothing more comes.
 */
static int
xc_reparse(const char *bytes, size_t len, struct xmlstream_event *evs,
    size_t max, size_t *n, char *why, size_t cap)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	size_t off, took;

	*n = 0;
	if ((s = xc_stream_fresh()) == NULL)
		return xc_fail(why, cap, "out of memory");
	if (xmlstream_feed(s, xc_header, sizeof(xc_header) - 1) !=
	    sizeof(xc_header) - 1 ||
	    xmlstream_next(s, &ev) != XMLSTREAM_EV_STREAM_OPEN)
		return xc_fail(why, cap, "minimal header refused");
	/* The buffer takes what fits; before the last byte no event may
	 * come but an error (a feed would move the bytes it points to). */
	for (off = 0; off < len; off += took) {
		if ((took = xmlstream_feed(s, bytes + off, len - off)) == 0)
			return xc_fail(why, cap, "copy of %zu bytes does not "
			    "fit", len);
		if (off + took == len)
			break;
		if (xmlstream_next(s, &evs[0]) != XMLSTREAM_EV_NONE) {
			*n = 1;
			if (evs[0].type == XMLSTREAM_EV_ERROR)
				return 0;
			return xc_fail(why, cap, "event before the end of "
			    "the copy");
		}
	}
	while (*n < max && xmlstream_next(s, &evs[*n]) != XMLSTREAM_EV_NONE)
		if (evs[(*n)++].type == XMLSTREAM_EV_ERROR)
			break;
	return 0;
}

int
xmlstream_check_element(const struct xmlstream *s,
    const struct xmlstream_event *ev, char *why, size_t cap)
{
	struct xmlstream_event again[2];
	size_t bad, n, len, i;
	char *copy;

	if (ev->type != XMLSTREAM_EV_ELEMENT)
		return xc_fail(why, cap, "not an element event");
	bad = xc_first_bad((const uint8_t *)ev->raw.p, ev->raw.len, 1);
	if (bad < ev->raw.len)
		return xc_fail(why, cap, "byte 0x%02x at offset %zu of the "
		    "element is not part of a UTF-8 XML Char",
		    (unsigned)(uint8_t)ev->raw.p[bad], bad);

	/* The declarations copied from the header have no bound of their
	 * own here: grow until the copy fits. */
	while (xc_copy == NULL || xmlstream_element_write(s, ev, 1, xc_copy,
	    xc_copy_cap, &len) != 0) {
		size_t want = xc_copy_cap ? xc_copy_cap * 2 : 65536;

		if (want > ((size_t)64 << 20) ||
		    (copy = realloc(xc_copy, want)) == NULL)
			return xc_fail(why, cap, "cannot write the copy");
		xc_copy = copy;
		xc_copy_cap = want;
	}
	copy = xc_copy;
	if (xc_reparse(copy, len, again, 2, &n, why, cap) != 0)
		return -1;
	if (n >= 1 && again[0].type == XMLSTREAM_EV_ERROR &&
	    again[0].cond == STREAM_ERR_POLICY_VIOLATION)
		return 0;	/* a limit of the copy, see the header */
	if (n != 1 || again[0].type != XMLSTREAM_EV_ELEMENT)
		return xc_fail(why, cap, "copy re-parses to %zu events, first "
		    "%s (%s)", n, n == 0 ? "none" :
		    again[0].type == XMLSTREAM_EV_ERROR ?
		    stream_error_name(again[0].cond) : "not an element",
		    n > 0 && again[0].type == XMLSTREAM_EV_ERROR ?
		    again[0].text : "-");
	if (again[0].raw.len != len || memcmp(again[0].raw.p, copy, len) != 0)
		return xc_fail(why, cap, "copy re-parses to other bytes");
	for (i = 0; i < sizeof(xc_fields) / sizeof(xc_fields[0]); i++)
		if (!xc_same(xc_field(&again[0], i), xc_field(ev, i)))
			return xc_fail(why, cap, "copy re-parses to another %s",
			    xc_fields[i].what);
	return 0;
}

int
xmlstream_check_error_text(const char *text, char *why, size_t cap)
{
	size_t len, bad;

	if (text == NULL)
		return xc_fail(why, cap, "no error text");
	len = strlen(text);
	bad = xc_first_bad((const uint8_t *)text, len, 0);
	if (bad < len)
		return xc_fail(why, cap, "error text byte 0x%02x at offset "
		    "%zu is a control or not UTF-8",
		    (unsigned)(uint8_t)text[bad], bad);
	return 0;
}

int
xmlstream_check_stream_error(const char *out, size_t len, char *why,
    size_t cap)
{
	struct xmlstream_event evs[3];
	size_t n;

	if (xc_reparse(out, len, evs, 3, &n, why, cap) != 0)
		return -1;
	if (n != 2 || evs[0].type != XMLSTREAM_EV_ELEMENT ||
	    !xmlstream_str_eq(&evs[0].name, "error") ||
	    !xmlstream_str_eq(&evs[0].ns, XMLSTREAM_NS_STREAMS) ||
	    evs[1].type != XMLSTREAM_EV_STREAM_CLOSE)
		return xc_fail(why, cap, "stream error re-parses to %zu "
		    "events%s%s", n, n > 0 && evs[n - 1].type ==
		    XMLSTREAM_EV_ERROR ? ", error: " : "", n > 0 &&
		    evs[n - 1].type == XMLSTREAM_EV_ERROR ?
		    evs[n - 1].text : "");
	return 0;
}
