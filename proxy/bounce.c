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

#include "buf.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

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
put_attr(struct buf *b, const char *name, const struct xmlstream_str *q, const struct xmlstream_str *v)
{
	if (q->p != NULL && q->len >= 2)
		return buf_appendf(b, " %s=", name) == BUF_OK &&
		    buf_append(b, q->p, q->len) == BUF_OK ? 0 : -1;
	if (v->p == NULL)
		return 0;
	return buf_appendf(b, " %s='", name) == BUF_OK &&
	    stream_error_escape(b, v->p, v->len) == 0 &&
	    buf_append_str(b, "'") == BUF_OK ? 0 : -1;
}

enum bounce_result
bounce_write(const struct xmlstream_event *ev, enum stanza_error condition,
    const char *text, char *out, size_t cap, size_t *outlen)
{
	const char *name;
	struct buf b;

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
	buf_init_fixed(&b, out, cap);
	if (buf_appendf(&b, "<%s", name) != BUF_OK ||
	    put_attr(&b, "from", &ev->to_quoted, &ev->to) < 0 ||
	    put_attr(&b, "to", &ev->from_quoted, &ev->from) < 0 ||
	    put_attr(&b, "id", &ev->id_quoted, &ev->id) < 0 ||
	    buf_appendf(&b, " type='error'><error type='%s'><%s xmlns='" NS_STANZAS "'/>",
	    stanza_error_type_name(stanza_error_type(condition)), stanza_error_name(condition)) != BUF_OK)
		return BOUNCE_TOO_LONG;
	if (text != NULL &&
	    (buf_append_str(&b, "<text xmlns='" NS_STANZAS "'>") != BUF_OK ||
	    stream_error_escape(&b, text, strlen(text)) < 0 ||
	    buf_append_str(&b, "</text>") != BUF_OK))
		return BOUNCE_TOO_LONG;
	if (buf_appendf(&b, "</error></%s>", name) != BUF_OK)
		return BOUNCE_TOO_LONG;
	*outlen = b.len;
	return BOUNCE_WRITTEN;
}
