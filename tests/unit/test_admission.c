/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_admission.c - the external listeners' admission (proxy/admission.c):
 * the handshake cap, the loop's busy share over a sample period, and the
 * window of handshakes at once that it moves.
 */
#include "test.h"

#include "admission.h"

#define MS 1000000ull

/* One sample period of 100 ms from t (ms) in which the loop was idle for
 * idle_ms; *idle is the loop's cumulative idle time (ns). */
static void
period(struct admission_load *l, uint64_t *t, uint64_t *idle, uint64_t idle_ms)
{
	*t += 100;
	*idle += idle_ms * MS;
	admission_load_sample(l, *t * MS, *idle);
}

TEST(admission_window_starts_at_the_floor)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 5 * MS, 0);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES - 1, 1000), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES, 1000), ADMISSION_WAIT_WINDOW);
}

TEST(admission_window_grows_only_when_full_and_the_loop_idles)
{
	struct admission_load l = { 0 };
	uint64_t t = 1, idle = 0;

	admission_load_sample(&l, t * MS, idle);
	/* Not full: an idle loop alone does not grow it (a storm must not
	 * meet a window grown during a quiet hour). */
	period(&l, &t, &idle, 90);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
	/* Full, loop half idle: grows by the floor. */
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &t, &idle, 50);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES * 2);
	CHECK_INT_EQ((int)l.busy_permille, 500);
	/* Full but saturated (95 % busy): does not grow, shrinks. */
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES * 2, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &t, &idle, 5);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES * 2 - ADMISSION_MIN_HANDSHAKES * 2 / 4);
	/* Saturated again and again: down to the floor, not below. */
	for (int i = 0; i < 20; i++)
		period(&l, &t, &idle, 0);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
}

TEST(admission_nothing_moves_within_a_period)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 1 * MS, 0);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES, 1000), ADMISSION_WAIT_WINDOW);
	admission_load_sample(&l, 51 * MS, 50 * MS);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
	admission_load_sample(&l, 101 * MS, 100 * MS);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES * 2);
}

TEST(admission_cap_holds_whatever_the_window)
{
	struct admission_load l = { .window = 5000 };

	CHECK_INT_EQ(admission_decide(&l, 999, 1000), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(&l, 1000, 1000), ADMISSION_WAIT_CAP);
	/* A cap below the floor is the cap. */
	l.window = 0;
	CHECK_INT_EQ(admission_decide(&l, 4, 5), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(&l, 5, 5), ADMISSION_WAIT_CAP);
}

TEST(admission_idle_beyond_wall_and_clock_going_back)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 10 * MS, 0);
	/* Idle time counted past the period (sampled across it): idle. */
	admission_load_sample(&l, 110 * MS, 150 * MS);
	CHECK_INT_EQ((int)l.busy_permille, 0);
	/* A clock that goes back starts a new period and moves nothing. */
	l.window = 100;
	admission_load_sample(&l, 50 * MS, 150 * MS);
	CHECK(admission_window(&l) == 100);
	CHECK(l.at_ns == 50 * MS);
}

TEST(admission_late_timers_shrink_the_window_idle_or_not)
{
	struct admission_load l = { .window = 400 };
	uint64_t t = 1, idle = 0;

	admission_load_sample(&l, t * MS, idle);
	/* The loop mostly idle, the window full, but one turn of 300 ms
	 * (a timer that late): shrinks instead of growing. */
	CHECK_INT_EQ(admission_decide(&l, 400, 1000), ADMISSION_WAIT_WINDOW);
	admission_note_timer(&l, (t + 10) * MS, (t + 310) * MS);
	period(&l, &t, &idle, 60);
	CHECK(admission_window(&l) == 300);
	CHECK(l.last_lag_ns == 300 * MS);
	/* Timers on time again (a few ms late is normal): grows. */
	CHECK_INT_EQ(admission_decide(&l, 300, 1000), ADMISSION_WAIT_WINDOW);
	admission_note_timer(&l, (t + 10) * MS, (t + 13) * MS);
	period(&l, &t, &idle, 60);
	CHECK(admission_window(&l) == 300 + ADMISSION_MIN_HANDSHAKES);
	/* A timer that ran early (never) does not count as lag. */
	admission_note_timer(&l, (t + 10) * MS, (t + 5) * MS);
	CHECK(l.lag_ns == 0);
}
