/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xmlstream_check.h - invariants of the tokenizer's output, checked from
 * outside it.  Shared by the fuzz targets (tests/fuzz/fuzz_xmltok.c,
 * fuzz_xmlstream.c) and the unit tests (test_xmlstream.c), so the
 * property the fuzzer hunts for and the one the regression tests pin are
 * the same code.
 *
 * The class of bug behind issue 14 finding 4 (a byte skipped by one
 * scanner path reached the gateway unvalidated) is "an element the
 * tokenizer reports is not what it claims to be".  These checks state
 * what it claims: its bytes are XML text, and they parse again, alone,
 * to the same element.
 */
#ifndef XE_XMLSTREAM_CHECK_H
#define XE_XMLSTREAM_CHECK_H

#include <stddef.h>

#include "xmlstream.h"

/*
 * Checks one ELEMENT event ev of stream s:
 *  1. every byte of ev->raw belongs to a UTF-8 encoded XML Char (XML 1.0
 *     §2.2: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
 *     [#x10000-#x10FFFF]), decoded here independently of the tokenizer;
 *  2. the element as the proxy re-emits it (xmlstream_element_write,
 *     default namespace included), fed to a fresh tokenizer inside a
 *     minimal stream header, is reported as exactly one element with the
 *     same bytes, name, namespace, to, from, id and type, and nothing else.
 * A re-parse stopped by policy-violation is accepted: the copy carries
 * extra namespace declarations and may hit a fixed table the original
 * did not; that is a limit, not a disagreement about the XML.
 * Returns 0, or -1 with the reason in why[0..cap) (NUL-terminated).
 */
int	xmlstream_check_element(const struct xmlstream *s,
	    const struct xmlstream_event *ev, char *why, size_t cap);

/* Checks an ERROR event's text: printable UTF-8 XML Chars only (no
 * control characters), as a stream error <text/> and a log line need.
 * Returns 0, or -1 with the reason in why. */
int	xmlstream_check_error_text(const char *text, char *why, size_t cap);

/* Checks the output of stream_error_write: after a minimal stream header
 * it parses as exactly one <stream:error/> element and the stream close.
 * Returns 0, or -1 with the reason in why. */
int	xmlstream_check_stream_error(const char *out, size_t len, char *why,
	    size_t cap);

#endif
