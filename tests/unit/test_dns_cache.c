/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dns_cache.c - the answer cache (dns/cache.c): TTL bounds, expiry,
 * negative answers, LRU eviction past the entry and byte bounds.
 */
#include "test.h"

#include <stdio.h>

#include "dns_internal.h"

static struct dns_rrset *
addr_set(uint32_t ttl, uint8_t last)
{
	struct dns_rrset *s = dns_rrset_new(DNS_RR_A, DNS_OK, 1, 0);

	REQUIRE(s != NULL);
	s->rr.addr[0].family = AF_INET;
	s->rr.addr[0].addr[0] = 192;
	s->rr.addr[0].addr[3] = last;
	s->n = 1;
	s->ttl_s = ttl;
	return s;
}

TEST(dns_cache_lifetime_bounds)
{
	struct dns_config cfg;
	struct dns_rrset *s = addr_set(5, 1), *neg;

	dns_config_defaults(&cfg);	/* min 30, max 86400, negative 60 */
	CHECK_INT_EQ(dns_cache_lifetime_s(&cfg, s), 30);
	s->ttl_s = 3600;
	CHECK_INT_EQ(dns_cache_lifetime_s(&cfg, s), 3600);
	s->ttl_s = 10000000;
	CHECK_INT_EQ(dns_cache_lifetime_s(&cfg, s), 86400);
	neg = dns_rrset_new(DNS_RR_A, DNS_ERR_NXDOMAIN, 0, 0);
	neg->ttl_s = UINT32_MAX;	/* no SOA */
	CHECK_INT_EQ(dns_cache_lifetime_s(&cfg, neg), 60);
	neg->ttl_s = 10;		/* SOA says 10 s */
	CHECK_INT_EQ(dns_cache_lifetime_s(&cfg, neg), 10);
	cfg.negative_ttl_s = 0;
	CHECK_INT_EQ(dns_cache_lifetime_s(&cfg, neg), 0);
	dns_rrset_unref(s);
	dns_rrset_unref(neg);
}

TEST(dns_cache_hit_and_expiry)
{
	struct dns_cache *c = dns_cache_new(16, DNS_CACHE_MAX_BYTES);
	struct dns_rrset *s = addr_set(300, 1), *got;

	REQUIRE(c != NULL);
	s->fetched_ms = 1000;
	dns_cache_put(c, "a.example", DNS_RR_A, s, 30, 1000);
	dns_rrset_unref(s);	/* the cache holds its own reference */
	got = dns_cache_get(c, "a.example", DNS_RR_A, 1000 + 29999);
	REQUIRE(got != NULL);
	CHECK_INT_EQ(got->rr.addr[0].addr[3], 1);
	CHECK_INT_EQ(dns_rrset_ttl_left(got, 1000 + 29999), 300 - 29);
	dns_rrset_unref(got);
	CHECK(dns_cache_get(c, "a.example", DNS_RR_AAAA, 2000) == NULL);
	CHECK(dns_cache_get(c, "b.example", DNS_RR_A, 2000) == NULL);
	CHECK(dns_cache_get(c, "a.example", DNS_RR_A, 1000 + 30000) == NULL);
	CHECK_INT_EQ(dns_cache_count(c), 0);	/* dropped on the way */
	CHECK_INT_EQ(dns_cache_bytes(c), 0);
	dns_cache_free(c);
}

TEST(dns_cache_replace_and_negative)
{
	struct dns_cache *c = dns_cache_new(16, DNS_CACHE_MAX_BYTES);
	struct dns_rrset *s1 = addr_set(300, 1), *s2 = addr_set(300, 2), *neg, *got;

	dns_cache_put(c, "a.example", DNS_RR_A, s1, 300, 0);
	dns_cache_put(c, "a.example", DNS_RR_A, s2, 300, 0);
	CHECK_INT_EQ(dns_cache_count(c), 1);
	got = dns_cache_get(c, "a.example", DNS_RR_A, 0);
	REQUIRE(got != NULL);
	CHECK_INT_EQ(got->rr.addr[0].addr[3], 2);
	dns_rrset_unref(got);

	neg = dns_rrset_new(DNS_RR_SRV, DNS_ERR_NXDOMAIN, 0, 0);
	dns_cache_put(c, "_xmpp-server._tcp.nx.example", DNS_RR_SRV, neg, 60, 0);
	got = dns_cache_get(c, "_xmpp-server._tcp.nx.example", DNS_RR_SRV, 59999);
	REQUIRE(got != NULL);
	CHECK_INT_EQ(got->status, DNS_ERR_NXDOMAIN);
	CHECK_INT_EQ(got->n, 0);
	dns_rrset_unref(got);
	/* lifetime 0: not stored */
	dns_cache_put(c, "zero.example", DNS_RR_A, s1, 0, 0);
	CHECK(dns_cache_get(c, "zero.example", DNS_RR_A, 0) == NULL);
	dns_rrset_unref(s1);
	dns_rrset_unref(s2);
	dns_rrset_unref(neg);
	dns_cache_free(c);
}

TEST(dns_cache_entry_bound_evicts_lru)
{
	struct dns_cache *c = dns_cache_new(8, DNS_CACHE_MAX_BYTES);
	char name[32];
	struct dns_rrset *got;
	int i;

	for (i = 0; i < 8; i++) {
		struct dns_rrset *s = addr_set(300, (uint8_t)i);

		snprintf(name, sizeof(name), "h%d.example", i);
		dns_cache_put(c, name, DNS_RR_A, s, 300, 0);
		dns_rrset_unref(s);
	}
	CHECK_INT_EQ(dns_cache_count(c), 8);
	/* touch h0 so that h1 is the least recently used */
	got = dns_cache_get(c, "h0.example", DNS_RR_A, 1);
	dns_rrset_unref(got);
	for (i = 8; i < 1000; i++) {
		struct dns_rrset *s = addr_set(300, (uint8_t)i);

		snprintf(name, sizeof(name), "h%d.example", i);
		dns_cache_put(c, name, DNS_RR_A, s, 300, 2);
		dns_rrset_unref(s);
		CHECK(dns_cache_count(c) <= 8);
		if (i == 8) {
			CHECK((got = dns_cache_get(c, "h1.example", DNS_RR_A, 2)) == NULL);
			got = dns_cache_get(c, "h0.example", DNS_RR_A, 2);
			CHECK(got != NULL);
			dns_rrset_unref(got);
		}
	}
	CHECK_INT_EQ(dns_cache_count(c), 8);
	got = dns_cache_get(c, "h999.example", DNS_RR_A, 3);
	CHECK(got != NULL);
	dns_rrset_unref(got);
	dns_cache_free(c);
}

TEST(dns_cache_byte_bound)
{
	struct dns_cache *c = dns_cache_new(100000, 20000);
	char name[32], target[DNS_NAME_MAX + 1];
	int i, j;

	memset(target, 'x', 200);
	target[200] = '\0';
	for (i = 0; i < 200; i++) {
		/* 16 long SRV targets: a few KB per answer */
		struct dns_rrset *s = dns_rrset_new(DNS_RR_SRV, DNS_OK, 16, 16 * 201);

		REQUIRE(s != NULL);
		for (j = 0; j < 16; j++)
			REQUIRE(dns_rrset_add_srv(s, 1, 1, 5269, target) == 0);
		CHECK(dns_rrset_add_srv(s, 1, 1, 5269, target) < 0);	/* full */
		snprintf(name, sizeof(name), "s%d.example", i);
		dns_cache_put(c, name, DNS_RR_SRV, s, 300, 0);
		dns_rrset_unref(s);
		CHECK(dns_cache_bytes(c) <= 20000);
	}
	CHECK(dns_cache_count(c) > 0 && dns_cache_count(c) < 10);
	dns_cache_free(c);
}

TEST(dns_cache_disabled)
{
	struct dns_cache *c = dns_cache_new(0, DNS_CACHE_MAX_BYTES);
	struct dns_rrset *s = addr_set(300, 1);

	dns_cache_put(c, "a.example", DNS_RR_A, s, 300, 0);
	CHECK(dns_cache_get(c, "a.example", DNS_RR_A, 0) == NULL);
	CHECK_INT_EQ(dns_cache_count(c), 0);
	dns_rrset_unref(s);
	dns_cache_free(c);
}

TEST(dns_cache_evicted_answer_stays_alive_while_referenced)
{
	struct dns_cache *c = dns_cache_new(1, DNS_CACHE_MAX_BYTES);
	struct dns_rrset *s1 = addr_set(300, 1), *s2 = addr_set(300, 2), *held;

	dns_cache_put(c, "a.example", DNS_RR_A, s1, 300, 0);
	dns_rrset_unref(s1);
	held = dns_cache_get(c, "a.example", DNS_RR_A, 0);
	REQUIRE(held != NULL);
	dns_cache_put(c, "b.example", DNS_RR_A, s2, 300, 0);	/* evicts a */
	dns_rrset_unref(s2);
	CHECK_INT_EQ(held->rr.addr[0].addr[3], 1);	/* ASan would object */
	dns_rrset_unref(held);
	dns_cache_free(c);
}
