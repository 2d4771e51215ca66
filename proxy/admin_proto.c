/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_proto.c - the admin channel's request framing (admin_proto.h).
 *
 * A byte-at-a-time state machine for the line and the part headers (they
 * are short), and spans for part data, handed to on_part without a copy.
 * Hostile input is refused at the first byte that cannot belong to a
 * request, with a sentence saying what was expected; the parser then
 * stays failed and consumes nothing more.
 */
#include "admin_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
	[ADMIN_PROTO_LINE] = "line",
	[ADMIN_PROTO_PART_HEADER] = "part_header",
	[ADMIN_PROTO_PART_DATA] = "part_data",
	[ADMIN_PROTO_DONE] = "done",
	[ADMIN_PROTO_FAILED] = "failed",
};

const char *
admin_proto_state_str(enum admin_proto_state st)
{
	return (unsigned)st <= ADMIN_PROTO_FAILED ? state_names[st] : "?";
}

void
admin_proto_init(struct admin_proto *p, const struct admin_proto_callbacks *cb, void *ud)
{
	memset(p, 0, sizeof(*p));
	p->state = ADMIN_PROTO_LINE;
	p->cb = *cb;
	p->ud = ud;
}

/* The owner's callback refused and already wrote why into p->err. */
static int
admin_proto_fail_as_told(struct admin_proto *p)
{
	p->state = ADMIN_PROTO_FAILED;
	return -1;
}

/* The format attribute lets the compiler check every call's arguments
 * against its literal format (and keeps clang's -Wformat-nonliteral quiet
 * about the vsnprintf below). */
static int admin_proto_fail(struct admin_proto *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
admin_proto_fail(struct admin_proto *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return admin_proto_fail_as_told(p);
}

static void
admin_proto_done(struct admin_proto *p)
{
	p->state = ADMIN_PROTO_DONE;
	if (p->cb.on_done != NULL)
		p->cb.on_done(p->ud);
}

/* The request line is complete in p->line. */
static int
admin_proto_line_done(struct admin_proto *p)
{
	long long max;

	p->line[p->line_len] = '\0';
	if (p->line_len == 0)
		return admin_proto_fail(p, "empty request line");
	if (p->line[0] == ' ' || p->line[p->line_len - 1] == ' ' || strstr(p->line, "  ") != NULL)
		return admin_proto_fail(p, "request line: words are separated by one space");
	max = p->cb.on_line(p->ud, p->line, p->err, sizeof(p->err));
	if (max < 0)
		return admin_proto_fail_as_told(p);
	if (p->state == ADMIN_PROTO_FAILED)	/* the owner gave up on us */
		return -1;
	p->payload_max = (unsigned long long)max;
	if (max == 0) {
		admin_proto_done(p);
		return 0;
	}
	p->state = ADMIN_PROTO_PART_HEADER;
	p->line_len = 0;
	return 0;
}

static int
admin_proto_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > ADMIN_PART_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* "part NAME SIZE" or "end", complete in p->line. */
static int
admin_proto_header_done(struct admin_proto *p)
{
	const char *name, *size, *sp;
	size_t namelen, i, n = 0;

	p->line[p->line_len] = '\0';
	if (strcmp(p->line, "end") == 0) {
		admin_proto_done(p);
		return 0;
	}
	if (strncmp(p->line, "part ", 5) != 0)
		return admin_proto_fail(p, "expected \"part NAME SIZE\" or \"end\"");
	name = p->line + 5;
	if ((sp = strchr(name, ' ')) == NULL)
		return admin_proto_fail(p, "part header: no size");
	namelen = (size_t)(sp - name);
	if (!admin_proto_name_ok(name, namelen))
		return admin_proto_fail(p, "part header: a name is 1 to %d of [A-Za-z0-9_.-]",
		    ADMIN_PART_NAME_MAX);
	size = sp + 1;
	/* Digits only, no sign, no leading zero: one spelling per size. */
	if (size[0] == '\0' || size[0] == '0' || strlen(size) > 6)
		return admin_proto_fail(p, "part header: size is 1 to %d", ADMIN_PART_MAX);
	for (i = 0; size[i] != '\0'; i++) {
		if (size[i] < '0' || size[i] > '9')
			return admin_proto_fail(p, "part header: size is a decimal number");
		n = n * 10 + (size_t)(size[i] - '0');
	}
	if (n > ADMIN_PART_MAX)
		return admin_proto_fail(p, "part header: size %zu is over the %d bytes of one part",
		    n, ADMIN_PART_MAX);
	if (n > p->payload_max - p->payload_seen)
		return admin_proto_fail(p, "payload larger than the %llu bytes this command takes",
		    p->payload_max);
	memcpy(p->part_name, name, namelen);
	p->part_name[namelen] = '\0';
	p->part_left = n;
	p->payload_seen += n;
	p->line_len = 0;
	p->state = ADMIN_PROTO_PART_DATA;
	return 0;
}

int
admin_proto_feed(struct admin_proto *p, const uint8_t *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		switch (p->state) {
		case ADMIN_PROTO_LINE:
		case ADMIN_PROTO_PART_HEADER: {
			size_t cap = p->state == ADMIN_PROTO_LINE ? ADMIN_LINE_MAX :
			    ADMIN_PART_HEADER_MAX;
			uint8_t c = data[i++];

			if (c == '\n') {
				if ((p->state == ADMIN_PROTO_LINE ? admin_proto_line_done(p) :
				    admin_proto_header_done(p)) != 0)
					return -1;
				break;
			}
			if (c < 0x20 || c > 0x7e)
				return admin_proto_fail(p, "%s: byte 0x%02x is not printable ASCII",
				    p->state == ADMIN_PROTO_LINE ? "request line" : "part header",
				    (unsigned)c);
			if (p->line_len == cap)
				return admin_proto_fail(p, "%s longer than %zu bytes",
				    p->state == ADMIN_PROTO_LINE ? "request line" : "part header", cap);
			p->line[p->line_len++] = (char)c;
			break;
		}
		case ADMIN_PROTO_PART_DATA: {
			size_t n = len - i < p->part_left ? len - i : p->part_left;

			if (p->cb.on_part(p->ud, p->part_name, data + i, n, p->err,
			    sizeof(p->err)) != 0)
				return admin_proto_fail_as_told(p);
			if (p->state == ADMIN_PROTO_FAILED)
				return -1;
			i += n;
			p->part_left -= n;
			if (p->part_left == 0)
				p->state = ADMIN_PROTO_PART_HEADER;
			break;
		}
		case ADMIN_PROTO_DONE:
			return admin_proto_fail(p, "bytes after the request (one request per connection)");
		case ADMIN_PROTO_FAILED:
			return -1;
		}
	}
	return p->state == ADMIN_PROTO_FAILED ? -1 : 0;
}
