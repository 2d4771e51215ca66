/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_prefix_count.c - streams counted per IPv4 /32 and /24, IPv6 /128
 * and /64 (common/prefix_count.c): which prefixes an address falls under,
 * counts that follow adds and removes, entries that go at zero, and many
 * keys in a fixed bucket array.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "prefix_count.h"

static struct sockaddr_storage
addr_of(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		REQUIRE(inet_pton(AF_INET6, text, &a->sin6_addr) == 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		REQUIRE(inet_pton(AF_INET, text, &a->sin_addr) == 1);
	}
	return ss;
}

static void
keys_of(const char *text, struct prefix_key k[PREFIX_KEYS_PER_ADDR])
{
	struct sockaddr_storage ss = addr_of(text);

	REQUIRE(prefix_keys_of((struct sockaddr *)&ss, k) == 0);
}

static void
add_addr(struct prefix_count *t, const char *text)
{
	struct prefix_key k[PREFIX_KEYS_PER_ADDR];

	keys_of(text, k);
	REQUIRE(prefix_count_add(t, &k[0]) == 0);
	REQUIRE(prefix_count_add(t, &k[1]) == 0);
}

static void
remove_addr(struct prefix_count *t, const char *text)
{
	struct prefix_key k[PREFIX_KEYS_PER_ADDR];

	keys_of(text, k);
	prefix_count_remove(t, &k[0]);
	prefix_count_remove(t, &k[1]);
}

/* Live count under the exact address (0) or the wider prefix (1). */
static size_t
count_of(const struct prefix_count *t, const char *text, int which)
{
	struct prefix_key k[PREFIX_KEYS_PER_ADDR];

	keys_of(text, k);
	return prefix_count_get(t, &k[which]);
}

TEST(prefix_keys_ipv4_address_and_24)
{
	struct prefix_key k[PREFIX_KEYS_PER_ADDR];
	static const uint8_t exact[16] = { 192, 0, 2, 77 }, net[16] = { 192, 0, 2, 0 };

	keys_of("192.0.2.77", k);
	CHECK_INT_EQ(k[0].kind, PREFIX_IPV4_32);
	CHECK(memcmp(k[0].bytes, exact, 16) == 0);
	CHECK_INT_EQ(k[1].kind, PREFIX_IPV4_24);
	CHECK(memcmp(k[1].bytes, net, 16) == 0);
}

TEST(prefix_keys_ipv6_address_and_64)
{
	struct prefix_key k[PREFIX_KEYS_PER_ADDR], other[PREFIX_KEYS_PER_ADDR];

	keys_of("2001:db8:1:2:aaaa::1", k);
	keys_of("2001:db8:1:2:bbbb::9", other);
	CHECK_INT_EQ(k[0].kind, PREFIX_IPV6_128);
	CHECK_INT_EQ(k[1].kind, PREFIX_IPV6_64);
	CHECK(memcmp(k[0].bytes, other[0].bytes, 16) != 0);
	CHECK(memcmp(k[1].bytes, other[1].bytes, 16) == 0);	/* one /64 */
	keys_of("2001:db8:1:3::1", other);
	CHECK(memcmp(k[1].bytes, other[1].bytes, 16) != 0);	/* the next /64 */
}

TEST(prefix_keys_v4_mapped_counts_as_ipv4)
{
	struct prefix_key mapped[PREFIX_KEYS_PER_ADDR], plain[PREFIX_KEYS_PER_ADDR];

	keys_of("::ffff:198.51.100.7", mapped);
	keys_of("198.51.100.7", plain);
	CHECK_INT_EQ(mapped[0].kind, PREFIX_IPV4_32);
	CHECK(memcmp(mapped, plain, sizeof(plain)) == 0);
}

TEST(prefix_keys_refuse_other_families)
{
	struct sockaddr_storage ss;
	struct prefix_key k[PREFIX_KEYS_PER_ADDR];

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	CHECK(prefix_keys_of((struct sockaddr *)&ss, k) == -1);
}

TEST(prefix_count_addresses_of_one_24_share_its_count)
{
	struct prefix_count t;
	char a[32];
	int i;

	prefix_count_init(&t);
	for (i = 2; i < 12; i++) {
		snprintf(a, sizeof(a), "127.0.0.%d", i);
		add_addr(&t, a);
	}
	add_addr(&t, "127.0.0.2");
	CHECK_INT_EQ(count_of(&t, "127.0.0.2", 0), 2);
	CHECK_INT_EQ(count_of(&t, "127.0.0.3", 0), 1);
	CHECK_INT_EQ(count_of(&t, "127.0.0.200", 0), 0);
	CHECK_INT_EQ(count_of(&t, "127.0.0.200", 1), 11);	/* the whole /24 */
	CHECK_INT_EQ(count_of(&t, "127.0.1.2", 1), 0);		/* the next /24 */
	CHECK_INT_EQ(t.entries, 11);				/* 10 addresses + one /24 */
	remove_addr(&t, "127.0.0.2");
	CHECK_INT_EQ(count_of(&t, "127.0.0.2", 0), 1);
	CHECK_INT_EQ(count_of(&t, "127.0.0.9", 1), 10);
	prefix_count_clear(&t);
	CHECK_INT_EQ(t.entries, 0);
}

TEST(prefix_count_entries_go_at_zero)
{
	struct prefix_count t;

	prefix_count_init(&t);
	add_addr(&t, "2001:db8::1");
	add_addr(&t, "2001:db8::2");
	CHECK_INT_EQ(count_of(&t, "2001:db8::ffff", 1), 2);
	CHECK_INT_EQ(t.entries, 3);
	remove_addr(&t, "2001:db8::1");
	remove_addr(&t, "2001:db8::2");
	CHECK_INT_EQ(t.entries, 0);
	CHECK_INT_EQ(count_of(&t, "2001:db8::1", 1), 0);
	/* Removing what is not there changes nothing. */
	remove_addr(&t, "2001:db8::1");
	CHECK_INT_EQ(t.entries, 0);
}

/* Far more keys than buckets: chains hold them all, and every count stays
 * its own; emptied again, nothing is left allocated (ASan's leak check). */
TEST(prefix_count_many_keys_in_fixed_buckets)
{
	struct prefix_count t;
	char a[48];
	int i;

	prefix_count_init(&t);
	for (i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "10.%d.%d.1", i / 256, i % 256);
		add_addr(&t, a);
		snprintf(a, sizeof(a), "2001:db8:%x::1", i);
		add_addr(&t, a);
	}
	CHECK_INT_EQ(t.entries, 4 * 5000);
	for (i = 0; i < 5000; i += 499) {
		snprintf(a, sizeof(a), "10.%d.%d.9", i / 256, i % 256);
		CHECK_INT_EQ(count_of(&t, a, 1), 1);
		CHECK_INT_EQ(count_of(&t, a, 0), 0);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "10.%d.%d.1", i / 256, i % 256);
		remove_addr(&t, a);
		snprintf(a, sizeof(a), "2001:db8:%x::1", i);
		remove_addr(&t, a);
	}
	CHECK_INT_EQ(t.entries, 0);
}
