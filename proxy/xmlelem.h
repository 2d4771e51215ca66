/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xmlelem.h - the two things the negotiation code needs from an element
 * beyond what the tokenizer reports (name, namespace, to/from/id/type):
 * another attribute of its start tag (SASL's 'mechanism') and the text of
 * a simple element (<auth>=</auth>, <db:result>KEY</db:result>).
 *
 * Both work on an ELEMENT event of xmlstream.c, whose bytes are already
 * validated XML; they locate, never re-validate.  Values are returned raw
 * (entity references are not expanded): callers accept only plain tokens.
 */
#ifndef XE_XMLELEM_H
#define XE_XMLELEM_H

#include <stddef.h>

#include "xmlstream.h"

/* The value of attribute name on ev's start tag, NUL-terminated into out;
 * -1 if absent or longer than cap - 1. */
int xmlelem_attr(const struct xmlstream_event *ev, const char *name, char *out, size_t cap);
/* The text of an element without children ("" for <x/>), into out; -1 if
 * it has child elements or does not fit. */
int xmlelem_text(const struct xmlstream_event *ev, char *out, size_t cap);

/* 1 if needle occurs in the element's bytes.  The bytes are validated
 * XML, so a namespace URI or a tag like ">EXTERNAL<" found there is what
 * it looks like (used on <stream:features/>, whose children are named by
 * unambiguous URIs). */
int xmlelem_contains(const struct xmlstream_event *ev, const char *needle);
#endif
