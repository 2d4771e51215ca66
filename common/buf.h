/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.h - one bounded byte buffer (buf.c), in the spirit of curl's dynbuf:
 * every buffer is made with its cap, appending never passes it, and a
 * failure is precise and leaves the buffer as it was.
 *
 *   struct buf b;
 *   buf_init_fixed(&b, out, sizeof(out));    the caller's storage: no
 *                                            allocation, cap = its size
 *   buf_init(&b, BOUNCE_MAX);                heap storage, grown on demand
 *                                            up to the cap; buf_free()
 *   buf_append(&b, p, n) / buf_append_str / buf_appendf
 *        BUF_OK, BUF_TOO_LONG (past the cap: nothing appended),
 *        BUF_NO_MEMORY (growing failed: nothing appended)
 *   buf_append_cut(&b, p, n)                 the one way to truncate, and
 *                                            only when asked: what fits
 *   buf_reset(&b) / buf_truncate(&b, len)    empty / roll back to a mark
 *
 * The bytes are b.p[0 .. b.len); buf_cstr() NUL-terminates them (room
 * for the NUL is kept beyond the cap, so the cap counts content only).
 * Caps are named by the module that owns the buffer (BOUNCE_MAX, ...),
 * never a bare number at the call.
 */
#ifndef XE_BUF_H
#define XE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;		/* the bytes; NULL until a heap buf first grows */
	size_t len;		/* bytes held */
	size_t size;		/* bytes of storage at p */
	size_t cap;		/* len never exceeds it */
	int fixed;		/* p is the caller's: never grown nor freed */
};

enum buf_result {
	BUF_OK = 0,
	BUF_TOO_LONG = -1,	/* would pass the cap: nothing appended */
	BUF_NO_MEMORY = -2,	/* growing failed: nothing appended */
};

/* A heap buffer holding at most cap bytes; allocates on first append. */
void buf_init(struct buf *b, size_t cap);
/* The caller's storage mem[0 .. size): cap is size minus one when
 * NUL-terminated text is wanted (buf_cstr), else size. */
void buf_init_fixed(struct buf *b, void *mem, size_t size);
/* Frees a heap buffer's storage (a fixed one is the caller's). */
void buf_free(struct buf *b);

void buf_reset(struct buf *b);
/* Rolls back to len bytes (a mark taken with b->len); len <= b->len. */
void buf_truncate(struct buf *b, size_t len);

enum buf_result buf_append(struct buf *b, const void *data, size_t len);
enum buf_result buf_append_str(struct buf *b, const char *s);
enum buf_result buf_appendf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum buf_result buf_vappendf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends as much of data as fits: BUF_OK when all of it did, else
 * BUF_TOO_LONG with the cut part appended (truncation asked for). */
enum buf_result buf_append_cut(struct buf *b, const void *data, size_t len);

/* Room left before the cap. */
size_t buf_room(const struct buf *b);
/* The bytes as a C string (NUL after len, when the storage has room for
 * it: always for a heap buffer; for a fixed one if len < its size), or
 * NULL when it does not. */
const char *buf_cstr(struct buf *b);
/* A sentence for r ("ok", "longer than the buffer's cap", ...). */
const char *buf_result_str(enum buf_result r);

#endif
