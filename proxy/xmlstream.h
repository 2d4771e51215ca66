/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xmlstream.h - the XMPP stream core: an incremental, zero-copy tokenizer
 * for the XML subset XMPP allows (RFC 6120 §11) and the stream-level state
 * machine on top of it (stream header, top-level elements, stream close).
 *
 * Every byte received from a peer goes through this module once; the
 * layers above trust its events and never re-scan the bytes (STYLE.md 5).
 *
 * BUFFER OWNERSHIP
 *   The stream owns one bounded input buffer.  Bytes enter it either by
 *   copy (xmlstream_feed) or, for libuv, without a copy: alloc_cb hands
 *   out the buffer's free tail (xmlstream_reserve) and read_cb reports how
 *   much was written there (xmlstream_commit).  The buffer never holds
 *   more than  header + stanza_max + XMLSTREAM_READ_SLACK  bytes: it grows
 *   on demand (doubling) up to that bound, is never larger, and shrinks
 *   back once a large stanza is consumed (an idle stream holds little).  The stream
 *   header's bytes stay at the front of the buffer for the life of the
 *   stream (its namespace declarations are referenced by every stanza);
 *   after a top-level element has been reported its bytes are dropped and
 *   the unparsed remainder is moved down (compaction) the next time bytes
 *   are added.  The stanza itself is never copied: events point into the
 *   buffer.
 *
 * EVENT LIFETIME
 *   Every pointer in a struct xmlstream_event (element bytes, names,
 *   attribute values, error text) is valid until the next call of
 *   xmlstream_feed, xmlstream_reserve, xmlstream_commit, xmlstream_restart,
 *   xmlstream_set_limits or xmlstream_free on the same stream.  Calling
 *   xmlstream_next again does not move bytes, so the span of the previous
 *   element stays valid while the caller drains further events, but it
 *   is simplest to forward (copy into the output queue) before returning.
 *
 * USE FROM A LIBUV READ CALLBACK
 *   alloc_cb:  xmlstream_reserve(s, &p, &n); buf->base = p; buf->len = n;
 *              (n == 0 cannot happen after the previous read was drained)
 *   read_cb:   xmlstream_commit(s, nread);
 *              while ((t = xmlstream_next(s, &ev)) != XMLSTREAM_EV_NONE) {
 *                  if (t == XMLSTREAM_EV_ERROR) { send ev.cond; close; }
 *                  ...
 *              }
 *   With TLS in between, decrypt into the same reserved space, or copy
 *   plaintext in with xmlstream_feed (it takes what fits; drain, repeat).
 *
 * WHAT IS CHECKED (the tokenizer is the validator)
 *   XML 1.0 well-formedness of everything passed: names (XML 1.0 5th ed.
 *   NameStartChar/NameChar), attribute syntax and uniqueness, matching end
 *   tags, the five predefined entities and character references (which
 *   must name an XML Char), CDATA sections, "]]>" in text, UTF-8 (shortest
 *   form, no surrogates, no U+FFFE/U+FFFF, no forbidden C0 controls) and
 *   Namespaces in XML 1.0 (declared prefixes, reserved xml/xmlns, unique
 *   expanded attribute names).  Refused per RFC 6120 §11.1 with
 *   restricted-xml: comments, processing instructions (other than the
 *   XML declaration at the very start), DTDs (<!DOCTYPE and friends) and
 *   entity references other than the predefined five.  The mapping from
 *   each failure to its RFC 6120 §4.9.3 condition is in xmlstream.c's
 *   header comment.  Character data between top-level elements must be
 *   whitespace (keepalives, RFC 6120 §4.6.1) and is dropped.
 *
 * Once an error is reported the stream is dead: xmlstream_next keeps
 * returning the same error event.
 */
#ifndef XE_XMLSTREAM_H
#define XE_XMLSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "stream_error.h"

#define XMLSTREAM_NS_STREAMS	"http://etherx.jabber.org/streams"
#define XMLSTREAM_NS_SERVER	"jabber:server"
#define XMLSTREAM_NS_CLIENT	"jabber:client"
#define XMLSTREAM_NS_XML	"http://www.w3.org/XML/1998/namespace"

/*
 * Limits.  Stanza size counts the bytes of one top-level element from its
 * '<' to its final '>'; the stream header (from the first byte received)
 * is held to the same bound.  The pre/post-authentication pair follows
 * Prosody (c2s/s2s_stanza_size_limit): small before the peer is
 * authenticated, larger after.
 */
#define XMLSTREAM_STANZA_MAX_DEFAULT	(256 * 1024)	/* bytes */
#define XMLSTREAM_STANZA_MAX_PREAUTH	10000		/* bytes */
#define XMLSTREAM_STANZA_MAX_POSTAUTH	(512 * 1024)	/* bytes */
#define XMLSTREAM_DEPTH_MAX_DEFAULT	64	/* elements, stanza itself = 1 */
#define XMLSTREAM_ATTRS_MAX_DEFAULT	64	/* per element, xmlns* included */
#define XMLSTREAM_NAME_MAX_DEFAULT	256	/* bytes of one qualified name */

/* Hard ceilings: set_limits refuses values above these.  The per-element
 * tables (attributes, open elements, namespace bindings, decoded values)
 * are not sized for them: each grows on demand up to the limit in force
 * and shrinks back once the element that needed it is complete, so an
 * idle stream holds a few hundred bytes of tables (issue 18). */
#define XMLSTREAM_STANZA_MAX_CEILING	(16 * 1024 * 1024)
#define XMLSTREAM_DEPTH_MAX_CEILING	128
#define XMLSTREAM_ATTRS_MAX_CEILING	128
#define XMLSTREAM_NAME_MAX_CEILING	1024

/* Bound on namespace declarations in scope at once (header + open
 * elements), on prefixes declared by the stream header, and on the bytes
 * of attribute values that had to be decoded (they contained references
 * or literal tab/CR/LF) for one element's routing attributes and
 * namespace declarations.  Exceeding any gives policy-violation. */
#define XMLSTREAM_NS_MAX		256
#define XMLSTREAM_HEADER_PREFIXES_MAX	32
#define XMLSTREAM_DECODE_MAX		8192	/* bytes */

/* Free space offered per read beyond the stanza bound, so a complete
 * stanza followed by the start of the next one always fits. */
#define XMLSTREAM_READ_SLACK		16384	/* bytes */
#define XMLSTREAM_BUF_INITIAL		1024	/* bytes, grows to the bound and
						   shrinks back when idle */

struct xmlstream_limits {
	size_t	stanza_max;	/* bytes of one top-level element */
	size_t	depth_max;	/* nesting inside a stanza, stanza = 1 */
	size_t	attrs_max;	/* attributes per element */
	size_t	name_max;	/* bytes of one element/attribute qname */
};

/* A string in an event.  p == NULL means absent (attribute not present);
 * an empty present value has p != NULL and len == 0.  Not NUL-terminated. */
struct xmlstream_str {
	const char	*p;
	size_t		 len;
};

struct xmlstream_nsdecl {
	struct xmlstream_str	prefix;	/* without "xmlns:" */
	struct xmlstream_str	uri;	/* decoded */
};

enum xmlstream_event_type {
	XMLSTREAM_EV_NONE = 0,		/* need more bytes */
	XMLSTREAM_EV_STREAM_OPEN,	/* stream header parsed and valid */
	XMLSTREAM_EV_ELEMENT,		/* a top-level element is complete */
	XMLSTREAM_EV_STREAM_CLOSE,	/* </stream:stream> (or <.../>) */
	XMLSTREAM_EV_ERROR		/* stream error; the stream is dead */
};

/*
 * One event.  Attribute values (to, from, id, type, version, lang) are
 * decoded: references replaced, attribute-value normalisation applied
 * (XML 1.0 §3.3.3); when nothing needed decoding they point straight into
 * the input buffer.
 */
struct xmlstream_event {
	enum xmlstream_event_type type;

	/* STREAM_OPEN and ELEMENT: the bytes of the start tag (OPEN) or the
	 * whole element (ELEMENT), exactly as received. */
	struct xmlstream_str	raw;
	struct xmlstream_str	name;		/* local name */
	struct xmlstream_str	prefix;		/* p == NULL if unprefixed */
	struct xmlstream_str	ns;		/* namespace name, "" if none */
	struct xmlstream_str	to, from, id, lang;	/* lang = xml:lang */

	/* ELEMENT only. */
	struct xmlstream_str	stanza_type;	/* 'type' attribute */
	/* to, from and id exactly as received, quotes included and
	 * nothing decoded ("'a&#9;b'", "\"it's\""); p == NULL when absent.
	 * For copies that must be byte-exact (bounces): decoding applies
	 * attribute-value normalisation, which a re-escape cannot undo. */
	struct xmlstream_str	to_quoted, from_quoted, id_quoted;
	/* Offset in raw just after the qname of the start tag: where
	 * namespace declarations are inserted (xmlstream_element_write). */
	size_t			name_end;
	/* Bit i set: the element uses the i-th prefix of the header
	 * (prefixes[i] of the OPEN event) without declaring it itself. */
	uint32_t		hdr_prefixes_used;
	int			own_default_ns;	/* start tag has xmlns='' */

	/* STREAM_OPEN only. */
	struct xmlstream_str	version;
	unsigned		version_major, version_minor;
	struct xmlstream_str	default_ns;	/* content namespace */
	const struct xmlstream_nsdecl *prefixes; /* declared on the header */
	size_t			nprefixes;

	/* ERROR only. */
	enum stream_error_cond	cond;
	/* NUL-terminated printable UTF-8 (no control characters; quoted
	 * peer bytes that are not become '?'), for <text/> and logs. */
	const char		*text;
};

struct xmlstream;

/* Fills lim with the XMLSTREAM_*_DEFAULT values; _preauth / _postauth use
 * the stanza sizes of the same names and the other defaults. */
void	xmlstream_limits_default(struct xmlstream_limits *lim);
void	xmlstream_limits_preauth(struct xmlstream_limits *lim);
void	xmlstream_limits_postauth(struct xmlstream_limits *lim);

/*
 * Creates a stream parser.  lim is copied (NULL: preauth limits).
 * content_ns is the content namespace the header's default namespace must
 * be (RFC 6120 §4.8.2), e.g. XMLSTREAM_NS_SERVER for s2s; NULL accepts
 * jabber:server and jabber:client.  The string is copied.  Returns NULL on
 * allocation failure or limits above the ceilings.
 */
struct xmlstream *xmlstream_new(const struct xmlstream_limits *lim,
	    const char *content_ns);
void	xmlstream_free(struct xmlstream *s);

/* Replaces the limits, e.g. with xmlstream_limits_postauth() once the
 * peer is authenticated, or after a reload.  Between top-level elements
 * they apply at once.  While a start tag or a stanza is being parsed, a
 * raised value applies at once and a lowered one from the next top-level
 * element: the element in progress is judged by the larger of the old
 * and new values, never by a limit below what it already holds.  The
 * buffer grows to a raised bound on demand.  Returns 0, or -1 (nothing
 * changed) if a value is 0 or above its XMLSTREAM_*_CEILING. */
int	xmlstream_set_limits(struct xmlstream *s,
	    const struct xmlstream_limits *lim);

/*
 * Stream restart (RFC 6120 §4.3.3, after STARTTLS and SASL): forgets the
 * header and all parse state, keeps the bytes not yet parsed (which
 * belong to the new stream) and expects a new stream header.  After
 * STARTTLS the caller must check xmlstream_buffered() == 0 first: bytes
 * pipelined before the TLS handshake must not be honoured.
 */
void	xmlstream_restart(struct xmlstream *s);

/* Bytes received but not yet reported in an event. */
size_t	xmlstream_buffered(const struct xmlstream *s);
/* Bytes allocated for the input buffer now (memory accounting, tests). */
size_t	xmlstream_buffer_size(const struct xmlstream *s);

/* Entries (bytes for dec) the growable tables hold now: memory
 * accounting and the tests of growth at each limit. */
struct xmlstream_table_sizes {
	size_t	attrs, open, ns, dec, header_prefixes;
};
void	xmlstream_table_sizes(const struct xmlstream *s,
	    struct xmlstream_table_sizes *out);
/* Every byte the stream has allocated: the struct, its buffer and its
 * tables (not allocator overhead). */
size_t	xmlstream_memory(const struct xmlstream *s);

/* Copies up to len bytes into the buffer; returns how many were taken
 * (fewer than len when the buffer is full: drain with xmlstream_next and
 * feed the rest).  Returns 0 after an error. */
size_t	xmlstream_feed(struct xmlstream *s, const void *data, size_t len);

/* Zero-copy input: *p / *len receive the free tail of the buffer (at
 * least XMLSTREAM_READ_SLACK bytes, or 0 if the stream is dead or the
 * caller did not drain).  Returns 0, or -1 on allocation failure. */
int	xmlstream_reserve(struct xmlstream *s, void **p, size_t *len);
/* Declares that n bytes were written at the reserved space (n <= len). */
void	xmlstream_commit(struct xmlstream *s, size_t n);
/* As xmlstream_reserve, with at least min_free bytes free (within the
 * bound) and without giving memory back: the buffer stays at its
 * high-water mark (a busy stream decrypting records into it does not
 * reallocate per read) until xmlstream_trim. */
int	xmlstream_reserve_min(struct xmlstream *s, size_t min_free, void **p, size_t *len);
/* Gives back what the buffer holds beyond what is buffered, once it uses
 * at most a quarter of it (never below XMLSTREAM_BUF_INITIAL): for a
 * stream gone quiet.  Invalidates events as xmlstream_reserve does. */
void	xmlstream_trim(struct xmlstream *s);

/* Parses what is buffered up to the next event and returns its type
 * (also in ev->type).  XMLSTREAM_EV_NONE: feed more bytes. */
enum xmlstream_event_type xmlstream_next(struct xmlstream *s,
	    struct xmlstream_event *ev);

/*
 * Namespace declarations an ELEMENT event's copy needs to stand alone on
 * another stream: one " xmlns:P='URI'" per header prefix the element uses
 * (ev->hdr_prefixes_used), plus " xmlns='DEFAULT'" when with_default_ns
 * is set and the element does not declare its own default namespace.
 * Writes them to out[0..cap), sets *outlen (0 when nothing is needed:
 * forward ev->raw as is).  Returns 0, or -1 if cap is too small.
 */
int	xmlstream_element_ns_decls(const struct xmlstream *s,
	    const struct xmlstream_event *ev, int with_default_ns,
	    char *out, size_t cap, size_t *outlen);

/* Writes the re-emittable element: raw[0..name_end) + declarations +
 * raw[name_end..).  Returns 0 / -1 (cap too small). */
int	xmlstream_element_write(const struct xmlstream *s,
	    const struct xmlstream_event *ev, int with_default_ns,
	    char *out, size_t cap, size_t *outlen);

/* 1 if the event string is present and exactly lit. */
int	xmlstream_str_eq(const struct xmlstream_str *s, const char *lit);

/* Name of the stream-level state, for logs ("header", "open", ...). */
const char *xmlstream_state_name(const struct xmlstream *s);

#endif
