/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dns_srv.c - RFC 2782 ordering (dns/srv.c) with a seeded generator:
 * every run sees the same random numbers, so the statistical checks are
 * exact reproductions, not chances.
 */
#include "test.h"

#include "dns_internal.h"

static void
rec(struct dns_srv_target *t, uint16_t prio, uint16_t weight, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->priority = prio;
	t->weight = weight;
	t->port = 5269;
	t->target = name;
}

TEST(dns_srv_priority_ascending)
{
	struct dns_srv_target t[4];
	struct dns_rng rng;
	size_t n;

	dns_rng_seed(&rng, 1);
	rec(&t[0], 30, 5, "c");
	rec(&t[1], 10, 5, "a");
	rec(&t[2], 20, 5, "b");
	rec(&t[3], 65535, 0, "d");
	n = dns_srv_order(t, 4, 16, &rng);
	CHECK_INT_EQ(n, 4);
	CHECK_STR_EQ(t[0].target, "a");
	CHECK_STR_EQ(t[1].target, "b");
	CHECK_STR_EQ(t[2].target, "c");
	CHECK_STR_EQ(t[3].target, "d");
}

TEST(dns_srv_cap_keeps_lowest_priorities)
{
	struct dns_srv_target t[100];
	char names[100][24];
	struct dns_rng rng;
	size_t i, n;

	dns_rng_seed(&rng, 2);
	for (i = 0; i < 100; i++) {
		snprintf(names[i], sizeof(names[i]), "t%zu", 99 - i);
		rec(&t[i], (uint16_t)(99 - i), 1, names[i]);
	}
	n = dns_srv_order(t, 100, 16, &rng);
	CHECK_INT_EQ(n, 16);
	for (i = 0; i < 16; i++)
		CHECK_INT_EQ(t[i].priority, i);
	CHECK_INT_EQ(dns_srv_order(t, 3, 16, &rng), 3);
	CHECK_INT_EQ(dns_srv_order(t, 0, 16, &rng), 0);
}

TEST(dns_srv_weight_distribution)
{
	/* weights 60/30/10 (all > 0, so P(first) = w/sum, RFC 2782 draws in
	 * [0, sum]: 61/101, 30/101, 10/101).  20000 seeded orderings. */
	static const char *const names[3] = { "w60", "w30", "w10" };
	unsigned first[3] = { 0, 0, 0 };
	struct dns_rng rng;
	unsigned run, i;

	dns_rng_seed(&rng, 12345);
	for (run = 0; run < 20000; run++) {
		struct dns_srv_target t[3];

		rec(&t[0], 1, 60, names[0]);
		rec(&t[1], 1, 30, names[1]);
		rec(&t[2], 1, 10, names[2]);
		REQUIRE(dns_srv_order(t, 3, 3, &rng) == 3);
		for (i = 0; i < 3; i++)
			if (t[0].target == names[i])
				first[i]++;
		/* every record appears exactly once */
		CHECK(t[0].target != t[1].target && t[1].target != t[2].target &&
		    t[0].target != t[2].target);
	}
	/* expected 12079, 5941, 1980; sd ~ 69, 60, 42: bounds at > 7 sd */
	CHECK(first[0] > 11600 && first[0] < 12600);
	CHECK(first[1] > 5500 && first[1] < 6400);
	CHECK(first[2] > 1680 && first[2] < 2280);
}

TEST(dns_srv_zero_weight_rarely_first)
{
	/* RFC 2782: weight 0 "should have a very small chance of being
	 * selected": here 1/(100+1). */
	unsigned zero_first = 0, run;
	struct dns_rng rng;

	dns_rng_seed(&rng, 99);
	for (run = 0; run < 10000; run++) {
		struct dns_srv_target t[2];

		rec(&t[0], 1, 100, "w100");
		rec(&t[1], 1, 0, "w0");
		dns_srv_order(t, 2, 2, &rng);
		if (strcmp(t[0].target, "w0") == 0)
			zero_first++;
		CHECK_STR_EQ(t[1].target, strcmp(t[0].target, "w0") == 0 ? "w100" : "w0");
	}
	CHECK(zero_first > 40 && zero_first < 180);	/* expected 99 */
}

TEST(dns_srv_all_zero_weights_all_kept)
{
	struct dns_srv_target t[5];
	struct dns_rng rng;
	int seen[5] = { 0 };
	size_t i;
	static const char *const names[5] = { "0", "1", "2", "3", "4" };

	dns_rng_seed(&rng, 7);
	for (i = 0; i < 5; i++)
		rec(&t[i], 3, 0, names[i]);
	CHECK_INT_EQ(dns_srv_order(t, 5, 5, &rng), 5);
	for (i = 0; i < 5; i++)
		seen[t[i].target[0] - '0']++;
	for (i = 0; i < 5; i++)
		CHECK_INT_EQ(seen[i], 1);
}

TEST(dns_srv_priority_beats_weight_and_tls_kept)
{
	struct dns_srv_target t[2];
	struct dns_rng rng;
	unsigned run;

	dns_rng_seed(&rng, 5);
	for (run = 0; run < 100; run++) {
		rec(&t[0], 20, 65535, "starttls");
		rec(&t[1], 10, 0, "direct");
		t[1].tls = DNS_TLS_DIRECT;
		dns_srv_order(t, 2, 2, &rng);
		CHECK_STR_EQ(t[0].target, "direct");
		CHECK_INT_EQ(t[0].tls, DNS_TLS_DIRECT);
		CHECK_INT_EQ(t[1].tls, DNS_TLS_STARTTLS);
	}
}

TEST(dns_rng_below_in_range)
{
	struct dns_rng rng;
	unsigned i, hits[7] = { 0 };

	dns_rng_seed(&rng, 0);
	for (i = 0; i < 70000; i++) {
		uint32_t v = dns_rng_below(&rng, 7);

		REQUIRE(v < 7);
		hits[v]++;
	}
	for (i = 0; i < 7; i++)
		CHECK(hits[i] > 9400 && hits[i] < 10600);
	CHECK_INT_EQ(dns_rng_below(&rng, 1), 0);
}
