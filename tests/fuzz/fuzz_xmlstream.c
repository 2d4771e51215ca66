/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_xmlstream.c - libFuzzer target for the stream-level state machine
 * (proxy/xmlstream.c + proxy/stream_error.c) driven the way the daemon's
 * listener drives it.
 *
 * The input is a script: a control byte, then data.  Bytes go in through
 * the zero-copy path (reserve/commit) in reads sized by the control
 * byte; elements are re-emitted with namespace injection; a top-level
 * element whose local name starts with 'r' triggers a stream restart
 * (as after SASL success / TLS), one starting with 'a' switches to the
 * post-authentication limits; errors are rendered with
 * stream_error_write.  Most inputs get a valid stream header prepended so
 * the fuzzer spends its time past the header.  Every element must pass
 * xmlstream_check_element, every error text xmlstream_check_error_text
 * and every rendered error xmlstream_check_stream_error
 * (tests/unit/xmlstream_check.h).
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

static const char fz_header[] = "<?xml version='1.0'?><stream:stream "
    "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns:db='jabber:server:dialback' to='a.example' from='b.example' "
    "version='1.0'>";

static char fz_out[1 << 20];

static void
fz_invariant(int r, const char *why)
{
	if (r != 0) {
		fprintf(stderr, "invariant broken: %s\n", why);
		abort();
	}
}

static void
fz_check_element(const struct xmlstream *s, const struct xmlstream_event *ev)
{
	size_t len, dlen;
	char why[256];

	fz_invariant(xmlstream_check_element(s, ev, why, sizeof(why)), why);
	if (xmlstream_element_write(s, ev, ev->raw.len & 1, fz_out,
	    sizeof(fz_out), &len) == 0) {
		xmlstream_element_ns_decls(s, ev, ev->raw.len & 1, fz_out,
		    sizeof(fz_out), &dlen);
		assert(len == ev->raw.len + dlen);
	}
}

/* Returns 0 to go on, 1 once the stream is over. */
static int
fz_drain(struct xmlstream *s)
{
	struct xmlstream_event ev;
	struct xmlstream_limits lim;
	size_t len;

	while (xmlstream_next(s, &ev) != XMLSTREAM_EV_NONE) {
		switch (ev.type) {
		case XMLSTREAM_EV_ELEMENT:
			fz_check_element(s, &ev);
			if (ev.name.len > 0 && ev.name.p[0] == 'r') {
				xmlstream_restart(s);
				return 0;
			}
			if (ev.name.len > 0 && ev.name.p[0] == 'a') {
				xmlstream_limits_postauth(&lim);
				if (xmlstream_set_limits(s, &lim) != 0)
					abort();
			}
			break;
		case XMLSTREAM_EV_ERROR: {
			char why[256];

			fz_invariant(xmlstream_check_error_text(ev.text, why,
			    sizeof(why)), why);
			if (stream_error_write(fz_out, sizeof(fz_out),
			    ev.cond, ev.text, &len) != 0)
				abort();
			fz_invariant(xmlstream_check_stream_error(fz_out, len,
			    why, sizeof(why)), why);
			return 1;
		}
		case XMLSTREAM_EV_STREAM_CLOSE:
			return 1;
		default:
			break;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	size_t off = 0, step, n;
	uint8_t ctl;
	void *dst;
	int done = 0;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	step = 1 + (size_t)(ctl & 0x3f) * 7;
	xmlstream_limits_preauth(&lim);
	s = xmlstream_new(&lim, (ctl & 0x40) ? XMLSTREAM_NS_SERVER : NULL);
	if (s == NULL)
		abort();
	if (!(ctl & 0x80)) {
		if (xmlstream_feed(s, fz_header, sizeof(fz_header) - 1) !=
		    sizeof(fz_header) - 1)
			abort();
		done = fz_drain(s);
	}
	while (!done && off < size) {
		if (xmlstream_reserve(s, &dst, &n) != 0)
			abort();
		if (n == 0)
			break;	/* only after an error */
		if (n > step)
			n = step;
		if (n > size - off)
			n = size - off;
		memcpy(dst, data + off, n);
		xmlstream_commit(s, n);
		off += n;
		done = fz_drain(s);
	}
	(void)xmlstream_buffered(s);
	(void)xmlstream_state_name(s);
	xmlstream_free(s);
	return 0;
}
