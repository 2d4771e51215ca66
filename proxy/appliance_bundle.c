/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_bundle.c - parses the header of an appliance update bundle
 * (format in appliance_bundle.h).  Used by the CLI before it sends anything
 * and by the daemon on the header the CLI sends; both refuse the same
 * bundles with the same sentences.
 *
 * A cursor over the bytes with a sticky error, in the manner of
 * OpenSMTPD's m_get_*(): each line is taken whole (up to '\n') and judged
 * against the one shape it may have at that position.
 */
#include "appliance_bundle.h"

#include <stdio.h>
#include <string.h>

struct cursor {
	const char *p;
	size_t len, off;
	int line;
};

/* The next line without its '\n' into *s, *n; 0, or 1 when no '\n' is
 * within the bytes given (incomplete). */
static int
cursor_line(struct cursor *c, const char **s, size_t *n)
{
	const char *nl = memchr(c->p + c->off, '\n', c->len - c->off);

	if (nl == NULL)
		return 1;
	*s = c->p + c->off;
	*n = (size_t)(nl - *s);
	c->off += *n + 1;
	c->line++;
	return 0;
}

static int
is_version_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '.' || ch == '_' || ch == '+' || ch == '~' || ch == '-';
}

/* "kernel SIZE SHA256" (key already matched): size 1..IMAGE_MAX, decimal
 * without leading zeros; 64 lowercase hex digits. */
static int
parse_image_line(const char *s, size_t n, uint64_t *size, char *hex, char *why, size_t whylen)
{
	size_t i = 0, digits = 0;
	uint64_t v = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (digits == 0 && s[i] == '0' && i + 1 < n && s[i + 1] != ' ') {
			snprintf(why, whylen, "size has a leading zero");
			return -1;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > APPLIANCE_BUNDLE_IMAGE_MAX) {
			snprintf(why, whylen, "size is over %llu bytes",
			    (unsigned long long)APPLIANCE_BUNDLE_IMAGE_MAX);
			return -1;
		}
		digits++;
		i++;
	}
	if (digits == 0 || v == 0) {
		snprintf(why, whylen, "size must be a number of bytes, at least 1");
		return -1;
	}
	if (i == n || s[i] != ' ' || n - i - 1 != APPLIANCE_SHA256_HEX) {
		snprintf(why, whylen, "expected SIZE and a 64-digit SHA-256");
		return -1;
	}
	for (i++; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			snprintf(why, whylen, "SHA-256 must be lowercase hex");
			return -1;
		}
	}
	memcpy(hex, s + n - APPLIANCE_SHA256_HEX, APPLIANCE_SHA256_HEX);
	hex[APPLIANCE_SHA256_HEX] = '\0';
	*size = v;
	return 0;
}

/* 1 when line (s, n) starts with "key " and sets *rest, *restlen. */
static int
line_key(const char *s, size_t n, const char *key, const char **rest, size_t *restlen)
{
	size_t k = strlen(key);

	if (n < k + 1 || memcmp(s, key, k) != 0 || s[k] != ' ')
		return 0;
	*rest = s + k + 1;
	*restlen = n - k - 1;
	return 1;
}

enum appliance_bundle_result
appliance_bundle_parse(const char *buf, size_t len, struct appliance_bundle *b, char *err,
    size_t errlen)
{
	static const char *const expect[] = { "version", "kernel", "initrd", "options", "end" };
	struct cursor c = { buf, len < APPLIANCE_BUNDLE_HEADER_MAX ? len : APPLIANCE_BUNDLE_HEADER_MAX, 0, 0 };
	const size_t magic_len = sizeof(APPLIANCE_BUNDLE_MAGIC) - 1;
	char why[128];
	const char *s, *rest;
	size_t n, restlen, i, k;

	memset(b, 0, sizeof(*b));
	if (memcmp(buf, APPLIANCE_BUNDLE_MAGIC, len < magic_len ? len : magic_len) != 0) {
		snprintf(err, errlen, "not an xmpp-edge update bundle (it must start with "
		    "\"xmpp-edge-bundle 1\"; build one with appliance/build-image.sh)");
		return APPLIANCE_BUNDLE_BAD;
	}
	if (len < magic_len)
		return APPLIANCE_BUNDLE_INCOMPLETE;
	c.off = magic_len;
	c.line = 1;
	for (k = 0; k < sizeof(expect) / sizeof(expect[0]); k++) {
		if (cursor_line(&c, &s, &n) != 0) {
			if (len >= APPLIANCE_BUNDLE_HEADER_MAX) {
				snprintf(err, errlen, "bundle header: no \"end\" line within %d bytes",
				    APPLIANCE_BUNDLE_HEADER_MAX);
				return APPLIANCE_BUNDLE_BAD;
			}
			return APPLIANCE_BUNDLE_INCOMPLETE;
		}
		why[0] = '\0';
		if (k == 4) {
			if (n == 3 && memcmp(s, "end", 3) == 0)
				break;
			snprintf(why, sizeof(why), "expected \"end\"");
		} else if (!line_key(s, n, expect[k], &rest, &restlen)) {
			snprintf(why, sizeof(why), "expected \"%s ...\"", expect[k]);
		} else if (k == 0) {
			if (restlen == 0 || restlen > APPLIANCE_BUNDLE_VERSION_MAX)
				snprintf(why, sizeof(why), "version must be 1..%d bytes",
				    APPLIANCE_BUNDLE_VERSION_MAX);
			for (i = 0; why[0] == '\0' && i < restlen; i++)
				if (!is_version_char(rest[i]))
					snprintf(why, sizeof(why), "version may hold only letters, "
					    "digits and . _ + ~ -");
			if (why[0] == '\0')
				memcpy(b->version, rest, restlen);
		} else if (k == 1 || k == 2) {
			enum appliance_part part = k == 1 ? APPLIANCE_PART_KERNEL : APPLIANCE_PART_INITRD;

			(void)parse_image_line(rest, restlen, &b->size[part], b->sha256[part], why,
			    sizeof(why));
		} else {
			if (restlen > APPLIANCE_BUNDLE_OPTIONS_MAX)
				snprintf(why, sizeof(why), "options longer than %d bytes",
				    APPLIANCE_BUNDLE_OPTIONS_MAX);
			for (i = 0; why[0] == '\0' && i < restlen; i++)
				if (rest[i] < 0x20 || rest[i] > 0x7e)
					snprintf(why, sizeof(why), "options must be printable ASCII");
			/* The daemon appends the slot; a second one would
			 * make init judge the wrong entry. */
			for (i = 0; why[0] == '\0' && i + 8 <= restlen; i++)
				if (memcmp(rest + i, "xe.slot=", 8) == 0)
					snprintf(why, sizeof(why), "options must not set xe.slot= "
					    "(the slot is chosen by the appliance)");
			if (why[0] == '\0')
				memcpy(b->options, rest, restlen);
		}
		if (why[0] != '\0') {
			snprintf(err, errlen, "bundle header line %d: %s", c.line, why);
			return APPLIANCE_BUNDLE_BAD;
		}
	}
	b->header_len = c.off;
	return APPLIANCE_BUNDLE_OK;
}

uint64_t
appliance_bundle_payload(const struct appliance_bundle *b)
{
	return b->size[APPLIANCE_PART_KERNEL] + b->size[APPLIANCE_PART_INITRD];
}

void
appliance_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hexd[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexd[p[i] >> 4];
		out[2 * i + 1] = hexd[p[i] & 15];
	}
	out[2 * n] = '\0';
}
