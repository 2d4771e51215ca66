/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.c - DNS answers (struct dns_rrset) and the cache that keeps them.
 *
 * Why our own cache when c-ares has one: we want the configured TTL floor
 * and ceiling, negative caching with our own bound, a hard memory bound,
 * and to know each record's remaining TTL (shown by `xmpp-edge resolve`);
 * the c-ares query cache is turned off in resolver.c.
 *
 * Layout: a chained hash table keyed by (canonical name, type) plus an LRU
 * list (head = most recently used).  Every entry counts against both
 * bounds, max_entries and max_bytes; past either, entries are evicted from
 * the LRU tail.  Expired entries are dropped when met by a lookup and
 * otherwise age out of the LRU tail.  Lifetimes are computed by the caller
 * (dns_cache_lifetime_s) so that this file knows nothing about c-ares.
 *
 * Answers are immutable and reference counted: a lookup returns a new
 * reference, so an entry evicted while a discovery still reads its SRV
 * targets stays alive until that discovery lets go.
 */
#include "dns_internal.h"

#include <stdlib.h>
#include <string.h>

const char *
dns_rrtype_name(enum dns_rrtype type)
{
	switch (type) {
	case DNS_RR_A:		return "A";
	case DNS_RR_AAAA:	return "AAAA";
	case DNS_RR_SRV:	return "SRV";
	case DNS_RR_TLSA:	return "TLSA";
	}
	return "?";
}

/* --- answers --------------------------------------------------------------- */

struct dns_rrset *
dns_rrset_new(enum dns_rrtype type, enum dns_error status, size_t n,
    size_t names_cap)
{
	struct dns_rrset *set;
	size_t rec = type == DNS_RR_SRV ? sizeof(struct dns_srv_rr) :
	    type == DNS_RR_TLSA ? sizeof(struct dns_tlsa_rr) :
	    sizeof(struct dns_addr_rr);
	size_t size;

	if (n > DNS_SRV_RECORDS_MAX + DNS_ADDRESSES_MAX || names_cap > 65536)
		return NULL;
	size = sizeof(*set) + n * rec + names_cap;
	set = calloc(1, size);
	if (set == NULL)
		return NULL;
	set->refs = 1;
	set->type = type;
	set->status = status;
	set->bytes = size;
	if (type == DNS_RR_SRV)
		set->rr.srv = (struct dns_srv_rr *)(void *)(set + 1);
	else if (type == DNS_RR_TLSA)
		set->rr.tlsa = (struct dns_tlsa_rr *)(void *)(set + 1);
	else
		set->rr.addr = (struct dns_addr_rr *)(void *)(set + 1);
	set->names = (char *)(set + 1) + n * rec;
	set->names_cap = names_cap;
	return set;
}

int
dns_rrset_add_srv(struct dns_rrset *set, uint16_t priority, uint16_t weight,
    uint16_t port, const char *target)
{
	size_t len = strlen(target) + 1;
	struct dns_srv_rr *rr;

	if (set->type != DNS_RR_SRV || len > set->names_cap - set->names_used)
		return -1;
	rr = &set->rr.srv[set->n++];
	rr->priority = priority;
	rr->weight = weight;
	rr->port = port;
	rr->target = set->names + set->names_used;
	memcpy(set->names + set->names_used, target, len);
	set->names_used += len;
	return 0;
}

int
dns_rrset_add_tlsa(struct dns_rrset *set, uint8_t usage, uint8_t selector,
    uint8_t matching, const uint8_t *data, size_t len)
{
	struct dns_tlsa_rr *rr;

	if (set->type != DNS_RR_TLSA || len > set->names_cap - set->names_used)
		return -1;
	rr = &set->rr.tlsa[set->n++];
	rr->usage = usage;
	rr->selector = selector;
	rr->matching = matching;
	rr->len = len;
	rr->data = (const uint8_t *)set->names + set->names_used;
	memcpy(set->names + set->names_used, data, len);
	set->names_used += len;
	return 0;
}

struct dns_rrset *
dns_rrset_ref(struct dns_rrset *set)
{
	set->refs++;
	return set;
}

void
dns_rrset_unref(struct dns_rrset *set)
{
	if (set != NULL && --set->refs == 0)
		free(set);
}

uint32_t
dns_rrset_ttl_left(const struct dns_rrset *set, uint64_t now_ms)
{
	uint64_t age_s = now_ms > set->fetched_ms ? (now_ms - set->fetched_ms) / 1000 : 0;

	return age_s >= set->ttl_s ? 0 : set->ttl_s - (uint32_t)age_s;
}

uint32_t
dns_cache_lifetime_s(const struct dns_config *cfg, const struct dns_rrset *set)
{
	uint32_t t = set->ttl_s;

	if (set->status != DNS_OK)	/* RFC 2308 §5, bounded by our own */
		return t < cfg->negative_ttl_s ? t : cfg->negative_ttl_s;
	if (t < cfg->cache_min_ttl_s)
		t = cfg->cache_min_ttl_s;
	if (t > cfg->cache_max_ttl_s)
		t = cfg->cache_max_ttl_s;
	return t;
}

/* --- the cache --------------------------------------------------------------- */

struct cache_entry {
	struct cache_entry *hnext;	/* hash chain */
	struct cache_entry *prev;	/* LRU, towards the head (newer) */
	struct cache_entry *next;	/* LRU, towards the tail (older) */
	uint32_t hash;
	enum dns_rrtype type;
	uint64_t expires_ms;
	struct dns_rrset *set;
	size_t bytes;			/* entry + answer, counted once */
	char name[];
};

struct dns_cache {
	struct cache_entry **buckets;
	size_t nbuckets;		/* power of two */
	size_t count, max_entries;
	size_t bytes, max_bytes;
	struct cache_entry *head, *tail;
};

static uint32_t
name_hash(const char *name, enum dns_rrtype type)
{
	uint32_t h = 2166136261u ^ (uint32_t)type;	/* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

struct dns_cache *
dns_cache_new(size_t max_entries, size_t max_bytes)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	size_t nb = 16;

	if (c == NULL)
		return NULL;
	while (nb < max_entries && nb < (1u << 20))
		nb <<= 1;
	c->buckets = calloc(nb, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	c->nbuckets = nb;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

static void
lru_unlink(struct dns_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push_head(struct dns_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
entry_remove(struct dns_cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->count--;
	c->bytes -= e->bytes;
	dns_rrset_unref(e->set);
	free(e);
}

void
dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	while (c->head)
		entry_remove(c, c->head);
	free(c->buckets);
	free(c);
}

static struct cache_entry *
entry_find(struct dns_cache *c, const char *name, enum dns_rrtype type,
    uint32_t hash)
{
	struct cache_entry *e;

	for (e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == hash && e->type == type && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

struct dns_rrset *
dns_cache_get(struct dns_cache *c, const char *name, enum dns_rrtype type,
    uint64_t now_ms)
{
	uint32_t hash = name_hash(name, type);
	struct cache_entry *e = entry_find(c, name, type, hash);

	if (e == NULL)
		return NULL;
	if (now_ms >= e->expires_ms) {
		entry_remove(c, e);
		return NULL;
	}
	lru_unlink(c, e);
	lru_push_head(c, e);
	return dns_rrset_ref(e->set);
}

void
dns_cache_put(struct dns_cache *c, const char *name, enum dns_rrtype type,
    struct dns_rrset *set, uint32_t lifetime_s, uint64_t now_ms)
{
	uint32_t hash = name_hash(name, type);
	struct cache_entry *e;
	size_t len = strlen(name), bytes;

	if ((e = entry_find(c, name, type, hash)) != NULL)
		entry_remove(c, e);
	if (lifetime_s == 0 || c->max_entries == 0)
		return;
	bytes = sizeof(*e) + len + 1 + set->bytes;
	if (bytes > c->max_bytes)
		return;
	while (c->count >= c->max_entries || c->bytes + bytes > c->max_bytes)
		entry_remove(c, c->tail);
	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return;		/* a cache miss later; not an error */
	memcpy(e->name, name, len + 1);
	e->hash = hash;
	e->type = type;
	e->expires_ms = now_ms + (uint64_t)lifetime_s * 1000;
	e->set = dns_rrset_ref(set);
	e->bytes = bytes;
	e->hnext = c->buckets[hash & (c->nbuckets - 1)];
	c->buckets[hash & (c->nbuckets - 1)] = e;
	lru_push_head(c, e);
	c->count++;
	c->bytes += bytes;
}

size_t
dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}

size_t
dns_cache_bytes(const struct dns_cache *c)
{
	return c->bytes;
}
