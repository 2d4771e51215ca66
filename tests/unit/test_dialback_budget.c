/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dialback_budget.c - the dialback check budgets (proxy/dialback_budget.c):
 * the rate (a burst of N, then one every 60/N s), failures charged with a
 * capped debt, prefixes (IPv4 /24, IPv4-mapped IPv6 as IPv4, IPv6 /64),
 * kept in ratelimit.c's prefix table, which never grows: idle slots are
 * reused, a full window takes over its least recently used slot.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dialback_budget.h"
#include "ratelimit_fixture.h"

static struct config_limits
limits(int checks, int failures)
{
	struct config_limits lim;

	memset(&lim, 0, sizeof(lim));
	lim.dialback_checks_per_minute_per_prefix = checks;
	lim.dialback_failures_per_minute_per_prefix = failures;
	return lim;
}

TEST(dialback_rate_burst_then_one_per_interval)
{
	struct dialback_rate r = { 0 };
	uint64_t t0 = 1000000;
	int i;

	/* 6 a minute: 6 at once, then one every 10 s. */
	for (i = 0; i < 6; i++)
		CHECK(dialback_rate_take(&r, t0, 6));
	CHECK(!dialback_rate_take(&r, t0, 6));
	CHECK(!dialback_rate_has_room(&r, t0 + 9999, 6));
	CHECK(dialback_rate_take(&r, t0 + 10000, 6));
	CHECK(!dialback_rate_take(&r, t0 + 10000, 6));
	/* A refusal costs nothing: after a minute the whole burst is back. */
	for (i = 0; i < 6; i++)
		CHECK(dialback_rate_take(&r, t0 + 80000, 6));
	CHECK(!dialback_rate_take(&r, t0 + 80000, 6));
}

TEST(dialback_rate_spread_events_never_refused)
{
	struct dialback_rate r = { 0 };
	uint64_t t = 5000;
	int i;

	/* Exactly at the rate, forever: never refused. */
	for (i = 0; i < 1000; i++, t += 2000)
		CHECK(dialback_rate_take(&r, t, 30));
}

TEST(dialback_rate_charge_debt_is_capped)
{
	struct dialback_rate r = { 0 };
	uint64_t t0 = 1000;
	int i;

	/* Far more failures than the budget: the debt stops at one minute. */
	for (i = 0; i < 1000; i++)
		dialback_rate_charge(&r, t0, 3);
	CHECK(!dialback_rate_has_room(&r, t0, 3));
	CHECK(!dialback_rate_has_room(&r, t0 + 19999, 3));
	CHECK(dialback_rate_has_room(&r, t0 + 20000, 3));
	CHECK(dialback_rate_has_room(&r, t0 + 60000, 3));
}

TEST(dialback_budget_prefix_shared_by_a_slash_24)
{
	struct config_limits lim = limits(2, 100);
	struct ratelimit *b = fixture_rl_new(&lim);
	struct sockaddr_storage a1 = fixture_addr("192.0.2.1"), a2 = fixture_addr("192.0.2.200");
	struct sockaddr_storage mapped = fixture_addr("::ffff:192.0.2.7"), other = fixture_addr("198.51.100.1");
	const char *why = NULL;

	REQUIRE(b != NULL);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a1, 1000, &lim, &why), 0);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a2, 1000, &lim, &why), 0);
	/* The /24 spent its 2; IPv4-mapped is the same /24. */
	CHECK_INT_EQ(dialback_budget_start_check(b, &mapped, 1000, &lim, &why), -1);
	CHECK_STR_EQ(why, "limits.dialback_checks_per_minute_per_prefix");
	CHECK_INT_EQ(dialback_budget_start_check(b, &other, 1000, &lim, &why), 0);
	CHECK_INT_EQ(ratelimit_prefixes_busy(b, 1000), 2);
	fixture_rl_free(b);
}

TEST(dialback_budget_prefix_shared_by_a_slash_64)
{
	struct config_limits lim = limits(1, 100);
	struct ratelimit *b = fixture_rl_new(&lim);
	struct sockaddr_storage a1 = fixture_addr("2001:db8:1:2::1"), a2 = fixture_addr("2001:db8:1:2:ffff::9");
	struct sockaddr_storage other = fixture_addr("2001:db8:1:3::1");
	const char *why = NULL;

	REQUIRE(b != NULL);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a1, 1000, &lim, &why), 0);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a2, 1000, &lim, &why), -1);
	CHECK_INT_EQ(dialback_budget_start_check(b, &other, 1000, &lim, &why), 0);
	fixture_rl_free(b);
}

TEST(dialback_budget_failures_stop_checks)
{
	struct config_limits lim = limits(100, 2);
	struct ratelimit *b = fixture_rl_new(&lim);
	struct sockaddr_storage a = fixture_addr("203.0.113.9");
	const char *why = NULL;

	REQUIRE(b != NULL);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a, 1000, &lim, &why), 0);
	dialback_budget_note_failure(b, &a, 1000, &lim);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a, 1000, &lim, &why), 0);
	dialback_budget_note_failure(b, &a, 1000, &lim);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a, 1000, &lim, &why), -1);
	CHECK_STR_EQ(why, "limits.dialback_failures_per_minute_per_prefix");
	/* Decay: one failure's worth (30 s at 2 a minute) later, room again. */
	CHECK_INT_EQ(dialback_budget_start_check(b, &a, 31000, &lim, &why), 0);
	fixture_rl_free(b);
}

TEST(dialback_budget_table_is_bounded)
{
	struct config_limits lim = limits(1, 100);
	struct ratelimit *b = fixture_rl_new(&lim);
	struct sockaddr_storage a;
	const char *why = NULL;
	uint32_t i;

	REQUIRE(b != NULL);
	/* Twice as many /24s as slots, each spending its budget at once:
	 * every one is granted its check (a fresh slot or a taken-over one),
	 * and the table holds no more than its slots. */
	for (i = 0; i < 2 * RATELIMIT_PREFIX_SLOTS; i++) {
		memset(&a, 0, sizeof(a));
		a.ss_family = AF_INET;
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(0x0a000000u + (i << 8));
		CHECK_INT_EQ(dialback_budget_start_check(b, &a, 1000 + i, &lim, &why), 0);
	}
	CHECK(ratelimit_prefixes_busy(b, 1000 + i) <= RATELIMIT_PREFIX_SLOTS);
	CHECK(b->stats.prefix_evictions >= RATELIMIT_PREFIX_SLOTS);
	/* After a minute every slot is idle again. */
	CHECK_INT_EQ(ratelimit_prefixes_busy(b, 1000 + i + 60000 + 2 * RATELIMIT_PREFIX_SLOTS), 0);
	fixture_rl_free(b);
}
