/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xmlelem.c - attribute and text lookups on a tokenized element (see
 * xmlelem.h).  Each walks the element's bytes once, bounded by the event's
 * span, and steps over quoted attribute values, which may hold '>' and
 * '=' (XML 1.0 §3.1).
 */
#include "xmlelem.h"

#include <string.h>

static int
xmlelem_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Walks the start tag from p: calls back for each attribute (name span,
 * value span) and returns the '>' that ends the tag, or NULL if the span
 * ends first.  found != NULL stops at the attribute named name.
 */
static const char *
xmlelem_walk(const char *p, const char *end, const char *name, const char **val,
    size_t *vlen)
{
	size_t nlen = name ? strlen(name) : 0;

	while (p < end && !xmlelem_is_space(*p) && *p != '>' && *p != '/')
		p++;	/* '<' and the element name */
	for (;;) {
		const char *attr, *q;

		while (p < end && xmlelem_is_space(*p))
			p++;
		if (p >= end)
			return NULL;
		if (*p == '>')
			return p;
		if (*p == '/')
			return p + 1 < end && p[1] == '>' ? p + 1 : NULL;
		attr = p;
		while (p < end && *p != '=' && !xmlelem_is_space(*p))
			p++;
		if (name != NULL && (size_t)(p - attr) == nlen && memcmp(attr, name, nlen) == 0) {
			while (p < end && *p != '\'' && *p != '"')
				p++;
			if (p >= end)
				return NULL;
			q = memchr(p + 1, *p, (size_t)(end - p - 1));
			if (q == NULL)
				return NULL;
			*val = p + 1;
			*vlen = (size_t)(q - p - 1);
			return q;
		}
		while (p < end && *p != '\'' && *p != '"')
			p++;	/* '=' with optional white space around it */
		if (p >= end)
			return NULL;
		q = memchr(p + 1, *p, (size_t)(end - p - 1));
		if (q == NULL)
			return NULL;
		p = q + 1;
	}
}

int
xmlelem_attr(const struct xmlstream_event *ev, const char *name, char *out, size_t cap)
{
	const char *val = NULL;
	size_t vlen = 0;

	if (xmlelem_walk(ev->raw.p, ev->raw.p + ev->raw.len, name, &val, &vlen) == NULL ||
	    val == NULL || vlen >= cap)
		return -1;
	memcpy(out, val, vlen);
	out[vlen] = '\0';
	return 0;
}

int
xmlelem_text(const struct xmlstream_event *ev, char *out, size_t cap)
{
	const char *end = ev->raw.p + ev->raw.len, *gt, *lt;
	size_t n;

	gt = xmlelem_walk(ev->raw.p, end, NULL, NULL, NULL);
	if (gt == NULL)
		return -1;
	if (gt > ev->raw.p && gt[-1] == '/') {	/* <x/> */
		out[0] = '\0';
		return 0;
	}
	lt = memchr(gt + 1, '<', (size_t)(end - gt - 1));
	if (lt == NULL || lt + 1 >= end || lt[1] != '/')
		return -1;	/* a child element (or no end tag) */
	n = (size_t)(lt - gt - 1);
	if (n >= cap)
		return -1;
	memcpy(out, gt + 1, n);
	out[n] = '\0';
	return 0;
}

int
xmlelem_contains(const struct xmlstream_event *ev, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; ev->raw.p != NULL && i + n <= ev->raw.len; i++)
		if (memcmp(ev->raw.p + i, needle, n) == 0)
			return 1;
	return 0;
}
