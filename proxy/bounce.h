/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bounce.h - error replies to stanzas that cannot be delivered.
 *
 * RFC 6120 §8.3: a stanza that cannot be delivered goes back to its
 * sender as a stanza of the same kind with type='error', 'to' and 'from'
 * swapped, the same 'id', and an <error/> naming the defined condition.
 * Error stanzas are never answered with errors (§8.3.1), so for those
 * bounce_write reports that nothing is to be sent.  'to', 'from' and 'id'
 * are copied byte for byte from the event's *_quoted spans (the sender
 * matches the id exactly); the text is XML-escaped.
 */
#ifndef XE_BOUNCE_H
#define XE_BOUNCE_H

#include <stddef.h>

#include "stanza_error.h"
#include "xmlstream.h"

#define BOUNCE_MAX 32768	/* bytes of one bounce: JIDs (3071 bytes each, RFC 7622) as sent */

enum bounce_result {
	BOUNCE_WRITTEN,		/* out holds the error stanza */
	BOUNCE_NOT_A_STANZA,	/* not message/presence/iq: nothing to send */
	BOUNCE_IS_ERROR,	/* type='error': must not be answered */
	BOUNCE_TOO_LONG,	/* does not fit in cap */
};

/* condition: RFC 6120 §8.3.3, written with the type §8.3.3 gives it
 * (stanza_error.h); text may be NULL. */
enum bounce_result bounce_write(const struct xmlstream_event *ev,
    enum stanza_error condition, const char *text,
    char *out, size_t cap, size_t *outlen);

#endif
