/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream_error.c - names and writer for XMPP stream errors (RFC 6120 §4.9).
 *
 * The table below is the single list of conditions; stream_error_name()
 * and stream_error_from_name() both read it.  The writer builds the error
 * in the caller's storage through a fixed struct buf (common/buf.h),
 * which checks every append against the cap before copying.
 */
#include "stream_error.h"
#include "utf8.h"

#include <stdint.h>
#include <string.h>

static const char *const stream_error_names[STREAM_ERR_COUNT] = {
	[STREAM_ERR_NONE] = NULL,
	[STREAM_ERR_BAD_FORMAT] = "bad-format",
	[STREAM_ERR_BAD_NAMESPACE_PREFIX] = "bad-namespace-prefix",
	[STREAM_ERR_CONFLICT] = "conflict",
	[STREAM_ERR_CONNECTION_TIMEOUT] = "connection-timeout",
	[STREAM_ERR_HOST_GONE] = "host-gone",
	[STREAM_ERR_HOST_UNKNOWN] = "host-unknown",
	[STREAM_ERR_IMPROPER_ADDRESSING] = "improper-addressing",
	[STREAM_ERR_INTERNAL_SERVER_ERROR] = "internal-server-error",
	[STREAM_ERR_INVALID_FROM] = "invalid-from",
	[STREAM_ERR_INVALID_NAMESPACE] = "invalid-namespace",
	[STREAM_ERR_INVALID_XML] = "invalid-xml",
	[STREAM_ERR_NOT_AUTHORIZED] = "not-authorized",
	[STREAM_ERR_NOT_WELL_FORMED] = "not-well-formed",
	[STREAM_ERR_POLICY_VIOLATION] = "policy-violation",
	[STREAM_ERR_REMOTE_CONNECTION_FAILED] = "remote-connection-failed",
	[STREAM_ERR_RESET] = "reset",
	[STREAM_ERR_RESOURCE_CONSTRAINT] = "resource-constraint",
	[STREAM_ERR_RESTRICTED_XML] = "restricted-xml",
	[STREAM_ERR_SEE_OTHER_HOST] = "see-other-host",
	[STREAM_ERR_SYSTEM_SHUTDOWN] = "system-shutdown",
	[STREAM_ERR_UNDEFINED_CONDITION] = "undefined-condition",
	[STREAM_ERR_UNSUPPORTED_ENCODING] = "unsupported-encoding",
	[STREAM_ERR_UNSUPPORTED_FEATURE] = "unsupported-feature",
	[STREAM_ERR_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
	[STREAM_ERR_UNSUPPORTED_VERSION] = "unsupported-version",
};

const char *
stream_error_name(enum stream_error_cond cond)
{
	if ((int)cond <= STREAM_ERR_NONE || cond >= STREAM_ERR_COUNT)
		return NULL;
	return stream_error_names[cond];
}

enum stream_error_cond
stream_error_from_name(const char *name, size_t len)
{
	int i;

	for (i = STREAM_ERR_NONE + 1; i < STREAM_ERR_COUNT; i++) {
		if (strlen(stream_error_names[i]) == len &&
		    memcmp(stream_error_names[i], name, len) == 0)
			return (enum stream_error_cond)i;
	}
	return STREAM_ERR_UNDEFINED_CONDITION;
}

/*
 * XML-escapes src for character data or a quoted attribute value.  The
 * five markup characters become references; a byte that does not start
 * a UTF-8 XML Char (XML 1.0 §2.2: C0 controls other than tab, LF and
 * CR, invalid or truncated UTF-8, U+FFFE/U+FFFF) becomes U+FFFD: those
 * cannot be written as references either, and copying them would make
 * our own stream not well-formed.  Texts handed to us may carry a
 * peer's bytes (issue 14 finding 9); nothing passes through raw.
 */
int
stream_error_escape(struct buf *b, const char *src, size_t len)
{
	const uint8_t *p = (const uint8_t *)src;
	size_t mark = b->len, i = 0;
	const char *rep;
	uint32_t cp;
	int n;

	while (i < len) {
		switch (p[i]) {
		case '&':  rep = "&amp;"; break;
		case '<':  rep = "&lt;"; break;
		case '>':  rep = "&gt;"; break;
		case '\'': rep = "&apos;"; break;
		case '"':  rep = "&quot;"; break;
		default:   rep = NULL; break;
		}
		if (rep != NULL) {
			if (buf_append_str(b, rep) != BUF_OK)
				goto fail;
			i++;
			continue;
		}
		n = utf8_decode(p + i, len - i, &cp);
		if (n <= 0 || !utf8_is_xml_char(cp)) {
			if (buf_append(b, UTF8_REPLACEMENT, sizeof(UTF8_REPLACEMENT) - 1) != BUF_OK)
				goto fail;
			i++;
			continue;
		}
		if (buf_append(b, src + i, (size_t)n) != BUF_OK)
			goto fail;
		i += (size_t)n;
	}
	return 0;
fail:
	buf_truncate(b, mark);
	return -1;
}

int
stream_error_write(char *out, size_t cap, enum stream_error_cond cond,
    const char *text, size_t *outlen)
{
	const char *name = stream_error_name(cond);
	size_t textlen = text ? strlen(text) : 0;
	struct buf b;

	if (name == NULL || textlen > STREAM_ERROR_TEXT_MAX)
		return -1;
	buf_init_fixed(&b, out, cap);
	if (buf_append_str(&b, "<stream:error><") != BUF_OK ||
	    buf_append_str(&b, name) != BUF_OK ||
	    buf_append_str(&b, " xmlns='" STREAM_ERROR_NS "'") != BUF_OK)
		return -1;
	if (cond == STREAM_ERR_SEE_OTHER_HOST && textlen > 0) {
		/* RFC 6120 §4.9.3.19: the host is the element's content. */
		if (buf_append_str(&b, ">") != BUF_OK ||
		    stream_error_escape(&b, text, textlen) != 0 ||
		    buf_append_str(&b, "</see-other-host>") != BUF_OK)
			return -1;
	} else {
		if (buf_append_str(&b, "/>") != BUF_OK)
			return -1;
		if (textlen > 0 &&
		    (buf_append_str(&b, "<text xmlns='" STREAM_ERROR_NS "'>") != BUF_OK ||
		    stream_error_escape(&b, text, textlen) != 0 ||
		    buf_append_str(&b, "</text>") != BUF_OK))
			return -1;
	}
	if (buf_append_str(&b, "</stream:error></stream:stream>") != BUF_OK)
		return -1;
	*outlen = b.len;
	return 0;
}
