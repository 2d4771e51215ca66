/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.c - the bounded byte buffer (buf.h).
 *
 * Every append checks against the cap before touching the bytes, with
 * len <= cap as the invariant, so "len > cap - b->len" can never wrap.
 * A heap buffer grows by doubling (at least 64 bytes), never past
 * cap + 1: the extra byte keeps a NUL behind the content for buf_cstr().
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 64

void
buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	/* The NUL byte behind the content must fit a size_t too. */
	b->cap = cap < SIZE_MAX ? cap : SIZE_MAX - 1;
}

void
buf_init_fixed(struct buf *b, void *mem, size_t size)
{
	memset(b, 0, sizeof(*b));
	b->p = mem;
	b->size = size;
	b->cap = size;
	b->fixed = 1;
}

void
buf_free(struct buf *b)
{
	if (!b->fixed)
		free(b->p);
	memset(b, 0, sizeof(*b));
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len)
		b->len = len;
}

size_t
buf_room(const struct buf *b)
{
	return b->cap - b->len;
}

/* Storage for len + extra bytes (extra <= room), the NUL slot included
 * for heap buffers: -1 when it cannot be had. */
static int
buf_grow(struct buf *b, size_t extra)
{
	size_t want = b->len + extra + 1, size;
	char *p;

	if (b->fixed || want <= b->size)
		return 0;
	size = b->size < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->size;
	while (size < want)
		size = size > (b->cap + 1) / 2 ? b->cap + 1 : size * 2;
	if (size > b->cap + 1)
		size = b->cap + 1;
	p = realloc(b->p, size);
	if (p == NULL)
		return -1;
	b->p = p;
	b->size = size;
	return 0;
}

enum buf_result
buf_append(struct buf *b, const void *data, size_t len)
{
	if (len > buf_room(b))
		return BUF_TOO_LONG;
	if (len == 0)
		return BUF_OK;
	if (buf_grow(b, len) < 0)
		return BUF_NO_MEMORY;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return BUF_OK;
}

enum buf_result
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum buf_result
buf_append_cut(struct buf *b, const void *data, size_t len)
{
	size_t room = buf_room(b);
	enum buf_result r;

	if (len <= room)
		return buf_append(b, data, len);
	r = buf_append(b, data, room);
	return r == BUF_OK ? BUF_TOO_LONG : r;
}

enum buf_result
buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	char small[256];
	int n;
	enum buf_result r;

	/* Measured first: nothing is written unless all of it fits. */
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return BUF_TOO_LONG;	/* an encoding error: nothing fits */
	if ((size_t)n > buf_room(b))
		return BUF_TOO_LONG;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if (buf_grow(b, (size_t)n) < 0)
		return BUF_NO_MEMORY;
	if (!b->fixed || b->len + (size_t)n < b->size) {
		/* Room for the NUL vsnprintf writes: format in place. */
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		b->len += (size_t)n;
		return BUF_OK;
	}
	/* A fixed buffer filled to its last byte: through the heap. */
	{
		char *tmp = malloc((size_t)n + 1);

		if (tmp == NULL)
			return BUF_NO_MEMORY;
		vsnprintf(tmp, (size_t)n + 1, fmt, ap);
		r = buf_append(b, tmp, (size_t)n);
		free(tmp);
		return r;
	}
}

enum buf_result
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	enum buf_result r;

	va_start(ap, fmt);
	r = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return r;
}

const char *
buf_cstr(struct buf *b)
{
	if (b->p == NULL) {
		if (buf_grow(b, 0) < 0)
			return NULL;
	}
	if (b->len >= b->size)
		return NULL;
	b->p[b->len] = '\0';
	return b->p;
}

const char *
buf_result_str(enum buf_result r)
{
	switch (r) {
	case BUF_OK:
		return "ok";
	case BUF_TOO_LONG:
		return "longer than the buffer's cap";
	case BUF_NO_MEMORY:
		return "out of memory";
	}
	return "unknown buffer result";
}
