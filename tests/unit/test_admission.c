/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_admission.c - the external listeners' admission (proxy/admission.c):
 * the handshake cap, the loop's busy share over a sample period (its
 * thread's CPU time against the time it waited in the poll), and the
 * window of handshakes at once that it moves: grown by the handshakes
 * that finished while the loop has room, cut by a quarter when it
 * saturates, never past the cap.
 */
#include "test.h"

#include "admission.h"

#define MS 1000000ull

/* The loop's cumulative clocks: t_ms the monotonic clock (ms), idle its
 * time in the poll and cpu its thread's CPU time (ns). */
struct clocks {
	uint64_t t_ms, idle, cpu;
};

static void
start(struct admission_load *l, struct clocks *c, uint64_t t_ms)
{
	c->t_ms = t_ms;
	admission_load_sample(l, c->t_ms * MS, c->idle, c->cpu);
}

/* One sample period of 100 ms in which the loop waited in the poll for
 * idle_ms and ran callbacks on the CPU for cpu_ms; the rest (100 - idle_ms
 * - cpu_ms) it was runnable but not scheduled (a loaded host). */
static void
period_on(struct admission_load *l, struct clocks *c, uint64_t idle_ms, uint64_t cpu_ms)
{
	c->t_ms += 100;
	c->idle += idle_ms * MS;
	c->cpu += cpu_ms * MS;
	admission_load_sample(l, c->t_ms * MS, c->idle, c->cpu);
}

/* The same on a host that schedules the loop whenever it can run: all
 * the time outside the poll is the loop's CPU time. */
static void
period(struct admission_load *l, struct clocks *c, uint64_t idle_ms)
{
	period_on(l, c, idle_ms, 100 - idle_ms);
}

TEST(admission_window_starts_at_the_floor)
{
	struct admission_load l = { 0 };
	struct clocks c = { 0 };

	start(&l, &c, 5);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES - 1, 1000), ADMISSION_ACCEPT);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES, 1000), ADMISSION_WAIT_WINDOW);
}

TEST(admission_window_grows_only_when_full_and_the_loop_idles)
{
	struct admission_load l = { 0 };
	struct clocks c = { 0 };

	start(&l, &c, 1);
	/* Not full: an idle loop alone does not grow it (a storm must not
	 * meet a window grown during a quiet hour). */
	period(&l, &c, 90);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
	/* Full, loop half idle: grows (by the floor at least). */
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &c, 50);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES * 2);
	CHECK_INT_EQ((int)l.busy_permille, 500);
	/* Full but saturated (95 % busy): does not grow, shrinks. */
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES * 2, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &c, 5);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES * 2 - ADMISSION_MIN_HANDSHAKES * 2 / 4);
	/* Saturated again and again: down to the floor, not below. */
	for (int i = 0; i < 20; i++)
		period(&l, &c, 0);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
}

TEST(admission_nothing_moves_within_a_period)
{
	struct admission_load l = { 0 };

	admission_load_sample(&l, 1 * MS, 0, 0);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES, 1000), ADMISSION_WAIT_WINDOW);
	admission_load_sample(&l, 51 * MS, 50 * MS, 0);
	CHECK(admission_window(&l) == ADMISSION_MIN_HANDSHAKES);
	admission_load_sample(&l, 101 * MS, 100 * MS, 0);
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

	admission_load_sample(&l, 10 * MS, 0, 0);
	/* Idle time counted past the period (sampled across it): idle. */
	admission_load_sample(&l, 110 * MS, 150 * MS, 0);
	CHECK_INT_EQ((int)l.busy_permille, 0);
	/* A clock that goes back starts a new period and moves nothing. */
	l.window = 100;
	admission_load_sample(&l, 50 * MS, 150 * MS, 0);
	CHECK(admission_window(&l) == 100);
	CHECK(l.at_ns == 50 * MS);
	/* So does a CPU clock that goes back. */
	admission_load_sample(&l, 60 * MS, 150 * MS, 5 * MS);
	admission_load_sample(&l, 200 * MS, 160 * MS, 1 * MS);
	CHECK(admission_window(&l) == 100);
	CHECK(l.at_ns == 200 * MS);
	/* CPU time counted past the time outside the poll (the poll's own
	 * system time): at most all of it. */
	admission_load_sample(&l, 300 * MS, 200 * MS, 500 * MS);
	CHECK_INT_EQ((int)l.busy_permille, 600);
}

/* Past the first tenth of the loop, finished handshakes clock the growth
 * while the loop has room: each one adds a slot, so a loop 20 % busy whose
 * handshakes all finish doubles the window each period (main added 16). */
TEST(admission_window_grows_by_the_handshakes_finished)
{
	struct admission_load l = { 0 };
	struct clocks c = { 0 };
	size_t w = ADMISSION_MIN_HANDSHAKES;

	start(&l, &c, 1);
	for (int i = 0; i < 4; i++) {
		CHECK_INT_EQ(admission_decide(&l, w, 5000), ADMISSION_WAIT_WINDOW);
		for (size_t k = 0; k < w; k++)
			admission_note_done(&l);
		period(&l, &c, 80);
		CHECK_INT_EQ((int)l.busy_permille, 200);
		w *= 2;
		CHECK_INT_EQ((int)admission_window(&l), (int)w);
	}
	/* More finished than the window (those admitted before it shrank):
	 * doubled at most. */
	CHECK_INT_EQ(admission_decide(&l, w, 5000), ADMISSION_WAIT_WINDOW);
	for (size_t k = 0; k < 3 * w; k++)
		admission_note_done(&l);
	period(&l, &c, 80);
	CHECK_INT_EQ((int)admission_window(&l), (int)(2 * w));
	/* Half of them finished: grows by half. */
	w *= 2;
	CHECK_INT_EQ(admission_decide(&l, w, 5000), ADMISSION_WAIT_WINDOW);
	for (size_t k = 0; k < w / 2; k++)
		admission_note_done(&l);
	period(&l, &c, 90);
	CHECK_INT_EQ((int)admission_window(&l), (int)(w + w / 2));
	/* Near the target (85 % busy) finished handshakes count no more:
	 * the floor. */
	w += w / 2;
	CHECK_INT_EQ(admission_decide(&l, w, 5000), ADMISSION_WAIT_WINDOW);
	for (size_t k = 0; k < w; k++)
		admission_note_done(&l);
	period(&l, &c, 15);
	CHECK_INT_EQ((int)admission_window(&l), (int)(w + ADMISSION_MIN_HANDSHAKES));
}

/* A nearly idle loop (below a tenth busy) doubles the window each period
 * whether or not handshakes finished: 16, 32, 64, 128, 256 in 0.4 s (main
 * grew it by 16 a period: 16 to 320 took 1.9 s of a 27.9 s storm with the
 * loop 99 % idle, tests/bench/RESULTS.md).  Above a tenth, the admitted
 * streams' work has begun to show and more of it is on its way (a dialback
 * stream's check, our outgoing stream's handshake): without finished
 * handshakes the window grows by the floor only.  This is the busy share
 * a 5 000-partner storm showed period by period when the window doubled
 * on idleness alone up to 80 % busy: 1, 10, 12, 18, 120, 153 per mille,
 * and the window reached the cap of 1000 in 0.7 s, the loop then
 * saturated for 6 s and 45 dialback checks lost their DNS answers. */
TEST(admission_idle_growth_stops_where_the_work_shows)
{
	static const uint64_t busy_ms[] = { 0, 1, 1, 2, 12, 15, 20 };
	static const size_t want[] = { 32, 64, 128, 256, 272, 288, 304 };
	struct admission_load l = { 0 };
	struct clocks c = { 0 };

	start(&l, &c, 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_INT_EQ(admission_decide(&l, admission_window(&l), 1000), ADMISSION_WAIT_WINDOW);
		period(&l, &c, 100 - busy_ms[i]);
		CHECK_INT_EQ((int)admission_window(&l), (int)want[i]);
	}
}

/* A loaded host: the loop was runnable but not scheduled for most of the
 * period.  Its own busy share is its CPU time against that plus its time
 * in the poll; the time it waited for a CPU is neither.  main counted wall
 * time outside the poll (and turns longer than 100 ms) as saturation and
 * shrank the window of a loop that had nothing to do. */
TEST(admission_loaded_host_is_not_a_busy_loop)
{
	struct admission_load l = { .window = 320 };
	struct clocks c = { 0 };

	start(&l, &c, 1);
	/* 10 ms in the poll, 5 ms of callbacks, 85 ms waiting for a CPU:
	 * 333 per mille busy, the window doubles. */
	CHECK_INT_EQ(admission_decide(&l, 320, 5000), ADMISSION_WAIT_WINDOW);
	for (int k = 0; k < 320; k++)
		admission_note_done(&l);
	period_on(&l, &c, 10, 5);
	CHECK_INT_EQ((int)l.busy_permille, 333);
	CHECK_INT_EQ((int)admission_window(&l), 640);
	/* One turn of 300 ms, nearly all of it waiting for a CPU (a timer
	 * that late): not saturation either. */
	CHECK_INT_EQ(admission_decide(&l, 640, 5000), ADMISSION_WAIT_WINDOW);
	for (int k = 0; k < 100; k++)
		admission_note_done(&l);
	c.t_ms += 200;
	period_on(&l, &c, 50, 10);
	CHECK(admission_window(&l) > 640);
	/* The loop never waits in the poll: saturated however little CPU
	 * the host gives it, the window shrinks by a quarter. */
	CHECK_INT_EQ(admission_decide(&l, admission_window(&l), 5000), ADMISSION_WAIT_WINDOW);
	size_t before = admission_window(&l);
	period_on(&l, &c, 0, 20);
	CHECK_INT_EQ((int)l.busy_permille, 1000);
	CHECK_INT_EQ((int)admission_window(&l), (int)(before - before / 4));
	/* A period in which the loop neither ran nor waited (stopped, or
	 * never scheduled) says nothing: the window stays. */
	before = admission_window(&l);
	period_on(&l, &c, 0, 0);
	CHECK_INT_EQ((int)admission_window(&l), (int)before);
}

/* An attacker's flood of connections that never finish their handshake
 * fills every slot admission gives it.  Idle (no CPU), it grows the window
 * by the floor a period (its handshakes never finish) to the cap and no
 * further (main's additive step overshot the cap by up to 15); CPU-heavy, the window settles where the loop keeps time for the
 * established streams, and at the floor when the flood alone would take
 * the whole loop. */
TEST(admission_flood_of_unfinished_handshakes_is_bounded)
{
	const size_t cap = 1000;	/* limits.max_unauthenticated_streams */
	struct admission_load l = { 0 };
	struct clocks c = { 0 };
	size_t handshakes = 0, w;
	int i;

	start(&l, &c, 1);
	/* Idle flood: established streams take 20 ms of each 100 ms. */
	for (i = 0; i < 100; i++) {
		handshakes = admission_window(&l) < cap ? admission_window(&l) : cap;
		CHECK(admission_decide(&l, handshakes, cap) != ADMISSION_ACCEPT);
		period(&l, &c, 80);
		CHECK(admission_window(&l) <= cap);
	}
	CHECK_INT_EQ((int)admission_window(&l), (int)cap);
	CHECK_INT_EQ(admission_decide(&l, cap, cap), ADMISSION_WAIT_CAP);

	/* Each unfinished handshake now costs the loop 0.5 ms a period, the
	 * established streams 20 ms: 160 of them fill the loop.  After a few
	 * periods of cutting, the loop is never saturated again (a saturated
	 * loop is what delays the established streams' stanzas). */
	for (i = 0; i < 200; i++) {
		uint64_t work_ms;

		w = admission_window(&l);
		handshakes = w < cap ? w : cap;
		work_ms = 20 + handshakes / 2;
		CHECK(admission_decide(&l, handshakes, cap) != ADMISSION_ACCEPT);
		if (work_ms > 100)
			work_ms = 100;
		if (i >= 20)
			CHECK(work_ms < 100);
		period(&l, &c, 100 - work_ms);
		CHECK(admission_window(&l) <= cap);
	}
	CHECK(admission_window(&l) < 160);

	/* A flood costing more than the loop has for any window: the floor,
	 * which still admits (a legitimate partner gets in between them). */
	for (i = 0; i < 30; i++) {
		CHECK(admission_decide(&l, admission_window(&l), cap) != ADMISSION_ACCEPT);
		period(&l, &c, 0);
	}
	CHECK_INT_EQ((int)admission_window(&l), ADMISSION_MIN_HANDSHAKES);
	CHECK_INT_EQ(admission_decide(&l, ADMISSION_MIN_HANDSHAKES - 1, cap), ADMISSION_ACCEPT);
}

/* One nearly idle period between saturated ones is a lull, not room: the
 * window grows by the floor only, and doubles once the loop stayed quiet
 * for a second period.  Doubled on the lull, a window near the cap went
 * to the cap and the loop stayed saturated for seconds of a storm (a
 * quarter back per period undoes a doubling only after three). */
TEST(admission_one_quiet_period_after_saturation_does_not_double)
{
	struct admission_load l = { .window = 600 };
	struct clocks c = { 0 };
	size_t w;

	start(&l, &c, 1);
	CHECK_INT_EQ(admission_decide(&l, 600, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &c, 2);		/* saturated: a quarter back */
	CHECK_INT_EQ((int)admission_window(&l), 450);
	CHECK_INT_EQ(admission_decide(&l, 450, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &c, 98);		/* the lull */
	CHECK_INT_EQ((int)admission_window(&l), 450 + ADMISSION_MIN_HANDSHAKES);
	w = admission_window(&l);
	CHECK_INT_EQ(admission_decide(&l, w, 1000), ADMISSION_WAIT_WINDOW);
	period(&l, &c, 98);		/* quiet again: room */
	CHECK_INT_EQ((int)admission_window(&l), 1000 > 2 * w ? (int)(2 * w) : 1000);
}
