/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dns_internal.h - what the dns/ sources share with each other and with the unit
 * tests, but the rest of the proxy does not use (that is dns.h).
 *
 *   name.c      domain name validation and normalisation
 *   srv.c       RFC 2782 ordering, seedable RNG
 *   cache.c     the answer cache and the answer type (struct dns_rrset)
 *   resolver.c  raw queries (dns_resolver_query)
 */
#ifndef XE_DNS_INTERNAL_H
#define XE_DNS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"

/* --- names (name.c) ------------------------------------------------------ */

/* --- random numbers and SRV ordering (srv.c) ----------------------------- */

/* xorshift-style generator (not for secrets: SRV weights only). */
struct dns_rng {
	uint64_t s;
};

void dns_rng_seed(struct dns_rng *rng, uint64_t seed);
/* Seeds from getrandom(), falling back to the clock. */
void dns_rng_seed_random(struct dns_rng *rng);
/* Uniform in [0, bound), bound > 0, without modulo bias. */
uint32_t dns_rng_below(struct dns_rng *rng, uint32_t bound);

/* One SRV record, from either service. */
struct dns_srv_target {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	enum dns_tls_mode tls;
	uint32_t ttl_s;
	int secure;		/* its SRV answer was authenticated (AD) */
	const char *target;	/* borrowed from the answer it came from */
};

/*
 * RFC 2782 ordering, in place: ascending priority; within one priority,
 * repeated weighted-random selection (zero weights placed first, a random
 * number in [0, sum of weights] picks the first record whose running sum
 * reaches it).  Stops after max_out records and returns how many are
 * ordered at the front of t (min(n, max_out)).  n <= 2 * DNS_SRV_RECORDS_MAX.
 */
size_t dns_srv_order(struct dns_srv_target *t, size_t n, size_t max_out,
    struct dns_rng *rng);

/* --- answers and the cache (cache.c) ------------------------------------- */

enum dns_rrtype {
	DNS_RR_A = 1,
	DNS_RR_AAAA = 28,
	DNS_RR_SRV = 33,
	DNS_RR_TLSA = 52,	/* RFC 6698 */
};

const char *dns_rrtype_name(enum dns_rrtype type);

struct dns_srv_rr {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	const char *target;	/* points into the rrset's own storage; "." kept as "." */
};

struct dns_addr_rr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* 4 or 16 bytes used, network order */
};

/* struct dns_tlsa_rr is public (dns.h): the DANE layers read it. */

/*
 * An answer: the records of one type for one name, or a negative answer
 * (status DNS_ERR_NXDOMAIN / DNS_ERR_NODATA, n == 0).  Immutable once
 * built; shared by reference count between the cache and queries.  One
 * allocation holds the header, the records and the SRV target names.
 */
struct dns_rrset {
	unsigned refs;
	enum dns_rrtype type;
	enum dns_error status;	/* DNS_OK, DNS_ERR_NXDOMAIN or DNS_ERR_NODATA */
	uint32_t ttl_s;		/* smallest TTL of the records (or negative TTL) */
	uint64_t fetched_ms;	/* loop time the answer arrived */
	int secure;		/* the resolver set AD: DNSSEC-validated
				   (RFC 4035 §3.2.3), negative answers too */
	size_t n;
	size_t bytes;		/* size of the allocation, for the cache bound */
	union {
		struct dns_srv_rr *srv;
		struct dns_addr_rr *addr;
		struct dns_tlsa_rr *tlsa;
	} rr;
	/* names_used / names_cap: SRV name and TLSA data storage, filled
	 * while building */
	size_t names_used;
	size_t names_cap;
	char *names;
};

/* Allocates an rrset for up to n records with names_cap bytes of SRV
 * target names; refs = 1, n = 0 (the builder fills and counts). */
struct dns_rrset *dns_rrset_new(enum dns_rrtype type, enum dns_error status,
    size_t n, size_t names_cap);
/* Adds an SRV record, copying target; -1 if there is no room. */
int dns_rrset_add_srv(struct dns_rrset *set, uint16_t priority,
    uint16_t weight, uint16_t port, const char *target);
/* Adds a TLSA record, copying its association data; -1 if no room. */
int dns_rrset_add_tlsa(struct dns_rrset *set, uint8_t usage, uint8_t selector,
    uint8_t matching, const uint8_t *data, size_t len);
/* Seconds of the record TTL left at 'now_ms' (0 when past). */
uint32_t dns_rrset_ttl_left(const struct dns_rrset *set, uint64_t now_ms);

/* How long to keep an answer: positive TTLs clamped to [min, max];
 * negative answers min(negative, ttl) where ttl is the SOA-derived
 * negative TTL (UINT32_MAX if the answer had no SOA). */
uint32_t dns_cache_lifetime_s(const struct dns_config *cfg,
    const struct dns_rrset *set);

struct dns_cache;

/* max_entries == 0: a cache that keeps nothing. */
struct dns_cache *dns_cache_new(size_t max_entries, size_t max_bytes);
void dns_cache_free(struct dns_cache *c);
/* A new reference to the live answer for (name, type), or NULL.  Expired
 * entries found on the way are dropped.  'name' is canonical. */
struct dns_rrset *dns_cache_get(struct dns_cache *c, const char *name,
    enum dns_rrtype type, uint64_t now_ms);
/* Stores set (taking a new reference) for lifetime_s seconds, replacing
 * an older answer, evicting least recently used entries past the bounds.
 * lifetime_s == 0 stores nothing. */
void dns_cache_put(struct dns_cache *c, const char *name, enum dns_rrtype type,
    struct dns_rrset *set, uint32_t lifetime_s, uint64_t now_ms);
size_t dns_cache_count(const struct dns_cache *c);
size_t dns_cache_bytes(const struct dns_cache *c);

/* --- TLSA answers (tlsa.c) ---------------------------------------------- */

struct ares_dns_record;
/* The TLSA records of a parsed answer (c-ares's record list, hostile),
 * bounded and checked (tlsa.c's header): DNS_OK with *out (possibly no
 * usable record, n == 0), DNS_ERR_NODATA when it has no TLSA record,
 * DNS_ERR_NOMEM.  qname names the answer in logs. */
enum dns_error dns_tlsa_parse(const struct ares_dns_record *rec, const char *qname,
    struct dns_rrset **out);

/* --- raw queries (resolver.c) -------------------------------------------- */

struct dns_query;

/*
 * err is DNS_OK, DNS_ERR_NXDOMAIN or DNS_ERR_NODATA with 'set' the answer
 * (borrowed: dns_rrset_ref() it to keep it), or another error with set
 * NULL.  Always called from the loop, never from dns_resolver_query().
 * The query is freed after the callback returns.
 */
typedef void (*dns_query_cb)(void *arg, enum dns_error err,
    struct dns_rrset *set);

/* Looks 'name' (canonical, see dns_name_normalize) up, in the cache first.
 * NULL only when out of memory. */
struct dns_query *dns_resolver_query(struct dns_resolver *r, const char *name,
    enum dns_rrtype type, dns_query_cb cb, void *arg);
/* The callback will not be called; the query is freed in due course. */
void dns_query_cancel(struct dns_query *q);

const struct dns_config *dns_resolver_config(const struct dns_resolver *r);
uv_loop_t *dns_resolver_loop(const struct dns_resolver *r);
struct dns_rng *dns_resolver_rng(struct dns_resolver *r);
/* The counters of r, for discover.c (dns_resolver_stats reads them). */
struct dns_stats *dns_resolver_counters(struct dns_resolver *r);

#endif
