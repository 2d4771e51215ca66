/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.h - the one UTF-8 decoder of the proxy, and XML 1.0's Char class.
 *
 * The tokenizer validates peer text with it (proxy/xmlstream.c), and the
 * writers that must never echo a peer's bytes raw use it to find what to
 * replace: the XML escaper of stream errors and bounces
 * (proxy/stream_error.c) and the JSON/text log (common/log.c).  One
 * decoder means the layers cannot disagree on what "valid UTF-8" is.
 * Header-only (static inline) because the tokenizer's hot loops call it.
 */
#ifndef XE_UTF8_H
#define XE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* UTF-8 of U+FFFD REPLACEMENT CHARACTER, what writers put in place of
 * bytes they must not copy. */
#define UTF8_REPLACEMENT	"\xef\xbf\xbd"

/*
 * Decodes one UTF-8 sequence at p[0..avail) (RFC 3629 §4: shortest form,
 * no surrogates, at most U+10FFFF).  Returns its length 1..4, 0 if
 * p[0..avail) is a valid but incomplete prefix, -1 if invalid.  avail must
 * be at least 1.
 */
static inline int
utf8_decode(const uint8_t *p, size_t avail, uint32_t *cp)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2; v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3; v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;	/* no UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4; v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
	} else
		return -1;
	for (i = 1; i < n; i++) {
		if (i >= avail)
			return 0;
		if (p[i] < lo || p[i] > hi)
			return -1;
		lo = 0x80;
		hi = 0xbf;
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return (int)n;
}

/* XML 1.0 §2.2 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
 * [#x10000-#x10FFFF]. */
static inline int
utf8_is_xml_char(uint32_t c)
{
	if (c < 0x20)
		return c == 0x9 || c == 0xa || c == 0xd;
	if (c <= 0xd7ff)
		return 1;
	if (c >= 0xe000 && c <= 0xfffd)
		return 1;
	return c >= 0x10000 && c <= 0x10ffff;
}

#endif
