/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream_error.h - XMPP stream error conditions (RFC 6120 §4.9).
 *
 * One enum value per defined condition of RFC 6120 §4.9.3, its element
 * name, and a writer that produces the whole closing sequence
 *
 *   <stream:error><COND xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
 *   <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>TEXT</text>
 *   </stream:error></stream:stream>
 *
 * (without the line breaks) into a caller-given bounded buffer.  The
 * writer never allocates and never truncates: if the output does not fit
 * it fails and writes nothing usable.
 *
 * RFC 6120 §4.9.1.2: when the error is raised by the initial stream header
 * the sender must still open its own stream first; that header is the
 * caller's business (it knows its own 'from' and 'id'), this module only
 * writes the error and the close tag.
 */
#ifndef XE_STREAM_ERROR_H
#define XE_STREAM_ERROR_H

#include <stddef.h>

#include "buf.h"

#define STREAM_ERROR_NS "urn:ietf:params:xml:ns:xmpp-streams"

/* Longest text this module will write (RFC 6120 §4.9.2 sets no bound;
 * we keep ours small so an error always fits a small stack buffer). */
#define STREAM_ERROR_TEXT_MAX 1024

/* RFC 6120 §4.9.3.1 - §4.9.3.25, in the RFC's order. */
enum stream_error_cond {
	STREAM_ERR_NONE = 0,
	STREAM_ERR_BAD_FORMAT,			/* §4.9.3.1 */
	STREAM_ERR_BAD_NAMESPACE_PREFIX,	/* §4.9.3.2 */
	STREAM_ERR_CONFLICT,			/* §4.9.3.3 */
	STREAM_ERR_CONNECTION_TIMEOUT,		/* §4.9.3.4 */
	STREAM_ERR_HOST_GONE,			/* §4.9.3.5 */
	STREAM_ERR_HOST_UNKNOWN,		/* §4.9.3.6 */
	STREAM_ERR_IMPROPER_ADDRESSING,		/* §4.9.3.7 */
	STREAM_ERR_INTERNAL_SERVER_ERROR,	/* §4.9.3.8 */
	STREAM_ERR_INVALID_FROM,		/* §4.9.3.9 */
	STREAM_ERR_INVALID_NAMESPACE,		/* §4.9.3.10 */
	STREAM_ERR_INVALID_XML,			/* §4.9.3.11 */
	STREAM_ERR_NOT_AUTHORIZED,		/* §4.9.3.12 */
	STREAM_ERR_NOT_WELL_FORMED,		/* §4.9.3.13 */
	STREAM_ERR_POLICY_VIOLATION,		/* §4.9.3.14 */
	STREAM_ERR_REMOTE_CONNECTION_FAILED,	/* §4.9.3.15 */
	STREAM_ERR_RESET,			/* §4.9.3.16 */
	STREAM_ERR_RESOURCE_CONSTRAINT,		/* §4.9.3.17 */
	STREAM_ERR_RESTRICTED_XML,		/* §4.9.3.18 */
	STREAM_ERR_SEE_OTHER_HOST,		/* §4.9.3.19 */
	STREAM_ERR_SYSTEM_SHUTDOWN,		/* §4.9.3.20 */
	STREAM_ERR_UNDEFINED_CONDITION,		/* §4.9.3.21 */
	STREAM_ERR_UNSUPPORTED_ENCODING,	/* §4.9.3.22 */
	STREAM_ERR_UNSUPPORTED_FEATURE,		/* §4.9.3.23 */
	STREAM_ERR_UNSUPPORTED_STANZA_TYPE,	/* §4.9.3.24 */
	STREAM_ERR_UNSUPPORTED_VERSION,		/* §4.9.3.25 */
	STREAM_ERR_COUNT
};

/* The element name ("not-well-formed"), or NULL for STREAM_ERR_NONE and
 * out-of-range values. */
const char *stream_error_name(enum stream_error_cond cond);

/* The condition whose element name is the len bytes at name, or
 * STREAM_ERR_UNDEFINED_CONDITION if none matches (RFC 6120 §4.9.3.21:
 * an unknown condition is treated as undefined-condition). */
enum stream_error_cond stream_error_from_name(const char *name, size_t len);

/*
 * Writes the stream error with condition cond and optional human-readable
 * text (NUL-terminated, may be NULL or "", at most
 * STREAM_ERROR_TEXT_MAX bytes; escaped with stream_error_escape, so it may
 * hold any bytes, a peer's included)
 * followed by </stream:stream> into out[0..cap).  For
 * STREAM_ERR_SEE_OTHER_HOST, text is the host and becomes the content of
 * the condition element (RFC 6120 §4.9.3.19) instead of a <text/>.
 * On success stores the length in *outlen (no NUL is written) and
 * returns 0; returns -1 if cond is invalid, text too long, or cap too
 * small.
 */
int stream_error_write(char *out, size_t cap, enum stream_error_cond cond,
    const char *text, size_t *outlen);

/* Escapes len bytes of src for use in XML character data or a quoted
 * attribute value, appending to b: markup characters become references,
 * bytes that are not UTF-8 XML Chars (controls, invalid UTF-8) become
 * U+FFFD, so the output is well-formed whatever src holds.  Returns 0, or
 * -1 with b as it was if it does not fit.  Shared with xmlstream.c and
 * bounce.c. */
int stream_error_escape(struct buf *b, const char *src, size_t len);

#endif
