/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dialback_budget.c - the dialback check budgets (proxy/dialback_budget.c):
 * the GCRA rate (a burst of N, then one every 60/N s), failures charged
 * with a capped debt, prefixes (IPv4 /24, IPv4-mapped IPv6 as IPv4, IPv6
 * /64), and a table that never grows: idle slots are reused, a full table
 * recycles the slot closest to idle.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dialback_budget.h"

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
	}
	return ss;
}

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
	struct dialback_budget *b = calloc(1, sizeof(*b));
	struct config_limits lim = limits(2, 100);
	struct sockaddr_storage a1 = addr("192.0.2.1"), a2 = addr("192.0.2.200");
	struct sockaddr_storage mapped = addr("::ffff:192.0.2.7"), other = addr("198.51.100.1");
	const char *why = NULL;

	REQUIRE(b != NULL);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a1, 1000, &lim, &why), 0);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a2, 1000, &lim, &why), 0);
	/* The /24 spent its 2; IPv4-mapped is the same /24. */
	CHECK_INT_EQ(dialback_budget_start_check(b, &mapped, 1000, &lim, &why), -1);
	CHECK_STR_EQ(why, "limits.dialback_checks_per_minute_per_prefix");
	CHECK_INT_EQ(dialback_budget_start_check(b, &other, 1000, &lim, &why), 0);
	CHECK_INT_EQ(dialback_budget_busy(b, 1000), 2);
	free(b);
}

TEST(dialback_budget_prefix_shared_by_a_slash_64)
{
	struct dialback_budget *b = calloc(1, sizeof(*b));
	struct config_limits lim = limits(1, 100);
	struct sockaddr_storage a1 = addr("2001:db8:1:2::1"), a2 = addr("2001:db8:1:2:ffff::9");
	struct sockaddr_storage other = addr("2001:db8:1:3::1");
	const char *why = NULL;

	REQUIRE(b != NULL);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a1, 1000, &lim, &why), 0);
	CHECK_INT_EQ(dialback_budget_start_check(b, &a2, 1000, &lim, &why), -1);
	CHECK_INT_EQ(dialback_budget_start_check(b, &other, 1000, &lim, &why), 0);
	free(b);
}

TEST(dialback_budget_failures_stop_checks)
{
	struct dialback_budget *b = calloc(1, sizeof(*b));
	struct config_limits lim = limits(100, 2);
	struct sockaddr_storage a = addr("203.0.113.9");
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
	free(b);
}

TEST(dialback_budget_table_is_bounded)
{
	struct dialback_budget *b = calloc(1, sizeof(*b));
	struct config_limits lim = limits(1, 100);
	struct sockaddr_storage a, first = addr("10.0.0.1");
	const char *why = NULL;
	uint32_t i;

	REQUIRE(b != NULL);
	CHECK_INT_EQ(dialback_budget_start_check(b, &first, 1000, &lim, &why), 0);
	/* Twice as many /24s as slots, each spending its budget at once. */
	for (i = 1; i < 2 * DIALBACK_BUDGET_PREFIXES; i++) {
		memset(&a, 0, sizeof(a));
		a.ss_family = AF_INET;
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(0x0a000000u + (i << 8));
		CHECK_INT_EQ(dialback_budget_start_check(b, &a, 1000 + i, &lim, &why), 0);
	}
	CHECK_INT_EQ(dialback_budget_busy(b, 1000 + i), DIALBACK_BUDGET_PREFIXES);
	CHECK_INT_EQ(b->recycled, DIALBACK_BUDGET_PREFIXES);
	/* The first prefix, the closest to idle, was recycled: it starts afresh. */
	CHECK_INT_EQ(dialback_budget_start_check(b, &first, 1000 + i, &lim, &why), 0);
	/* After a minute every slot is idle, and is reused without recycling. */
	CHECK_INT_EQ(dialback_budget_busy(b, 1000 + i + 60000 + 2 * DIALBACK_BUDGET_PREFIXES), 0);
	free(b);
}
