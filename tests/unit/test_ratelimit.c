/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ratelimit.c - proxy/ratelimit.c: the token bucket's arithmetic
 * (refill, burst, debt, a clock that goes backwards or wraps, the largest
 * values the schema allows), new streams per prefix, the pausing and
 * resuming of a stream over its limits, sustained abuse, and tables that
 * never grow.
 */
#include "test.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit_fixture.h"

/* Limits small enough to count by hand; the rest generous. */
static struct config_limits
hand_limits(void)
{
	struct config_limits lim;

	memset(&lim, 0, sizeof(lim));
	lim.new_streams_per_minute_per_prefix = 3;
	lim.domain_stanzas_per_s = 10;
	lim.domain_bytes_per_s = 1000000;
	lim.prefix_stanzas_per_s = 1000;
	lim.prefix_bytes_per_s = 1000000;
	lim.rate_burst_s = 2;
	lim.rate_abuse_s = 5;
	lim.dialback_checks_per_minute_per_prefix = 100;
	lim.dialback_failures_per_minute_per_prefix = 100;
	return lim;
}

static struct ratelimit *
rl_new(void)
{
	struct config_limits lim = hand_limits();

	return fixture_rl_new(&lim);
}

TEST(rate_bucket_burst_then_refill)
{
	struct rate_spec r = rate_spec_per_second(10, 2);
	struct rate_bucket b = { 0 };
	uint64_t t0 = 5000;
	int i;

	/* A full bucket holds 2 s of 10/s. */
	CHECK_INT_EQ(rate_bucket_available(&b, &r, t0), 20);
	for (i = 0; i < 20; i++)
		CHECK(rate_bucket_take(&b, &r, t0, 1));
	CHECK(!rate_bucket_take(&b, &r, t0, 1));
	CHECK_INT_EQ(rate_bucket_wait_ms(&b, &r, t0), 100);
	/* One unit every 100 ms. */
	CHECK(!rate_bucket_has_room(&b, &r, t0 + 99, 1));
	CHECK(rate_bucket_take(&b, &r, t0 + 100, 1));
	CHECK_INT_EQ(rate_bucket_available(&b, &r, t0 + 1100), 10);
	/* Never more than the burst, however long the quiet. */
	CHECK_INT_EQ(rate_bucket_available(&b, &r, t0 + 3600000), 20);
	CHECK(rate_bucket_full(&b, &r, t0 + 3600000));
	/* A cost larger than the burst is never granted by take. */
	CHECK(!rate_bucket_take(&b, &r, t0 + 3600000, 21));
}

TEST(rate_bucket_debt_is_paid_before_reading_again)
{
	struct rate_spec r = rate_spec_per_second(1000, 1);
	struct rate_bucket b = { 0 };

	/* 5000 bytes read at once with a 1000-byte burst: 4000 owed, then
	 * one byte of room takes 4001 ms. */
	rate_bucket_charge(&b, &r, 1000, 5000, 1);
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 1000), 0);
	CHECK_INT_EQ(rate_bucket_wait_ms(&b, &r, 1000), 4001);
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 5001), 1);
	/* Without may_owe the debt stops at an empty bucket. */
	memset(&b, 0, sizeof(b));
	rate_bucket_charge(&b, &r, 1000, 5000, 0);
	CHECK_INT_EQ(rate_bucket_wait_ms(&b, &r, 1000), 1);
}

TEST(rate_bucket_clock_backwards_refills_nothing)
{
	struct rate_spec r = rate_spec_per_second(10, 1);
	struct rate_bucket b = { 0 };
	int i;

	for (i = 0; i < 10; i++)
		CHECK(rate_bucket_take(&b, &r, 100000, 1));
	/* The clock jumps back 50 s: no refill, and no debt either. */
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 50000), 0);
	CHECK_INT_EQ(rate_bucket_wait_ms(&b, &r, 50000), 100);
	/* Time counts from the new reading on. */
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 50500), 5);
}

TEST(rate_bucket_clock_wrap)
{
	struct rate_spec r = rate_spec_per_second(10, 1);
	struct rate_bucket b = { 0 };
	uint64_t late = UINT64_MAX - 10;

	CHECK(rate_bucket_take(&b, &r, late, 10));
	CHECK(!rate_bucket_has_room(&b, &r, late, 1));
	/* uv_now() wrapping to 0 (it never does: 64-bit milliseconds, but the
	 * arithmetic must not care) reads as a clock gone backwards. */
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 5), 0);
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 105), 1);
	CHECK_INT_EQ(rate_bucket_available(&b, &r, 1105), 10);
}

TEST(rate_bucket_huge_values_do_not_overflow)
{
	/* The schema's largest rate and burst. */
	struct rate_spec r = rate_spec_per_second(2147483647L, 3600);
	struct rate_spec m = rate_spec_per_minute(1000000);
	struct rate_bucket b = { 0 };

	CHECK_INT_EQ(rate_bucket_available(&b, &r, 1), (uint64_t)2147483647 * 3600);
	/* A cost past 2^32 counts as 2^32: the debt stays representable. */
	rate_bucket_charge(&b, &r, 1, UINT64_MAX, 1);
	rate_bucket_charge(&b, &r, 1, UINT64_MAX, 1);
	CHECK(rate_bucket_available(&b, &r, 1) > 0);
	CHECK(rate_bucket_wait_ms(&b, &r, 1) == 0);
	/* Pile debt far beyond the capacity: capped, and repaid in bounded time. */
	{
		struct rate_spec slow = rate_spec_per_second(1, 1);
		struct rate_bucket d = { 0 };
		int i;

		for (i = 0; i < 1000; i++)
			rate_bucket_charge(&d, &slow, 10, UINT64_MAX, 1);
		CHECK(rate_bucket_wait_ms(&d, &slow, 10) <= (1ull << 62) / 1000 + 1);
		/* A very long quiet pays everything, without overflowing. */
		CHECK(rate_bucket_full(&d, &slow, UINT64_MAX / 2));
	}
	memset(&b, 0, sizeof(b));
	CHECK(rate_bucket_take(&b, &m, 0, 1000000));
	CHECK(!rate_bucket_take(&b, &m, 0, 1));
	CHECK(rate_bucket_full(&b, &m, UINT64_MAX));
}

TEST(ratelimit_new_streams_per_prefix)
{
	struct ratelimit *rl = rl_new();
	struct sockaddr_storage a1 = fixture_addr("192.0.2.1"), a2 = fixture_addr("192.0.2.77");
	struct sockaddr_storage other = fixture_addr("198.51.100.1"), v6 = fixture_addr("2001:db8:5:6::1");
	struct sockaddr_storage v6same = fixture_addr("2001:db8:5:6:ffff::2");
	const char *why = NULL;

	REQUIRE(rl != NULL);
	/* 3 a minute per /24: the 4th within the minute is refused. */
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&a1, 1000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&a2, 1000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&a1, 1000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&a2, 1000, &why), -1);
	CHECK_STR_EQ(why, "limits.new_streams_per_minute_per_prefix reached");
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&other, 1000, &why), 0);
	/* One more every 20 s. */
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&a2, 21000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&a2, 21000, &why), -1);
	/* An IPv6 /64 is one prefix. */
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&v6, 1000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&v6same, 1000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&v6, 1000, &why), 0);
	CHECK_INT_EQ(ratelimit_admit_stream(rl, (struct sockaddr *)&v6same, 1000, &why), -1);
	CHECK_INT_EQ(rl->stats.streams_refused, 3);
	fixture_rl_free(rl);
}

static int resumed;

static void
on_resume(struct ratelimit_stream *rs)
{
	(void)rs;
	resumed++;
}

TEST(ratelimit_stream_pauses_and_resumes)
{
	struct ratelimit *rl = rl_new();
	struct sockaddr_storage a = fixture_addr("192.0.2.1"), b = fixture_addr("203.0.113.1");
	struct ratelimit_stream s1, s2;
	const struct ratelimit_domain *top[4 * RATELIMIT_TOP_N];
	int i;

	REQUIRE(rl != NULL);
	resumed = 0;
	rl->now_ms = 1000;
	ratelimit_stream_init(&s1, rl, (struct sockaddr *)&a, "192.0.2.1:1", on_resume);
	ratelimit_stream_init(&s2, rl, (struct sockaddr *)&b, "203.0.113.1:1", on_resume);
	/* Not limited before its first stanza: the whole buffer. */
	CHECK_INT_EQ(ratelimit_stream_allowance(&s1, 65536), 65536);
	/* 10/s with a 2 s burst: 19 stanzas leave room, the 20th empties
	 * the bucket and pauses the stream. */
	for (i = 0; i < 19; i++)
		ratelimit_stream_charge(&s1, "flood.example", 100);
	CHECK_INT_EQ(ratelimit_stream_check(&s1), RATELIMIT_OK);
	/* One stanza of room: the next read is sized down (to the least). */
	CHECK_INT_EQ(ratelimit_stream_allowance(&s1, 65536), 512);
	ratelimit_stream_charge(&s1, "flood.example", 100);
	CHECK_INT_EQ(ratelimit_stream_check(&s1), RATELIMIT_PAUSED);
	CHECK(ratelimit_stream_paused(&s1));
	CHECK_STR_EQ(s1.limit, "limits.domain_stanzas_per_s");
	/* Another domain from elsewhere is not held by it. */
	ratelimit_stream_charge(&s2, "calm.example", 100);
	CHECK_INT_EQ(ratelimit_stream_check(&s2), RATELIMIT_OK);
	/* One stanza's worth comes back in 100 ms: resumed then. */
	ratelimit_run_due(rl, 1099);
	CHECK_INT_EQ(resumed, 0);
	ratelimit_run_due(rl, 1200);
	CHECK_INT_EQ(resumed, 1);
	CHECK(!ratelimit_stream_paused(&s1));
	rl->now_ms = 1200;
	CHECK_INT_EQ(ratelimit_stream_check(&s1), RATELIMIT_OK);
	CHECK_INT_EQ(rl->stats.pauses, 1);
	CHECK_INT_EQ(rl->stats.paused_ms, 200);
	/* status: both domains, most stanzas first, with their counters. */
	REQUIRE(ratelimit_top_domains(rl, top, 4 * RATELIMIT_TOP_N) == 2);
	CHECK_STR_EQ(top[0]->name, "flood.example");
	CHECK_INT_EQ(top[0]->stanzas_in, 20);
	CHECK_INT_EQ(top[0]->bytes_in, 2000);
	CHECK_INT_EQ(top[0]->pauses, 1);
	CHECK_INT_EQ(top[0]->paused_ms, 200);
	CHECK_STR_EQ(top[1]->name, "calm.example");
	/* A released stream is never resumed. */
	ratelimit_stream_charge(&s1, "flood.example", 100);
	ratelimit_stream_charge(&s1, "flood.example", 100);
	CHECK_INT_EQ(ratelimit_stream_check(&s1), RATELIMIT_PAUSED);
	ratelimit_stream_release(&s1);
	ratelimit_stream_release(&s1);	/* idempotent */
	ratelimit_run_due(rl, 100000);
	CHECK_INT_EQ(resumed, 1);
	CHECK(rl->paused == NULL);
	ratelimit_stream_release(&s2);
	fixture_rl_free(rl);
}

TEST(ratelimit_sustained_abuse_ends_the_stream)
{
	struct ratelimit *rl = rl_new();
	struct sockaddr_storage a = fixture_addr("192.0.2.1");
	struct ratelimit_stream s;
	const struct ratelimit_domain *top[4 * RATELIMIT_TOP_N];
	enum ratelimit_verdict v = RATELIMIT_OK;
	uint64_t t;
	int i;

	REQUIRE(rl != NULL);
	rl->now_ms = 0;
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "192.0.2.1:1", on_resume);
	/* A peer that sends twice its rate whenever it may read: paused
	 * again and again, never back to half its burst.  Over the limits
	 * for limits.rate_abuse_s (5 s): abuse. */
	for (t = 0; t <= 10000 && v != RATELIMIT_ABUSE; t += 100) {
		rl->now_ms = t;
		ratelimit_run_due(rl, t);
		if (ratelimit_stream_paused(&s))
			continue;
		for (i = 0; i < 2 && v != RATELIMIT_ABUSE; i++)
			ratelimit_stream_charge(&s, "spam.example", 50);
		for (i = 0; i < 30 && t == 0; i++)
			ratelimit_stream_charge(&s, "spam.example", 50);
		v = ratelimit_stream_check(&s);
	}
	CHECK_INT_EQ(v, RATELIMIT_ABUSE);
	CHECK(t >= 5000 && t <= 6000);
	CHECK_INT_EQ(rl->stats.violations, 1);
	REQUIRE(ratelimit_top_domains(rl, top, 4 * RATELIMIT_TOP_N) == 1);
	CHECK_INT_EQ(top[0]->refusals, 1);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

TEST(ratelimit_burst_then_quiet_is_not_abuse)
{
	struct ratelimit *rl = rl_new();
	struct sockaddr_storage a = fixture_addr("192.0.2.1");
	struct ratelimit_stream s;
	int i, round;

	REQUIRE(rl != NULL);
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "192.0.2.1:1", on_resume);
	/* Every 4 s, a burst of 25 (over the 20 of the burst: a pause), then
	 * quiet: over the limit again and again, never for 5 s in a row. */
	for (round = 0; round < 10; round++) {
		uint64_t t0 = (uint64_t)round * 4000;

		rl->now_ms = t0;
		ratelimit_run_due(rl, t0);
		for (i = 0; i < 25; i++)
			ratelimit_stream_charge(&s, "busy.example", 50);
		CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_PAUSED);
		rl->now_ms = t0 + 2000;
		ratelimit_run_due(rl, t0 + 2000);
		CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_OK);
	}
	CHECK_INT_EQ(rl->stats.violations, 0);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

TEST(ratelimit_domain_table_is_bounded)
{
	struct ratelimit *rl = rl_new();
	struct sockaddr_storage a = fixture_addr("192.0.2.1");
	struct ratelimit_stream s;
	const struct ratelimit_domain *top[4 * RATELIMIT_TOP_N];
	char name[64];
	size_t i, used = 0, n;

	REQUIRE(rl != NULL);
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "192.0.2.1:1", on_resume);
	/* Four times as many domains as slots (piggybacked on one stream). */
	for (i = 0; i < 4 * RATELIMIT_DOMAIN_SLOTS; i++) {
		rl->now_ms = i;
		snprintf(name, sizeof(name), "d%zu.example", i);
		ratelimit_stream_charge(&s, name, i % 7 == 0 ? 1000 : 10);
	}
	for (i = 0; i < RATELIMIT_DOMAIN_SLOTS; i++)
		used += rl->domains[i].h.used;
	CHECK_INT_EQ(used, RATELIMIT_DOMAIN_SLOTS);
	CHECK(rl->stats.domain_evictions >= 3 * RATELIMIT_DOMAIN_SLOTS);
	/* The ranking is bounded whatever the table holds. */
	n = ratelimit_top_domains(rl, top, 4 * RATELIMIT_TOP_N);
	CHECK(n >= RATELIMIT_TOP_N && n <= 4 * RATELIMIT_TOP_N);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

TEST(ratelimit_back_after_quiet_is_not_abuse)
{
	struct ratelimit *rl = rl_new();
	struct sockaddr_storage a = fixture_addr("192.0.2.1");
	struct ratelimit_stream s;
	int i;

	REQUIRE(rl != NULL);
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "192.0.2.1:1", on_resume);
	/* Paused once at t = 0, then silent for a minute (no read, no
	 * check): its first read after that pauses it again at once, and
	 * that is a new episode, not 60 s over the limits. */
	for (i = 0; i < 30; i++)
		ratelimit_stream_charge(&s, "burst.example", 50);
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_PAUSED);
	ratelimit_run_due(rl, 2000);
	rl->now_ms = 60000;
	for (i = 0; i < 30; i++)
		ratelimit_stream_charge(&s, "burst.example", 50);
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_PAUSED);
	CHECK_INT_EQ(rl->stats.violations, 0);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

TEST(ratelimit_held_by_its_prefix_only_is_slowed_not_ended)
{
	struct config_limits lim = hand_limits();
	struct ratelimit *rl;
	struct sockaddr_storage a = fixture_addr("192.0.2.1");
	struct ratelimit_stream s;
	enum ratelimit_verdict v;
	uint64_t t, pauses = 0;
	int i;

	/* The /24 may send 10 stanzas a second, the domain 1000: a domain
	 * held back only by its neighbours' share is never "abusive". */
	lim.domain_stanzas_per_s = 1000;
	lim.prefix_stanzas_per_s = 10;
	rl = fixture_rl_new(&lim);
	REQUIRE(rl != NULL);
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "192.0.2.1:1", on_resume);
	for (t = 0; t <= 20000; t += 100) {
		rl->now_ms = t;
		ratelimit_run_due(rl, t);
		if (ratelimit_stream_paused(&s))
			continue;
		for (i = 0; i < 5; i++)
			ratelimit_stream_charge(&s, "neighbour.example", 50);
		v = ratelimit_stream_check(&s);
		CHECK(v != RATELIMIT_ABUSE);
		if (v == RATELIMIT_PAUSED) {
			pauses++;
			CHECK_STR_EQ(s.limit, "limits.prefix_stanzas_per_s");
		}
	}
	CHECK(pauses > 10);
	CHECK_INT_EQ(rl->stats.violations, 0);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

TEST(ratelimit_allowance_with_huge_limits)
{
	struct config_limits lim = hand_limits();
	struct ratelimit *rl;
	struct sockaddr_storage a = fixture_addr("2001:db8::1");
	struct ratelimit_stream s;
	int i;

	/* Near the schema's largest values: 2^30 + 1 stanzas a second with a
	 * 2048 s burst, 2048 stanzas of 8 MiB charged.  2^41 stanzas are left,
	 * 2^64 bytes at the stream's average size: a product that wraps to 0
	 * unless it saturates, and the read would shrink to the least. */
	lim.new_streams_per_minute_per_prefix = 1000000;
	lim.domain_stanzas_per_s = (1 << 30) + 1;
	lim.domain_bytes_per_s = 2147483647;
	lim.prefix_stanzas_per_s = 2147483647;
	lim.prefix_bytes_per_s = 2147483647;
	lim.rate_burst_s = 2048;
	lim.rate_abuse_s = 86400;
	rl = fixture_rl_new(&lim);
	REQUIRE(rl != NULL);
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "[2001:db8::1]:1", on_resume);
	for (i = 0; i < 2048; i++)
		ratelimit_stream_charge(&s, "big.example", 8u << 20);
	CHECK_INT_EQ(ratelimit_stream_allowance(&s, 65536), 65536);
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_OK);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

TEST(ratelimit_bytes_limit_pauses_for_the_debt)
{
	struct config_limits lim = hand_limits();
	struct ratelimit *rl;
	struct sockaddr_storage a = fixture_addr("198.51.100.7");
	struct ratelimit_stream s;

	/* 1000 bytes a second, a 2 s burst: one stanza of 5000 bytes read
	 * at once owes 3000 bytes and one more byte of room: 3001 ms, on
	 * the 10 ms tick. */
	lim.domain_stanzas_per_s = 1000;
	lim.domain_bytes_per_s = 1000;
	rl = fixture_rl_new(&lim);
	REQUIRE(rl != NULL);
	resumed = 0;
	rl->now_ms = 1000;
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "198.51.100.7:1", on_resume);
	ratelimit_stream_charge(&s, "bulk.example", 1500);
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_OK);
	/* 500 bytes of room left, but a read never shrinks below 512. */
	CHECK_INT_EQ(ratelimit_stream_allowance(&s, 65536), 512);
	ratelimit_stream_charge(&s, "bulk.example", 3500);
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_PAUSED);
	CHECK_STR_EQ(s.limit, "limits.domain_bytes_per_s");
	CHECK_INT_EQ(s.resume_at_ms, 1000 + 3010);
	ratelimit_run_due(rl, 4000);
	CHECK_INT_EQ(resumed, 0);
	ratelimit_run_due(rl, 4010);
	CHECK_INT_EQ(resumed, 1);
	rl->now_ms = 4010;
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_OK);
	ratelimit_stream_release(&s);
	fixture_rl_free(rl);
}

static struct config *loop_cfg;

TEST(ratelimit_timer_never_holds_the_loop)
{
	struct sockaddr_storage a = fixture_addr("192.0.2.9");
	struct ratelimit_stream s;
	struct ratelimit *rl;
	uv_loop_t loop;
	uint64_t t0;
	int i;

	/* A stream paused for a minute, then closed (the daemon shutting
	 * down): the loop must end at once, not when that resume was due. */
	loop_cfg = calloc(1, sizeof(*loop_cfg));
	REQUIRE(loop_cfg != NULL);
	loop_cfg->limits = hand_limits();
	loop_cfg->limits.domain_stanzas_per_s = 1;
	loop_cfg->limits.rate_burst_s = 1;
	REQUIRE(uv_loop_init(&loop) == 0);
	rl = ratelimit_new(&loop, &loop_cfg);
	REQUIRE(rl != NULL);
	ratelimit_stream_init(&s, rl, (struct sockaddr *)&a, "192.0.2.9:1", on_resume);
	for (i = 0; i < 60; i++)
		ratelimit_stream_charge(&s, "slow.example", 10);
	CHECK_INT_EQ(ratelimit_stream_check(&s), RATELIMIT_PAUSED);
	CHECK(s.resume_at_ms >= uv_now(&loop) + 59000);
	ratelimit_stream_release(&s);
	t0 = uv_now(&loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_update_time(&loop);
	CHECK(uv_now(&loop) - t0 < 1000);
	ratelimit_free(rl);
	uv_run(&loop, UV_RUN_DEFAULT);	/* the timer's close callback frees rl */
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
	free(loop_cfg);
}
