/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xmlstream.c - incremental XML tokenizer and XMPP stream state machine.
 *
 * How the pieces fit
 *   Bytes land in one bounded buffer (struct xmlstream.buf).  A resumable
 *   lexer (enum xs_lex, one function per state) walks them from s->pos;
 *   every state can stop at any byte and resume when more bytes arrive,
 *   so no token is ever re-scanned from its start (a 500 KiB attribute
 *   fed one byte per read costs O(n), not O(n^2)).  Where a decision needs
 *   a few bytes of lookahead ("<!--", "<![CDATA[", "]]>", a UTF-8
 *   sequence) the state waits in place; those waits are bounded by 9
 *   bytes (the optional XML declaration, by XS_XMLDECL_MAX).  Nothing
 *   is copied out of the buffer: the lexer records offsets, and the
 *   stream-level layer (xs_stag_finish, xs_etag_finish) turns a finished
 *   start or end tag into namespace bindings, nesting and, at depth 0,
 *   events.  Offsets (not pointers) are stored so the
 *   buffer may be grown with realloc and compacted with memmove.
 *
 *   The stream header stays at the front of the buffer (offsets
 *   [0, base)) for the life of the stream: its namespace declarations
 *   are in scope in every stanza and the re-emit helper copies them from
 *   there.  Attribute values that contain references or literal
 *   tab/CR/LF are decoded into a small arena (s->dec), the header's
 *   at the bottom, the current top-level element's above, reset per
 *   element.
 *
 *   Memory: the per-element tables (attributes, open elements, namespace
 *   bindings, the decode arena) start empty and grow on demand, each
 *   bounded by the limit that governs it (xs_table_reserve), and shrink
 *   back to a few entries once a top-level element that needed more is
 *   complete (xs_tables_shrink).  Sized for the ceilings they took
 *   38.7 KB per stream, most of an idle stream's memory (issue 18).
 *
 *   Determinism: the events (and the error condition) depend only on the
 *   bytes, never on how they were split into reads.  Limits are checked
 *   at exact byte positions (the scan never looks past
 *   elem_start + stanza_max), and lookahead that would have to cross that
 *   bound is itself the limit violation.  tests/unit/test_xmlstream.c
 *   checks this for every case at every split point.
 *
 * Error conditions (RFC 6120 §4.9.3), decided as follows
 *   not-well-formed (§4.9.3.13): any XML 1.0 / Namespaces well-formedness
 *     error: bad syntax, mismatched end tag, duplicate attribute, '<' in
 *     an attribute value, "]]>" in text, bad character reference,
 *     invalid UTF-8 or a character outside XML 1.0 Char (XML 1.0 §4.3.3
 *     makes encoding errors fatal well-formedness errors), text or an end
 *     tag before the header, anything but whitespace after the close.
 *   restricted-xml (§4.9.3.18, §11.1): comments, processing instructions
 *     (other than the XML declaration as the very first bytes), DTDs and
 *     other markup declarations, entity references other than the five
 *     predefined (XML 1.0 §4.6).
 *   unsupported-encoding (§4.9.3.22, §11.6): a UTF-16/32 byte order mark
 *     or NUL-interleaved text at the start, an XML declaration whose
 *     encoding is not UTF-8.
 *   bad-namespace-prefix (§4.9.3.2): an undeclared prefix on an element or
 *     attribute, a misuse of the reserved prefixes xml/xmlns, a prefix
 *     bound to "" (Namespaces in XML 1.0 §3, NSC: No Prefix Undeclaring).
 *   invalid-namespace (§4.9.3.10, §4.8.1, §4.8.2): a root element not
 *     qualified by http://etherx.jabber.org/streams, or no / an
 *     unsupported default (content) namespace on the header.
 *   bad-format (§4.9.3.1): the root element is in the streams namespace
 *     but not named "stream"; a malformed 'version'; character data,
 *     references or CDATA between top-level elements (§4.6.1 allows only
 *     whitespace there).
 *   unsupported-version (§4.9.3.25, §4.7.5): no 'version' (the peer
 *     speaks pre-1.0, which we do not) or a major version other than 1
 *     (a higher minor version is accepted, §4.7.5).
 *   policy-violation (§4.9.3.14): a limit of struct xmlstream_limits or
 *     one of the fixed XMLSTREAM_*_MAX tables, the text naming the limit.
 */
#include "xmlstream.h"
#include "buf.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define XS_NS_XMLNS	"http://www.w3.org/2000/xmlns/"
#define XS_XMLDECL_MAX	256	/* bytes from "<?xml" to "?>" */
#define XS_ERR_TEXT_MAX	160
#define XS_TABLE_MIN	8	/* entries of a table when first used */
#define XS_TABLE_KEEP	16	/* entries kept between top-level elements:
				   above XS_TABLE_MIN, so a stream whose stanzas
				   need a few more does not reallocate per stanza */
#define XS_DEC_MIN	256	/* bytes of the decode arena when first used */
#define XS_DEC_KEEP	1024	/* bytes of it kept between elements */

/* Stream-level state: where we are in the stream as a whole. */
enum xs_state {
	XS_STATE_PROLOG,	/* before the stream header is complete */
	XS_STATE_OPEN,		/* header done, between top-level elements */
	XS_STATE_STANZA,	/* inside a top-level element (or the close) */
	XS_STATE_CLOSED,	/* </stream:stream> seen */
	XS_STATE_ERROR		/* stream error reported; dead */
};

static const char *const xs_state_names[] = {
	"prolog", "open", "stanza", "closed", "error"
};

/* Lexer state: where we are inside a token. */
enum xs_lex {
	XS_LEX_BOM,		/* very first bytes: BOM / encoding sniffing */
	XS_LEX_XMLDECL,		/* optional <?xml ...?> */
	XS_LEX_TEXT,		/* character data (or whitespace at depth 0) */
	XS_LEX_LT,		/* after '<' */
	XS_LEX_BANG,		/* at '!' of "<!" */
	XS_LEX_CDATA,		/* inside <![CDATA[ ... */
	XS_LEX_STAG_NAME,	/* element name of a start tag */
	XS_LEX_STAG_WS,		/* inside a start tag, between attributes */
	XS_LEX_ATTR_NAME,
	XS_LEX_ATTR_EQ,		/* after the attribute name, expecting '=' */
	XS_LEX_ATTR_QUOTE,	/* after '=', expecting a quote */
	XS_LEX_ATTR_VALUE,
	XS_LEX_EMPTY_GT,	/* after '/' of "/>" */
	XS_LEX_ETAG_NAME,	/* element name of an end tag */
	XS_LEX_ETAG_WS,		/* after it, expecting '>' */
	XS_LEX_REF		/* inside &...; (text or attribute value) */
};

/* Results of the lexer steps. */
enum xs_step {
	XS_STEP_OK,		/* progress made, go on */
	XS_STEP_MORE,		/* need more bytes */
	XS_STEP_EVENT,		/* an event is ready in s->ev_type */
	XS_STEP_FAIL		/* error set */
};

/* Where the bytes of an xs_loc live. */
enum xs_where {
	XS_LOC_ABSENT = 0,
	XS_LOC_BUF,		/* s->buf[off .. off+len) */
	XS_LOC_DEC,		/* s->dec[off .. off+len) */
	XS_LOC_NS_XML,		/* the literal XMLSTREAM_NS_XML */
	XS_LOC_EMPTY		/* "" */
};

struct xs_loc {
	size_t		off, len;
	enum xs_where	where;
};

struct xs_attr {
	size_t		name_off, name_len;
	size_t		colon;		/* index of ':' in the name, 0: none */
	size_t		val_off, val_len;
	int		needs_decode;	/* references or tab/CR/LF inside */
	int		is_decl;	/* xmlns or xmlns:* */
	struct xs_loc	ns;		/* resolved (prefixed attributes) */
};

struct xs_binding {
	struct xs_loc	prefix;		/* ABSENT: default namespace */
	struct xs_loc	uri;
	size_t		depth;		/* 0: stream header */
	int		hdr_index;	/* index among header prefixes, or -1 */
};

struct xs_open {
	size_t		name_off, name_len;	/* qname of the start tag */
	size_t		ns_mark;		/* s->nns before its decls */
};

struct xmlstream {
	/* lim: the limits in force.  lim_next: the latest asked for by
	 * xmlstream_set_limits; it replaces lim at the start of every
	 * top-level element (and of the header).  In between, a raised
	 * value applies at once but a lowered one waits: the tables of
	 * the element in progress were filled under the old value
	 * (issue 14 finding 5). */
	struct xmlstream_limits	lim, lim_next;
	char			*content_ns;	/* NULL: client or server */

	enum xs_state		state;
	enum xs_lex		lex;

	/* The buffer.  [0, base): stream header (kept); [base, consumed):
	 * reported, droppable; [consumed, pos): parsed, not yet reported;
	 * [pos, len): not parsed yet. */
	uint8_t			*buf;
	size_t			 len, cap;
	size_t			 base, consumed, pos;

	/* Token offsets (absolute in buf). */
	size_t			 elem_start;	/* '<' of the current element */
	size_t			 name_off;	/* first byte of the name scanned */
	size_t			 text_start;	/* start of the current text run */
	size_t			 val_off;	/* first byte of an attr value */
	size_t			 tag_name_off, tag_name_len;
	int			 had_ws;	/* whitespace since last attr */
	int			 val_needs_decode;
	uint8_t			 quote;
	int			 is_end_tag;

	/* Reference being scanned. */
	enum xs_lex		 ref_ret;	/* TEXT or ATTR_VALUE */
	int			 ref_kind;	/* 0 '&', 1 '&#', 2 dec, 3 hex, 4 name */
	uint32_t		 ref_val;
	size_t			 ref_ndig;

	/* The tables below grow on demand (xs_table_reserve), each bounded
	 * by the limit that governs it, and shrink back to XS_TABLE_KEEP
	 * entries once an element that needed more is complete: an idle
	 * stream holds a few hundred bytes of them, not the ceilings.
	 * Entries are reached by index and hold offsets, so moving a table
	 * (realloc) invalidates nothing. */

	/* Current start tag's attributes; attrs[nattrs] holds the name of
	 * the attribute being read. */
	struct xs_attr		*attrs;
	size_t			 nattrs, attrs_cap;

	/* Open elements inside the current top-level element. */
	struct xs_open		*open;
	size_t			 sdepth, open_cap;

	/* Namespace bindings in scope; [0, nns_hdr) from the header. */
	struct xs_binding	*ns;
	size_t			 nns, nns_hdr, ns_cap;
	size_t			 nhdr_prefixes;

	/* Decoded attribute values; [0, dec_hdr) belong to the header.
	 * At most XMLSTREAM_DECODE_MAX bytes. */
	char			*dec;
	size_t			 dec_len, dec_hdr, dec_cap;

	/* Stream header. */
	size_t			 hdr_start;
	size_t			 hdr_name_off, hdr_name_len;
	struct xs_loc		 h_to, h_from, h_id, h_lang, h_version;
	struct xs_loc		 h_default_ns, h_name, h_prefix, h_ns;
	unsigned		 h_vmajor, h_vminor;

	/* Current top-level element. */
	struct xs_loc		 e_name, e_prefix, e_ns;
	struct xs_loc		 e_to, e_from, e_id, e_type, e_lang;
	struct xs_loc		 e_quoted[3];	/* to, from, id as received */
	size_t			 e_name_end;
	uint32_t		 e_hdr_used;
	int			 e_own_default;

	/* Event hand-off. */
	enum xmlstream_event_type ev_type;
	int			 close_pending;	/* <stream:stream .../> */
	enum stream_error_cond	 err_cond;
	char			 err_text[XS_ERR_TEXT_MAX];
	/* The header's prefixes for the OPEN event, nhdr_prefixes of them
	 * (sized in xs_header_finish). */
	struct xmlstream_nsdecl	*ev_prefixes;
	size_t			 ev_prefixes_cap;
};

/*
 * Byte classes.  NSTART/NCHAR: ASCII name characters (XML 1.0 §2.3);
 * bytes >= 0x80 are decoded and checked against the Unicode ranges.
 * TSTOP / ASTOP / CSTOP: bytes that end the fast loop in text, attribute
 * values and CDATA: markup, references, "]]>" candidates, C0 controls
 * (tab/LF/CR only stop attribute values, which normalise them) and the
 * start of every multi-byte UTF-8 sequence.
 */
#define XS_CC_WS	0x01
#define XS_CC_NSTART	0x02
#define XS_CC_NCHAR	0x04
#define XS_CC_TSTOP	0x08
#define XS_CC_ASTOP	0x10
#define XS_CC_CSTOP	0x20

static const uint8_t xs_cc[256] = {
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x00 */
	0x38, 0x11, 0x11, 0x38, 0x38, 0x11, 0x38, 0x38,	/* 0x08 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x10 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x18 */
	0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x18, 0x10,	/* 0x20 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x04, 0x00,	/* 0x28 */
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,	/* 0x30 */
	0x04, 0x04, 0x06, 0x00, 0x18, 0x00, 0x08, 0x00,	/* 0x38 */
	0x00, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,	/* 0x40 */
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,	/* 0x48 */
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,	/* 0x50 */
	0x06, 0x06, 0x06, 0x00, 0x00, 0x20, 0x00, 0x06,	/* 0x58 */
	0x00, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,	/* 0x60 */
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,	/* 0x68 */
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,	/* 0x70 */
	0x06, 0x06, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x78 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x80 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x88 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x90 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0x98 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xa0 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xa8 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xb0 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xb8 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xc0 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xc8 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xd0 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xd8 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xe0 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xe8 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xf0 */
	0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38,	/* 0xf8 */
};

static int	xs_fail(struct xmlstream *, enum stream_error_cond,
		    const char *, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- */
/* Small helpers                                                     */
/* ---------------------------------------------------------------- */

static void
xs_enter_state(struct xmlstream *s, enum xs_state state)
{
#ifdef XMLSTREAM_TRACE
	fprintf(stderr, "xmlstream %p: %s -> %s\n", (void *)s,
	    xs_state_names[s->state], xs_state_names[state]);
#endif
	s->state = state;
}

/*
 * An error text may quote peer bytes (the XML declaration's encoding
 * name is not validated as text) and vsnprintf may cut it inside a
 * character.  Every byte that is not part of a UTF-8 XML Char, and every
 * control character, becomes '?', so whoever renders the text (a stream
 * error's <text/>, a log line) gets printable UTF-8 (issue 14 finding 9).
 */
static void
xs_text_sanitize(char *text)
{
	uint8_t *t = (uint8_t *)text;
	size_t len = strlen(text), i = 0;
	uint32_t cp;
	int r;

	while (i < len) {
		r = utf8_decode(t + i, len - i, &cp);
		if (r > 0 && cp >= 0x20 && cp != 0x7f && utf8_is_xml_char(cp)) {
			i += (size_t)r;
			continue;
		}
		t[i++] = '?';
	}
}

static int
xs_fail(struct xmlstream *s, enum stream_error_cond cond, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err_text, sizeof(s->err_text), fmt, ap);
	va_end(ap);
	xs_text_sanitize(s->err_text);
	s->err_cond = cond;
	xs_enter_state(s, XS_STATE_ERROR);
	return XS_STEP_FAIL;
}

#define XS_NWF(s, what) xs_fail((s), STREAM_ERR_NOT_WELL_FORMED, "%s", (what))

static int
xs_fail_size(struct xmlstream *s)
{
	return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
	    "%s size limit of %zu bytes exceeded",
	    s->state == XS_STATE_PROLOG ? "stream header" : "stanza",
	    s->lim.stanza_max);
}

/*
 * Lookahead past 'end' is needed.  If end was cut short by the stanza
 * bound (bytes exist beyond it) the element is necessarily larger than
 * the bound: that is the violation.  Otherwise wait for bytes.
 */
static int
xs_more(struct xmlstream *s, size_t p, size_t end)
{
	s->pos = p;
	if (end < s->len)
		return xs_fail_size(s);
	return XS_STEP_MORE;
}

/*
 * Makes room for entry n of a table that grows on demand (attrs[],
 * open[], ns[], ev_prefixes[]): first XS_TABLE_MIN entries, then
 * doubling, never beyond bound entries, the limit that governs the table
 * (limits.attrs_max, limits.depth_max, XMLSTREAM_NS_MAX...).  The limit
 * checks before each use already keep n below bound; this guard sits at
 * every index into a table so that no wrong or stale limit can ever turn
 * into an overrun (issue 14 finding 5: a limit lowered mid-tag let
 * attrs[] overflow) and a hostile peer can never make a table larger
 * than the limits allow.  Fails with policy-violation past the bound,
 * resource-constraint when out of memory.
 */
static int
xs_table_reserve(struct xmlstream *s, void *tabp, size_t *cap, size_t n,
    size_t bound, size_t esize, const char *table)
{
	void **tab = tabp;
	size_t want;
	void *t;

	if (n < *cap)
		return 0;
	if (n >= bound)
		return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
		    "%s table full (%zu entries)", table, bound);
	want = *cap < XS_TABLE_MIN ? XS_TABLE_MIN : *cap * 2;
	if (want > bound)
		want = bound;
	if (want <= n)
		want = n + 1;
	if ((t = realloc(*tab, want * esize)) == NULL)
		return xs_fail(s, STREAM_ERR_RESOURCE_CONSTRAINT,
		    "out of memory for the %s table (%zu entries)", table,
		    want);
	*tab = t;
	*cap = want;
	return 0;
}

/* Gives a table back down to keep entries (at least the n in use). */
static void
xs_table_shrink(void *tabp, size_t *cap, size_t n, size_t keep,
    size_t esize)
{
	void **tab = tabp;
	void *t;

	if (keep < n)
		keep = n;
	if (*cap <= keep)
		return;
	if (keep == 0) {
		free(*tab);
		*tab = NULL;
		*cap = 0;
		return;
	}
	if ((t = realloc(*tab, keep * esize)) == NULL)
		return;		/* keeping the larger table is fine */
	*tab = t;
	*cap = keep;
}

#define XS_MIN(a, b) ((a) < (b) ? (a) : (b))

/*
 * Between top-level elements: the tables a large element made grow go
 * back to keep entries (keep_dec bytes of decoded values), so one big
 * stanza does not pin its tables for the life of the stream while the
 * usual sizes stay allocated (no allocation per stanza).  Never more
 * than the limits for the next element allow (lowered by a reload).
 */
static void
xs_tables_shrink(struct xmlstream *s, size_t keep, size_t keep_dec)
{
	xs_table_shrink(&s->attrs, &s->attrs_cap, s->nattrs,
	    XS_MIN(keep, s->lim_next.attrs_max), sizeof(*s->attrs));
	xs_table_shrink(&s->open, &s->open_cap, s->sdepth,
	    XS_MIN(keep, s->lim_next.depth_max), sizeof(*s->open));
	xs_table_shrink(&s->ns, &s->ns_cap, s->nns, keep, sizeof(*s->ns));
	xs_table_shrink(&s->dec, &s->dec_cap, s->dec_len, keep_dec, 1);
}

/* XML 1.0 (5th ed.) §2.3 NameStartChar / NameChar, non-ASCII part. */
static int
xs_is_name_start_cp(uint32_t c)
{
	return (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) ||
	    (c >= 0xf8 && c <= 0x2ff) || (c >= 0x370 && c <= 0x37d) ||
	    (c >= 0x37f && c <= 0x1fff) || (c >= 0x200c && c <= 0x200d) ||
	    (c >= 0x2070 && c <= 0x218f) || (c >= 0x2c00 && c <= 0x2fef) ||
	    (c >= 0x3001 && c <= 0xd7ff) || (c >= 0xf900 && c <= 0xfdcf) ||
	    (c >= 0xfdf0 && c <= 0xfffd) || (c >= 0x10000 && c <= 0xeffff);
}

static int
xs_is_name_cp(uint32_t c)
{
	return xs_is_name_start_cp(c) || c == 0xb7 ||
	    (c >= 0x300 && c <= 0x36f) || (c >= 0x203f && c <= 0x2040);
}

static const char *
xs_loc_ptr(const struct xmlstream *s, const struct xs_loc *l)
{
	switch (l->where) {
	case XS_LOC_BUF:
		return (const char *)s->buf + l->off;
	case XS_LOC_DEC:
		return s->dec + l->off;
	case XS_LOC_NS_XML:
		return XMLSTREAM_NS_XML;
	case XS_LOC_EMPTY:
		return "";
	case XS_LOC_ABSENT:
		break;
	}
	return NULL;
}

static struct xmlstream_str
xs_loc_str(const struct xmlstream *s, const struct xs_loc *l)
{
	struct xmlstream_str r;

	r.p = xs_loc_ptr(s, l);
	r.len = r.p ? l->len : 0;
	return r;
}

static int
xs_loc_eq_mem(const struct xmlstream *s, const struct xs_loc *l,
    const void *p, size_t len)
{
	const char *lp = xs_loc_ptr(s, l);

	return lp != NULL && l->len == len && memcmp(lp, p, len) == 0;
}

static int
xs_loc_eq(const struct xmlstream *s, const struct xs_loc *a,
    const struct xs_loc *b)
{
	return xs_loc_eq_mem(s, a, xs_loc_ptr(s, b), b->len);
}

static struct xs_loc
xs_loc_buf(size_t off, size_t len)
{
	struct xs_loc l;

	l.off = off;
	l.len = len;
	l.where = XS_LOC_BUF;
	return l;
}

static struct xs_loc
xs_loc_lit(enum xs_where where, size_t len)
{
	struct xs_loc l;

	l.off = 0;
	l.len = len;
	l.where = where;
	return l;
}

/* Compares a span with a string literal (length known at compile time:
 * this sits on the per-attribute path). */
#define XS_MEM_IS(p, len, lit) \
	((len) == sizeof(lit) - 1 && memcmp((p), (lit), sizeof(lit) - 1) == 0)

/* Appends the UTF-8 encoding of c (a valid XML Char) to d. */
static size_t
xs_utf8_encode(char *d, uint32_t c)
{
	if (c < 0x80) {
		d[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		d[0] = (char)(0xc0 | (c >> 6));
		d[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		d[0] = (char)(0xe0 | (c >> 12));
		d[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		d[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (c >> 18));
	d[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	d[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* The decode arena grows to hold need bytes (<= XMLSTREAM_DECODE_MAX,
 * checked by the caller): doubling from XS_DEC_MIN. */
static int
xs_dec_grow(struct xmlstream *s, size_t need)
{
	size_t want = s->dec_cap < XS_DEC_MIN ? XS_DEC_MIN : s->dec_cap * 2;
	char *d;

	while (want < need)
		want *= 2;
	if (want > XMLSTREAM_DECODE_MAX)
		want = XMLSTREAM_DECODE_MAX;
	if ((d = realloc(s->dec, want)) == NULL)
		return xs_fail(s, STREAM_ERR_RESOURCE_CONSTRAINT,
		    "out of memory for decoded attribute values");
	s->dec = d;
	s->dec_cap = want;
	return 0;
}

/*
 * Attribute value [off, off+len) as a loc.  If it holds references or
 * literal tab/CR/LF (needs_decode) it is decoded into s->dec, applying
 * XML 1.0 §2.11 line-end handling and §3.3.3 normalisation (each of
 * tab, LF, CR, CR LF becomes one space).  The references were validated
 * by the lexer, so this only has to expand them.  The decoded form is
 * never longer than the raw one, which bounds the space check.
 */
static int
xs_value_loc(struct xmlstream *s, size_t off, size_t len, int needs_decode,
    struct xs_loc *out)
{
	const uint8_t *p = s->buf + off, *e = p + len;
	char *d;
	size_t start = s->dec_len;
	uint32_t v;

	if (!needs_decode) {
		*out = xs_loc_buf(off, len);
		return 0;
	}
	if (len > XMLSTREAM_DECODE_MAX - s->dec_len)
		return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
		    "decoded attribute value limit of %d bytes exceeded",
		    XMLSTREAM_DECODE_MAX);
	if (s->dec_len + len > s->dec_cap && xs_dec_grow(s, s->dec_len + len) != 0)
		return -1;
	d = s->dec + s->dec_len;
	while (p < e) {
		if (*p == '&') {
			p++;
			if (*p == '#') {
				int hex = 0;

				p++;
				if (*p == 'x') {
					hex = 1;
					p++;
				}
				for (v = 0; *p != ';'; p++) {
					if (hex)
						v = v * 16 + (uint32_t)(*p <= '9' ?
						    *p - '0' : (*p | 0x20) - 'a' + 10);
					else
						v = v * 10 + (uint32_t)(*p - '0');
					if (v > 0x10ffff)
						v = 0x110000; /* unreachable: checked */
				}
				d += xs_utf8_encode(d, v);
			} else {
				switch (p[0]) {
				case 'l': *d++ = '<'; break;
				case 'g': *d++ = '>'; break;
				case 'q': *d++ = '"'; break;
				default:  *d++ = p[1] == 'm' ? '&' : '\''; break;
				}
				while (*p != ';')
					p++;
			}
			p++;
		} else if (*p == '\r') {
			*d++ = ' ';
			p++;
			if (p < e && *p == '\n')
				p++;
		} else if (*p == '\t' || *p == '\n') {
			*d++ = ' ';
			p++;
		} else
			*d++ = (char)*p++;
	}
	out->where = XS_LOC_DEC;
	out->off = start;
	out->len = (size_t)(d - (s->dec + start));
	s->dec_len += out->len;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Namespaces (Namespaces in XML 1.0)                                */
/* ---------------------------------------------------------------- */

static int
xs_ns_push(struct xmlstream *s, struct xs_loc prefix, struct xs_loc uri,
    size_t depth)
{
	struct xs_binding *b;

	if (s->nns >= XMLSTREAM_NS_MAX)
		return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
		    "namespace declaration limit of %d in scope exceeded",
		    XMLSTREAM_NS_MAX);
	if (xs_table_reserve(s, &s->ns, &s->ns_cap, s->nns, XMLSTREAM_NS_MAX,
	    sizeof(*s->ns), "namespace") != 0)
		return -1;
	b = &s->ns[s->nns++];
	b->prefix = prefix;
	b->uri = uri;
	b->depth = depth;
	b->hdr_index = -1;
	return 0;
}

/*
 * Resolves a prefix (p == NULL: none) to a namespace name.  Unprefixed
 * attributes are in no namespace (Namespaces §6.2); unprefixed elements
 * take the innermost default.  Records use of header prefixes in
 * e_hdr_used.  Returns 0 or fails with bad-namespace-prefix.
 */
static int
xs_ns_resolve(struct xmlstream *s, const uint8_t *p, size_t len, int is_attr,
    struct xs_loc *out)
{
	size_t i;

	if (p == NULL) {
		if (!is_attr) {
			for (i = s->nns; i-- > 0; ) {
				if (s->ns[i].prefix.where != XS_LOC_ABSENT)
					continue;
				*out = s->ns[i].uri;
				return 0;
			}
		}
		*out = xs_loc_lit(XS_LOC_EMPTY, 0);
		return 0;
	}
	if (XS_MEM_IS(p, len, "xml")) {
		*out = xs_loc_lit(XS_LOC_NS_XML, sizeof(XMLSTREAM_NS_XML) - 1);
		return 0;
	}
	for (i = s->nns; i-- > 0; ) {
		const struct xs_binding *b = &s->ns[i];

		if (!xs_loc_eq_mem(s, &b->prefix, p, len))
			continue;
		*out = b->uri;
		if (b->hdr_index >= 0 && s->state == XS_STATE_STANZA)
			s->e_hdr_used |= (uint32_t)1 << b->hdr_index;
		return 0;
	}
	return xs_fail(s, STREAM_ERR_BAD_NAMESPACE_PREFIX,
	    "undeclared namespace prefix '%.*s'", (int)len, (const char *)p);
}

/*
 * Checks that a qname is NCName or NCName ':' NCName (Namespaces §3)
 * and returns the index of the colon (0 if none).
 */
static int
xs_qname_split(struct xmlstream *s, size_t off, size_t len, size_t *colon)
{
	const uint8_t *p = s->buf + off, *c;

	c = memchr(p, ':', len);
	*colon = 0;
	if (c == NULL)
		return 0;
	*colon = (size_t)(c - p);
	if (*colon == 0 || *colon + 1 == len ||
	    memchr(c + 1, ':', len - *colon - 1) != NULL ||
	    (c[1] < 0x80 && !(xs_cc[c[1]] & XS_CC_NSTART)))
		return xs_fail(s, STREAM_ERR_NOT_WELL_FORMED,
		    "malformed qualified name '%.*s'", (int)len,
		    (const char *)p);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Stream level: finished tags                                       */
/* ---------------------------------------------------------------- */

static int
xs_check_version(struct xmlstream *s, const struct xs_loc *v)
{
	const char *p = xs_loc_ptr(s, v), *e;
	unsigned long maj = 0, min = 0;
	size_t nd;

	if (p == NULL)
		return xs_fail(s, STREAM_ERR_UNSUPPORTED_VERSION,
		    "stream header without version; XMPP 1.0 required");
	e = p + v->len;
	/* RFC 6120 §4.7.5: two integers separated by '.', leading zeros
	 * ignored.  Bound the digits so the numbers cannot overflow. */
	for (nd = 0; p < e && *p >= '0' && *p <= '9'; p++, nd++)
		if (maj < 100000)
			maj = maj * 10 + (unsigned long)(*p - '0');
	if (nd == 0 || p == e || *p != '.')
		goto bad;
	for (p++, nd = 0; p < e && *p >= '0' && *p <= '9'; p++, nd++)
		if (min < 100000)
			min = min * 10 + (unsigned long)(*p - '0');
	if (nd == 0 || p != e)
		goto bad;
	if (maj != 1)
		return xs_fail(s, STREAM_ERR_UNSUPPORTED_VERSION,
		    "XMPP version %lu.%lu not supported; 1.0 required",
		    maj, min);
	s->h_vmajor = (unsigned)maj;
	s->h_vminor = (unsigned)min;
	return 0;
bad:
	return xs_fail(s, STREAM_ERR_BAD_FORMAT, "malformed version attribute");
}

static int
xs_check_content_ns(struct xmlstream *s)
{
	const struct xs_loc *d = &s->h_default_ns;

	/* RFC 6120 §4.8.2: the default namespace is the content
	 * namespace; it must be present and one we serve. */
	if (d->where == XS_LOC_ABSENT || d->len == 0)
		return xs_fail(s, STREAM_ERR_INVALID_NAMESPACE,
		    "stream header declares no content namespace");
	if (s->content_ns != NULL) {
		if (xs_loc_eq_mem(s, d, s->content_ns, strlen(s->content_ns)))
			return 0;
	} else if (xs_loc_eq_mem(s, d, XMLSTREAM_NS_SERVER,
	    sizeof(XMLSTREAM_NS_SERVER) - 1) || xs_loc_eq_mem(s, d,
	    XMLSTREAM_NS_CLIENT, sizeof(XMLSTREAM_NS_CLIENT) - 1))
		return 0;
	return xs_fail(s, STREAM_ERR_INVALID_NAMESPACE,
	    "unsupported content namespace");
}

/*
 * Picks up to/from/id/type/xml:lang of a root or top-level start tag.
 * quoted (NULL for the header) receives to, from and id as received,
 * quotes included, undecoded.
 */
static int
xs_routing_attrs(struct xmlstream *s, struct xs_loc *to, struct xs_loc *from,
    struct xs_loc *id, struct xs_loc *type, struct xs_loc *lang,
    struct xs_loc *version, struct xs_loc quoted[3])
{
	size_t i;

	for (i = 0; i < s->nattrs; i++) {
		const struct xs_attr *a = &s->attrs[i];
		const uint8_t *n = s->buf + a->name_off;
		struct xs_loc *dst = NULL;
		int q = -1;

		if (a->is_decl)
			continue;
		if (a->colon == 0) {
			/* q: index in quoted[] of to, from, id. */
			if (XS_MEM_IS(n, a->name_len, "to")) {
				dst = to;
				q = 0;
			} else if (XS_MEM_IS(n, a->name_len, "from")) {
				dst = from;
				q = 1;
			} else if (XS_MEM_IS(n, a->name_len, "id")) {
				dst = id;
				q = 2;
			} else if (type && XS_MEM_IS(n, a->name_len, "type"))
				dst = type;
			else if (version &&
			    XS_MEM_IS(n, a->name_len, "version"))
				dst = version;
		} else if (a->ns.where == XS_LOC_NS_XML &&
		    XS_MEM_IS(n + a->colon + 1, a->name_len - a->colon - 1,
		    "lang"))
			dst = lang;
		if (dst && xs_value_loc(s, a->val_off, a->val_len,
		    a->needs_decode, dst) != 0)
			return -1;
		if (quoted != NULL && q >= 0)
			quoted[q] = xs_loc_buf(a->val_off - 1, a->val_len + 2);
	}
	return 0;
}

/*
 * The header is complete: check it as RFC 6120 §4.7-§4.8 require and
 * turn its declarations into the stream-wide bindings.
 */
static int
xs_header_finish(struct xmlstream *s, const struct xs_loc *ns,
    size_t colon, int empty)
{
	const uint8_t *qn = s->buf + s->tag_name_off;
	const uint8_t *local = colon ? qn + colon + 1 : qn;
	size_t local_len = colon ? s->tag_name_len - colon - 1 :
	    s->tag_name_len;
	size_t i;

	/* RFC 6120 §4.8.1: the stream element is qualified by the
	 * streams namespace, whatever the prefix (we accept any, §4.8.5
	 * lets receivers be liberal). */
	if (!xs_loc_eq_mem(s, ns, XMLSTREAM_NS_STREAMS,
	    sizeof(XMLSTREAM_NS_STREAMS) - 1))
		return xs_fail(s, STREAM_ERR_INVALID_NAMESPACE,
		    "root element not in namespace " XMLSTREAM_NS_STREAMS);
	if (!XS_MEM_IS(local, local_len, "stream"))
		return xs_fail(s, STREAM_ERR_BAD_FORMAT,
		    "root element is not <stream/>");
	s->h_default_ns = xs_loc_lit(XS_LOC_ABSENT, 0);
	for (i = 0; i < s->nns; i++)
		if (s->ns[i].prefix.where == XS_LOC_ABSENT)
			s->h_default_ns = s->ns[i].uri;
	if (xs_check_content_ns(s) != 0)
		return -1;
	if (xs_routing_attrs(s, &s->h_to, &s->h_from, &s->h_id, NULL,
	    &s->h_lang, &s->h_version, NULL) != 0)
		return -1;
	if (xs_check_version(s, &s->h_version) != 0)
		return -1;
	for (i = 0; i < s->nns; i++) {
		if (s->ns[i].prefix.where == XS_LOC_ABSENT)
			continue;
		if (s->nhdr_prefixes >= XMLSTREAM_HEADER_PREFIXES_MAX)
			return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
			    "more than %d prefixes declared on stream header",
			    XMLSTREAM_HEADER_PREFIXES_MAX);
		s->ns[i].hdr_index = (int)s->nhdr_prefixes++;
	}
	if (s->nhdr_prefixes > 0 && xs_table_reserve(s, &s->ev_prefixes,
	    &s->ev_prefixes_cap, s->nhdr_prefixes - 1,
	    XMLSTREAM_HEADER_PREFIXES_MAX, sizeof(*s->ev_prefixes),
	    "header prefix") != 0)
		return -1;
	s->h_name = xs_loc_buf((size_t)(local - s->buf), local_len);
	s->h_prefix = colon ? xs_loc_buf(s->tag_name_off, colon) :
	    xs_loc_lit(XS_LOC_ABSENT, 0);
	s->h_ns = *ns;
	s->hdr_name_off = s->tag_name_off;
	s->hdr_name_len = s->tag_name_len;
	s->nns_hdr = s->nns;
	s->dec_hdr = s->dec_len;
	s->base = s->consumed = s->pos;
	s->nattrs = 0;
	s->lex = XS_LEX_TEXT;
	xs_enter_state(s, XS_STATE_OPEN);
	s->close_pending = empty;
	s->ev_type = XMLSTREAM_EV_STREAM_OPEN;
	return 0;
}

static void
xs_element_complete(struct xmlstream *s)
{
	xs_tables_shrink(s, XS_TABLE_KEEP, XS_DEC_KEEP);
	s->consumed = s->pos;
	s->lex = XS_LEX_TEXT;
	xs_enter_state(s, XS_STATE_OPEN);
	s->ev_type = XMLSTREAM_EV_ELEMENT;
}

/*
 * A start tag ended ('>' or "/>"; s->pos is past it).  Applies the
 * attribute and namespace constraints, pushes bindings and the element,
 * and reports the header or a complete empty top-level element.
 */
static int
xs_stag_finish(struct xmlstream *s, int empty)
{
	int is_root = s->state == XS_STATE_PROLOG;
	size_t depth = is_root ? 0 : s->sdepth + 1;
	size_t ns_mark = s->nns, colon, i, j;
	struct xs_loc ns, uri;
	const uint8_t *b = s->buf;
	int own_default = 0;

	if (!is_root && s->sdepth == 0) {
		/* New top-level element: per-element decode space. */
		s->dec_len = s->dec_hdr;
		s->e_hdr_used = 0;
	}

	/* XML 1.0 §3.1 WFC Unique Att Spec. */
	for (i = 1; i < s->nattrs; i++)
		for (j = 0; j < i; j++)
			if (s->attrs[i].name_len == s->attrs[j].name_len &&
			    memcmp(b + s->attrs[i].name_off,
			    b + s->attrs[j].name_off,
			    s->attrs[i].name_len) == 0)
				return xs_fail(s, STREAM_ERR_NOT_WELL_FORMED,
				    "duplicate attribute '%.*s'",
				    (int)s->attrs[i].name_len,
				    (const char *)b + s->attrs[i].name_off);

	/* Namespace declarations (Namespaces in XML 1.0 §3). */
	for (i = 0; i < s->nattrs; i++) {
		struct xs_attr *a = &s->attrs[i];
		const uint8_t *n = b + a->name_off;
		struct xs_loc prefix;

		a->is_decl = 0;
		if (xs_qname_split(s, a->name_off, a->name_len, &a->colon))
			return -1;
		if (a->colon == 0 && XS_MEM_IS(n, a->name_len, "xmlns")) {
			prefix = xs_loc_lit(XS_LOC_ABSENT, 0);
			own_default = 1;
		} else if (a->colon == 5 && memcmp(n, "xmlns", 5) == 0) {
			prefix = xs_loc_buf(a->name_off + 6, a->name_len - 6);
		} else
			continue;
		a->is_decl = 1;
		if (xs_value_loc(s, a->val_off, a->val_len, a->needs_decode,
		    &uri) != 0)
			return -1;
		if (prefix.where != XS_LOC_ABSENT &&
		    XS_MEM_IS(n + 6, prefix.len, "xml")) {
			if (!xs_loc_eq_mem(s, &uri, XMLSTREAM_NS_XML,
			    sizeof(XMLSTREAM_NS_XML) - 1))
				return xs_fail(s,
				    STREAM_ERR_BAD_NAMESPACE_PREFIX,
				    "prefix xml bound to another namespace");
			continue;	/* built in, nothing to push */
		}
		if (prefix.where != XS_LOC_ABSENT &&
		    XS_MEM_IS(n + 6, prefix.len, "xmlns"))
			return xs_fail(s, STREAM_ERR_BAD_NAMESPACE_PREFIX,
			    "prefix xmlns must not be declared");
		if (xs_loc_eq_mem(s, &uri, XMLSTREAM_NS_XML,
		    sizeof(XMLSTREAM_NS_XML) - 1) || xs_loc_eq_mem(s, &uri,
		    XS_NS_XMLNS, sizeof(XS_NS_XMLNS) - 1))
			return xs_fail(s, STREAM_ERR_BAD_NAMESPACE_PREFIX,
			    "reserved namespace name bound to a prefix");
		if (prefix.where != XS_LOC_ABSENT && uri.len == 0)
			return xs_fail(s, STREAM_ERR_BAD_NAMESPACE_PREFIX,
			    "prefix '%.*s' bound to the empty namespace",
			    (int)prefix.len, (const char *)n + 6);
		if (xs_ns_push(s, prefix, uri, depth) != 0)
			return -1;
	}

	/* The element's own name. */
	if (xs_qname_split(s, s->tag_name_off, s->tag_name_len, &colon))
		return -1;
	if (colon && XS_MEM_IS(b + s->tag_name_off, colon, "xmlns"))
		return xs_fail(s, STREAM_ERR_BAD_NAMESPACE_PREFIX,
		    "element with prefix xmlns");
	if (xs_ns_resolve(s, colon ? b + s->tag_name_off : NULL, colon, 0,
	    &ns) != 0)
		return -1;

	/* Prefixed attributes, and Namespaces §6.3: no two attributes with
	 * the same expanded name. */
	for (i = 0; i < s->nattrs; i++) {
		struct xs_attr *a = &s->attrs[i];

		if (a->is_decl || a->colon == 0)
			continue;
		if (xs_ns_resolve(s, b + a->name_off, a->colon, 1,
		    &a->ns) != 0)
			return -1;
		for (j = 0; j < i; j++) {
			const struct xs_attr *o = &s->attrs[j];

			if (o->is_decl || o->colon == 0 ||
			    o->name_len - o->colon != a->name_len - a->colon ||
			    memcmp(b + o->name_off + o->colon,
			    b + a->name_off + a->colon,
			    a->name_len - a->colon) != 0 ||
			    !xs_loc_eq(s, &o->ns, &a->ns))
				continue;
			return xs_fail(s, STREAM_ERR_NOT_WELL_FORMED,
			    "duplicate expanded attribute name");
		}
	}

	if (is_root)
		return xs_header_finish(s, &ns, colon, empty);

	if (s->sdepth == 0) {
		s->e_name = colon ? xs_loc_buf(s->tag_name_off + colon + 1,
		    s->tag_name_len - colon - 1) :
		    xs_loc_buf(s->tag_name_off, s->tag_name_len);
		s->e_prefix = colon ? xs_loc_buf(s->tag_name_off, colon) :
		    xs_loc_lit(XS_LOC_ABSENT, 0);
		s->e_ns = ns;
		s->e_name_end = s->tag_name_off + s->tag_name_len -
		    s->elem_start;
		s->e_own_default = own_default;
		s->e_to = s->e_from = s->e_id = s->e_type = s->e_lang =
		    s->e_quoted[0] = s->e_quoted[1] = s->e_quoted[2] =
		    xs_loc_lit(XS_LOC_ABSENT, 0);
		if (xs_routing_attrs(s, &s->e_to, &s->e_from, &s->e_id,
		    &s->e_type, &s->e_lang, NULL, s->e_quoted) != 0)
			return -1;
	}
	s->nattrs = 0;
	s->lex = XS_LEX_TEXT;
	s->text_start = s->pos;
	if (empty) {
		s->nns = ns_mark;
		if (s->sdepth == 0)
			xs_element_complete(s);
		return 0;
	}
	if (xs_table_reserve(s, &s->open, &s->open_cap, s->sdepth,
	    s->lim.depth_max, sizeof(*s->open), "open element") != 0)
		return -1;
	s->open[s->sdepth].name_off = s->tag_name_off;
	s->open[s->sdepth].name_len = s->tag_name_len;
	s->open[s->sdepth].ns_mark = ns_mark;
	s->sdepth++;
	return 0;
}

/* An end tag ended (name already matched); s->pos is past '>'. */
static int
xs_etag_finish(struct xmlstream *s)
{
	if (s->sdepth == 0) {
		/* </stream:stream> */
		s->consumed = s->pos;
		s->lex = XS_LEX_TEXT;
		xs_enter_state(s, XS_STATE_CLOSED);
		s->ev_type = XMLSTREAM_EV_STREAM_CLOSE;
		return 0;
	}
	s->sdepth--;
	s->nns = s->open[s->sdepth].ns_mark;
	s->lex = XS_LEX_TEXT;
	s->text_start = s->pos;
	if (s->sdepth == 0)
		xs_element_complete(s);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Lexer states                                                      */
/* ---------------------------------------------------------------- */

/* Result of a finished tag: an event, or go on. */
static int
xs_step_after(struct xmlstream *s, int r)
{
	if (r != 0)
		return XS_STEP_FAIL;
	if (s->ev_type != XMLSTREAM_EV_NONE)
		return XS_STEP_EVENT;
	return XS_STEP_OK;
}

/*
 * Scans an XML Name that starts at s->name_off, resuming at s->pos.
 * XS_STEP_OK leaves s->pos on the first byte after it.  The length limit
 * name_max is checked as each character is added.
 */
static int
xs_scan_name(struct xmlstream *s, size_t end, size_t name_max)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos;
	uint32_t cp;
	int r;

	while (p < end) {
		if (b[p] < 0x80) {
			if (!(xs_cc[b[p]] & (p == s->name_off ? XS_CC_NSTART :
			    XS_CC_NCHAR)))
				break;
			p++;
		} else {
			r = utf8_decode(b + p, end - p, &cp);
			if (r == 0)
				return xs_more(s, p, end);
			if (r < 0)
				return XS_NWF(s, "invalid UTF-8 in a name");
			if (!(p == s->name_off ? xs_is_name_start_cp(cp) :
			    xs_is_name_cp(cp)))
				break;
			p += (size_t)r;
		}
		if (p - s->name_off > name_max)
			return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
			    "name length limit of %zu bytes exceeded",
			    name_max);
	}
	if (p == end)
		return xs_more(s, p, end);
	s->pos = p;
	if (p == s->name_off)
		return XS_NWF(s, "name expected");
	return XS_STEP_OK;
}

/* A multi-byte character in text, attribute value or CDATA at b[p]. */
static int
xs_text_utf8(struct xmlstream *s, size_t *p, size_t end)
{
	uint32_t cp;
	int r;

	r = utf8_decode(s->buf + *p, end - *p, &cp);
	if (r == 0)
		return xs_more(s, *p, end);
	if (r < 0)
		return XS_NWF(s, "invalid UTF-8");
	if (!utf8_is_xml_char(cp))
		return XS_NWF(s, "character not allowed in XML");
	*p += (size_t)r;
	return XS_STEP_OK;
}

/* Encoding sniffing (XML 1.0 Appendix F) and the optional UTF-8 BOM. */
static int
xs_lex_bom(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos, avail = end - p;

	if (b[p] == 0xfe || b[p] == 0xff || b[p] == 0x00 ||
	    (avail >= 2 && b[p] == '<' && b[p + 1] == 0x00))
		return xs_fail(s, STREAM_ERR_UNSUPPORTED_ENCODING,
		    "stream is not UTF-8 (RFC 6120 §11.6)");
	if (b[p] == '<' && avail < 2)
		return xs_more(s, p, end);
	if (b[p] == 0xef) {
		if ((avail >= 2 && b[p + 1] != 0xbb) ||
		    (avail >= 3 && b[p + 2] != 0xbf))
			return XS_NWF(s, "invalid UTF-8");
		if (avail < 3)
			return xs_more(s, p, end);
		s->pos = p + 3;
	}
	s->lex = XS_LEX_XMLDECL;
	return XS_STEP_OK;
}

/* Cursor over the XML declaration's pseudo-attributes. */
static int
xs_decl_attr(const uint8_t **cp, const uint8_t *e, const char *name,
    const uint8_t **val, size_t *vlen)
{
	const uint8_t *c = *cp, *q;
	size_t n = strlen(name);

	if ((size_t)(e - c) < n || memcmp(c, name, n) != 0)
		return -1;
	c += n;
	while (c < e && (xs_cc[*c] & XS_CC_WS))
		c++;
	if (c == e || *c != '=')
		return -1;
	c++;
	while (c < e && (xs_cc[*c] & XS_CC_WS))
		c++;
	if (c == e || (*c != '\'' && *c != '"'))
		return -1;
	q = memchr(c + 1, *c, (size_t)(e - c - 1));
	if (q == NULL)
		return -1;
	*val = c + 1;
	*vlen = (size_t)(q - c - 1);
	*cp = q + 1;
	return 0;
}

static int
xs_ws_then(const uint8_t **cp, const uint8_t *e)
{
	const uint8_t *c = *cp;

	while (c < e && (xs_cc[*c] & XS_CC_WS))
		c++;
	if (c == *cp)
		return 0;
	*cp = c;
	return 1;
}

/* XML 1.0 §2.8 XMLDecl, [c, e) being the bytes between "<?xml" and "?>". */
static int
xs_parse_xmldecl(struct xmlstream *s, const uint8_t *c, const uint8_t *e)
{
	const uint8_t *v;
	size_t vlen, i;
	int ws;

	xs_ws_then(&c, e);
	if (xs_decl_attr(&c, e, "version", &v, &vlen) != 0 || vlen < 3 ||
	    v[0] != '1' || v[1] != '.')
		goto bad;
	for (i = 2; i < vlen; i++)
		if (v[i] < '0' || v[i] > '9')
			goto bad;
	ws = xs_ws_then(&c, e);
	if (ws && xs_decl_attr(&c, e, "encoding", &v, &vlen) == 0) {
		/* RFC 6120 §11.6: UTF-8 only. */
		if (vlen != 5 || strncasecmp((const char *)v, "UTF-8", 5) != 0)
			return xs_fail(s, STREAM_ERR_UNSUPPORTED_ENCODING,
			    "encoding '%.*s' not supported, UTF-8 required",
			    (int)(vlen > 40 ? 40 : vlen), (const char *)v);
		ws = xs_ws_then(&c, e);
	}
	if (ws && xs_decl_attr(&c, e, "standalone", &v, &vlen) == 0) {
		if (!XS_MEM_IS(v, vlen, "yes") && !XS_MEM_IS(v, vlen, "no"))
			goto bad;
		xs_ws_then(&c, e);
	}
	if (c != e)
		goto bad;
	return 0;
bad:
	return XS_NWF(s, "malformed XML declaration");
}

static int
xs_lex_xmldecl(struct xmlstream *s, size_t end)
{
	static const char lit[] = "<?xml";
	const uint8_t *b = s->buf, *q;
	size_t p = s->pos, avail = end - p, i, n;

	for (i = 0; i < 5 && i < avail; i++)
		if (b[p + i] != (uint8_t)lit[i])
			goto no_decl;
	if (avail < 6)
		return xs_more(s, p, end);
	if (!(xs_cc[b[p + 5]] & XS_CC_WS)) {
		if (b[p + 5] == '?')
			return XS_NWF(s, "malformed XML declaration");
		/* "<?xml-foo": a processing instruction. */
		return xs_fail(s, STREAM_ERR_RESTRICTED_XML,
		    "processing instruction (RFC 6120 §11.1)");
	}
	/* Bounded re-scan: the declaration is at most XS_XMLDECL_MAX. */
	n = avail < XS_XMLDECL_MAX ? avail : XS_XMLDECL_MAX;
	for (q = b + p + 5; (q = memchr(q, '?', (size_t)(b + p + n - q)));
	    q++)
		if (q + 1 < b + p + n && q[1] == '>')
			break;
	if (q == NULL) {
		if (n == XS_XMLDECL_MAX)
			return XS_NWF(s, "XML declaration too long");
		return xs_more(s, p, end);
	}
	if (xs_parse_xmldecl(s, b + p + 5, q) != 0)
		return XS_STEP_FAIL;
	s->pos = (size_t)(q + 2 - b);
	s->lex = XS_LEX_TEXT;
	return XS_STEP_OK;
no_decl:
	s->lex = XS_LEX_TEXT;
	return XS_STEP_OK;
}

/*
 * Fast path for the common, valid references: returns the length of the
 * reference at p[0] == '&' if it is complete within avail bytes and is a
 * predefined entity or a character reference to an XML Char, else 0 -
 * and the caller falls back to XS_LEX_REF, which makes the same decision
 * byte by byte (and reports errors).  The result depends only on the
 * reference's bytes, so read boundaries cannot change the events.
 */
static size_t
xs_ref_fast(const uint8_t *p, size_t avail)
{
	uint32_t v = 0;
	size_t i, n;

	if (avail >= 4 && p[2] == 't' && p[3] == ';' &&
	    (p[1] == 'l' || p[1] == 'g'))
		return 4;
	if (avail >= 5 && memcmp(p + 1, "amp;", 4) == 0)
		return 5;
	if (avail >= 6 && (memcmp(p + 1, "apos;", 5) == 0 ||
	    memcmp(p + 1, "quot;", 5) == 0))
		return 6;
	if (avail < 4 || p[1] != '#')
		return 0;
	n = avail < 12 ? avail : 12;
	if (p[2] == 'x') {
		for (i = 3; i < n; i++) {
			uint8_t c = p[i];

			if (c >= '0' && c <= '9')
				v = v * 16 + (uint32_t)(c - '0');
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				v = v * 16 + (uint32_t)((c | 0x20) - 'a' + 10);
			else
				break;
		}
		if (i == 3)
			return 0;
	} else {
		for (i = 2; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			v = v * 10 + (uint32_t)(p[i] - '0');
		if (i == 2)
			return 0;
	}
	/* At most 9 digits: no overflow of v. */
	if (i == n || p[i] != ';' || !utf8_is_xml_char(v))
		return 0;
	return i + 1;
}

/*
 * Skips bytes that need no attention in character data: everything
 * except '<', '&', '>', C0 controls and bytes >= 0x80.  With SSE2 one
 * signed compare catches both the controls and the non-ASCII bytes.
 */
static size_t
xs_skip_plain_text(const uint8_t *b, size_t p, size_t end)
{
#if defined(__SSE2__)
	const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
	const __m128i gt = _mm_set1_epi8('>'), sp = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)
		    (b + p));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lt),
		    _mm_cmpeq_epi8(v, amp)), _mm_or_si128(_mm_cmpeq_epi8(v,
		    gt), _mm_cmplt_epi8(v, sp)));
		int mask = _mm_movemask_epi8(m);

		if (mask != 0)
			return p + (size_t)__builtin_ctz((unsigned)mask);
		p += 16;
	}
#endif
	while (p < end && !(xs_cc[b[p]] & XS_CC_TSTOP))
		p++;
	return p;
}

/* As xs_skip_plain_text for attribute values: stops at both quotes, '<',
 * '&', every C0 control (tab/LF/CR are normalised) and bytes >= 0x80. */
static size_t
xs_skip_plain_attr(const uint8_t *b, size_t p, size_t end)
{
#if defined(__SSE2__)
	const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
	const __m128i q1 = _mm_set1_epi8('\''), q2 = _mm_set1_epi8('"');
	const __m128i sp = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)
		    (b + p));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lt),
		    _mm_cmpeq_epi8(v, amp)), _mm_or_si128(_mm_or_si128(
		    _mm_cmpeq_epi8(v, q1), _mm_cmpeq_epi8(v, q2)),
		    _mm_cmplt_epi8(v, sp)));
		int mask = _mm_movemask_epi8(m);

		if (mask != 0)
			return p + (size_t)__builtin_ctz((unsigned)mask);
		p += 16;
	}
#endif
	while (p < end && !(xs_cc[b[p]] & XS_CC_ASTOP))
		p++;
	return p;
}

/* Outside any stanza: only whitespace and '<' are acceptable. */
static int
xs_lex_text_top(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos;
	uint8_t c;

	while (p < end && (xs_cc[b[p]] & XS_CC_WS))
		p++;
	if (s->state != XS_STATE_PROLOG)
		s->consumed = p;	/* keepalives are dropped */
	s->pos = p;
	if (p == end)
		return XS_STEP_MORE;
	c = b[p];
	if (c == '<') {
		switch (s->state) {
		case XS_STATE_PROLOG:
			s->hdr_start = p;
			s->lim = s->lim_next;
			break;
		case XS_STATE_OPEN:
			s->elem_start = p;
			s->lim = s->lim_next;
			xs_enter_state(s, XS_STATE_STANZA);
			break;
		default:
			return XS_NWF(s, "data after the stream was closed");
		}
		s->pos = p + 1;
		s->lex = XS_LEX_LT;
		return XS_STEP_OK;
	}
	if (s->state == XS_STATE_OPEN && c != '&' &&
	    (c >= 0x80 || !(xs_cc[c] & XS_CC_TSTOP)))
		return xs_fail(s, STREAM_ERR_BAD_FORMAT,
		    "character data between top-level elements");
	if (s->state == XS_STATE_OPEN && c == '&')
		return xs_fail(s, STREAM_ERR_BAD_FORMAT,
		    "reference between top-level elements");
	if (s->state == XS_STATE_PROLOG)
		return XS_NWF(s, "character data before the stream header");
	return XS_NWF(s, "data after the stream was closed");
}

/* Character data inside a stanza: the hot loop. */
static int
xs_lex_text(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos, n;
	uint8_t c;
	int r;

	if (s->sdepth == 0)
		return xs_lex_text_top(s, end);
	for (;;) {
		p = xs_skip_plain_text(b, p, end);
		if (p == end) {
			s->pos = p;
			return XS_STEP_MORE;
		}
		c = b[p];
		switch (c) {
		case '<':
			s->pos = p + 1;
			s->lex = XS_LEX_LT;
			return XS_STEP_OK;
		case '&':
			if ((n = xs_ref_fast(b + p, end - p)) > 0) {
				p += n;
				s->text_start = p;
				break;
			}
			s->pos = p + 1;
			s->ref_ret = XS_LEX_TEXT;
			s->ref_kind = 0;
			s->lex = XS_LEX_REF;
			return XS_STEP_OK;
		case '>':
			/* XML 1.0 §2.4: "]]>" must not appear in text. */
			if (p >= s->text_start + 2 && b[p - 1] == ']' &&
			    b[p - 2] == ']')
				return XS_NWF(s, "']]>' in character data");
			p++;
			break;
		case '\t':
		case '\n':
		case '\r':
			p++;
			break;
		default:
			if (c < 0x80)
				return XS_NWF(s, "control character");
			/* Inline 2- and 3-byte forms; the rest (and every
			 * error) goes through the full decoder. */
			if (c >= 0xc2 && c <= 0xdf && end - p >= 2 &&
			    (b[p + 1] & 0xc0) == 0x80) {
				p += 2;
				break;
			}
			/* E1..EC, EE: U+1000..U+CFFF, U+E000..U+EFFF,
			 * all XML Chars whatever the continuation bytes. */
			if (((c >= 0xe1 && c <= 0xec) || c == 0xee) &&
			    end - p >= 3 && (b[p + 1] & 0xc0) == 0x80 &&
			    (b[p + 2] & 0xc0) == 0x80) {
				p += 3;
				break;
			}
			/* F0 90..BF, F1..F3: U+10000..U+FFFFF (emoji). */
			if (end - p >= 4 && ((c == 0xf0 && b[p + 1] >= 0x90 &&
			    b[p + 1] <= 0xbf) || (c >= 0xf1 && c <= 0xf3 &&
			    (b[p + 1] & 0xc0) == 0x80)) &&
			    (b[p + 2] & 0xc0) == 0x80 &&
			    (b[p + 3] & 0xc0) == 0x80) {
				p += 4;
				break;
			}
			if ((r = xs_text_utf8(s, &p, end)) != XS_STEP_OK)
				return r;
			break;
		}
	}
}

static int
xs_lex_lt(struct xmlstream *s, size_t end)
{
	uint8_t c = s->buf[s->pos];

	(void)end;
	switch (c) {
	case '/':
		if (s->state == XS_STATE_PROLOG)
			return XS_NWF(s, "end tag before the stream header");
		s->pos++;
		s->name_off = s->pos;
		s->lex = XS_LEX_ETAG_NAME;
		return XS_STEP_OK;
	case '!':
		s->lex = XS_LEX_BANG;
		return XS_STEP_OK;
	case '?':
		return xs_fail(s, STREAM_ERR_RESTRICTED_XML,
		    "processing instruction (RFC 6120 §11.1)");
	default:
		if (c < 0x80 && !(xs_cc[c] & XS_CC_NSTART))
			return XS_NWF(s, "invalid character after '<'");
		/* Depth is checked before the element is accepted. */
		if (s->state == XS_STATE_STANZA &&
		    (s->sdepth + 1 > s->lim.depth_max ||
		    s->sdepth + 1 > XMLSTREAM_DEPTH_MAX_CEILING))
			return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
			    "nesting depth limit of %zu exceeded",
			    s->lim.depth_max);
		s->name_off = s->pos;
		s->lex = XS_LEX_STAG_NAME;
		return XS_STEP_OK;
	}
}

/* "<!": comment, CDATA section or a markup declaration. */
static int
xs_lex_bang(struct xmlstream *s, size_t end)
{
	static const char cdata[] = "![CDATA[";
	const uint8_t *b = s->buf;
	size_t p = s->pos, avail = end - p, i;

	if (avail < 2)
		return xs_more(s, p, end);
	if (b[p + 1] == '-') {
		if (avail < 3)
			return xs_more(s, p, end);
		if (b[p + 2] != '-')
			return XS_NWF(s, "malformed comment");
		return xs_fail(s, STREAM_ERR_RESTRICTED_XML,
		    "comment (RFC 6120 §11.1)");
	}
	if (b[p + 1] == '[') {
		for (i = 2; i < 8 && i < avail; i++)
			if (b[p + i] != (uint8_t)cdata[i])
				return XS_NWF(s, "malformed CDATA section");
		if (avail < 8)
			return xs_more(s, p, end);
		if (s->sdepth == 0) {
			if (s->state == XS_STATE_STANZA)
				return xs_fail(s, STREAM_ERR_BAD_FORMAT,
				    "CDATA between top-level elements");
			return XS_NWF(s, "CDATA outside the root element");
		}
		s->pos = p + 8;
		s->lex = XS_LEX_CDATA;
		return XS_STEP_OK;
	}
	if (b[p + 1] < 0x80 && (xs_cc[b[p + 1]] & XS_CC_NSTART))
		return xs_fail(s, STREAM_ERR_RESTRICTED_XML,
		    "DTD or markup declaration (RFC 6120 §11.1)");
	return XS_NWF(s, "invalid markup after '<!'");
}

static int
xs_lex_cdata(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos;
	int r;

	for (;;) {
		while (p < end && !(xs_cc[b[p]] & XS_CC_CSTOP))
			p++;
		if (p == end) {
			s->pos = p;
			return XS_STEP_MORE;
		}
		if (b[p] == ']') {
			/* Only "]]>" ends the section; any other ']' is
			 * content.  Step over the ']' alone: the byte after
			 * it is validated by the next turn of the loop like
			 * any other (skipping it let ']\x00' or ']\xff'
			 * through and refused ']' + a multi-byte character,
			 * issue 14 finding 4). */
			if (end - p >= 2 && b[p + 1] != ']') {
				p++;
				continue;
			}
			if (end - p < 3)
				return xs_more(s, p, end);
			if (b[p + 2] == '>') {
				s->pos = p + 3;
				s->text_start = s->pos;
				s->lex = XS_LEX_TEXT;
				return XS_STEP_OK;
			}
			p++;
			continue;
		}
		if (b[p] < 0x80)
			return XS_NWF(s, "control character");
		if ((r = xs_text_utf8(s, &p, end)) != XS_STEP_OK)
			return r;
	}
}

static int
xs_lex_stag_name(struct xmlstream *s, size_t end)
{
	int r;

	if ((r = xs_scan_name(s, end, s->lim.name_max)) != XS_STEP_OK)
		return r;
	s->tag_name_off = s->name_off;
	s->tag_name_len = s->pos - s->name_off;
	s->nattrs = 0;
	s->had_ws = 0;
	s->lex = XS_LEX_STAG_WS;
	return XS_STEP_OK;
}

static int
xs_lex_stag_ws(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos;
	uint8_t c;

	while (p < end && (xs_cc[b[p]] & XS_CC_WS)) {
		s->had_ws = 1;
		p++;
	}
	s->pos = p;
	if (p == end)
		return XS_STEP_MORE;
	c = b[p];
	if (c == '>') {
		s->pos = p + 1;
		return xs_step_after(s, xs_stag_finish(s, 0));
	}
	if (c == '/') {
		s->pos = p + 1;
		s->lex = XS_LEX_EMPTY_GT;
		return XS_STEP_OK;
	}
	if (c < 0x80 && !(xs_cc[c] & XS_CC_NSTART))
		return XS_NWF(s, "invalid character in start tag");
	if (!s->had_ws)
		return XS_NWF(s, "whitespace required before attribute");
	/* '>=': the count must never pass the limit, whatever happened
	 * to the limit since the tag began. */
	if (s->nattrs >= s->lim.attrs_max)
		return xs_fail(s, STREAM_ERR_POLICY_VIOLATION,
		    "attribute count limit of %zu exceeded",
		    s->lim.attrs_max);
	if (xs_table_reserve(s, &s->attrs, &s->attrs_cap, s->nattrs,
	    s->lim.attrs_max, sizeof(*s->attrs), "attribute") != 0)
		return XS_STEP_FAIL;
	s->name_off = p;
	s->lex = XS_LEX_ATTR_NAME;
	return XS_STEP_OK;
}

static int
xs_lex_attr_name(struct xmlstream *s, size_t end)
{
	struct xs_attr *a;
	int r;

	if (xs_table_reserve(s, &s->attrs, &s->attrs_cap, s->nattrs,
	    s->lim.attrs_max, sizeof(*s->attrs), "attribute") != 0)
		return XS_STEP_FAIL;
	a = &s->attrs[s->nattrs];
	if ((r = xs_scan_name(s, end, s->lim.name_max)) != XS_STEP_OK)
		return r;
	a->name_off = s->name_off;
	a->name_len = s->pos - s->name_off;
	s->lex = XS_LEX_ATTR_EQ;
	return XS_STEP_OK;
}

static int
xs_lex_attr_eq(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos;

	while (p < end && (xs_cc[b[p]] & XS_CC_WS))
		p++;
	s->pos = p;
	if (p == end)
		return XS_STEP_MORE;
	if (s->lex == XS_LEX_ATTR_EQ) {
		if (b[p] != '=')
			return XS_NWF(s, "'=' expected after attribute name");
		s->pos = p + 1;
		s->lex = XS_LEX_ATTR_QUOTE;
		return XS_STEP_OK;
	}
	if (b[p] != '\'' && b[p] != '"')
		return XS_NWF(s, "quoted attribute value expected");
	s->quote = b[p];
	s->pos = p + 1;
	s->val_off = s->pos;
	s->val_needs_decode = 0;
	s->lex = XS_LEX_ATTR_VALUE;
	return XS_STEP_OK;
}

static int
xs_lex_attr_value(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos, n;
	struct xs_attr *a;
	uint8_t c;
	int r;

	for (;;) {
		p = xs_skip_plain_attr(b, p, end);
		if (p == end) {
			s->pos = p;
			return XS_STEP_MORE;
		}
		c = b[p];
		if (c == s->quote)
			break;
		switch (c) {
		case '\'':
		case '"':
			p++;
			continue;
		case '<':
			return XS_NWF(s, "'<' in attribute value");
		case '&':
			s->val_needs_decode = 1;
			if ((n = xs_ref_fast(b + p, end - p)) > 0) {
				p += n;
				continue;
			}
			s->pos = p + 1;
			s->ref_ret = XS_LEX_ATTR_VALUE;
			s->ref_kind = 0;
			s->lex = XS_LEX_REF;
			return XS_STEP_OK;
		case '\t':
		case '\n':
		case '\r':
			s->val_needs_decode = 1;
			p++;
			continue;
		default:
			if (c < 0x80)
				return XS_NWF(s, "control character");
			if ((r = xs_text_utf8(s, &p, end)) != XS_STEP_OK)
				return r;
		}
	}
	if (xs_table_reserve(s, &s->attrs, &s->attrs_cap, s->nattrs,
	    s->lim.attrs_max, sizeof(*s->attrs), "attribute") != 0)
		return XS_STEP_FAIL;
	a = &s->attrs[s->nattrs++];
	a->val_off = s->val_off;
	a->val_len = p - s->val_off;
	a->needs_decode = s->val_needs_decode;
	s->pos = p + 1;
	s->had_ws = 0;
	s->lex = XS_LEX_STAG_WS;
	return XS_STEP_OK;
}

static int
xs_lex_empty_gt(struct xmlstream *s, size_t end)
{
	(void)end;
	if (s->buf[s->pos] != '>')
		return XS_NWF(s, "'>' expected after '/'");
	s->pos++;
	return xs_step_after(s, xs_stag_finish(s, 1));
}

static int
xs_lex_etag_name(struct xmlstream *s, size_t end)
{
	size_t eoff, elen;
	int r;

	if ((r = xs_scan_name(s, end, s->lim.name_max)) != XS_STEP_OK)
		return r;
	if (s->sdepth > 0) {
		eoff = s->open[s->sdepth - 1].name_off;
		elen = s->open[s->sdepth - 1].name_len;
	} else {
		eoff = s->hdr_name_off;
		elen = s->hdr_name_len;
	}
	/* XML 1.0 §3 WFC Element Type Match. */
	if (s->pos - s->name_off != elen ||
	    memcmp(s->buf + s->name_off, s->buf + eoff, elen) != 0)
		return XS_NWF(s, "end tag does not match start tag");
	s->lex = XS_LEX_ETAG_WS;
	return XS_STEP_OK;
}

static int
xs_lex_etag_ws(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos;

	while (p < end && (xs_cc[b[p]] & XS_CC_WS))
		p++;
	s->pos = p;
	if (p == end)
		return XS_STEP_MORE;
	if (b[p] != '>')
		return XS_NWF(s, "'>' expected in end tag");
	s->pos = p + 1;
	return xs_step_after(s, xs_etag_finish(s));
}

/* &name; or &#N; or &#xH; - validated here, expanded by xs_value_loc. */
static int
xs_lex_ref(struct xmlstream *s, size_t end)
{
	const uint8_t *b = s->buf;
	size_t p = s->pos, n;
	uint8_t c;
	int r;

	switch (s->ref_kind) {
	case 0:
		if (b[p] == '#') {
			s->pos = p + 1;
			s->ref_kind = 1;
			return XS_STEP_OK;
		}
		s->name_off = p;
		s->ref_kind = 4;
		return XS_STEP_OK;
	case 1:
		s->ref_val = 0;
		s->ref_ndig = 0;
		if (b[p] == 'x') {
			s->pos = p + 1;
			s->ref_kind = 3;
		} else
			s->ref_kind = 2;
		return XS_STEP_OK;
	case 2:
	case 3:
		for (; p < end; p++) {
			uint32_t d;

			c = b[p];
			if (c >= '0' && c <= '9')
				d = (uint32_t)(c - '0');
			else if (s->ref_kind == 3 && (c | 0x20) >= 'a' &&
			    (c | 0x20) <= 'f')
				d = (uint32_t)((c | 0x20) - 'a' + 10);
			else
				break;
			s->ref_val = s->ref_val * (s->ref_kind == 3 ? 16 : 10)
			    + d;
			if (s->ref_val > 0x10ffff)
				s->ref_val = 0x110000;	/* stays invalid */
			s->ref_ndig++;
		}
		if (p == end) {
			s->pos = p;
			return XS_STEP_MORE;
		}
		if (b[p] != ';' || s->ref_ndig == 0)
			return XS_NWF(s, "malformed character reference");
		if (!utf8_is_xml_char(s->ref_val))
			return XS_NWF(s, "character reference to a "
			    "character not allowed in XML");
		p++;
		break;
	default:
		/* Not held to limits.name_max: xs_ref_fast accepts the
		 * predefined names whatever the limit, so this path must
		 * too, or a read boundary inside "&apos;" would change the
		 * outcome (found by fuzz_xmltok with name_max 3). */
		if ((r = xs_scan_name(s, end, XMLSTREAM_NAME_MAX_CEILING)) !=
		    XS_STEP_OK)
			return r;
		p = s->pos;
		if (b[p] != ';')
			return XS_NWF(s, "malformed entity reference");
		n = p - s->name_off;
		/* XML 1.0 §4.6 predefined entities; RFC 6120 §11.1
		 * restricts every other entity reference. */
		if (!XS_MEM_IS(b + s->name_off, n, "lt") &&
		    !XS_MEM_IS(b + s->name_off, n, "gt") &&
		    !XS_MEM_IS(b + s->name_off, n, "amp") &&
		    !XS_MEM_IS(b + s->name_off, n, "apos") &&
		    !XS_MEM_IS(b + s->name_off, n, "quot"))
			return xs_fail(s, STREAM_ERR_RESTRICTED_XML,
			    "entity reference other than the predefined "
			    "ones (RFC 6120 §11.1)");
		p++;
		break;
	}
	s->pos = p;
	s->lex = s->ref_ret;
	if (s->lex == XS_LEX_TEXT)
		s->text_start = p;
	return XS_STEP_OK;
}

/*
 * Runs the lexer until an event, a need for bytes or an error.  The scan
 * never passes elem_start + stanza_max while a header or element is in
 * progress: reaching that point with bytes still unscanned is the size
 * violation, at the same byte whatever the read boundaries were.
 */
static enum xmlstream_event_type
xs_run(struct xmlstream *s)
{
	size_t end, bound;
	int r = XS_STEP_OK;

	s->ev_type = XMLSTREAM_EV_NONE;
	for (;;) {
		if (s->state == XS_STATE_ERROR)
			return XMLSTREAM_EV_ERROR;
		end = s->len;
		if (s->state == XS_STATE_PROLOG ||
		    s->state == XS_STATE_STANZA) {
			bound = s->elem_start + s->lim.stanza_max;
			if (end > bound)
				end = bound;
		}
		if (s->pos >= end) {
			if (s->pos < s->len) {
				xs_fail_size(s);
				return XMLSTREAM_EV_ERROR;
			}
			return XMLSTREAM_EV_NONE;
		}
		switch (s->lex) {
		case XS_LEX_BOM:	r = xs_lex_bom(s, end); break;
		case XS_LEX_XMLDECL:	r = xs_lex_xmldecl(s, end); break;
		case XS_LEX_TEXT:	r = xs_lex_text(s, end); break;
		case XS_LEX_LT:		r = xs_lex_lt(s, end); break;
		case XS_LEX_BANG:	r = xs_lex_bang(s, end); break;
		case XS_LEX_CDATA:	r = xs_lex_cdata(s, end); break;
		case XS_LEX_STAG_NAME:	r = xs_lex_stag_name(s, end); break;
		case XS_LEX_STAG_WS:	r = xs_lex_stag_ws(s, end); break;
		case XS_LEX_ATTR_NAME:	r = xs_lex_attr_name(s, end); break;
		case XS_LEX_ATTR_EQ:
		case XS_LEX_ATTR_QUOTE:	r = xs_lex_attr_eq(s, end); break;
		case XS_LEX_ATTR_VALUE:	r = xs_lex_attr_value(s, end); break;
		case XS_LEX_EMPTY_GT:	r = xs_lex_empty_gt(s, end); break;
		case XS_LEX_ETAG_NAME:	r = xs_lex_etag_name(s, end); break;
		case XS_LEX_ETAG_WS:	r = xs_lex_etag_ws(s, end); break;
		case XS_LEX_REF:	r = xs_lex_ref(s, end); break;
		}
		switch (r) {
		case XS_STEP_OK:
			continue;
		case XS_STEP_MORE:
			/* A fast loop stopped at end: if end is the stanza
			 * bound and bytes lie beyond it, that is the
			 * violation (xs_more() covers the lookahead case). */
			if (s->pos >= end && end < s->len) {
				xs_fail_size(s);
				return XMLSTREAM_EV_ERROR;
			}
			return XMLSTREAM_EV_NONE;
		case XS_STEP_EVENT:
			return s->ev_type;
		default:
			return XMLSTREAM_EV_ERROR;
		}
	}
}

/* ---------------------------------------------------------------- */
/* Buffer management                                                 */
/* ---------------------------------------------------------------- */

/* Most the buffer may hold: header + one stanza + read slack. */
static size_t
xs_buf_bound(const struct xmlstream *s)
{
	return s->base + s->lim.stanza_max + XMLSTREAM_READ_SLACK;
}

static void
xs_shift(size_t *off, size_t from, size_t delta)
{
	if (*off >= from)
		*off -= delta;
}

static void
xs_shift_loc(struct xs_loc *l, size_t from, size_t delta)
{
	if (l->where == XS_LOC_BUF)
		xs_shift(&l->off, from, delta);
}

/*
 * Drops [base, consumed) - reported elements and skipped whitespace - by
 * moving the unreported bytes down to base.  Every offset that can point
 * at or past 'consumed' (the partially parsed element) moves with them;
 * offsets below it (the header, stale values of finished elements) stay.
 */
static void
xs_compact(struct xmlstream *s)
{
	size_t from = s->consumed, delta, i;

	if (s->consumed <= s->base)
		return;
	delta = s->consumed - s->base;
	memmove(s->buf + s->base, s->buf + s->consumed, s->len - s->consumed);
	s->len -= delta;
	s->pos -= delta;
	s->consumed = s->base;
	xs_shift(&s->elem_start, from, delta);
	xs_shift(&s->name_off, from, delta);
	xs_shift(&s->text_start, from, delta);
	xs_shift(&s->val_off, from, delta);
	xs_shift(&s->tag_name_off, from, delta);
	for (i = 0; i < s->nattrs; i++) {
		xs_shift(&s->attrs[i].name_off, from, delta);
		xs_shift(&s->attrs[i].val_off, from, delta);
	}
	/* attrs[nattrs] may hold the name of an attribute being read. */
	if (s->nattrs < s->attrs_cap)
		xs_shift(&s->attrs[s->nattrs].name_off, from, delta);
	for (i = 0; i < s->sdepth; i++)
		xs_shift(&s->open[i].name_off, from, delta);
	for (i = s->nns_hdr; i < s->nns; i++) {
		xs_shift_loc(&s->ns[i].prefix, from, delta);
		xs_shift_loc(&s->ns[i].uri, from, delta);
	}
	xs_shift_loc(&s->e_name, from, delta);
	xs_shift_loc(&s->e_prefix, from, delta);
	xs_shift_loc(&s->e_ns, from, delta);
	xs_shift_loc(&s->e_to, from, delta);
	xs_shift_loc(&s->e_from, from, delta);
	xs_shift_loc(&s->e_id, from, delta);
	xs_shift_loc(&s->e_type, from, delta);
	xs_shift_loc(&s->e_lang, from, delta);
	for (i = 0; i < 3; i++)
		xs_shift_loc(&s->e_quoted[i], from, delta);
}

/*
 * Gives memory back once a large stanza has gone: when what is buffered
 * (the header and unparsed bytes) plus min_free uses at most a quarter of
 * the buffer, it shrinks to what is needed (never below
 * XMLSTREAM_BUF_INITIAL).  Without this, one 512 KiB stanza per stream
 * would pin 512 KiB per stream for good.  Everything else refers to the
 * buffer by offset, so moving it is safe.
 */
static void
xs_shrink(struct xmlstream *s, size_t min_free)
{
	size_t want = s->len + min_free;
	uint8_t *nb;

	if (want < XMLSTREAM_BUF_INITIAL)
		want = XMLSTREAM_BUF_INITIAL;
	if (s->cap <= XMLSTREAM_BUF_INITIAL || want > s->cap / 4)
		return;
	if ((nb = realloc(s->buf, want)) == NULL)
		return;		/* keeping the larger buffer is fine */
	s->buf = nb;
	s->cap = want;
}

/* Makes at least min_free bytes free at the end (within the bound);
 * shrink: a buffer much larger than needed is given back first. */
static int
xs_reserve_free(struct xmlstream *s, size_t min_free, int shrink, void **p, size_t *len)
{
	size_t bound, want;
	uint8_t *nb;

	*p = NULL;
	*len = 0;
	if (s->state == XS_STATE_ERROR)
		return 0;
	xs_compact(s);
	if (shrink)
		xs_shrink(s, min_free);
	bound = xs_buf_bound(s);
	if (s->cap - s->len < min_free && s->cap < bound) {
		want = s->cap * 2;
		if (want < s->len + min_free)
			want = s->len + min_free;
		if (want > bound)
			want = bound;
		if ((nb = realloc(s->buf, want)) == NULL)
			return -1;
		s->buf = nb;
		s->cap = want;
	}
	if (s->len < s->cap && s->len < bound) {
		*p = s->buf + s->len;
		*len = (s->cap < bound ? s->cap : bound) - s->len;
	}
	return 0;
}

/* The buffer keeps its size here: a busy stream decrypting record after
 * record into it would otherwise shrink and grow it per read (realloc,
 * and with musl mremap/madvise); xmlstream_trim gives it back. */
int
xmlstream_reserve_min(struct xmlstream *s, size_t min_free, void **p, size_t *len)
{
	return xs_reserve_free(s, min_free, 0, p, len);
}

void
xmlstream_trim(struct xmlstream *s)
{
	if (s->state == XS_STATE_ERROR)
		return;
	xs_compact(s);
	xs_shrink(s, 0);
}

int
xmlstream_reserve(struct xmlstream *s, void **p, size_t *len)
{
	return xs_reserve_free(s, XMLSTREAM_READ_SLACK, 1, p, len);
}

void
xmlstream_commit(struct xmlstream *s, size_t n)
{
	if (n > s->cap - s->len)
		n = s->cap - s->len;	/* caller bug; never overrun */
	s->len += n;
}

size_t
xmlstream_feed(struct xmlstream *s, const void *data, size_t len)
{
	void *p;
	size_t n;

	/* A copy needs room for what it copies, not a whole read's slack:
	 * small TLS records keep small buffers. */
	if (xs_reserve_free(s, len < XMLSTREAM_READ_SLACK ? len : XMLSTREAM_READ_SLACK, 1, &p, &n) != 0 ||
	    n == 0)
		return 0;
	if (n > len)
		n = len;
	memcpy(p, data, n);
	xmlstream_commit(s, n);
	return n;
}

size_t
xmlstream_buffered(const struct xmlstream *s)
{
	return s->len - s->consumed;
}

size_t
xmlstream_buffer_size(const struct xmlstream *s)
{
	return s->cap;
}

void
xmlstream_table_sizes(const struct xmlstream *s,
    struct xmlstream_table_sizes *out)
{
	out->attrs = s->attrs_cap;
	out->open = s->open_cap;
	out->ns = s->ns_cap;
	out->dec = s->dec_cap;
	out->header_prefixes = s->ev_prefixes_cap;
}

size_t
xmlstream_memory(const struct xmlstream *s)
{
	return sizeof(*s) + s->cap + s->attrs_cap * sizeof(*s->attrs) +
	    s->open_cap * sizeof(*s->open) + s->ns_cap * sizeof(*s->ns) +
	    s->dec_cap + s->ev_prefixes_cap * sizeof(*s->ev_prefixes) +
	    (s->content_ns != NULL ? strlen(s->content_ns) + 1 : 0);
}

/* ---------------------------------------------------------------- */
/* Life cycle                                                        */
/* ---------------------------------------------------------------- */

void
xmlstream_limits_default(struct xmlstream_limits *lim)
{
	lim->stanza_max = XMLSTREAM_STANZA_MAX_DEFAULT;
	lim->depth_max = XMLSTREAM_DEPTH_MAX_DEFAULT;
	lim->attrs_max = XMLSTREAM_ATTRS_MAX_DEFAULT;
	lim->name_max = XMLSTREAM_NAME_MAX_DEFAULT;
}

void
xmlstream_limits_preauth(struct xmlstream_limits *lim)
{
	xmlstream_limits_default(lim);
	lim->stanza_max = XMLSTREAM_STANZA_MAX_PREAUTH;
}

void
xmlstream_limits_postauth(struct xmlstream_limits *lim)
{
	xmlstream_limits_default(lim);
	lim->stanza_max = XMLSTREAM_STANZA_MAX_POSTAUTH;
}

static int
xs_limits_valid(const struct xmlstream_limits *lim)
{
	return lim->stanza_max > 0 &&
	    lim->stanza_max <= XMLSTREAM_STANZA_MAX_CEILING &&
	    lim->depth_max > 0 && lim->depth_max <= XMLSTREAM_DEPTH_MAX_CEILING &&
	    lim->attrs_max > 0 && lim->attrs_max <= XMLSTREAM_ATTRS_MAX_CEILING &&
	    lim->name_max > 0 && lim->name_max <= XMLSTREAM_NAME_MAX_CEILING;
}

/* Is a start tag (header or top-level element) or a stanza's content
 * being parsed, i.e. are the per-element tables in use? */
static int
xs_element_in_progress(const struct xmlstream *s)
{
	if (s->state == XS_STATE_STANZA)
		return 1;
	return s->state == XS_STATE_PROLOG && s->lex != XS_LEX_BOM &&
	    s->lex != XS_LEX_XMLDECL && s->lex != XS_LEX_TEXT;
}

#define XS_MAX(a, b) ((a) > (b) ? (a) : (b))

int
xmlstream_set_limits(struct xmlstream *s, const struct xmlstream_limits *lim)
{
	if (!xs_limits_valid(lim))
		return -1;
	s->lim_next = *lim;
	if (!xs_element_in_progress(s)) {
		s->lim = *lim;
		return 0;
	}
	/* Mid-element (e.g. a reload or a dialback answer arriving while
	 * a tag is half read): raise at once, lower from the next
	 * top-level element, so no count already reached is ever above
	 * the limit checked against it. */
	s->lim.stanza_max = XS_MAX(s->lim.stanza_max, lim->stanza_max);
	s->lim.depth_max = XS_MAX(s->lim.depth_max, lim->depth_max);
	s->lim.attrs_max = XS_MAX(s->lim.attrs_max, lim->attrs_max);
	s->lim.name_max = XS_MAX(s->lim.name_max, lim->name_max);
	return 0;
}

/* Parse state back to "expecting a stream header". */
static void
xs_parse_reset(struct xmlstream *s)
{
	s->state = XS_STATE_PROLOG;
	s->lex = XS_LEX_BOM;
	s->lim = s->lim_next;
	s->base = s->consumed = s->pos = 0;
	s->elem_start = s->hdr_start = 0;
	s->nattrs = s->sdepth = 0;
	s->nns = s->nns_hdr = s->nhdr_prefixes = 0;
	s->dec_len = s->dec_hdr = 0;
	s->hdr_name_off = s->hdr_name_len = 0;
	s->h_to = s->h_from = s->h_id = s->h_lang = s->h_version =
	    xs_loc_lit(XS_LOC_ABSENT, 0);
	s->close_pending = 0;
	s->err_cond = STREAM_ERR_NONE;
	s->err_text[0] = '\0';
	s->ev_type = XMLSTREAM_EV_NONE;
}

struct xmlstream *
xmlstream_new(const struct xmlstream_limits *lim, const char *content_ns)
{
	struct xmlstream *s;
	struct xmlstream_limits def;

	if (lim == NULL) {
		xmlstream_limits_preauth(&def);
		lim = &def;
	}
	if (!xs_limits_valid(lim))
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->lim = s->lim_next = *lim;
	if (content_ns != NULL && (s->content_ns = strdup(content_ns)) == NULL)
		goto fail;
	s->cap = XMLSTREAM_BUF_INITIAL;
	if ((s->buf = malloc(s->cap)) == NULL)
		goto fail;
	xs_parse_reset(s);
	return s;
fail:
	free(s->content_ns);
	free(s);
	return NULL;
}

void
xmlstream_free(struct xmlstream *s)
{
	if (s == NULL)
		return;
	free(s->buf);
	free(s->attrs);
	free(s->open);
	free(s->ns);
	free(s->dec);
	free(s->ev_prefixes);
	free(s->content_ns);
	free(s);
}

void
xmlstream_restart(struct xmlstream *s)
{
	size_t keep = s->len - s->consumed;

	memmove(s->buf, s->buf + s->consumed, keep);
	s->len = keep;
	xs_parse_reset(s);
}

const char *
xmlstream_state_name(const struct xmlstream *s)
{
	return xs_state_names[s->state];
}

/* ---------------------------------------------------------------- */
/* Events                                                            */
/* ---------------------------------------------------------------- */

static void
xs_fill_open(struct xmlstream *s, struct xmlstream_event *ev)
{
	size_t i, k = 0;

	ev->raw.p = (const char *)s->buf + s->hdr_start;
	ev->raw.len = s->base - s->hdr_start;
	ev->name = xs_loc_str(s, &s->h_name);
	ev->prefix = xs_loc_str(s, &s->h_prefix);
	ev->ns = xs_loc_str(s, &s->h_ns);
	ev->to = xs_loc_str(s, &s->h_to);
	ev->from = xs_loc_str(s, &s->h_from);
	ev->id = xs_loc_str(s, &s->h_id);
	ev->lang = xs_loc_str(s, &s->h_lang);
	ev->version = xs_loc_str(s, &s->h_version);
	ev->version_major = s->h_vmajor;
	ev->version_minor = s->h_vminor;
	ev->default_ns = xs_loc_str(s, &s->h_default_ns);
	for (i = 0; i < s->nns_hdr; i++) {
		if (s->ns[i].hdr_index < 0)
			continue;
		s->ev_prefixes[k].prefix = xs_loc_str(s, &s->ns[i].prefix);
		s->ev_prefixes[k].uri = xs_loc_str(s, &s->ns[i].uri);
		k++;
	}
	ev->prefixes = s->ev_prefixes;
	ev->nprefixes = k;
}

static void
xs_fill_element(struct xmlstream *s, struct xmlstream_event *ev)
{
	ev->raw.p = (const char *)s->buf + s->elem_start;
	ev->raw.len = s->pos - s->elem_start;
	ev->name = xs_loc_str(s, &s->e_name);
	ev->prefix = xs_loc_str(s, &s->e_prefix);
	ev->ns = xs_loc_str(s, &s->e_ns);
	ev->to = xs_loc_str(s, &s->e_to);
	ev->from = xs_loc_str(s, &s->e_from);
	ev->id = xs_loc_str(s, &s->e_id);
	ev->lang = xs_loc_str(s, &s->e_lang);
	ev->stanza_type = xs_loc_str(s, &s->e_type);
	ev->to_quoted = xs_loc_str(s, &s->e_quoted[0]);
	ev->from_quoted = xs_loc_str(s, &s->e_quoted[1]);
	ev->id_quoted = xs_loc_str(s, &s->e_quoted[2]);
	ev->name_end = s->e_name_end;
	ev->hdr_prefixes_used = s->e_hdr_used;
	ev->own_default_ns = s->e_own_default;
}

enum xmlstream_event_type
xmlstream_next(struct xmlstream *s, struct xmlstream_event *ev)
{
	enum xmlstream_event_type t;

	memset(ev, 0, sizeof(*ev));
	if (s->close_pending) {
		s->close_pending = 0;
		s->consumed = s->pos;
		xs_enter_state(s, XS_STATE_CLOSED);
		t = XMLSTREAM_EV_STREAM_CLOSE;
	} else
		t = xs_run(s);
	ev->type = t;
	switch (t) {
	case XMLSTREAM_EV_STREAM_OPEN:
		xs_fill_open(s, ev);
		break;
	case XMLSTREAM_EV_ELEMENT:
		xs_fill_element(s, ev);
		break;
	case XMLSTREAM_EV_ERROR:
		ev->cond = s->err_cond;
		ev->text = s->err_text;
		break;
	default:
		break;
	}
	return t;
}

/* ---------------------------------------------------------------- */
/* Re-emission                                                       */
/* ---------------------------------------------------------------- */

/* The header's declarations the element uses, appended to b. */
static int
xs_append_ns_decls(const struct xmlstream *s, const struct xmlstream_event *ev,
    int with_default_ns, struct buf *b)
{
	struct xmlstream_str pfx, uri;
	size_t i;

	for (i = 0; i < s->nns_hdr; i++) {
		const struct xs_binding *bd = &s->ns[i];

		if (bd->hdr_index < 0 ||
		    !(ev->hdr_prefixes_used & ((uint32_t)1 << bd->hdr_index)))
			continue;
		pfx = xs_loc_str(s, &bd->prefix);
		uri = xs_loc_str(s, &bd->uri);
		if (buf_append_str(b, " xmlns:") != BUF_OK ||
		    buf_append(b, pfx.p, pfx.len) != BUF_OK ||
		    buf_append_str(b, "='") != BUF_OK ||
		    stream_error_escape(b, uri.p, uri.len) != 0 ||
		    buf_append_str(b, "'") != BUF_OK)
			return -1;
	}
	/* Unprefixed descendants inherit the default namespace too, so it
	 * is injected even when the element itself is prefixed. */
	if (with_default_ns && !ev->own_default_ns &&
	    s->h_default_ns.where != XS_LOC_ABSENT) {
		uri = xs_loc_str(s, &s->h_default_ns);
		if (buf_append_str(b, " xmlns='") != BUF_OK ||
		    stream_error_escape(b, uri.p, uri.len) != 0 ||
		    buf_append_str(b, "'") != BUF_OK)
			return -1;
	}
	return 0;
}

/* The element (whole) or only the declarations it needs, into out. */
static int
xs_element_emit(const struct xmlstream *s, const struct xmlstream_event *ev,
    int with_default_ns, int whole, char *out, size_t cap, size_t *outlen)
{
	struct buf b;

	*outlen = 0;
	if (ev->type != XMLSTREAM_EV_ELEMENT || ev->name_end > ev->raw.len)
		return -1;
	buf_init_fixed(&b, out, cap);
	if ((whole && buf_append(&b, ev->raw.p, ev->name_end) != BUF_OK) ||
	    xs_append_ns_decls(s, ev, with_default_ns, &b) != 0 ||
	    (whole && buf_append(&b, ev->raw.p + ev->name_end, ev->raw.len - ev->name_end) != BUF_OK))
		return -1;
	*outlen = b.len;
	return 0;
}

int
xmlstream_element_ns_decls(const struct xmlstream *s,
    const struct xmlstream_event *ev, int with_default_ns, char *out,
    size_t cap, size_t *outlen)
{
	return xs_element_emit(s, ev, with_default_ns, 0, out, cap, outlen);
}

int
xmlstream_element_write(const struct xmlstream *s,
    const struct xmlstream_event *ev, int with_default_ns, char *out,
    size_t cap, size_t *outlen)
{
	return xs_element_emit(s, ev, with_default_ns, 1, out, cap, outlen);
}

int
xmlstream_str_eq(const struct xmlstream_str *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->p != NULL && s->len == n && memcmp(s->p, lit, n) == 0;
}
