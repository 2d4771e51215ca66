/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bounce.c - builds stanza error replies (see bounce.h).
 *
 * 'to', 'from' and 'id' are copied as received (the tokenizer's quoted
 * spans, already validated), so they come back byte for byte and never
 * as markup; the text is escaped.
 */
#include "bounce.h"

#include <string.h>

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

static int
put(char *out, size_t cap, size_t *used, const char *s, size_t len)
{
	if (len > cap - *used)
		return -1;
	memcpy(out + *used, s, len);
	*used += len;
	return 0;
}

static int
puts_lit(char *out, size_t cap, size_t *used, const char *s)
{
	return put(out, cap, used, s, strlen(s));
}

/*
 * Appends ` NAME=` and the attribute's value as the peer sent it, quotes
 * included (q: the event's *_quoted span), when present.  RFC 6120 §8.3:
 * the error goes back with the same 'id', and the sender matches it byte
 * for byte; a decoded value re-escaped would turn "&#9;" into a literal
 * tab that attribute normalisation then reads as a space (issue 14
 * finding 9).  The tokenizer validated these bytes as an attribute value
 * in the same quotes, so they are safe to copy.  Events built without
 * quoted spans fall back to escaping the decoded value v.
 */
static int
put_attr(char *out, size_t cap, size_t *used, const char *name,
    const struct xmlstream_str *q, const struct xmlstream_str *v)
{
	if (q->p != NULL && q->len >= 2) {
		if (puts_lit(out, cap, used, " ") < 0 ||
		    puts_lit(out, cap, used, name) < 0 ||
		    puts_lit(out, cap, used, "=") < 0 ||
		    put(out, cap, used, q->p, q->len) < 0)
			return -1;
		return 0;
	}
	if (v->p == NULL)
		return 0;
	if (puts_lit(out, cap, used, " ") < 0 || puts_lit(out, cap, used, name) < 0 ||
	    puts_lit(out, cap, used, "='") < 0 ||
	    stream_error_escape(out, cap, used, v->p, v->len) < 0 ||
	    puts_lit(out, cap, used, "'") < 0)
		return -1;
	return 0;
}

enum bounce_result
bounce_write(const struct xmlstream_event *ev, enum stanza_error condition,
    const char *text, char *out, size_t cap, size_t *outlen)
{
	const char *name;
	size_t used = 0;

	if (xmlstream_str_eq(&ev->name, "message"))
		name = "message";
	else if (xmlstream_str_eq(&ev->name, "presence"))
		name = "presence";
	else if (xmlstream_str_eq(&ev->name, "iq"))
		name = "iq";
	else
		return BOUNCE_NOT_A_STANZA;
	if (xmlstream_str_eq(&ev->stanza_type, "error"))
		return BOUNCE_IS_ERROR;
	if (puts_lit(out, cap, &used, "<") < 0 || puts_lit(out, cap, &used, name) < 0 ||
	    put_attr(out, cap, &used, "from", &ev->to_quoted, &ev->to) < 0 ||
	    put_attr(out, cap, &used, "to", &ev->from_quoted, &ev->from) < 0 ||
	    put_attr(out, cap, &used, "id", &ev->id_quoted, &ev->id) < 0 ||
	    puts_lit(out, cap, &used, " type='error'><error type='") < 0 ||
	    puts_lit(out, cap, &used, stanza_error_type_name(stanza_error_type(condition))) < 0 ||
	    puts_lit(out, cap, &used, "'><") < 0 ||
	    puts_lit(out, cap, &used, stanza_error_name(condition)) < 0 ||
	    puts_lit(out, cap, &used, " xmlns='" NS_STANZAS "'/>") < 0)
		return BOUNCE_TOO_LONG;
	if (text != NULL &&
	    (puts_lit(out, cap, &used, "<text xmlns='" NS_STANZAS "'>") < 0 ||
	    stream_error_escape(out, cap, &used, text, strlen(text)) < 0 ||
	    puts_lit(out, cap, &used, "</text>") < 0))
		return BOUNCE_TOO_LONG;
	if (puts_lit(out, cap, &used, "</error></") < 0 || puts_lit(out, cap, &used, name) < 0 ||
	    puts_lit(out, cap, &used, ">") < 0)
		return BOUNCE_TOO_LONG;
	*outlen = used;
	return BOUNCE_WRITTEN;
}
