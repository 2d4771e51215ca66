/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_admission.c - the external listeners' admission (proxy/admission.c):
 * the handshake cap, the loop's busy share over a sample period, and
 * waiting while it is saturated above the floor of handshakes.
 */
#include "test.h"

#include "admission.h"

#define MS 1000000ull

TEST(admission_first_sample_only_starts_a_period)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 5 * MS, 0);
	CHECK_INT_EQ(l.saturated, 0);
	CHECK(l.at_ns == 5 * MS);
	CHECK_INT_EQ(admission_decide(500, 1000, &l), ADMISSION_ACCEPT);
}

TEST(admission_busy_loop_is_saturated_after_a_period)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 1 * MS, 0);
	/* 50 ms later nothing is decided yet, whatever the loop did. */
	admission_load_sample(&l, 51 * MS, 0);
	CHECK_INT_EQ(l.saturated, 0);
	/* 100 ms with 5 ms idle: 950 per mille busy. */
	admission_load_sample(&l, 101 * MS, 5 * MS);
	CHECK_INT_EQ(l.saturated, 1);
	CHECK_INT_EQ((int)l.busy_permille, 950);
	/* The next period mostly idle: no longer saturated. */
	admission_load_sample(&l, 201 * MS, 85 * MS);
	CHECK_INT_EQ(l.saturated, 0);
	CHECK_INT_EQ((int)l.busy_permille, 200);
}

TEST(admission_saturated_loop_waits_above_the_floor_only)
{
	struct admission_load l = { .saturated = 1 };

	CHECK_INT_EQ(admission_decide(0, 1000, &l), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(ADMISSION_MIN_HANDSHAKES - 1, 1000, &l), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(ADMISSION_MIN_HANDSHAKES, 1000, &l), ADMISSION_WAIT_BUSY);
	l.saturated = 0;
	CHECK_INT_EQ(admission_decide(ADMISSION_MIN_HANDSHAKES, 1000, &l), ADMISSION_ACCEPT);
}

TEST(admission_cap_holds_busy_or_idle)
{
	struct admission_load idle = { 0 }, busy = { .saturated = 1 };

	CHECK_INT_EQ(admission_decide(999, 1000, &idle), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(1000, 1000, &idle), ADMISSION_WAIT_CAP);
	CHECK_INT_EQ(admission_decide(1000, 1000, &busy), ADMISSION_WAIT_CAP);
	/* A cap below the floor is the cap. */
	CHECK_INT_EQ(admission_decide(5, 5, &idle), ADMISSION_WAIT_CAP);
	CHECK_INT_EQ(admission_decide(4, 5, &busy), ADMISSION_ACCEPT);
}

TEST(admission_idle_beyond_wall_and_clock_going_back)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 10 * MS, 0);
	/* Idle time counted past the period (sampled across it): idle. */
	admission_load_sample(&l, 110 * MS, 150 * MS);
	CHECK_INT_EQ(l.saturated, 0);
	CHECK_INT_EQ((int)l.busy_permille, 0);
	/* A clock that goes back starts a new period, decides nothing. */
	l.saturated = 1;
	admission_load_sample(&l, 50 * MS, 150 * MS);
	CHECK_INT_EQ(l.saturated, 1);
	CHECK(l.at_ns == 50 * MS);
}
