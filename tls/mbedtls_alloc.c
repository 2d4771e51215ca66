/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mbedtls_alloc.c - a recycling calloc/free for mbedTLS (issue 18,
 * handshake CPU).
 *
 * Why: mbedTLS allocates every bignum (mbedtls_mpi_grow: a calloc, a copy
 * and a free each time a number grows), every PSA key slot, every parsed
 * structure of a handshake, and the record buffers of each connection.  On
 * musl's allocator (mallocng) that was about 10 % of the server CPU per new
 * TLS connection (malloc, calloc, alloc_slot, get_meta, free,
 * __malloc_allzerop), plus the page faults and munmap/madvise of groups
 * returned to the kernel when a connection's buffers go
 * (tests/bench/RESULTS.md, "Handshake profile").
 *
 * What: freed blocks are kept on per-thread free lists by size class and
 * handed out again (zeroed, as calloc must) before asking malloc:
 *
 *  - small blocks (up to ALLOC_SMALL_MAX bytes) in classes of
 *    ALLOC_CLASS_BYTES, at most ALLOC_SMALL_CACHE_BYTES kept per class;
 *  - larger blocks (record buffers, certificates) up to ALLOC_LARGE_MAX,
 *    at most ALLOC_LARGE_SLOTS of them, taken back only by a request they
 *    fit without wasting more than half.
 *
 * No header: a block is an ordinary malloc block and its class is read back
 * with malloc_usable_size() (a block in class c has at least c bytes), so
 * blocks allocated before the install or by another allocator can be freed
 * here and vice versa -- installing at any time is safe, and a test that
 * installs its own counting allocator afterwards is not confused.
 *
 * Not a per-handshake arena: mbedTLS frees in no particular order, and what
 * a handshake allocates that outlives it (the session, the transform, the
 * kept peer certificate, PSA keys) would have pinned an arena for the life
 * of the connection -- against issue 18's memory per idle stream.  The
 * cache's bound is global instead: at most ALLOC_SMALL_CLASSES *
 * ALLOC_SMALL_CACHE_BYTES + ALLOC_LARGE_SLOTS * ALLOC_LARGE_MAX bytes
 * (672 KiB), held by the thread that called tls_alloc_install() (the event
 * loop).
 *
 * Only that thread caches (its lists are _Thread_local: no lock); on any
 * other thread (the admin command's key generation runs on libuv's thread
 * pool) these are plain calloc and free, so no cache dies with a thread.
 * A block freed by the loop thread that another thread allocated simply
 * joins the loop's lists.
 *
 * Under AddressSanitizer the cached blocks are poisoned, so a use after
 * mbedtls_free is still reported while the block sits in the cache.
 */
#include "tls_int.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ALLOC_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ALLOC_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ALLOC_POISON(p, n) ((void)(p), (void)(n))
#define ALLOC_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALLOC_CLASS_BYTES 16
#define ALLOC_SMALL_MAX 512
#define ALLOC_SMALL_CLASSES (ALLOC_SMALL_MAX / ALLOC_CLASS_BYTES)
#define ALLOC_SMALL_CACHE_BYTES (16 * 1024)
#define ALLOC_LARGE_MAX (20 * 1024)	/* a 16 KiB record buffer and its header room */
#define ALLOC_LARGE_SLOTS 8

/* A free block's first bytes: the next one of its class. */
struct alloc_free {
	struct alloc_free *next;
};

struct alloc_large {
	void *p;
	size_t usable;
};

struct alloc_cache {
	struct alloc_free *small[ALLOC_SMALL_CLASSES];
	uint32_t small_count[ALLOC_SMALL_CLASSES];
	struct alloc_large large[ALLOC_LARGE_SLOTS];
	size_t large_count;
	struct tls_alloc_stats stats;
};

static _Thread_local struct alloc_cache alloc_cache;
/* 1 on the thread that installed the allocator. */
static _Thread_local int alloc_cache_enabled;

/* The class a request of n bytes (1..ALLOC_SMALL_MAX) is served from: the
 * smallest class of at least n bytes. */
static size_t alloc_class_for_request(size_t n)
{
	return (n + ALLOC_CLASS_BYTES - 1) / ALLOC_CLASS_BYTES - 1;
}

static size_t alloc_class_bytes(size_t c)
{
	return (c + 1) * ALLOC_CLASS_BYTES;
}

static void *alloc_calloc(size_t n, size_t size)
{
	struct alloc_cache *ac = &alloc_cache;
	size_t total, i;
	void *p;

	if (!alloc_cache_enabled || n == 0 || size == 0)
		return calloc(n, size);
	if (n > SIZE_MAX / size)
		return NULL;
	total = n * size;
	if (total <= ALLOC_SMALL_MAX) {
		size_t c = alloc_class_for_request(total);
		struct alloc_free *f = ac->small[c];

		if (f != NULL) {
			ALLOC_UNPOISON(f, alloc_class_bytes(c));
			ac->small[c] = f->next;
			ac->small_count[c]--;
			ac->stats.cached_bytes -= alloc_class_bytes(c);
			ac->stats.hits++;
			memset(f, 0, total);
			return f;
		}
		ac->stats.misses++;
		/* The whole class, so that the block comes back to it. */
		return calloc(1, alloc_class_bytes(c));
	}
	if (total <= ALLOC_LARGE_MAX) {
		for (i = 0; i < ac->large_count; i++) {
			struct alloc_large *l = &ac->large[i];

			if (l->usable < total || l->usable / 2 > total)
				continue;
			p = l->p;
			ALLOC_UNPOISON(p, l->usable);
			ac->stats.cached_bytes -= l->usable;
			*l = ac->large[--ac->large_count];
			ac->stats.hits++;
			memset(p, 0, total);
			return p;
		}
	}
	ac->stats.misses++;
	return calloc(n, size);
}

static void alloc_free(void *p)
{
	struct alloc_cache *ac = &alloc_cache;
	size_t usable, c;

	if (p == NULL)
		return;
	if (!alloc_cache_enabled) {
		free(p);
		return;
	}
	usable = malloc_usable_size(p);
	if (usable >= ALLOC_CLASS_BYTES && usable <= ALLOC_SMALL_MAX) {
		/* The largest class the block can serve. */
		struct alloc_free *f = p;

		c = usable / ALLOC_CLASS_BYTES - 1;
		if ((size_t)(ac->small_count[c] + 1) * alloc_class_bytes(c) <= ALLOC_SMALL_CACHE_BYTES) {
			f->next = ac->small[c];
			ac->small[c] = f;
			ac->small_count[c]++;
			ac->stats.cached_bytes += alloc_class_bytes(c);
			ALLOC_POISON(f, alloc_class_bytes(c));
			return;
		}
	} else if (usable > ALLOC_SMALL_MAX && usable <= ALLOC_LARGE_MAX &&
	    ac->large_count < ALLOC_LARGE_SLOTS) {
		ac->large[ac->large_count].p = p;
		ac->large[ac->large_count].usable = usable;
		ac->large_count++;
		ac->stats.cached_bytes += usable;
		ALLOC_POISON(p, usable);
		return;
	}
	free(p);
}

void tls_alloc_install(void)
{
	alloc_cache_enabled = 1;
	mbedtls_platform_set_calloc_free(alloc_calloc, alloc_free);
}

void tls_alloc_drain(void)
{
	struct alloc_cache *ac = &alloc_cache;
	size_t c;

	for (c = 0; c < ALLOC_SMALL_CLASSES; c++) {
		while (ac->small[c] != NULL) {
			struct alloc_free *f = ac->small[c];

			ALLOC_UNPOISON(f, alloc_class_bytes(c));
			ac->small[c] = f->next;
			free(f);
		}
		ac->small_count[c] = 0;
	}
	while (ac->large_count > 0) {
		struct alloc_large *l = &ac->large[--ac->large_count];

		ALLOC_UNPOISON(l->p, l->usable);
		free(l->p);
	}
	ac->stats.cached_bytes = 0;
}

void tls_alloc_stats(struct tls_alloc_stats *st)
{
	*st = alloc_cache.stats;
}
