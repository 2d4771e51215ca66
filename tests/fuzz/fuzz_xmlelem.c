/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_xmlelem.c - libFuzzer target for the element lookups the
 * negotiation code runs on peer bytes (xmlelem.c): every element the
 * tokenizer accepts from the input, after a fixed stream header, is asked
 * for an attribute and its text, into small and large buffers, and read
 * as <stream:features/> and <stream:error/> (s2s_features.c, which parses
 * the element's children with a second tokenizer).
 */
#include <stddef.h>
#include <stdint.h>

#include "s2s_features.h"
#include "xmlelem.h"
#include "xmlstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hdr[] = "<stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
	    "to='a.example' version='1.0'>";
	struct xmlstream_event ev;
	struct xmlstream *s;
	char small[4], big[512];
	struct s2s_features f;
	size_t off = 0;

	s = xmlstream_new(NULL, NULL);
	if (s == NULL)
		return 0;
	xmlstream_feed(s, hdr, sizeof(hdr) - 1);
	(void)xmlstream_next(s, &ev);
	while (off < size) {
		enum xmlstream_event_type t;
		size_t took = xmlstream_feed(s, data + off, size - off);

		off += took;
		while ((t = xmlstream_next(s, &ev)) == XMLSTREAM_EV_ELEMENT) {
			(void)xmlelem_attr(&ev, "mechanism", small, sizeof(small));
			(void)xmlelem_attr(&ev, "mechanism", big, sizeof(big));
			(void)xmlelem_text(&ev, small, sizeof(small));
			(void)xmlelem_text(&ev, big, sizeof(big));
			(void)s2s_features_read(&ev, &f);
			(void)s2s_stream_error_condition(&ev, small, sizeof(small));
			(void)s2s_stream_error_condition(&ev, big, sizeof(big));
		}
		if (t == XMLSTREAM_EV_ERROR || took == 0)
			break;
	}
	xmlstream_free(s);
	return 0;
}
