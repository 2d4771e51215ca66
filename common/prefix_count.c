/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prefix_count.c - live inbound streams counted per network prefix (see
 * prefix_count.h for why prefixes and not addresses).
 *
 * A chained hash table with a fixed bucket array; an entry is allocated
 * when its prefix gets its first stream and freed when the last one goes,
 * so memory follows the live streams (at most two entries per stream,
 * and streams are bounded by limits.max_streams).
 */
#include "prefix_count.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct prefix_entry {
	struct prefix_entry *next;
	struct prefix_key key;
	size_t count;
};

void
prefix_count_init(struct prefix_count *t)
{
	memset(t, 0, sizeof(*t));
	/* getrandom cannot fail for 8 bytes once the pool is initialised;
	 * a zero seed would still be a working (if guessable) hash. */
	if (getrandom(&t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed))
		t->seed = 0;
}

void
prefix_count_clear(struct prefix_count *t)
{
	struct prefix_entry *e, *next;
	size_t i;

	for (i = 0; i < PREFIX_COUNT_BUCKETS; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
		t->buckets[i] = NULL;
	}
	t->entries = 0;
}

static void
prefix_key_set(struct prefix_key *k, enum prefix_kind kind, const uint8_t *addr, size_t len,
    size_t keep)
{
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	memcpy(k->bytes, addr, keep < len ? keep : len);
}

int
prefix_keys_of(const struct sockaddr *sa, struct prefix_key out[PREFIX_KEYS_PER_ADDR])
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a;

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a, v4mapped, sizeof(v4mapped)) != 0) {
			prefix_key_set(&out[0], PREFIX_IPV6_128, a, 16, 16);
			prefix_key_set(&out[1], PREFIX_IPV6_64, a, 16, 8);
			return 0;
		}
		a += sizeof(v4mapped);	/* ::ffff:a.b.c.d is a.b.c.d */
	} else {
		return -1;
	}
	prefix_key_set(&out[0], PREFIX_IPV4_32, a, 4, 4);
	prefix_key_set(&out[1], PREFIX_IPV4_24, a, 4, 3);
	return 0;
}

/* A seeded multiply-xorshift over the key's words: cheap, and without the
 * seed an attacker cannot pick addresses that share a bucket. */
static size_t
prefix_bucket(const struct prefix_count *t, const struct prefix_key *k)
{
	uint64_t h = t->seed ^ ((uint64_t)k->kind * 0x9e3779b97f4a7c15ULL), w;
	size_t i;

	for (i = 0; i < sizeof(k->bytes); i += 8) {
		memcpy(&w, k->bytes + i, 8);
		h ^= w;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (size_t)(h % PREFIX_COUNT_BUCKETS);
}

static struct prefix_entry **
prefix_find(const struct prefix_count *t, const struct prefix_key *k)
{
	struct prefix_entry *const *ep = &t->buckets[prefix_bucket(t, k)];

	while (*ep != NULL && ((*ep)->key.kind != k->kind ||
	    memcmp((*ep)->key.bytes, k->bytes, sizeof(k->bytes)) != 0))
		ep = &(*ep)->next;
	return (struct prefix_entry **)ep;
}

size_t
prefix_count_get(const struct prefix_count *t, const struct prefix_key *k)
{
	const struct prefix_entry *e = *prefix_find(t, k);

	return e != NULL ? e->count : 0;
}

int
prefix_count_add(struct prefix_count *t, const struct prefix_key *k)
{
	struct prefix_entry **ep = prefix_find(t, k), *e;

	if (*ep != NULL) {
		(*ep)->count++;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	e->key = *k;
	e->count = 1;
	*ep = e;	/* at the chain's end, where the search stopped */
	t->entries++;
	return 0;
}

void
prefix_count_remove(struct prefix_count *t, const struct prefix_key *k)
{
	struct prefix_entry **ep = prefix_find(t, k), *e = *ep;

	if (e == NULL)
		return;
	if (--e->count > 0)
		return;
	*ep = e->next;
	free(e);
	t->entries--;
}
