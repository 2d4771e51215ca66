/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_xmltok.c - libFuzzer target for the XML tokenizer (proxy/xmlstream.c).
 *
 * Input layout: byte 0 picks the read size (1..256 or "all at once" for
 * the second pass), byte 1 picks the limits, the rest is the stream.
 * The stream is parsed twice - in one read, then in reads of the chosen
 * size - and a hash of every event field must match: the tokenizer's
 * output may not depend on read boundaries.  ASan/UBSan catch memory and
 * arithmetic errors; the asserts catch broken invariants (spans inside
 * the buffer, element bytes starting with '<' and ending with '>').
 * On the second pass every element must also pass
 * xmlstream_check_element (its bytes are UTF-8 XML Chars and its copy
 * re-parses alone to the same element) and every error text
 * xmlstream_check_error_text (tests/unit/xmlstream_check.h).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_error.h"
#include "xmlstream.h"
#include "xmlstream_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
fz_mix(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t
fz_str(uint64_t h, struct xmlstream_str s)
{
	uint8_t absent = s.p == NULL;

	h = fz_mix(h, &absent, 1);
	h = fz_mix(h, &s.len, sizeof(s.len));
	if (s.p)
		h = fz_mix(h, s.p, s.len);
	return h;
}

static uint64_t
fz_event(uint64_t h, const struct xmlstream_event *ev)
{
	size_t i;

	h = fz_mix(h, &ev->type, sizeof(ev->type));
	switch (ev->type) {
	case XMLSTREAM_EV_STREAM_OPEN:
		h = fz_str(h, ev->to);
		h = fz_str(h, ev->from);
		h = fz_str(h, ev->id);
		h = fz_str(h, ev->lang);
		h = fz_str(h, ev->version);
		h = fz_str(h, ev->default_ns);
		h = fz_str(h, ev->raw);
		h = fz_mix(h, &ev->nprefixes, sizeof(ev->nprefixes));
		for (i = 0; i < ev->nprefixes; i++) {
			h = fz_str(h, ev->prefixes[i].prefix);
			h = fz_str(h, ev->prefixes[i].uri);
		}
		break;
	case XMLSTREAM_EV_ELEMENT:
		assert(ev->raw.len >= 3 && ev->raw.p[0] == '<' &&
		    ev->raw.p[ev->raw.len - 1] == '>');
		assert(ev->name_end <= ev->raw.len);
		h = fz_str(h, ev->raw);
		h = fz_str(h, ev->name);
		h = fz_str(h, ev->prefix);
		h = fz_str(h, ev->ns);
		h = fz_str(h, ev->to);
		h = fz_str(h, ev->from);
		h = fz_str(h, ev->id);
		h = fz_str(h, ev->stanza_type);
		h = fz_str(h, ev->lang);
		h = fz_mix(h, &ev->hdr_prefixes_used,
		    sizeof(ev->hdr_prefixes_used));
		break;
	case XMLSTREAM_EV_ERROR:
		assert(stream_error_name(ev->cond) != NULL);
		h = fz_mix(h, &ev->cond, sizeof(ev->cond));
		h = fz_mix(h, ev->text, strlen(ev->text));
		break;
	default:
		break;
	}
	return h;
}

/* The output invariants; aborts with the reason. */
static void
fz_check_invariants(const struct xmlstream *s, const struct xmlstream_event *ev)
{
	char why[256];
	int r = 0;

	if (ev->type == XMLSTREAM_EV_ELEMENT)
		r = xmlstream_check_element(s, ev, why, sizeof(why));
	else if (ev->type == XMLSTREAM_EV_ERROR)
		r = xmlstream_check_error_text(ev->text, why, sizeof(why));
	if (r != 0) {
		fprintf(stderr, "invariant broken: %s\n", why);
		abort();
	}
}

static uint64_t
fz_parse(const struct xmlstream_limits *lim, const uint8_t *p, size_t len,
    size_t step, int check)
{
	struct xmlstream *s = xmlstream_new(lim, NULL);
	struct xmlstream_event ev;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t off = 0, n, took;

	if (s == NULL)
		abort();
	for (;;) {
		n = len - off < step ? len - off : step;
		took = n ? xmlstream_feed(s, p + off, n) : 0;
		off += took;
		while (xmlstream_next(s, &ev) != XMLSTREAM_EV_NONE) {
			h = fz_event(h, &ev);
			if (check)
				fz_check_invariants(s, &ev);
			if (ev.type == XMLSTREAM_EV_ERROR)
				goto out;
		}
		if (off == len)
			break;
		assert(took > 0);
	}
out:
	xmlstream_free(s);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xmlstream_limits lim;
	size_t step;

	if (size < 2)
		return 0;
	step = (size_t)data[0] + 1;
	xmlstream_limits_default(&lim);
	switch (data[1] & 3) {
	case 1:
		lim.stanza_max = 64 + (size_t)(data[1] >> 2) * 8;
		break;
	case 2:
		lim.depth_max = 1 + (data[1] >> 5);
		lim.attrs_max = 1 + ((data[1] >> 2) & 7);
		break;
	case 3:
		lim.name_max = 1 + (data[1] >> 2);
		break;
	}
	data += 2;
	size -= 2;
	if (fz_parse(&lim, data, size, size ? size : 1, 0) !=
	    fz_parse(&lim, data, size, step, 1))
		abort();	/* events depend on read boundaries */
	return 0;
}
